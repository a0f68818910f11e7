"""The in-focus mask of a single photo: a classical, offline stand-in for a segmentation model.

GenRefocus takes the in-focus region M of a real bokeh photo from a segmentation model and sets
D_focus = median(D[M]). Offline, :func:`sharpness_mask` finds the region from the photo alone:

1. detail energy (:func:`sharpness_maps`): the local mean (window ``window_frac`` of the short side,
   at least 7 px) of the fine band (luminance minus its 1 px Gaussian blur) against that of the
   coarser band (1 px minus 3 px blur); their log ratio is a sharpness free of the local contrast;
2. the photo's own blur level: a threshold on that ratio by Otsu's method, which splits the image
   into its sharp and its blurred part wherever both are present
   (only where the coarse detail energy exceeds ``min_contrast``: flat areas carry no evidence);
3. cleaning: binary opening and closing (radius 2 px), holes filled, the largest connected component;
4. the sharper half of that component (ratio at or above its median): the depth of field blurs the
   rim of the in-focus region a little, and its median depth should come from the sharpest part.

:func:`mask_facts` gives the area fraction and the depth spread inside the mask, which the routes
turn into a confidence.

Failure cases (documented in docs/datasets.md): a textureless in-focus subject (skin, sky, a plain
wall) carries no detail energy and is missed; a strongly textured or highlight-rich defocused
background (bokeh disc rims are edges) can win the largest component; noise at high ISO raises the
energy everywhere; a photo sharp everywhere (deep depth of field) has no blurred part, Otsu then cuts
inside the sharp texture and the mask is arbitrary (its area is then large; see the confidence).

Example:
    >>> import torch, torch.nn.functional as F
    >>> img = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    >>> img[..., 32:] = F.avg_pool2d(F.pad(img, [3] * 4, mode="replicate"), 7, stride=1)[..., 32:]
    >>> m = sharpness_mask(img)
    >>> float(m[..., :28].float().mean()) > 0.3, bool(m[..., 36:].any())
    (True, False)
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import check_tensor

__all__ = ["sharpness_mask", "sharpness_maps", "mask_facts"]


def _otsu(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of 1-D ``values`` (the cut maximising the between-class variance)."""
    hist, edges = np.histogram(values, bins=bins)
    centres = 0.5 * (edges[:-1] + edges[1:])
    w0 = np.cumsum(hist).astype(np.float64)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres) / np.maximum(w0, 1)
    m1 = (np.sum(hist * centres) - np.cumsum(hist * centres)) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    return float(centres[int(np.argmax(between))])


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    r = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()
    x = F.conv2d(F.pad(x, [r, r, 0, 0], mode="replicate"), g.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, [0, 0, r, r], mode="replicate"), g.view(1, 1, -1, 1))


def _box(x: torch.Tensor, r: int) -> torch.Tensor:
    return F.avg_pool2d(F.pad(x, [r] * 4, mode="replicate"), 2 * r + 1, stride=1)


def sharpness_maps(image: torch.Tensor, window_frac: float = 1 / 24) -> tuple[torch.Tensor, torch.Tensor]:
    """(fine-to-coarse detail ratio, coarse detail energy), both (H, W), of an sRGB photo (1, 3, H, W).

    Fine detail: local energy of luminance minus its Gaussian blur (sigma 1 px); coarse detail: of
    that blur minus a Gaussian blur of sigma 3 px. Defocus removes the fine band first, so the log
    ratio measures sharpness independently of the local contrast.
    """
    w = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float32).view(1, 3, 1, 1)
    y = (image.float() * w).sum(1, keepdim=True)
    b1, b3 = _blur(y, 1.0), _blur(y, 3.0)
    r = max(3, int(round(window_frac * min(image.shape[-2:]) / 2)))
    fine, coarse = _box((y - b1) ** 2, r), _box((b1 - b3) ** 2, r)
    return (torch.log(fine + 1e-8) - torch.log(coarse + 1e-8))[0, 0], coarse[0, 0]


def sharpness_mask(image: torch.Tensor, *, window_frac: float = 1 / 24, min_contrast: float = 1e-5) -> torch.Tensor:
    """Boolean in-focus mask (1, 1, H, W) of an sRGB photo (1, 3, H, W) in [0, 1]; see the module docstring."""
    from scipy import ndimage

    check_tensor(image, "image", [1, 3, "H", "W"], min_value=0.0, max_value=1.0)
    ratio, coarse = (t.numpy() for t in sharpness_maps(image, window_frac))
    textured = coarse > min_contrast
    if textured.sum() < 16:
        return torch.zeros(1, 1, *image.shape[-2:], dtype=torch.bool)
    mask = textured & (ratio > _otsu(ratio[textured]))
    ball = ndimage.generate_binary_structure(2, 1)
    mask = ndimage.binary_opening(mask, ball, iterations=2)
    mask = ndimage.binary_closing(mask, ball, iterations=2)
    mask = ndimage.binary_fill_holes(mask)
    labels, n = ndimage.label(mask)
    if n > 1:
        sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))
        mask = labels == (1 + int(np.argmax(sizes)))
    if mask.any():  # the sharper half of the region: the depth of field blurs its rim a little
        mask &= ratio >= np.median(ratio[mask])
    return torch.from_numpy(np.ascontiguousarray(mask))[None, None]


def mask_facts(mask: torch.Tensor, depth_m: torch.Tensor) -> dict[str, float | int | list[int] | None]:
    """Facts of an in-focus mask over a depth map (metres, (1, 1, H, W)).

    Returns ``area_fraction``; ``focus_distance_m`` = median depth in the mask (finite depths; None
    when there is none); ``depth_spread`` = (q90 - q10) / median of those depths; the mask's
    centroid ``x``, ``y`` (px) and bounding ``box`` [x0, y0, x1, y1).
    """
    m = mask[0, 0].bool()
    d = depth_m[0, 0]
    inside = d[m & torch.isfinite(d)].double()
    out: dict[str, float | int | list[int] | None] = {"area_fraction": float(m.float().mean())}
    if inside.numel() == 0:
        return {**out, "focus_distance_m": None, "depth_spread": None, "x": None, "y": None, "box": None}
    med = float(inside.median())
    q10, q90 = (float(v) for v in torch.quantile(inside, torch.tensor([0.1, 0.9], dtype=torch.float64)))
    ys, xs = torch.nonzero(m, as_tuple=True)
    box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
    return {
        **out,
        "focus_distance_m": med,
        "depth_spread": (q90 - q10) / med,
        "x": int(xs.float().mean().round()),
        "y": int(ys.float().mean().round()),
        "box": box,
    }
