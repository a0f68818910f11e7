"""The exact mode (``LAYERED_EXACT``) against the aperture-sampled reference at equal accuracy (one CPU thread).

Scene: the fidelity dead leaves (``default_cases(128)``, 25 planes, CoC about -7..+5 px), both renderers in
float32. Against a 4096-sample reference the exact mode is 66.1 dB and a 1024-sample reference 67.0 dB
(docs/performance.md, "Exact mode"), so the two are timed at about equal PSNR. Issue 20's target is a
ratio >= 10; the ratio is recorded in ``extra_info``, not asserted (measured 15.7x and 16.8x on this scene;
3.1x and 2.7x on the 64-plane slanted and curved surfaces).
"""

from __future__ import annotations

import time

import pytest
import torch

from refocus_bench.simulators.render.config import LAYERED_EXACT
from refocus_bench.simulators.render.fidelity import default_cases
from refocus_bench.simulators.render.layered import render_layered
from refocus_bench.simulators.render.reference import render_reference

REFERENCE_SAMPLES = 1024


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@torch.no_grad()
def test_exact_mode_vs_reference_at_equal_psnr(benchmark):
    case = default_cases(128, 6.0)[3]
    layers = case.scene.layers[None].float()
    coc = torch.tensor([case.coc_px], dtype=torch.float32)
    render_layered(layers, coc_px=coc, config=LAYERED_EXACT)  # warm the kernels
    reference_s = _seconds(lambda: render_reference(layers, coc_px=coc, samples=REFERENCE_SAMPLES, linear=True))
    benchmark.pedantic(render_layered, args=(layers,), kwargs={"coc_px": coc, "config": LAYERED_EXACT}, rounds=2)
    exact_s = benchmark.stats.stats.min
    benchmark.extra_info.update(reference_s=reference_s, exact_s=exact_s, speedup=reference_s / exact_s)
