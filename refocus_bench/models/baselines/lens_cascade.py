"""Lens-to-lens by cascade: the matte as a two-plane scene, each lens's blur from its f-number.

The ``lens-to-lens`` task (:class:`~refocus_bench.tasks.LensToLensCondition`) gives no depth, only a
foreground matte, both lenses and the dataset's blur-strength indicator ``disparity``. The cascade
reads them physically:

* **scene**: the subject (``alpha >= 0.5``) at :data:`SUBJECT_DEPTH_M`, in focus in both photos; the
  background at infinity. So a lens's whole blur is one background CoC radius.
* **blur of a lens**: ``r = PX_PER_DISPARITY * disparity * blur_gain_ratio(50 mm f/1 -> lens)`` pixels
  (:func:`refocus_bench.optics.blur_gain_ratio`: ``~ f^2 / N`` for the same camera and focus, so
  ``N_src / N_tgt`` between two 50 mm lenses). The gain :data:`PX_PER_DISPARITY` is this baseline's
  assumption, not a published conversion: the challenge calls ``disparity`` only "an indicator for
  blur strength" (values about 30-55 in its ``meta.txt``); at 1 px per unit a 50 mm f/1.8 lens with
  disparity 35 blurs the background by a 19.4 px radius and f/16 by 2.2 px.
* **target blurrier than the source** (``r_tgt > r_src``): the source is re-rendered through the
  bokeh stage with the extra radius ``sqrt(r_tgt^2 - r_src^2)`` (blur radii of successive blurs add in
  quadrature for Gaussians; for disks it is an approximation), no deblurring;
* **source blurrier**: the deblur stage removes ``r_src`` from the background (an oracle ``coc_px``
  map: ``r_src`` behind the matte, 0 on the subject), then the bokeh stage renders ``r_tgt``;
* the subject keeps the source's pixels: ``out = alpha * source + (1 - alpha) * rendered``.

The stages are callables, so any deblur + bokeh pair serves (``refocus.cascade``'s registry
stages, or GenRefocus-tiny's DeblurNet and BokehNet).

Example:
    >>> from refocus_bench.tasks import NamedLens
    >>> src, tgt = NamedLens.parse("Sony50mmf16.0BS"), NamedLens.parse("Sony50mmf1.8BS")
    >>> [round(float(background_coc_px(lens, 35.0)), 2) for lens in (src, tgt)]
    [2.19, 19.44]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ...optics import blur_gain_ratio
from ...tasks import LensToLensCondition, NamedLens

if TYPE_CHECKING:  # torch and the renderer load on first use: benchmark definitions import this module
    import torch

    from ...simulators.render.blur_spec import BokehRequest

__all__ = [
    "SUBJECT_DEPTH_M",
    "PX_PER_DISPARITY",
    "REFERENCE_FOCAL_MM",
    "MIN_COC_PX",
    "background_coc_px",
    "two_plane_depth",
    "lens_cascade",
]

SUBJECT_DEPTH_M = 1.0
"""Depth given to the matted subject, metres (also the focus distance): a background CoC r is K = r px*m."""

PX_PER_DISPARITY = 1.0
"""Background CoC radius (px) per unit of ``disparity`` for a 50 mm f/1 lens (this baseline's assumption)."""

REFERENCE_FOCAL_MM = 50.0
"""Focal length (mm) at which :data:`PX_PER_DISPARITY` is stated (every published NTIRE 2023 lens is 50 mm)."""

MIN_COC_PX = 0.5
"""Radii (px) below this are treated as sharp: no deblurring of a source blurred less than this."""

Deblur = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]
Bokeh = Callable[["torch.Tensor", "BokehRequest"], "torch.Tensor"]


def background_coc_px(lens: NamedLens, disparity: Any, px_per_disparity: float = PX_PER_DISPARITY) -> torch.Tensor:
    """Background CoC radius (px) of ``lens`` for the dataset's ``disparity`` (float or (B,)): see the module."""
    import torch

    d = torch.as_tensor(disparity, dtype=torch.float64)
    gain = blur_gain_ratio(REFERENCE_FOCAL_MM, 1.0, lens.focal_mm, lens.f_number)
    return px_per_disparity * d * gain


def two_plane_depth(alpha: torch.Tensor) -> torch.Tensor:
    """(B, 1, H, W) depth in metres from a matte (B, 1, H, W): :data:`SUBJECT_DEPTH_M` where alpha >= 0.5, else inf."""
    import torch

    subject = alpha >= 0.5
    return torch.where(subject, torch.full_like(alpha, SUBJECT_DEPTH_M), torch.full_like(alpha, math.inf))


def lens_cascade(
    image: torch.Tensor,
    cond: LensToLensCondition,
    *,
    deblur: Deblur,
    bokeh: Bokeh,
    px_per_disparity: float = PX_PER_DISPARITY,
    aperture: str = "disk",
) -> torch.Tensor:
    """The source photo (B, 3, H, W) sRGB re-rendered with the target lens (see the module docstring).

    Args:
        image: source photo, sRGB in [0, 1], (B, 3, H, W).
        cond: the checked condition (:func:`~refocus_bench.models.base.make_lens_condition`).
        deblur: ``deblur(image, coc_px)`` -> AIF, ``coc_px`` (B, 1, H, W) signed px.
        bokeh: ``bokeh(aif, request)`` -> image with defocus blur (a :class:`BokehRequest`).
        px_per_disparity: :data:`PX_PER_DISPARITY`.
        aperture: aperture of the re-rendering.
    """
    import torch

    from ...simulators.render.blur_spec import make_bokeh_request

    r_src = background_coc_px(cond.src_lens, cond.disparity, px_per_disparity).to(image.device)
    r_tgt = background_coc_px(cond.tgt_lens, cond.disparity, px_per_disparity).to(image.device)
    alpha = cond.alpha.to(image.dtype)
    depth = two_plane_depth(alpha)
    sharpen = (r_src > r_tgt) & (r_src >= MIN_COC_PX)  # (B,): remove the source's blur first
    aif = image
    if bool(sharpen.any()):
        coc = torch.where(alpha >= 0.5, torch.zeros_like(alpha), r_src.to(image.dtype).view(-1, 1, 1, 1))
        aif = torch.where(sharpen.view(-1, 1, 1, 1), deblur(image, coc), image)
    extra = torch.sqrt((r_tgt * r_tgt - r_src * r_src).clamp(min=0.0))
    k = torch.where(sharpen, r_tgt, torch.where(r_tgt > r_src, extra, torch.zeros_like(r_tgt))) * SUBJECT_DEPTH_M
    req = make_bokeh_request(aif, depth, focus_distance_m=SUBJECT_DEPTH_M, k_px_m=k.to(image.dtype), aperture=aperture)
    rendered = bokeh(aif, req)
    return alpha * image + (1.0 - alpha) * rendered
