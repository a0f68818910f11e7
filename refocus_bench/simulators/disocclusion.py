"""Disocclusion fill for RGB-D rendering: what a blurred foreground may uncover behind it.

An RGB-D image records only the front-most surface. When a layer in front is defocused, its
blurred edge lets the light of the layers behind it through, including from parts of them that the
camera never saw. :func:`fill_hidden` extends each soft depth layer behind the layers in front of it
with its local mean colour, as far as the front layer's blur can reveal; :class:`CocExtremes` gives
that distance (the CoC difference) per block at every reduced resolution.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["box_sum", "fill_hidden", "CocExtremes"]


def box_sum(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Sum of (C, H, W) over a (2r+1)^2 window, zero outside the frame (cumulative sums, O(1)/px)."""
    if radius <= 0:
        return x
    c = F.pad(x, (radius + 1, radius, radius + 1, radius)).cumsum(-1).cumsum(-2)
    k = 2 * radius + 1
    return c[:, k:, k:] - c[:, :-k, k:] - c[:, k:, :-k] + c[:, :-k, :-k]


def fill_hidden(stack: torch.Tensor, reach: float, gap: torch.Tensor | None = None, cells: int = 4) -> torch.Tensor:
    """Extend a soft RGB-D layer behind the layers in front of it (disocclusion fill).

    ``stack`` is (6, h, w): premultiplied colour, weight, coverage at-or-behind the layer and
    coverage clearly in front of it. Hidden pixels near the layer's visible pixels receive the
    layer's local mean colour, with an alpha equal to the layer's share of the visible background
    around them, so all layers behind an occluder share its hidden area in proportion to how much of
    each is seen nearby. The local means are computed on a grid about ``reach / cells`` pixels
    coarse and upsampled bilinearly. Returns (4, h, w).

    How far to look: the blur of a front layer with CoC ``r_f`` reveals what lies behind it, on a
    layer with CoC ``r``, only within about ``|r_f - r|`` pixels of its edge (each aperture point
    shifts the two layers by that much relative to each other). ``gap`` (h, w), in this layer's
    pixels, holds ``|r_f - r|`` for every pixel (its own CoC against the layer's): a hidden pixel
    looks for visible pixels of the layer within ``min(gap, reach)``, on radii halving from
    ``reach`` down to the grid size, and gets no fill where ``gap < 1`` px. Without ``gap``, every
    hidden pixel looks ``reach`` far. On a receding surface (depth changing slowly across the frame)
    the gaps are small, so the fill stays out of the way; at a depth jump it reaches as far as the
    jump's blur difference.
    """
    hidden = stack[5:6]
    h, w = stack.shape[-2:]
    down = 2 ** max(0, int(math.floor(math.log2(max(reach, 1.0) / cells))))
    small = F.avg_pool2d(stack[None, :5], down, ceil_mode=True)[0] if down > 1 else stack[:5]
    tiny = 1e-6

    def fill_at(radius: int) -> torch.Tensor:
        sums = box_sum(small, radius)
        s_color, s_wgt, s_behind = sums[:3], sums[3:4], sums[4:5]
        share = torch.where(s_behind > tiny, s_wgt / s_behind.clamp(min=tiny), torch.zeros_like(s_wgt)).clamp(0.0, 1.0)
        return torch.cat([s_color / s_wgt.clamp(min=tiny) * share, share])

    r = max(1, int(math.ceil(reach / down)))
    if gap is None:
        fill = fill_at(r)
    else:
        # the largest gap within each grid cell (the hidden pixels' side of a cell on an edge)
        g = F.max_pool2d(gap[None, None], down, ceil_mode=True)[0] if down > 1 else gap[None]
        fill = torch.zeros((4,) + small.shape[-2:], dtype=small.dtype, device=small.device)
        upper = math.inf
        while True:  # radii r, r/2, ... (grid cells), each for the gaps it covers
            lower = (r - 1) * down if r > 1 else 1.0
            sel = (g >= lower) & (g < upper)
            if bool(sel.any()):
                fill = torch.where(sel, fill_at(r), fill)
            if r == 1:
                break
            upper, r = lower, max(1, r // 2)
    if down > 1:
        fill = F.interpolate(fill[None], scale_factor=down, mode="bilinear", align_corners=False)[0, :, :h, :w]
    return torch.addcmul(stack[:4], hidden, fill)  # colour and weight, each extended by its fill


class CocExtremes:
    """Minimum and maximum of a signed CoC map (px) over aligned blocks of 2, 4, ... pixels.

    Args:
        coc_px: (H, W) signed CoC in pixels; H and W divisible by ``max_scale``.
        max_scale: the largest block size needed (a power of two).
    """

    def __init__(self, coc_px: torch.Tensor, max_scale: int) -> None:
        self.hi, self.lo = {1: coc_px}, {1: coc_px}
        s = 1
        while s < max_scale:
            self.hi[2 * s] = F.max_pool2d(self.hi[s][None, None], 2)[0, 0]
            self.lo[2 * s] = -F.max_pool2d(-self.lo[s][None, None], 2)[0, 0]
            s *= 2

    def gap_px(self, centre_px: float, scale: int, box: tuple[int, int, int, int]) -> torch.Tensor:
        """Largest ``|CoC - centre_px|`` over each ``scale`` x ``scale`` block of ``box`` (y0, y1, x0, x1,
        aligned to ``scale``), in reduced pixels (divided by ``scale``): ((y1 - y0) / scale, (x1 - x0) / scale)."""
        sl = (slice(box[0] // scale, box[1] // scale), slice(box[2] // scale, box[3] // scale))
        if scale == 1:
            return (self.hi[1][sl] - centre_px).abs_()
        return torch.maximum(self.hi[scale][sl] - centre_px, centre_px - self.lo[scale][sl]).div_(scale)
