"""Generators of the K-sweep benchmarks ``synthetic-bokeh-sweep`` and ``synthetic-refocus-sweep`` (LVCorr).

LVCorr (:func:`~refocus_bench.metrics.bokeh.lvcorr_genphoto`) compares the trend of the Laplacian
variance over a blur-strength sweep with the trend of the ground truth over the same sweep. Each sample
is one scene and its whole sweep:

* the same all-in-focus image, depth, focus plane and aperture at every step; only ``K`` changes;
* the sweep's ``K`` values are the same for every scene (``SWEEP_K_PX_M``: 2 to 24 px*m, 8 values), and
  every scene's inverse depths are remapped affinely (order and occlusions kept) so that the largest
  ``|1/z - 1/z_focus|`` over the frame is :data:`SWEEP_SPREAD_PER_M`: the largest CoC of the steps is
  1, 2, 3, 4, 6, 8, 10, 12 px in every scene. This is Generative Photography's and BokehMe's setting, whose
  ``K`` multiplies a disparity normalised to [0, 1] per image;
* the focus plane is a visible layer covering at most half of the frame, and a scene is kept only when
  its *defocused part* carries at least half of the reference's Laplacian-variance change
  (:func:`defocused_share`), as in photographs with a subject in focus and a textured background; where
  the in-focus subject's outline carries the change instead, LVCorr scores how a renderer draws that
  outline (RGB-D renderers harden it), not whether its blur follows K;
* ground truth: :func:`~refocus_bench.benchmarks.ground_truth.render_truth` (the layered renderer's exact
  mode where its cells have converged, else the exact shift-and-add render) at every step, stored as
  ``metric_inputs["target_sweep"]`` (1, N, 3, H, W); ``target`` is its middle
  step (the one the runner keeps as the example prediction).

``synthetic-bokeh-sweep``: input = the all-in-focus image. ``synthetic-refocus-sweep``: input = the scene
rendered with another focus plane (at least 0.15 dioptre away after the remap, when the scene has one),
a largest CoC drawn in [2, 8] px and the next aperture of the cycle. Scene kinds and apertures follow
:func:`~refocus_bench.benchmarks.synthetic_scenes.plan` (every aperture gets a third of the scenes).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import check
from ..metrics.bokeh import laplacian_map
from ..simulators.render.scenes import LayeredScene
from .builtin_specs import SPECS, SWEEP_K_PX_M
from .generated import DataSource, GeneratedBenchmark, GeneratedSample, source_options
from .ground_truth import render_exact, render_truth
from .synthetic_scenes import (
    APERTURES,
    MIN_REFOCUS_DIOPTRE,
    aperture_samples_for,
    coc_map_px,
    layer_coc_px,
    make_scene,
    plan,
    visible_layers,
)

__all__ = [
    "SWEEP_K_PX_M",
    "SWEEP_SPREAD_PER_M",
    "SWEEP_CONFIG",
    "DATA_VERSION",
    "MAX_FOCUS_FRACTION",
    "FAR_INVERSE_DEPTH_PER_M",
    "MIN_DEFOCUSED_SHARE",
    "SWEEP_BORDER_PX",
    "sweep_source",
    "normalise_spread",
    "defocused_share",
    "synthetic_bokeh_sweep",
    "synthetic_refocus_sweep",
]

SWEEP_SPREAD_PER_M = 0.5
"""Largest ``|1/z - 1/z_focus|`` (1/m) of every sweep scene after the remap."""

FAR_INVERSE_DEPTH_PER_M = 0.1
"""The remap puts no layer farther than 10 m (inverse depth >= 0.1 1/m)."""

MAX_FOCUS_FRACTION = 0.5
"""The focused layer is the front-most surface on at most this fraction of the frame (when one such
visible layer exists)."""

DATA_VERSION = "3"  # 2: targets from the exact mode (render_truth); 3: its one-pass engine (float32 rounding, <= 2e-6)
SWEEP_CONFIG = {"num_samples": 12, "size": [128, 128], "seed": 0, "aperture_samples": 64}
"""Default generation settings of both sweep benchmarks."""

MIN_DEFOCUSED_SHARE = 0.5
"""A sweep scene is kept when its defocused part carries at least this share of the reference's
Laplacian-variance change (:func:`defocused_share`); otherwise another focus plane, then another scene, is drawn."""

MAX_SCENE_DRAWS = 20
SWEEP_BORDER_PX = int(SPECS["synthetic-bokeh-sweep"].preprocessing["border_crop_px"])
"""The sweep benchmarks' border crop (px): the largest CoC radius."""

_CHECK_SAMPLES = 32
_TAG = {"bokeh": 11, "refocus": 12}
_SEED_TAG = 7_2026_12_02
_SOURCE_MAX_COC_PX = (2.0, 8.0)


def _rng(task: str, seed: int, i: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([_SEED_TAG, _TAG[task], int(seed), int(i)]))


def normalise_spread(scene: LayeredScene, focus_m: float) -> tuple[LayeredScene, float]:
    """Remap a scene's inverse depths affinely so that its largest ``|1/z - 1/z_focus|`` is
    :data:`SWEEP_SPREAD_PER_M` and no layer is farther than 10 m; returns (scene, new focus distance m).

    ``focus_m`` must be the depth of one of the layers; the CoC of every layer at any ``K`` is then that of
    the original scene scaled by one factor, so the picture (occlusions, which layer is in focus) is kept.
    """
    inv = 1.0 / scene.depth_m.to(torch.float64)
    inv_f = 1.0 / float(focus_m)
    spread = float((inv - inv_f).abs().max())
    check(spread > 0, "a sweep scene needs layers at more than one depth")
    scale = SWEEP_SPREAD_PER_M / spread
    shift = max(inv_f, FAR_INVERSE_DEPTH_PER_M + scale * (inv_f - float(inv.min())))
    new_inv = shift + scale * (inv - inv_f)
    # depths pass through float32 so the flattened depth map and the layer depths agree exactly
    depth = (1.0 / new_inv).to(torch.float32).to(torch.float64)
    return LayeredScene(scene.layers, depth), float(depth[int(torch.argmin((inv - inv_f).abs()))])


def _focus_candidates(scene: LayeredScene, front: torch.Tensor, rng: np.random.Generator) -> list[float]:
    """Depths of the visible layers covering at most :data:`MAX_FOCUS_FRACTION` of the frame (every
    visible layer if none does), in a random order."""
    n = scene.layers.shape[0]
    vis = visible_layers(front, n)
    counts = torch.bincount(front.flatten(), minlength=n)
    small = [i for i in vis if counts[i] <= MAX_FOCUS_FRACTION * front.numel()] or vis
    return [float(scene.depth_m[small[j]]) for j in rng.permutation(len(small))]


def _source_focus(scene: LayeredScene, front: torch.Tensor, rng: np.random.Generator, away_from_m: float) -> float:
    """A refocus input's focus: a visible layer at least :data:`MIN_REFOCUS_DIOPTRE` from ``away_from_m``
    (the farthest in inverse depth if none is)."""
    depths = [float(scene.depth_m[i]) for i in visible_layers(front, scene.layers.shape[0])]
    far = [d for d in depths if abs(1.0 / d - 1.0 / away_from_m) >= MIN_REFOCUS_DIOPTRE]
    if not far:
        return max(depths, key=lambda d: abs(1.0 / d - 1.0 / away_from_m))
    return far[int(rng.integers(len(far)))]


def defocused_share(first: torch.Tensor, last: torch.Tensor, coc_last_px: torch.Tensor, border_px: int) -> float:
    """Share of the change of the Laplacian variance between the sharpest and the most blurred step of a
    reference sweep that lies in the *defocused part*: pixels farther (Chebyshev) than the largest ``|CoC|``
    from any in-focus pixel (``|CoC| <= 1`` px at the last step). Scores skip ``border_px`` on every side.

    Args:
        first, last: sRGB (1, 3, H, W), the first and last step of the reference sweep.
        coc_last_px: signed CoC (1, 1, H, W) px of the last step.
        border_px: the benchmark's border crop.
    """
    lap2 = laplacian_map(torch.cat([first, last]).double(), border="reflect").pow(2)
    change = (lap2[0] - lap2[1])[0]
    radius = int(math.ceil(float(coc_last_px.abs().max())))
    near = F.max_pool2d((coc_last_px.abs() <= 1.0).double(), 2 * radius + 1, stride=1, padding=radius)[0, 0] > 0
    b = slice(border_px, -border_px) if border_px else slice(None)
    change, near = change[b, b], near[b, b]
    total = float(change.sum())
    return float(change[~near].sum()) / total if total > 0 else 0.0


def _render(scene: LayeredScene, k: float, s: float, aperture: str, samples: int) -> tuple[torch.Tensor, dict]:
    return render_truth(scene.layers, layer_coc_px(scene, k, s)[0], aperture, samples)


def _sweep_scene(i: int, rng: np.random.Generator, config: Mapping[str, Any]) -> dict[str, Any]:
    """Draw scenes and focus planes until the defocused part carries at least :data:`MIN_DEFOCUSED_SHARE`
    of the reference's Laplacian-variance change; render the reference sweep. Gives up after
    :data:`MAX_SCENE_DRAWS` scenes (an error: the generator's settings cannot meet the rule)."""
    size = tuple(int(v) for v in config["size"])
    base, ks = int(config["aperture_samples"]), [float(k) for k in config["k_values_px_m"]]
    aperture, _, kind = plan(i)
    rejected = 0
    for _ in range(MAX_SCENE_DRAWS):
        scene0, params = make_scene(kind, size, rng)
        _, _, front0 = scene0.flatten()
        for focus in _focus_candidates(scene0, front0, rng):
            scene, s = normalise_spread(scene0, focus)
            aif, depth, front = scene.flatten()
            counts = [aperture_samples_for(base, float(coc_map_px(depth, k, s).abs().max()), kind) for k in ks]
            first = _render(scene, ks[0], s, aperture, counts[0])
            rough_last = render_exact(  # enough for a share
                scene.layers, layer_coc_px(scene, ks[-1], s)[0], aperture, _CHECK_SAMPLES
            )
            share = defocused_share(first[0], rough_last, coc_map_px(depth, ks[-1], s), SWEEP_BORDER_PX)
            if share < MIN_DEFOCUSED_SHARE:
                rejected += 1
                continue
            sweep = [first] + [_render(scene, k, s, aperture, n) for k, n in zip(ks[1:], counts[1:])]
            return dict(
                scene=scene,
                params=params,
                focus=s,
                aif=aif,
                depth=depth,
                front=front,
                sweep=sweep,
                share=share,
                rejected=rejected,
                aperture=aperture,
                kind=kind,
            )
    raise RuntimeError(f"sweep sample {i}: no {kind} scene met the defocused-share rule in {MAX_SCENE_DRAWS} draws")


def _generate(task: str, config: Mapping[str, Any], report: dict[str, Any]) -> Iterator[GeneratedSample]:
    base, ks = int(config["aperture_samples"]), [float(k) for k in config["k_values_px_m"]]
    report["rejected_focus_planes"] = 0
    for i in range(int(config["num_samples"])):
        rng = _rng(task, config["seed"], i)
        sc = _sweep_scene(i, rng, config)
        report["rejected_focus_planes"] += sc["rejected"]
        scene, s, depth, aperture, kind = sc["scene"], sc["focus"], sc["depth"], sc["aperture"], sc["kind"]
        mid = len(ks) // 2
        meta = {
            "scene": sc["params"],
            "layers_depth_m": [round(float(d), 6) for d in scene.depth_m],
            "k_values_px_m": ks,
            "max_abs_coc_px": [round(float(coc_map_px(depth, k, s).abs().max()), 4) for k in ks],
            "ground_truth": [record for _, record in sc["sweep"]],
            "defocused_share": round(sc["share"], 4),
        }
        cond: dict[str, Any] = {"depth_m": depth, "focus_distance_m": s, "k_px_m": ks[mid], "aperture": aperture}
        image = sc["aif"]
        if task == "refocus":
            s_a = _source_focus(scene, sc["front"], rng, away_from_m=s)
            m_a = float(rng.uniform(*_SOURCE_MAX_COC_PX))
            k_a = m_a / SWEEP_SPREAD_PER_M
            ap_a = APERTURES[(APERTURES.index(aperture) + 1) % len(APERTURES)]
            n_a = aperture_samples_for(base, m_a, kind)
            image, source_truth = _render(scene, k_a, s_a, ap_a, n_a)
            cond["input_coc_px"] = coc_map_px(depth, k_a, s_a)
            meta["source"] = {"focus_distance_m": s_a, "k_px_m": k_a, "aperture": ap_a, "ground_truth": source_truth}
        target_sweep = torch.stack([x[0][0] for x in sc["sweep"]])[None]  # (1, N, 3, H, W)
        yield GeneratedSample(
            f"{i:04d}",
            image,
            sc["sweep"][mid][0],
            cond,
            {"coc": coc_map_px(depth, ks[mid], s), "target_sweep": target_sweep},
            {"aperture": aperture, "scene": kind},
            meta,
        )


def sweep_source(
    task: str,
    *,
    num_samples: int | None = None,
    size: tuple[int, int] | None = None,
    seed: int = 0,
    aperture_samples: int | None = None,
) -> DataSource:
    """The :class:`DataSource` of ``synthetic-<task>-sweep`` (defaults :data:`SWEEP_CONFIG`)."""
    check(task in _TAG, lambda: f"task must be one of {tuple(_TAG)}, got {task!r}")
    cfg: dict[str, Any] = {**SWEEP_CONFIG, "k_values_px_m": list(SWEEP_K_PX_M)}
    default = dict(cfg)
    source_options(cfg, num_samples=num_samples, size=size, min_side=64, seed=seed, aperture_samples=aperture_samples)
    return DataSource(f"synthetic-{task}-sweep", DATA_VERSION, task, cfg, default, functools.partial(_generate, task))


def _make(
    task: str,
    *,
    cache_dir: str | Path | None = None,
    num_samples: int | None = None,
    size: tuple[int, int] | None = None,
    seed: int = 0,
    aperture_samples: int | None = None,
    on_corrupt: str = "rebuild",
    progress: bool = True,
) -> GeneratedBenchmark:
    src = sweep_source(task, num_samples=num_samples, size=size, seed=seed, aperture_samples=aperture_samples)
    spec = SPECS[f"synthetic-{task}-sweep"]
    return GeneratedBenchmark(spec, src, cache_dir=cache_dir, on_corrupt=on_corrupt, progress=progress)


def synthetic_bokeh_sweep(**kw: Any) -> GeneratedBenchmark:
    """Bokeh controllability: LVCorr of a K sweep from the all-in-focus image against the exact sweep.

    Keywords: ``cache_dir``, ``num_samples``, ``size``, ``seed``, ``aperture_samples``, ``on_corrupt``,
    ``progress`` (as :func:`~refocus_bench.benchmarks.synthetic.make_synthetic`).
    """
    return _make("bokeh", **kw)


def synthetic_refocus_sweep(**kw: Any) -> GeneratedBenchmark:
    """Refocus controllability: LVCorr of a K sweep from a defocused image against the exact sweep
    (keywords as :func:`synthetic_bokeh_sweep`)."""
    return _make("refocus", **kw)
