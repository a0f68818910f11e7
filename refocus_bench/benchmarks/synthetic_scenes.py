"""Scenes, sample plan and blur settings of the synthetic built-in benchmarks.

Three scene kinds, all :class:`~refocus_bench.simulators.render.scenes.LayeredScene` stacks with their
hidden content (so the shift-and-add reference is exact):

* ``dead-leaves``: 8 textured discs/polygons at depths uniform in inverse depth over a textured
  background (near 0.7-1.5 m, far 4-10 m);
* ``planes``: a textured foreground object (union of discs, 0.8-2 m) over a textured plane (3-10 m);
* ``lights``: 2 dimmed dead leaves over a dimmed background plus two planes of five small near-white
  point lights each (radius 2-3 px), which draw the aperture shape when defocused.

The sample plan is a fixed table: sample ``i`` uses aperture ``APERTURES[i % 3]``, blur level
``BLUR_LEVELS[(i + i // 3) % 3]`` and scene kind ``SCENE_KINDS[(i // 3) % 3]``, so every prefix of
9 samples holds all 9 (aperture, level) pairs. A blur level is a range of the largest ``|CoC|``
(px) over the visible depth map; ``K`` (px*m) is solved to hit a value drawn in that range.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .. import optics
from ..simulators.render.scenes import LayeredScene, dead_leaves_scene, two_plane_scene

__all__ = [
    "APERTURES",
    "BLUR_LEVELS",
    "SCENE_KINDS",
    "MIN_VISIBLE_FRACTION",
    "MIN_REFOCUS_DIOPTRE",
    "plan",
    "blur_level",
    "make_scene",
    "visible_layers",
    "pick_focus",
    "k_for_max_coc",
    "layer_coc_px",
    "coc_map_px",
    "aperture_samples_for",
]

APERTURES = ("disk", "hexagon", "heart")
"""Aperture registry names: a disk, a polygon and a raster shape (``refocus_bench/data/apertures``)."""

BLUR_LEVELS = {"low": (1.5, 4.0), "mid": (4.0, 9.0), "high": (9.0, 16.0)}
"""Blur level -> [low, high) range of the largest |CoC| radius (px) over the visible depth map."""

SCENE_KINDS = ("dead-leaves", "planes", "lights")


def plan(i: int) -> tuple[str, str, str]:
    """(aperture, blur level, scene kind) of sample ``i`` (a Latin design; see the module docstring)."""
    levels = tuple(BLUR_LEVELS)
    return APERTURES[i % 3], levels[(i + i // 3) % 3], SCENE_KINDS[(i // 3) % 3]


def blur_level(max_abs_coc_px: float) -> str:
    """The level whose range holds ``max_abs_coc_px`` (values past the ends go to the end levels)."""
    for name, (lo, hi) in BLUR_LEVELS.items():
        if lo <= max_abs_coc_px < hi:
            return name
    return "low" if max_abs_coc_px < BLUR_LEVELS["low"][0] else "high"


def _disc_coverage(h: int, w: int, discs: list[tuple[float, float, float]], sub: int = 4) -> torch.Tensor:
    """Per-disc anti-aliased coverage (N, H, W) of discs (cx, cy, r) in pixels (x right, y down)."""
    out = torch.zeros(len(discs), h, w, dtype=torch.float32)
    for n, (cx, cy, r) in enumerate(discs):
        y0, y1 = max(0, int(cy - r) - 1), min(h, int(math.ceil(cy + r)) + 1)
        x0, x1 = max(0, int(cx - r) - 1), min(w, int(math.ceil(cx + r)) + 1)
        ys = (torch.arange(y0 * sub, y1 * sub, dtype=torch.float64) + 0.5) / sub
        xs = (torch.arange(x0 * sub, x1 * sub, dtype=torch.float64) + 0.5) / sub
        inside = ((xs[None, :] - cx) ** 2 + (ys[:, None] - cy) ** 2 <= r * r).to(torch.float64)
        cov = torch.nn.functional.avg_pool2d(inside[None, None], sub)[0, 0]
        out[n, y0:y1, x0:x1] = cov.to(torch.float32)
    return out


def _light_layer(h: int, w: int, rng: np.random.Generator, count: int) -> torch.Tensor:
    """(4, H, W) RGBA plane of ``count`` near-white point lights (straight colour)."""
    discs = [
        (rng.uniform(0.1 * w, 0.9 * w), rng.uniform(0.1 * h, 0.9 * h), rng.uniform(2.0, 3.0)) for _ in range(count)
    ]
    tints = torch.tensor(rng.uniform(0.85, 1.0, (count, 3)), dtype=torch.float32)
    cov = _disc_coverage(h, w, discs)
    alpha = cov.sum(0).clamp(max=1.0)
    colour = torch.einsum("nhw,nc->chw", cov, tints) / cov.sum(0).clamp(min=1e-6)
    colour = torch.where(alpha[None] > 0, colour, torch.ones_like(colour)).clamp(0.0, 1.0)
    return torch.cat([colour, alpha[None]])


def _sorted(layers: torch.Tensor, depths: list[float]) -> LayeredScene:
    # depths pass through float32 so the depth map (float32) and the layer depths agree exactly
    d = torch.tensor(depths, dtype=torch.float32).to(torch.float64)
    order = torch.argsort(d, stable=True)
    return LayeredScene(layers[order].contiguous(), d[order])


def make_scene(kind: str, size: tuple[int, int], rng: np.random.Generator) -> tuple[LayeredScene, dict]:
    """A scene of ``kind`` (see :data:`SCENE_KINDS`) drawn with ``rng``; returns (scene, JSON params)."""
    h, w = size
    seed = int(rng.integers(2**31))
    if kind == "planes":
        fg, bg = float(rng.uniform(0.8, 2.0)), float(rng.uniform(3.0, 10.0))
        sc = two_plane_scene(size, fg_depth_m=fg, bg_depth_m=bg, seed=seed)
        return _sorted(sc.layers, sc.depth_m.tolist()), {"kind": kind, "seed": seed, "fg_m": fg, "bg_m": bg}
    near, far = float(rng.uniform(0.7, 1.5)), float(rng.uniform(4.0, 10.0))
    if kind == "dead-leaves":
        sc = dead_leaves_scene(size, n_leaves=8, depth_range_m=(near, far), seed=seed)
        return _sorted(sc.layers, sc.depth_m.tolist()), {
            "kind": kind,
            "seed": seed,
            "near_m": near,
            "far_m": far,
            "leaves": 8,
        }
    if kind == "lights":
        sc = dead_leaves_scene(size, n_leaves=2, depth_range_m=(near, far), seed=seed)
        layers = sc.layers.clone()
        layers[:, :3] *= 0.3  # dim scene: the lights' bokeh discs stand out
        depths = sc.depth_m.tolist()
        light_depths = [1.0 / rng.uniform(1.0 / far, 1.0 / near) for _ in range(2)]
        lights = [_light_layer(h, w, rng, 5) for _ in light_depths]
        stack = torch.cat([layers, torch.stack(lights)])
        return _sorted(stack, depths + light_depths), {
            "kind": kind,
            "seed": seed,
            "near_m": near,
            "far_m": far,
            "leaves": 2,
            "light_depths_m": light_depths,
        }
    raise ValueError(f"unknown scene kind {kind!r}; one of {SCENE_KINDS}")


MIN_VISIBLE_FRACTION = 0.03
"""A layer counts as visible when it is the front-most surface on at least this fraction of the pixels."""

MIN_REFOCUS_DIOPTRE = 0.15
"""Least inverse-depth change (1/m) between the input's and the target's focus distance, when possible."""


def visible_layers(front: torch.Tensor, n_layers: int) -> list[int]:
    """Indices of layers that are the front-most surface on at least :data:`MIN_VISIBLE_FRACTION` of the pixels."""
    counts = torch.bincount(front.flatten(), minlength=n_layers)
    return [i for i in range(n_layers) if counts[i] >= MIN_VISIBLE_FRACTION * front.numel()]


def pick_focus(
    scene: LayeredScene,
    front: torch.Tensor,
    rng: np.random.Generator,
    *,
    away_from_m: float | None = None,
) -> float:
    """A focus distance (m): the depth of a visible layer, at least :data:`MIN_REFOCUS_DIOPTRE` (1/m) from
    ``away_from_m`` when given (falls back to the visible layer farthest from it in inverse depth)."""
    cand = visible_layers(front, scene.layers.shape[0])
    depths = [float(scene.depth_m[i]) for i in cand]
    if away_from_m is not None:
        far_enough = [d for d in depths if abs(1.0 / d - 1.0 / away_from_m) >= MIN_REFOCUS_DIOPTRE]
        if not far_enough:
            return max(depths, key=lambda d: abs(1.0 / d - 1.0 / away_from_m))
        depths = far_enough
    return depths[int(rng.integers(len(depths)))]


def k_for_max_coc(depth_m: torch.Tensor, focus_distance_m: float, max_coc_px: float) -> float:
    """``K`` (px*m) for which the largest |CoC| over ``depth_m`` (metres) is ``max_coc_px``."""
    inv = 1.0 / depth_m.double()
    spread = float((inv - 1.0 / focus_distance_m).abs().max())
    return max_coc_px / max(spread, 1e-9)


def layer_coc_px(scene: LayeredScene, k_px_m: float, focus_distance_m: float) -> torch.Tensor:
    """Signed CoC radius (px) of every layer, (1, L) float32, positive behind the focus plane."""
    return optics.coc_radius_from_k(scene.depth_m, k_px_m, focus_distance_m).to(torch.float32)[None]


def coc_map_px(depth_m: torch.Tensor, k_px_m: float, focus_distance_m: float) -> torch.Tensor:
    """Signed CoC radius map (px), float32 of the shape of ``depth_m`` (metres)."""
    return optics.coc_radius_from_k(depth_m.to(torch.float32), k_px_m, focus_distance_m).to(torch.float32)


def aperture_samples_for(base: int, max_abs_coc_px: float, kind: str) -> int:
    """Aperture points for the reference render of one image: ``base`` for low blur, twice that above
    4 px, and four times that for point lights above 4 px (a small bright source blurred to a disc
    needs the densest sampling: measured worst-16x16-tile PSNR vs twice the points, 15 px disk:
    lights 31/36/41 dB at 64/128/256 points, textured scenes 33-37/43-44 dB at 64/128)."""
    if max_abs_coc_px < BLUR_LEVELS["low"][1]:
        return base
    return base * (4 if kind == "lights" else 2)
