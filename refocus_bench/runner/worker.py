"""Evaluation of single samples: the unit of work every executor runs.

A :class:`Job` is plain, picklable data (model, benchmark, metrics, protocol, seed, device); a
:class:`SampleEvaluator` built from it loads a sample, seeds the random generators from
(seed, sample id), runs the protocol, scores the prediction with every metric and returns one
JSON-ready result. Errors of the model or of a metric on one sample are caught and reported in the
result (one line), never raised, so one bad sample cannot stop a run.

Because each sample is seeded from its own id and evaluated alone, a sample's result does not depend
on which worker, process or Ray actor computed it, nor on the order.
"""

from __future__ import annotations

import hashlib
import math
import random
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .protocols import metric_inputs, predict

__all__ = ["Job", "SampleEvaluator", "sample_seed", "one_line"]


@dataclass
class Job:
    """Everything a worker needs to evaluate samples (picklable).

    Attributes:
        model: a :class:`~refocus_bench.models.base.RefocusModel`.
        benchmark: a :class:`~refocus_bench.benchmarks.base.Benchmark`.
        metrics: metric instances (:class:`~refocus_bench.metrics.base.RefocusMetric`).
        task: the benchmark's task.
        protocol: the checked protocol mapping.
        seed: run seed.
        device: torch device string.
        example_ids: ids whose images are returned (for the example PNGs).
        threads: torch intra-op threads for worker processes (None: leave as is).
    """

    model: Any
    benchmark: Any
    metrics: list[Any]
    task: str
    protocol: dict[str, Any]
    seed: int
    device: str
    example_ids: frozenset[str] = frozenset()
    threads: int | None = None


def sample_seed(seed: int, sample_id: str) -> int:
    """A 63-bit seed derived from the run seed and the sample id (sha256)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()[:8], "little") >> 1


def one_line(err: BaseException) -> str:
    """``Type: message`` on a single line (long messages are cut at 500 characters)."""
    text = "".join(traceback.format_exception_only(type(err), err)).strip().replace("\n", " | ")
    return text if len(text) <= 500 else text[:497] + "..."


def _seed_all(s: int) -> None:
    import numpy as np

    torch.manual_seed(s)
    random.seed(s)
    np.random.seed(s % 2**32)


class SampleEvaluator:
    """Evaluates samples of a :class:`Job` one at a time (see :meth:`run`)."""

    def __init__(self, job: Job) -> None:
        self.job = job
        if job.threads is not None:
            torch.set_num_threads(job.threads)
        self.model = job.model.to(job.device).eval()
        self.metrics = [m.to(job.device) for m in job.metrics]
        self._by_name = {m.spec.name: m for m in self.metrics}

    def _metric(self, name: str) -> Any:
        if name not in self._by_name:
            from ..metrics import create_metric

            self._by_name[name] = create_metric(name).to(self.job.device)
        return self._by_name[name]

    def run(self, sample_id: str) -> dict[str, Any]:
        """Evaluate one sample.

        Returns:
            ``{"id", "subset", "scores": {metric: float | None}, "runtime_s" (model), "metric_s", "load_s",
            "error": str | None, "protocol": {...}}`` plus ``"images"`` (CPU tensors ``input``, ``target``,
            ``pred``) when ``sample_id`` is an example id.
        """
        job = self.job
        names = [m.spec.name for m in self.metrics]
        out: dict[str, Any] = {"id": sample_id, "subset": {}, "scores": dict.fromkeys(names), "runtime_s": 0.0,
                               "metric_s": 0.0, "load_s": 0.0, "error": None, "protocol": {}}
        t0 = time.perf_counter()
        try:
            sample = job.benchmark.load(sample_id)
        except Exception as err:  # noqa: BLE001 - recorded for this sample, the run goes on
            out["error"] = f"loading the sample failed: {one_line(err)}"
            return out
        out["subset"] = {str(k): str(v) for k, v in dict(sample.subset).items()}
        t1 = time.perf_counter()
        out["load_s"] = t1 - t0
        _seed_all(sample_seed(job.seed, sample_id))
        try:
            pred = predict(self.model, job.task, sample, job.protocol, device=job.device, metric_factory=self._metric)
        except Exception as err:  # noqa: BLE001
            out["runtime_s"] = time.perf_counter() - t1
            out["error"] = f"model failed: {one_line(err)}"
            return out
        t2 = time.perf_counter()
        out["runtime_s"] = t2 - t1
        out["protocol"] = pred.info
        errors = []
        for m in self.metrics:
            try:
                preds, target, extra = metric_inputs(m, job.task, sample, pred, job.device)
                value = float(m.score(preds, target, **extra).double().mean())
            except Exception as err:  # noqa: BLE001
                errors.append(f"{m.spec.name} failed: {one_line(err)}")
                continue
            if math.isfinite(value):
                out["scores"][m.spec.name] = value
            else:
                errors.append(f"{m.spec.name} is undefined on this sample ({value})")
        out["metric_s"] = time.perf_counter() - t2
        out["error"] = "; ".join(errors) or None
        if sample_id in job.example_ids:
            out["images"] = {"input": sample.image.detach().cpu(), "pred": pred.image.detach().cpu(),
                             "target": None if sample.target is None else sample.target.detach().cpu()}
        return out

    def run_many(self, sample_ids: Sequence[str]) -> list[dict[str, Any]]:
        """:meth:`run` over several samples, in order."""
        return [self.run(s) for s in sample_ids]
