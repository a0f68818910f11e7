"""Public renderer: defocus blur (bokeh) from an sRGB image and depth, a CoC map or a layered scene.

Three ways to say how much blur each pixel gets:

* ``depth_m`` + ``lens`` (:class:`~refocus_bench.optics.ThinLens`): physical units;
* ``coc_px``: a signed circle-of-confusion radius map in pixels (positive behind the focus plane);
* ``depth_m`` + ``k_px_m`` + ``focus_distance_m``: the GenRefocus/BokehMe blur gain ``K``.

The image is converted to linear light with kornia's exact sRGB transfer function, split into soft
depth layers by CoC (each pixel is shared linearly between the two nearest layer radii, so radii
are never rounded), blurred and composited by :mod:`refocus_bench.simulators.render.layered`, normalised by
the composite coverage (which fills disoccluded background from its visible neighbours), and
encoded back to sRGB. For a layered scene (RGBA planes including hidden content),
:func:`render_layered` blurs each plane at its exact radius and composites without normalisation.

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
import torch.nn.functional as F
from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb
from torch import nn

from ... import optics
from ...errors import check, check_tensor
from ...optics import ThinLens
from .apertures import Aperture, CatsEye, make_aperture, signed_kernel
from .disocclusion import CocExtremes
from .layered import RenderConfig, composite_layers, layer_scale
from .scratch import scratch_scope
from .soft_layers import SoftLayers
from .subaperture import split_kernel_fns

__all__ = [
    "render_bokeh",
    "render_layered",
    "resolve_coc",
    "layer_centres",
    "DefocusRenderer",
    "RenderConfig",
]


def _default_kernel(aperture: Aperture, coc_px: float) -> torch.Tensor:
    return signed_kernel(aperture, coc_px, dtype=torch.float64)


def resolve_coc(
    image: torch.Tensor,
    depth_m: torch.Tensor | None = None,
    lens: ThinLens | None = None,
    *,
    coc_px: torch.Tensor | None = None,
    k_px_m: float | torch.Tensor | None = None,
    focus_distance_m: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """The signed CoC map (B, 1, H, W) in pixels from exactly one of the three blur specifications."""
    sizes = check_tensor(image, "image", ["B", 3, "H", "W"], min_value=0.0, max_value=1.0)
    b, h, w = sizes["B"], sizes["H"], sizes["W"]
    modes = {
        "coc_px": coc_px is not None,
        "depth_m + lens": depth_m is not None and lens is not None,
        "depth_m + k_px_m + focus_distance_m": depth_m is not None and k_px_m is not None,
    }
    chosen = [m for m, on in modes.items() if on]
    check(
        len(chosen) == 1,
        lambda: "give exactly one blur specification: coc_px, depth_m + lens, or depth_m + k_px_m + "
        f"focus_distance_m; got {chosen or 'none'}",
    )
    if coc_px is not None:
        check(
            depth_m is None and lens is None and k_px_m is None,
            "coc_px cannot be combined with depth_m, lens or k_px_m",
        )
        check_tensor(coc_px, "coc_px", [b, 1, h, w], device=image.device)
        return coc_px.to(image.dtype)
    check_tensor(depth_m, "depth_m", [b, 1, h, w], allow_inf=True, device=image.device)
    check(
        bool((depth_m > 0).all()),
        lambda: f"depth_m must be > 0 m (inf allowed for sky), got minimum {float(depth_m.min()):g}",
    )
    if lens is not None:
        check(k_px_m is None and focus_distance_m is None, "with lens=..., do not pass k_px_m or focus_distance_m")
        check(isinstance(lens, ThinLens), lambda: f"lens must be a ThinLens, got {type(lens).__name__}")
        return lens.coc_radius_px(depth_m, image_width_px=w).to(image.dtype)
    check(focus_distance_m is not None, "k_px_m needs focus_distance_m (the focus plane depth in metres)")
    return optics.coc_radius_from_k(depth_m, k_px_m, focus_distance_m).to(image.dtype)


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


def _to_srgb(lin: torch.Tensor) -> torch.Tensor:
    """Clamp linear RGB to [0, 1] and encode it to sRGB; large tensors are converted in place."""
    if _chunked(lin):
        return _by_rows(lambda t: linear_rgb_to_rgb(t.clamp(0.0, 1.0)), lin, lin)
    return linear_rgb_to_rgb(lin.clamp(0.0, 1.0))


def _to_linear(image: torch.Tensor, config: RenderConfig) -> torch.Tensor:
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


def _pad_to_multiple(x: torch.Tensor, m: int) -> torch.Tensor:
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if ph == 0 and pw == 0:
        return x
    return F.pad(x[None], (0, pw, 0, ph), mode="replicate")[0]


def _render_rgbd_tiled(
    lin: torch.Tensor, coc: torch.Tensor, aperture: Aperture, config: RenderConfig, kernel_fn: Callable
) -> torch.Tensor:
    """One sample, cut into tiles of ``config.tile_px`` with a halo covering every blur and fill.

    All tiles share the image's layer radii and an origin aligned to the coarsest pooling grid;
    peak memory follows the tile size, not the image size. Results match an untiled render up to
    the placement of the coarse grid of the disocclusion fill (mean absolute difference ~3e-4).
    """
    h, w = coc.shape
    centres = layer_centres(float(coc.min()), float(coc.max()), config)
    tile = config.tile_px
    if isinstance(aperture, CatsEye) or (h <= tile and w <= tile):
        return _render_rgbd_one(lin, coc, aperture, config, kernel_fn, centres)
    max_scale = max(layer_scale(c, config.coarse_radius_px) for c in centres)
    spread = centres[-1] - centres[0]
    halo = int(math.ceil(max(abs(centres[0]), abs(centres[-1])) + 2 * spread)) + 4 * max_scale + 8
    out = torch.empty_like(lin)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(h, y0 + tile), min(w, x0 + tile)
            iy0, ix0 = max(0, y0 - halo) // max_scale * max_scale, max(0, x0 - halo) // max_scale * max_scale
            iy1, ix1 = min(h, y1 + halo), min(w, x1 + halo)
            part = _render_rgbd_one(
                lin[:, iy0:iy1, ix0:ix1], coc[iy0:iy1, ix0:ix1], aperture, config, kernel_fn, centres
            )
            out[:, y0:y1, x0:x1] = part[:, y0 - iy0 : y1 - iy0, x0 - ix0 : x1 - ix0]
    return out


def _render_rgbd_one(
    lin: torch.Tensor,
    coc: torch.Tensor,
    aperture: Aperture,
    config: RenderConfig,
    kernel_fn: Callable,
    centres: list[float],
) -> torch.Tensor:
    """One sample (or tile): linear (3, H, W) + signed CoC (H, W) -> linear (3, H, W)."""
    h, w = coc.shape
    n = len(centres)
    n_alpha = 3 if config.chromatic_scale is not None else 1
    max_scale = max(layer_scale(c, config.coarse_radius_px) for c in centres)
    lin_p, coc_p = _pad_to_multiple(lin, max_scale), _pad_to_multiple(coc[None], max_scale)[0]
    hp, wp = coc_p.shape
    if n == 1:
        idx = torch.zeros_like(coc_p, dtype=torch.int32)
        frac = torch.zeros_like(coc_p)
    else:
        c_t = torch.tensor(centres, dtype=coc.dtype, device=coc.device)
        idx = (torch.bucketize(coc_p.detach().contiguous(), c_t, right=True, out_int32=True) - 1).clamp(0, n - 2)
        lo, hi = c_t[idx.long()], c_t[idx.long() + 1]
        frac = ((coc_p - lo) / (hi - lo)).clamp(0.0, 1.0)
    layers = SoftLayers(lin_p, idx, frac, n)
    boxes = layers.boxes()
    # disocclusion reach of each layer: how far the blur of layers clearly in front can reveal it
    reach = [max((abs(centres[j] - centres[i]) for j in range(i - 1)), default=0.0) for i in range(n)]
    fill = [config.fill_disocclusions and r >= 1.0 for r in reach]

    extremes = CocExtremes(coc_p.detach(), max_scale)

    def make(layer: int) -> Callable[[int, tuple], torch.Tensor]:
        def build(scale: int, box: tuple[int, int, int, int]) -> torch.Tensor:
            if fill[layer]:
                stack = layers.filled(layer, scale, box, reach[layer] / scale, extremes, centres[layer])
            else:
                stack = layers.stack(layer, scale, box, coverage=False)
            return stack if n_alpha == 1 else torch.cat([stack[:3]] + [stack[3:4]] * n_alpha)

        return build

    margins = [int(math.ceil(2 * r)) if f else 0 for r, f in zip(reach, fill)]
    varying_psf = isinstance(aperture, CatsEye) and config.cats_eye_zones > 1
    color = cover = None
    # sub-apertures: sum colour and coverage over cells before normalising, so that a uniform depth
    # stays exactly one convolution with the whole kernel
    for weight, cell_fn in split_kernel_fns(aperture, config.splits_for(aperture, layered=False), kernel_fn):
        c, v = composite_layers(
            [make(i) for i in range(n)],
            centres,
            boxes,
            aperture,
            (hp, wp),
            config,
            cell_fn,
            alpha_channels=n_alpha,
            margins=margins,
            requires_grad=lin.requires_grad or coc.requires_grad,
            psf_normalizer=varying_psf,
        )
        if weight != 1.0:
            c, v = c * weight, v * weight
        color, cover = (c, v) if color is None else (color + c, cover + v)
    if varying_psf:  # coverage measured against the local sum of the PSFs (see composite_layers)
        color, cover = color[:3], color[3:]
    out = color / cover.clamp(min=1e-8)
    return out[:, :h, :w]


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
    _kernel_fn: Callable | None = None,
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

    Returns:
        sRGB in [0, 1], same shape, dtype and device as ``image``; differentiable w.r.t. ``image``.
    """
    config = config or RenderConfig()
    coc = resolve_coc(image, depth_m, lens, coc_px=coc_px, k_px_m=k_px_m, focus_distance_m=focus_distance_m)
    ap = make_aperture(aperture)
    kernel_fn = _kernel_fn or _default_kernel
    lin = _to_linear(image, config)
    with scratch_scope():
        if image.shape[0] == 1:
            out = _render_rgbd_tiled(lin[0], coc[0, 0], ap, config, kernel_fn)[None]
        else:
            out = torch.stack(
                [_render_rgbd_tiled(lin[i], coc[i, 0], ap, config, kernel_fn) for i in range(image.shape[0])]
            )
    del lin
    return _to_srgb(out)


def _near_equal_groups(radii: list[float], config: RenderConfig) -> list[list[int]]:
    """Runs of consecutive (sorted) radii that differ by at most ``config.group_tolerance``.

    Planes at (nearly) the same blur are composited sharp before blurring, which is exact for equal
    radii, where blurring each plane and compositing with blurred alpha is not.
    """
    groups: list[list[int]] = []
    for k, r in enumerate(radii):
        if groups:
            first = radii[groups[-1][0]]
            tol = max(config.group_tolerance_px, config.group_tolerance_rel * max(abs(first), abs(r)))
            if r - first <= tol and (r >= 0) == (first >= 0):
                groups[-1].append(k)
                continue
        groups.append([k])
    return groups


def _covers_every_pixel(alpha: torch.Tensor) -> bool:
    """Whether planes with coverage ``alpha`` (L, H, W) leave no pixel of the pinhole view see-through."""
    return bool(((1.0 - alpha.detach()).prod(0) <= 1e-6).all())


def render_layered(
    layers: torch.Tensor,
    depth_m: torch.Tensor | None = None,
    lens: ThinLens | None = None,
    *,
    coc_px: torch.Tensor | None = None,
    aperture: str | Aperture | torch.Tensor = "disk",
    config: RenderConfig | None = None,
    _kernel_fn: Callable | None = None,
) -> torch.Tensor:
    """Render a layered scene of fronto-parallel RGBA planes, hidden content included.

    Args:
        layers: (B, L, 4, H, W): sRGB colour (straight, not premultiplied) in channels 0-2 and
            coverage alpha in channel 3, all in [0, 1]. Layer order does not matter.
        depth_m: (B, L) plane depths in metres (> 0, ``inf`` allowed), with ``lens``; or
        coc_px: (B, L) signed CoC radii in pixels.
        aperture, config: as in :func:`render_bokeh`.

    Returns:
        sRGB (B, 3, H, W): the planes blurred at their exact radii and composited front to back
        ("over", blurred alpha) onto black where nothing covers. When the planes together cover
        every pixel of the all-in-focus view (an opaque scene), the composite is divided by its
        blurred coverage: "over" with blurred alpha lets a few per cent of nothing show through
        where thin planes overlap (the product of the ``1 - alpha`` is not ``1 - sum(alpha)``),
        which no opaque scene does (receding plane of 64 strips: 39.4 -> 43.3 dB; dead leaves
        45.5 -> 46.4 dB against the reference; two-plane scenes unchanged).
    """
    config = config or RenderConfig()
    sizes = check_tensor(layers, "layers", ["B", "L", 4, "H", "W"], min_value=0.0, max_value=1.0)
    b, n, w = sizes["B"], sizes["L"], sizes["W"]
    check((depth_m is None) != (coc_px is None), "give exactly one of depth_m (with lens) or coc_px")
    if coc_px is None:
        check(lens is not None, "depth_m needs lens=ThinLens(...)")
        check_tensor(depth_m, "depth_m", [b, n], allow_inf=True)
        check(isinstance(lens, ThinLens), lambda: f"lens must be a ThinLens, got {type(lens).__name__}")
        coc_px = lens.coc_radius_px(depth_m, image_width_px=w).to(layers.dtype)
    check_tensor(coc_px, "coc_px", [b, n])
    ap = make_aperture(aperture)
    kernel_fn = _kernel_fn or _default_kernel
    n_alpha = 3 if config.chromatic_scale is not None else 1
    with scratch_scope():
        outs = [
            _render_layered_one(layers[i], [float(r) for r in coc_px[i]], ap, config, kernel_fn, n_alpha)
            for i in range(b)
        ]
    return _to_srgb(torch.stack(outs))


def _render_layered_one(
    layers: torch.Tensor, radii: list[float], ap: Aperture, config: RenderConfig, kernel_fn: Callable, n_alpha: int
) -> torch.Tensor:
    """One sample of :func:`render_layered`: (L, 4, H, W) sRGB planes -> linear premultiplied (3, H, W)."""
    n, h, w = layers.shape[0], layers.shape[-2], layers.shape[-1]
    order = sorted(range(n), key=lambda j: radii[j])
    max_scale = max(layer_scale(radii[j], config.coarse_radius_px) for j in order)
    lin = _to_linear(layers[:, :3], config)
    alpha = layers[:, 3:4]
    stacks = _pad_to_multiple(torch.cat([lin * alpha] + [alpha] * n_alpha, dim=1).flatten(0, 1), max_scale)
    stacks = stacks.reshape(n, 3 + n_alpha, *stacks.shape[-2:])

    groups = _near_equal_groups([radii[j] for j in order], config)

    def make(members: list[int]) -> Callable[[int, tuple], torch.Tensor]:
        def build(s: int, box: tuple[int, int, int, int]) -> torch.Tensor:
            blocks, trans = [], None
            for j in members:  # sharp "over" inside the group: each part sees the ones in front
                crop = stacks[j][:, box[0] : box[1], box[2] : box[3]]
                blocks.append(crop if trans is None else crop * trans)
                t = 1.0 - crop[-1:]
                trans = t if trans is None else trans * t
            out = torch.cat(blocks)
            return F.avg_pool2d(out[None], s)[0] if s > 1 else out

        return build

    members = [[order[k] for k in g] for g in groups]
    boxes = []
    for group in members:
        cover = torch.stack([stacks[j][-1] > 0 for j in group]).any(0)
        ys, xs = torch.nonzero(cover.any(1)).flatten(), torch.nonzero(cover.any(0)).flatten()
        boxes.append((int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1) if len(ys) else (0, 0, 0, 0))
    part_radii = [[radii[j] for j in group] for group in members]
    color = cover = None
    for weight, cell_fn in split_kernel_fns(ap, config.splits_for(ap, layered=True), kernel_fn):
        part, cov = composite_layers(
            [make(g) for g in members],
            [min(p, key=abs) for p in part_radii],
            boxes,
            ap,
            tuple(stacks.shape[-2:]),
            config,
            cell_fn,
            alpha_channels=n_alpha,
            requires_grad=layers.requires_grad,
            parts=part_radii,
        )
        part = part * weight if weight != 1.0 else part
        cov = cov * weight if weight != 1.0 else cov
        color = part if color is None else color + part
        cover = cov if cover is None else cover + cov
    if _covers_every_pixel(layers[:, 3]):
        # every ray meets a surface, so the exact coverage is 1: what "over" with blurred alpha
        # leaves uncovered (a few per cent where thin planes overlap) is an artefact; divide it out
        color = color / cover.clamp(min=1e-8)
    return color[:, :h, :w]


class DefocusRenderer(nn.Module):
    """Module twin of :func:`render_bokeh` that keeps its kernels cached on the module's device.

    Args:
        aperture: aperture name, :class:`Aperture` or mask (fixed for the module).
        config: :class:`RenderConfig`.

    Example:
        >>> r = DefocusRenderer("hexagon")
        >>> r(torch.rand(2, 3, 16, 16), coc_px=torch.full((2, 1, 16, 16), 2.5)).shape
        torch.Size([2, 3, 16, 16])
    """

    def __init__(self, aperture: str | Aperture | torch.Tensor = "disk", config: RenderConfig | None = None) -> None:
        super().__init__()
        self.aperture = make_aperture(aperture)
        self.config = config or RenderConfig()
        self._kernels: dict[tuple, torch.Tensor] = {}

    def _kernel(self, aperture: Aperture, coc_px: float) -> torch.Tensor:
        key = (aperture.cache_key(), round(coc_px, 6))
        k = self._kernels.get(key)
        if k is None:
            k = signed_kernel(aperture, coc_px, dtype=torch.float64)
            self._kernels[key] = k
        return k

    def forward(
        self, image: torch.Tensor, depth_m: torch.Tensor | None = None, lens: ThinLens | None = None, **kwargs
    ) -> torch.Tensor:
        return render_bokeh(
            image, depth_m, lens, aperture=self.aperture, config=self.config, _kernel_fn=self._kernel, **kwargs
        )

    def render_layered(self, layers: torch.Tensor, **kwargs) -> torch.Tensor:
        return render_layered(layers, aperture=self.aperture, config=self.config, _kernel_fn=self._kernel, **kwargs)

    def extra_repr(self) -> str:
        return f"aperture={self.aperture!r}, config={self.config}"
