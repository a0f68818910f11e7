"""Procedural layered RGB-D scenes with known hidden content, deterministic by seed.

A :class:`LayeredScene` is a stack of fronto-parallel RGBA planes at metric depths. Because the
content hidden behind occluders is kept, the shift-and-add reference renderer gives the exact
defocused image, and :meth:`LayeredScene.flatten` gives the RGB-D view a camera would record.

Textures are crops of real photographs shipped with scikit-image (``astronaut``, ``coffee``,
``chelsea``, ``rocket``, ``immunohistochemistry``: public-domain or CC0 images, see scikit-image's
data README), so the scenes carry natural image statistics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import check

__all__ = [
    "LayeredScene",
    "RGBDScene",
    "photo_texture",
    "two_plane_scene",
    "dead_leaves_scene",
    "slanted_plane_scene",
    "curved_surface_scene",
    "thin_strands_scene",
    "middlebury_motorcycle",
    "disparity_to_depth_m",
    "TEXTURE_SOURCES",
]

TEXTURE_SOURCES = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")


@dataclass
class LayeredScene:
    """Fronto-parallel RGBA planes.

    Attributes:
        layers: (L, 4, H, W) float32: sRGB straight colour in [0, 1] + coverage alpha, near -> far.
        depth_m: (L,) plane depths in metres, ascending.
    """

    layers: torch.Tensor
    depth_m: torch.Tensor

    def flatten(self, alpha_threshold: float = 0.5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The pinhole (all-in-focus) RGB-D view.

        Returns:
            image (1, 3, H, W) sRGB: the "over" composite in linear light, encoded to sRGB;
            depth (1, 1, H, W) metres: depth of the front-most layer with alpha > threshold;
            front (H, W) long: index of that layer (occlusion edges are where it changes).
        """
        from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb

        lin = rgb_to_linear_rgb(self.layers[:, :3])
        alpha = self.layers[:, 3:4]
        color = torch.zeros_like(lin[0])
        trans = torch.ones_like(alpha[0])
        n, _, h, w = self.layers.shape
        front = torch.full((h, w), n - 1, dtype=torch.long)
        found = torch.zeros(h, w, dtype=torch.bool)
        for i in range(n):
            color = color + trans * lin[i] * alpha[i]
            trans = trans * (1 - alpha[i])
            hit = (alpha[i, 0] > alpha_threshold) & ~found
            front[hit] = i
            found |= hit
        depth = self.depth_m[front][None, None].to(torch.float32)
        return linear_rgb_to_rgb(color.clamp(0, 1))[None], depth, front


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([20251216, int(seed)]))


def photo_texture(size: tuple[int, int], rng: np.random.Generator, source: str | None = None) -> torch.Tensor:
    """A (3, H, W) sRGB crop of a bundled photograph, randomly placed, rescaled to ``size``."""
    import skimage.data

    name = source or TEXTURE_SOURCES[int(rng.integers(len(TEXTURE_SOURCES)))]
    check(name in TEXTURE_SOURCES, lambda: f"source must be one of {TEXTURE_SOURCES}, got {name!r}")
    img = torch.from_numpy(np.asarray(getattr(skimage.data, name)(), dtype=np.float32) / 255.0).permute(2, 0, 1)
    h, w = size
    ih, iw = img.shape[-2:]
    scale = max(h / ih, w / iw) * float(rng.uniform(1.0, 1.6))
    img = F.interpolate(img[None], scale_factor=scale, mode="bilinear", align_corners=False, antialias=True)[0]
    ih, iw = img.shape[-2:]
    y0 = int(rng.integers(0, ih - h + 1))
    x0 = int(rng.integers(0, iw - w + 1))
    return img[:, y0 : y0 + h, x0 : x0 + w].clamp(0, 1).contiguous()


def _supersampled(
    mask_fn, h: int, w: int, sub: int = 4, extent: tuple[float, float, float] | None = None
) -> torch.Tensor:
    """Anti-aliased coverage (1, H, W) of a boolean function of pixel coords (x right, y down).

    ``extent = (cx, cy, radius)`` promises that the shape lies within that disc: only the pixels of
    its bounding box are evaluated (the values are identical, the work is proportional to the box).
    """
    y0, y1, x0, x1 = 0, h, 0, w
    if extent is not None:
        cx, cy, r = extent
        y0, y1 = max(0, int(math.floor(cy - r)) - 1), min(h, int(math.ceil(cy + r)) + 1)
        x0, x1 = max(0, int(math.floor(cx - r)) - 1), min(w, int(math.ceil(cx + r)) + 1)
    out = torch.zeros(1, h, w, dtype=torch.float32)
    if y1 <= y0 or x1 <= x0:
        return out
    ys = (torch.arange(y0 * sub, y1 * sub, dtype=torch.float64) + 0.5) / sub
    xs = (torch.arange(x0 * sub, x1 * sub, dtype=torch.float64) + 0.5) / sub
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    m = mask_fn(gx, gy).to(torch.float64)
    out[:, y0:y1, x0:x1] = F.avg_pool2d(m[None, None], sub)[0].to(torch.float32)
    return out


def _shape_mask(h: int, w: int, rng: np.random.Generator, cx: float, cy: float, radius: float) -> torch.Tensor:
    """A disc or a random convex polygon centred at (cx, cy), anti-aliased, (1, H, W)."""
    if rng.random() < 0.5:
        return _supersampled(lambda x, y: (x - cx) ** 2 + (y - cy) ** 2 <= radius**2, h, w, extent=(cx, cy, radius))
    n = int(rng.integers(3, 8))
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    verts = [(cx + radius * math.cos(a), cy + radius * math.sin(a)) for a in angles]

    def inside(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        ok = torch.ones_like(x, dtype=torch.bool)
        for i in range(n):
            (x0, y0), (x1, y1) = verts[i], verts[(i + 1) % n]
            ok &= (x1 - x0) * (y - y0) - (y1 - y0) * (x - x0) >= 0
        return ok

    return _supersampled(inside, h, w, extent=(cx, cy, radius))


def two_plane_scene(
    size: tuple[int, int] = (256, 256), fg_depth_m: float = 1.5, bg_depth_m: float = 4.0, seed: int = 0
) -> LayeredScene:
    """A textured foreground object (a union of discs) over an opaque textured background plane."""
    check(0 < fg_depth_m < bg_depth_m, lambda: f"need 0 < fg_depth_m < bg_depth_m, got {fg_depth_m}, {bg_depth_m}")
    rng = _rng(seed)
    h, w = size
    bg = torch.cat([photo_texture(size, rng), torch.ones(1, h, w)])
    blobs = [
        (w * rng.uniform(0.3, 0.7), h * rng.uniform(0.3, 0.7), min(h, w) * rng.uniform(0.12, 0.22)) for _ in range(3)
    ]
    alpha = _supersampled(
        lambda x, y: torch.stack([(x - cx) ** 2 + (y - cy) ** 2 <= r * r for cx, cy, r in blobs]).any(0), h, w
    )
    fg = torch.cat([photo_texture(size, rng), alpha])
    return LayeredScene(torch.stack([fg, bg]), torch.tensor([fg_depth_m, bg_depth_m], dtype=torch.float64))


def dead_leaves_scene(
    size: tuple[int, int] = (256, 256),
    n_leaves: int = 24,
    depth_range_m: tuple[float, float] = (1.0, 6.0),
    seed: int = 0,
    point_lights: int = 0,
) -> LayeredScene:
    """Dead-leaves occlusion model: textured discs/polygons at random depths over a background.

    Radii follow the 1/r^3 law of the dead-leaves model (clipped to [4%, 25%] of the short side);
    depths are uniform in inverse depth over ``depth_range_m``, the background sits at the far end.
    ``point_lights`` adds small bright sources (radius 1.5 px, near-white) as their own layers,
    which make the aperture shape visible when defocused.
    """
    check(n_leaves >= 0 and point_lights >= 0, "n_leaves and point_lights must be >= 0")
    near, far = depth_range_m
    check(0 < near < far, lambda: f"depth_range_m must satisfy 0 < near < far, got {depth_range_m}")
    rng = _rng(seed)
    h, w = size
    short = min(h, w)
    layers = [torch.cat([photo_texture(size, rng), torch.ones(1, h, w)])]
    depths = [far]
    rmin, rmax = 0.04 * short, 0.25 * short
    for _ in range(n_leaves):
        u = rng.random()  # inverse-CDF sampling of p(r) ~ r^-3 on [rmin, rmax]
        r = 1.0 / math.sqrt((1 - u) / rmin**2 + u / rmax**2)
        alpha = _shape_mask(h, w, rng, rng.uniform(0, w), rng.uniform(0, h), r)
        layers.append(torch.cat([photo_texture(size, rng), alpha]))
        depths.append(1.0 / rng.uniform(1.0 / far, 1.0 / near))
    for _ in range(point_lights):
        cx, cy = rng.uniform(0.1 * w, 0.9 * w), rng.uniform(0.1 * h, 0.9 * h)
        alpha = _supersampled(lambda x, y: (x - cx) ** 2 + (y - cy) ** 2 <= 1.5**2, h, w, extent=(cx, cy, 1.5))
        tint = torch.tensor(rng.uniform(0.85, 1.0, 3), dtype=torch.float32)[:, None, None].expand(3, h, w)
        layers.append(torch.cat([tint, alpha]))
        depths.append(1.0 / rng.uniform(1.0 / far, 1.0 / near))
    order = np.argsort(depths, kind="stable")
    stack = torch.stack([layers[i] for i in order])
    return LayeredScene(stack, torch.tensor([depths[i] for i in order], dtype=torch.float64))


def slanted_plane_scene(
    size: tuple[int, int] = (256, 256), depth_range_m: tuple[float, float] = (1.0, 6.0), strips: int = 64, seed: int = 0
) -> LayeredScene:
    """A textured plane receding from left to right: depth varies continuously across the frame.

    The plane is cut into ``strips`` vertical strips of one column range each, fronto-parallel at
    depths spaced evenly in inverse depth over ``depth_range_m`` (near on the left), so the RGB-D
    view has a depth ramp with steps far smaller than a layer spacing. Each strip extends 4 px to
    the left under its nearer neighbour (hidden content), so defocus opens no cracks between strips.
    """
    near, far = depth_range_m
    check(0 < near < far, lambda: f"depth_range_m must satisfy 0 < near < far, got {depth_range_m}")
    h, w = size
    check(1 <= strips <= w, lambda: f"strips must be in [1, {w}], got {strips}")
    texture = photo_texture(size, _rng(seed))
    edges = [round(i * w / strips) for i in range(strips + 1)]
    layers, depths = [], []
    for i in range(strips):
        alpha = torch.zeros(1, h, w)
        alpha[:, :, max(0, edges[i] - 4) : edges[i + 1]] = 1.0
        layers.append(torch.cat([texture, alpha]))
        depths.append(1.0 / (1.0 / near + (1.0 / far - 1.0 / near) * (i + 0.5) / strips))
    return LayeredScene(torch.stack(layers), torch.tensor(depths, dtype=torch.float64))


def _level_layers(texture: torch.Tensor, level: torch.Tensor, levels: int, overlap_px: int) -> list[torch.Tensor]:
    """One opaque layer per depth level (level 0 nearest) of a surface with integer levels (H, W): each
    layer holds the pixels of its level and extends ``overlap_px`` under the nearer levels around it."""
    h, w = level.shape
    k = 2 * overlap_px + 1
    layers = []
    for i in range(levels):
        own = (level == i).to(torch.float32)[None, None]
        grown = F.max_pool2d(own, k, stride=1, padding=overlap_px)[0] if overlap_px else own[0]
        alpha = torch.where((level < i)[None], grown, own[0])
        layers.append(torch.cat([texture, alpha]))
    return layers


def curved_surface_scene(
    size: tuple[int, int] = (256, 256), depth_range_m: tuple[float, float] = (1.0, 6.0), levels: int = 64, seed: int = 0
) -> LayeredScene:
    """A textured curved surface filling the frame: a tilted bowl whose depth varies in x and y.

    Inverse depth is ``t = 0.6 * (d / d_max)^2 + 0.4 * u`` rescaled to ``depth_range_m`` (``d``: distance
    from the point (0.35, 0.55) of the unit frame, ``u`` the horizontal coordinate), quantised into
    ``levels`` fronto-parallel levels evenly spaced in inverse depth (nearest at 0). Each level's plane
    extends 4 px under its nearer neighbours (hidden content), as in :func:`slanted_plane_scene`; the
    RGB-D view has curved iso-depth lines and depth gradients in every direction.
    """
    near, far = depth_range_m
    check(0 < near < far, lambda: f"depth_range_m must satisfy 0 < near < far, got {depth_range_m}")
    h, w = size
    check(2 <= levels <= 256, lambda: f"levels must be in [2, 256], got {levels}")
    texture = photo_texture(size, _rng(seed))
    v, u = torch.meshgrid((torch.arange(h) + 0.5) / h, (torch.arange(w) + 0.5) / w, indexing="ij")
    d2 = (u - 0.35) ** 2 + (v - 0.55) ** 2
    t = 0.6 * d2 / d2.max() + 0.4 * u
    t = (t - t.min()) / (t.max() - t.min())
    level = (t * levels).floor().clamp(max=levels - 1).to(torch.long)
    depths = [1.0 / (1.0 / near + (1.0 / far - 1.0 / near) * (i + 0.5) / levels) for i in range(levels)]
    layers = torch.stack(_level_layers(texture, level, levels, 4))
    return LayeredScene(layers, torch.tensor(depths, dtype=torch.float64))


def thin_strands_scene(
    size: tuple[int, int] = (256, 256),
    strands: int = 10,
    strand_depth_m: tuple[float, float] = (1.3, 2.6),
    background_m: float = 6.0,
    seed: int = 0,
) -> LayeredScene:
    """Hair-like strands in front of a far textured background.

    Each strand is a wavy vertical curve ``x = x0 + a sin(2 pi y / p + phi)``, 0.8 to 2.5 px wide
    (anti-aliased), in a dark or fair hair tone, on its own plane at a depth uniform in inverse depth
    over ``strand_depth_m``; the background is an opaque photo texture at ``background_m``.
    """
    lo, hi = strand_depth_m
    check(0 < lo < hi < background_m, lambda: f"need 0 < strand depths < background_m, got {strand_depth_m}")
    check(strands >= 1, lambda: f"strands must be >= 1, got {strands}")
    rng = _rng(seed)
    h, w = size
    layers = [torch.cat([photo_texture(size, rng), torch.ones(1, h, w)])]
    depths = [background_m]
    for _ in range(strands):
        x0, a = rng.uniform(0.1 * w, 0.9 * w), rng.uniform(0.02 * w, 0.12 * w)
        period, phi, half = rng.uniform(0.5 * h, 2.0 * h), rng.uniform(0, 2 * math.pi), rng.uniform(0.4, 1.25)

        def inside(x, y, x0=x0, a=a, period=period, phi=phi, half=half):
            return (x - x0 - a * torch.sin(2 * math.pi * y / period + phi)).abs() <= half

        tone = [(0.12, 0.08, 0.05), (0.75, 0.6, 0.35)][int(rng.integers(2))]
        colour = torch.tensor(tone, dtype=torch.float32) * float(rng.uniform(0.8, 1.2))
        layers.append(torch.cat([colour.clamp(0, 1)[:, None, None].expand(3, h, w), _supersampled(inside, h, w)]))
        depths.append(1.0 / rng.uniform(1.0 / hi, 1.0 / lo))
    order = np.argsort(depths, kind="stable")
    stack = torch.stack([layers[i] for i in order])
    return LayeredScene(stack, torch.tensor([depths[i] for i in order], dtype=torch.float64))


# -- real RGB-D -------------------------------------------------------------------------------
MIDDLEBURY_MOTORCYCLE = {
    "focal_px": 994.978,  # calibration of Middlebury 2014 "Motorcycle" (as shipped in scikit-image)
    "baseline_mm": 193.001,
    "doffs_px": 31.086,
}


@dataclass
class RGBDScene:
    """A real photograph with metric depth.

    Attributes:
        image: (1, 3, H, W) sRGB in [0, 1].
        depth_m: (1, 1, H, W) metres; pixels without ground truth are filled from the nearest
            valid pixel so the map can be rendered.
        valid: (1, 1, H, W) bool, True where the depth is measured (not filled).
        name, licence, citation: provenance.
    """

    image: torch.Tensor
    depth_m: torch.Tensor
    valid: torch.Tensor
    name: str
    licence: str
    citation: str


def disparity_to_depth_m(disparity_px: np.ndarray, focal_px: float, baseline_mm: float, doffs_px: float) -> np.ndarray:
    """Stereo depth ``Z = f * B / (d + doffs)`` in metres (Middlebury convention); NaN where invalid."""
    d = np.asarray(disparity_px, dtype=np.float64)
    valid = np.isfinite(d) & (d + doffs_px > 0)
    z = np.full(d.shape, np.nan)
    z[valid] = focal_px * baseline_mm / (d[valid] + doffs_px) / 1000.0
    return z


def middlebury_motorcycle() -> RGBDScene:
    """Middlebury 2014 "Motorcycle" (left view, 500x741) with ground-truth depth, 2.1 to 5.0 m.

    The disparity shipped by scikit-image (``data.stereo_motorcycle``) marks missing ground truth
    with ``inf``; those 7% of pixels are filled from their nearest valid neighbour and flagged in
    ``valid``.
    """
    import skimage.data
    from scipy import ndimage

    left, _right, disp = skimage.data.stereo_motorcycle()
    z = disparity_to_depth_m(disp, **MIDDLEBURY_MOTORCYCLE)
    valid = np.isfinite(z)
    _, (iy, ix) = ndimage.distance_transform_edt(~valid, return_indices=True)
    filled = z[iy, ix]
    image = torch.from_numpy(np.asarray(left, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    return RGBDScene(
        image=image.contiguous(),
        depth_m=torch.from_numpy(filled.astype(np.float32))[None, None],
        valid=torch.from_numpy(valid)[None, None],
        name="middlebury-2014-motorcycle",
        licence="Middlebury stereo datasets: free for research use, cite the paper (redistributed in scikit-image)",
        citation="D. Scharstein et al., High-resolution stereo datasets with subpixel-accurate ground truth, GCPR 2014",
    )
