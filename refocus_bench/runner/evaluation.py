"""``evaluate(model, benchmark, metrics)``: score a model on a benchmark, resumably, with provenance.

Flow: :func:`~refocus_bench.runner.plan.make_plan` resolves and checks everything up front; samples
already in the per-sample cache (``RESULTS_DIR/.cache/<run key>/``) are read back; the rest are
split into chunks of ``batch_size`` consecutive samples and run by the chosen executor; each finished
sample is cached at once (so a killed run loses at most the samples in flight) and the first
``save_examples`` predictions are written as PNGs; finally one results record is written atomically
to ``RESULTS_DIR/<benchmark>/<model>.json`` and a :class:`pandas.DataFrame` is returned.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import check
from ..hashing import file_sha256
from ..results import write_record
from .cache import SampleCache
from .executors import EXECUTORS, default_threads, run_chunks
from .naming import cache_dir, record_path
from .plan import Plan, make_plan, run_key
from .record import build_record, environment, error_count, save_example, utc_now
from .worker import Job

__all__ = ["evaluate", "results_frame"]


def results_frame(plan: Plan, record: dict[str, Any]) -> Any:
    """One row per sample: ``id``, subset columns, one column per metric, protocol columns
    (``oracle_k_px_m`` for the oracle blur-strength search), ``runtime_s``, ``error``."""
    import pandas as pd

    subset_keys = list(plan.benchmark.spec.subsets)
    for s in record["samples"]:
        subset_keys += [k for k in s.get("subset", {}) if k not in subset_keys]
    rows = []
    for s in record["samples"]:
        row: dict[str, Any] = {"id": s["id"]}
        row.update({k: s.get("subset", {}).get(k) for k in subset_keys})
        row.update({m: s["scores"][m] for m in plan.metric_names})
        if plan.protocol["name"] == "oracle_blur_strength":
            row["oracle_k_px_m"] = s.get("protocol", {}).get("k_px_m")
        row["runtime_s"] = s["runtime_s"]
        row["error"] = s["error"]
        rows.append(row)
    cols = ["id", *subset_keys, *plan.metric_names]
    cols += ["oracle_k_px_m"] if plan.protocol["name"] == "oracle_blur_strength" else []
    df = pd.DataFrame(rows, columns=[*cols, "runtime_s", "error"])
    for m in plan.metric_names:
        df[m] = df[m].astype("float64")
    df["error"] = pd.Series([r["error"] for r in rows], index=df.index, dtype=object)  # None stays None
    return df


def evaluate(
    model: Any,
    benchmark: Any,
    metrics: Sequence[Any] | None = None,
    *,
    device: str = "cpu",
    batch_size: int = 1,
    workers: int = 1,
    executor: str = "local",
    out_dir: str | Path | None = None,
    progress: bool = True,
    save_examples: int = 4,
    seed: int = 0,
) -> Any:
    """Evaluate ``model`` on ``benchmark`` and return per-sample results as a ``pandas.DataFrame``.

    Args:
        model: a registry name (``"deblur.wiener"``) or a :class:`~refocus_bench.models.base.RefocusModel`.
        benchmark: a registry name (``"synthetic-deblur"``) or a :class:`~refocus_bench.benchmarks.base.Benchmark`.
        metrics: registry names or metric instances; default: the benchmark's ``spec.metrics``. The
            headline metric is always included.
        device: torch device of the model and metrics (``"cpu"``, ``"cuda:0"``).
        batch_size: consecutive samples per unit of work sent to a worker; under the ``direct`` and
            ``oracle_coc`` protocols, those of equal size and equal scalar conditions share one model
            call (seeded from the first sample's id). ``batch_size > 1`` is part of the run key.
        workers: parallel workers (processes for ``executor="local"``, actors for ``"ray"``).
        executor: ``"local"`` or ``"ray"`` (optional extra ``ray``; uses a running Ray instance or
            starts a local one).
        out_dir: results folder: the record is written to ``out_dir/<benchmark>/<model>.json``, example
            PNGs under ``out_dir/examples/`` and the per-sample cache under ``out_dir/.cache/``
            (rerunning the same evaluation resumes it). None: nothing is written, nothing is resumed.
        progress: a tqdm progress bar on stderr.
        save_examples: how many of the first samples get their prediction saved as PNG.
        seed: run seed; each sample's torch/numpy/random seed is derived from (seed, sample id).

    Returns:
        ``DataFrame`` with one row per sample (``id``, subset columns, one column per metric,
        ``oracle_k_px_m`` under the oracle blur-strength protocol, ``runtime_s`` = model seconds,
        ``error``); ``df.attrs`` holds ``record`` (the results record), ``path`` (its file or None)
        and ``timing`` (wall, model, metric and load seconds of this call, samples computed/cached).

    Raises:
        RefocusBenchError: unknown names, a model that lacks the benchmark's task, a metric that
            cannot be computed on the benchmark, an unknown protocol (before any sample is computed).
    """
    t_start = time.perf_counter()
    started = utc_now()
    check(executor in EXECUTORS, lambda: f"executor must be one of {list(EXECUTORS)}, got {executor!r}")
    check(
        isinstance(workers, int) and not isinstance(workers, bool) and workers >= 1,
        lambda: f"workers must be an int >= 1, got {workers!r}",
    )
    check(
        isinstance(batch_size, int) and not isinstance(batch_size, bool) and batch_size >= 1,
        lambda: f"batch_size must be an int >= 1, got {batch_size!r}",
    )
    check(
        isinstance(save_examples, int) and save_examples >= 0,
        lambda: f"save_examples must be an int >= 0, got {save_examples!r}",
    )
    if executor == "ray":
        from ..ray_backend import require_ray

        require_ray()
    plan = make_plan(model, benchmark, metrics, seed=seed, device=device, progress=progress)
    out = Path(out_dir) if out_dir is not None else None
    key_info = plan.key_info()
    if batch_size > 1:  # stacked model calls may round differently (and seed per batch): never mix with batch 1
        key_info["batch_size"] = batch_size
    cache = SampleCache(cache_dir(out, run_key(key_info)) if out is not None else None, key_info)
    results = cache.load(plan.sample_ids)
    n_cached = len(results)
    example_ids = plan.sample_ids[:save_examples] if out is not None else []
    examples = {sid: p for sid in example_ids if (p := _existing_example(out, plan, sid, results.get(sid)))}
    todo = [sid for sid in plan.sample_ids if sid not in results or (sid in example_ids and sid not in examples)]
    parallel = workers > 1 or executor == "ray"
    job = Job(
        plan.model,
        plan.benchmark,
        plan.metrics,
        plan.task,
        plan.protocol,
        seed,
        plan.device,
        frozenset(example_ids),
        default_threads(workers) if parallel else None,
    )
    timing = {"model_s": 0.0, "metric_s": 0.0, "load_s": 0.0}
    bar = _bar(progress, len(plan.sample_ids), n_cached, plan)
    status = "partial"
    try:
        pending = set(todo)  # batches follow the benchmark order, so a resumed run stacks the same neighbours
        chunks = [
            c
            for i in range(0, len(plan.sample_ids), batch_size)
            if (c := [s for s in plan.sample_ids[i : i + batch_size] if s in pending])
        ]
        for chunk in run_chunks(job, chunks, executor=executor, workers=workers):
            for r in chunk:
                images = r.pop("images", None)
                if images is not None and out is not None:
                    examples[r["id"]] = save_example(out, plan, r["id"], images)
                    r["example_sha256"] = file_sha256(out / examples[r["id"]])
                timing["model_s"] += r["runtime_s"]
                timing["metric_s"] += r.pop("metric_s", 0.0)
                timing["load_s"] += r.pop("load_s", 0.0)
                if bar is not None and r["id"] not in results:
                    bar.update(1)
                cache.put(r)  # a recomputed example sample replaces its (equal, seeded) cached result
                results[r["id"]] = r
        status = "complete"
    finally:
        if bar is not None:
            bar.close()
        wall = time.perf_counter() - t_start
        env = environment(plan.device, executor, workers, batch_size=batch_size, cached_samples=n_cached)
        if results or status == "complete":
            record = build_record(
                plan, results, status=status, started=started, wall_time_s=wall, env=env, examples=examples
            )
            path = None
            if out is not None:
                path = write_record(
                    record_path(out, plan.benchmark.spec.name, plan.model_info["name"], plan.metric_set_tag), record
                )
    df = results_frame(plan, record)
    df.attrs.update(
        record=record,
        path=None if path is None else str(path),
        errors=error_count(record),
        timing={**timing, "wall_s": time.perf_counter() - t_start, "computed": len(todo), "cached": n_cached},
    )
    return df


def _existing_example(out: Path | None, plan: Plan, sample_id: str, cached: dict[str, Any] | None) -> str | None:
    """The example PNG of a cached sample, if it is still the one this run wrote (same sha256)."""
    from .naming import examples_dir, safe_name

    if out is None or cached is None or not cached.get("example_sha256"):
        return None
    p = examples_dir(out, plan.benchmark.spec.name, plan.model_info["name"]) / f"{safe_name(sample_id)}.png"
    return p.relative_to(out).as_posix() if p.is_file() and file_sha256(p) == cached["example_sha256"] else None


def _bar(progress: bool, total: int, done: int, plan: Plan) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=done,
        unit="sample",
        file=sys.stderr,
        desc=f"{plan.model_info['name']} on {plan.benchmark.spec.name}",
    )
