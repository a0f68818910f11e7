"""Generators and factories of ``synthetic-deblur``, ``synthetic-bokeh`` and ``synthetic-refocus``.

Every sample draws a procedural layered scene (:mod:`~refocus_bench.benchmarks.synthetic_scenes`)
and renders its defocused images with :func:`~refocus_bench.benchmarks.ground_truth.render_truth`: the
layered renderer's exact mode where its footprint cells have converged, else the exact shift-and-add
reference with 64 Sobol aperture points for low blur, 128 above 4 px and 256 for point lights above 4 px
(:func:`aperture_samples_for`); each sample's ``meta["ground_truth"]`` says which. The manifest's
``report.convergence`` records the PSNR of the most blurred target against an independent shift-and-add
render with twice those points (whole image and worst 16x16 tile).

========== =============================== ================================ =========================================
benchmark  image (input)                   target                           condition (model kwargs)
========== =============================== ================================ =========================================
deblur     defocused (focus s, K, ap)      all-in-focus (pinhole composite) ``coc_px`` oracle (1, 1, H, W) px
bokeh      all-in-focus                    defocused (s, K, ap)             ``depth_m``, ``focus_distance_m``,
                                                                            ``k_px_m``, ``aperture``
refocus    defocused (s_A, K_A, ap_A)      defocused (s_B, K_B, ap_B)       as bokeh, with B's values, +
                                                                            ``input_coc_px`` oracle (A's CoC)
========== =============================== ================================ =========================================

Bokeh and refocus samples carry the target's signed CoC map as ``metric_inputs["coc"]`` (edge-band
metrics). Focus planes are depths of visible layers (an object is in focus); a refocus target is
focused at least 0.15 dioptre away from its source, with an independently drawn blur level and the
next aperture of the cycle. Generation is seeded per sample (``SeedSequence([tag, task, seed, i])``),
so sample ``i`` is the same whatever ``num_samples`` is.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import check
from .builtin_specs import DATA_OF, SPECS
from .generated import DataSource, GeneratedBenchmark, GeneratedSample, source_options
from .ground_truth import convergence, render_exact, render_truth
from .synthetic_scenes import (
    APERTURES,
    BLUR_LEVELS,
    aperture_samples_for,
    blur_level,
    coc_map_px,
    k_for_max_coc,
    layer_coc_px,
    make_scene,
    pick_focus,
    plan,
)

__all__ = [
    "DATA_VERSION",
    "DEFAULT_CONFIG",
    "NUM_SAMPLES",
    "synthetic_source",
    "make_synthetic",
    "synthetic_deblur",
    "synthetic_deblur_oracle_coc",
    "synthetic_bokeh",
    "synthetic_bokeh_oracle",
    "synthetic_refocus",
]

DATA_VERSION = "3"  # 2: targets from the exact mode (render_truth); 3: its one-pass engine (float32 rounding, <= 2e-6)
DEFAULT_CONFIG = {"num_samples": 16, "size": [256, 256], "seed": 0, "aperture_samples": 64}
NUM_SAMPLES = {"deblur": 16, "bokeh": 16, "refocus": 12}
_TASK_TAG = {"deblur": 1, "bokeh": 2, "refocus": 3}
_SEED_TAG = 7_2025_11_26


def _rng(task: str, seed: int, i: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([_SEED_TAG, _TASK_TAG[task], int(seed), int(i)]))


def _setting(scene, depth, front, rng, level, away_from_m=None) -> tuple[float, float, float]:
    """(focus m, K px*m, realised max |CoC| px) for a blur level."""
    s = pick_focus(scene, front, rng, away_from_m=away_from_m)
    lo, hi = BLUR_LEVELS[level]
    target = float(rng.uniform(lo, hi))
    k = k_for_max_coc(depth, s, target)
    m = float(coc_map_px(depth, k, s).abs().max())
    return s, k, m


def _render(scene, k: float, s: float, aperture: str, samples: int) -> tuple[torch.Tensor, dict[str, Any]]:
    return render_truth(scene.layers, layer_coc_px(scene, k, s)[0], aperture, samples)


def _generate(task: str, config: Mapping[str, Any], report: dict[str, Any]) -> Iterator[GeneratedSample]:
    size = tuple(int(v) for v in config["size"])
    base = int(config["aperture_samples"])
    worst: dict[str, Any] | None = None
    for i in range(int(config["num_samples"])):
        rng = _rng(task, config["seed"], i)
        aperture, level, kind = plan(i)
        scene, params = make_scene(kind, size, rng)
        aif, depth, front = scene.flatten()
        s, k, m = _setting(scene, depth, front, rng, level)
        n_ap = aperture_samples_for(base, m, kind)
        subset = {"aperture": aperture, "blur": blur_level(m), "scene": kind}
        meta: dict[str, Any] = {
            "scene": params,
            "layers": int(scene.layers.shape[0]),
            "max_abs_coc_px": m,
        }
        rendered, meta["ground_truth"] = _render(scene, k, s, aperture, n_ap)
        setting = {"focus_distance_m": s, "k_px_m": k, "aperture": aperture}
        key = (m, kind == "lights")
        if worst is None or key > worst["key"]:
            worst = {"key": key, "id": f"{i:04d}", "scene": scene, "setting": setting, "n": n_ap, "image": rendered}
            worst["method"] = meta["ground_truth"]["method"]
        if task == "deblur":
            yield GeneratedSample(
                f"{i:04d}", rendered, aif, {"coc_px": coc_map_px(depth, k, s)}, {}, subset, {**meta, **setting}
            )
        elif task == "bokeh":
            cond = {"depth_m": depth, **setting}
            yield GeneratedSample(f"{i:04d}", aif, rendered, cond, {"coc": coc_map_px(depth, k, s)}, subset, meta)
        else:
            src_ap = APERTURES[(APERTURES.index(aperture) + 1) % len(APERTURES)]
            src_level = tuple(BLUR_LEVELS)[int(rng.integers(len(BLUR_LEVELS)))]
            s_a, k_a, m_a = _setting(scene, depth, front, rng, src_level, away_from_m=s)
            n_a = aperture_samples_for(base, m_a, kind)
            source, source_truth = _render(scene, k_a, s_a, src_ap, n_a)
            cond = {"depth_m": depth, **setting, "input_coc_px": coc_map_px(depth, k_a, s_a)}
            meta["source"] = {
                "focus_distance_m": s_a,
                "k_px_m": k_a,
                "aperture": src_ap,
                "max_abs_coc_px": m_a,
                "ground_truth": source_truth,
            }
            yield GeneratedSample(
                f"{i:04d}",
                source,
                rendered,
                cond,
                {"coc": coc_map_px(depth, k, s)},
                {**subset, "source_aperture": src_ap, "source_blur": blur_level(m_a)},
                meta,
            )
    if worst is not None:  # the most blurred target against a shift-and-add render with 2N aperture points
        st = worst["setting"]
        coc = layer_coc_px(worst["scene"], st["k_px_m"], st["focus_distance_m"])[0]
        twice = render_exact(worst["scene"].layers, coc, st["aperture"], 2 * worst["n"])
        report["convergence"] = {
            "sample": worst["id"],
            "max_abs_coc_px": worst["key"][0],
            "method": worst["method"],
            "aperture_samples": worst["n"],
            "against": 2 * worst["n"],
            **convergence(worst["image"], twice),
        }


def synthetic_source(
    task: str,
    *,
    num_samples: int | None = None,
    size: tuple[int, int] | None = None,
    seed: int = 0,
    aperture_samples: int | None = None,
) -> DataSource:
    """The :class:`DataSource` of ``synthetic-<task>`` (defaults: :data:`NUM_SAMPLES`, 256x256, seed 0,
    64 base aperture points, see :func:`~refocus_bench.benchmarks.synthetic_scenes.aperture_samples_for`)."""
    check(task in _TASK_TAG, lambda: f"task must be one of {tuple(_TASK_TAG)}, got {task!r}")
    cfg = {**DEFAULT_CONFIG, "num_samples": NUM_SAMPLES[task]}
    source_options(cfg, num_samples=num_samples, size=size, seed=seed, aperture_samples=aperture_samples)
    return DataSource(
        f"synthetic-{task}",
        DATA_VERSION,
        task,
        cfg,
        {**DEFAULT_CONFIG, "num_samples": NUM_SAMPLES[task]},
        functools.partial(_generate, task),  # picklable (a lambda is not): process-pool and Ray workers
    )


def make_synthetic(
    name: str,
    *,
    cache_dir: str | Path | None = None,
    num_samples: int | None = None,
    size: tuple[int, int] | None = None,
    seed: int = 0,
    aperture_samples: int | None = None,
    on_corrupt: str = "rebuild",
    progress: bool = True,
) -> GeneratedBenchmark:
    """Build the registered synthetic benchmark ``name`` (a base benchmark or a protocol variant).

    Args:
        name: e.g. ``"synthetic-bokeh"`` or ``"synthetic-bokeh-oracle"``.
        cache_dir: cache root (default ``$REFOCUS_BENCH_HOME/benchmarks``).
        num_samples, size, seed, aperture_samples: non-default data (cached in its own folder).
        on_corrupt: ``"rebuild"`` or ``"error"`` for a cache whose files fail their sha256.
        progress: tqdm bar while generating.
    """
    spec = SPECS[name]
    task = DATA_OF[name].removeprefix("synthetic-")
    src = synthetic_source(task, num_samples=num_samples, size=size, seed=seed, aperture_samples=aperture_samples)
    return GeneratedBenchmark(spec, src, cache_dir=cache_dir, on_corrupt=on_corrupt, progress=progress)


def synthetic_deblur(**kw: Any) -> GeneratedBenchmark:
    """Defocus deblurring on procedural layered scenes (reference-rendered input, all-in-focus target)."""
    return make_synthetic("synthetic-deblur", **kw)


def synthetic_deblur_oracle_coc(**kw: Any) -> GeneratedBenchmark:
    """synthetic-deblur with the input's true CoC map given to the model (oracle_coc protocol)."""
    return make_synthetic("synthetic-deblur-oracle-coc", **kw)


def synthetic_bokeh(**kw: Any) -> GeneratedBenchmark:
    """Bokeh synthesis on procedural layered scenes against the exact reference renderer."""
    return make_synthetic("synthetic-bokeh", **kw)


def synthetic_bokeh_oracle(**kw: Any) -> GeneratedBenchmark:
    """synthetic-bokeh with GenRefocus's per-image oracle blur strength (SSIM search over K)."""
    return make_synthetic("synthetic-bokeh-oracle", **kw)


def synthetic_refocus(**kw: Any) -> GeneratedBenchmark:
    """Refocusing procedural layered scenes: one focus/K/aperture to another."""
    return make_synthetic("synthetic-refocus", **kw)
