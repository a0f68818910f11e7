"""Metric-suite overhead: the suite on a 1 MP pair against the sum of the raw library calls.

Run with ``make bench``. The raw calls are what the suite wraps: torchmetrics' functional PSNR, SSIM
and MS-SSIM, a plain absolute-error mean, the ``lpips`` package's LPIPS modules, and the upstream
``DISTS_pytorch`` module (given the same converted VGG16, since its constructor would download one).
Suite and raw calls are timed alternately in the same run (the raw calls in pytest-benchmark's untimed
set-up of each round) and compared by fastest rounds (for the raw calls, each call's fastest), the least disturbed by
other load on the machine.
"""

from __future__ import annotations

import time

import pytest
import torch
from torchmetrics.functional.image import (
    multiscale_structural_similarity_index_measure,
    peak_signal_noise_ratio,
    structural_similarity_index_measure,
)

from refocus_bench.metrics import MetricSuite
from refocus_bench.metrics.perceptual import build_lpips, lpips_distance
from refocus_bench.metrics.weights import ensure_weights, load_weights

SUITE = ["psnr.rgb", "ssim.rgb", "ms_ssim.rgb", "mae.rgb", "lpips.alex", "lpips.vgg", "dists.vgg16"]
ROUNDS = 3  # alternating suite / raw rounds; the fastest of each is compared
MAX_RATIO = 1.1


def _upstream_dists():
    import torchvision
    from DISTS_pytorch import DISTS_pt

    vgg = torchvision.models.vgg16(weights=None)
    vgg.features.load_state_dict({k.removeprefix("features."): v for k, v in load_weights("vgg16.features").items()})
    original = DISTS_pt.models.vgg16
    DISTS_pt.models.vgg16 = lambda *a, **k: vgg
    try:
        model = DISTS_pt.DISTS(load_weights=False).eval()
    finally:
        DISTS_pt.models.vgg16 = original
    ab = load_weights("dists.alpha_beta")
    model.alpha.data, model.beta.data = ab["alpha"], ab["beta"]
    return model


@pytest.fixture(scope="module")
def pair():
    ensure_weights()
    torch.manual_seed(0)
    target = torch.nn.functional.interpolate(torch.rand(1, 3, 128, 128), size=(1024, 1024), mode="bicubic").clamp(0, 1)
    preds = (target + 0.03 * torch.randn_like(target)).clamp(0, 1)
    return preds, target


@pytest.fixture(scope="module")
def raw_calls():
    alex, vgg, dists = build_lpips("alex"), build_lpips("vgg"), _upstream_dists()

    def lpips_raw(net):
        def call(p, t):
            with torch.no_grad():
                return net(p, t, normalize=True)

        return call

    return {
        "psnr.rgb": lambda p, t: peak_signal_noise_ratio(p, t, data_range=1.0, reduction="none", dim=(1, 2, 3)),
        "ssim.rgb": lambda p, t: structural_similarity_index_measure(p, t, data_range=1.0, reduction="none"),
        "ms_ssim.rgb": lambda p, t: multiscale_structural_similarity_index_measure(
            p, t, data_range=1.0, reduction="none"
        ),
        "mae.rgb": lambda p, t: (p - t).abs().mean(dim=(1, 2, 3)),
        "lpips.alex": lpips_raw(alex),
        "lpips.vgg": lpips_raw(vgg),
        "dists.vgg16": lambda p, t: dists(p, t),
    }


def _time(fn, *args):
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def test_suite_overhead_on_1mp_pair(benchmark, pair, raw_calls):
    preds, target = pair
    suite = MetricSuite(SUITE)
    small = (preds[..., :256, :256].contiguous(), target[..., :256, :256].contiguous())
    suite(*small)  # warm-up: builds the networks
    for fn in raw_calls.values():
        fn(*small)
    raw_times: dict[str, list[float]] = {name: [] for name in raw_calls}

    def raw_round():  # pytest-benchmark's untimed setup: the raw calls run right before each suite round
        for name, fn in raw_calls.items():
            raw_times[name].append(_time(fn, preds, target))
        return (preds, target), {}

    benchmark.pedantic(suite, setup=raw_round, rounds=ROUNDS, iterations=1)
    # fastest suite round against the sum of each raw call's fastest round (the stricter comparison)
    suite_min = benchmark.stats.stats.min
    raw_min = sum(min(v) for v in raw_times.values())
    ratio = suite_min / raw_min
    benchmark.extra_info.update(
        {
            "suite_min_s": suite_min,
            "raw_sum_min_s": raw_min,
            "ratio": ratio,
            "raw_min_s": {k: min(v) for k, v in raw_times.items()},
            "metrics": SUITE,
        }
    )
    print(f"\nsuite {suite_min:.3f} s, sum of raw library calls {raw_min:.3f} s, ratio {ratio:.3f}")
    assert ratio <= MAX_RATIO, f"suite costs {ratio:.3f}x the raw library calls (limit {MAX_RATIO}x)"


def test_lpips_batched_is_not_slower_than_one_by_one(benchmark, pair):
    """Batching must not cost more than calling one image at a time. Single-threaded (multi-threaded
    timings of these mid-sized convolutions swing by 2x on a shared 2-core machine), and the two are
    timed alternately: one looped call in the untimed set-up of every batched round."""
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(8, 3, 256, 256, generator=g), torch.rand(8, 3, 256, 256, generator=g)
    net = build_lpips("alex")
    lpips_distance(x[:1], y[:1], net=net)

    def looped():
        return torch.cat([lpips_distance(x[i : i + 1], y[i : i + 1], net=net) for i in range(8)])

    def batched_call(p, t):
        return lpips_distance(p, t, net=net)

    loop_times: list[float] = []

    def setup():
        loop_times.append(_time(looped))
        return (x, y), {}

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        batched = benchmark.pedantic(batched_call, setup=setup, rounds=2 * ROUNDS, iterations=1)
    finally:
        torch.set_num_threads(threads)
    torch.testing.assert_close(batched, looped(), atol=1e-5, rtol=1e-4)
    batch_t, loop_t = benchmark.stats.stats.min, min(loop_times)
    benchmark.extra_info.update({"batched_min_s": batch_t, "looped_min_s": loop_t})
    print(f"\nLPIPS-alex 8x256^2, one thread: batched {batch_t:.3f} s, one by one {loop_t:.3f} s")
    assert batch_t <= 1.1 * loop_t
