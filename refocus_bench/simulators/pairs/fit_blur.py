"""Route (c): fit the blur strength of a real (all-in-focus, bokeh) pair through the renderer.

GenRefocus keeps real pairs without usable EXIF (LFDOF, RealBokeh, aperture series) as training
data by fitting (its Eq. 5)::

    K* = argmax_K SSIM(render(AIF, D; D_focus, K), bokeh)

and keeping the sample only when that SSIM is high enough. :func:`fit_blur` is that fit. The search
is the oracle-K search of the evaluation protocol ``oracle_blur_strength``
(:func:`refocus_bench.metrics.oracle_k.oracle_blur_strength`: a log-spaced scan that brackets the
best K, then golden-section steps on log K), with a budget of :data:`MAX_RENDERS` renderings. The
renderer is a bokeh model (default: ``bokeh.layered`` with the ``RenderConfig()`` layer settings,
:func:`fit_renderer`), so :func:`protocol_for` gives the evaluation protocol that picks the same K*
on the same pair with the same model.

Focus plane: given (``focus_distance_m``), or estimated without rendering by :func:`focus_from_pair`:
the median depth of the pixels where the bokeh image keeps the all-in-focus image's detail.

Reported per fit (:class:`BlurFit`): K* (px*m, for the pair's pixel size), SSIM at K*, the bracket
(the evaluated neighbours of K* on log K), the number of renderings, and a confidence in [0, 1]: the
share of the SSIM deficit of the unblurred all-in-focus image that the fit removes,
``(SSIM(K*) - SSIM(AIF)) / (1 - SSIM(AIF))``, set to 0 when K* lies on a search bound. A fit is kept
when SSIM(K*) >= ``min_ssim`` (:data:`DEFAULT_MIN_SSIM`) and K* is not on a bound.

Example:
    >>> import torch
    >>> aif = torch.rand(1, 3, 40, 40)
    >>> depth = torch.full((1, 1, 40, 40), 3.0)
    >>> fit = fit_blur(aif, aif.clone(), depth, focus_distance_m=3.0)
    >>> fit.renders <= MAX_RENDERS
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from ...errors import check, check_tensor
from ...metrics.full_reference import _ssim_unchecked
from ...metrics.oracle_k import oracle_blur_strength

__all__ = [
    "BlurFit",
    "FitSettings",
    "fit_blur",
    "fit_renderer",
    "focus_from_pair",
    "protocol_for",
    "MAX_RENDERS",
    "DEFAULT_MIN_SSIM",
    "DEFAULT_K_BOUNDS",
]

MAX_RENDERS = 16
"""Renderings per fit at most (scan and golden-section steps together)."""

DEFAULT_K_BOUNDS = (2.0, 150.0)
"""Search interval of K in pixel-metres (covers GenRefocus's simulator range 5-60 with margin)."""

DEFAULT_MIN_SSIM = 0.85
"""Fits with SSIM(K*) below this are rejected (see docs/datasets.md, "Pairs from real photos")."""


@dataclass(frozen=True)
class FitSettings:
    """Settings of the K search.

    Attributes:
        k_bounds_px_m: (low, high) search interval of K, pixel-metres, low > 0.
        grid: points of the log-spaced scan (>= 3).
        max_renders: renderings per fit (scan included), at most :data:`MAX_RENDERS` by default.
        min_ssim: keep threshold on SSIM(K*).
        aperture: aperture name the renderer draws (``refocus_bench.simulators.render.apertures``).
    """

    k_bounds_px_m: tuple[float, float] = DEFAULT_K_BOUNDS
    grid: int = 6
    max_renders: int = MAX_RENDERS
    min_ssim: float = DEFAULT_MIN_SSIM
    aperture: str = "disk"

    def __post_init__(self) -> None:
        lo, hi = (float(v) for v in self.k_bounds_px_m)
        object.__setattr__(self, "k_bounds_px_m", (lo, hi))
        check(0 < lo < hi and math.isfinite(hi), lambda: f"k_bounds_px_m must be 0 < low < high, got {(lo, hi)}")
        check(isinstance(self.grid, int) and self.grid >= 3, lambda: f"grid must be an int >= 3, got {self.grid!r}")
        check(
            isinstance(self.max_renders, int) and self.max_renders >= self.grid,
            lambda: f"max_renders must be an int >= grid ({self.grid}), got {self.max_renders!r}",
        )
        check(-1.0 <= self.min_ssim <= 1.0, lambda: f"min_ssim must lie in [-1, 1], got {self.min_ssim}")


@dataclass(frozen=True)
class BlurFit:
    """One fit. ``bracket`` is (low, high) K in pixel-metres around ``k_px_m``."""

    k_px_m: float
    focus_distance_m: float
    focus_source: str
    ssim: float
    ssim_unblurred: float
    bracket: tuple[float, float]
    renders: int
    converged: bool
    at_bound: bool
    confidence: float
    kept: bool
    reason: str | None
    evaluations: tuple[tuple[float, float], ...] = field(repr=False)
    image: torch.Tensor = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready facts of the fit (no image)."""
        return {
            "k_px_m": self.k_px_m,
            "focus_distance_m": self.focus_distance_m,
            "focus_source": self.focus_source,
            "ssim": self.ssim,
            "ssim_unblurred": self.ssim_unblurred,
            "bracket_px_m": list(self.bracket),
            "renders": self.renders,
            "converged": self.converged,
            "at_bound": self.at_bound,
            "confidence": self.confidence,
            "kept": self.kept,
            "reason": self.reason,
        }


def fit_renderer(**overrides: Any) -> Any:
    """The default renderer of the fit: ``bokeh.layered`` with the ``RenderConfig()`` layer settings.

    These are the settings ``make-pairs`` renders with (2 px / 35 % layer steps, reduced resolution
    from 6 px), about 3x faster than ``bokeh.layered``'s own finer defaults.
    """
    from ...models.baselines.bokeh import LayeredBokeh
    from ..render.config import RenderConfig

    c = RenderConfig().for_input(layered=False)
    kw = {
        "min_layer_step_px": c.min_layer_step_px,
        "rel_layer_step": c.rel_layer_step,
        "coarse_radius_px": c.coarse_radius_px,
        **overrides,
    }
    return LayeredBokeh(**kw)


def protocol_for(settings: FitSettings) -> dict[str, Any]:
    """The evaluation protocol (``spec.protocol``) whose oracle-K search is this fit's search."""
    lo, hi = settings.k_bounds_px_m
    return {
        "name": "oracle_blur_strength",
        "objective": "ssim.rgb",
        "k_range_px_m": [lo, hi],
        "iterations": settings.max_renders,
        "scale": "log",
        "grid": settings.grid,
    }


def _luma(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def _local_rms(x: torch.Tensor, radius: int) -> torch.Tensor:
    k = 2 * radius + 1
    return F.avg_pool2d(F.pad(x * x, [radius] * 4, mode="replicate"), k, stride=1).clamp_min(0).sqrt()


def focus_from_pair(
    aif: torch.Tensor, bokeh: torch.Tensor, depth_m: torch.Tensor, *, radius: int = 3, max_ratio: float = 0.3
) -> tuple[float, torch.Tensor]:
    """Focus distance (m) of a pair from where the bokeh image keeps the all-in-focus image's detail.

    Detail is the local RMS (window ``2 radius + 1``) of the all-in-focus luminance minus its local
    mean; loss is the local RMS of the difference of the two images. In-focus pixels: detail above
    the image's median detail and loss below ``max_ratio`` x detail; the focus distance is the median
    depth there (GenRefocus's D_focus = median(D[M])). With no such pixel, the 5 % of the textured
    pixels with the lowest loss / detail ratio are used.

    Args:
        aif, bokeh: sRGB [0, 1], (1, 3, H, W).
        depth_m: metres, (1, 1, H, W), ``inf`` allowed (never chosen).

    Returns:
        (focus distance in metres, boolean in-focus mask (1, 1, H, W)).
    """
    a, b = _luma(aif.float()), _luma(bokeh.float())
    k = 2 * radius + 1
    mean = F.avg_pool2d(F.pad(a, [radius] * 4, mode="replicate"), k, stride=1)
    detail = _local_rms(a - mean, radius)
    loss = _local_rms(a - b, radius)
    finite = torch.isfinite(depth_m)
    check(bool(finite.any()), "depth_m has no finite value to take a focus distance from")
    textured = (detail > detail[finite].median()) & finite
    if not bool(textured.any()):
        textured = finite
    ratio = loss / detail.clamp_min(1e-4)
    mask = textured & (ratio < max_ratio)
    if int(mask.sum()) < 16:
        r = ratio[textured]
        cut = torch.quantile(r, 0.05) if r.numel() > 1 else r.max()
        mask = textured & (ratio <= cut)
    return float(depth_m[mask].double().median()), mask


def _check_pair(aif: torch.Tensor, bokeh: torch.Tensor, depth_m: torch.Tensor) -> None:
    check_tensor(aif, "aif", [1, 3, "H", "W"], min_value=0.0, max_value=1.0)
    check_tensor(bokeh, "bokeh", [1, 3, "H", "W"], min_value=0.0, max_value=1.0)
    check(
        aif.shape == bokeh.shape,
        lambda: f"aif and bokeh must have the same size, got {tuple(aif.shape[-2:])} and {tuple(bokeh.shape[-2:])}",
    )
    check_tensor(depth_m, "depth_m", [1, 1, "H", "W"], allow_inf=True)
    check(
        depth_m.shape[-2:] == aif.shape[-2:],
        lambda: f"depth_m must have the image size {tuple(aif.shape[-2:])}, got {tuple(depth_m.shape[-2:])}",
    )
    check(min(aif.shape[-2:]) >= 11, "SSIM needs images of at least 11x11 px")


def _bracket(evals: tuple[tuple[float, float], ...], best: float) -> tuple[float, float]:
    """The evaluated K values next to ``best`` on either side (``best`` itself at a bound)."""
    ks = sorted({k for k, _ in evals})
    i = ks.index(best)
    return ks[max(i - 1, 0)], ks[min(i + 1, len(ks) - 1)]


def fit_blur(
    aif: torch.Tensor,
    bokeh: torch.Tensor,
    depth_m: torch.Tensor,
    *,
    focus_distance_m: float | None = None,
    settings: FitSettings | None = None,
    renderer: Any = None,
) -> BlurFit:
    """Fit K* (and, when not given, the focus distance) of one real pair.

    Args:
        aif: all-in-focus image, sRGB [0, 1], (1, 3, H, W).
        bokeh: the real defocused image of the same view, sRGB [0, 1], (1, 3, H, W).
        depth_m: depth of the view in metres, (1, 1, H, W), > 0, ``inf`` allowed.
        focus_distance_m: focus distance in metres; None estimates it (:func:`focus_from_pair`).
        settings: :class:`FitSettings` (search bounds, budget, threshold, aperture).
        renderer: a bokeh model (``.bokeh(image, depth_m, focus_distance_m=, k_px_m=, aperture=)``);
            default :func:`fit_renderer`.

    Returns:
        :class:`BlurFit`.
    """
    settings = settings or FitSettings()
    _check_pair(aif, bokeh, depth_m)
    source = "given"
    if focus_distance_m is None:
        focus_distance_m, _ = focus_from_pair(aif, bokeh, depth_m)
        source = "pair-mask"
    check(
        math.isfinite(focus_distance_m) and focus_distance_m > 0,
        lambda: f"focus_distance_m must be a finite distance > 0 m, got {focus_distance_m}",
    )
    model = renderer if renderer is not None else fit_renderer()
    s = float(focus_distance_m)

    def render(k: float) -> torch.Tensor:
        return model.bokeh(aif, depth_m, focus_distance_m=s, k_px_m=float(k), aperture=settings.aperture)

    res = oracle_blur_strength(
        render, bokeh, settings.k_bounds_px_m, scale="log", grid=settings.grid, max_evals=settings.max_renders
    )
    lo, hi = settings.k_bounds_px_m
    at_bound = math.isclose(res.value, lo, rel_tol=1e-9) or math.isclose(res.value, hi, rel_tol=1e-9)
    base = float(_ssim_unchecked(aif, bokeh, "rgb", 1.0, 0).mean())
    gain = (res.score - base) / (1.0 - base) if base < 1.0 else (1.0 if res.score >= base else 0.0)
    confidence = 0.0 if at_bound else min(max(gain, 0.0), 1.0)
    reason = None
    if at_bound:
        reason = "k_at_search_bound"
    elif not res.score >= settings.min_ssim:
        reason = "ssim_below_threshold"
    return BlurFit(
        k_px_m=float(res.value),
        focus_distance_m=s,
        focus_source=source,
        ssim=float(res.score),
        ssim_unblurred=base,
        bracket=_bracket(res.evaluations, res.value),
        renders=len(res.evaluations),
        converged=bool(res.converged),
        at_bound=at_bound,
        confidence=float(confidence),
        kept=reason is None,
        reason=reason,
        evaluations=res.evaluations,
        image=res.image,
    )
