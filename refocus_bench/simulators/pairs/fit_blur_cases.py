"""Known-answer pairs for checking a blur fit: simulator renders of the Middlebury scene with known K.

:func:`known_answer_pairs` draws, per pair, a random crop of the Middlebury 2014 Motorcycle RGB-D
scene (as ``make-pairs --source middlebury`` does), a blur gain K log-uniform over ``k_range_px_m``
(pixel-metres, for the crop size), a focus distance uniform in inverse depth between the 10th and
90th depth percentiles, and an aperture from ``apertures`` in turn; the bokeh image is rendered with
``RenderConfig()`` (the settings of :func:`~refocus_bench.simulators.pairs.fit_blur.fit_renderer`).
:func:`warp_depth` and :func:`noisy_depth` corrupt the depth the fit is given.

Example:
    >>> pairs = known_answer_pairs(1, size=32, seed=0)
    >>> pairs[0].bokeh.shape, 5.0 <= pairs[0].k_px_m <= 60.0
    (torch.Size([1, 3, 32, 32]), True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["KnownPair", "known_answer_pairs", "warp_depth", "noisy_depth"]

_SEED_TAG = 16_2026_12_02


@dataclass(frozen=True)
class KnownPair:
    """A simulated pair with its true parameters. Images sRGB (1, 3, H, W); depth metres (1, 1, H, W)."""

    aif: torch.Tensor
    bokeh: torch.Tensor
    depth_m: torch.Tensor
    k_px_m: float
    focus_distance_m: float
    aperture: str


def known_answer_pairs(
    n: int,
    size: int = 96,
    seed: int = 0,
    k_range_px_m: tuple[float, float] = (5.0, 60.0),
    apertures: tuple[str, ...] = ("disk", "hexagon", "disk", "pentagon"),
) -> list[KnownPair]:
    """``n`` known-answer pairs of ``size`` x ``size`` px (deterministic by ``seed``)."""
    from ..render.rgbd import render_bokeh
    from .generate import PairConfig, prepare_scene

    config = PairConfig(size=(size, size), num_scenes=n, sources=(("middlebury", 1.0),), seed=seed, mode="k")
    rng = np.random.default_rng([_SEED_TAG, seed])
    out = []
    for i in range(n):
        scene = prepare_scene(config, i)
        lo, hi = math.log(k_range_px_m[0]), math.log(k_range_px_m[1])
        k = float(math.exp(rng.uniform(lo, hi)))
        q10, q90 = (float(v) for v in torch.quantile(scene.depth.flatten().double(), torch.tensor([0.1, 0.9]).double()))
        s = float(1.0 / rng.uniform(1.0 / q90, 1.0 / q10))
        ap = apertures[i % len(apertures)]
        bokeh = render_bokeh(scene.image, scene.depth, k_px_m=k, focus_distance_m=s, aperture=ap)
        out.append(KnownPair(scene.image, bokeh, scene.depth, k, s, ap))
    return out


def warp_depth(depth_m: torch.Tensor, gamma: float = 1.3) -> torch.Tensor:
    """A monotone warp of depth: ``z_min * (z / z_min) ** gamma`` (metres in, metres out)."""
    z0 = float(depth_m[torch.isfinite(depth_m)].min())
    return z0 * (depth_m / z0) ** gamma


def noisy_depth(depth_m: torch.Tensor, sigma: float = 0.05, seed: int = 0) -> torch.Tensor:
    """Depth times ``exp(N(0, sigma))`` per pixel (independent, deterministic by ``seed``)."""
    g = torch.Generator().manual_seed(seed)
    return depth_m * torch.exp(sigma * torch.randn(depth_m.shape, generator=g, dtype=depth_m.dtype))
