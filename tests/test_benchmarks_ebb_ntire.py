"""``ebb400-bokeh``, ``ebb-val294-bokeh`` (refocus_bench.benchmarks.ebb) on copies with targets of known focus and K.

Each copy (tests/ebb_fixtures.py, 48x64 px; EBB400 with its disparity folder, Val294 with a depth
folder beside it) holds two renderable pairs and one unrelated pair; a fit-blur run over it (route c)
keeps the two and rejects the third, and the benchmark is built on that run. ``ntire23-refocus-oracle-k``
(refocus_bench.benchmarks.ntire23): a flat NTIRE copy whose targets are renders of the source with a
known background blur behind the matted subject.
"""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
import torch

from refocus_bench.benchmarks import create_benchmark, list_benchmarks
from refocus_bench.benchmarks.builtin_specs import BOKEH_METRICS
from refocus_bench.cli import main
from refocus_bench.errors import InvalidInputError
from refocus_bench.metrics.full_reference import _ssim_unchecked
from refocus_bench.results import read_record
from refocus_bench.runner.evaluation import evaluate
from refocus_bench.simulators.pairs.fit_blur import fit_renderer
from tests import ebb_fixtures as efx

pytestmark = pytest.mark.usefixtures("one_torch_thread")


NAMES = {"ebb400": "ebb400-bokeh", "ebb_val294": "ebb-val294-bokeh"}


_RUNS: dict[str, dict] = {}


def _fit_once(kind: str, tmp_path_factory) -> dict:
    """create_benchmark kwargs of a fixture copy of ``kind`` and a finished fit-blur run over it (made once)."""
    if kind not in _RUNS:
        torch.set_num_threads(1)
        args = efx.fitted_args(tmp_path_factory.mktemp(kind), kind)
        assert json.loads((args["fits"] / "summary.json").read_text())["counts"] == {"kept": 2, "rejected": 1}
        _RUNS[kind] = args
    return _RUNS[kind]


@pytest.fixture(scope="module", params=sorted(NAMES))
def fitted(request, tmp_path_factory):
    """(benchmark name, create_benchmark kwargs) for each of the two benchmarks."""
    return NAMES[request.param], _fit_once(request.param, tmp_path_factory)


@pytest.fixture(scope="module")
def ebb400(tmp_path_factory):
    return _fit_once("ebb400", tmp_path_factory)


@pytest.fixture(scope="module")
def val294(tmp_path_factory):
    return _fit_once("ebb_val294", tmp_path_factory)


def _manifest(fits) -> dict[str, dict]:
    return {d["name"]: d for d in map(json.loads, (fits / "manifest.jsonl").read_text().splitlines())}


def test_spec_stores_each_fit_with_its_ssim_and_counts_the_excluded(fitted):
    name, args = fitted
    bench = create_benchmark(name, **args)
    spec, lines = bench.spec, _manifest(args["fits"])
    assert spec.task == "bokeh" and spec.metrics == BOKEH_METRICS and spec.protocol == {"name": "direct"}
    assert bench.sample_ids() == ["1", "4"]  # the unrelated pair 12 is excluded
    src = spec.source
    assert src["dataset"] == {v: k for k, v in NAMES.items()}[name] and src["split"] == "validation"
    assert src["fit"]["size_hw"] == list(efx.SIZE)
    assert src["fit"]["min_ssim"] == 0.85 and src["fit"]["aperture"] == "disk"
    for sid in ("1", "4"):
        fit = lines[sid]["fit"]
        assert src["fits"][sid]["ssim"] == fit["ssim"] >= 0.85
        assert src["fits"][sid]["k_px_m"] == fit["k_px_m"]
        assert src["fits"][sid]["focus_distance_m"] == fit["focus_distance_m"]
        focus, k = efx.TRUTH[sid]
        assert fit["k_px_m"] == pytest.approx(k, rel=0.15) and fit["focus_distance_m"] == pytest.approx(focus, rel=0.1)
    assert list(src["excluded"]) == [efx.UNRELATED]
    assert src["excluded"][efx.UNRELATED].startswith(f"rejected:{lines[efx.UNRELATED]['reason']} (SSIM 0.")
    assert src["counts"]["pairs"] == 3 and src["counts"]["kept"] == 2 and src["counts"]["excluded"] == 1
    assert "2 of 3 pairs kept; 1 excluded by the fit" in spec.description


def test_samples_reproduce_the_fit(fitted):
    """Rendering a sample's condition with the fit's renderer gives the SSIM the fit recorded."""
    name, args = fitted
    bench = create_benchmark(name, **args)
    renderer = fit_renderer()
    for sid in bench.sample_ids():
        s = bench.load(sid)
        c = s.condition
        assert tuple(s.image.shape) == (1, 3, *efx.SIZE) == tuple(s.target.shape)
        assert tuple(c["depth_m"].shape) == (1, 1, *efx.SIZE) and set(c) == {
            "depth_m",
            "focus_distance_m",
            "k_px_m",
            "aperture",
        }
        with torch.no_grad():
            out = renderer.bokeh(s.image, c["depth_m"], focus_distance_m=c["focus_distance_m"], k_px_m=c["k_px_m"])
        ssim = float(_ssim_unchecked(out, s.target, "rgb", 1.0, 0).mean())
        assert ssim == pytest.approx(bench.spec.source["fits"][sid]["ssim"], abs=1e-5)


def test_evaluate_the_baselines_and_the_leaderboard_shows_the_excluded(fitted, tmp_path, metric_weights):
    from refocus_bench.leaderboards.site import build_site

    name, args = fitted
    bench = create_benchmark(name, **args)
    lpips = {}
    for model in ("bokeh.gaussian", "bokeh.layered"):
        ev = evaluate(model, bench, out_dir=tmp_path / "results", progress=False)
        rec = read_record(ev.path)
        assert rec["status"] == "complete" and rec["benchmark"]["num_samples"] == 2
        assert rec["benchmark"]["content_hash"] == bench.content_hash()
        assert rec["benchmark"]["definition"]["source"]["counts"]["excluded"] == 1
        assert all(s["error"] is None and set(s["scores"]) == set(BOKEH_METRICS) for s in rec["samples"])
        lpips[model] = sum(s["scores"]["lpips.alex"] for s in rec["samples"])
    assert lpips["bokeh.layered"] < lpips["bokeh.gaussian"]  # the targets are layered renders
    build_site([tmp_path / "results"], tmp_path / "site")
    md = (tmp_path / "site" / "leaderboard.md").read_text()
    assert name in md and "2 of 3 pairs kept; 1 excluded by the fit" in md


def test_pickles_for_workers_and_hash_follows_the_fits(fitted, tmp_path):
    name, args = fitted
    fits = args["fits"]
    bench = create_benchmark(name, **args)
    copy = pickle.loads(pickle.dumps(bench))
    assert copy.content_hash() == bench.content_hash() and copy.sample_ids() == bench.sample_ids()
    a, b = bench.load("4"), copy.load("4")
    assert torch.equal(a.image, b.image) and torch.equal(a.condition["depth_m"], b.condition["depth_m"])
    assert a.condition["k_px_m"] == b.condition["k_px_m"]
    other = tmp_path / "fits"  # the same pairs fitted with a stricter threshold: another definition
    shutil.copytree(fits, other)
    lines = _manifest(other)
    lines["4"]["status"], lines["4"]["reason"] = "rejected", "ssim_below_threshold"
    (other / "manifest.jsonl").write_text("".join(json.dumps(v) + "\n" for v in lines.values()))
    strict = create_benchmark(name, **{**args, "fits": other})
    assert strict.sample_ids() == ["1"] and strict.content_hash() != bench.content_hash()
    assert "1 of 3 pairs kept; 2 excluded" in strict.spec.description


def test_bad_input_names_the_argument_or_file(ebb400, tmp_path):
    root, fits = ebb400["root"], ebb400["fits"]
    with pytest.raises(InvalidInputError, match="needs root="):
        create_benchmark("ebb400-bokeh")
    with pytest.raises(InvalidInputError, match="needs fits=.*fit-blur"):
        create_benchmark("ebb400-bokeh", root=root)
    with pytest.raises(InvalidInputError, match="is not a fit-blur run"):
        create_benchmark("ebb400-bokeh", root=root, fits=tmp_path)
    # a run on another dataset
    other = tmp_path / "other"
    shutil.copytree(fits, other)
    progress = json.loads((other / "state" / "progress.json").read_text())
    progress["settings"]["dataset"] = "ebb_val294"
    (other / "state" / "progress.json").write_text(json.dumps(progress))
    with pytest.raises(InvalidInputError, match="progress.json.*not fit-blur on 'ebb400'"):
        create_benchmark("ebb400-bokeh", root=root, fits=other)
    # an unfinished run
    part = tmp_path / "part"
    shutil.copytree(fits, part)
    lines = (part / "manifest.jsonl").read_text().splitlines()
    (part / "manifest.jsonl").write_text(lines[0] + "\n")
    with pytest.raises(InvalidInputError, match="1 of 3 pairs done"):
        create_benchmark("ebb400-bokeh", root=root, fits=part)
    # a copy whose target changed after the fit
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    gt = copy / "validation" / "gt" / "4.jpg"
    gt.write_bytes(gt.read_bytes() + b"\0")
    with pytest.raises(InvalidInputError, match=r"validation/gt/4\.jpg differs from the file the fit-blur run read"):
        create_benchmark("ebb400-bokeh", root=copy, fits=fits)


def test_val294_needs_its_depth_folder_and_hashes_it(val294, tmp_path):
    name, args = "ebb-val294-bokeh", val294
    with pytest.raises(InvalidInputError, match="needs depth_dir="):
        create_benchmark(name, root=args["root"], fits=args["fits"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InvalidInputError, match="has no depth file for '1'"):
        create_benchmark(name, **{**args, "depth_dir": empty})
    bench = create_benchmark(name, **args)
    assert bench.files()["4"][-1] == "depth_dir/4.npy"
    moved = tmp_path / "moved"  # the hash does not depend on where the depth folder lies ...
    shutil.copytree(args["depth_dir"], moved)
    assert create_benchmark(name, **{**args, "depth_dir": moved}).content_hash() == bench.content_hash()
    d = np.load(moved / "4.npy")  # ... but on its bytes, and the samples carry that depth
    np.save(moved / "4.npy", d * 2)
    changed = create_benchmark(name, **{**args, "depth_dir": moved})
    assert changed.content_hash() != bench.content_hash()
    assert torch.equal(changed.load("4").condition["depth_m"], bench.load("4").condition["depth_m"] * 2)


def test_listed_with_their_requirements(capsys):
    assert set(NAMES.values()) <= set(list_benchmarks())
    assert main(["list", "benchmarks"]) == 0
    lines = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines() if ln.strip()}
    assert "needs root= and fits=" in lines["ebb400-bokeh"] and "unavailable" not in lines["ebb400-bokeh"]
    assert "needs root=, fits=, depth_dir=" in lines["ebb-val294-bokeh"]
    assert (
        "needs root=" in lines["ntire23-refocus-oracle-k"] and "not lens-to-lens" in lines["ntire23-refocus-oracle-k"]
    )


# -- NTIRE 2023 ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ntire(tmp_path_factory):
    return efx.ntire23_benchmark_args(tmp_path_factory.mktemp("ntire"))


def test_ntire23_definition_says_what_it_measures(ntire):
    bench = create_benchmark("ntire23-refocus-oracle-k", **ntire)
    spec = bench.spec
    assert spec.task == "refocus" and spec.subsets == ("src_lens", "tgt_lens")
    assert spec.protocol["name"] == "oracle_blur_strength" and spec.protocol["k_range_px_m"] == [0.25, 128.0]
    assert "Not the challenge's lens-to-lens task" in spec.description
    assert spec.source["split"] == "default" and spec.source["layout"] == "flat"
    assert bench.sample_ids() == list(efx.NTIRE_TRUTH)
    s = bench.load("00001")
    assert dict(s.subset) == {"src_lens": "Sony50mmf16.0BS", "tgt_lens": "Sony50mmf1.8BS"}
    c = s.condition
    assert c["focus_distance_m"] == 1.0 and c["aperture"] == "disk"
    subject = torch.from_numpy(efx._matte() > 127)[None, None]
    assert bool((c["depth_m"][subject] == 1.0).all()) and bool(torch.isinf(c["depth_m"][~subject]).all())
    assert bench.files()["00001"] == ["00001.src.jpg", "00001.tgt.jpg", "00001.alpha.png"]


def test_ntire23_cascade_finds_the_target_blur_and_beats_identity(ntire, metric_weights):
    bench = create_benchmark("ntire23-refocus-oracle-k", **ntire)
    frames = {m: evaluate(m, bench, out_dir=None, progress=False) for m in ("refocus.cascade", "identity")}
    cascade = frames["refocus.cascade"]
    assert cascade.frame["error"].isna().all()
    for s in cascade.record["samples"]:
        assert s["protocol"]["k_px_m"] == pytest.approx(efx.NTIRE_TRUTH[s["id"]], rel=0.25)
    lp = {m: float(ev.frame["lpips.alex"].mean()) for m, ev in frames.items()}
    assert lp["refocus.cascade"] < lp["identity"]


def test_ntire23_hash_covers_the_matte_and_bad_input(ntire, tmp_path):
    from tests import dataset_fixtures as fx

    bench = create_benchmark("ntire23-refocus-oracle-k", **ntire)
    copy = tmp_path / "copy"
    shutil.copytree(ntire["root"], copy)
    assert create_benchmark("ntire23-refocus-oracle-k", root=copy).content_hash() == bench.content_hash()
    alpha = copy / "00000.alpha.png"
    alpha.write_bytes(alpha.read_bytes() + b"\0")
    assert create_benchmark("ntire23-refocus-oracle-k", root=copy).content_hash() != bench.content_hash()
    copy2 = pickle.loads(pickle.dumps(bench))
    assert torch.equal(copy2.load("00000").condition["depth_m"], bench.load("00000").condition["depth_m"])
    with pytest.raises(InvalidInputError, match="needs root="):
        create_benchmark("ntire23-refocus-oracle-k")
    hidden = fx.build_ntire23(tmp_path / "hidden", with_target=False)
    with pytest.raises(InvalidInputError, match=r"no \{id\}\.tgt\.jpg"):
        create_benchmark("ntire23-refocus-oracle-k", root=hidden.root)
