"""Procedural scenes: determinism by seed, the flattened RGB-D view, Middlebury metric depth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from refocus_bench.errors import InvalidInputError
from refocus_bench.simulators.render.scenes import (
    LayeredScene,
    dead_leaves_scene,
    disparity_to_depth_m,
    middlebury_motorcycle,
    two_plane_scene,
)


def srgb_to_linear(c: np.ndarray) -> np.ndarray:  # IEC 61966-2-1
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(np.clip(c, 0.0031308, None), 1 / 2.4) - 0.055)


@pytest.mark.parametrize(
    "make",
    [
        lambda seed: two_plane_scene((48, 40), seed=seed),
        lambda seed: dead_leaves_scene((48, 40), n_leaves=6, seed=seed, point_lights=2),
    ],
    ids=["two-plane", "dead-leaves"],
)
def test_scenes_are_deterministic_by_seed(make):
    a, b, c = make(5), make(5), make(6)
    assert torch.equal(a.layers, b.layers) and torch.equal(a.depth_m, b.depth_m)
    assert not torch.equal(a.layers, c.layers)
    assert a.layers.dtype == torch.float32 and a.layers.shape[1:] == (4, 48, 40)
    assert float(a.layers.min()) >= 0.0 and float(a.layers.max()) <= 1.0
    assert bool((a.depth_m[1:] >= a.depth_m[:-1]).all())  # near -> far
    assert bool((a.layers[-1, 3] == 1.0).all())  # an opaque background closes the stack


def test_two_plane_scene_layout():
    scene = two_plane_scene((64, 64), fg_depth_m=1.2, bg_depth_m=3.5, seed=0)
    assert scene.depth_m.tolist() == [1.2, 3.5]
    alpha = scene.layers[0, 3]
    assert 0.05 < float(alpha.mean()) < 0.9  # a foreground object, not the whole frame
    assert bool(((alpha > 0) & (alpha < 1)).any())  # anti-aliased edges
    with pytest.raises(InvalidInputError, match="fg_depth_m"):
        two_plane_scene((16, 16), fg_depth_m=4.0, bg_depth_m=2.0)


def test_flatten_composites_over_in_linear_light():
    h, w = 2, 3
    front_rgb = np.array([0.9, 0.5, 0.02])[:, None, None] * np.ones((3, h, w))
    back_rgb = np.array([0.1, 0.7, 0.3])[:, None, None] * np.ones((3, h, w))
    alpha = np.array([[1.0, 0.6, 0.5], [0.3, 0.0, 0.51]])
    layers = torch.zeros(2, 4, h, w)
    layers[0, :3], layers[0, 3] = torch.from_numpy(front_rgb), torch.from_numpy(alpha)
    layers[1, :3], layers[1, 3] = torch.from_numpy(back_rgb), 1.0
    scene = LayeredScene(layers, torch.tensor([1.5, 4.0], dtype=torch.float64))
    image, depth, front = scene.flatten()
    a = alpha.astype(np.float32).astype(np.float64)  # the stored alpha is float32
    lin = srgb_to_linear(front_rgb.astype(np.float32).astype(np.float64)) * a + (1 - a) * srgb_to_linear(
        back_rgb.astype(np.float32).astype(np.float64)
    )
    np.testing.assert_allclose(image[0].numpy(), linear_to_srgb(lin), atol=2e-6)
    # the front-most layer with alpha > 0.5 gives the depth
    want_front = np.array([[0, 0, 1], [1, 1, 0]])
    np.testing.assert_array_equal(front.numpy(), want_front)
    np.testing.assert_allclose(depth[0, 0].numpy(), np.where(want_front == 0, 1.5, 4.0))
    assert image.shape == (1, 3, h, w) and depth.shape == (1, 1, h, w)


def test_middlebury_motorcycle_metric_depth():
    import skimage.data

    scene = middlebury_motorcycle()
    assert scene.image.shape == (1, 3, 500, 741) and scene.depth_m.shape == (1, 1, 500, 741)
    z = scene.depth_m[0, 0].double().numpy()
    valid = scene.valid[0, 0].numpy()
    # Z = f B / (d + doffs) with the calibration of Middlebury 2014 "Motorcycle"
    disp = skimage.data.stereo_motorcycle()[2].astype(np.float64)
    finite = np.isfinite(disp)
    np.testing.assert_array_equal(valid, finite)
    want = 994.978 * 193.001 / (disp[finite] + 31.086) / 1000.0
    np.testing.assert_allclose(z[valid], want, rtol=1e-6)
    assert 2.1 <= z.min() and z.max() <= 5.05  # 2.11 to 5.02 m
    assert float(valid.mean()) == pytest.approx(0.93, abs=0.01)
    # pixels without ground truth are filled from valid neighbours: finite, in range
    assert np.isfinite(z).all() and z[~valid].min() >= z[valid].min() and z[~valid].max() <= z[valid].max()
    assert (
        disparity_to_depth_m(np.array([np.inf, -40.0]), 994.978, 193.001, 31.086).tolist()
        == [pytest.approx(np.nan, nan_ok=True)] * 2
    )
