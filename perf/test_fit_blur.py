"""Route (c) blur fit: K* accuracy on 50 known-answer pairs, and fits per second at 512 x 512 on the CPU.

Run with ``make bench`` (or ``pytest perf/test_fit_blur.py --benchmark-only -s``). Accuracy: 50
Middlebury pairs at 128 x 128 px (:func:`~refocus_bench.simulators.pairs.fit_blur_cases.known_answer_pairs`:
K log-uniform over 5-60 px*m, random focus, disk / hexagon / pentagon apertures), fitted with the
aperture and focus given and (1) exact depth, (2) depth under a monotone warp ``z0 (z / z0)^1.3``
(focus warped alike), (3) depth times ``exp(N(0, 0.05))`` per pixel, (4) exact depth with the
aperture taken as a disk, (5) exact depth with the focus estimated from the pair. The median and
90th percentile of |K* / K - 1| and the renderings per fit are printed and written to
``out/bench/fit_blur_accuracy.json``; docs/datasets.md quotes them. Speed: one fit of a 512 x 512
pair, one torch thread.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from refocus_bench.simulators.pairs.fit_blur import MAX_RENDERS, FitSettings, fit_blur
from refocus_bench.simulators.pairs.fit_blur_cases import known_answer_pairs, noisy_depth, warp_depth

N_PAIRS, SIZE, GAMMA = 50, 128, 1.3


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _case(p, mode: str) -> tuple[torch.Tensor, float, float | None, str]:
    """(depth, focus or None, aperture) the fit is given under ``mode``."""
    if mode == "warped":
        z0 = float(p.depth_m.min())
        return warp_depth(p.depth_m, GAMMA), z0 * (p.focus_distance_m / z0) ** GAMMA, p.aperture
    if mode == "noisy":
        return noisy_depth(p.depth_m, 0.05), p.focus_distance_m, p.aperture
    if mode == "disk":
        return p.depth_m, p.focus_distance_m, "disk"
    if mode == "focus-estimated":
        return p.depth_m, None, p.aperture
    return p.depth_m, p.focus_distance_m, p.aperture


def test_fit_blur_accuracy_on_50_known_pairs(benchmark):
    pairs = known_answer_pairs(N_PAIRS, size=SIZE, seed=0)
    report = benchmark.pedantic(_accuracy, args=(pairs,), rounds=1, iterations=1)
    out = Path("out/bench")
    out.mkdir(parents=True, exist_ok=True)
    (out / "fit_blur_accuracy.json").write_text(json.dumps(report, indent=2))
    assert report["exact"]["median_rel_error"] <= 0.02
    assert all(report[m]["max_renders"] <= MAX_RENDERS for m in ("exact", "warped", "noisy"))


def _accuracy(pairs: list) -> dict:
    """The accuracy report of every mode (see the module docstring)."""
    report = {"pairs": N_PAIRS, "size_px": SIZE, "warp_gamma": GAMMA, "noise_sigma": 0.05}
    for mode in ("exact", "warped", "noisy", "disk", "focus-estimated"):
        t0 = time.perf_counter()
        errors, renders = [], []
        for p in pairs:
            depth, focus, aperture = _case(p, mode)
            fit = fit_blur(p.aif, p.bokeh, depth, focus_distance_m=focus, settings=FitSettings(aperture=aperture))
            errors.append(abs(fit.k_px_m / p.k_px_m - 1.0))
            renders.append(fit.renders)
        report[mode] = {
            "median_rel_error": statistics.median(errors),
            "p90_rel_error": float(np.quantile(errors, 0.9)),
            "max_renders": max(renders),
            "seconds_per_fit": (time.perf_counter() - t0) / N_PAIRS,
        }
        print(f"fit-blur {mode}: {json.dumps(report[mode])}")
    return report


def test_fit_blur_speed_512(benchmark):
    p = known_answer_pairs(1, size=512, seed=1)[0]
    settings = FitSettings(aperture=p.aperture)
    fit = benchmark.pedantic(
        fit_blur,
        args=(p.aif, p.bokeh, p.depth_m),
        kwargs={"focus_distance_m": p.focus_distance_m, "settings": settings},
        rounds=2,
        iterations=1,
    )
    print(f"fit-blur 512x512: {1.0 / benchmark.stats['min']:.3f} fits/s, {fit.renders} renders per fit")
    assert fit.renders <= MAX_RENDERS
