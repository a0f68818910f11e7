"""Resolving and checking an evaluation before any sample is computed.

:func:`make_plan` turns names or objects into a model, a benchmark and metric instances, and checks,
cheaply and up front, everything that would otherwise fail on every sample: the model supports the
benchmark's task, the protocol is known and fits the task, each metric can be computed on the
benchmark (a full-reference metric needs targets, ``lvcorr.*`` needs the ``lvcorr_sweep`` protocol,
extra metric inputs must be available; checked on the first sample). Every failure is a
:class:`~refocus_bench.errors.RefocusBenchError` with a one-line message.

It also computes the provenance of the run: the model's weights sha256 and config, the benchmark's
definition and content hash, the metric definitions, and the **run key**: the sha256 of everything
a per-sample score depends on (model name, class, weights sha256 and config; benchmark content hash
and definition; metric definitions; protocol; seed; device type), which names the per-sample cache.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, check
from ..hashing import file_sha256, json_sha256, text_sha256
from .protocols import check_protocol, extra_input_names

__all__ = ["Plan", "make_plan", "resolve_model", "resolve_benchmark", "resolve_metrics", "weights_sha256", "run_key"]


@dataclass
class Plan:
    """A checked evaluation: the objects plus their provenance."""

    model: Any
    benchmark: Any
    metrics: list[Any]
    protocol: dict[str, Any]
    sample_ids: list[str]
    content_hash: str
    model_info: dict[str, Any]
    benchmark_info: dict[str, Any]
    metric_info: list[dict[str, Any]]
    seed: int
    device: str
    default_metrics: bool

    @property
    def task(self) -> str:
        return self.benchmark.spec.task

    @property
    def metric_names(self) -> list[str]:
        return [m.spec.name for m in self.metrics]

    @property
    def metric_set_tag(self) -> str | None:
        """None for the benchmark's default metric set, else 8 hex digits naming the set."""
        if self.default_metrics:
            return None
        return json_sha256(self.metric_info)[:8]

    def key_info(self) -> dict[str, Any]:
        """What the run key hashes (also written beside the cache, for humans)."""
        m = self.model_info
        return {
            "model": {
                "name": m["name"],
                "class": m["class"],
                "weights_sha256": m["weights_sha256"],
                "config": m["config"],
            },
            "benchmark": {"content_hash": self.content_hash, "definition": self.benchmark_info["definition"]},
            "metrics": self.metric_info,
            "protocol": self.protocol,
            "seed": self.seed,
            "device_type": self.device.split(":")[0],
        }

    @property
    def run_key(self) -> str:
        return run_key(self.key_info())


def run_key(info: dict[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of ``info``."""
    return json_sha256(info)


def resolve_model(model: Any, task: str | None = None) -> Any:
    """A model instance from a registry name or an instance; checks that it supports ``task``."""
    from ..models import RefocusModel, create_model, list_models

    if isinstance(model, str):
        model = create_model(model)
    check(
        isinstance(model, RefocusModel),
        lambda: f"model must be a registry name or a RefocusModel, got {type(model).__name__}",
    )
    if task is not None and task not in model.tasks:
        try:
            others = list_models(task=task)
        except Exception:  # noqa: BLE001 - only a hint
            others = []
        raise InvalidInputError(
            f"model {model.name!r} does not support task {task!r} (it supports {list(model.tasks)}); "
            f"models for {task}: {', '.join(others) or 'none registered'}"
        )
    return model


def resolve_benchmark(benchmark: Any) -> Any:
    """A benchmark instance from a registry name or an instance."""
    from ..benchmarks import Benchmark, create_benchmark

    if isinstance(benchmark, str):
        benchmark = create_benchmark(benchmark)
    check(
        isinstance(benchmark, Benchmark),
        lambda: f"benchmark must be a registry name or a Benchmark, got {type(benchmark).__name__}",
    )
    return benchmark


def resolve_metrics(metrics: Sequence[Any] | None, benchmark: Any) -> tuple[list[Any], bool]:
    """Metric instances (names are created with their pinned conventions); default: the benchmark's.

    The benchmark's headline metric is added in front when a given set lacks it. Returns the metrics
    and whether they are the benchmark's default set.
    """
    from ..metrics import create_metric
    from ..metrics.base import RefocusMetric

    default = metrics is None
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    names = list(benchmark.spec.metrics) if metrics is None else list(metrics)
    check(len(names) > 0, "metrics must name at least one metric")
    out = [create_metric(m) if isinstance(m, str) else m for m in names]
    headline = benchmark.spec.headline_metric
    if all(getattr(getattr(m, "spec", None), "name", None) != headline for m in out):
        out.insert(0, create_metric(headline))  # the headline metric is always computed (it ranks the leaderboard)
    for m in out:
        check(
            isinstance(m, RefocusMetric),
            lambda: f"metrics must be registry names or RefocusMetric instances, got {type(m).__name__}",
        )
    got = [m.spec.name for m in out]
    check(len(set(got)) == len(got), lambda: f"metric names must be unique, got {got}")
    default = default or got == list(benchmark.spec.metrics)
    return out, default


def weights_sha256(model: Any) -> str | None:
    """The sha256 of the weights the model runs with, or None for a model without (loaded) weights.

    Order: a ``weights_path`` attribute naming a file (hashed; None there means random
    initialisation -> None); else the card's single weight file's pinned sha256; for several files,
    the sha256 of their ``"<filename> <sha256>"`` lines (sorted); None if any hash is unknown.
    """
    if hasattr(model, "weights_path"):
        p = model.weights_path
        return file_sha256(p) if p and Path(p).is_file() else None
    files = list(getattr(model.card, "weights", ()) or ())
    if not files or any(w.sha256 is None for w in files):
        return None
    if len(files) == 1:
        return files[0].sha256
    lines = "".join(f"{w.filename} {w.sha256}\n" for w in sorted(files, key=lambda w: w.filename))
    return text_sha256(lines)


def _json_config(model: Any) -> dict[str, Any]:
    try:
        cfg = model.config()
        json.dumps(cfg, allow_nan=False)
        return json.loads(json.dumps(cfg, sort_keys=True))
    except (TypeError, ValueError) as err:
        raise InvalidInputError(f"model {model.name!r}: config() must be JSON-serialisable ({err})") from err


def _check_metrics(metrics: list[Any], protocol: dict[str, Any], task: str, first: Any, bench_name: str) -> None:
    sweep = protocol["name"] == "lvcorr_sweep"
    for m in metrics:
        name = m.spec.name
        inputs = extra_input_names(m)
        if sweep != ("strengths" in inputs):
            raise InvalidInputError(
                f"metric {name!r} cannot be computed on benchmark {bench_name!r}: "
                + (
                    "its protocol lvcorr_sweep is scored only by sweep metrics (lvcorr.*)"
                    if sweep
                    else f"it needs the lvcorr_sweep protocol, and the benchmark's protocol is {protocol['name']!r}"
                )
            )
        if m.spec.reference == "full" and first.target is None:
            raise InvalidInputError(
                f"metric {name!r} is full-reference but benchmark {bench_name!r} has no targets "
                f"(sample {first.id!r} has target=None); use a no-reference metric"
            )
        for inp in inputs:
            if (
                inp in ("strengths", "coc")
                or first.condition.get(inp) is not None
                or (getattr(first, "metric_inputs", None) or {}).get(inp) is not None
            ):
                continue
            raise InvalidInputError(
                f"metric {name!r} needs the input {inp!r}, which benchmark {bench_name!r} does not "
                f"provide (sample {first.id!r} condition keys: {sorted(first.condition)})"
            )
    if protocol["name"] == "oracle_blur_strength":
        check(
            first.target is not None, lambda: f"benchmark {bench_name!r}: protocol oracle_blur_strength needs targets"
        )
    if protocol["name"] == "oracle_coc" and task == "deblur":
        check(
            first.condition.get("coc_px") is not None,
            lambda: f"benchmark {bench_name!r}: protocol oracle_coc needs the sample condition 'coc_px'",
        )


def make_plan(
    model: Any,
    benchmark: Any,
    metrics: Sequence[Any] | None = None,
    *,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
) -> Plan:
    """Resolve and check an evaluation (see the module docstring)."""
    import torch

    check(isinstance(seed, int) and not isinstance(seed, bool), lambda: f"seed must be an int, got {seed!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise InvalidInputError(f"device {device!r} is not a torch device ({err})") from None
    if dev.type == "cuda":
        check(torch.cuda.is_available(), lambda: f"device {device!r}: CUDA is not available on this machine")
    if isinstance(model, str):
        from ..models import MODELS

        MODELS.get(model)  # an unknown name fails first, with close matches
    bench = resolve_benchmark(benchmark)
    spec = bench.spec
    protocol = check_protocol(spec.protocol, spec.task)
    mdl = resolve_model(model, spec.task)
    metric_objs, default = resolve_metrics(metrics, bench)
    bench.prepare(progress=progress)
    ids = [str(s) for s in bench.sample_ids()]
    check(len(ids) > 0, lambda: f"benchmark {spec.name!r} has no samples")
    check(len(set(ids)) == len(ids), lambda: f"benchmark {spec.name!r} has duplicate sample ids")
    _check_metrics(metric_objs, protocol, spec.task, bench.load(ids[0]), spec.name)
    content_hash = bench.content_hash()
    model_info = {
        "name": mdl.name,
        "weights_sha256": weights_sha256(mdl),
        "config": _json_config(mdl),
        "tasks": list(mdl.tasks),
        "class": f"{type(mdl).__module__}:{type(mdl).__qualname__}",
    }
    bench_info = {
        "name": spec.name,
        "version": spec.version,
        "content_hash": content_hash,
        "task": spec.task,
        "headline_metric": spec.headline_metric,
        "num_samples": len(ids),
        "definition": spec.as_dict(),
    }
    metric_info = [
        {
            "name": m.spec.name,
            "higher_is_better": m.spec.higher_is_better,
            "version": m.spec.version,
            "definition": json.loads(json.dumps(m.spec.as_dict(), sort_keys=True, default=str)),
        }
        for m in metric_objs
    ]
    return Plan(
        mdl,
        bench,
        metric_objs,
        protocol,
        ids,
        content_hash,
        model_info,
        bench_info,
        metric_info,
        seed,
        str(dev),
        default,
    )
