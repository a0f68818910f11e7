"""Bokeh-aware metrics: where in the picture a rendering is right, and whether its blur is.

Whole-image scores hide what matters in bokeh: a sharp subject can dominate PSNR while the
background blur has the wrong size, and errors concentrate at occlusion edges. These metrics use the
signed circle-of-confusion (CoC) map of the target (radius in px, (B, 1, H, W), positive behind the
focus plane; see :mod:`refocus_bench.optics`):

* **Regions** (:func:`region_masks`): *in focus* ``|coc| <= in_focus_max_px`` (1 px), *out of focus*
  ``|coc| > out_of_focus_min_px`` (1 px; with equal thresholds the two partition the image), and the
  *edge band*: pixels within ``band_px`` (Chebyshev distance) of an occlusion edge, where an edge is a
  pixel whose 3 x 3 neighbourhood spans a CoC jump above ``edge_jump_px`` (1 px). With
  ``band_px=None`` (default) the band of each image is as wide as the largest ``|coc|`` on its
  edges, rounded up: the distance over which a blurred layer spills across the edge.
  PSNR and SSIM restricted to a region: PSNR from the masked MSE; SSIM as the mean of the SSIM map
  (Gaussian 11 x 11, sigma 1.5, valid positions) over masked pixels. A sample with an empty region
  scores NaN (undefined) and is not counted by the accumulating form.
* **Blur-size error** (:func:`blur_size_error`): mean ``| |c_est| - |c_true| |`` in px (front/back
  cannot be told apart from one image, so magnitudes are compared unless ``signed=True``).
* **Aperture-shape fidelity** (:func:`aperture_fidelity`): around given point-light positions, crop
  ``(2R+1)^2`` windows of linear-light luminance from both images, subtract each window's minimum
  and divide by its maximum; IoU of the crops thresholded at 0.5 (``aperture_iou``) and the
  zero-mean normalised cross-correlation of the crops (``aperture_ncc``), averaged over the points.
  Both compare shape, size and position of the bokeh disc; neither depends on brightness.
* **LVCorr** (:func:`lvcorr_genphoto`, ``lvcorr.genphoto``): controllability, as Generative Photography
  (Yuan et al., CVPR 2025) computes it in ``comp_metrics/accuracy_by_CorrCoef/accur_bokehK.py`` (cited for
  LVCorr by Bokeh Diffusion, DiffCamera and GenRefocus). A scene is rendered at N blur strengths
  ``K_1 < ... < K_N`` (same image and focus) by the model and by the reference renderer. LV_i: variance of
  the 4-neighbour Laplacian of the BT.601 luma over the whole image (OpenCV's default border, reflect-101);
  trend: the N - 1 changes ``LV_{i+1} - LV_i``; **LVCorr = Pearson(trend of the model, trend of the
  reference)** in [-1, 1], higher is better, no sign flip; a benchmark averages scenes. A model that ignores
  K has a constant LV: undefined (NaN, not counted). Changes are correlated with their mean removed, so the
  score follows the *shape* of the LV curve, not the direction of control: when the reference's LV curve is
  convex, a reversed sweep, or an LV that falls and then rises, can still score well above 0.
  *Legacy*, no paper uses it: ``lvcorr.pearson`` / ``.spearman`` (``-corr(K, LV)``, no reference).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from kornia.color import rgb_to_linear_rgb
from torchmetrics.functional.image import structural_similarity_index_measure as _tm_ssim

from ..errors import check, check_tensor
from .base import MetricSpec, RefocusMetric, check_image, check_image_pair
from .full_reference import SSIM_WINDOW

__all__ = [
    "REGIONS",
    "region_masks",
    "masked_psnr",
    "masked_ssim",
    "blur_size_error",
    "aperture_fidelity",
    "laplacian_map",
    "laplacian_variance",
    "lvcorr",
    "lvcorr_genphoto",
]

REGIONS = ("in_focus", "out_of_focus", "edge_band")
REGION_DEFAULTS = {"in_focus_max_px": 1.0, "out_of_focus_min_px": 1.0, "edge_jump_px": 1.0, "band_px": None}
CORRELATIONS = {"pearson", "spearman"}


# -- regions ------------------------------------------------------------------------------------------
def _dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Square (Chebyshev) dilation of a (B, 1, H, W) bool mask, separable: O(radius) per pixel."""
    if radius <= 0:
        return mask
    k = 2 * radius + 1
    m = mask.float()
    m = F.max_pool2d(m, (1, k), stride=1, padding=(0, radius))
    m = F.max_pool2d(m, (k, 1), stride=1, padding=(radius, 0))
    return m > 0


def region_masks(
    coc: torch.Tensor,
    *,
    in_focus_max_px: float = 1.0,
    out_of_focus_min_px: float = 1.0,
    edge_jump_px: float = 1.0,
    band_px: int | None = None,
) -> dict[str, torch.Tensor]:
    """In-focus, out-of-focus and occlusion-edge-band masks from a signed CoC map.

    Args:
        coc: signed CoC radius in px, (B, 1, H, W).
        in_focus_max_px: largest ``|coc|`` counted as in focus.
        out_of_focus_min_px: ``|coc|`` above this is out of focus (must be >= ``in_focus_max_px``).
        edge_jump_px: a 3 x 3 neighbourhood spanning a larger CoC range contains an occlusion edge.
        band_px: band half-width in px; ``None``: per image, ceil of the largest ``|coc|`` on its edges.

    Returns:
        ``{"in_focus", "out_of_focus", "edge_band"}`` -> bool (B, 1, H, W).

    Example:
        >>> coc = torch.zeros(1, 1, 8, 8); coc[..., 4:] = 2.0
        >>> m = region_masks(coc, band_px=1)
        >>> int(m["in_focus"].sum()), int(m["out_of_focus"].sum()), int(m["edge_band"].sum())
        (32, 32, 32)
    """
    check_tensor(coc, "coc", ["B", 1, "H", "W"])
    check(
        0 <= in_focus_max_px <= out_of_focus_min_px,
        lambda: f"need 0 <= in_focus_max_px <= out_of_focus_min_px, got {in_focus_max_px}, {out_of_focus_min_px}",
    )
    check(edge_jump_px > 0, lambda: f"edge_jump_px must be > 0, got {edge_jump_px}")
    check(
        band_px is None or (isinstance(band_px, int) and band_px >= 0),
        lambda: f"band_px must be None or an int >= 0, got {band_px!r}",
    )
    mag = coc.abs()
    hi = F.max_pool2d(F.pad(coc, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    lo = -F.max_pool2d(F.pad(-coc, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    edges = (hi - lo) > edge_jump_px
    if band_px is not None:
        band = _dilate(edges, band_px)
    else:
        bands = []
        for b in range(coc.shape[0]):
            near = _dilate(edges[b : b + 1], 1)
            r = int(math.ceil(float(mag[b : b + 1][near].max()))) if bool(near.any()) else 0
            bands.append(_dilate(edges[b : b + 1], r))
        band = torch.cat(bands, dim=0)
    return {"in_focus": mag <= in_focus_max_px, "out_of_focus": mag > out_of_focus_min_px, "edge_band": band}


def masked_psnr(preds: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """PSNR (dB, data range 1) over the pixels where ``mask`` (B, 1, H, W) is true; NaN where empty."""
    w = mask.to(preds.dtype)
    n = w.sum(dim=(1, 2, 3)) * preds.shape[1]
    se = ((preds - target).pow(2) * w).sum(dim=(1, 2, 3))
    out = 10.0 * torch.log10(n / se)
    return torch.where(n > 0, out, torch.full_like(out, float("nan")))


def masked_ssim(preds: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean SSIM map (channel-averaged, valid positions only) over ``mask``; NaN where empty."""
    _, smap = _tm_ssim(
        preds,
        target,
        gaussian_kernel=True,
        sigma=SSIM_WINDOW["gaussian_sigma"],
        kernel_size=SSIM_WINDOW["kernel_size"],
        data_range=1.0,
        k1=SSIM_WINDOW["k1"],
        k2=SSIM_WINDOW["k2"],
        reduction="none",
        return_full_image=True,
    )
    r = (SSIM_WINDOW["kernel_size"] - 1) // 2
    valid = torch.zeros_like(mask)
    valid[..., r:-r, r:-r] = True
    w = (mask & valid).to(smap.dtype)
    n = w.sum(dim=(1, 2, 3))
    out = (smap.mean(dim=1, keepdim=True) * w).sum(dim=(1, 2, 3)) / n
    return torch.where(n > 0, out, torch.full_like(out, float("nan")))


# -- blur size ------------------------------------------------------------------------------------------
def blur_size_error(coc_estimated: torch.Tensor, coc_true: torch.Tensor, *, signed: bool = False) -> torch.Tensor:
    """Mean absolute CoC-radius error in px, (B,); compares magnitudes unless ``signed``."""
    check_tensor(coc_estimated, "coc_estimated", ["B", 1, "H", "W"])
    check_tensor(coc_true, "coc_true", ["B", 1, "H", "W"])
    check(
        coc_estimated.shape == coc_true.shape,
        lambda: "coc_estimated and coc_true must have the same shape, "
        f"got {tuple(coc_estimated.shape)} and {tuple(coc_true.shape)}",
    )
    a, b = (coc_estimated, coc_true) if signed else (coc_estimated.abs(), coc_true.abs())
    return (a - b).abs().mean(dim=(1, 2, 3))


# -- aperture shape ---------------------------------------------------------------------------------------
def _luminance_linear(image: torch.Tensor) -> torch.Tensor:
    lin = rgb_to_linear_rgb(image)
    w = torch.tensor((0.2126, 0.7152, 0.0722), dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    return (lin * w).sum(dim=1)


def _crops(lum: torch.Tensor, points: torch.Tensor, radius: int) -> torch.Tensor:
    """(B, H, W) luminance, (B, P, 2) (x, y) px -> (B, P, 2R+1, 2R+1) windows (zero outside the image)."""
    b, h, w = lum.shape
    padded = F.pad(lum, (radius, radius, radius, radius))
    offs = torch.arange(-radius, radius + 1, device=lum.device)
    xs = points[..., 0].round().long()[..., None] + offs + radius  # (B, P, K) columns in padded
    ys = points[..., 1].round().long()[..., None] + offs + radius
    bi = torch.arange(b, device=lum.device).view(b, 1, 1, 1)
    return padded[bi, ys[..., :, None], xs[..., None, :]]


def _normalise(c: torch.Tensor) -> torch.Tensor:
    c = c - c.amin(dim=(-2, -1), keepdim=True)
    peak = c.amax(dim=(-2, -1), keepdim=True)
    return torch.where(peak > 0, c / peak.clamp_min(1e-12), torch.full_like(c, float("nan")))


def aperture_fidelity(
    preds: torch.Tensor, target: torch.Tensor, points: torch.Tensor, *, radius: int = 24, threshold: float = 0.5
) -> dict[str, torch.Tensor]:
    """Shape fidelity of bokeh discs around point lights.

    Args:
        preds, target: sRGB [0, 1], (B, 3, H, W).
        points: (B, P, 2) point-light centres (x = column, y = row) in px, inside the image.
        radius: half-size R of the compared windows (px); choose it above the largest disc radius.
        threshold: level (fraction of the window's peak above its minimum) that defines the disc.

    Returns:
        ``{"iou": (B,), "ncc": (B,)}``: means over the points (NaN points, e.g. flat windows, skipped).
    """
    sizes = check_image_pair(preds, target)
    check_tensor(points, "points", [sizes["B"], "P", 2])
    check(isinstance(radius, int) and radius >= 1, lambda: f"radius must be an int >= 1, got {radius!r}")
    check(0.0 < threshold < 1.0, lambda: f"threshold must be in (0, 1), got {threshold}")
    return _aperture_unchecked(preds, target, points, radius, threshold)


def _aperture_unchecked(
    preds: torch.Tensor, target: torch.Tensor, points: torch.Tensor, radius: int, threshold: float
) -> dict[str, torch.Tensor]:
    h, w = preds.shape[-2:]
    x, y = points[..., 0], points[..., 1]
    inside = bool(((x >= 0) & (x <= w - 1) & (y >= 0) & (y <= h - 1)).all())
    check(inside, lambda: f"points must lie inside the {w}x{h} image (x in [0, {w - 1}], y in [0, {h - 1}])")
    a = _normalise(_crops(_luminance_linear(preds), points, radius))
    b = _normalise(_crops(_luminance_linear(target), points, radius))
    ma, mb = a >= threshold, b >= threshold
    inter = (ma & mb).sum(dim=(-2, -1)).to(preds.dtype)
    union = (ma | mb).sum(dim=(-2, -1)).to(preds.dtype)
    iou = torch.where(
        torch.isnan(a).any(dim=(-2, -1)) | torch.isnan(b).any(dim=(-2, -1)),
        torch.full_like(inter, float("nan")),
        inter / union.clamp_min(1),
    )
    da = a - a.mean(dim=(-2, -1), keepdim=True)
    db = b - b.mean(dim=(-2, -1), keepdim=True)
    ncc = (da * db).sum(dim=(-2, -1)) / ((da * da).sum(dim=(-2, -1)) * (db * db).sum(dim=(-2, -1))).sqrt()
    return {"iou": iou.nanmean(dim=1), "ncc": ncc.nanmean(dim=1)}


# -- LVCorr -----------------------------------------------------------------------------------------------
_LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
_LUMA = (0.299, 0.587, 0.114)


def laplacian_map(images: torch.Tensor, *, border: str = "valid") -> torch.Tensor:
    """4-neighbour Laplacian of the BT.601 luma of sRGB images (N, 3, H, W) -> (N, 1, H', W').

    ``border="valid"``: interior positions only (H' = H - 2); ``"reflect"``: every pixel, the edge mirrored
    without repeating it (OpenCV's ``BORDER_REFLECT_101``, the setting of Generative Photography's evaluation).
    """
    check(border in ("valid", "reflect"), lambda: f"border must be 'valid' or 'reflect', got {border!r}")
    w = torch.tensor(_LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    luma = (images * w).sum(dim=1, keepdim=True)
    if border == "reflect":
        luma = F.pad(luma, (1, 1, 1, 1), mode="reflect")
    return F.conv2d(luma, _LAPLACIAN.to(images).view(1, 1, 3, 3))


def laplacian_variance(images: torch.Tensor, *, border: str = "valid") -> torch.Tensor:
    """Variance of :func:`laplacian_map` over each image: sRGB (N, 3, H, W) -> (N,)."""
    return laplacian_map(images, border=border).flatten(1).var(dim=1, unbiased=False)


def _ranks(x: torch.Tensor) -> torch.Tensor:
    """Average ranks along the last dim (ties share their mean rank)."""
    less = (x[..., None, :] < x[..., :, None]).sum(dim=-1).to(x.dtype)
    equal = (x[..., None, :] == x[..., :, None]).sum(dim=-1).to(x.dtype)
    return less + (equal - 1) / 2


def _pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    da, db = a - a.mean(dim=-1, keepdim=True), b - b.mean(dim=-1, keepdim=True)
    return (da * db).sum(dim=-1) / ((da * da).sum(dim=-1) * (db * db).sum(dim=-1)).sqrt()


def lvcorr(images: torch.Tensor, strengths: torch.Tensor, *, method: str = "pearson") -> torch.Tensor:
    """Legacy (no paper uses it): ``-corr(strength, LV)`` per scene; LVCorr is :func:`lvcorr_genphoto`.

    ``images`` sRGB (B, N, 3, H, W) or (N, 3, H, W); ``strengths`` (B, N) or (N,), N >= 3, increasing
    blur; ``method`` ``"pearson"`` or ``"spearman"``. Returns (B,), NaN where LV or strengths are constant.
    """
    images, strengths = _check_lvcorr(images, strengths, method)
    return _lvcorr_unchecked(images, strengths, method)


def _check_lvcorr(images: Any, strengths: Any, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    check(method in CORRELATIONS, lambda: f"method must be one of {sorted(CORRELATIONS)}, got {method!r}")
    check(
        isinstance(images, torch.Tensor) and images.ndim in (4, 5),
        lambda: "images must be (B, N, 3, H, W) or (N, 3, H, W)",
    )
    if images.ndim == 4:
        images = images[None]
        strengths = strengths[None] if isinstance(strengths, torch.Tensor) else strengths
    b, n = images.shape[:2]
    check_image(images.flatten(0, 1), "images")
    check_tensor(strengths, "strengths", [b, n])
    check(n >= 3, lambda: f"LVCorr needs at least 3 renderings per scene, got {n}")
    return images, strengths


def _lvcorr_unchecked(images: torch.Tensor, strengths: torch.Tensor, method: str) -> torch.Tensor:
    b, n = images.shape[:2]
    lv = laplacian_variance(images.flatten(0, 1)).view(b, n).to(torch.float64)
    s = strengths.to(device=lv.device, dtype=torch.float64)
    if method == "spearman":
        lv, s = _ranks(lv), _ranks(s)
    return (-_pearson(s, lv)).to(images.dtype)


def lvcorr_genphoto(images: torch.Tensor, reference: torch.Tensor, strengths: torch.Tensor) -> torch.Tensor:
    """LVCorr of Generative Photography: Pearson correlation of the LV trends of a sweep and its reference.

    Args:
        images: the model's renderings, sRGB [0, 1], (B, N, 3, H, W) or (N, 3, H, W); N >= 3.
        reference: the ground-truth renderings of the same N settings, same shape.
        strengths: the blur strengths (K) of the sweep, (B, N) or (N,), strictly increasing.

    Returns:
        (B,) in [-1, 1]; NaN where either trend (the N - 1 consecutive LV changes) is constant.

    Example:
        >>> x = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
        >>> sweep = torch.cat([F.avg_pool2d(x, 2 * r + 1, 1, r, count_include_pad=False) for r in range(4)])
        >>> float(lvcorr_genphoto(sweep, sweep, torch.arange(4.0)))  # the reference itself
        1.0
    """
    images, reference, strengths = _check_genphoto(images, reference, strengths)
    return _genphoto_unchecked(images, reference)


def _check_genphoto(images: Any, reference: Any, strengths: Any) -> tuple[torch.Tensor, ...]:
    images, strengths = _check_lvcorr(images, strengths, "pearson")
    check(isinstance(reference, torch.Tensor), "reference must be a tensor of reference renderings")
    reference = reference[None] if reference.ndim == 4 else reference
    check(
        reference.shape == images.shape,
        lambda: f"reference must have the renderings' shape {tuple(images.shape)}, got {tuple(reference.shape)}",
    )
    check_image(reference.flatten(0, 1), "reference")
    check(
        bool((strengths.diff(dim=1) > 0).all()),
        "strengths must increase strictly along the sweep (the trend is taken in that order)",
    )
    return images, reference, strengths


def _genphoto_unchecked(images: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    b, n = images.shape[:2]

    def trend(x: torch.Tensor) -> torch.Tensor:
        return laplacian_variance(x.flatten(0, 1).to(torch.float64), border="reflect").view(b, n).diff(dim=1)

    return _pearson(trend(images), trend(reference)).to(images.dtype)


# -- registered metric classes -----------------------------------------------------------------------
class _Region(RefocusMetric):
    _region = ""
    _fn: Any = None

    def _check_extra(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> None:
        super()._check_extra(preds, target, **extra)
        check("coc" in extra, lambda: f"{self.spec.name} needs coc=<signed CoC radius px, (B, 1, H, W)>")
        check_tensor(extra["coc"], "coc", [preds.shape[0], 1, preds.shape[-2], preds.shape[-1]])
        k = SSIM_WINDOW["kernel_size"]
        check(
            type(self)._fn is not masked_ssim or min(preds.shape[-2:]) > k,
            lambda: f"{self.spec.name} needs images larger than {k}x{k} px, got {tuple(preds.shape[-2:])}",
        )

    def _score(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> torch.Tensor:
        c = {k: self.spec.conventions[k] for k in REGION_DEFAULTS}
        mask = region_masks(extra["coc"].to(preds.device), **c)[self._region]
        return type(self)._fn(preds, target, mask)


def _region_spec(metric: str, region: str) -> MetricSpec:
    psnr = metric == "psnr"
    return MetricSpec(
        name=f"bokeh.{metric}_{region}",
        higher_is_better=True,
        reference="full",
        value_range=(0.0, math.inf) if psnr else (-1.0, 1.0),
        differentiable=True,
        conventions={
            **REGION_DEFAULTS,
            "region": region,
            "color": "rgb",
            "data_range": 1.0,
            "coc": "signed radius px of the target, (B, 1, H, W)",
            "score": "masked MSE -> dB" if psnr else "mean SSIM map (11x11, sigma 1.5, valid) over mask",
            "empty_region": "NaN (not counted)",
        },
        inputs=("preds", "target", "coc"),
        description=f"{metric.upper()} restricted to the {region.replace('_', ' ')} region",
    )


class PSNRInFocus(_Region):
    spec = _region_spec("psnr", "in_focus")
    _region, _fn = "in_focus", staticmethod(masked_psnr)


class PSNROutOfFocus(_Region):
    spec = _region_spec("psnr", "out_of_focus")
    _region, _fn = "out_of_focus", staticmethod(masked_psnr)


class PSNREdgeBand(_Region):
    spec = _region_spec("psnr", "edge_band")
    _region, _fn = "edge_band", staticmethod(masked_psnr)


class SSIMInFocus(_Region):
    spec = _region_spec("ssim", "in_focus")
    _region, _fn = "in_focus", staticmethod(masked_ssim)


class SSIMOutOfFocus(_Region):
    spec = _region_spec("ssim", "out_of_focus")
    _region, _fn = "out_of_focus", staticmethod(masked_ssim)


class SSIMEdgeBand(_Region):
    spec = _region_spec("ssim", "edge_band")
    _region, _fn = "edge_band", staticmethod(masked_ssim)


class BlurSizeError(RefocusMetric):
    """Mean | |estimated CoC| - |true CoC| | in px: preds and target are CoC maps (B, 1, H, W)."""

    spec = MetricSpec(
        name="bokeh.blur_size_error",
        higher_is_better=False,
        reference="full",
        value_range=(0.0, math.inf),
        differentiable=True,
        conventions={
            "signed": False,
            "unit": "px (CoC radius)",
            "inputs": "preds = estimated CoC, target = true CoC, (B, 1, H, W)",
        },
        description="blur-size (CoC radius) error",
    )

    def _check_inputs(self, preds: Any, target: Any = None, **extra: Any) -> None:
        check(target is not None, "bokeh.blur_size_error needs target (the true CoC map)")
        blur_size_error(preds, target)  # validates
        RefocusMetric._check_extra(self, preds, target, **extra)

    def _score(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> torch.Tensor:
        a, b = (preds, target) if self.spec.conventions["signed"] else (preds.abs(), target.abs())
        return (a - b).abs().mean(dim=(1, 2, 3))


class _Aperture(RefocusMetric):
    _key = ""

    def _check_extra(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> None:
        super()._check_extra(preds, target, **extra)
        check("points" in extra, lambda: f"{self.spec.name} needs points=<(B, P, 2) point-light centres (x, y) px>")
        check_tensor(extra["points"], "points", [preds.shape[0], "P", 2])
        c = self.spec.conventions
        check(
            isinstance(c["radius"], int) and c["radius"] >= 1,
            lambda: f"radius must be an int >= 1, got {c['radius']!r}",
        )
        check(0.0 < c["threshold"] < 1.0, lambda: f"threshold must be in (0, 1), got {c['threshold']}")

    def _score(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> torch.Tensor:
        c = self.spec.conventions
        return _aperture_unchecked(preds, target, extra["points"].to(preds.device), c["radius"], c["threshold"])[
            self._key
        ]


_APERTURE_CONV = {
    "radius": 24,
    "threshold": 0.5,
    "signal": "linear-light Rec.709 luminance",
    "normalisation": "window minimum -> 0, window maximum -> 1",
    "points": "(B, P, 2) (x, y) px",
}


class ApertureIoU(_Aperture):
    spec = MetricSpec(
        name="bokeh.aperture_iou",
        higher_is_better=True,
        reference="full",
        value_range=(0.0, 1.0),
        differentiable=False,
        conventions={**_APERTURE_CONV, "score": "IoU of normalised windows >= threshold"},
        inputs=("preds", "target", "points"),
        description="aperture-shape IoU on point lights",
    )
    _key = "iou"


class ApertureNCC(_Aperture):
    spec = MetricSpec(
        name="bokeh.aperture_ncc",
        higher_is_better=True,
        reference="full",
        value_range=(-1.0, 1.0),
        differentiable=True,
        conventions={**_APERTURE_CONV, "score": "zero-mean normalised cross-correlation"},
        inputs=("preds", "target", "points"),
        description="aperture-shape correlation on point lights",
    )
    _key = "ncc"


class _LVCorr(RefocusMetric):
    def _check_inputs(self, preds: Any, target: Any = None, **extra: Any) -> None:
        check(target is None, f"{self.spec.name} takes no target: pass preds=images and strengths=...")
        check(
            "strengths" in extra, lambda: f"{self.spec.name} needs strengths=<(B, N) blur strengths, increasing blur>"
        )
        _check_lvcorr(preds, extra["strengths"], self.spec.conventions["method"])

    def _score(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> torch.Tensor:
        s = extra["strengths"]
        if preds.ndim == 4:
            preds, s = preds[None], s[None]
        return _lvcorr_unchecked(preds, s, self.spec.conventions["method"])


def _lv_spec(method: str) -> MetricSpec:
    return MetricSpec(
        name=f"lvcorr.{method}",
        higher_is_better=True,
        reference="none",
        value_range=(-1.0, 1.0),
        differentiable=method == "pearson",
        conventions={
            "method": method,
            "legacy": "no paper uses this variant; LVCorr as published is lvcorr.genphoto",
            "sign": "-corr(strength, LV): +1 = more blur, less detail",
            "laplacian": "4-neighbour [[0,1,0],[1,-4,1],[0,1,0]], valid positions",
            "luma": "0.299 R + 0.587 G + 0.114 B on sRGB",
            "strengths": "increase blur (K or 1/f-number), (B, N), N >= 3",
            "images": "(B, N, 3, H, W) or (N, 3, H, W)",
        },
        inputs=("preds", "strengths"),
        description=f"legacy Laplacian-variance correlation with K ({method}); the papers' LVCorr is lvcorr.genphoto",
    )


class LVCorrPearson(_LVCorr):
    spec = _lv_spec("pearson")


class LVCorrSpearman(_LVCorr):
    spec = _lv_spec("spearman")


class LVCorrGenPhoto(RefocusMetric):
    """``lvcorr.genphoto``: preds = the model's sweep, target = the reference sweep, (B, N, 3, H, W)."""

    spec = MetricSpec(
        name="lvcorr.genphoto",
        higher_is_better=True,
        reference="full",
        value_range=(-1.0, 1.0),
        differentiable=True,
        conventions={
            "source": "Generative Photography (Yuan et al., CVPR 2025), comp_metrics/accuracy_by_CorrCoef/"
            "accur_bokehK.py; cited for LVCorr by Bokeh Diffusion, DiffCamera, GenRefocus",
            "lv": "variance of the 4-neighbour Laplacian of the BT.601 luma, whole image, reflect-101 border",
            "trend": "the N - 1 consecutive changes LV_{i+1} - LV_i along increasing K",
            "score": "Pearson(trend of preds, trend of target); no sign flip; NaN where a trend is constant",
            "target": "the reference renderer's images at the same N settings",
            "strengths": "the sweep's K, (B, N), strictly increasing, N >= 3",
        },
        inputs=("preds", "target", "strengths"),
        description="LVCorr (Generative Photography): correlation of Laplacian-variance trends with the reference",
    )

    def _check_inputs(self, preds: Any, target: Any = None, **extra: Any) -> None:
        check(target is not None, "lvcorr.genphoto needs target=<the reference renderings, (B, N, 3, H, W)>")
        check("strengths" in extra, "lvcorr.genphoto needs strengths=<(B, N) increasing blur strengths K>")
        _check_genphoto(preds, target, extra["strengths"])
        self._check_extra(preds, target, **extra)

    def _score(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> torch.Tensor:
        if preds.ndim == 4:
            preds, target = preds[None], target[None]
        return _genphoto_unchecked(preds, target.to(preds))
