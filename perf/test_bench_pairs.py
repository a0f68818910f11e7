"""Training-pair throughput at 512x512 on CPU with 1 and 2 worker processes.

Run with ``make bench`` (or ``pytest perf/test_bench_pairs.py --benchmark-only``). Each round
generates the same small dataset from scratch: 4 dead-leaves scenes (12-40 leaves, 0-4 point lights)
x 2 blur settings x 3 tasks = 24 records (pairs) at 512x512, in 4 shards of one scene, Parquet output
with every map. A sample costs one scene (shared by its 2 settings), two occlusion-aware layered
renders (settings A and B), PNG encoding and the float maps. With 2 workers the 4 shards run in two
spawned processes (their start-up, about 2-3 s of importing torch, is included: it is paid once per
run). Each shard runs on one torch thread, so the output is byte-identical for any worker count
(checked here too) and the speed-up measures process parallelism. ``extra_info`` holds pairs/s
(records), samples/s, the wall seconds of the round and the CPU seconds it used (this process plus
its worker processes): on a machine shared with other work, CPU seconds per pair tell the cost
independently of the load, wall seconds what was observed.
"""

from __future__ import annotations

import os
import resource
import shutil
import time

import pytest

from refocus_bench.simulators.pairs.generate import PairConfig
from refocus_bench.simulators.pairs.shards import run

CONFIG = dict(size=(512, 512), num_scenes=4, pairs_per_scene=2, scenes_per_shard=1, seed=2026)
RESULTS: dict[int, dict] = {}


@pytest.mark.parametrize("workers", [1, 2])
def test_pairs_per_second_512(benchmark, tmp_path_factory, workers):
    config = PairConfig(**CONFIG)
    out = tmp_path_factory.mktemp(f"bench-w{workers}") / "out"

    def fresh() -> None:
        shutil.rmtree(out, ignore_errors=True)

    def cpu_seconds() -> float:
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    def generate():  # noqa: ANN202
        t0, c0 = time.perf_counter(), cpu_seconds()
        result = run(config, out, workers=workers)
        return result, time.perf_counter() - t0, cpu_seconds() - c0

    result, seconds, cpu = benchmark.pedantic(generate, setup=fresh, rounds=1, iterations=1)
    assert result.records == 24 and not result.failed_shards and not result.failures
    hashes = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted((out / "data").rglob("*.parquet"))}
    RESULTS[workers] = {"seconds": seconds, "hashes": hashes}
    benchmark.extra_info.update(
        workers=workers,
        pairs=result.records,
        seconds=round(seconds, 2),
        pairs_per_s=round(result.records / seconds, 3),
        samples_per_s=round(result.records / 3 / seconds, 3),
        cpu_seconds=round(cpu, 2),
        cpu_seconds_per_pair=round(cpu / result.records, 3),
        load_average_1min=round(os.getloadavg()[0], 2),
    )
    if 1 in RESULTS and 2 in RESULTS:
        assert RESULTS[1]["hashes"] == RESULTS[2]["hashes"]
        benchmark.extra_info["speedup_vs_1_worker"] = round(RESULTS[1]["seconds"] / RESULTS[2]["seconds"], 2)
