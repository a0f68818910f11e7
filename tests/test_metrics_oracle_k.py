"""The oracle blur-strength search finds a planted strength."""

from __future__ import annotations

import pytest
import torch
from kornia.filters import gaussian_blur2d

from refocus_bench.errors import InvalidInputError
from refocus_bench.metrics.full_reference import ssim
from refocus_bench.metrics.oracle_k import oracle_blur_strength


@pytest.fixture(scope="module")
def sharp():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(1, 3, 24, 24, generator=g)
    return torch.nn.functional.interpolate(base, size=(96, 96), mode="bilinear", align_corners=False).clamp(0, 1)


def _renderer(sharp, calls):
    def render(k: float) -> torch.Tensor:
        calls.append(k)
        sigma = max(k, 1e-3)
        size = 2 * int(3 * sigma + 0.5) + 1
        return gaussian_blur2d(sharp, (size, size), (sigma, sigma), border_type="reflect").clamp(0, 1)

    return render


@pytest.mark.parametrize("planted", [0.8, 2.7, 6.3])
def test_oracle_finds_planted_strength(sharp, planted):
    calls: list[float] = []
    render = _renderer(sharp, calls)
    target = render(planted)
    calls.clear()
    res = oracle_blur_strength(render, target, (0.25, 12.0), tol=1e-3, max_evals=60)
    assert res.value == pytest.approx(planted, rel=0.01)
    assert res.score == pytest.approx(1.0, abs=1e-4)
    assert res.converged
    assert len(res.evaluations) == len(calls) <= 60
    torch.testing.assert_close(res.image, render(res.value))
    assert res.score == pytest.approx(ssim(res.image, target).item(), abs=1e-6)
    assert res.settings["score"] == "ssim.rgb" and res.settings["scale"] == "log"


def test_oracle_linear_scale_and_custom_score(sharp):
    render = _renderer(sharp, [])
    target = render(3.0)

    def neg_mse(p, t):
        return -(p - t).pow(2).mean(dim=(1, 2, 3))

    res = oracle_blur_strength(render, target, (0.5, 10.0), scale="linear", score=neg_mse, tol=1e-3)
    assert res.value == pytest.approx(3.0, rel=0.01)
    assert res.settings["score"] == "neg_mse"


def test_oracle_budget_is_respected(sharp):
    render = _renderer(sharp, [])
    res = oracle_blur_strength(render, render(2.0), (0.25, 12.0), grid=5, max_evals=8, tol=1e-9)
    assert len(res.evaluations) <= 8 and not res.converged


def test_oracle_bad_arguments(sharp):
    render = _renderer(sharp, [])
    with pytest.raises(InvalidInputError, match="log-scale search needs bounds > 0"):
        oracle_blur_strength(render, sharp, (0.0, 4.0))
    with pytest.raises(InvalidInputError, match="low < high"):
        oracle_blur_strength(render, sharp, (4.0, 1.0))
    with pytest.raises(InvalidInputError, match="same shape"):
        oracle_blur_strength(lambda k: sharp[..., :50, :50], sharp, (1.0, 4.0))
