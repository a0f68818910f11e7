"""Evaluation of single samples: the unit of work every executor runs.

A :class:`Job` is plain, picklable data (model, benchmark, metrics, protocol, seed, device); a
:class:`SampleEvaluator` built from it loads a sample, seeds the random generators from
(seed, sample id), runs the protocol, scores the prediction with every metric and returns one
JSON-ready result. Errors of the model or of a metric on one sample are caught and reported in the
result (one line), never raised, so one bad sample cannot stop a run. A model output that cannot be
scored (NaN or inf anywhere, border included; wrong shape or dtype; see
:func:`~refocus_bench.runner.protocols.check_output`) fails its sample the same way, and a failed
sample returns no example images.

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

from .protocols import (
    BATCH_PROTOCOLS,
    InvalidOutputError,
    Prediction,
    batch_key,
    metric_inputs,
    predict,
    predict_batch,
)

__all__ = ["Job", "SampleEvaluator", "sample_seed", "one_line", "model_error"]


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
    # raw digest bytes (hashing.py gives hex digests only)
    return int.from_bytes(hashlib.sha256(f"{seed}:{sample_id}".encode()).digest()[:8], "little") >> 1


def one_line(err: BaseException) -> str:
    """``Type: message`` on a single line (long messages are cut at 500 characters)."""
    text = "".join(traceback.format_exception_only(type(err), err)).strip().replace("\n", " | ")
    return text if len(text) <= 500 else text[:497] + "..."


def model_error(err: BaseException) -> str:
    """The ``error`` of a sample whose model call raised or returned an unusable output.

    Example:
        >>> model_error(InvalidOutputError("shape (1, 3, 8, 8), expected (1, 3, 16, 16) (the input's)"))
        "model output unusable: shape (1, 3, 8, 8), expected (1, 3, 16, 16) (the input's)"
        >>> model_error(RuntimeError("out of memory"))
        'model failed: RuntimeError: out of memory'
    """
    if isinstance(err, InvalidOutputError):
        return f"model output unusable: {err}"
    return f"model failed: {one_line(err)}"


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
        self.border_px = int(dict(job.benchmark.spec.preprocessing).get("border_crop_px", 0) or 0)

    def _metric(self, name: str) -> Any:
        if name not in self._by_name:
            from ..metrics import create_metric

            self._by_name[name] = create_metric(name).to(self.job.device)
        return self._by_name[name]

    def _blank(self, sample_id: str) -> dict[str, Any]:
        names = [m.spec.name for m in self.metrics]
        return {
            "id": sample_id,
            "subset": {},
            "scores": dict.fromkeys(names),
            "runtime_s": 0.0,
            "metric_s": 0.0,
            "load_s": 0.0,
            "error": None,
            "protocol": {},
        }

    def _load(self, sample_id: str) -> tuple[dict[str, Any], Any]:
        out = self._blank(sample_id)
        t0 = time.perf_counter()
        try:
            sample = self.job.benchmark.load(sample_id)
        except Exception as err:  # noqa: BLE001 - recorded for this sample, the run goes on
            out["error"] = f"loading the sample failed: {one_line(err)}"
            return out, None
        out["subset"] = {str(k): str(v) for k, v in dict(sample.subset).items()}
        out["load_s"] = time.perf_counter() - t0
        return out, sample

    def _score(self, out: dict[str, Any], sample: Any, pred: Prediction) -> dict[str, Any]:
        job = self.job
        t0 = time.perf_counter()
        out["protocol"] = pred.info
        errors = []
        for m in self.metrics:
            try:
                preds, target, extra = metric_inputs(m, job.task, sample, pred, job.device, self.border_px)
                value = float(m.score(preds, target, **extra).double().mean())
            except Exception as err:  # noqa: BLE001
                errors.append(f"{m.spec.name} failed: {one_line(err)}")
                continue
            if math.isfinite(value):
                out["scores"][m.spec.name] = value
            else:
                errors.append(f"{m.spec.name} is undefined on this sample ({value})")
        out["metric_s"] = time.perf_counter() - t0
        out["error"] = "; ".join(errors) or None
        if out["id"] in job.example_ids:
            out["images"] = {
                "input": sample.image.detach().cpu(),
                "pred": pred.image.detach().cpu(),
                "target": None if sample.target is None else sample.target.detach().cpu(),
            }
        return out

    def run(self, sample_id: str) -> dict[str, Any]:
        """Evaluate one sample.

        Returns:
            ``{"id", "subset", "scores": {metric: float | None}, "runtime_s" (model), "metric_s", "load_s",
            "error": str | None, "protocol": {...}}`` plus ``"images"`` (CPU tensors ``input``, ``target``,
            ``pred``) when ``sample_id`` is an example id.
        """
        out, sample = self._load(sample_id)
        return out if sample is None else self._run_loaded(out, sample)

    def _run_loaded(self, out: dict[str, Any], sample: Any) -> dict[str, Any]:
        job = self.job
        _seed_all(sample_seed(job.seed, out["id"]))
        t0 = time.perf_counter()
        try:
            pred = predict(self.model, job.task, sample, job.protocol, device=job.device, metric_factory=self._metric)
        except Exception as err:  # noqa: BLE001
            out["runtime_s"] = time.perf_counter() - t0
            out["error"] = model_error(err)
            return out
        out["runtime_s"] = time.perf_counter() - t0
        return self._score(out, sample, pred)

    def run_many(self, sample_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Evaluate several samples, in order.

        Under the ``direct`` and ``oracle_coc`` protocols, consecutive samples whose tensors have equal
        shapes and whose other condition values are equal are stacked into one model call (seeded from
        the first sample's id; each sample's ``runtime_s`` is its share of the call). A batch whose
        call fails is evaluated again one sample at a time, so the error lands on the sample that
        causes it. Other protocols evaluate one sample at a time.
        """
        if len(sample_ids) == 1 or self.job.protocol["name"] not in BATCH_PROTOCOLS:
            return [self.run(s) for s in sample_ids]
        loaded = [self._load(s) for s in sample_ids]
        results: list[dict[str, Any]] = []
        group: list[tuple[dict[str, Any], Any]] = []
        for out, sample in [*loaded, (None, None)]:
            if group and (sample is None or batch_key(sample) != batch_key(group[0][1])):
                results += self._run_group(group)
                group = []
            if sample is not None:
                group.append((out, sample))
            elif out is not None:
                results.append(out)  # a sample that failed to load
        order = {s: i for i, s in enumerate(sample_ids)}
        return sorted(results, key=lambda r: order[r["id"]])

    def _run_group(self, group: list[tuple[dict[str, Any], Any]]) -> list[dict[str, Any]]:
        if len(group) == 1:
            return [self._run_loaded(*group[0])]
        job = self.job
        samples = [s for _, s in group]
        _seed_all(sample_seed(job.seed, group[0][0]["id"]))
        t0 = time.perf_counter()
        try:
            preds = predict_batch(self.model, job.task, samples, job.protocol, device=job.device)
        except Exception:  # noqa: BLE001 - isolate the failing sample
            return [self._run_loaded(out, s) for out, s in group]
        share = (time.perf_counter() - t0) / len(group)
        outs = []
        for (out, sample), pred in zip(group, preds):
            out["runtime_s"] = share
            outs.append(self._score(out, sample, pred))
        return outs
