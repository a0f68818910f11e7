"""Inputs of the real-photo routes: bringing a photo and its depth to the output size, reading depth.

:func:`cover_crop` scales an image (and its depth) so that it covers the output size and cuts the
centre out; a blur gain K in pixel-metres scales with the image, so callers multiply K by the
returned scale. :func:`depth_for` gives the depth of an image from a depth file (checked against the
image size, the error names the file) or from a registered depth estimator
(:mod:`refocus_bench.models.depth`).

Example:
    >>> img = torch.rand(1, 3, 60, 80)
    >>> out, depth, scale = cover_crop(img, torch.ones(1, 1, 60, 80), (30, 30))
    >>> tuple(out.shape), tuple(depth.shape), scale
    ((1, 3, 30, 30), (1, 1, 30, 30), 0.5)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ...errors import check

__all__ = ["cover_crop", "depth_for", "check_same_size", "find_depth_file", "DEPTH_FOLDER_SUFFIXES"]

DEPTH_FOLDER_SUFFIXES = (".exr", ".npy", ".png")
"""Depth files looked up by image stem in a depth folder, in this order (metres; 16-bit PNG in mm)."""


def cover_crop(
    image: torch.Tensor, depth_m: torch.Tensor | None, size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor | None, float]:
    """Scale to cover ``size`` = (H, W) px and crop the centre.

    Image: sRGB (1, 3, h, w), bilinear with antialiasing; depth: metres (1, 1, h, w), nearest (no
    depth is invented between surfaces). Returns (image, depth, scale); scale = output px / input px.
    """
    h, w = image.shape[-2:]
    th, tw = size
    scale = max(th / h, tw / w)
    nh, nw = max(th, round(h * scale)), max(tw, round(w * scale))
    if (nh, nw) != (h, w):
        image = F.interpolate(image, size=(nh, nw), mode="bilinear", align_corners=False, antialias=True)
        image = image.clamp(0.0, 1.0)
        if depth_m is not None:
            depth_m = F.interpolate(depth_m, size=(nh, nw), mode="nearest")
    y0, x0 = (nh - th) // 2, (nw - tw) // 2
    image = image[..., y0 : y0 + th, x0 : x0 + tw].contiguous()
    if depth_m is not None:
        depth_m = depth_m[..., y0 : y0 + th, x0 : x0 + tw].contiguous()
    return image, depth_m, float(scale)


def check_same_size(a: torch.Tensor, a_name: str, b: torch.Tensor, b_name: str) -> None:
    """Raise InvalidInputError naming both files when two maps differ in (H, W)."""
    check(
        a.shape[-2:] == b.shape[-2:],
        lambda: f"{b_name} is {b.shape[-1]}x{b.shape[-2]} px but {a_name} is {a.shape[-1]}x{a.shape[-2]} px; "
        "they must have the same size",
    )


def find_depth_file(folder: str | os.PathLike[str], stem: str) -> Path | None:
    """The depth file of ``stem`` in ``folder`` (first of :data:`DEPTH_FOLDER_SUFFIXES`), or None."""
    for suffix in DEPTH_FOLDER_SUFFIXES:
        p = Path(folder) / f"{stem}{suffix}"
        if p.is_file():
            return p
    return None


def depth_for(
    image: torch.Tensor,
    image_name: str,
    *,
    depth_file: str | os.PathLike[str] | None = None,
    estimator: Any = None,
    png_scale_m: float = 1e-3,
) -> torch.Tensor:
    """Depth (1, 1, H, W) metres of ``image`` (sRGB (1, 3, H, W)): from ``depth_file`` or ``estimator``.

    A depth file of another size than the image is an InvalidInputError naming both files.
    """
    from ...io import read_depth

    check(depth_file is not None or estimator is not None, lambda: f"no depth for {image_name}")
    if depth_file is not None:
        depth = read_depth(depth_file, png_scale_m=png_scale_m, name=str(depth_file))
        check_same_size(image, image_name, depth, str(depth_file))
        check(
            bool((depth > 0).all()),
            lambda: f"{depth_file}: depth must be > 0 m (inf allowed), got minimum {float(depth.min()):g}",
        )
        return depth.float()
    return estimator.estimate(image).float()
