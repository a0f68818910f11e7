"""Disocclusion fill for RGB-D rendering: what a blurred foreground may uncover behind it.

An RGB-D image records only the front-most surface. When a layer in front is defocused, its
blurred edge lets the light of the layers behind it through, including from parts of them that the
camera never saw. :func:`fill_hidden` extends each soft depth layer behind the layers in front of it
with its local mean colour, as far as the front layer's blur can reveal; :class:`CocExtremes` gives
that distance (the CoC difference) per block at every reduced resolution.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["box_sums", "fill_cell_px", "fill_hidden", "local_fill", "upsample_cell_tiles", "CocExtremes"]


def box_sums(x: torch.Tensor, max_radius: int) -> Callable[[int], torch.Tensor]:
    """``sums(r)``: the sum of (C, H, W) ``x`` over the (2r+1)^2 window around every pixel, zero
    outside the frame, for any ``r`` in [0, ``max_radius``]; one table of cumulative sums serves
    every radius (O(1) per pixel each)."""
    p = max_radius
    h, w = x.shape[-2:]
    table = F.pad(x, (p + 1, p, p + 1, p)).cumsum(-1).cumsum(-2)

    def sums(radius: int) -> torch.Tensor:
        if not 0 <= radius <= p:
            raise ValueError(f"radius must be in [0, {p}], got {radius}")
        hi_y, lo_y = slice(p + 1 + radius, p + 1 + radius + h), slice(p - radius, p - radius + h)
        hi_x, lo_x = slice(p + 1 + radius, p + 1 + radius + w), slice(p - radius, p - radius + w)
        return table[:, hi_y, hi_x] - table[:, lo_y, hi_x] - table[:, hi_y, lo_x] + table[:, lo_y, lo_x]

    return sums


def fill_cell_px(reach: float, cells: int = 4) -> int:
    """Side (px of the layer's grid, a power of two) of the cells on which :func:`fill_hidden` computes
    its local means: about ``reach / cells``."""
    return 2 ** max(0, int(math.floor(math.log2(max(reach, 1.0) / cells))))


def fill_hidden(
    stack: torch.Tensor, reach: float, gap: torch.Tensor | None = None, cells: int = 4, support: float = 0.0
) -> torch.Tensor:
    """Extend a soft RGB-D layer behind the layers in front of it (disocclusion fill).

    ``stack`` is (6, h, w): premultiplied colour, weight, coverage at-or-behind the layer and
    coverage clearly in front of it. Hidden pixels near the layer's visible pixels receive the
    layer's local mean colour, with an alpha equal to the layer's share of the visible background
    around them, so all layers behind an occluder share its hidden area in proportion to how much of
    each is seen nearby. The local means are computed from sums over cells :func:`fill_cell_px` wide
    (about ``reach / cells`` px) and upsampled bilinearly. Returns (4, h, w).

    How far to look: the blur of a front layer with CoC ``r_f`` reveals what lies behind it, on a
    layer with CoC ``r``, only within about ``|r_f - r|`` pixels of its edge (each aperture point
    shifts the two layers by that much relative to each other). ``gap`` (h, w), in this layer's
    pixels, holds ``|r_f - r|`` for every pixel (its own CoC against the layer's): a hidden pixel
    looks for visible pixels of the layer within ``min(gap, reach)``, on radii halving from
    ``reach`` down to the grid size, and gets no fill where ``gap < 1`` px. Without ``gap``, every
    hidden pixel looks ``reach`` far. ``support`` > 0 takes the colour from the nearest visible part of
    the layer instead of the window's mean (see :func:`local_fill`). On a receding surface (depth changing
    slowly across the frame) the gaps are small, so the fill stays out of the way; at a depth jump it
    reaches as far as the jump's blur difference.

    This is the whole-array form; :meth:`~refocus_bench.simulators.render.soft_layers.SoftLayers.filled`
    computes the same tile by tile where the layer is present.
    """
    h, w = stack.shape[-2:]
    down = fill_cell_px(reach, cells)
    # cell sums (not means: a cell cut by the frame edge then weighs what it holds)
    small = F.avg_pool2d(stack[None, :5], down, ceil_mode=True, divisor_override=1)[0] if down > 1 else stack[:5]
    g = None
    if gap is not None:  # the largest gap within each cell (the hidden pixels' side of a cell on an edge)
        g = F.max_pool2d(gap[None, None], down, ceil_mode=True)[0] if down > 1 else gap[None]
    fill = local_fill(small, reach, down, g, support)
    if down > 1:
        fill = F.interpolate(fill[:, None], scale_factor=down, mode="bilinear", align_corners=False)[
            :, 0, :h, :w
        ]  # channels as images (faster on CPU)
    return torch.addcmul(stack[:4], stack[5:6], fill)  # colour and weight, each extended by its fill


def local_fill(
    small: torch.Tensor, reach: float, down: int, gap: torch.Tensor | None, support: float = 0.0
) -> torch.Tensor:
    """The fill of :func:`fill_hidden` on its grid of cells, before upsampling.

    Args:
        small: (5, hc, wc) cell sums of premultiplied colour (3), weight and coverage at or behind
            the layer (only their ratios matter).
        reach: how far to look, in px of the layer's grid; ``down``: cell side in those px.
        gap: (1, hc, wc) largest CoC gap per cell in px of the layer's grid, or None (look ``reach`` far).
        support: 0: the fill colour is the layer's mean over the window the gap selects. > 0: the mean over
            the smallest window (1, 2, 4, ... cells around the cell) in which the layer's visible weight
            covers at least this fraction of the window: the colour of the nearest visible part, which
            continues the texture next to an occlusion edge better. The alpha (share) is unchanged.

    Returns:
        (4, hc, wc): fill colour (premultiplied by its alpha) and alpha, to be applied to the hidden
        coverage.
    """
    tiny = 1e-6
    r = max(1, int(math.ceil(reach / down)))
    box = box_sums(small, r)

    def fill_at(radius: int) -> torch.Tensor:
        sums = box(radius)
        s_color, s_wgt, s_behind = sums[:3], sums[3:4], sums[4:5]
        share = torch.where(s_behind > tiny, s_wgt / s_behind.clamp(min=tiny), torch.zeros_like(s_wgt)).clamp(0.0, 1.0)
        colour = s_color / s_wgt.clamp(min=tiny)
        if support > 0:  # the nearest windows with enough of the layer visible, smallest first
            found = torch.zeros_like(s_wgt, dtype=torch.bool)
            near = 1
            while near < radius:
                sums = box(near)
                ok = (sums[3:4] >= support * ((2 * near + 1) * down) ** 2) & ~found
                colour = torch.where(ok, sums[:3] / sums[3:4].clamp(min=tiny), colour)
                found |= ok
                near *= 2
        return torch.cat([colour * share, share])

    if gap is None:
        return fill_at(r)
    fill = torch.zeros((4,) + small.shape[-2:], dtype=small.dtype, device=small.device)
    upper = math.inf
    while True:  # radii r, r/2, ... (cells), each for the gaps it covers
        lower = (r - 1) * down if r > 1 else 1.0
        sel = (gap >= lower) & (gap < upper)
        if bool(sel.any()):
            fill = torch.where(sel, fill_at(r), fill)
        if r == 1:
            return fill
        upper, r = lower, max(1, r // 2)


def upsample_cell_tiles(
    fill: torch.Tensor, tiles_y: torch.Tensor, tiles_x: torch.Tensor, cells: int, down: int
) -> torch.Tensor:
    """Bilinear ``down``-fold upsampling of a cell grid, computed only for some tiles of the output.

    ``fill`` is (C, ty * cells + 2, tx * cells + 2): a grid of ``ty`` x ``tx`` tiles of ``cells`` x
    ``cells`` cells, with a border of one cell all round (replicated from the edge, so that it stands
    for the clamping of a whole-grid upsampling). Returns (N, C, cells * down, cells * down): for each
    tile (``tiles_y[k]``, ``tiles_x[k]``) the values that ``F.interpolate(..., scale_factor=down,
    mode="bilinear", align_corners=False)`` of the grid without its border gives on that tile. Bilinear
    weights reach one cell beyond the tile, which the windows include; each window is upsampled as
    ``A @ window @ A.T`` with the (cells * down, cells + 2) linear-interpolation matrix ``A`` (many
    small ``F.interpolate`` calls cost ~20x more on a CPU).
    """
    c = fill.shape[0]
    win = cells + 2
    sc, sy, sx = fill.stride()
    windows = fill.as_strided(
        ((fill.shape[1] - 2) // cells, (fill.shape[2] - 2) // cells, c, win, win), (cells * sy, cells * sx, sc, sy, sx)
    )
    patches = windows[tiles_y, tiles_x]  # (N, C, win, win)
    if down == 1:
        return patches[:, :, 1:-1, 1:-1]
    a = _interpolation_matrix(cells, down, fill.dtype, fill.device)
    return a @ patches @ a.T


def _interpolation_matrix(cells: int, down: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(cells * down, cells + 2): linear upsampling (align_corners=False) of cells + 2 samples, the
    outer two dropped from the output."""
    eye = torch.eye(cells + 2, dtype=torch.float64)
    rows = F.interpolate(eye[None], scale_factor=down, mode="linear", align_corners=False)[0]  # (n, n * down)
    return rows[:, down : down + cells * down].T.to(dtype=dtype, device=device)


class CocExtremes:
    """Minimum and maximum of a signed CoC map (px) over aligned blocks of 2, 4, ... pixels.

    Args:
        coc_px: (H, W) signed CoC in pixels.
        max_scale: the largest block size built up front (a power of two); larger ones are built on
            first use. Blocks of a size that does not divide H or W are cut at the frame edge.
    """

    def __init__(self, coc_px: torch.Tensor, max_scale: int) -> None:
        self.hi, self.lo = {1: coc_px}, {1: coc_px}
        self._level(max_scale)

    def _level(self, scale: int) -> None:
        s = 1
        while s < scale:
            if 2 * s not in self.hi:
                self.hi[2 * s] = F.max_pool2d(self.hi[s][None, None], 2, ceil_mode=True)[0, 0]
                self.lo[2 * s] = -F.max_pool2d(-self.lo[s][None, None], 2, ceil_mode=True)[0, 0]
            s *= 2

    def gap_px(
        self, centre_px: float, scale: int, box: tuple[int, int, int, int], unit: int | None = None
    ) -> torch.Tensor:
        """Largest ``|CoC - centre_px|`` over each ``scale`` x ``scale`` block of ``box`` (y0, y1, x0, x1;
        the start aligned to ``scale``, an end not aligned takes the partial block), in px of a grid
        ``unit`` times coarser than the full resolution (default ``scale``): (ceil((y1 - y0) / scale),
        ceil((x1 - x0) / scale))."""
        self._level(scale)
        unit = scale if unit is None else unit
        sl = (slice(box[0] // scale, -(-box[1] // scale)), slice(box[2] // scale, -(-box[3] // scale)))
        if scale == 1:
            gap = (self.hi[1][sl] - centre_px).abs_()
        else:
            gap = torch.maximum(self.hi[scale][sl] - centre_px, centre_px - self.lo[scale][sl])
        return gap.div_(unit) if unit != 1 else gap
