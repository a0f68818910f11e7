"""Dataset benchmarks (refocus_bench.benchmarks.from_datasets) on fixture trees from tests/dataset_fixtures.py.

The fixtures write flat colours per (sample, role) at 6x8 px; :func:`enlarge` re-encodes every file at
20x28 px with the same colour, so the pinned crop to a multiple of 8 (-> 16x24, offset 2, 2) happens
and the perceptual / no-reference metrics get their minimum size.
"""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
import torch

from refocus_bench.benchmarks import BenchmarkSample, create_benchmark, list_benchmarks
from refocus_bench.benchmarks.builtin_specs import BOKEH_METRICS, DEBLUR_METRICS
from refocus_bench.benchmarks.from_datasets import NR_DEBLUR_METRICS, bokehme_k_to_k_px_m
from refocus_bench.cli import main
from refocus_bench.datasets.loaders import dataset_card
from refocus_bench.errors import InvalidInputError, MissingFileError
from refocus_bench.results import read_record
from refocus_bench.runner.evaluation import evaluate
from tests import dataset_fixtures as fx

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SIZE = (36, 44)
CROPPED = (32, 40)
JPEG_TOL = 5.0 / 255.0  # fixture JPEG (2.5 codes) re-encoded once more at quality 100
NAMES = {
    "dpdd-test": "dpdd",
    "realdof": "realdof",
    "lfdof-test": "lfdof",
    "cuhk-blur": "cuhk_blur",
    "realbokeh-deblur": "realbokeh",
    "blb-bokeh": "blb",
}


def enlarge(tree: fx.Tree) -> fx.Tree:
    """Re-encode every image (same flat colour, same bit depth and format) and .npy depth at SIZE."""
    import cv2

    for p in sorted(tree.root.rglob("*")):
        suffix = p.suffix.lower()
        if suffix in (".png", ".jpg", ".jpeg"):
            arr = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
            big = np.ascontiguousarray(np.broadcast_to(arr[0, 0], SIZE + arr.shape[2:]))
            jpg = suffix != ".png"
            ok, buf = cv2.imencode(".jpg" if jpg else ".png", big, [cv2.IMWRITE_JPEG_QUALITY, 100] if jpg else [])
            assert ok, p
            p.write_bytes(buf.tobytes())
        elif suffix == ".npy":  # BLB depth: top half near, bottom half 65504 (= infinity)
            d = np.load(p)
            big = np.full(SIZE, d[0, 0], np.float32)
            big[SIZE[0] // 2 :] = d[-1, 0]
            np.save(p, big)
    return tree


def assert_flat(x: torch.Tensor, rgb: tuple[float, float, float], tol: float) -> None:
    assert x.dtype == torch.float32 and tuple(x.shape) == (1, 3, *CROPPED)
    want = torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1)
    assert float((x - want).abs().max()) <= tol, (x[0, :, 0, 0].tolist(), rgb)


# -- samples -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["a", "b", "c"])
def test_dpdd_test_pairs_values_labels_and_spec(tmp_path, layout):
    tree = enlarge(fx.build_dpdd(tmp_path, layout))
    bench = create_benchmark("dpdd-test", root=tree.root)
    spec = bench.spec
    assert (spec.task, spec.version, spec.headline_metric, spec.metrics) == (
        "deblur",
        "1",
        "lpips.alex",
        DEBLUR_METRICS,
    )
    assert spec.source["dataset"] == "dpdd" and spec.source["split"] == "test" and spec.source["layout"] == layout
    assert spec.preprocessing["bit_depth"] == 16 and spec.preprocessing["resize"] == "none"
    assert spec.preprocessing["crop_multiple"] == 8 and spec.subsets == ("scene",)
    assert spec.licence == dataset_card("dpdd").licence and "abuolaim2020defocus" in spec.citation
    assert bench.sample_ids() == tree.ids and len(bench) == 3
    for sid in tree.ids:
        s = bench.load(sid)
        assert isinstance(s, BenchmarkSample) and s.id == sid
        assert_flat(s.image, tree.colours[(sid, "input")], 1e-6)  # 16-bit codes: an 8-bit read would fail
        assert_flat(s.target, tree.colours[(sid, "target")], 1e-6)
        assert dict(s.condition) == {} and dict(s.metric_inputs) == {}
        assert dict(s.subset) == {"scene": tree.extra["scene"][sid]}
    assert [s.id for s in bench] == tree.ids


@pytest.mark.parametrize("name,build", [("realdof", fx.build_realdof), ("lfdof-test", fx.build_lfdof)])
def test_paired_deblur_benchmarks(tmp_path, name, build):
    tree = enlarge(build(tmp_path))
    bench = create_benchmark(name, root=tree.root)
    assert bench.spec.task == "deblur" and bench.spec.metrics == DEBLUR_METRICS
    assert bench.spec.source["dataset"] == NAMES[name]
    assert bench.sample_ids() == tree.ids
    for sid in tree.ids:
        s = bench.load(sid)
        assert_flat(s.image, tree.colours[(sid, "input")], 1e-6)
        assert_flat(s.target, tree.colours[(sid, "target")], 1e-6)
        assert dict(s.condition) == {} and dict(s.subset) == {}


def test_crop_is_centred_and_only_when_needed(tmp_path):
    import cv2

    tree = fx.build_realdof(tmp_path)
    ramp = (np.arange(20 * 28, dtype=np.uint8).reshape(20, 28) % 250)[..., None].repeat(3, axis=2)
    for sid in tree.ids:
        for role in ("source", "target"):
            cv2.imwrite(str(tree.root / role / f"{sid}.png"), ramp)
    s = create_benchmark("realdof", root=tree.root).load(tree.ids[0])
    expected = torch.from_numpy(ramp[2:18, 2:26, 0].astype(np.float32) / 255.0)
    assert torch.equal(s.image[0, 0], expected) and torch.equal(s.target[0, 1], expected)
    exact = np.zeros((16, 24, 3), np.uint8) + 7
    for sid in tree.ids:
        for role in ("source", "target"):
            cv2.imwrite(str(tree.root / role / f"{sid}.png"), exact)
    assert tuple(create_benchmark("realdof", root=tree.root).load(tree.ids[0]).image.shape) == (1, 3, 16, 24)


def test_cuhk_blur_has_no_targets_and_only_no_reference_metrics(tmp_path):
    tree = enlarge(fx.build_cuhk(tmp_path))
    bench = create_benchmark("cuhk-blur", root=tree.root)
    assert bench.spec.metrics == NR_DEBLUR_METRICS and bench.spec.headline_metric == "clipiqa.vit"
    assert "without downloaded weights" in bench.spec.description
    assert bench.sample_ids() == tree.ids  # motion*.jpg skipped
    for sid in tree.ids:
        s = bench.load(sid)
        assert s.target is None
        assert_flat(s.image, tree.colours[(sid, "input")], JPEG_TOL)


def test_cuhk_blur_without_metric_weights_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("REFOCUS_BENCH_HOME", str(tmp_path / "home"))
    bench = create_benchmark("cuhk-blur", root=enlarge(fx.build_cuhk(tmp_path)).root)
    with pytest.raises(MissingFileError, match=r"weights not found: expected .*clipiqa\.vit.*config\.json"):
        evaluate("identity", bench, out_dir=tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.json"))


def test_cuhk_blur_runs_with_local_no_reference_weights(tmp_path, monkeypatch):
    """A user downloads a CLIP folder, imports it once, and scores cuhk-blur with CLIP-IQA by name."""
    from refocus_bench.metrics.weights_import import import_weights
    from tests.clip_fixtures import tiny_clip

    tiny_clip(tmp_path / "download")  # a random CLIPModel from a CLIPConfig, saved with save_pretrained
    import_weights("clipiqa.vit", tmp_path / "download", home=tmp_path / "home")
    monkeypatch.setenv("REFOCUS_BENCH_HOME", str(tmp_path / "home"))
    bench = create_benchmark("cuhk-blur", root=enlarge(fx.build_cuhk(tmp_path)).root)
    df = evaluate("identity", bench, ["clipiqa.vit"], out_dir=tmp_path / "out", progress=False).frame
    assert list(df["id"]) == bench.sample_ids() and df["error"].isna().all()
    scores = df["clipiqa.vit"]
    assert scores.between(0, 1).all() and scores.nunique() == len(scores)  # each image scored on its own
    with pytest.raises(InvalidInputError, match="full-reference but benchmark 'cuhk-blur' has no targets"):
        evaluate("identity", bench, ["clipiqa.vit", "psnr.rgb"], out_dir=None, progress=False)


@pytest.mark.parametrize("samples", ["widest", "all"])
def test_realbokeh_deblur_reverses_the_pairs(tmp_path, samples):
    tree = enlarge(fx.build_realbokeh(tmp_path))
    bench = create_benchmark("realbokeh-deblur", root=tree.root, samples=samples)
    assert bench.spec.source["reverse"] is True and bench.spec.source["samples"] == samples
    assert bench.spec.licence == "CC BY-NC-SA 4.0"
    want = ["0007_f2.0", "0012_f2.0"] if samples == "widest" else tree.ids
    assert bench.sample_ids() == want
    for sid in want:
        s = bench.load(sid)
        scene, f_number = sid.split("_f")
        assert dict(s.subset) == {"scene": scene, "f_number": f_number}
        assert_flat(s.image, tree.colours[(sid, "target")], JPEG_TOL)  # the f/N photo is the input ...
        assert_flat(s.target, tree.colours[(scene, "input")], JPEG_TOL)  # ... and the source photo the target
    with pytest.raises(InvalidInputError, match="samples must be"):
        create_benchmark("realbokeh-deblur", root=tree.root, samples="narrowest")


def test_blb_bokeh_converts_bokehme_k_exactly(tmp_path):
    from refocus_bench import optics
    from refocus_bench.datasets.loaders.blb import blb_normalized_disparity

    blur, focus = (0.0, 10.0), (1.5, 3.0, 6.0)
    tree = enlarge(fx.build_blb(tmp_path, blur=blur, focus=focus, depth_format="npy"))
    bench = create_benchmark("blb-bokeh", root=tree.root)
    spec = bench.spec
    assert spec.task == "bokeh" and spec.metrics == BOKEH_METRICS and spec.protocol == {"name": "direct"}
    assert spec.source["condition"] == "blb_bokehme_k" and spec.subsets == ("scene", "blur_level")
    assert bench.sample_ids() == tree.ids and len(bench) == 2 * 2 * 3
    for sid in tree.ids:
        s = bench.load(sid)
        scene, name = sid.split("/")
        k_idx, f_idx = int(name[6:8]), int(name[9:11])
        assert_flat(s.image, tree.colours[(scene, "input")], JPEG_TOL)
        assert_flat(s.target, tree.colours[(sid, "target")], JPEG_TOL)
        assert dict(s.subset) == {"scene": scene, "blur_level": f"{k_idx:02d}"}
        c = s.condition
        assert set(c) == {"depth_m", "focus_distance_m", "k_px_m", "aperture"} and c["aperture"] == "disk"
        assert c["focus_distance_m"] == focus[f_idx]
        # inverse depth spans [0 (inf), 1/2.5]: k_px_m = K / 0.4
        assert c["k_px_m"] == pytest.approx(blur[k_idx] * 2.5, rel=1e-12)
        d = c["depth_m"]
        assert tuple(d.shape) == (1, 1, *CROPPED) and d.dtype == torch.float32
        half = CROPPED[0] // 2
        assert bool((d[..., :half, :] == 2.5).all()) and bool(torch.isinf(d[..., half:, :]).all())
    # the CoC magnitude equals BokehMe's K |d - d_f| on the loader's normalised disparity, pixel for pixel
    depth = torch.full((1, 1, 6, 4), 4.0)
    depth[..., :2, :] = 0.8
    depth[..., 2:4, :] = 1.7
    depth[..., 5, 0] = math.inf
    k = bokehme_k_to_k_px_m(20.0, depth)
    disp, disp_f = blb_normalized_disparity(depth, 1.7)
    coc = optics.coc_radius_from_k(depth, k, 1.7)
    assert torch.allclose(coc.abs(), (20.0 * (disp - disp_f)).abs(), atol=1e-5)
    assert bool((torch.sign(coc[..., :2, :]) < 0).all())  # in front of the focus plane: negative here
    with pytest.raises(InvalidInputError, match="constant"):
        bokehme_k_to_k_px_m(5.0, torch.full((1, 1, 2, 2), 3.0))


# -- content hash ------------------------------------------------------------------------------------
def test_content_hash_stable_cached_location_free_and_sensitive_to_bytes(tmp_path, monkeypatch):
    import cv2

    from refocus_bench.benchmarks import from_datasets
    from refocus_bench.datasets.loaders import sample as sample_mod

    tree = enlarge(fx.build_dpdd(tmp_path, "b"))
    bench = create_benchmark("dpdd-test", root=tree.root)
    with monkeypatch.context() as m:  # hashing reads bytes, it never decodes an image
        m.setattr(sample_mod, "load_image", lambda *a, **k: pytest.fail("content_hash decoded an image"))
        h = bench.content_hash()
    assert len(h) == 64 and int(h, 16) >= 0
    with monkeypatch.context() as m:  # cached per instance
        m.setattr(from_datasets, "file_sha256", lambda *a, **k: pytest.fail("content_hash re-read a file"))
        assert bench.content_hash() == h
    assert create_benchmark("dpdd-test", root=tree.root).content_hash() == h
    moved = shutil.copytree(tree.root, tmp_path / "elsewhere" / "DPDD")
    assert create_benchmark("dpdd-test", root=moved).content_hash() == h

    # the dual-pixel views are not read by dpdd-test: removing them leaves the hash alone
    shutil.rmtree(moved / "inputL"), shutil.rmtree(moved / "inputR")
    assert create_benchmark("dpdd-test", root=moved).content_hash() == h

    # one pixel of one target changes -> another hash
    path = moved / "target" / f"{tree.ids[1]}.png"
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    arr[3, 4, 0] += 1
    cv2.imwrite(str(path), arr)
    h_pixel = create_benchmark("dpdd-test", root=moved).content_hash()
    assert h_pixel != h

    # a trailing byte (a file the decoder reads the same) -> another hash too
    with open(moved / "inputC" / f"{tree.ids[0]}.png", "ab") as fh:
        fh.write(b"\0")
    h_byte = create_benchmark("dpdd-test", root=moved).content_hash()
    assert h_byte not in (h, h_pixel)

    # the label lists are hashed (they define the subsets)
    (moved / "indoor_labels.txt").write_text("1\n3\n\n")
    assert create_benchmark("dpdd-test", root=moved).content_hash() not in (h, h_pixel, h_byte)


def test_content_hash_depends_on_the_definition(tmp_path):
    tree = enlarge(fx.build_realbokeh(tmp_path))
    widest = create_benchmark("realbokeh-deblur", root=tree.root).content_hash()
    every = create_benchmark("realbokeh-deblur", root=tree.root, samples="all").content_hash()
    assert widest != every


def test_benchmarks_pickle_for_workers(tmp_path):
    import pickle

    tree = enlarge(fx.build_realbokeh(tmp_path))
    bench = create_benchmark("realbokeh-deblur", root=tree.root)
    h = bench.content_hash()
    copy = pickle.loads(pickle.dumps(bench))
    assert copy.spec == bench.spec and copy.sample_ids() == bench.sample_ids() and copy.content_hash() == h
    a, b = bench.load("0012_f2.0"), copy.load("0012_f2.0")
    assert torch.equal(a.image, b.image) and torch.equal(a.target, b.target)  # still reversed after reopening
    blb = create_benchmark("blb-bokeh", root=enlarge(fx.build_blb(tmp_path, depth_format="npy")).root)
    sid = blb.sample_ids()[-1]
    assert pickle.loads(pickle.dumps(blb)).load(sid).condition["k_px_m"] == blb.load(sid).condition["k_px_m"]


# -- errors --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(NAMES))
def test_missing_root_names_root_and_where_to_get_the_data(name):
    with pytest.raises(InvalidInputError) as err:
        create_benchmark(name)
    msg = str(err.value)
    assert "root=" in msg and dataset_card(NAMES[name]).homepage in msg and "docs/datasets.md" in msg


def test_wrong_layout_and_absent_root_get_the_loader_messages(tmp_path):
    (tmp_path / "bogus" / "foo").mkdir(parents=True)
    with pytest.raises(InvalidInputError, match=r"not a DPDD layout.*Expected one of: \(a\).*found: foo"):
        create_benchmark("dpdd-test", root=tmp_path / "bogus")
    with pytest.raises(MissingFileError, match="folder not found"):
        create_benchmark("realdof", root=tmp_path / "absent")
    tree = enlarge(fx.build_dpdd(tmp_path, "b"))
    (tree.root / "target" / f"{tree.ids[2]}.png").unlink()
    with pytest.raises(InvalidInputError, match=f"sample '{tree.ids[2]}': target file missing"):
        create_benchmark("dpdd-test", root=tree.root)


def test_cli_without_root_exits_2_with_the_message(tmp_path, capsys):
    assert main(["evaluate", "--model", "identity", "--benchmark", "dpdd-test", "-o", str(tmp_path), "-q"]) == 2
    err = capsys.readouterr().err
    assert "needs root=" in err and "--benchmark-arg root=" in err


# -- end to end ----------------------------------------------------------------------------------------
def test_evaluate_identity_on_dpdd_test_writes_a_valid_record(tmp_path, metric_weights):
    tree = enlarge(fx.build_dpdd(tmp_path, "b"))
    bench = create_benchmark("dpdd-test", root=tree.root)
    ev = evaluate("identity", bench, metrics=["psnr.rgb"], out_dir=tmp_path / "results", progress=False)
    rec = read_record(ev.path)
    assert ev.path.parent == tmp_path / "results" / "dpdd-test"
    assert rec["status"] == "complete" and rec["benchmark"]["name"] == "dpdd-test"
    assert rec["benchmark"]["version"] == "1" and rec["benchmark"]["num_samples"] == 3
    assert rec["benchmark"]["content_hash"] == bench.content_hash()
    definition = rec["benchmark"]["definition"]
    assert definition["source"]["dataset"] == "dpdd" and definition["source"]["layout"] == "b"
    assert definition["preprocessing"]["bit_depth"] == 16
    assert [m["name"] for m in rec["metrics"]] == ["lpips.alex", "psnr.rgb"]  # the headline is always added
    assert [s["id"] for s in rec["samples"]] == tree.ids
    for s in rec["samples"]:
        assert s["error"] is None and s["subset"] == {"scene": tree.extra["scene"][s["id"]]}
        x = np.array(tree.colours[(s["id"], "input")], np.float64)
        y = np.array(tree.colours[(s["id"], "target")], np.float64)
        assert s["scores"]["psnr.rgb"] == pytest.approx(10 * math.log10(1 / np.mean((x - y) ** 2)), rel=1e-4)
    assert list(ev.frame.columns[:2]) == ["id", "scene"]


def test_evaluate_a_bokeh_model_on_blb(tmp_path, metric_weights):
    tree = enlarge(fx.build_blb(tmp_path, scenes=("277",), blur=(10.0,), focus=(2.5, 6.0), depth_format="npy"))
    bench = create_benchmark("blb-bokeh", root=tree.root)
    df = evaluate("bokeh.gaussian", bench, metrics=["psnr.rgb"], out_dir=None, progress=False).frame
    assert df["error"].isna().all() and np.isfinite(df["psnr.rgb"]).all()


# -- listing -------------------------------------------------------------------------------------------
def test_list_benchmarks_shows_the_dataset_benchmarks(capsys):
    assert set(NAMES) <= set(list_benchmarks())
    assert main(["list", "benchmarks"]) == 0
    lines = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines() if ln.strip()}
    for name in NAMES:
        assert name in lines and "needs root=" in lines[name] and "unavailable" not in lines[name]
