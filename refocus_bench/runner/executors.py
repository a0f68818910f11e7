"""Executors: run a :class:`~refocus_bench.runner.worker.Job` over chunks of sample ids.

* ``local``, ``workers=1``: in this process, in order.
* ``local``, ``workers>1``: a **persistent** pool of ``workers`` spawned processes (one torch thread
  per process on a 2-core machine: ``cpus // workers``). The pool outlives one evaluation: the next
  :func:`~refocus_bench.runner.evaluation.evaluate` with the same ``workers`` reuses its processes,
  so the package import (seconds per process) is paid once per Python session, not once per run.
  Each evaluation pickles its job once, to a private temporary file; a worker reads it with its first
  chunk of that evaluation, builds the model and metrics, keeps them for the following chunks and
  drops them when a chunk of another evaluation arrives. :func:`shutdown_pool` ends the processes
  (it also runs at interpreter exit); an evaluation that stops on an exception (Ctrl-C included)
  discards the pool, and the next one starts a fresh pool.
* ``ray``: ``workers`` Ray actors (one CPU each; with a CUDA device, an equal share of the cluster's
  GPUs, at most one each), fed chunks dynamically; uses a running Ray instance (``ray.init`` yourself
  to use a cluster) or starts a local one and stops it afterwards.

Every executor yields lists of per-sample results as chunks finish (in any order); the caller
caches them. Per-sample results do not depend on the executor (each sample is seeded from its id).
Parallel executors need a picklable job (model, benchmark, metrics): :func:`job_bytes` says which
part is not, before any work starts.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import multiprocessing
import os
import pickle
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, check
from .worker import Job, SampleEvaluator

__all__ = ["EXECUTORS", "run_chunks", "default_threads", "job_bytes", "shutdown_pool", "pool_info"]

EXECUTORS = ("local", "ray")

_POOL: dict[str, Any] = {}  # in the parent: {"workers": int, "pool": ProcessPoolExecutor}
_WORKER: dict[str, Any] = {}  # in a worker process: {"token": str, "evaluator": SampleEvaluator}


def default_threads(workers: int) -> int:
    """torch threads per worker process: the CPUs shared evenly, at least one."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _pickles(obj: Any) -> bool:
    try:
        pickle.dumps(obj)
    except Exception:  # noqa: BLE001 - pickling raises many types
        return False
    return True


def job_bytes(job: Job) -> bytes:
    """The pickled job; a part that does not pickle is named in an :class:`InvalidInputError`."""
    try:
        return pickle.dumps(job)
    except Exception as err:  # noqa: BLE001 - pickling raises many types
        parts = {"model": job.model, "benchmark": job.benchmark, "metrics": job.metrics}
        part = next((name for name, obj in parts.items() if not _pickles(obj)), "job")
        raise InvalidInputError(
            f"workers > 1 sends the {part} to other processes, but it cannot be pickled "
            f"({type(err).__name__}: {err}); use workers=1, or make its attributes picklable "
            "(module-level functions or functools.partial instead of lambdas and local functions)"
        ) from None


def pool_info() -> dict[str, Any] | None:
    """``{"workers": n, "pids": [...]}`` of the live process pool, or None (for tests and diagnostics)."""
    if not _POOL:
        return None
    procs = getattr(_POOL["pool"], "_processes", None) or {}
    return {"workers": _POOL["workers"], "pids": sorted(procs)}


def shutdown_pool(wait_for_workers: bool = True) -> None:
    """End the persistent worker processes (no-op when there is no pool)."""
    pool = _POOL.pop("pool", None)
    _POOL.clear()
    if pool is not None:
        pool.shutdown(wait=wait_for_workers, cancel_futures=True)


atexit.register(shutdown_pool)


def _pool(workers: int) -> ProcessPoolExecutor:
    """The persistent pool of ``workers`` processes (replaced when the count differs or it broke)."""
    pool = _POOL.get("pool")
    if pool is not None and (_POOL["workers"] != workers or getattr(pool, "_broken", False)):
        shutdown_pool()
        pool = None
    if pool is None:
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        _POOL.update(workers=workers, pool=pool)
    return pool


def _pool_run(token: str, job_file: str, ids: Sequence[str]) -> list[dict[str, Any]]:  # pragma: no cover - worker
    """In a worker process: evaluate ``ids`` with the job of evaluation ``token`` (built once per token)."""
    if _WORKER.get("token") != token:
        _WORKER.clear()  # free the previous evaluation's model and metrics first
        job = pickle.loads(Path(job_file).read_bytes())
        _WORKER.update(token=token, evaluator=SampleEvaluator(job))
    return _WORKER["evaluator"].run_many(ids)


def run_chunks(
    job: Job,
    chunks: Sequence[Sequence[str]],
    *,
    executor: str = "local",
    workers: int = 1,
    payload: bytes | None = None,
) -> Iterator[list[dict[str, Any]]]:
    """Yield the results of each chunk of sample ids as it finishes.

    ``payload``: ``job_bytes(job)`` when the caller already has it (the process pool needs it).
    """
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
        evaluator = SampleEvaluator(dataclasses.replace(job, threads=None))  # this process keeps its threads
        for ids in chunks:
            yield evaluator.run_many(ids)
        return
    yield from _run_pool(job_bytes(job) if payload is None else payload, chunks, workers)


def _run_pool(data: bytes, chunks: Sequence[Sequence[str]], workers: int) -> Iterator[list[dict[str, Any]]]:
    folder = tempfile.mkdtemp(prefix="refocus-bench-job-")
    try:
        job_file = os.path.join(folder, "job.pickle")
        with open(job_file, "wb") as fh:
            fh.write(data)
        token = uuid.uuid4().hex
        pool = _pool(workers)
        pending = {pool.submit(_pool_run, token, job_file, ids) for ids in chunks}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()
        except BaseException:
            for fut in pending:
                fut.cancel()
            shutdown_pool(wait_for_workers=False)  # workers may be mid-chunk or dead: start afresh next time
            raise
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(folder)


class _RayEvaluator:
    """Body of the Ray actor: one :class:`SampleEvaluator` per actor."""

    def __init__(self, job: Job) -> None:
        self.evaluator = SampleEvaluator(job)

    def run_many(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        return self.evaluator.run_many(ids)
