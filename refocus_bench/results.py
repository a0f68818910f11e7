"""The results record: one JSON file per (model, benchmark, metric set) run, with provenance.

This module is the contract between the evaluation runner (which writes records) and the
leaderboards (a pure function of records). It depends on nothing heavier than the standard library.

A record is a JSON object::

    {
      "schema": "refocus-bench.results/1",
      "status": "complete",                      # or "partial" (an interrupted or failing run)
      "toolkit": {"name": "refocus-bench", "version": "0.1.0", "git_commit": "..." | null},
      "model": {"name": "deblur.wiener", "weights_sha256": "..." | null, "config": {...},
                "tasks": ["deblur"]},
      "benchmark": {"name": "synthetic-deblur", "version": "1", "content_hash": "<64 hex>",
                    "task": "deblur", "headline_metric": "lpips.alex", "num_samples": 24,
                    "definition": {...}},          # the declarative benchmark definition
      "metrics": [{"name": "lpips.alex", "higher_is_better": false, "version": "1",
                   "definition": {...}}],        # MetricSpec.as_dict()
      "seeds": {"benchmark": 0, "model": 0},
      "environment": {"device": "cpu", "python": "3.11.9", "torch": "2.14.1", "platform": "...",
                      "threads": 2, "executor": "local", "workers": 1},
      "started": "2026-11-25T23:40:00Z", "wall_time_s": 12.5,
      "samples": [{"id": "0000", "subset": {"aperture": "disk"}, "scores": {"lpips.alex": 0.12},
                   "runtime_s": 0.05, "error": null}],
      "summary": {"lpips.alex": {"mean": 0.12, "n": 24}},
      "digest": "<sha256 of the canonical JSON of everything above>"
    }

Sample ``scores`` hold one finite float per metric, or ``null`` where the model or the metric failed on
that sample; then ``error`` holds a one-line reason. ``summary`` is the mean over the samples that have a
score, and is checked against ``samples`` on load. ``digest`` detects edits made by hand (a changed
score, a dropped sample) — it is an integrity check, not a signature. Runtime fields (``started``,
``wall_time_s``, ``runtime_s``, ``environment``) vary between runs; everything else is a pure function of
model, benchmark, metrics and seeds.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import InvalidInputError, MissingFileError
from .hashing import canonical_json, json_sha256
from .tasks import TASKS

__all__ = [
    "SCHEMA",
    "STATUSES",
    "InvalidResultError",
    "canonical_json",
    "record_digest",
    "summarize",
    "finalize_record",
    "validate_record",
    "read_record",
    "write_record",
    "record_key",
]

SCHEMA = "refocus-bench.results/1"
STATUSES = {"complete", "partial"}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TOP_KEYS = (
    "schema",
    "status",
    "toolkit",
    "model",
    "benchmark",
    "metrics",
    "seeds",
    "environment",
    "started",
    "wall_time_s",
    "samples",
    "summary",
    "digest",
)
_BENCH_KEYS = ("name", "version", "content_hash", "task", "headline_metric", "num_samples")


class InvalidResultError(InvalidInputError):
    """A results record that does not follow the schema, or whose numbers do not add up."""


def record_digest(record: Mapping[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of ``record`` without its ``digest`` field."""
    body = {k: v for k, v in record.items() if k != "digest"}
    return json_sha256(body)


def summarize(samples: Sequence[Mapping[str, Any]], metric_names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Mean and count per metric over the samples that have a score for it.

    Returns ``{metric: {"mean": float | None, "n": int}}``; ``mean`` is None when no sample has a score.
    Summation is in sample order with ``math.fsum`` so the result is exact to rounding and reproducible.
    """
    out: dict[str, dict[str, Any]] = {}
    for m in metric_names:
        vals = [s["scores"][m] for s in samples if s.get("scores", {}).get(m) is not None]
        out[m] = {"mean": (math.fsum(vals) / len(vals)) if vals else None, "n": len(vals)}
    return out


def finalize_record(record: dict[str, Any]) -> dict[str, Any]:
    """Fill ``schema``, ``summary`` and ``digest`` of a record under construction and validate it.

    Args:
        record: every top-level key of the schema except ``schema``, ``summary`` and ``digest``.
    Returns:
        a new dict ready for :func:`write_record`.
    """
    rec = {k: v for k, v in record.items() if k not in ("summary", "digest")}
    rec["schema"] = SCHEMA
    rec["summary"] = summarize(rec.get("samples", []), [m["name"] for m in rec.get("metrics", [])])
    rec["digest"] = record_digest(rec)
    validate_record(rec)
    return rec


def _fail(where: str, msg: str) -> InvalidResultError:
    return InvalidResultError(f"{where}: {msg}")


def _need(d: Any, keys: Sequence[str], where: str) -> None:
    if not isinstance(d, Mapping):
        raise _fail(where, f"expected a JSON object, got {type(d).__name__}")
    missing = [k for k in keys if k not in d]
    if missing:
        raise _fail(where, f"missing field(s) {missing}")


def validate_record(record: Any, *, where: str = "results") -> dict[str, Any]:
    """Check a record against the schema and its own numbers; return it unchanged.

    Checks, one section at a time: schema tag, status, toolkit and model (:func:`_check_header`);
    benchmark hash format, task and sample count (:func:`_check_benchmark`); metric definitions with
    unique names, the headline among them (:func:`_check_metrics`); unique sample ids and one score
    (finite float or null with an ``error``) per declared metric per sample (:func:`_check_samples`);
    a ``complete`` record has all ``num_samples`` samples (some may carry an ``error``: the model
    failed on them and the run went on), a ``partial`` one (an interrupted run) at most that many
    (:func:`_check_sample_count`); ``summary`` equals the recomputed means and ``digest`` matches
    (:func:`_check_totals`).

    Raises:
        InvalidResultError: naming the field and what was expected.
    """
    _need(record, _TOP_KEYS, where)
    _check_header(record, where)
    n_expected = _check_benchmark(record["benchmark"], f"{where}.benchmark")
    names = _check_metrics(record["metrics"], record["benchmark"]["headline_metric"], where)
    _check_samples(record["samples"], names, f"{where}.samples")
    _check_sample_count(record["status"], len(record["samples"]), n_expected, f"{where}.samples")
    _check_totals(record, names, where)
    return dict(record)


def _hex64(v: Any) -> bool:
    return isinstance(v, str) and bool(_HEX64.match(v))


def _check_header(record: Mapping[str, Any], where: str) -> None:
    """``schema``, ``status``, ``toolkit`` and ``model``."""
    if record["schema"] != SCHEMA:
        raise _fail(where, f"schema must be {SCHEMA!r}, got {record['schema']!r}")
    if record["status"] not in STATUSES:
        raise _fail(where, f"status must be one of {sorted(STATUSES)}, got {record['status']!r}")
    _need(record["toolkit"], ("name", "version"), f"{where}.toolkit")
    _need(record["model"], ("name", "weights_sha256"), f"{where}.model")
    if not isinstance(record["model"]["name"], str) or not record["model"]["name"]:
        raise _fail(f"{where}.model.name", "expected a non-empty string")
    wsha = record["model"]["weights_sha256"]
    if wsha is not None and not _hex64(wsha):
        raise _fail(f"{where}.model.weights_sha256", f"expected 64 lowercase hex digits or null, got {wsha!r}")


def _check_benchmark(bench: Any, where: str) -> int:
    """The ``benchmark`` section; returns its ``num_samples``."""
    _need(bench, _BENCH_KEYS, where)
    if not _hex64(bench["content_hash"]):
        raise _fail(f"{where}.content_hash", f"expected 64 lowercase hex digits, got {bench['content_hash']!r}")
    if bench["task"] not in TASKS:
        raise _fail(f"{where}.task", f"expected one of {list(TASKS)}, got {bench['task']!r}")
    n_expected = bench["num_samples"]
    if not (isinstance(n_expected, int) and n_expected > 0):
        raise _fail(f"{where}.num_samples", f"expected a positive integer, got {n_expected!r}")
    return n_expected


def _check_metrics(metrics: Any, headline: Any, where: str) -> list[str]:
    """The ``metrics`` list (and that the benchmark's headline is among it); returns the metric names."""
    if not isinstance(metrics, list) or not metrics:
        raise _fail(f"{where}.metrics", "expected a non-empty list of metric definitions")
    names: list[str] = []
    for i, m in enumerate(metrics):
        _need(m, ("name", "higher_is_better", "version"), f"{where}.metrics[{i}]")
        if not isinstance(m["higher_is_better"], bool):
            raise _fail(f"{where}.metrics[{i}].higher_is_better", "expected true or false")
        names.append(m["name"])
    if len(set(names)) != len(names):
        raise _fail(f"{where}.metrics", f"duplicate metric names in {names}")
    if headline not in names:
        raise _fail(f"{where}.benchmark.headline_metric", f"{headline!r} is not among the record's metrics {names}")
    return names


def _check_samples(samples: Any, names: Sequence[str], where: str) -> None:
    """The ``samples`` list: each sample valid (:func:`_check_sample`), ids unique."""
    if not isinstance(samples, list):
        raise _fail(where, "expected a list")
    seen: set[str] = set()
    for i, s in enumerate(samples):
        _check_sample(s, names, f"{where}[{i}]", seen)


def _check_sample(s: Any, names: Sequence[str], w: str, seen: set[str]) -> None:
    """One sample: a new id (added to ``seen``), exactly one finite score or null per metric (null
    needs an ``error``), string subset labels."""
    _need(s, ("id", "scores", "error"), w)
    sid = s["id"]
    if not isinstance(sid, str) or not sid:
        raise _fail(f"{w}.id", "expected a non-empty string")
    if sid in seen:
        raise _fail(f"{w}.id", f"duplicate sample id {sid!r}")
    seen.add(sid)
    scores = s["scores"]
    if not isinstance(scores, Mapping) or set(scores) != set(names):
        got = sorted(scores) if isinstance(scores, Mapping) else scores
        raise _fail(f"{w}.scores", f"expected exactly the metrics {sorted(names)}, got {got}")
    has_null = False
    for m, v in scores.items():
        if v is None:
            has_null = True
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise _fail(f"{w}.scores[{m!r}]", f"expected a finite number or null, got {v!r}")
    if has_null and not (isinstance(s["error"], str) and s["error"]):
        raise _fail(f"{w}.error", "a sample with a null score must say why in 'error'")
    if "subset" in s and not (
        isinstance(s["subset"], Mapping)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in s["subset"].items())
    ):
        raise _fail(f"{w}.subset", "expected an object of string keys and string values")


def _check_sample_count(status: str, n: int, n_expected: int, where: str) -> None:
    """A complete record has every sample of the benchmark; a partial one at most that many."""
    if status == "complete":
        if n != n_expected:
            raise _fail(where, f"a complete record needs {n_expected} samples (benchmark.num_samples), got {n}")
    elif n > n_expected:
        raise _fail(where, f"{n} samples exceed benchmark.num_samples={n_expected}")


def _check_totals(record: Mapping[str, Any], names: Sequence[str], where: str) -> None:
    """``summary`` equals the means recomputed from the samples; ``digest`` matches the content."""
    expected_summary = summarize(record["samples"], names)
    if record["summary"] != expected_summary:
        raise _fail(
            f"{where}.summary",
            f"does not match the per-sample scores (recomputed {expected_summary}, recorded {record['summary']})",
        )
    if record["digest"] != record_digest(record):
        raise _fail(
            f"{where}.digest",
            "does not match the record's content: the file was edited after it "
            "was written (recompute it with refocus_bench.results.finalize_record "
            "only if the edit is legitimate)",
        )


def read_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate one results JSON file.

    Raises:
        MissingFileError: the file does not exist.
        InvalidResultError: not JSON, or not a valid record (the message names the file and field).
    """
    p = Path(path)
    if not p.is_file():
        raise MissingFileError(f"results file {str(p)!r} does not exist")
    try:
        record = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InvalidResultError(f"results file {str(p)!r} is not valid JSON: {e}") from None
    return validate_record(record, where=str(p))


def write_record(path: str | os.PathLike[str], record: Mapping[str, Any]) -> Path:
    """Validate and write a record atomically (write to a temporary file, then rename)."""
    from .io import atomic_write_bytes

    validate_record(record)
    text = json.dumps(record, sort_keys=True, indent=1, ensure_ascii=True, allow_nan=False) + "\n"
    atomic_write_bytes(path, text.encode("ascii"))
    return Path(path)


def record_key(record: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(benchmark name, benchmark version, model name, weights sha256 or '') identifying a leaderboard row."""
    b, m = record["benchmark"], record["model"]
    return (b["name"], str(b["version"]), m["name"], m["weights_sha256"] or "")
