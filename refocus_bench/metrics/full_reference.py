"""Full-reference fidelity metrics with pinned conventions: PSNR, SSIM, MS-SSIM, MAE.

Scores in the defocus literature do not reproduce across papers because the conventions differ
silently. Here each metric pins them in its :class:`~refocus_bench.metrics.base.MetricSpec` and the
spec is recorded with every score:

* ``color``: ``"rgb"`` (all three sRGB channels, averaged) or ``"y"`` (ITU-R BT.601 luma with the
  studio offset, as MATLAB's ``rgb2ycbcr``: ``Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255``
  for R, G, B in [0, 1]);
* ``data_range``: 1.0 (images are sRGB in [0, 1], never rescaled or clipped);
* ``crop_border``: pixels removed from every side before scoring (0 unless set);
* SSIM: Gaussian window sigma 1.5 truncated at 3.5 sigma (11 x 11), K1 = 0.01, K2 = 0.03, population
  statistics, mean over the *valid* window positions (the map is cropped by 5 px, as Wang et al.'s
  reference code and scikit-image do), per channel then averaged;
* MS-SSIM: torchmetrics' implementation with five scales, the original exponents
  (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 2 x 2 average pooling between scales and ``relu``
  normalisation of the per-scale terms (avoids NaN from negative contrast terms); needs H, W >= 176.

Each metric has a functional form (``psnr``, ``ssim``, ``ms_ssim``, ``mae``: validated inputs ->
(B,) scores) and a registered :class:`RefocusMetric` class; both call the same ``_..._unchecked``
function.

Example:
    >>> x = torch.full((1, 3, 16, 16), 0.5)
    >>> float(psnr(x, x + 0.1).round(decimals=3))
    20.0
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torchmetrics.functional.image import (
    multiscale_structural_similarity_index_measure as _tm_ms_ssim,
)
from torchmetrics.functional.image import (
    structural_similarity_index_measure as _tm_ssim,
)

from ..errors import check
from .base import MetricSpec, RefocusMetric, check_image_pair

__all__ = [
    "COLOR_SPACES",
    "rgb_to_y",
    "crop_border",
    "psnr",
    "ssim",
    "ms_ssim",
    "mae",
    "PSNR",
    "PSNRY",
    "SSIM",
    "SSIMY",
    "MSSSIM",
    "MAE",
]

COLOR_SPACES = {"rgb", "y"}
SSIM_WINDOW = {"gaussian_sigma": 1.5, "kernel_size": 11, "k1": 0.01, "k2": 0.03}
MS_SSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_Y_WEIGHTS = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)


def rgb_to_y(image: torch.Tensor) -> torch.Tensor:
    """BT.601 studio-range luma of an sRGB image: (B, 3, H, W) in [0, 1] -> (B, 1, H, W) in [16/255, 235/255].

    Example:
        >>> round(float(rgb_to_y(torch.ones(1, 3, 1, 1))), 4)
        0.9216
    """
    w = torch.tensor(_Y_WEIGHTS, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    return (image * w).sum(dim=1, keepdim=True) + 16.0 / 255.0


def crop_border(image: torch.Tensor, pixels: int) -> torch.Tensor:
    """Remove ``pixels`` from each side of (B, C, H, W)."""
    return image[..., pixels:-pixels, pixels:-pixels] if pixels > 0 else image


def _check_conventions(h: int, w: int, color: str, crop: int, min_size: int = 1) -> None:
    check(color in COLOR_SPACES, lambda: f"color must be one of {sorted(COLOR_SPACES)}, got {color!r}")
    check(isinstance(crop, int) and crop >= 0, lambda: f"crop_border must be an int >= 0, got {crop!r}")
    check(
        h - 2 * crop >= min_size and w - 2 * crop >= min_size,
        lambda: f"images of {h}x{w} px with crop_border={crop} leave less than "
        f"the {min_size}x{min_size} px this metric needs",
    )


def _prepare(preds: torch.Tensor, target: torch.Tensor, color: str, crop: int) -> tuple[torch.Tensor, torch.Tensor]:
    if color == "y":
        preds, target = rgb_to_y(preds), rgb_to_y(target)
    return crop_border(preds, crop), crop_border(target, crop)


# -- unchecked implementations (the single source of each score) -----------------------------------
def _psnr_unchecked(
    preds: torch.Tensor, target: torch.Tensor, color: str, data_range: float, crop: int
) -> torch.Tensor:
    p, t = _prepare(preds, target, color, crop)
    mse = (p - t).pow(2).mean(dim=(1, 2, 3))
    return 10.0 * torch.log10(data_range**2 / mse)


def _ssim_unchecked(
    preds: torch.Tensor, target: torch.Tensor, color: str, data_range: float, crop: int
) -> torch.Tensor:
    p, t = _prepare(preds, target, color, crop)
    _, smap = _tm_ssim(
        p,
        t,
        gaussian_kernel=True,
        sigma=SSIM_WINDOW["gaussian_sigma"],
        kernel_size=SSIM_WINDOW["kernel_size"],
        data_range=data_range,
        k1=SSIM_WINDOW["k1"],
        k2=SSIM_WINDOW["k2"],
        reduction="none",
        return_full_image=True,
    )
    r = (SSIM_WINDOW["kernel_size"] - 1) // 2
    return smap[..., r:-r, r:-r].mean(dim=(1, 2, 3))


def _ms_ssim_unchecked(
    preds: torch.Tensor, target: torch.Tensor, color: str, data_range: float, crop: int
) -> torch.Tensor:
    p, t = _prepare(preds, target, color, crop)
    return _tm_ms_ssim(
        p,
        t,
        gaussian_kernel=True,
        sigma=SSIM_WINDOW["gaussian_sigma"],
        kernel_size=SSIM_WINDOW["kernel_size"],
        data_range=data_range,
        k1=SSIM_WINDOW["k1"],
        k2=SSIM_WINDOW["k2"],
        betas=MS_SSIM_BETAS,
        normalize="relu",
        reduction="none",
    )


def _mae_unchecked(preds: torch.Tensor, target: torch.Tensor, color: str, data_range: float, crop: int) -> torch.Tensor:
    p, t = _prepare(preds, target, color, crop)
    return (p - t).abs().mean(dim=(1, 2, 3)) / data_range


_MS_SSIM_MIN = SSIM_WINDOW["kernel_size"] * (len(MS_SSIM_BETAS) - 1) ** 2  # torchmetrics needs H // 16 > 10: 176


# -- functional forms ------------------------------------------------------------------------------
def _functional(impl, min_size: int, preds: torch.Tensor, target: torch.Tensor, color: str, crop: int) -> torch.Tensor:  # noqa: ANN001
    sizes = check_image_pair(preds, target)
    _check_conventions(sizes["H"], sizes["W"], color, crop, min_size)
    return impl(preds, target, color, 1.0, crop)


def psnr(preds: torch.Tensor, target: torch.Tensor, *, color: str = "rgb", crop_border: int = 0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, per sample: ``10 log10(1 / MSE)`` over channels and pixels.

    Args:
        preds, target: sRGB in [0, 1], (B, 3, H, W).
        color: ``"rgb"`` or ``"y"`` (BT.601 luma).
        crop_border: pixels cropped from each side first.

    Returns:
        (B,) dB; ``inf`` for identical images.
    """
    return _functional(_psnr_unchecked, 1, preds, target, color, crop_border)


def ssim(preds: torch.Tensor, target: torch.Tensor, *, color: str = "rgb", crop_border: int = 0) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004, Gaussian 11x11, sigma 1.5, valid positions), (B,) in [-1, 1]."""
    return _functional(_ssim_unchecked, SSIM_WINDOW["kernel_size"], preds, target, color, crop_border)


def ms_ssim(preds: torch.Tensor, target: torch.Tensor, *, color: str = "rgb", crop_border: int = 0) -> torch.Tensor:
    """Multi-scale SSIM (Wang et al. 2003; torchmetrics, five scales, relu-normalised terms), (B,) in [0, 1]."""
    return _functional(_ms_ssim_unchecked, _MS_SSIM_MIN, preds, target, color, crop_border)


def mae(preds: torch.Tensor, target: torch.Tensor, *, color: str = "rgb", crop_border: int = 0) -> torch.Tensor:
    """Mean absolute error over channels and pixels, (B,) in [0, 1]."""
    return _functional(_mae_unchecked, 1, preds, target, color, crop_border)


# -- registered metric classes ---------------------------------------------------------------------
def _conventions(color: str, **extra: Any) -> dict[str, Any]:
    return {"color": color, "data_range": 1.0, "crop_border": 0, "input": "sRGB [0, 1], (B, 3, H, W)", **extra}


class _FullReference(RefocusMetric):
    _impl: Any = None
    _min_size = 1

    def _check_extra(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> None:
        super()._check_extra(preds, target, **extra)
        c = self.spec.conventions
        _check_conventions(preds.shape[-2], preds.shape[-1], c["color"], c["crop_border"], self._min_size)

    def _score(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> torch.Tensor:
        c = self.spec.conventions
        return type(self)._impl(preds, target, c["color"], c["data_range"], c["crop_border"])


_SSIM_CONV = {
    **SSIM_WINDOW,
    "positions": "valid (map cropped by 5 px)",
    "channels": "per channel, averaged",
    "implementation": "torchmetrics structural_similarity_index_measure (full map) + valid crop",
}
_MS_CONV = {
    **SSIM_WINDOW,
    "betas": MS_SSIM_BETAS,
    "normalize": "relu",
    "downsample": "avg_pool 2x2",
    "implementation": "torchmetrics multiscale_structural_similarity_index_measure",
}


class PSNR(_FullReference):
    """PSNR on the three sRGB channels, data range 1, no crop (dB, higher is better)."""

    spec = MetricSpec(
        name="psnr.rgb",
        higher_is_better=True,
        reference="full",
        value_range=(0.0, math.inf),
        differentiable=True,
        conventions=_conventions("rgb", formula="10 log10(1 / MSE), per sample"),
        description="peak signal-to-noise ratio (dB) on sRGB",
    )
    _impl = staticmethod(_psnr_unchecked)


class PSNRY(PSNR):
    """PSNR on BT.601 luma (studio range), data range 1, no crop."""

    spec = MetricSpec(
        name="psnr.y",
        higher_is_better=True,
        reference="full",
        value_range=(0.0, math.inf),
        differentiable=True,
        conventions=_conventions("y", formula="10 log10(1 / MSE), per sample"),
        description="peak signal-to-noise ratio (dB) on BT.601 Y",
    )


class SSIM(_FullReference):
    """SSIM on sRGB channels (Gaussian 11x11, sigma 1.5, valid positions)."""

    spec = MetricSpec(
        name="ssim.rgb",
        higher_is_better=True,
        reference="full",
        value_range=(-1.0, 1.0),
        differentiable=True,
        conventions=_conventions("rgb", **_SSIM_CONV),
        description="structural similarity on sRGB",
    )
    _impl = staticmethod(_ssim_unchecked)
    _min_size = SSIM_WINDOW["kernel_size"]


class SSIMY(SSIM):
    """SSIM on BT.601 luma (Gaussian 11x11, sigma 1.5, valid positions)."""

    spec = MetricSpec(
        name="ssim.y",
        higher_is_better=True,
        reference="full",
        value_range=(-1.0, 1.0),
        differentiable=True,
        conventions=_conventions("y", **_SSIM_CONV),
        description="structural similarity on BT.601 Y",
    )


class MSSSIM(_FullReference):
    """Multi-scale SSIM on sRGB channels (torchmetrics, five scales)."""

    spec = MetricSpec(
        name="ms_ssim.rgb",
        higher_is_better=True,
        reference="full",
        value_range=(0.0, 1.0),
        differentiable=True,
        conventions=_conventions("rgb", **_MS_CONV),
        description="multi-scale structural similarity",
    )
    _impl = staticmethod(_ms_ssim_unchecked)
    _min_size = _MS_SSIM_MIN


class MAE(_FullReference):
    """Mean absolute error on sRGB channels (lower is better)."""

    spec = MetricSpec(
        name="mae.rgb",
        higher_is_better=False,
        reference="full",
        value_range=(0.0, 1.0),
        differentiable=True,
        conventions=_conventions("rgb", formula="mean |preds - target|"),
        description="mean absolute error on sRGB",
    )
    _impl = staticmethod(_mae_unchecked)
