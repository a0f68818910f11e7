"""A plain layered RGB-D renderer with a "share" disocclusion fill: the second anchor of the fidelity table.

It is the simplest occlusion-aware RGB-D renderer that fills hidden content, kept as a yardstick for
:func:`~refocus_bench.simulators.render.rgbd.render_bokeh` (the first anchor is the scatter baseline,
:mod:`~refocus_bench.simulators.render.scatter`):

1. every pixel is hard-assigned to the nearest of ``n_layers`` CoC radii spaced evenly over the image's
   range (visibility masks ``m_k``, front = most negative CoC);
2. a pixel hidden behind nearer layers, within ``reach_k`` px of layer ``k``'s visible pixels, receives
   layer ``k``'s local mean colour with alpha ``box(m_k) / box(m_>=k)``: layer ``k``'s share of the
   visible content at or behind it nearby, so all farther layers split the hidden area in proportion
   to how much of each is seen there. ``reach_k`` is the largest CoC difference to a nearer layer (how
   far a nearer layer's blur can uncover layer ``k``); box sums are taken on a grid of ``cell_px`` cells;
3. each layer (premultiplied colour and alpha) is convolved with the aperture kernel of its radius,
   the layers are composited front to back ("over", blurred alpha) and divided by the composite alpha.

Everything is in linear light; it is differentiable w.r.t. the image (the layer split is not).

Example:
    >>> img = torch.rand(1, 3, 24, 24)
    >>> out = render_share_fill(img, coc_px=torch.zeros(1, 1, 24, 24))
    >>> bool((out - img).abs().max() < 1e-5)
    True
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb

from ...errors import check
from ...optics import ThinLens
from .apertures import Aperture, make_aperture, signed_kernel
from .blur_spec import resolve_coc
from .convolution import run_convolution

__all__ = ["render_share_fill", "share_fill_linear"]


def _box_mean_ratio(num: torch.Tensor, den: torch.Tensor, radius_px: float, cell_px: int) -> torch.Tensor:
    """``box(num) / box(den)`` over a window of ``radius_px`` around every pixel, with the sums taken on a
    grid of ``cell_px`` cells and the ratio upsampled bilinearly; (C, H, W) / (1, H, W) -> (C, H, W)."""
    h, w = num.shape[-2:]
    both = torch.cat([num, den])[None]
    small = F.avg_pool2d(both, cell_px, ceil_mode=True, divisor_override=1) if cell_px > 1 else both
    r = max(1, int(math.ceil(radius_px / cell_px)))
    summed = F.avg_pool2d(F.pad(small, (r,) * 4), 2 * r + 1, stride=1, divisor_override=1)
    ratio = summed[:, :-1] / summed[:, -1:].clamp(min=1e-12)
    if cell_px > 1:
        ratio = F.interpolate(ratio, scale_factor=cell_px, mode="bilinear", align_corners=False)
    return ratio[0, :, :h, :w]


def _blur(x: torch.Tensor, aperture: Aperture, coc_px: float) -> torch.Tensor:
    """Convolve (C, H, W) with the signed aperture kernel of radius ``coc_px`` (reflect borders)."""
    k = signed_kernel(aperture, coc_px, dtype=x.dtype, device=x.device)
    if k.shape[-1] == 1:
        return x
    return run_convolution("direct", x, k[None].expand(x.shape[0], -1, -1))


def share_fill_linear(
    lin: torch.Tensor, coc_px: torch.Tensor, aperture: Aperture, n_layers: int = 32, cell_px: int = 4
) -> torch.Tensor:
    """One linear image: (3, H, W) colour and (H, W) signed CoC (px) -> (3, H, W) linear."""
    cmin, cmax = float(coc_px.min()), float(coc_px.max())
    n = 1 if cmax - cmin < 1e-6 else n_layers
    centres = torch.linspace(cmin, cmax, n, dtype=torch.float64).tolist()
    idx = torch.zeros_like(coc_px, dtype=torch.long) if n == 1 else ((coc_px - cmin) / (cmax - cmin) * (n - 1)).round()
    masks = [(idx == k).to(lin.dtype)[None] for k in range(n)]
    present = [bool(m.any()) for m in masks]
    behind = torch.ones_like(masks[0])  # visible at or behind layer k
    acc = torch.zeros(4, *coc_px.shape, dtype=lin.dtype, device=lin.device)
    trans = torch.ones_like(masks[0])
    for k in range(n):
        if not present[k]:
            continue
        reach = max((abs(centres[j] - centres[k]) for j in range(k) if present[j]), default=0.0)
        colour, alpha = lin * masks[k], masks[k]
        if reach >= 1.0:
            fill = _box_mean_ratio(torch.cat([lin * masks[k], masks[k]]), behind, reach, cell_px)
            share = fill[3:].clamp(0.0, 1.0)
            mean = fill[:3] / fill[3:].clamp(min=1e-12)
            hidden = 1.0 - behind
            colour = colour + hidden * share * mean
            alpha = alpha + hidden * share
        layer = _blur(torch.cat([colour, alpha]), aperture, centres[k])
        acc = acc + trans * layer
        trans = trans * (1.0 - layer[3:]).clamp(0.0, 1.0)
        behind = behind - masks[k]
    return acc[:3] / acc[3:].clamp(min=1e-8)


def render_share_fill(
    image: torch.Tensor,
    depth_m: torch.Tensor | None = None,
    lens: ThinLens | None = None,
    *,
    coc_px: torch.Tensor | None = None,
    k_px_m: float | torch.Tensor | None = None,
    focus_distance_m: float | torch.Tensor | None = None,
    aperture: str | Aperture | torch.Tensor = "disk",
    n_layers: int = 32,
    cell_px: int = 4,
) -> torch.Tensor:
    """Render defocus blur with the share-fill anchor; same inputs and output contract as ``render_bokeh``.

    Args:
        image: sRGB in [0, 1], (B, 3, H, W).
        depth_m, lens, coc_px, k_px_m, focus_distance_m: one blur specification, see
            :func:`~refocus_bench.simulators.render.blur_spec.resolve_coc`.
        aperture: a registered name, an :class:`Aperture` or a mask.
        n_layers: number of hard depth layers (>= 1), spaced evenly in CoC.
        cell_px: side of the cells on which the fill's box sums are taken (>= 1 px).

    Returns:
        sRGB (B, 3, H, W).
    """
    check(isinstance(n_layers, int) and n_layers >= 1, lambda: f"n_layers must be an int >= 1, got {n_layers!r}")
    check(isinstance(cell_px, int) and cell_px >= 1, lambda: f"cell_px must be an int >= 1, got {cell_px!r}")
    coc = resolve_coc(image, depth_m, lens, coc_px=coc_px, k_px_m=k_px_m, focus_distance_m=focus_distance_m)
    ap = make_aperture(aperture)
    lin = rgb_to_linear_rgb(image)
    out = torch.stack([share_fill_linear(lin[i], coc[i, 0], ap, n_layers, cell_px) for i in range(image.shape[0])])
    return linear_rgb_to_rgb(out.clamp(0.0, 1.0))
