"""Executors: run a :class:`~refocus_bench.runner.worker.Job` over chunks of sample ids.

* ``local``, ``workers=1``: in this process, in order.
* ``local``, ``workers>1``: a pool of spawned processes, each building the job once (its model and
  metrics) and then taking chunks as they come; one torch thread per process by default.
* ``ray``: ``workers`` Ray actors (one CPU each; with a CUDA device, an equal share of the cluster's
  GPUs, at most one each), fed chunks dynamically; uses a running Ray instance (``ray.init`` yourself
  to use a cluster) or starts a local one and stops it afterwards.

Every executor yields lists of per-sample results as chunks finish (in any order); the caller
caches them. Per-sample results do not depend on the executor (each sample is seeded from its id).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from ..errors import check
from .worker import Job, SampleEvaluator

__all__ = ["EXECUTORS", "run_chunks", "default_threads"]

EXECUTORS = ("local", "ray")

_EVALUATOR: SampleEvaluator | None = None  # per worker process


def default_threads(workers: int) -> int:
    """torch threads per worker process: the CPUs shared evenly, at least one."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _pool_init(job: Job) -> None:  # pragma: no cover - runs in worker processes
    global _EVALUATOR
    _EVALUATOR = SampleEvaluator(job)


def _pool_run(ids: Sequence[str]) -> list[dict[str, Any]]:  # pragma: no cover - runs in worker processes
    assert _EVALUATOR is not None
    return _EVALUATOR.run_many(ids)


def run_chunks(
    job: Job, chunks: Sequence[Sequence[str]], *, executor: str = "local", workers: int = 1
) -> Iterator[list[dict[str, Any]]]:
    """Yield the results of each chunk of sample ids as it finishes."""
    check(executor in EXECUTORS, lambda: f"executor must be one of {list(EXECUTORS)}, got {executor!r}")
    check(isinstance(workers, int) and workers >= 1, lambda: f"workers must be an int >= 1, got {workers!r}")
    if not chunks:
        return
    if executor == "ray":
        from ..ray_backend import ray_map

        cuda = job.device.startswith("cuda")
        if cuda:  # Ray makes the actor's share of the GPUs visible as device 0
            job = dataclasses.replace(job, device="cuda")
        yield from ray_map(_RayEvaluator, job, chunks, workers, gpu=cuda)
        return
    if workers == 1 or len(chunks) == 1:
        evaluator = SampleEvaluator(job)
        for ids in chunks:
            yield evaluator.run_many(ids)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        min(workers, len(chunks)), mp_context=ctx, initializer=_pool_init, initargs=(job,)
    ) as pool:
        pending = {pool.submit(_pool_run, ids) for ids in chunks}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


class _RayEvaluator:
    """Body of the Ray actor: one :class:`SampleEvaluator` per actor."""

    def __init__(self, job: Job) -> None:
        self.evaluator = SampleEvaluator(job)

    def run_many(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        return self.evaluator.run_many(ids)
