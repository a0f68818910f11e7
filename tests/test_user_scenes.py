"""User folders of image + depth files: layouts, units, and per-scene problems with clear reasons."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from refocus_bench.errors import InvalidInputError, MissingFileError
from refocus_bench.io import write_depth, write_image
from refocus_bench.simulators.pairs.user_scenes import (
    SCENE_PROBLEMS,
    SceneLoadError,
    find_user_scenes,
    folder_licence,
    load_user_scene,
)


def _img(path, h=12, w=16, value=None):
    img = (
        torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h * w))
        if value is None
        else torch.full((1, 3, h, w), value)
    )
    write_image(path, img)
    return img


def _png16(path, arr):
    import cv2

    assert cv2.imwrite(str(path), arr.astype(np.uint16))


def test_flat_layout_pairs_by_stem_and_reads_every_depth_format(tmp_path):
    _img(tmp_path / "a.png")
    np.save(tmp_path / "a_depth.npy", np.full((12, 16), 2.5, np.float32))
    _img(tmp_path / "b.jpg")
    write_depth(tmp_path / "b.depth.exr", torch.full((1, 1, 12, 16), 7.25))
    _img(tmp_path / "sub" / "c.png")
    _png16(tmp_path / "sub" / "c_depth.png", np.full((12, 16), 3250))  # millimetres
    entries = find_user_scenes(tmp_path)
    assert [(e.name, e.problem) for e in entries] == [("a", None), ("b", None), ("sub/c", None)]
    depths = [load_user_scene(e).depth_m for e in entries]
    assert [float(d.min()) for d in depths] == [2.5, 7.25, pytest.approx(3.25, abs=1e-6)]
    assert all(d.shape == (1, 1, 12, 16) for d in depths)


def test_paired_folders_layout_and_depth_scale(tmp_path):
    root = tmp_path / "set"
    img = _img(root / "images" / "x" / "room.png")
    (root / "depth" / "x").mkdir(parents=True)
    np.save(root / "depth" / "x" / "room.npy", np.full((12, 16), 150.0))
    entries = find_user_scenes(tmp_path)
    assert [(e.name, e.problem) for e in entries] == [("set/x/room", None)]
    scene = load_user_scene(entries[0], depth_scale=0.01)  # centimetres -> metres
    assert float(scene.depth_m.max()) == pytest.approx(1.5)
    assert torch.allclose(scene.image, torch.round(img * 255) / 255, atol=1e-6)


def test_invalid_depth_is_filled_from_nearest_measured_pixel_and_flagged(tmp_path):
    _img(tmp_path / "s.png", 4, 4)
    z = np.full((4, 4), 3.0, np.float32)
    z[:, 0] = 1.0
    z[:, 1] = np.nan  # no measurement: nearest valid is column 0 (distance 1) or column 2 (distance 1)
    z[0, 3] = np.inf  # sky is a measurement
    z[3, 3] = 0.0  # no measurement: nearest valid neighbours are all 3.0
    np.save(tmp_path / "s_depth.npy", z)
    scene = load_user_scene(find_user_scenes(tmp_path)[0])
    d, v = scene.depth_m[0, 0].numpy(), scene.valid[0, 0].numpy()
    assert not v[:, 1].any() and not v[3, 3] and v[0, 3] and v.sum() == 16 - 5
    assert math.isinf(d[0, 3]) and d[3, 3] == 3.0
    assert set(np.unique(d[:, 1])) <= {1.0, 3.0}


def test_png_depth_zero_means_no_measurement_not_sky(tmp_path):
    _img(tmp_path / "p.png", 2, 3)
    _png16(tmp_path / "p_depth.png", np.array([[1000, 0, 2000], [1000, 1500, 2000]]))
    scene = load_user_scene(find_user_scenes(tmp_path)[0], png_scale_m=1e-3)
    d, v = scene.depth_m[0, 0], scene.valid[0, 0]
    assert v.tolist() == [[True, False, True], [True, True, True]]
    assert d[0, 0] == 1.0 and d[0, 2] == 2.0 and float(d[0, 1]) in (1.0, 1.5, 2.0)  # filled from a neighbour


def test_problems_are_reported_per_scene_with_reasons(tmp_path):
    _img(tmp_path / "good.png")
    np.save(tmp_path / "good_depth.npy", np.full((12, 16), 2.0))
    _img(tmp_path / "nodepth.png")
    np.save(tmp_path / "orphan_depth.npy", np.ones((12, 16)))
    _img(tmp_path / "small.png")
    np.save(tmp_path / "small_depth.npy", np.ones((6, 8)))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    np.save(tmp_path / "broken_depth.npy", np.ones((12, 16)))
    _img(tmp_path / "baddepth.png")
    (tmp_path / "baddepth_depth.exr").write_bytes(b"garbage")
    _img(tmp_path / "empty.png")
    np.save(tmp_path / "empty_depth.npy", np.full((12, 16), np.nan))
    _img(tmp_path / "twice.png")
    _img(tmp_path / "twice.jpg")
    np.save(tmp_path / "twice_depth.npy", np.ones((12, 16)))
    entries = {e.name: e for e in find_user_scenes(tmp_path)}
    assert {n: e.problem for n, e in entries.items()} == {
        "good": None,
        "nodepth": "missing_depth",
        "orphan": "orphan_depth",
        "small": None,
        "broken": None,
        "baddepth": None,
        "empty": None,
        "twice": "ambiguous",
    }
    load_user_scene(entries["good"])
    expected = {
        "nodepth": "missing_depth",
        "orphan": "orphan_depth",
        "small": "size_mismatch",
        "broken": "corrupt_image",
        "baddepth": "bad_depth",
        "empty": "no_valid_depth",
        "twice": "ambiguous",
    }
    for name, reason in expected.items():
        with pytest.raises(SceneLoadError) as info:
            load_user_scene(entries[name])
        assert info.value.reason == reason and reason in SCENE_PROBLEMS
        assert isinstance(info.value, InvalidInputError)
    with pytest.raises(SceneLoadError, match=r"16x12 px but depth .* is 8x6 px"):
        load_user_scene(entries["small"])


def test_licence_file_and_missing_folder(tmp_path):
    assert folder_licence(tmp_path).startswith("unknown")
    (tmp_path / "LICENSE.txt").write_text("\nCC BY 4.0, photos by A. Person\nmore\n")
    assert folder_licence(tmp_path) == "CC BY 4.0, photos by A. Person"
    with pytest.raises(MissingFileError, match="scene folder not found"):
        find_user_scenes(tmp_path / "nope")
