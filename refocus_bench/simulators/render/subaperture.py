"""Sub-aperture splitting: trading speed for exact occlusion in the layered renderer.

Blurring each layer with the whole aperture and compositing with blurred alpha (``over``) is exact when
only one layer is out of focus, but not where two defocused layers overlap: each point of the aperture
sees its own occlusion order, which one blurred alpha averages away. The exact image is the mean, over
aperture points ``u``, of the scene composited with every layer shifted by ``u * coc``. Partition the
aperture (unit coordinates ``u = (x, y) / radius``, signed: a layer in front of the focus plane sees
the aperture rotated 180 deg) into an ``n x n`` grid of cells ``R_k`` of area fraction ``w_k``. Then

    image = sum_k w_k * mean_{u in R_k} composite(u)  ~=  sum_k w_k * composite with kernels K_k / w_k

where ``K_k`` is the aperture kernel restricted to ``R_k``. Each cell sees a narrower spread of
occlusion orders, so the error falls as ``n`` grows and vanishes in the limit; ``n = 1`` is the plain
renderer. Because ``sum_k K_k = K`` exactly, a uniform-depth image is still one convolution with ``K``
(energy is conserved to rounding). The cost is ``n^2`` renders.

The renderer uses ``n <= 2``. Cells are assigned by pixel centre, which is exact for ``n = 2`` at every
radius (a cell edge runs through the kernel centre, so a zero-radius kernel splits into four equal
quarters) but not for ``n = 3``: at radii of a pixel or less the centre cell takes the whole kernel and
the others none, and a 96 px dead-leaves test got worse (44.8 dB) than with ``n = 2`` (53.1 dB). Finer
grids need cells integrated over each pixel's footprint: :func:`footprint_cells` does that for the opt-in exact
mode (``RenderConfig(aperture_splits=n)`` with ``n >= 4``). There each cell's share of a kernel pixel is the
share of the aperture points of the cell among all aperture points that land on that pixel, the points being
a fine grid over the pupil placed at ``u * coc`` and spread over pixels bilinearly (the reference's pixel
model, :mod:`~refocus_bench.simulators.render.reference`). At a zero radius every cell is then the whole
(one-pixel) kernel, and the cells still sum to the whole kernel exactly.

Measured (256 px dead-leaves scene, 25 planes, CoC -14..+10 px, 2048-sample reference, linear PSNR):
whole image 39.6 dB / occlusion band 36.5 dB with ``n = 1``, 45.6 / 42.8 dB with ``n = 2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch

from .apertures import Aperture, signed_kernel

__all__ = [
    "cell_mask",
    "cell_weights",
    "ApertureCell",
    "WHOLE_APERTURE",
    "aperture_cells",
    "footprint_share",
    "footprint_cells",
    "SHARE_MIN",
]

_WEIGHT_RADIUS_PX = 96.0  # radius of the kernel used to measure cell area fractions


def _step(t: torch.Tensor) -> torch.Tensor:
    """1 above zero, 1/2 at zero, 0 below: cells that share an edge split the samples on it equally."""
    return (t > 0).to(t.dtype) + 0.5 * (t == 0).to(t.dtype)


def cell_mask(size: int, coc_px: float, n: int, i: int, j: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(size, size) weights in [0, 1] selecting cell (row ``i``, column ``j``) of an ``n x n`` aperture grid.

    Pixel offsets ``d`` from the kernel centre map to aperture coordinates ``u = d / coc_px`` (signed, so
    the grid turns with the kernel for layers in front of focus). For ``coc_px = 0`` every pixel is at
    ``u = 0``. Masks of all cells sum to 1 at every pixel.
    """
    d = torch.arange(size, dtype=torch.float64) - size // 2
    # position in cell units, v = n (u + 1) / 2, cells [q, q + 1); rounded so that offsets +d and -d
    # land symmetrically on a cell edge
    v = torch.round(d * (n / (2.0 * coc_px)) * 1e9) / 1e9 + n / 2.0 if coc_px != 0 else torch.full_like(d, n / 2.0)
    edges = [-float("inf")] + list(range(1, n)) + [float("inf")]
    my = (_step(v - edges[i]) * _step(edges[i + 1] - v)).to(dtype)
    mx = (_step(v - edges[j]) * _step(edges[j + 1] - v)).to(dtype)
    return my[:, None] * mx[None, :]


@lru_cache(maxsize=64)
def cell_weights(aperture: Aperture, n: int) -> tuple[float, ...]:
    """Area fractions ``w_k`` (row-major, summing to 1) of the ``n x n`` cells of ``aperture``."""
    k = signed_kernel(aperture, _WEIGHT_RADIUS_PX, dtype=torch.float64)
    ws = [float((k * cell_mask(k.shape[-1], _WEIGHT_RADIUS_PX, n, i, j)).sum()) for i in range(n) for j in range(n)]
    total = sum(ws)
    return tuple(w / total for w in ws)


@dataclass(frozen=True)
class ApertureCell:
    """Cell (row ``i``, column ``j``) of an ``n x n`` grid over the aperture, of area fraction ``weight``.

    ``ApertureCell()`` (``n = 1``) is the whole aperture.
    """

    n: int = 1
    i: int = 0
    j: int = 0
    weight: float = 1.0
    footprint: bool = False

    def kernel(self, aperture: Aperture, coc_px: float) -> torch.Tensor:
        """The cell's kernel at signed radius ``coc_px``: (K, K) float64 on the CPU.

        The whole aperture's kernel restricted to the cell and divided by ``weight``, so that
        ``sum_k w_k * cell_k.kernel(...)`` is the whole kernel exactly; for ``n = 1`` the whole kernel.
        """
        ker = signed_kernel(aperture, coc_px, dtype=torch.float64)
        if self.n == 1:
            return ker
        if self.footprint:
            share = footprint_share(aperture, coc_px, self.n, ker.shape[-1])[self.i * self.n + self.j]
            return ker * share / self.weight
        return ker * cell_mask(ker.shape[-1], coc_px, self.n, self.i, self.j, ker.dtype).to(ker.device) / self.weight


WHOLE_APERTURE = ApertureCell()
"""The aperture as one cell (no splitting)."""


def aperture_cells(aperture: Aperture, n: int) -> list[ApertureCell]:
    """The cells of an ``n x n`` split of ``aperture`` with ``w_k > 0``; ``[WHOLE_APERTURE]`` for ``n = 1``.

    ``n <= 3``: cells assigned by pixel centre (:func:`cell_mask`); ``n >= 4``: :func:`footprint_cells`.
    """
    if n == 1:
        return [WHOLE_APERTURE]
    if n >= 4:
        return list(footprint_cells(aperture, n))
    return [ApertureCell(n, *divmod(k, n), weight=w) for k, w in enumerate(cell_weights(aperture, n)) if w > 1e-12]


SHARE_MIN = 1e-6
"""Share of a kernel pixel below which a footprint cell gets none of it (the pixel's other cells take it up).
Without it every cell kernel would reach over the whole kernel with shares of 1e-11 or so (the regularised
division in :func:`footprint_share`); with it a cell's kernel covers about its own part of the aperture (4 x 4
pixels of a 17 x 17 kernel at 6 x 6 cells), which is what lets :mod:`~refocus_bench.simulators.render.exact_cells`
convolve every cell with a small window."""


def _splat_cells(aperture: Aperture, coc_px: float, n: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n * n, size, size) aperture mass of each cell landing on each pixel, and the (n * n,) mass of each cell.

    The pupil is sampled on an ``m x m`` grid (``m`` a multiple of ``n``, point spacing <= 1/8 px in the
    image); the point at unit coordinates ``u`` lands at offset ``u * coc_px`` from the kernel centre and is
    spread over the four nearest pixels bilinearly.
    """
    m = n * max(1, math.ceil(max(64.0, 8.0 * abs(coc_px)) / n))
    u = (torch.arange(m, dtype=torch.float64) + 0.5) * (2.0 / m) - 1.0
    vv, uu = torch.meshgrid(u, u, indexing="ij")
    t = aperture.transmittance(uu, vv).to(torch.float64)
    cell = (torch.arange(m) * n // m)[:, None] * n + (torch.arange(m) * n // m)[None, :]
    c = size // 2
    y, x = vv * coc_px + c, uu * coc_px + c
    y0, x0 = torch.floor(y), torch.floor(x)
    fy, fx = y - y0, x - x0
    out = torch.zeros(n * n, size * size, dtype=torch.float64)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            yi, xi = (y0 + dy).long().clamp(0, size - 1), (x0 + dx).long().clamp(0, size - 1)
            out.index_put_((cell.flatten(), (yi * size + xi).flatten()), (t * wy * wx).flatten(), accumulate=True)
    mass = torch.zeros(n * n, dtype=torch.float64).index_add_(0, cell.flatten(), t.flatten())
    return out.reshape(n * n, size, size), mass


@lru_cache(maxsize=128)  # every cell asks for the same radius: compute it once (~0.3 MB at 14 px, n = 6)
def footprint_share(aperture: Aperture, coc_px: float, n: int, size: int) -> torch.Tensor:
    """(n * n, size, size) share in [0, 1] of each cell of an ``n x n`` grid in each pixel of a kernel.

    The share of cell ``k`` at a pixel is the fraction of the aperture points landing there (see
    :func:`_splat_cells`) that lie in ``R_k``; where none land (the faint outer ring of the footprint-integrated
    kernel), the whole share goes to the cell nearest to the pixel's aperture position. Cells
    that the coarsest grid finds empty (:func:`footprint_cells` leaves them out) get no share, nor do shares
    below :data:`SHARE_MIN` (renormalised). Shares sum to 1 at every pixel, so ``sum_k share_k * K`` is the
    whole kernel ``K`` exactly.
    """
    spread, mass = _splat_cells(aperture, float(coc_px), n, size)
    active = torch.zeros_like(mass)  # the cells of footprint_cells
    active[[c.i * n + c.j for c in footprint_cells(aperture, n)]] = 1.0
    spread, mass = spread * active[:, None, None], mass * active
    total = spread.sum(0, keepdim=True)
    share = spread / total.clamp(min=1e-300)
    lonely = total[0] == 0  # no aperture point lands here (the kernel's faint outer ring)
    if bool(lonely.any()):
        share = torch.where(lonely, _nearest_cell(active, float(coc_px), n, size), share)
    share = torch.where(share > SHARE_MIN, share, torch.zeros_like(share))  # each cell's kernel stays compact
    return share / share.sum(0, keepdim=True)


def _nearest_cell(active: torch.Tensor, coc_px: float, n: int, size: int) -> torch.Tensor:
    """(n * n, size, size) one-hot: for each kernel pixel, the active cell whose centre lies nearest to the pixel's
    aperture position ``u = offset / coc_px``."""
    d = (torch.arange(size, dtype=torch.float64) - size // 2) / coc_px
    centres = (torch.arange(n, dtype=torch.float64) + 0.5) * (2.0 / n) - 1.0
    cy, cx = centres.repeat_interleave(n), centres.repeat(n)  # row-major cell k = i * n + j
    dist = (d[None, :, None] - cy[:, None, None]) ** 2 + (d[None, None, :] - cx[:, None, None]) ** 2
    dist = torch.where(active[:, None, None] > 0, dist, torch.full_like(dist, math.inf))
    return torch.zeros_like(dist).scatter_(0, dist.argmin(0, keepdim=True), 1.0)


@lru_cache(maxsize=64)
def footprint_cells(aperture: Aperture, n: int) -> tuple[ApertureCell, ...]:
    """The cells (``footprint=True``) of an ``n x n`` split of ``aperture`` with ``w_k > 0``, for ``n >= 2``.

    ``w_k`` is the cell's share of the pupil points of :func:`_splat_cells` at radii up to 8 px, so that at
    radius 0 every cell's kernel is the one-pixel kernel exactly (an in-focus plane is opaque in every cell).
    """
    _, mass = _splat_cells(aperture, 0.0, n, 1)
    ws = (mass / mass.sum()).tolist()
    return tuple(ApertureCell(n, *divmod(k, n), float(w), True) for k, w in enumerate(ws) if w > 1e-12)
