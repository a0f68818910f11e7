"""Ground-truth thin-lens image formation for layered scenes, by shift-and-add over the aperture.

A thin lens focused at depth ``s`` forms, for each point ``a`` of its aperture, a pinhole view in
which a fronto-parallel plane at depth ``z`` appears shifted by ``a * r(z)`` pixels, ``r`` being the
plane's signed CoC radius (points behind the focus plane move with ``a``, points in front against
it). The image is the aperture-weighted average of these views, each composited with exact per-view
occlusion - including the content hidden behind occluders, which the layered scene provides.
This module integrates that average with ``samples`` quasi-random aperture points and converges to
the exact image as the count grows (error ~ 1/samples for smooth content).

Pixels are modelled as area-integrating sensors over a piecewise-constant scene, which makes a
sub-pixel shift exactly a bilinear interpolation. Shifts read past the frame with reflection; compare
images away from the border (``margin_px``).

Example:
    >>> layers = torch.rand(1, 1, 4, 16, 16); layers[:, :, 3] = 1
    >>> out = render_reference(layers, coc_px=torch.zeros(1, 1), samples=16)
    >>> bool((out - layers[:, 0, :3]).abs().max() < 1e-5)
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb

from ...errors import check, check_tensor
from ...optics import ThinLens
from .apertures import Aperture, make_aperture

__all__ = ["render_reference", "reference_linear", "margin_px"]


def margin_px(coc_px: torch.Tensor) -> int:
    """Border width (px) where reflection at the frame edge affects a shift-and-add image."""
    return int(torch.ceil(coc_px.abs().max()).item()) + 2


def reference_linear(
    premult: torch.Tensor,
    alpha: torch.Tensor,
    coc_px: torch.Tensor,
    aperture: Aperture,
    samples: int = 2048,
    seed: int = 0,
    chunk: int = 32,
) -> torch.Tensor:
    """Shift-and-add render of one scene in linear light.

    Args:
        premult: (L, 3, H, W) premultiplied linear colour, layers sorted near -> far.
        alpha: (L, 1, H, W) coverage.
        coc_px: (L,) signed CoC radius per layer (px).
        aperture: pupil shape.
        samples: number of aperture points.
        seed: scrambling seed of the Sobol sequence.
        chunk: aperture points rendered at once (memory ~ chunk * 4 * H * W values).

    Returns:
        (3, H, W) linear colour: composite over black.
    """
    n_layers, _, h, w = premult.shape
    dtype, device = premult.dtype, premult.device
    points, weights = aperture.sample_points(samples, seed=seed, dtype=dtype)
    points, weights = points.to(device), weights.to(device)
    ys = torch.arange(h, dtype=dtype, device=device)
    xs = torch.arange(w, dtype=dtype, device=device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    stacks = torch.cat([premult, alpha], dim=1)  # (L, 4, H, W)
    out = torch.zeros(3, h, w, dtype=dtype, device=device)
    for start in range(0, samples, chunk):
        p = points[start : start + chunk]
        wt = weights[start : start + chunk]
        n = p.shape[0]
        color = torch.zeros(n, 3, h, w, dtype=dtype, device=device)
        trans = torch.ones(n, 1, h, w, dtype=dtype, device=device)
        for layer in range(n_layers):
            shift = p * coc_px[layer]  # (n, 2) as (dx, dy): the content moves by +shift
            sx = gx[None] - shift[:, 0, None, None]
            sy = gy[None] - shift[:, 1, None, None]
            grid = torch.stack([(2 * sx + 1) / w - 1, (2 * sy + 1) / h - 1], dim=-1)
            view = F.grid_sample(
                stacks[layer].expand(n, -1, -1, -1),
                grid,
                mode="bilinear",
                padding_mode="reflection",
                align_corners=False,
            )
            color = color + trans * view[:, :3]
            trans = trans * (1.0 - view[:, 3:4])
        out = out + (wt[:, None, None, None] * color).sum(0)
    return out


def render_reference(
    layers: torch.Tensor,
    depth_m: torch.Tensor | None = None,
    lens: ThinLens | None = None,
    *,
    coc_px: torch.Tensor | None = None,
    aperture: str | Aperture | torch.Tensor = "disk",
    samples: int = 2048,
    seed: int = 0,
    linear: bool = False,
) -> torch.Tensor:
    """Exact (converging) thin-lens rendering of a layered scene.

    Args:
        layers: (B, L, 4, H, W) sRGB straight colour + alpha in [0, 1]; any layer order.
        depth_m: (B, L) plane depths (m) with ``lens``; or ``coc_px``: (B, L) signed radii (px).
        aperture: aperture name, :class:`Aperture` or mask.
        samples: aperture sample count (2048 gives ~90 dB on in-focus/defocused pairs).
        seed: Sobol scrambling seed.
        linear: return linear RGB instead of sRGB (no clipping), for error measurements.

    Returns:
        (B, 3, H, W) in sRGB (or linear RGB with ``linear=True``).
    """
    sizes = check_tensor(layers, "layers", ["B", "L", 4, "H", "W"], min_value=0.0, max_value=1.0)
    b, n, w = sizes["B"], sizes["L"], sizes["W"]
    check((depth_m is None) != (coc_px is None), "give exactly one of depth_m (with lens) or coc_px")
    if coc_px is None:
        check(isinstance(lens, ThinLens), "depth_m needs lens=ThinLens(...)")
        check_tensor(depth_m, "depth_m", [b, n], allow_inf=True)
        coc_px = lens.coc_radius_px(depth_m, image_width_px=w)
    check_tensor(coc_px, "coc_px", [b, n])
    check(isinstance(samples, int) and samples > 0, lambda: f"samples must be a positive int, got {samples!r}")
    ap = make_aperture(aperture)
    outs = []
    for i in range(b):
        order = torch.argsort(coc_px[i].detach(), stable=True)
        lin = rgb_to_linear_rgb(layers[i, order, :3])
        alpha = layers[i, order, 3:4]
        outs.append(reference_linear(lin * alpha, alpha, coc_px[i, order].to(layers.dtype), ap, samples, seed))
    out = torch.stack(outs)
    return out if linear else linear_rgb_to_rgb(out.clamp(0.0, 1.0))
