"""How far a texture stays like itself: the correlation of a region's colours with distance.

The disocclusion fill of :mod:`~refocus_bench.simulators.render.rgbd_planes` guesses the colour of a surface
where the camera did not see it, at distance ``d`` from the nearest pixel where it did. The best linear guess
from the colour ``c0`` of that pixel and the local mean ``m`` is ``m + rho(d) (c0 - m)``, where ``rho(d)`` is the
texture's correlation at lag ``d``: a flat-coloured surface (``rho = 1``) continues its edge colour, a fine
texture (``rho = 0``) is best guessed by its mean. :func:`texture_correlation` measures ``rho`` on the visible
pixels of a region from its structure function ``D(L) = E|c(x) - c(x + L)|^2`` (horizontal and vertical pairs
of visible pixels ``L`` apart) as ``rho(L) = 1 - D(L) / (2 var)``, clamped to [0, 1], at lags 1, 2, 4, ... px;
:func:`correlation_at` interpolates it in ``log2 d``.

Example (a flat colour is fully correlated, white noise not at all):
    >>> flat = torch.full((3, 32, 32), 0.4, dtype=torch.float64)
    >>> seen = torch.ones(32, 32, dtype=torch.float64)
    >>> texture_correlation(flat, seen).tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    >>> noise = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> bool(texture_correlation(noise, torch.ones(64, 64, dtype=torch.float64))[0] < 0.05)
    True
"""

from __future__ import annotations

import torch

__all__ = ["LAGS_PX", "texture_correlation", "correlation_at"]

LAGS_PX = (1, 2, 4, 8, 16, 32)
"""Lags (px) at which :func:`texture_correlation` measures the correlation."""


def texture_correlation(colour: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """(len(LAGS_PX),) correlation in [0, 1] of (3, h, w) linear ``colour`` over the pixels where (h, w) ``seen`` > 0,
    at each of :data:`LAGS_PX` (1 for a region without variance; 0 at lags with no pair of seen pixels);
    differentiable w.r.t. ``colour``."""
    seen = seen.detach() > 0
    vals = colour[:, seen]
    var = vals.var(1, unbiased=False).sum() if vals.shape[1] > 1 else colour.new_zeros(())
    if float(var) <= 1e-12:
        return torch.ones(len(LAGS_PX), dtype=colour.dtype, device=colour.device)
    out = []
    for lag in LAGS_PX:
        num, pairs = colour.new_zeros(()), 0
        for a, b, sa, sb in (
            (colour[:, lag:], colour[:, :-lag], seen[lag:], seen[:-lag]),
            (colour[:, :, lag:], colour[:, :, :-lag], seen[:, lag:], seen[:, :-lag]),
        ):
            both = sa & sb
            num = num + ((a - b) ** 2).sum(0)[both].sum()
            pairs += int(both.sum())
        out.append((1.0 - num / pairs / (2.0 * var)).clamp(0.0, 1.0) if pairs else colour.new_zeros(()))
    return torch.stack(out)


def correlation_at(table: torch.Tensor, dist_px: torch.Tensor) -> torch.Tensor:
    """The correlation ``table`` (of :func:`texture_correlation`) at distances ``dist_px`` (any shape, px),
    interpolated linearly in ``log2`` of the distance; distances below 1 px (and non-finite ones) take the 1 px
    value, beyond the last lag the last value."""
    x = torch.log2(dist_px.nan_to_num(1.0, posinf=1.0).clamp(min=1.0)).clamp(max=len(LAGS_PX) - 1)
    i0 = x.floor().long().clamp(max=len(LAGS_PX) - 2)
    frac = (x - i0.to(x.dtype)).to(table.dtype)
    return table[i0] * (1.0 - frac) + table[i0 + 1] * frac
