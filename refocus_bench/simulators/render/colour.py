"""sRGB <-> linear light for the renderers, in row blocks for large images.

The renderers work in linear light: :func:`to_linear` decodes sRGB with kornia's exact transfer
function (and optionally boosts clipped highlights, :class:`RenderConfig` ``highlight_gain``);
:func:`to_srgb` clamps to [0, 1] and encodes back. Images over ``_CHUNK_PX`` pixels are converted in
row blocks when autograd is off, which bounds the temporaries' memory.

Example:
    >>> x = torch.rand(1, 3, 8, 8, dtype=torch.float64)
    >>> torch.allclose(to_srgb(to_linear(x, RenderConfig())), x)
    True
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb

from .config import RenderConfig

__all__ = ["to_linear", "to_srgb"]

_CHUNK_PX = 1 << 18
"""Colour conversions of larger images run in row blocks of about this many pixels when autograd is
off: kornia's transfer functions make several full-size temporaries, which set the peak memory of a
6720x4480 render and, at any size, cost a page fault per 4 KiB when they are freshly mapped (blocks
of 2^18 px keep them small enough for the allocator to reuse: 1024^2 render, 18 000 -> ~0 faults)."""


def _by_rows(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``out[..., rows, :] = fn(x[..., rows, :])`` block by block (an elementwise ``fn``); returns ``out``."""
    rows = max(1, _CHUNK_PX // x.shape[-1])
    for r in range(0, x.shape[-2], rows):
        out[..., r : r + rows, :] = fn(x[..., r : r + rows, :])
    return out


def _chunked(x: torch.Tensor) -> bool:
    return x.shape[-2] * x.shape[-1] > _CHUNK_PX and not (torch.is_grad_enabled() and x.requires_grad)


def to_srgb(lin: torch.Tensor) -> torch.Tensor:
    """Clamp linear RGB to [0, 1] and encode it to sRGB; large tensors are converted in place."""
    if _chunked(lin):
        return _by_rows(lambda t: linear_rgb_to_rgb(t.clamp(0.0, 1.0)), lin, lin)
    return linear_rgb_to_rgb(lin.clamp(0.0, 1.0))


def to_linear(image: torch.Tensor, config: RenderConfig) -> torch.Tensor:
    """sRGB in [0, 1] -> linear RGB (kornia's exact transfer), with ``config``'s highlight boost; any shape
    (..., 3, H, W). Large images run in row blocks (same values up to the last bit of a vectorised pow)."""
    if _chunked(image):
        return _by_rows(lambda t: _to_linear_block(t, config), image, torch.empty_like(image))
    return _to_linear_block(image, config)


def _to_linear_block(image: torch.Tensor, config: RenderConfig) -> torch.Tensor:
    """sRGB -> linear RGB (kornia's exact transfer), with the optional highlight boost."""
    lin = rgb_to_linear_rgb(image)
    if config.highlight_gain > 1.0:
        peak = image.amax(dim=1, keepdim=True)
        ramp = ((peak - config.highlight_threshold) / (1.0 - config.highlight_threshold)).clamp(0.0, 1.0)
        lin = lin * (1.0 + (config.highlight_gain - 1.0) * ramp)
    return lin
