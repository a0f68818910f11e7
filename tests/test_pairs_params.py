"""Parameter distributions, focus draws and the Middlebury RGB-D scene used by the pair generator."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from refocus_bench.errors import InvalidInputError
from refocus_bench.simulators.pairs.generate import prepare_scene
from refocus_bench.simulators.pairs.params import Dist, draw_focus
from refocus_bench.simulators.render.scenes import MIDDLEBURY_MOTORCYCLE, disparity_to_depth_m, middlebury_motorcycle
from tests.pair_fixtures import small_config


@pytest.mark.parametrize(
    ("text", "kind", "support"),
    [
        ("1.8", "const", (1.8, 1.8)),
        ("2:40", "uniform", (2.0, 40.0)),
        ("1.2:8:log", "log-uniform", (1.2, 8.0)),
        ("12:40:int", "int", (12.0, 40.0)),
        ("disk=3,heart=1", "choice", ("disk", "heart")),
        ("1.4,2.8", "choice", (1.4, 2.8)),
    ],
)
def test_dist_parse_round_trip_and_support(text, kind, support):
    d = Dist.parse(text)
    assert d.kind == kind and d.support() == support
    assert Dist.parse(d.to_text()) == d
    rng = np.random.default_rng(0)
    draws = [d.sample(rng) for _ in range(500)]
    if kind == "choice":
        assert set(draws) == set(support)
    else:
        assert min(draws) >= support[0] and max(draws) <= support[1]


def test_dist_sampling_follows_the_stated_law():
    rng = np.random.default_rng(1)
    logu = np.log([Dist.parse("1:100:log").sample(rng) for _ in range(20000)])
    assert abs(np.mean(logu) - math.log(100) / 2) < 0.05  # uniform in log: mean of log is the midpoint
    ints = [Dist.parse("3:5:int").sample(rng) for _ in range(6000)]
    assert set(ints) == {3, 4, 5} and all(abs(ints.count(v) / 6000 - 1 / 3) < 0.03 for v in (3, 4, 5))
    picks = [Dist.parse("a=3,b=1").sample(rng) for _ in range(8000)]
    assert abs(picks.count("a") / 8000 - 0.75) < 0.02


@pytest.mark.parametrize("text", ["", "1:2:3", "a=x", "2:1", "1:nan", "lo:hi"])
def test_dist_rejects_malformed_text(text):
    with pytest.raises(InvalidInputError):
        Dist.parse(text)


def test_depth_histogram_focus_follows_the_pixel_histogram():
    depth = torch.full((20, 20), 4.0)
    depth[:5] = 1.0  # a quarter of the pixels at 1 m
    depth[0, 0] = math.inf  # sky is never a focus depth
    rng = np.random.default_rng(0)
    draws = [draw_focus("depth-histogram", depth, rng, quantiles=(0.0, 1.0)).distance_m for _ in range(2000)]
    assert set(draws) == {1.0, 4.0}
    assert abs(draws.count(1.0) / 2000 - 99 / 399) < 0.03
    away = [draw_focus("depth-histogram", depth, rng, away_from=(4.0, 0.5)).distance_m for _ in range(50)]
    assert set(away) == {1.0}  # |1/1 - 1/4| = 0.75 >= 0.5
    assert draw_focus("point", torch.full((4, 4), math.inf), rng) is None


def test_middlebury_depth_conversion_gives_2_1_to_5_0_m():
    import skimage.data

    _, _, disp = skimage.data.stereo_motorcycle()
    c = MIDDLEBURY_MOTORCYCLE
    z = disparity_to_depth_m(disp, c["focal_px"], c["baseline_mm"], c["doffs_px"])
    finite = np.isfinite(disp)
    d_max, d_min = float(disp[finite].max()), float(disp[finite].min())
    # Z = f B / (d + doffs) by hand: the largest disparity is the nearest point
    assert np.nanmin(z) == pytest.approx(994.978 * 193.001 / (d_max + 31.086) / 1000, rel=1e-12)
    assert np.nanmax(z) == pytest.approx(994.978 * 193.001 / (d_min + 31.086) / 1000, rel=1e-12)
    assert round(float(np.nanmin(z)), 1) == 2.1 and round(float(np.nanmax(z)), 1) == 5.0
    scene = middlebury_motorcycle()
    assert scene.depth_m.shape == (1, 1, 500, 741) and scene.image.shape == (1, 3, 500, 741)
    assert 2.1 <= float(scene.depth_m.min()) and float(scene.depth_m.max()) <= 5.02
    assert 0.85 < float(scene.valid.float().mean()) < 0.99  # about 7 % without ground truth, filled


def test_middlebury_crop_keeps_depth_units_and_validity():
    cfg = small_config(sources=(("middlebury", 1.0),), size=(64, 80), scale_jitter=1.0)
    scene = prepare_scene(cfg, 0)
    assert scene.image.shape == (1, 3, 64, 80) and scene.depth.shape == (1, 1, 64, 80) and scene.valid.shape == (64, 80)
    assert 2.1 <= float(scene.depth.min()) and float(scene.depth.max()) <= 5.02
    x0, y0, cw, ch = scene.params["crop_xywh"]
    full = middlebury_motorcycle()
    assert ch == 500 and x0 + cw <= 741  # cover scale with no jitter: the crop spans the full height
    # nearest-neighbour depth: every output depth is a depth of the source crop
    src = set(full.depth_m[0, 0, y0 : y0 + ch, x0 : x0 + cw].flatten().tolist())
    assert set(scene.depth.flatten().tolist()) <= src
