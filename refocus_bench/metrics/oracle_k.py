"""Oracle blur strength ("oracle K"): the per-image search for the blur strength that best matches a target.

GenRefocus scores bokeh synthesis and refocusing after choosing, per image, the blur strength that
maximises SSIM to the target, so that a model is not penalised for a blur-scale convention that
differs from the dataset's. :func:`oracle_blur_strength` makes that search a reusable, recorded
step: it takes a ``render(value) -> image`` callable (any model, any parameter: ``K`` in px*m, an
f-number, a unitless gain), so it depends on no renderer.

Search: a coarse scan of ``grid`` points over ``bounds`` (log-spaced by default: blur strengths act
multiplicatively) brackets the best point; golden-section search then shrinks the bracket around it
until its width is below ``tol`` (relative for a log scale, absolute for a linear one) or
``max_evals`` renderings were spent. The scan guards against the local maxima a pure golden-section
search would fall into; the result is the best value evaluated, with every (value, SSIM) pair
recorded so the choice can be audited.

The evaluation protocol ``oracle_blur_strength`` of :mod:`refocus_bench.runner.protocols` calls this search
once per sample; this module knows nothing of benchmarks or models.

Example:
    >>> import torch
    >>> sharp = torch.rand(1, 3, 48, 48)
    >>> def render(k):
    ...     return (sharp * (1 - k / 10) + 0.5 * k / 10).clamp(0, 1)
    >>> res = oracle_blur_strength(render, render(2.5), (0.5, 8.0))
    >>> abs(res.value - 2.5) < 0.01
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..errors import check
from .base import check_image, check_image_pair
from .full_reference import SSIM_WINDOW, _ssim_unchecked

__all__ = ["OracleResult", "oracle_blur_strength", "SCALES"]

SCALES = {"log", "linear"}
_INV_PHI = (math.sqrt(5.0) - 1.0) / 2.0


@dataclass(frozen=True)
class OracleResult:
    """Outcome of :func:`oracle_blur_strength`.

    Attributes:
        value: the blur strength with the highest score.
        score: its score (mean SSIM over the batch).
        image: the rendering at ``value``.
        evaluations: every (value, score) evaluated, in order.
        converged: whether the bracket shrank below ``tol`` within ``max_evals``.
        settings: the search settings, to record with the scores.
    """

    value: float
    score: float
    image: torch.Tensor = field(repr=False)
    evaluations: tuple[tuple[float, float], ...]
    converged: bool
    settings: dict


def oracle_blur_strength(
    render: Callable[[float], torch.Tensor],
    target: torch.Tensor,
    bounds: tuple[float, float],
    *,
    scale: str = "log",
    grid: int = 9,
    tol: float = 1e-3,
    max_evals: int = 60,
    score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> OracleResult:
    """Find the blur strength whose rendering maximises SSIM to ``target``.

    Args:
        render: ``render(value) -> image``: sRGB [0, 1], same shape as ``target``. For a batch, the
            score is the batch mean, so call once per image for per-image oracle values.
        target: the reference image, sRGB [0, 1], (B, 3, H, W).
        bounds: (low, high) search interval of the blur parameter; low > 0 for ``scale="log"``.
        scale: ``"log"`` (default) or ``"linear"`` spacing of the search.
        grid: points of the initial scan (>= 3).
        tol: bracket width at which to stop: relative (log scale) or in parameter units (linear).
        max_evals: budget of ``render`` calls, scan included.
        score: ``score(rendering, target) -> (B,)`` to maximise; default SSIM on sRGB
            (Gaussian 11 x 11, sigma 1.5, valid positions, as ``ssim.rgb``).

    Returns:
        :class:`OracleResult`.
    """
    lo, hi = _check_search(target, bounds, scale, grid, tol, max_evals, default_score=score is None)
    score_name = "ssim.rgb" if score is None else getattr(score, "__name__", "custom")
    search = _Search(render, target, score or _ssim_rgb, scale)
    a, b = _scan(search, search.to_x(lo), search.to_x(hi), grid)
    converged = _golden_section(search, a, b, tol, max_evals)
    x_best = search.best()
    best_score, best_image = search.cache[x_best]
    settings = {
        "search": "grid scan + golden section",
        "scale": scale,
        "bounds": [lo, hi],
        "grid": grid,
        "tol": tol,
        "max_evals": max_evals,
        "score": score_name,
    }
    return OracleResult(
        value=search.from_x(x_best),
        score=best_score,
        image=best_image,
        evaluations=tuple(search.order),
        converged=converged,
        settings=settings,
    )


def _check_search(
    target: torch.Tensor,
    bounds: tuple[float, float],
    scale: str,
    grid: int,
    tol: float,
    max_evals: int,
    *,
    default_score: bool,
) -> tuple[float, float]:
    """Validate the search arguments; returns ``bounds`` as floats. Raises InvalidInputError."""
    sizes = check_image(target, "target")
    lo, hi = (float(b) for b in bounds)
    check(
        math.isfinite(lo) and math.isfinite(hi) and lo < hi,
        lambda: f"bounds must be finite (low, high) with low < high, got {bounds}",
    )
    check(scale in SCALES, lambda: f"scale must be one of {sorted(SCALES)}, got {scale!r}")
    check(scale == "linear" or lo > 0, lambda: f"a log-scale search needs bounds > 0, got {bounds}; use scale='linear'")
    check(isinstance(grid, int) and grid >= 3, lambda: f"grid must be an int >= 3, got {grid!r}")
    check(tol > 0, lambda: f"tol must be > 0, got {tol}")
    check(
        isinstance(max_evals, int) and max_evals >= grid,
        lambda: f"max_evals must be an int >= grid ({grid}), got {max_evals!r}",
    )
    if default_score:
        check(min(sizes["H"], sizes["W"]) >= SSIM_WINDOW["kernel_size"], "SSIM needs images of at least 11x11 px")
    return lo, hi


def _ssim_rgb(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The default objective: per-image SSIM on sRGB, as the metric ``ssim.rgb`` computes it."""
    return _ssim_unchecked(p, t, "rgb", 1.0, 0)


class _Search:
    """Memoised objective over the search coordinate ``x`` (``log(value)`` or ``value``).

    ``cache[x] = (score, image)``; ``order`` lists every ``(value, score)`` in evaluation order.
    Non-finite scores count as ``-inf``.
    """

    def __init__(
        self,
        render: Callable[[float], torch.Tensor],
        target: torch.Tensor,
        score: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        scale: str,
    ) -> None:
        self.render, self.target, self.score = render, target, score
        self.to_x: Callable[[float], float] = math.log if scale == "log" else (lambda v: v)
        self.from_x: Callable[[float], float] = math.exp if scale == "log" else (lambda x: x)
        self.cache: dict[float, tuple[float, torch.Tensor]] = {}
        self.order: list[tuple[float, float]] = []

    def __call__(self, x: float) -> float:
        if x not in self.cache:
            value = self.from_x(x)
            image = self.render(value)
            check_image_pair(image, self.target)
            s = float(self.score(image, self.target).double().mean())
            s = s if math.isfinite(s) else -math.inf
            self.cache[x] = (s, image.detach())
            self.order.append((value, s))
        return self.cache[x][0]

    def best(self) -> float:
        """The evaluated ``x`` with the highest score (the first one on ties)."""
        return max(self.cache, key=lambda x: self.cache[x][0])


def _scan(search: _Search, x_lo: float, x_hi: float, grid: int) -> tuple[float, float]:
    """Evaluate ``grid`` evenly spaced points; returns the bracket (neighbours of the best point)."""
    xs = [x_lo + (x_hi - x_lo) * i / (grid - 1) for i in range(grid)]
    scores = [search(x) for x in xs]
    best = max(range(grid), key=lambda i: scores[i])
    return xs[max(best - 1, 0)], xs[min(best + 1, grid - 1)]


def _golden_section(search: _Search, a: float, b: float, tol: float, max_evals: int) -> bool:
    """Shrink the bracket ``[a, b]`` by golden-section steps; True when its width fell to ``tol`` or below."""
    c, d = b - _INV_PHI * (b - a), a + _INV_PHI * (b - a)
    converged = (b - a) <= tol
    while not converged and len(search.cache) + 1 < max_evals:
        if search(c) >= search(d):
            b, d = d, c
            c = b - _INV_PHI * (b - a)
        else:
            a, c = c, d
            d = a + _INV_PHI * (b - a)
        converged = (b - a) <= tol
    return converged
