"""Two worker processes against one: the speed ratio of ``evaluate(..., workers=2)`` over ``workers=1``.

Workload: ``deblur.richardson_lucy`` (defaults: 30 iterations, estimated CoC; more than a second per
image here) on 8 synthetic 256x256 deblur samples (``tests.runner_fixtures.PerfBench``), metrics PSNR +
SSIM, record, cache and 4 example PNGs written to a fresh folder each run.

* ``workers=1`` runs in this process with torch's default thread count (all CPUs), as
  ``refocus-bench evaluate --workers 1`` does;
* ``workers=2`` uses the persistent process pool (``cpus // 2`` torch threads per worker). The pool
  is started by a warm-up evaluation first, as it is after the first evaluation of a session, so its
  start-up (the package import in two processes) is not timed (``pool_start_s``: that warm-up
  evaluation of 2 samples, start-up included);
* ``workers=1`` with one torch thread is reported for reference.

``speedup`` = wall(workers=1) / wall(workers=2), in ``extra_info`` of the benchmark JSON; the target
(issue 21) is ``speedup > 1`` on 2 cores. Run with
``pytest perf/test_bench_runner_workers.py --benchmark-only -s`` (about 2 minutes on 2 busy cores).
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from pathlib import Path

import pytest
import torch

from refocus_bench.models import create_model
from refocus_bench.runner.evaluation import evaluate
from refocus_bench.runner.executors import pool_info, shutdown_pool

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.runner_fixtures, also in spawned workers
from tests.runner_fixtures import PerfBench  # noqa: E402

N, SIZE = 8, 256
MODEL = "deblur.richardson_lucy"
METRICS = ["psnr.rgb", "ssim.rgb"]
_counter = itertools.count()
_WALL: dict[str, float] = {}


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    """A results folder; the in-process warm-up and the pool start-up happen here, untimed."""
    out = tmp_path_factory.mktemp("workers")
    evaluate(create_model(MODEL), PerfBench(n=1, size=SIZE), METRICS, out_dir=out / "warm-1", progress=False)
    t0 = time.perf_counter()
    evaluate(create_model(MODEL), PerfBench(n=2, size=SIZE), METRICS, out_dir=out / "warm-2", progress=False, workers=2)
    _WALL["pool_start_s"] = time.perf_counter() - t0
    yield out
    shutdown_pool()


def _run(out: Path, workers: int):
    ev = evaluate(create_model(MODEL), PerfBench(n=N, size=SIZE), METRICS, out_dir=out, progress=False, workers=workers)
    assert ev.computed == N and ev.errors == 0
    return ev


def _timed(benchmark, results_dir: Path, workers: int, label: str):
    def fresh():
        return (results_dir / f"{label}-{next(_counter)}", workers), {}

    ev = benchmark.pedantic(_run, setup=fresh, rounds=1, iterations=1)
    _WALL[label] = ev.timings["wall_s"]
    per_sample = ev.timings["model_s"] / N
    benchmark.extra_info.update(
        wall_s=ev.timings["wall_s"],
        model_s_per_sample=per_sample,
        torch_threads=torch.get_num_threads() if workers == 1 else max(1, (os.cpu_count() or 1) // workers),
        cpus=os.cpu_count(),
        load_avg=os.getloadavg()[0],
    )
    print(f"\n{label}: {ev.timings['wall_s']:.1f} s for {N} samples, model {per_sample:.2f} s/sample")
    return ev


def test_one_worker(benchmark, results_dir):
    _timed(benchmark, results_dir, 1, "one_worker")


def test_two_workers(benchmark, results_dir):
    before = pool_info()
    _timed(benchmark, results_dir, 2, "two_workers")
    assert pool_info() == before  # the warm pool served the run: no start-up inside the timing
    if "one_worker" not in _WALL:
        pytest.skip("needs test_one_worker first")
    speedup = _WALL["one_worker"] / _WALL["two_workers"]
    benchmark.extra_info.update(speedup=speedup, pool_start_s=_WALL["pool_start_s"])
    print(f"speed ratio workers=2 over workers=1: {speedup:.2f} (pool warm-up {_WALL['pool_start_s']:.1f} s, untimed)")
    assert speedup > 1.0


def test_one_worker_one_thread(benchmark, results_dir):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _timed(benchmark, results_dir, 1, "one_worker_one_thread")
    finally:
        torch.set_num_threads(threads)
    if "two_workers" in _WALL:
        benchmark.extra_info.update(speedup_of_two_workers=_WALL["one_worker_one_thread"] / _WALL["two_workers"])
