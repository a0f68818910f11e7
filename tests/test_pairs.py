"""Pair generation: determinism, physics of every record, task consistency, loading with `datasets`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from refocus_bench import optics
from refocus_bench.simulators.pairs.schema import pair_features
from refocus_bench.simulators.pairs.shards import run
from tests.pair_fixtures import SIZE, data_hashes, read_records, small_config

LONG_PX = max(SIZE)


@pytest.fixture(scope="module")
def physical_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("pairs") / "physical"
    result = run(small_config(), out)
    return out, result


def test_same_seed_gives_byte_identical_shards_with_1_or_2_workers(physical_run, tmp_path):
    out, result = physical_run
    assert result.failed_shards == {} and result.shards_made == 3
    again = run(small_config(), tmp_path / "two-workers", workers=2)
    assert again.shards_made == 3
    first, second = data_hashes(out), data_hashes(tmp_path / "two-workers")
    assert len(first) == 9 and first == second  # 3 shards x 3 tasks
    recorded = [json.loads(p.read_text()) for p in sorted((out / "state" / "shards").glob("shard-*.json"))]
    assert {rel: sha for s in recorded for rel, sha in s["files"].items()} == first
    other = run(small_config(seed=8, num_scenes=1), tmp_path / "other-seed")
    assert other.records == 6 and set(data_hashes(tmp_path / "other-seed").values()).isdisjoint(first.values())


def _hand_k(f_mm, n, s_m, sensor_mm, long_px):
    """K = f^2 s / (2 N (s - f)) x px per metre of sensor, in SI units, written out independently of optics."""
    f = f_mm / 1000.0
    return f * f * s_m / (2.0 * n * (s_m - f)) * (long_px / (sensor_mm / 1000.0))


def _check_side(side, coc, defocus, depth, lo, hi):
    if side["kind"] == "all-in-focus":
        assert side["k_px_m"] == 0.0 and side["focal_length_mm"] is None and side["aperture"] is None
        assert not coc.any() and not defocus.any()
        return
    s, k = side["focus_distance_m"], side["k_px_m"]
    z = torch.from_numpy(depth.astype(np.float64))
    if side["mode"] == "physical":
        assert k == pytest.approx(
            _hand_k(side["focal_length_mm"], side["f_number"], s, side["sensor_width_mm"], LONG_PX), rel=1e-9
        )
        expected = optics.coc_radius_px(
            z, side["focal_length_mm"], side["f_number"], s, side["sensor_width_mm"], LONG_PX
        ).numpy()
    else:
        assert side["focal_length_mm"] is None and side["f_number"] is None
        expected = optics.coc_radius_from_k(z, k, s).numpy()
    hand = k * (1.0 / s - 1.0 / depth.astype(np.float64))  # CoC = K (1/s - 1/z), positive behind focus
    np.testing.assert_allclose(coc, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(coc, hand, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(defocus, np.clip(np.abs(hand) / 100.0, 0, 1), rtol=1e-5, atol=1e-6)
    assert (coc[depth > s * 1.001] > 0).all() and (coc[depth < s * 0.999] < 0).all()  # positive behind focus
    assert side["max_abs_coc_px"] == pytest.approx(float(np.abs(coc).max()), rel=1e-6)
    assert lo <= side["max_abs_coc_px"] <= hi


def test_every_record_coc_and_defocus_maps_match_optics(physical_run):
    out, _ = physical_run
    n = 0
    for task in ("deblur", "bokeh", "refocus"):
        for r in read_records(out, task):
            depth = r["depth_m"]
            assert depth.shape == SIZE and (depth > 0).all()
            _check_side(r["source"], r["source_coc_px"], r["source_defocus"], depth, 0.5, 10.0)
            _check_side(r["target_params"], r["target_coc_px"], r["target_defocus"], depth, 0.5, 10.0)
            for side in (r["source"], r["target_params"]):
                if side["kind"] == "defocused":  # depth-histogram focus: the depth under the drawn pixel
                    assert side["focus_method"] == "depth-histogram"
                    assert side["focus_distance_m"] == pytest.approx(
                        float(depth[side["focus_y"], side["focus_x"]]), rel=1e-7
                    )
            assert r["seed"] == 7 and r["scene"]["licence"]
            n += 1
    assert n == 3 * 3 * 2  # tasks x scenes x pairs


def test_tasks_share_images_and_parameters_as_documented(physical_run):
    out, _ = physical_run
    recs = {t: {r["sample_id"]: r for r in read_records(out, t)} for t in ("deblur", "bokeh", "refocus")}
    assert recs["deblur"].keys() == recs["bokeh"].keys() == recs["refocus"].keys()
    sources = set()
    for sid, d in recs["deblur"].items():
        b, f = recs["bokeh"][sid], recs["refocus"][sid]
        sources.add(d["scene"]["source"])
        np.testing.assert_array_equal(d["target"], d["aif"])
        np.testing.assert_array_equal(b["input"], b["aif"])
        np.testing.assert_array_equal(d["input"], b["target"])
        np.testing.assert_array_equal(f["input"], d["input"])
        assert d["source"] == b["target_params"] == f["source"]
        a, t = f["source"], f["target_params"]
        assert (a["f_number"], a["focal_length_mm"], a["aperture"], a["sensor_format"]) == (
            t["f_number"],
            t["focal_length_mm"],
            t["aperture"],
            t["sensor_format"],
        )
        assert abs(1 / a["focus_distance_m"] - 1 / t["focus_distance_m"]) >= 0.1
        assert np.abs(f["target"] - f["input"]).max() > 0
        # a defocused image of a textured scene has less high-frequency energy than the pinhole view
        lap = lambda x: np.abs(np.diff(x.mean(-1), axis=1)).mean()  # noqa: E731
        if d["source"]["max_abs_coc_px"] > 3:
            assert lap(d["input"]) < lap(d["aif"])
    assert sources == {"dead-leaves", "middlebury"}


def test_k_mode_point_and_mask_median_focus(tmp_path):
    cfg = small_config(
        mode="k",
        k_px_m="3:12",
        focus_method="point,mask-median",
        num_scenes=2,
        pairs_per_scene=3,
        seed=3,
        tasks=("bokeh",),
    )
    result = run(cfg, tmp_path / "k")
    assert result.failures == []
    methods, planes_checked = set(), 0
    for r in read_records(tmp_path / "k", "bokeh"):
        depth, side = r["depth_m"], r["target_params"]
        _check_side(side, r["target_coc_px"], r["target_defocus"], depth, 0.5, 10.0)
        assert 3 <= side["k_px_m"] <= 12 and side["mode"] == "k"
        methods.add(side["focus_method"])
        s = side["focus_distance_m"]
        if side["focus_method"] == "point":  # (lower) median of the 5x5 neighbourhood of the point
            x, y = side["focus_x"], side["focus_y"]
            patch = np.sort(depth[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3].ravel())
            assert s == pytest.approx(float(patch[(len(patch) - 1) // 2]), rel=1e-7)
            assert side["focus_mask_box"] is None
        else:
            x0, y0, x1, y1 = side["focus_mask_box"]
            assert 0 <= x0 < x1 <= SIZE[1] and 0 <= y0 < y1 <= SIZE[0]
            if r["scene"]["source"] == "dead-leaves":  # the mask is one visible layer: a plane, sharp in the target
                in_focus = np.abs(r["target_coc_px"][y0:y1, x0:x1]) < 1e-6
                assert in_focus.sum() >= 0.005 * depth.size
                planes_checked += 1
    assert methods == {"point", "mask-median"} and planes_checked > 0


def test_parquet_dataset_loads_with_explicit_features(physical_run, tmp_path):
    import datasets

    out, _ = physical_run
    card = (out / "README.md").read_text()
    assert (
        "config_name: refocus" in card
        and "make_pairs" in card
        and "Middlebury" in card
        and "log-uniform on [1.2, 8]" in card
    )
    ds = datasets.load_dataset(str(out), "refocus", split="train", cache_dir=str(tmp_path / "hf"))
    assert ds.features == pair_features(SIZE)
    assert len(ds) == 6
    row = ds.with_format("numpy")[0]
    assert row["depth_m"].shape == SIZE and row["depth_m"].dtype == np.float32
    assert ds[0]["input"].size == (SIZE[1], SIZE[0])
    assert set(ds["task"]) == {"refocus"}


def test_folder_format_matches_parquet_pixels_and_optics(physical_run, tmp_path):
    from refocus_bench.io import read_depth

    out, _ = physical_run
    folder = tmp_path / "folder"
    run(small_config(format="folder"), folder)
    parquet = {r["sample_id"]: r for r in read_records(out, "refocus")}
    lines = [
        json.loads(line)
        for p in sorted((folder / "data").glob("shard-*/records.jsonl"))
        for line in p.read_text().splitlines()
    ]
    assert len(lines) == 18 and len({x["id"] for x in lines}) == 18
    import cv2

    for x in lines:
        if x["task"] != "refocus":
            continue
        p = parquet[x["sample_id"]]
        img = cv2.imread(str(folder / x["target"]), cv2.IMREAD_UNCHANGED)[..., ::-1].astype(np.float32) / 255
        np.testing.assert_array_equal(img, p["target"])
        depth = read_depth(folder / x["depth_m"])[0, 0].numpy()
        coc = read_depth(folder / x["target_coc_px"])[0, 0].numpy()
        np.testing.assert_array_equal(depth, p["depth_m"])
        _check_side(x["target_params"], coc, read_depth(folder / x["target_defocus"])[0, 0].numpy(), depth, 0.5, 10.0)
        assert math.isclose(x["target_params"]["focus_distance_m"], p["target_params"]["focus_distance_m"])
