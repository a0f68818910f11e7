"""The exact mode's engine: every footprint cell of the aperture blurred and composited at once.

In the exact mode (:data:`~refocus_bench.simulators.render.config.LAYERED_EXACT`) the aperture is split into
``n x n`` footprint cells (:func:`~refocus_bench.simulators.render.subaperture.footprint_cells`) and the scene is
composited once per cell. A cell's kernel covers only its own part of the aperture: at 6 x 6 cells, a 4 x 4
pixel window of a 17 x 17 kernel (7 px radius), a 9 x 9 window of a 43 x 43 one (20 px). This module blurs a
plane with all cells in one call (one ``conv2d`` with a cell per output channel, each on its own small window,
then each output shifted into place) and composites the planes into per-cell accumulators, front to back
("over"), every cell at once. The result is the same integral as compositing cell by cell with the whole
kernel's grid (:func:`~refocus_bench.simulators.render.compositing.composite_layers`), with about
``(2 r + 3)^2 / window^2`` fewer multiply-adds (18x at 7 px) and one pass over the planes instead of ``n^2``.

Every plane is blurred at full resolution and on its own (no reduced resolution, no grouping), which is what
the exact mode asks for; :func:`~refocus_bench.simulators.render.layered.render_planes_linear` uses this engine
when its settings are those, the aperture's kernel is the same over the frame and there is no chromatic
scaling.

Example (an in-focus opaque plane composites to itself in every cell):
    >>> from refocus_bench.simulators.render.apertures import Disk
    >>> from refocus_bench.simulators.render.kernels import KernelCache
    >>> from refocus_bench.simulators.render.subaperture import footprint_cells
    >>> plane = torch.cat([torch.rand(3, 8, 8), torch.ones(1, 8, 8)])[None]
    >>> color, cover = composite_cells(plane, [0.0], Disk(), footprint_cells(Disk(), 6), KernelCache())
    >>> bool(torch.allclose(color, plane[0, :3])), bool(torch.allclose(cover, plane[0, 3:]))
    (True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .apertures import Aperture, signed_kernel
from .compositing import mask_box
from .convolution import reflect_indices
from .kernels import KernelCache
from .subaperture import ApertureCell, footprint_share

__all__ = ["CellWindows", "cell_windows", "blur_cells", "cell_blurs", "composite_cells", "MAX_ELEMENTS"]

MAX_ELEMENTS = 1 << 26
"""Most values (colour, coverage and transmittance of every cell, full frame) that one pass over the planes
keeps; more cells than fit are rendered in several passes (at 1024 x 1024: 12 cells a pass, 256 MiB in
float32)."""

PER_CELL_MIN_PX = 1 << 15
"""Crops of at least this many pixels are composited cell by cell from views of the convolution's output; smaller
ones from one stacked copy, which costs fewer calls (on the CPU: 64 strip-shaped planes at 128 x 128, 0.26 s
stacked and 0.57 s cell by cell; 17 frame-sized planes at 248 x 368, 6.8 s stacked and 5.1 s cell by cell)."""


@dataclass(frozen=True)
class CellWindows:
    """The kernels of some aperture cells at one signed radius, each cut to a window of a common size.

    Attributes:
        weight: (cells, 1, wy, wx) ``conv2d`` weights: each cell's kernel inside its window, flipped (so that
            the cross-correlation of ``conv2d`` is a true convolution).
        starts: per cell, the (row, column) at which its output starts in a ``conv2d`` output of an input
            padded by ``pad`` on every side.
        pad: half-width (px) of the whole kernel: how far a blur reaches.
    """

    weight: torch.Tensor
    starts: tuple[tuple[int, int], ...]
    pad: int

    def numel(self) -> int:
        """Values held (for :class:`~refocus_bench.simulators.render.kernels.KernelCache`'s budget)."""
        return self.weight.numel()


def cell_windows(
    aperture: Aperture, coc_px: float, cells: Sequence[ApertureCell], kernels: KernelCache, device, dtype
) -> CellWindows:
    """The kernels of footprint ``cells`` (all of one ``n x n`` grid) of ``aperture`` at signed radius ``coc_px``
    (px) as :class:`CellWindows`, kept in ``kernels``.

    Each cell's kernel is :meth:`ApertureCell.kernel <refocus_bench.simulators.render.subaperture.ApertureCell.kernel>`
    (the whole kernel times the cell's share, divided by its weight), cut to the smallest window of the common
    size that holds all its non-zero values, so no value is dropped.
    """
    key = ("cell-windows", aperture.cache_key(), float(coc_px), tuple(cells), torch.device(device), dtype)
    return kernels.cached(key, lambda: _make_windows(aperture, float(coc_px), cells, device, dtype))


def _make_windows(aperture: Aperture, coc_px: float, cells: Sequence[ApertureCell], device, dtype) -> CellWindows:
    """:func:`cell_windows` without the cache: all cells at once, float64 on the CPU, then moved and cast."""
    whole = signed_kernel(aperture, coc_px, dtype=torch.float64)
    size, n = whole.shape[-1], cells[0].n
    share = footprint_share(aperture, coc_px, n, size)[[c.i * n + c.j for c in cells]]
    weights = torch.tensor([c.weight for c in cells], dtype=torch.float64)[:, None, None]
    k = whole * share / weights  # (cells, K, K): ApertureCell.kernel of each cell
    nz = k != 0
    r0, r1 = _first_last(nz.any(2))
    c0, c1 = _first_last(nz.any(1))
    wy, wx = int((r1 - r0).max()) + 1, int((c1 - c0).max()) + 1
    ay, ax = r0.clamp(max=size - wy), c0.clamp(max=size - wx)  # window corners, kept inside the kernel
    rows = ay[:, None] + torch.arange(wy)
    cols = ax[:, None] + torch.arange(wx)
    win = k[torch.arange(len(cells))[:, None, None], rows[:, :, None], cols[:, None, :]]
    weight = win.flip(-2, -1)[:, None].to(device=device, dtype=dtype)
    starts = tuple((size - int(y) - wy, size - int(x) - wx) for y, x in zip(ay, ax))
    return CellWindows(weight, starts, size // 2)


def _first_last(mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(M,) first and last True index of each row of an (M, K) bool mask (0 and 0 for a row with none)."""
    k = mask.shape[-1]
    first = mask.to(torch.uint8).argmax(1)
    last = k - 1 - mask.flip(1).to(torch.uint8).argmax(1)
    none = ~mask.any(1)
    return torch.where(none, 0, first), torch.where(none, 0, last)


def blur_cells(x: torch.Tensor, windows: CellWindows) -> torch.Tensor:
    """(C, h, w) blurred with every cell kernel of ``windows``: (cells, C, h, w); true convolution, reflect
    borders (as :func:`~refocus_bench.simulators.render.convolution.direct_conv`)."""
    return torch.stack(cell_blurs(x, windows))


def cell_blurs(x: torch.Tensor, windows: CellWindows) -> list[torch.Tensor]:
    """:func:`blur_cells` as one (C, h, w) view per cell into a single convolution's output (no copy)."""
    c, h, w = x.shape
    n = windows.weight.shape[0]
    if windows.pad == 0:  # radius 0: every cell kernel is the one-pixel identity
        return [x * windows.weight[i, 0, 0, 0] for i in range(n)]
    p = windows.pad
    xp = x[:, reflect_indices(h, p, x.device)][:, :, reflect_indices(w, p, x.device)]
    out = F.conv2d(xp[:, None], windows.weight)  # (C, cells, h + 2p - wy + 1, w + 2p - wx + 1)
    return [out[:, i, y : y + h, x0 : x0 + w] for i, (y, x0) in enumerate(windows.starts)]


def composite_cells(
    planes: torch.Tensor,
    radii: Sequence[float],
    aperture: Aperture,
    cells: Sequence[ApertureCell],
    kernels: KernelCache,
    *,
    requires_grad: bool = False,
    max_elements: int = MAX_ELEMENTS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Blur every plane with every cell's kernel and composite them front to back, per cell; sum over cells.

    Args:
        planes: (L, 4, H, W) premultiplied linear colour and coverage of each plane.
        radii: (L,) signed CoC radius (px) of each plane, any order (negative: in front of the focus plane).
        aperture: the aperture shape (its kernel the same over the frame).
        cells: the aperture cells, their weights summing to 1.
        kernels: where the cell kernels come from.
        requires_grad: the planes require gradients (the accumulators are then updated out of place).
        max_elements: most accumulator values one pass keeps (:data:`MAX_ELEMENTS`).

    Returns:
        ``(color (3, H, W), coverage (1, H, W))``: ``sum_k w_k * over(planes blurred with cell k)``.
    """
    n_planes, _, h, w = planes.shape
    order = sorted(range(n_planes), key=lambda j: radii[j])  # near -> far
    boxes = [mask_box(planes[j, 3].detach() > 0) for j in order]
    per_pass = max(1, max_elements // (5 * h * w))
    color = cover = None
    for first in range(0, len(cells), per_pass):
        chunk = list(cells[first : first + per_pass])
        part_c, part_a = _one_pass(planes, order, boxes, radii, aperture, chunk, kernels, requires_grad)
        color = part_c if color is None else color + part_c
        cover = part_a if cover is None else cover + part_a
    return color, cover


def _one_pass(planes, order, boxes, radii, aperture, cells, kernels, requires_grad):
    """:func:`composite_cells` for one chunk of cells: the weighted sum of their composites."""
    _, _, h, w = planes.shape
    n = len(cells)
    acc = torch.zeros(n, 4, h, w, device=planes.device, dtype=planes.dtype)  # colour (3) and coverage (1)
    trans = torch.ones(n, 1, h, w, device=planes.device, dtype=planes.dtype)
    for j, box in zip(order, boxes):
        if box is None:
            continue
        win = cell_windows(aperture, float(radii[j]), cells, kernels, planes.device, planes.dtype)
        y0, y1, x0, x1 = box
        g = win.pad + 1  # reflect borders mirror from the second row in: a zero margin of pad + 1 stays zero
        y0, y1, x0, x1 = max(0, y0 - g), min(h, y1 + g), max(0, x0 - g), min(w, x1 + g)
        crop = planes[j, :, y0:y1, x0:x1]
        autograd = requires_grad and torch.is_grad_enabled()
        if not autograd and (y1 - y0) * (x1 - x0) >= PER_CELL_MIN_PX:  # large crops: in place, no copy
            for i, b in enumerate(cell_blurs(crop, win)):
                t = trans[i, :, y0:y1, x0:x1]
                acc[i, :, y0:y1, x0:x1].addcmul_(t, b)
                t.mul_(1.0 - b[3:])
            continue
        region = (slice(None), slice(None), slice(y0, y1), slice(x0, x1))
        blurred = blur_cells(crop, win)  # (cells, 4, crop h, crop w): one copy, few calls
        t = trans[region]
        if autograd:  # out of place
            acc, trans = acc.clone(), trans.clone()
            acc[region] = acc[region] + t * blurred
            trans[region] = t * (1.0 - blurred[:, 3:])
        else:
            acc[region].addcmul_(t, blurred)
            t.mul_(1.0 - blurred[:, 3:])
    weights = torch.tensor([c.weight for c in cells], device=planes.device, dtype=planes.dtype).reshape(n, 1, 1, 1)
    total = (acc * weights).sum(0)
    return total[:3], total[3:]
