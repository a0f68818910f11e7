"""Route (c): the blur fit K* = argmax_K SSIM(render(AIF, D; focus, K), bokeh), on pairs with known answers."""

from __future__ import annotations

import statistics

import pytest
import torch

from refocus_bench.errors import InvalidInputError
from refocus_bench.simulators.pairs.fit_blur import (
    MAX_RENDERS,
    FitSettings,
    fit_blur,
    fit_renderer,
    focus_from_pair,
    protocol_for,
)
from refocus_bench.simulators.pairs.fit_blur_cases import known_answer_pairs
from refocus_bench.simulators.render.rgbd import render_bokeh


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # small renders: threads only contend
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def pairs():
    return known_answer_pairs(12, size=96, seed=0)


@pytest.fixture(scope="module")
def fits(pairs):
    out = []
    for p in pairs:
        settings = FitSettings(aperture=p.aperture)
        out.append(fit_blur(p.aif, p.bokeh, p.depth_m, focus_distance_m=p.focus_distance_m, settings=settings))
    return out


def test_known_answer_pairs_span_the_issue_ranges(pairs):
    ks = [p.k_px_m for p in pairs]
    assert min(ks) >= 5.0 and max(ks) <= 60.0 and max(ks) / min(ks) > 4
    assert {p.aperture for p in pairs} == {"disk", "hexagon", "pentagon"}
    assert len({round(p.focus_distance_m, 3) for p in pairs}) == len(pairs)


def test_k_star_with_exact_depth_within_two_percent_median(pairs, fits):
    errors = [abs(f.k_px_m / p.k_px_m - 1.0) for p, f in zip(pairs, fits)]
    assert statistics.median(errors) <= 0.02, errors
    assert all(f.renders <= MAX_RENDERS for f in fits)
    for f in fits:  # the bracket holds K* and the SSIM there is the best one evaluated
        assert f.bracket[0] <= f.k_px_m <= f.bracket[1]
        assert f.ssim == max(s for _, s in f.evaluations)
        assert f.ssim > f.ssim_unblurred and 0.0 < f.confidence <= 1.0


def test_same_k_star_as_the_evaluation_protocol():
    from refocus_bench.benchmarks.base import BenchmarkSample
    from refocus_bench.runner.protocols import check_protocol, predict

    p = known_answer_pairs(1, size=48, seed=5)[0]
    settings = FitSettings(aperture=p.aperture)
    model = fit_renderer()
    fit = fit_blur(p.aif, p.bokeh, p.depth_m, focus_distance_m=p.focus_distance_m, settings=settings, renderer=model)
    sample = BenchmarkSample(
        "pair",
        p.aif,
        p.bokeh,
        {"depth_m": p.depth_m, "focus_distance_m": p.focus_distance_m, "aperture": p.aperture},
    )
    pred = predict(model, "bokeh", sample, check_protocol(protocol_for(settings), "bokeh"))
    assert pred.info["k_px_m"] == fit.k_px_m
    assert pred.info["objective_score"] == pytest.approx(fit.ssim, abs=1e-12)
    assert pred.info["evaluations"] == fit.renders
    assert torch.equal(pred.image, fit.image)


def _two_planes(size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    aif = torch.rand(1, 3, size, size, generator=g)
    depth = torch.full((1, 1, size, size), 5.0)
    depth[..., : size // 2] = 2.0
    return aif, depth


def test_focus_from_pair_finds_the_sharp_plane():
    aif, depth = _two_planes()
    for s in (2.0, 5.0):
        bokeh = render_bokeh(aif, depth, k_px_m=30.0, focus_distance_m=s)
        focus, mask = focus_from_pair(aif, bokeh, depth)
        assert focus == s
        assert bool(mask.any())


def test_fit_without_focus_uses_the_pair_mask():
    aif, depth = _two_planes()
    bokeh = render_bokeh(aif, depth, k_px_m=30.0, focus_distance_m=2.0)
    fit = fit_blur(aif, bokeh, depth)
    assert fit.focus_source == "pair-mask" and fit.focus_distance_m == 2.0
    assert fit.k_px_m == pytest.approx(30.0, rel=0.02)
    assert fit.kept and fit.reason is None


def test_unrelated_target_is_rejected():
    aif, depth = _two_planes()
    other = torch.rand(aif.shape, generator=torch.Generator().manual_seed(9))
    fit = fit_blur(aif, other, depth, focus_distance_m=2.0)
    assert not fit.kept and fit.reason in ("ssim_below_threshold", "k_at_search_bound")
    assert fit.ssim < FitSettings().min_ssim


def test_bad_inputs_name_the_argument():
    aif, depth = _two_planes()
    with pytest.raises(InvalidInputError, match="same size"):
        fit_blur(aif, aif[..., :-2], depth, focus_distance_m=2.0)
    with pytest.raises(InvalidInputError, match="depth_m must have the image size"):
        fit_blur(aif, aif, depth[..., :-2], focus_distance_m=2.0)
    with pytest.raises(InvalidInputError, match="focus_distance_m"):
        fit_blur(aif, aif, depth, focus_distance_m=-1.0)
    with pytest.raises(InvalidInputError, match="max_renders"):
        FitSettings(max_renders=4)
    with pytest.raises(InvalidInputError, match="k_bounds_px_m"):
        FitSettings(k_bounds_px_m=(10.0, 1.0))
