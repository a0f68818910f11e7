"""Ground truth of the generated benchmarks: the renderer's exact mode where it has converged, else the
exact shift-and-add reference; and the convergence check.

:func:`render_truth` renders a layered scene with the layered renderer's exact mode
(:data:`~refocus_bench.simulators.render.config.LAYERED_EXACT`: full resolution, the aperture split into 6x6
footprint cells, float32, on a frame mirrored the way the reference mirrors it) and checks it against the same
render with 4x4 cells. Where the two agree to :data:`CELL_CHECK_DB` or better, the cell integration has
converged and the exact mode is the target; elsewhere (and for apertures the cells do not support, the cat's
eye) the target is the shift-and-add reference. Against a 4096-point reference, the exact mode is 20-30 dB
closer than the 64-256-point reference the benchmarks used before, in less time (docs/performance.md, "Exact
mode as ground truth"). The light-field builder keeps the reference: a light field is the average of its
discrete views by definition.

:func:`render_exact` is :func:`refocus_bench.simulators.render.reference.render_reference` for one layered
scene, calling :func:`~refocus_bench.simulators.render.reference.reference_linear` with 8 aperture points per
chunk instead of 32: the same integral, but its per-chunk buffers stay small enough to be reused by
the allocator (at 248x368 with 15 layers, 32-point chunks spent as much time in page faults as in
arithmetic: 9.5 s vs 4.5 s wall for 128 points on this machine). Results differ from
``render_reference`` only by float32 summation order (~1e-7).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F
from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb

from ..simulators.render.apertures import CatsEye, make_aperture
from ..simulators.render.config import LAYERED_EXACT
from ..simulators.render.layered import render_layered
from ..simulators.render.reference import reference_linear

__all__ = ["render_exact", "render_exact_mode", "render_truth", "convergence", "CHUNK", "CELL_CHECK_DB"]

CHUNK = 8

CELL_CHECK_DB = 60.0
"""Least PSNR (dB, sRGB) between the exact mode's 6x6-cell and 4x4-cell renders for :func:`render_truth` to take
the exact mode (on the synthetic benchmarks' scenes the two agree to 74 dB or better where cells matter at all)."""


def render_exact(
    layers: torch.Tensor, coc_px: torch.Tensor, aperture: str, samples: int, seed: int = 0
) -> torch.Tensor:
    """Exact (converging) thin-lens render of a layered scene.

    Args:
        layers: (L, 4, H, W) straight sRGB colour + alpha in [0, 1], any order.
        coc_px: (L,) signed CoC radius per layer (px), positive behind the focus plane.
        aperture: aperture registry name.
        samples: Sobol aperture points.

    Returns:
        (1, 3, H, W) sRGB in [0, 1], float32.
    """
    order = torch.argsort(coc_px.detach(), stable=True)  # near -> far
    lin = rgb_to_linear_rgb(layers[order, :3])
    alpha = layers[order, 3:4]
    out = reference_linear(
        lin * alpha, alpha, coc_px[order].to(layers.dtype), make_aperture(aperture), samples, seed, CHUNK
    )
    return linear_rgb_to_rgb(out.clamp(0.0, 1.0))[None]


def render_exact_mode(layers: torch.Tensor, coc_px: torch.Tensor, aperture: str, splits: int = 6) -> torch.Tensor:
    """The layered renderer's exact mode (``LAYERED_EXACT`` with ``splits`` x ``splits`` footprint cells), float32.

    Args:
        layers: (L, 4, H, W) straight sRGB colour + alpha in [0, 1], any order.
        coc_px: (L,) signed CoC radius per layer (px), positive behind the focus plane.
        aperture: aperture registry name (not the cat's eye, whose kernel varies over the frame).
        splits: footprint cells per side: 4, 6 or 8.

    Returns:
        (1, 3, H, W) sRGB in [0, 1], float32.
    """
    config = replace(LAYERED_EXACT, aperture_splits=splits)
    h, w = layers.shape[-2:]
    pad = math.ceil(float(coc_px.abs().max())) + 2 if coc_px.numel() else 0
    rows, cols = _symmetric_indices(h, pad), _symmetric_indices(w, pad)
    framed = layers.float()[:, :, rows][:, :, :, cols]
    with torch.no_grad():
        out = render_layered(framed[None], coc_px=coc_px[None].float(), aperture=aperture, config=config)
    return out[..., pad : pad + h, pad : pad + w].float().contiguous()


def _symmetric_indices(n: int, pad: int) -> torch.Tensor:
    """Indices of ``n`` samples extended by ``pad`` on each side by mirroring about the outer pixel edges (the
    edge pixel repeated, period ``2 n``): the border rule of the shift-and-add reference (``grid_sample``
    reflection without corner alignment). The exact mode renders this frame and keeps its middle, so its own
    reflect borders play no part."""
    i = torch.remainder(torch.arange(-pad, n + pad), 2 * n)
    return torch.where(i < n, i, 2 * n - 1 - i)


def render_truth(
    layers: torch.Tensor, coc_px: torch.Tensor, aperture: str, samples: int
) -> tuple[torch.Tensor, dict[str, object]]:
    """The target image of a layered scene and how it was made (see the module docstring).

    Args:
        layers, coc_px, aperture: as in :func:`render_exact`.
        samples: Sobol aperture points of the reference, where it is used.

    Returns:
        ((1, 3, H, W) sRGB in [0, 1] float32, record): record ``{"method": "exact-mode", "cell_check_db": x}``
        or ``{"method": "reference", "aperture_samples": n[, "cell_check_db": x]}`` for the sample's metadata.
    """
    if isinstance(make_aperture(aperture), CatsEye):
        return render_exact(layers, coc_px, aperture, samples), {"method": "reference", "aperture_samples": samples}
    image = render_exact_mode(layers, coc_px, aperture)
    check_db = _psnr_db((image.double() - render_exact_mode(layers, coc_px, aperture, 4).double()) ** 2)
    if check_db >= CELL_CHECK_DB:
        return image, {"method": "exact-mode", "cell_check_db": check_db}
    record = {"method": "reference", "aperture_samples": samples, "cell_check_db": check_db}
    return render_exact(layers, coc_px, aperture, samples), record


def _psnr_db(squared_error: torch.Tensor) -> float:
    """PSNR (dB, peak 1) of a mean squared error, rounded to 0.01 dB (capped at 200 dB for equal images)."""
    return round(float(10 * np.log10(1.0 / max(float(squared_error.mean()), 1e-20))), 2)


def convergence(image: torch.Tensor, twice: torch.Tensor, tile: int = 16) -> dict[str, float]:
    """PSNR (dB, sRGB) of a target against an independent render (the reference with twice the aperture
    points): whole image and the worst ``tile`` x ``tile`` tile (where point-light discs and occlusion edges
    converge last)."""
    err = (image.double() - twice.double()) ** 2
    tiles = F.avg_pool2d(err.mean(1, keepdim=True), tile, ceil_mode=True)
    return {"psnr_db": _psnr_db(err), f"worst_tile{tile}_psnr_db": _psnr_db(tiles.max())}
