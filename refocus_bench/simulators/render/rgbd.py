"""Defocus blur (bokeh) of an RGB-D image: the visible surface and its depth, occlusion-aware.

The image is converted to linear light with kornia's exact sRGB transfer function
(:mod:`~refocus_bench.simulators.render.colour`), split into soft depth layers by CoC
(:class:`~refocus_bench.simulators.render.soft_layers.SoftLayers`: each pixel is shared linearly between the
two nearest layer radii, so radii are never rounded), blurred and composited
(:func:`~refocus_bench.simulators.render.compositing.composite_layers`), normalised by the composite
coverage (which fills disoccluded background from its visible neighbours), and encoded back to sRGB.
Large images are rendered in tiles of ``RenderConfig.tile_px`` with a halo covering every blur.
With ``RenderConfig(rgbd_planes=True)`` the image is cut into opaque planes instead
(:mod:`~refocus_bench.simulators.render.rgbd_planes`) and rendered by the layered-scene engine.

The blur is given in one of three forms (:mod:`~refocus_bench.simulators.render.blur_spec`):
``depth_m`` + ``lens`` (:class:`~refocus_bench.optics.ThinLens`), a signed ``coc_px`` map, or
``depth_m`` + ``k_px_m`` + ``focus_distance_m`` (the GenRefocus/BokehMe blur gain ``K``).

Example:
    >>> img = torch.rand(1, 3, 32, 32)
    >>> out = render_bokeh(img, coc_px=torch.zeros(1, 1, 32, 32))
    >>> bool((out - img).abs().max() < 1e-5)
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ...optics import ThinLens
from .apertures import Aperture, CatsEye, make_aperture
from .blur_spec import resolve_coc
from .colour import to_linear, to_srgb
from .compositing import Box, Occludes, composite_layers, occlusion_gap, pad_to_multiple
from .config import RenderConfig, layer_scale
from .disocclusion import CocExtremes
from .kernels import KernelCache
from .layered import render_planes_linear
from .rgbd_planes import plane_radii, rgbd_planes
from .scratch import scratch_scope
from .soft_layers import SoftLayers
from .subaperture import aperture_cells

__all__ = ["render_bokeh", "layer_centres", "FILL_SUPPORT"]

FILL_SUPPORT = 0.05
"""With ``RenderConfig(fill_nearest_colour=True)``: the fraction of a window the layer must cover for the fill to
take its colour there (windows of 1, 2, 4, ... cells, smallest first)."""


def layer_centres(cmin: float, cmax: float, config: RenderConfig) -> list[float]:
    """Layer radii (px, ascending) covering [cmin, cmax]; both ends are exact layers.

    Interior layers sit on a fixed grid through 0 with spacing ``max(min_step, rel_step * |r|)``.
    """
    if cmax - cmin < 1e-6:
        return [float(cmin)]
    grid = [0.0]
    g = 0.0
    while g < max(abs(cmin), abs(cmax)):
        g += max(config.min_layer_step_px, config.rel_layer_step * g)
        grid.extend([g, -g])
    grid.sort()
    out = [float(cmin)]
    for g in grid:
        gap = 0.25 * max(config.min_layer_step_px, config.rel_layer_step * abs(g))
        if cmin + gap < g < cmax - gap:
            out.append(g)
    out.append(float(cmax))
    return out


def _render_rgbd_tiled(
    lin: torch.Tensor, coc: torch.Tensor, aperture: Aperture, config: RenderConfig, kernels: KernelCache
) -> torch.Tensor:
    """One sample, cut into tiles of ``config.tile_px`` with a halo covering every blur and fill.

    All tiles share the image's layer radii and an origin aligned to the coarsest pooling grid;
    peak memory follows the tile size, not the image size. Results match an untiled render up to
    the placement of the coarse grid of the disocclusion fill (mean absolute difference ~3e-4); with
    ``rgbd_planes`` up to the tolerance of the planes' fill (2e-4 at most).
    """
    h, w = coc.shape
    centres = layer_centres(float(coc.min()), float(coc.max()), config)
    render_one = _render_rgbd_one
    if config.rgbd_planes:  # one set of plane radii for every tile
        centres = plane_radii(coc, centres)
        render_one = _render_rgbd_planes
    tile = config.tile_px
    if isinstance(aperture, CatsEye) or (h <= tile and w <= tile):
        return render_one(lin, coc, aperture, config, kernels, centres)
    max_scale = max(layer_scale(c, config.coarse_radius_px) for c in centres)
    spread = centres[-1] - centres[0]
    halo = int(math.ceil(max(abs(centres[0]), abs(centres[-1])) + 2 * spread)) + 4 * max_scale + 8
    out = torch.empty_like(lin)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(h, y0 + tile), min(w, x0 + tile)
            iy0, ix0 = max(0, y0 - halo) // max_scale * max_scale, max(0, x0 - halo) // max_scale * max_scale
            iy1, ix1 = min(h, y1 + halo), min(w, x1 + halo)
            part = render_one(lin[:, iy0:iy1, ix0:ix1], coc[iy0:iy1, ix0:ix1], aperture, config, kernels, centres)
            out[:, y0:y1, x0:x1] = part[:, y0 - iy0 : y1 - iy0, x0 - ix0 : x1 - ix0]
    return out


def _soft_layers(lin: torch.Tensor, coc: torch.Tensor, centres: list[float]) -> SoftLayers:
    """Split linear (3, H, W) by signed CoC (H, W) into soft layers at the radii ``centres``: each pixel
    is shared linearly between the two layers whose radii bracket its CoC."""
    n = len(centres)
    if n == 1:
        idx = torch.zeros_like(coc, dtype=torch.int32)
        frac = torch.zeros_like(coc)
    else:
        c_t = torch.tensor(centres, dtype=coc.dtype, device=coc.device)
        idx = (torch.bucketize(coc.detach().contiguous(), c_t, right=True, out_int32=True) - 1).clamp(0, n - 2)
        lo, hi = c_t[idx.long()], c_t[idx.long() + 1]
        frac = ((coc - lo) / (hi - lo)).clamp(0.0, 1.0)
    return SoftLayers(lin, idx, frac, n)


def _disocclusion_reach(
    centres: list[float], config: RenderConfig, occluders: list[int] | None
) -> tuple[list[float], list[bool]]:
    """How far (px) the blur of layers clearly in front can reveal each layer, and whether it is filled."""
    n = len(centres)
    last = occluders if occluders is not None else [i - 2 for i in range(n)]
    reach = [max((abs(centres[j] - centres[i]) for j in range(last[i] + 1)), default=0.0) for i in range(n)]
    return reach, [config.fill_disocclusions and r >= 1.0 for r in reach]


def _last_occluders(centres: list[float], occludes: Occludes | None) -> list[int] | None:
    """For every layer, the last layer in front of it that occludes it (-1: none); None for the default rule."""
    if occludes is None:
        return None
    return [max((j for j in range(i) if occludes(centres[j], centres[i])), default=-1) for i in range(len(centres))]


def _layer_maker(
    layers: SoftLayers,
    layer: int,
    centre: float,
    reach: float,
    fill: bool,
    extremes: CocExtremes,
    n_alpha: int,
) -> Callable[[int, Box], torch.Tensor]:
    """``make(scale, box)`` of soft layer ``layer`` for :func:`composite_layers` (filled behind the
    layers in front of it when ``fill``; coverage repeated per colour channel when ``n_alpha`` is 3)."""

    def build(scale: int, box: Box) -> torch.Tensor:
        if fill:
            stack = layers.filled(layer, scale, box, reach / scale, extremes, centre)
        else:
            stack = layers.stack(layer, scale, box, coverage=False)
        return stack if n_alpha == 1 else torch.cat([stack[:3]] + [stack[3:4]] * n_alpha)

    return build


def _occludes(config: RenderConfig) -> Occludes | None:
    """Which layer occludes which: every farther one (None), or only those past the configured gap."""
    if config.occlusion_gap_px > 0 or config.occlusion_gap_rel > 0:
        return occlusion_gap(config.occlusion_gap_px, config.occlusion_gap_rel)
    return None


def _render_rgbd_one(
    lin: torch.Tensor,
    coc: torch.Tensor,
    aperture: Aperture,
    config: RenderConfig,
    kernels: KernelCache,
    centres: list[float],
) -> torch.Tensor:
    """One sample (or tile): linear (3, H, W) + signed CoC (H, W) -> linear (3, H, W)."""
    h, w = coc.shape
    n = len(centres)
    n_alpha = 3 if config.chromatic_scale is not None else 1
    max_scale = max(layer_scale(c, config.coarse_radius_px) for c in centres)
    lin_p, coc_p = pad_to_multiple(lin, max_scale), pad_to_multiple(coc[None], max_scale)[0]
    layers = _soft_layers(lin_p, coc_p, centres)
    occludes = _occludes(config)
    layers.occluders = _last_occluders(centres, occludes)
    layers.fill_support = FILL_SUPPORT if config.fill_nearest_colour else 0.0
    boxes = layers.boxes()
    reach, fill = _disocclusion_reach(centres, config, layers.occluders)
    extremes = CocExtremes(coc_p.detach(), max_scale)
    makers = [_layer_maker(layers, i, centres[i], reach[i], fill[i], extremes, n_alpha) for i in range(n)]
    margins = [int(math.ceil(2 * r)) if f else 0 for r, f in zip(reach, fill)]
    varying_psf = isinstance(aperture, CatsEye) and config.cats_eye_zones > 1
    color = cover = None
    # sub-apertures: sum colour and coverage over cells before normalising, so that a uniform depth
    # stays exactly one convolution with the whole kernel
    for cell in aperture_cells(aperture, config.splits_for(aperture, layered=False)):
        c, v = composite_layers(
            makers,
            centres,
            boxes,
            aperture,
            tuple(coc_p.shape),
            config,
            kernels,
            cell=cell,
            alpha_channels=n_alpha,
            margins=margins,
            requires_grad=lin.requires_grad or coc.requires_grad,
            psf_normalizer=varying_psf,
            occludes=occludes,
        )
        if cell.weight != 1.0:
            c, v = c * cell.weight, v * cell.weight
        color, cover = (c, v) if color is None else (color + c, cover + v)
    if varying_psf:  # coverage measured against the local sum of the PSFs (see composite_layers)
        color, cover = color[:3], color[3:]
    out = color / cover.clamp(min=1e-8)
    return out[:, :h, :w]


def _render_rgbd_planes(
    lin: torch.Tensor,
    coc: torch.Tensor,
    aperture: Aperture,
    config: RenderConfig,
    kernels: KernelCache,
    radii: list[float],
) -> torch.Tensor:
    """One sample (or tile) as opaque planes (``config.rgbd_planes``): linear (3, H, W) + CoC (H, W) -> linear."""
    occludes = _occludes(config)
    planes = rgbd_planes(lin, coc, radii, config, occludes)
    n_alpha = 3 if config.chromatic_scale is not None else 1
    return render_planes_linear(planes, radii, aperture, config, kernels, n_alpha, lin.requires_grad, occludes)


def render_bokeh(
    image: torch.Tensor,
    depth_m: torch.Tensor | None = None,
    lens: ThinLens | None = None,
    *,
    coc_px: torch.Tensor | None = None,
    k_px_m: float | torch.Tensor | None = None,
    focus_distance_m: float | torch.Tensor | None = None,
    aperture: str | Aperture | torch.Tensor = "disk",
    config: RenderConfig | None = None,
    kernels: KernelCache | None = None,
) -> torch.Tensor:
    """Render defocus blur for an RGB-D image (visible surface only), occlusion-aware.

    Args:
        image: sRGB in [0, 1], float32/float64, shape (B, 3, H, W).
        depth_m: metres, (B, 1, H, W), > 0, ``inf`` allowed (sky); with ``lens`` or ``k_px_m``.
        lens: :class:`ThinLens` (per-sample parameters as (B,) tensors); its sensor width spans W.
        coc_px: signed CoC radius in pixels, (B, 1, H, W), instead of depth.
        k_px_m: GenRefocus/BokehMe blur gain in pixel-metres (scalar or (B,)), with depth_m and
            ``focus_distance_m`` (metres, scalar or (B,)).
        aperture: a registered name ("disk", "hexagon", "heart", ...), an :class:`Aperture`, a mask.
        config: :class:`RenderConfig` (layer spacing, multi-resolution, backend, highlights,
            chromatic aberration).
        kernels: the :class:`~refocus_bench.simulators.render.kernels.KernelCache` to take kernels
            from and keep them in (default: a new one for this call).

    Returns:
        sRGB in [0, 1], same shape, dtype and device as ``image``; differentiable w.r.t. ``image``.
    """
    ap = make_aperture(aperture)
    config = (config or RenderConfig()).for_input(layered=False, aperture=ap)
    coc = resolve_coc(image, depth_m, lens, coc_px=coc_px, k_px_m=k_px_m, focus_distance_m=focus_distance_m)
    kernels = kernels if kernels is not None else KernelCache()
    lin = to_linear(image, config)
    with scratch_scope():
        if image.shape[0] == 1:
            out = _render_rgbd_tiled(lin[0], coc[0, 0], ap, config, kernels)[None]
        else:
            out = torch.stack(
                [_render_rgbd_tiled(lin[i], coc[i, 0], ap, config, kernels) for i in range(image.shape[0])]
            )
    del lin
    return to_srgb(out)
