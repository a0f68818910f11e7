"""``refocus-bench fit-blur PAIRS -o OUT``: fitted samples in the pair schema, manifest, resume, bad input."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from refocus_bench.cli import main
from refocus_bench.io import write_depth, write_image
from refocus_bench.simulators.pairs.fit_blur_cases import known_answer_pairs

SIZE = 48


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    for d in ("aif", "bokeh", "depth", "meta"):
        (root / d).mkdir()
    truth = {}
    for i, p in enumerate(known_answer_pairs(3, size=SIZE, seed=2)):
        write_image(root / "aif" / f"p{i}.png", p.aif, bit_depth=16)
        write_image(root / "bokeh" / f"p{i}.png", p.bokeh, bit_depth=16)
        write_depth(root / "depth" / f"p{i}.exr", p.depth_m)
        meta = {"focus_distance_m": p.focus_distance_m, "aperture": p.aperture}
        (root / "meta" / f"p{i}.json").write_text(json.dumps(meta))
        truth[f"p{i}"] = p.k_px_m
    p = known_answer_pairs(1, size=SIZE, seed=3)[0]
    write_image(root / "aif" / "q_size.png", p.aif[..., :-4])  # pairs of different sizes
    write_image(root / "bokeh" / "q_size.png", p.bokeh)
    write_depth(root / "depth" / "q_size.exr", p.depth_m)
    write_image(root / "aif" / "r_depth.png", p.aif)  # depth of the wrong size
    write_image(root / "bokeh" / "r_depth.png", p.bokeh)
    write_depth(root / "depth" / "r_depth.exr", p.depth_m[..., :-2, :])
    write_image(root / "bokeh" / "s_alone.png", p.bokeh)  # no aif
    return root, truth


def _run(pairs, out, *extra):
    return main(["fit-blur", str(pairs), "-o", str(out), "--size", str(SIZE), "--per-shard", "2", *extra])


def _digests(out):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((out / "data").rglob("*.parquet"))}


def test_fit_blur_writes_kept_samples_and_a_manifest(pairs_dir, tmp_path, capsys):
    from datasets import load_dataset

    from refocus_bench.simulators.pairs.schema import pair_features

    root, truth = pairs_dir
    out = tmp_path / "out"
    assert _run(root, out) == 0
    lines = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    by_name = {m["name"]: m for m in lines}
    assert [m["name"] for m in lines] == ["p0", "p1", "p2", "q_size", "r_depth", "s_alone"]
    assert by_name["q_size"]["status"] == "skipped" and "aif/q_size.png" in by_name["q_size"]["detail"]
    assert "same size" in by_name["q_size"]["detail"]
    assert by_name["r_depth"]["status"] == "skipped" and "depth/r_depth.exr" in by_name["r_depth"]["detail"]
    assert by_name["s_alone"]["reason"] == "missing_aif"
    ds = load_dataset(str(out), split="train", cache_dir=str(tmp_path / "hf"))
    assert ds.features == pair_features((SIZE, SIZE))
    kept = [m for m in lines if m["status"] == "kept"]
    assert len(ds) == len(kept) >= 2
    for row in ds:
        assert row["route"] == "fit-blur" and row["task"] == "bokeh"
        fit = by_name[row["scene"]["name"]]["fit"]
        assert row["target_params"]["k_px_m"] == fit["k_px_m"]
        assert row["target_params"]["k_px_m"] == pytest.approx(truth[row["scene"]["name"]], rel=0.1)
        assert row["confidence"] == fit["confidence"]
        prov = json.loads(row["provenance_json"])
        assert prov["files"]["bokeh"]["path"] == f"bokeh/{row['scene']['name']}.png"
    assert "fit-blur: " in capsys.readouterr().out
    assert "route `fit-blur`" in (out / "README.md").read_text()


def test_fit_blur_is_deterministic_and_resumes(pairs_dir, tmp_path, capsys):
    root, _ = pairs_dir
    a, b = tmp_path / "a", tmp_path / "b"
    assert _run(root, a) == 0 and _run(root, b) == 0
    assert _digests(a) == _digests(b) and _digests(a)
    assert (a / "manifest.jsonl").read_bytes() == (b / "manifest.jsonl").read_bytes()
    # a run killed after its first shard: the second shard's state is gone and a temporary is left
    (b / "state" / "shards" / "shard-00001.json").unlink()
    (b / "data" / "bokeh" / ".train-00001-of-00003.parquet.x.tmp.parquet").write_bytes(b"partial")
    capsys.readouterr()
    assert _run(root, b) == 0
    assert "1 shards made, 2 already done" in capsys.readouterr().out
    assert _digests(a) == _digests(b)
    assert not list((b / "data").rglob(".*tmp*"))
    assert _run(root, b, "--min-ssim", "0.5") == 2  # other settings: refused without --overwrite
    assert _run(root, b, "--min-ssim", "0.5", "--overwrite") == 0


def test_fit_blur_bad_inputs(tmp_path, capsys):
    not_pairs = tmp_path / "photos"
    not_pairs.mkdir()
    out = tmp_path / "out"
    assert _run(not_pairs, out) == 2
    err = capsys.readouterr().err
    assert "is not a pairs folder" in err and "photos" in err and "aif/" in err
    assert not out.exists()
    assert _run(tmp_path / "missing", out) == 2
    assert not out.exists()


def test_fit_blur_reads_a_dataset_copy_with_relative_disparity(tmp_path):
    """An EBB400 tree (validation/{in,gt}, MiDaS-like disparity): K* is the blur per unit of normalised disparity."""
    import cv2
    import numpy as np
    from datasets import load_dataset

    root = tmp_path / "EBB400"
    truth = {}
    for i, p in enumerate(known_answer_pairs(3, size=64, seed=4)):
        sid = str(1 + 3 * i)
        write_image(root / "validation" / "in" / f"{sid}.jpg", p.aif)
        write_image(root / "validation" / "gt" / f"{sid}.jpg", p.bokeh)
        inv = 1.0 / p.depth_m[0, 0].double().numpy()
        span = inv.max() - inv.min()
        disparity = np.round((inv - inv.min()) / span * 65535).astype(np.uint16)
        (root / "validation" / "disparity").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "validation" / "disparity" / f"{sid}.png"), disparity)
        truth[sid] = p.k_px_m * span  # CoC = K (1/s - 1/z) = K span (d_s - d), d normalised
    out = tmp_path / "out"
    assert main(["fit-blur", str(root), "--dataset", "ebb400", "-o", str(out), "--size", "64"]) == 0
    lines = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert [m["name"] for m in lines] == ["1", "4", "7"]
    errors = [abs(m["fit"]["k_px_m"] / truth[m["name"]] - 1.0) for m in lines]
    assert sorted(errors)[1] < 0.25, errors  # JPEG pairs of 64 px, focus estimated from the pair
    assert all(m["fit"]["focus_source"] == "pair-mask" for m in lines)
    ds = load_dataset(str(out), split="train", cache_dir=str(tmp_path / "hf"))
    assert {r["scene"]["source"] for r in ds} == {"dataset:ebb400"}
    prov = json.loads(ds[0]["provenance_json"])
    assert prov["depth"] == "file:relative_disparity"


def test_relative_disparity_gives_k_per_unit_of_normalised_disparity():
    from refocus_bench.simulators.pairs.fit_blur import FitSettings, fit_blur
    from refocus_bench.simulators.pairs.fit_pairs import disparity_as_depth

    p = known_answer_pairs(1, size=64, seed=4)[0]
    inv = 1.0 / p.depth_m.double()
    disparity = 7.0 * inv + 3.0  # any scale and shift
    pseudo = disparity_as_depth(disparity)
    span = float(inv.max() - inv.min())
    d_focus = (1.0 / p.focus_distance_m - float(inv.min())) / span
    assert float(1.0 / pseudo[torch.isfinite(pseudo)].min()) == pytest.approx(1.0, abs=1e-6)
    fit = fit_blur(p.aif, p.bokeh, pseudo, focus_distance_m=1.0 / d_focus, settings=FitSettings(aperture=p.aperture))
    assert fit.k_px_m == pytest.approx(p.k_px_m * span, rel=0.03)
