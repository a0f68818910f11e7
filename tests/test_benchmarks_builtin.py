"""Built-in generated benchmarks: registry, specs, deterministic cache, integrity, sample contract, GT convergence.

Data are generated at test size (a few 48x48 samples, few aperture points) into temporary folders.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from refocus_bench.benchmarks import TASKS, Benchmark, create_benchmark, list_benchmarks
from refocus_bench.benchmarks.builtin import BUILTIN_BENCHMARKS
from refocus_bench.benchmarks.builtin_specs import DATA_OF, SPECS
from refocus_bench.benchmarks.cache import CacheError
from refocus_bench.benchmarks.middlebury import DATA_VERSION as MIDDLEBURY_DATA_VERSION
from refocus_bench.benchmarks.synthetic import DATA_VERSION
from refocus_bench.errors import UnknownNameError
from refocus_bench.home import benchmarks_dir

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = {"num_samples": 3, "size": (48, 48), "aperture_samples": 8, "progress": False}
TINY_MB = {"num_samples": 3, "scale": 0.1, "crop": (48, 72), "aperture_samples": 8, "progress": False}
BASES = ("synthetic-deblur", "synthetic-bokeh", "synthetic-refocus", "middlebury-bokeh")


def tiny(name: str, cache_dir: Path, **kw):
    base = TINY_MB if name.startswith("middlebury") else TINY
    return create_benchmark(name, cache_dir=cache_dir, **{**base, **kw})


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """One cache root holding every base benchmark at test size."""
    root = tmp_path_factory.mktemp("bench_cache")
    for name in BASES:
        tiny(name, root).prepare()
    return root


# -- registry and specs ----------------------------------------------------------------------------
def test_registry_lists_builtins_and_suggests_close_matches():
    assert set(BUILTIN_BENCHMARKS) <= set(list_benchmarks())
    assert list_benchmarks("synthetic-bokeh*") == ["synthetic-bokeh", "synthetic-bokeh-oracle", "synthetic-bokeh-sweep"]
    assert "middlebury-bokeh" in list_benchmarks("middlebury-*")
    with pytest.raises(UnknownNameError, match="synthetic-bokeh"):
        create_benchmark("synthetic-bokhe")


def test_specs_are_well_formed():
    from refocus_bench.metrics import list_metrics

    known = set(list_metrics())
    for name, spec in SPECS.items():
        assert spec.name == name and spec.task in TASKS and spec.version
        assert spec.headline_metric in spec.metrics and set(spec.metrics) <= known, name
        assert not {"clipiqa.vit", "musiq.vit", "maniqa.vit", "clip_i.vit"} & set(spec.metrics)
        assert "no weights offline" in spec.description or spec.protocol["name"] == "lvcorr_sweep"
        json.dumps(spec.as_dict())
        p = dict(spec.protocol)
        if p["name"] in ("direct", "oracle_coc"):
            assert p == {"name": p["name"]}
        elif p["name"] == "oracle_blur_strength":
            assert p["objective"] in known and len(p["k_range_px_m"]) == 2
            assert (
                0 < p["k_range_px_m"][0] < p["k_range_px_m"][1]
                and isinstance(p["iterations"], int)
                and p["iterations"] > 0
            )
            assert spec.task in ("bokeh", "refocus")
        elif p["name"] == "lvcorr_sweep":
            ks = p["k_values_px_m"]
            assert len(ks) >= 3 and all(b > a > 0 for a, b in zip(ks, ks[1:])) and p["metric"] in known
            assert spec.headline_metric == p["metric"]
        else:
            pytest.fail(f"{name}: unknown protocol {p}")
        if p["name"] != "lvcorr_sweep":
            assert spec.headline_metric == "lpips.alex"
        if spec.task in ("bokeh", "refocus") and p["name"] != "lvcorr_sweep":
            assert "bokeh.psnr_edge_band" in spec.metrics
    assert dict(SPECS["synthetic-deblur-oracle-coc"].protocol) == {"name": "oracle_coc"}


def test_protocol_variants_share_their_base_data(tmp_path):
    a = create_benchmark("synthetic-bokeh", cache_dir=tmp_path, progress=False)
    b = create_benchmark("synthetic-bokeh-oracle", cache_dir=tmp_path, progress=False)
    assert a.folder == b.folder == tmp_path / "synthetic-bokeh" / f"v{DATA_VERSION}"
    assert DATA_OF["synthetic-deblur-oracle-coc"] == "synthetic-deblur"
    assert tiny("synthetic-bokeh", tmp_path).folder.name.startswith(f"v{DATA_VERSION}-")  # non-default data: own folder


def test_default_cache_root_follows_refocus_bench_home(monkeypatch, tmp_path):
    monkeypatch.setenv("REFOCUS_BENCH_HOME", str(tmp_path / "home"))
    assert benchmarks_dir() == tmp_path / "home" / "benchmarks"
    assert (
        create_benchmark("middlebury-bokeh", progress=False).folder
        == tmp_path / "home" / "benchmarks" / "middlebury-bokeh" / f"v{MIDDLEBURY_DATA_VERSION}"
    )


# -- determinism and integrity ------------------------------------------------------------------------
def test_cache_is_byte_identical_across_processes(built, tmp_path):
    code = (
        "import sys; from refocus_bench.benchmarks import create_benchmark as c; "
        "c('synthetic-refocus', cache_dir=sys.argv[1], num_samples=3, size=(48, 48), aperture_samples=8, "
        "progress=False).prepare()"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, env=env, timeout=120)
    mine = tiny("synthetic-refocus", built).folder
    theirs = tiny("synthetic-refocus", tmp_path).folder
    a, b = files_of(mine), files_of(theirs)
    assert sorted(a) == sorted(b) and len(a) > 3
    assert [k for k in a if a[k] != b[k]] == []


def test_content_hash_stable_and_sensitive_to_one_byte(built, tmp_path):
    bench = tiny("synthetic-bokeh", built)
    h = bench.content_hash()
    assert len(h) == 64 and tiny("synthetic-bokeh", built).content_hash() == h
    assert tiny("synthetic-bokeh-oracle", built).content_hash() != h  # another benchmark on the same data
    copy = tmp_path / "copy"
    shutil.copytree(built / "synthetic-bokeh", copy / "synthetic-bokeh")
    folder = tiny("synthetic-bokeh", copy).folder
    target = folder / "0001" / "target.png"
    data = bytearray(target.read_bytes())
    data[-20] ^= 0x01
    target.write_bytes(bytes(data))
    manifest = json.loads((folder / "manifest.json").read_text())  # a consistent edit: the manifest agrees
    import hashlib

    manifest["samples"][1]["files"]["target"]["sha256"] = hashlib.sha256(bytes(data)).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert tiny("synthetic-bokeh", copy, on_corrupt="error").content_hash() != h


def test_corrupted_cache_is_rejected_or_rebuilt(built, tmp_path):
    shutil.copytree(built / "synthetic-deblur", tmp_path / "synthetic-deblur")
    good = tiny("synthetic-deblur", built)
    folder = tiny("synthetic-deblur", tmp_path).folder
    original = files_of(folder)
    victim = folder / "0002" / "image.png"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(CacheError, match=r"0002/image.png.*sha256"):
        tiny("synthetic-deblur", tmp_path, on_corrupt="error").prepare()
    with pytest.warns(UserWarning, match="regenerating"):
        rebuilt = tiny("synthetic-deblur", tmp_path)
        rebuilt.prepare()
    assert files_of(folder) == original and rebuilt.content_hash() == good.content_hash()
    (folder / "0000" / "coc_px.npy").unlink()
    with pytest.raises(CacheError, match="missing"):
        tiny("synthetic-deblur", tmp_path, on_corrupt="error").prepare()


def test_killed_generation_leaves_no_cache(tmp_path, monkeypatch):
    from refocus_bench.benchmarks import synthetic

    real = synthetic._generate

    def dies(task, config, report):
        it = real(task, config, report)
        yield next(it)
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "_generate", dies)
    bench = tiny("synthetic-deblur", tmp_path)
    with pytest.raises(KeyboardInterrupt):
        bench.prepare()
    assert not bench.folder.exists()
    assert [p.name for p in (tmp_path / "synthetic-deblur").iterdir()] == []


def test_loading_returns_exactly_what_generation_produced(built):
    for name in ("synthetic-refocus", "middlebury-bokeh"):
        bench = tiny(name, built)
        fresh = bench.generate_in_memory()
        loaded = list(bench)
        assert [s.id for s in fresh] == [s.id for s in loaded]
        for f, g in zip(fresh, loaded):
            assert torch.equal(f.image, g.image) and torch.equal(f.target, g.target)
            assert f.condition.keys() == g.condition.keys() and f.metric_inputs.keys() == g.metric_inputs.keys()
            for k, v in f.condition.items():
                same = torch.equal(v, g.condition[k]) if isinstance(v, torch.Tensor) else v == g.condition[k]
                assert same, (name, f.id, k)
            assert all(torch.equal(f.metric_inputs[k], g.metric_inputs[k]) for k in f.metric_inputs)
            assert dict(f.subset) == dict(g.subset)

        class InMemory(Benchmark):
            spec = bench.spec

            def sample_ids(self):
                return [s.id for s in fresh]

            def load(self, sid):
                return next(s for s in fresh if s.id == sid)

        # the contract's tensor hash agrees between generation and cache
        assert InMemory().content_hash() == Benchmark.content_hash(bench)


def test_sample_i_does_not_depend_on_num_samples(built):
    two = tiny("synthetic-bokeh", built, num_samples=2).generate_in_memory()
    three = list(tiny("synthetic-bokeh", built))
    for a, b in zip(two, three):
        assert torch.equal(a.target, b.target) and a.condition["k_px_m"] == b.condition["k_px_m"]


# -- sample contract ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", BASES)
def test_samples_follow_the_contract(built, name):
    from refocus_bench.optics import coc_radius_from_k
    from refocus_bench.simulators.render.apertures import list_apertures

    bench = tiny(name, built)
    spec = bench.spec
    assert len(bench) == 3 and bench.sample_ids() == ["0000", "0001", "0002"]
    for s in bench:
        h, w = s.image.shape[-2:]
        for img in (s.image, s.target):
            assert img.dtype == torch.float32 and img.shape == (1, 3, h, w)
            assert float(img.min()) >= 0.0 and float(img.max()) <= 1.0
        assert set(spec.subsets) <= set(s.subset) and all(isinstance(v, str) for v in s.subset.values())
        assert s.subset["blur"] in ("low", "mid", "high")
        c = s.condition
        if spec.task == "deblur":
            assert set(c) == {"coc_px"} and c["coc_px"].shape == (1, 1, h, w) and c["coc_px"].dtype == torch.float32
            assert float(c["coc_px"].abs().max()) > 1.0
            continue
        assert {"depth_m", "focus_distance_m", "k_px_m", "aperture"} <= set(c)
        d = c["depth_m"]
        assert (
            d.shape == (1, 1, h, w)
            and d.dtype == torch.float32
            and bool(torch.isfinite(d).all())
            and float(d.min()) > 0
        )
        assert c["aperture"] in list_apertures() and c["k_px_m"] > 0 and c["focus_distance_m"] > 0
        coc = s.metric_inputs["coc"]
        assert coc.shape == (1, 1, h, w)
        expected = coc_radius_from_k(d, c["k_px_m"], c["focus_distance_m"]).to(torch.float32)
        assert torch.allclose(coc, expected, atol=1e-4)
        if spec.task == "refocus":
            assert c["input_coc_px"].shape == (1, 1, h, w)
            assert not torch.allclose(c["input_coc_px"], coc)  # another focus / K


def test_samples_are_valid_results_subsets(built):
    """Subset labels are str -> str, as the results schema requires."""
    for name in BASES:
        for s in tiny(name, built):
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in s.subset.items())


# -- ground truth -----------------------------------------------------------------------------------
def test_synthetic_ground_truth_is_converged():
    """Production rule for the aperture points: N vs 2N on the most demanding kinds (>= 40 dB whole image)."""
    import numpy as np

    from refocus_bench.benchmarks.ground_truth import convergence, render_exact
    from refocus_bench.benchmarks.synthetic_scenes import aperture_samples_for, k_for_max_coc, layer_coc_px, make_scene

    for kind in ("lights", "dead-leaves"):
        scene, _ = make_scene(kind, (96, 96), np.random.default_rng(5))
        _, depth, _ = scene.flatten()
        s = float(scene.depth_m[-1])  # far focus: near content strongly blurred
        k = k_for_max_coc(depth, s, 15.0)
        n = aperture_samples_for(64, 15.0, kind)
        coc = layer_coc_px(scene, k, s)[0]
        one, two = render_exact(scene.layers, coc, "heart", n), render_exact(scene.layers, coc, "heart", 2 * n)
        c = convergence(one, two)
        assert c["psnr_db"] >= 40.0 and c["worst_tile16_psnr_db"] >= 32.0, (kind, n, c)


def test_manifest_records_convergence_check(built):
    report = json.loads((tiny("synthetic-bokeh", built).folder / "manifest.json").read_text())["report"]["convergence"]
    assert report["against"] == 2 * report["aperture_samples"] and math.isfinite(report["psnr_db"])
    assert report["method"] in ("exact-mode", "reference")


def test_targets_record_how_they_were_rendered(built):
    """Every target says which engine made it: the exact mode where its cells agree to CELL_CHECK_DB, else the
    reference with its aperture points (at 48 px a 15.6 px blur measured 59.9 dB, so refocus sample 0002 falls
    back); most tiny targets take the exact mode."""
    from refocus_bench.benchmarks.ground_truth import CELL_CHECK_DB

    methods = []
    for name in ("synthetic-deblur", "synthetic-bokeh", "synthetic-refocus"):
        manifest = json.loads((tiny(name, built).folder / "manifest.json").read_text())
        for entry in manifest["samples"]:
            source = [entry["meta"]["source"]["ground_truth"]] if name == "synthetic-refocus" else []
            for truth in [entry["meta"]["ground_truth"], *source]:
                methods.append(truth["method"])
                if truth["method"] == "exact-mode":
                    assert truth["cell_check_db"] >= CELL_CHECK_DB, (name, entry["id"], truth)
                else:
                    assert truth["cell_check_db"] < CELL_CHECK_DB, (name, truth)
                    assert truth["aperture_samples"] in (8, 16, 32), (name, truth)
    assert methods.count("exact-mode") >= 0.75 * len(methods) and "reference" in methods, methods


def test_rgbd_layers_reproduce_the_image_in_focus_and_fill_hidden_content():
    from refocus_bench.benchmarks.ground_truth import render_exact
    from refocus_bench.benchmarks.middlebury import motorcycle_rgbd, rgbd_layers
    from refocus_bench.benchmarks.synthetic_scenes import coc_map_px

    image, depth = motorcycle_rgbd(0.1, (48, 72))
    coc = coc_map_px(depth, 30.0, 3.0)
    layers, radii = rgbd_layers(image, coc, 0.5)
    assert bool((radii[1:] > radii[:-1]).all())
    assert bool((layers[-1, 3] == 1).all())  # farthest layer opaque everywhere (hidden content filled)
    assert bool((layers[1:, 3] >= layers[:-1, 3]).all())  # each layer covers everything nearer
    pinhole = render_exact(layers, torch.zeros_like(radii), "disk", 8)
    assert float((pinhole - image).abs().max()) < 1e-4  # zero CoC composites back to the photograph
