"""The nearest marked pixel of every pixel (a Euclidean feature transform), by jump flooding, in torch.

:func:`nearest_seed` is what the RGB-D planes (:mod:`~refocus_bench.simulators.render.rgbd_planes`) use to
extend each plane behind nearer ones and to take colours from a plane's interior. It runs on any device
and in any size; the cost is ``8 * (log2(max_dist) + 2)`` shifted comparisons of the frame.

Example:
    >>> seeds = torch.zeros(5, 5, dtype=torch.bool)
    >>> seeds[0, 0] = seeds[4, 4] = True
    >>> flat, dist = nearest_seed(seeds, max_dist=3.0)
    >>> flat[1, 0].item(), flat[3, 4].item(), round(dist[1, 1].item(), 3), flat[2, 2].item() in (0, 24)
    (0, 24, 1.414, True)
"""

from __future__ import annotations

import math

import torch

from ...errors import check

__all__ = ["nearest_seed"]

_FAR = 1 << 24  # coordinate of "no seed" (int64): its squared distance still fits
_FAR_INT32 = 1 << 14  # the same for int32 coordinates: 2 * (3 * 2**14)**2 < 2**31


def nearest_seed(seeds: torch.Tensor, max_dist: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of the nearest ``True`` pixel of an (H, W) bool mask, within ``max_dist`` px (Euclidean).

    Jump flooding (Rong and Tan, 2006): with steps halving from the power of two at or above ``max_dist``
    down to 1, and one more pass at step 1, each pixel keeps the nearest of the seeds held by itself and
    its eight neighbours at that step. Exact for nearly every pixel; where it is not, the seed found is
    at most a fraction of a pixel farther than the nearest (tested against SciPy's exact transform).

    Args:
        seeds: (H, W) bool, any device.
        max_dist: largest distance searched, px (> 0).

    Returns:
        ``(flat, dist)``: (H, W) int64 flat index ``y * W + x`` of the nearest seed (-1 where none lies
        within ``max_dist``) and (H, W) float64 its distance in px (``inf`` where none).
    """
    check(seeds.dim() == 2 and seeds.dtype == torch.bool, "seeds must be an (H, W) bool tensor")
    check(max_dist > 0, lambda: f"max_dist must be > 0 px, got {max_dist}")
    h, w = seeds.shape
    # int32 coordinates while every squared distance, "no seed" included, fits (frames up to 8192 px a side)
    itype = torch.int32 if max(h, w) <= _FAR_INT32 // 2 else torch.int64
    far = _FAR_INT32 if itype == torch.int32 else _FAR
    ys = torch.arange(h, device=seeds.device, dtype=itype).view(h, 1).expand(h, w)
    xs = torch.arange(w, device=seeds.device, dtype=itype).view(1, w).expand(h, w)
    sy = torch.where(seeds, ys, torch.full_like(ys, far))
    sx = torch.where(seeds, xs, torch.full_like(xs, far))
    step = 1 << max(0, math.ceil(math.log2(max(min(max_dist, max(h, w)), 1.0))))
    steps = []
    while step >= 1:
        steps.append(step)
        step //= 2
    for s in steps + [1]:
        best = _squared_distance(sy, sx, ys, xs)
        for dy in (-s, 0, s):
            for dx in (-s, 0, s):
                if dy == 0 and dx == 0:
                    continue
                cy, cx = _shifted(sy, dy, dx, far), _shifted(sx, dy, dx, far)
                d = _squared_distance(cy, cx, ys, xs)
                better = d < best
                sy, sx, best = torch.where(better, cy, sy), torch.where(better, cx, sx), torch.minimum(d, best)
    dist = _squared_distance(sy, sx, ys, xs).double().sqrt()
    found = dist <= max_dist
    flat = torch.where(found, sy.long() * w + sx.long(), torch.full_like(sy, -1, dtype=torch.long))
    return flat, torch.where(found, dist, torch.full_like(dist, math.inf))


def _squared_distance(sy: torch.Tensor, sx: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    dy, dx = sy - ys, sx - xs
    return dy * dy + dx * dx


def _shifted(x: torch.Tensor, dy: int, dx: int, far: int) -> torch.Tensor:
    """``out[y, x] = x[y + dy, x + dx]``, and "no seed" (``far``) where that lies outside the frame."""
    h, w = x.shape
    out = torch.full_like(x, far)
    if abs(dy) < h and abs(dx) < w:
        src_y, dst_y = (slice(dy, h), slice(0, h - dy)) if dy >= 0 else (slice(0, h + dy), slice(-dy, h))
        src_x, dst_x = (slice(dx, w), slice(0, w - dx)) if dx >= 0 else (slice(0, w + dx), slice(-dx, w))
        out[dst_y, dst_x] = x[src_y, src_x]
    return out
