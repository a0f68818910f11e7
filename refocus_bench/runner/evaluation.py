"""``evaluate(model, benchmark, metrics)``: score a model on a benchmark, resumably, with provenance.

:func:`evaluate` runs five named steps:

1. **plan**: :func:`~refocus_bench.runner.plan.make_plan` resolves names and checks everything up
   front (:func:`_check_options` checks the run options first).
2. **resume**: :func:`_resume` reads back the samples already in the per-sample cache
   (``RESULTS_DIR/.cache/<run key>/``) and lists the rest.
3. **run**: :func:`_run` splits those into chunks of ``batch_size`` consecutive samples, runs them
   with the chosen executor, caches each finished sample at once (so a killed run loses at most the
   samples in flight) and writes the first ``save_examples`` predictions as PNGs.
4. **score**: :func:`_score` builds the results record (per-sample scores, summary means, digest).
5. **write**: :func:`_write` writes it atomically to ``RESULTS_DIR/<benchmark>/<model>.json``.

The record of a run that stops early (an exception, Ctrl-C) is still scored and written, with
status ``"partial"``, when at least one sample finished. The return value is an :class:`Evaluation`:
the per-sample :class:`pandas.DataFrame` (``.frame``), the record, its path, the error count and
the timings::

    ev = evaluate("deblur.wiener", "synthetic-deblur", out_dir="results/", progress=False)
    ev.frame["psnr.rgb"].mean()     # the DataFrame, one row per sample
    ev.record["summary"]            # == ev.summary: mean and count per metric
    ev.path                         # results/synthetic-deblur/deblur.wiener.json
    ev.errors, ev.timings["wall_s"], ev.computed, ev.cached
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import check
from ..hashing import file_sha256
from ..results import write_record
from .cache import SampleCache
from .executors import EXECUTORS, default_threads, job_bytes, run_chunks
from .naming import cache_dir, examples_dir, record_path, safe_name
from .plan import Plan, make_plan, run_key
from .record import build_record, environment, error_count, save_example, utc_now
from .worker import Job

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Evaluation", "evaluate", "results_frame"]


@dataclass(frozen=True, eq=False)
class Evaluation:
    """What :func:`evaluate` returns: the per-sample table plus the record it was built from.

    Attributes:
        frame: one row per sample, in benchmark order: ``id``, the subset columns, one ``float64``
            column per metric (NaN where the sample failed), ``oracle_k_px_m`` under the
            ``oracle_blur_strength`` protocol, ``runtime_s`` (model seconds) and ``error`` (None, or
            a one-line reason). See :func:`results_frame`.
        record: the results record (schema: :mod:`refocus_bench.results`), exactly as written.
        path: the record's file, or None when ``out_dir`` was None (nothing written).
        errors: how many samples carry an error (their scores are null; the record is still
            ``"complete"``); :attr:`failed` lists them with their reasons.
        timings: seconds spent by this call: ``wall_s`` (the whole call), ``model_s`` (model calls),
            ``metric_s`` (scoring), ``load_s`` (loading samples); the last three sum over workers and
            cover only the samples computed in this call.
        computed: samples computed in this call.
        cached: samples read back from the per-sample cache.

    Equality is identity (``eq=False``): a DataFrame has no single truth value.
    """

    frame: pd.DataFrame = field(repr=False)
    record: dict[str, Any] = field(repr=False)
    path: Path | None
    errors: int
    timings: Mapping[str, float]
    computed: int
    cached: int

    @property
    def failed(self) -> list[tuple[str, str]]:
        """``(sample id, reason)`` of every sample that failed, in benchmark order (empty: all scored).

        A sample fails when loading it, the model call or a metric raised, or when the model's output
        was unusable (NaN or inf anywhere, border included; not a tensor; wrong shape or dtype). Its
        scores are null and the reason is the record's one-line ``error``; the model is
        ``record["model"]["name"]``. ``refocus-bench evaluate`` exits with 1 when this is not empty.
        """
        return [(s["id"], s["error"]) for s in self.record["samples"] if s.get("error")]

    @property
    def summary(self) -> dict[str, dict[str, Any]]:
        """``{metric: {"mean": float | None, "n": int}}``: the record's per-metric means."""
        return self.record["summary"]


@dataclass
class _Progress:
    """State of a run between the steps: what is known, what is left, where examples are."""

    cache: SampleCache
    results: dict[str, dict[str, Any]]  # sample id -> per-sample result (cached or computed here)
    examples: dict[str, str]  # sample id -> prediction PNG, relative to the results folder
    example_ids: list[str]
    todo: list[str]
    n_cached: int
    timings: dict[str, float] = field(default_factory=lambda: {"model_s": 0.0, "metric_s": 0.0, "load_s": 0.0})


def results_frame(plan: Plan, record: dict[str, Any]) -> pd.DataFrame:
    """One row per sample: ``id``, subset columns, one column per metric, protocol columns
    (``oracle_k_px_m`` for the oracle blur-strength search), ``runtime_s``, ``error``."""
    import pandas as pd

    subset_keys = list(plan.benchmark.spec.subsets)
    for s in record["samples"]:
        subset_keys += [k for k in s.get("subset", {}) if k not in subset_keys]
    oracle_k = plan.protocol["name"] == "oracle_blur_strength"
    rows = []
    for s in record["samples"]:
        row: dict[str, Any] = {"id": s["id"]}
        row.update({k: s.get("subset", {}).get(k) for k in subset_keys})
        row.update({m: s["scores"][m] for m in plan.metric_names})
        if oracle_k:
            row["oracle_k_px_m"] = s.get("protocol", {}).get("k_px_m")
        row["runtime_s"] = s["runtime_s"]
        row["error"] = s["error"]
        rows.append(row)
    cols = ["id", *subset_keys, *plan.metric_names, *(["oracle_k_px_m"] if oracle_k else [])]
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
) -> Evaluation:
    """Evaluate ``model`` on ``benchmark``; return the per-sample scores and the results record.

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
        an :class:`Evaluation`: ``.frame`` (the ``pandas.DataFrame``, one row per sample), ``.record``,
        ``.path`` (a :class:`~pathlib.Path`, or None), ``.errors``, ``.timings``, ``.computed``, ``.cached``.

    Raises:
        RefocusBenchError: unknown names, a model that lacks the benchmark's task, a metric that
            cannot be computed on the benchmark, an unknown protocol (before any sample is computed).
    """
    t_start = time.perf_counter()
    started = utc_now()
    _check_options(executor, workers, batch_size, save_examples)
    plan = make_plan(model, benchmark, metrics, seed=seed, device=device, progress=progress)
    out = Path(out_dir) if out_dir is not None else None
    example_ids = plan.sample_ids[:save_examples] if out is not None else []
    job = _job(plan, example_ids, workers, executor)
    payload = job_bytes(job) if executor == "local" and workers > 1 else None  # unpicklable: refused here
    state = _resume(plan, out, batch_size, example_ids)
    status = "partial"
    try:
        _run(
            plan,
            state,
            job,
            out,
            batch_size=batch_size,
            executor=executor,
            workers=workers,
            payload=payload,
            progress=progress,
        )
        status = "complete"
    finally:  # a stopped run still leaves a "partial" record of what finished
        if state.results or status == "complete":
            env = environment(plan.device, executor, workers, batch_size=batch_size, cached_samples=state.n_cached)
            record = _score(plan, state, status, started, time.perf_counter() - t_start, env)
            path = _write(plan, record, out)
    return Evaluation(
        frame=results_frame(plan, record),
        record=record,
        path=path,
        errors=error_count(record),
        timings={**state.timings, "wall_s": time.perf_counter() - t_start},
        computed=len(state.todo),
        cached=state.n_cached,
    )


def _check_options(executor: str, workers: int, batch_size: int, save_examples: int) -> None:
    """Step 1a: the run options (Ray importable when asked for)."""
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


def _resume(plan: Plan, out: Path | None, batch_size: int, example_ids: list[str]) -> _Progress:
    """Step 2: read back the cached samples of this run key; list the samples left to compute.

    A cached sample is computed again when it should have an example PNG and the PNG is missing or
    not the one this run key wrote (its sha256 differs); a cached sample that failed without a
    prediction (an error and no example recorded) has no PNG to restore and is not computed again.
    """
    key_info = plan.key_info()
    if batch_size > 1:  # stacked model calls may round differently (and seed per batch): never mix with batch 1
        key_info["batch_size"] = batch_size
    cache = SampleCache(cache_dir(out, run_key(key_info)) if out is not None else None, key_info)
    results = cache.load(plan.sample_ids)
    examples = {sid: p for sid in example_ids if (p := _existing_example(out, plan, sid, results.get(sid)))}
    todo = [sid for sid in plan.sample_ids if sid not in results or _needs_example(sid, results, examples, example_ids)]
    return _Progress(cache, results, examples, example_ids, todo, n_cached=len(results))


def _needs_example(
    sid: str, results: dict[str, dict[str, Any]], examples: dict[str, str], example_ids: list[str]
) -> bool:
    """A cached example sample whose PNG is missing or stale, and that had a prediction to save."""
    if sid not in example_ids or sid in examples:
        return False
    r = results[sid]
    return bool(r.get("example_sha256")) or not r.get("error")


def _job(plan: Plan, example_ids: list[str], workers: int, executor: str) -> Job:
    """The picklable unit of work the executors send to workers."""
    parallel = workers > 1 or executor == "ray"
    return Job(
        plan.model,
        plan.benchmark,
        plan.metrics,
        plan.task,
        plan.protocol,
        plan.seed,
        plan.device,
        frozenset(example_ids),
        default_threads(workers) if parallel else None,
    )


def _chunks(sample_ids: Sequence[str], todo: Iterable[str], batch_size: int) -> list[list[str]]:
    """The samples of ``todo`` in chunks of at most ``batch_size``, cut at fixed benchmark positions.

    Batches follow the benchmark order, so a resumed run stacks the same neighbours.

    Example:
        >>> _chunks(["a", "b", "c", "d", "e"], ["a", "c", "d", "e"], 2)
        [['a'], ['c', 'd'], ['e']]
    """
    pending = set(todo)
    return [
        c
        for i in range(0, len(sample_ids), batch_size)
        if (c := [s for s in sample_ids[i : i + batch_size] if s in pending])
    ]


def _run(
    plan: Plan,
    state: _Progress,
    job: Job,
    out: Path | None,
    *,
    batch_size: int,
    executor: str,
    workers: int,
    payload: bytes | None,
    progress: bool,
) -> None:
    """Step 3: compute ``state.todo``; each finished sample goes into ``state`` and the cache at once."""
    bar = _bar(progress, len(plan.sample_ids), state.n_cached, plan)
    try:
        chunks = _chunks(plan.sample_ids, state.todo, batch_size)
        for chunk in run_chunks(job, chunks, executor=executor, workers=workers, payload=payload):
            for r in chunk:
                _collect(plan, state, r, out)
                if bar is not None and r["id"] not in state.results:
                    bar.update(1)
                state.cache.put(r)  # a recomputed example sample replaces its (equal, seeded) cached result
                state.results[r["id"]] = r
    finally:
        if bar is not None:
            bar.close()


def _collect(plan: Plan, state: _Progress, r: dict[str, Any], out: Path | None) -> None:
    """Take one worker result: save its example PNGs (recording their sha256), add up its timings."""
    images = r.pop("images", None)
    if images is not None and out is not None:
        state.examples[r["id"]] = save_example(out, plan, r["id"], images)
        r["example_sha256"] = file_sha256(out / state.examples[r["id"]])
    state.timings["model_s"] += r["runtime_s"]
    state.timings["metric_s"] += r.pop("metric_s", 0.0)
    state.timings["load_s"] += r.pop("load_s", 0.0)


def _score(
    plan: Plan, state: _Progress, status: str, started: str, wall_time_s: float, env: dict[str, Any]
) -> dict[str, Any]:
    """Step 4: the finalized results record (summary means and digest included, validated)."""
    return build_record(
        plan, state.results, status=status, started=started, wall_time_s=wall_time_s, env=env, examples=state.examples
    )


def _write(plan: Plan, record: dict[str, Any], out: Path | None) -> Path | None:
    """Step 5: write the record atomically under ``out`` (nothing when ``out`` is None)."""
    if out is None:
        return None
    return write_record(
        record_path(out, plan.benchmark.spec.name, plan.model_info["name"], plan.metric_set_tag), record
    )


def _existing_example(out: Path | None, plan: Plan, sample_id: str, cached: dict[str, Any] | None) -> str | None:
    """The example PNG of a cached sample, if it is still the one this run wrote (same sha256)."""
    if out is None or cached is None or not cached.get("example_sha256"):
        return None
    p = examples_dir(out, plan.benchmark.spec.name, plan.model_info["name"]) / f"{safe_name(sample_id)}.png"
    return p.relative_to(out).as_posix() if p.is_file() and file_sha256(p) == cached["example_sha256"] else None


def _bar(progress: bool, total: int, done: int, plan: Plan) -> Any:
    """A tqdm bar on stderr (None when ``progress`` is off)."""
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
