"""Synthetic deblur and bokeh pairs for training and evaluating ``genrefocus.tiny``.

Until :mod:`refocus_bench.simulators.pairs.generate` lands, this module builds pairs directly from the
simulator: a procedural layered scene (dead leaves or two planes, with hidden content) is rendered
*exactly* with :func:`~refocus_bench.simulators.render.layered.render_layered` (every plane blurred at its
own radius, composited front to back), so the targets carry correct occlusion effects that an RGB-D
renderer can only approximate.

Each pair holds, for one scene (``size`` x ``size``):

* ``aif`` (3, H, W) sRGB and ``depth`` (1, H, W) metres: the pinhole RGB-D view;
* ``blurry`` (3, H, W) sRGB: the scene defocused by (``k_in``, ``focus_in``, a round aperture) and
  ``coc_in`` (1, H, W) its signed CoC in pixels (the oracle for deconvolution baselines);
* ``bokeh`` (3, H, W) sRGB: the scene defocused by (``k_out``, ``focus_out``, ``aperture_out``).

Blur strengths are drawn so the largest |CoC| in the frame is uniform in ``[1, max_coc_px]``.
Splits are disjoint seed ranges (:data:`SPLIT_SEEDS`), so held-out pairs never share a scene with
training pairs. Everything is deterministic by seed.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from ...errors import check
from ...hashing import tensors_sha256
from ...simulators.render.config import RenderConfig
from ...simulators.render.layered import render_layered
from ...simulators.render.scenes import dead_leaves_scene, two_plane_scene

# The tiny model's data (v1) is rendered with the whole aperture at once; pinned so that its data hashes
# do not change with the renderer's automatic sub-aperture setting.
_RENDER = RenderConfig(aperture_splits=1, coarse_radius_px=3.0)  # the settings the shipped weights were trained with

__all__ = [
    "SPLIT_SEEDS",
    "INPUT_APERTURES",
    "OUTPUT_APERTURES",
    "MAX_COC_IN_PX",
    "MAX_COC_OUT_PX",
    "make_pair",
    "make_pairs",
    "pairs_digest",
]

SPLIT_SEEDS = {"train": 0, "val": 5_000_000, "test": 10_000_000}
"""First scene seed of each split; pair ``i`` of a split uses scene seed ``SPLIT_SEEDS[split] + i``."""

INPUT_APERTURES = ("disk", "hexagon", "octagon", "nonagon-rounded")
"""Apertures of the defocused inputs (real lenses: round or many-bladed)."""

OUTPUT_APERTURES = ("disk", "hexagon", "pentagon", "octagon", "triangle-blades", "heart", "star", "annulus")
"""Apertures of the bokeh targets (creative shapes included)."""

MAX_COC_IN_PX = 12.0
"""Largest |CoC| (px) of a defocused input: each pair draws its maximum uniformly from [1, 12]."""

MAX_COC_OUT_PX = 16.0
"""Largest |CoC| (px) of a bokeh target: each pair draws its maximum uniformly from [1, 16]."""


def _coc_layers(depths: torch.Tensor, k: float, s: float) -> torch.Tensor:
    return (k * (1.0 / s - 1.0 / depths)).to(torch.float32)


def _strength(depths_visible: torch.Tensor, s: float, max_coc_px: float) -> float:
    spread = float((1.0 / s - 1.0 / depths_visible.double()).abs().max())
    return max_coc_px / max(spread, 1e-6)


def make_pair(seed: int, size: int = 192) -> dict[str, torch.Tensor]:
    """One deterministic pair; see the module docstring for the keys (no batch dimension)."""
    check(size >= 32, lambda: f"size must be >= 32 px, got {size}")
    rng = np.random.default_rng(np.random.SeedSequence([77_2025, int(seed)]))
    if rng.random() < 0.8:
        near, far = float(rng.uniform(0.6, 1.5)), float(rng.uniform(4.0, 15.0))
        scene = dead_leaves_scene(
            (size, size),
            n_leaves=int(rng.integers(6, 31)),
            depth_range_m=(near, far),
            seed=int(seed),
            point_lights=int(rng.integers(0, 5)),
        )
    else:
        scene = two_plane_scene(
            (size, size),
            fg_depth_m=float(rng.uniform(0.8, 2.0)),
            bg_depth_m=float(rng.uniform(3.0, 10.0)),
            seed=int(seed),
        )
    aif, depth, front = scene.flatten()
    visible = scene.depth_m[torch.unique(front)]
    flat = depth.flatten()

    s_in = float(flat[int(rng.integers(flat.numel()))])
    k_in = _strength(visible, s_in, float(rng.uniform(1.0, MAX_COC_IN_PX)))
    ap_in = INPUT_APERTURES[int(rng.integers(len(INPUT_APERTURES)))]
    blurry = render_layered(
        scene.layers[None], coc_px=_coc_layers(scene.depth_m, k_in, s_in)[None], aperture=ap_in, config=_RENDER
    )

    s_out = float(flat[int(rng.integers(flat.numel()))])
    k_out = _strength(visible, s_out, float(rng.uniform(1.0, MAX_COC_OUT_PX)))
    ap_idx = int(rng.integers(len(OUTPUT_APERTURES)))
    bokeh = render_layered(
        scene.layers[None],
        coc_px=_coc_layers(scene.depth_m, k_out, s_out)[None],
        aperture=OUTPUT_APERTURES[ap_idx],
        config=_RENDER,
    )
    return {
        "aif": aif[0],
        "depth": depth[0],
        "blurry": blurry[0].to(torch.float32),
        "coc_in": (k_in * (1.0 / s_in - 1.0 / depth[0].double())).to(torch.float32),
        "bokeh": bokeh[0].to(torch.float32),
        "k_in": torch.tensor(k_in, dtype=torch.float64),
        "focus_in": torch.tensor(s_in, dtype=torch.float64),
        "k_out": torch.tensor(k_out, dtype=torch.float64),
        "focus_out": torch.tensor(s_out, dtype=torch.float64),
        "aperture_out": torch.tensor(ap_idx, dtype=torch.int64),
        "seed": torch.tensor(int(seed), dtype=torch.int64),
    }


def _make_one(args: tuple[int, int]) -> dict[str, torch.Tensor]:
    torch.set_num_threads(1)
    seed, size = args
    return make_pair(seed, size)


def make_pairs(split: str, count: int, size: int = 192, workers: int = 1) -> dict[str, torch.Tensor]:
    """``count`` pairs of ``split`` stacked along a batch dimension (images quantised to 8 bits).

    Images are rounded to 8-bit levels (stored as float32 in [0, 1]), as in a real photo file.
    """
    check(split in SPLIT_SEEDS, lambda: f"split must be one of {sorted(SPLIT_SEEDS)}, got {split!r}")
    check(isinstance(count, int) and count > 0, lambda: f"count must be a positive int, got {count!r}")
    jobs = [(SPLIT_SEEDS[split] + i, size) for i in range(count)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            items = list(pool.map(_make_one, jobs, chunksize=4))
    else:
        items = [make_pair(s, sz) for s, sz in jobs]
    out = {k: torch.stack([it[k] for it in items]) for k in items[0]}
    for k in ("aif", "blurry", "bokeh"):
        out[k] = torch.round(out[k].clamp(0, 1) * 255.0) / 255.0
    return out


def pairs_digest(pairs: dict[str, torch.Tensor]) -> str:
    """sha256 over the keys, dtypes, shapes and bytes of a pair set (the data hash of a report).

    :func:`~refocus_bench.hashing.tensors_sha256` of ``pairs``.
    """
    return tensors_sha256(pairs)
