"""When do two results records carry "the same numbers"? Equal up to float noise, per metric.

Two honest runs of one model on one benchmark differ in the last bits of their scores when they ran on
different machines (another BLAS, another CPU's vector width, another summation order in a network
metric computed in float32): a rerun of a committed baseline differs from the committed record by about
1.2e-7 in LPIPS and DISTS. Such records are the same result and must build side by side; a record whose
scores differ by more is a different result and must still be refused.

Two scores ``a`` and ``b`` of metric ``m`` agree when

    |a - b| <= atol(m) + rtol(m) * max(|a|, |b|)

with :data:`DEFAULT_TOLERANCE` (``rtol = 1e-6``, ``atol = 1e-6``) unless :data:`METRIC_TOLERANCES`
names the metric (first matching ``fnmatch`` pattern wins). ``atol`` covers scores near zero, where a
relative bound alone would demand bit equality: 1e-6 is about eight float32 units in the last place of a
score near 1. Everything that is not a score must be equal exactly: the sample ids, their subset labels,
which scores are null, the metric names and directions. The ``summary`` means are compared with the same
per-metric tolerance and the counts exactly.

Example:
    >>> scores_agree("lpips.alex", 0.1234567, 0.1234568)
    True
    >>> scores_agree("lpips.alex", 0.1234, 0.1240)
    False
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..hashing import canonical_json

__all__ = [
    "Tolerance",
    "DEFAULT_TOLERANCE",
    "METRIC_TOLERANCES",
    "tolerance_for",
    "scores_agree",
    "numbers_differ",
    "record_numbers",
]


@dataclass(frozen=True)
class Tolerance:
    """Relative and absolute tolerance of one metric's scores (unitless, in the metric's own units)."""

    rtol: float
    atol: float

    def agree(self, a: float | None, b: float | None) -> bool:
        if a is None or b is None:
            return a is None and b is None
        a, b = float(a), float(b)
        if not (math.isfinite(a) and math.isfinite(b)):
            return a == b
        return abs(a - b) <= self.atol + self.rtol * max(abs(a), abs(b))


DEFAULT_TOLERANCE = Tolerance(rtol=1e-6, atol=1e-6)

# fnmatch pattern -> tolerance, checked in order; metrics not listed use DEFAULT_TOLERANCE.
METRIC_TOLERANCES: tuple[tuple[str, Tolerance], ...] = ()


def tolerance_for(metric: str) -> Tolerance:
    """The tolerance that two scores of ``metric`` must meet to count as the same number."""
    for pattern, tol in METRIC_TOLERANCES:
        if fnmatch.fnmatchcase(metric, pattern):
            return tol
    return DEFAULT_TOLERANCE


def scores_agree(metric: str, a: float | None, b: float | None) -> bool:
    """True when ``a`` and ``b`` are the same score of ``metric`` up to float noise (None only equals None)."""
    return tolerance_for(metric).agree(a, b)


def record_numbers(record: Mapping[str, Any]) -> str:
    """Canonical text of what a leaderboard shows of a record, exactly: per-sample scores and the summary.

    Runtime fields (wall time, environment, per-sample runtime) are left out: they differ between
    two honest runs of the same model. Equal texts mean bit-identical numbers.
    """
    samples = sorted((s["id"], s["scores"], s.get("subset", {})) for s in record["samples"])
    return canonical_json(
        {
            "samples": samples,
            "summary": record["summary"],
            "metrics": sorted((m["name"], m["higher_is_better"]) for m in record["metrics"]),
        }
    )


def _structure(record: Mapping[str, Any]) -> str:
    samples = sorted(
        (s["id"], s.get("subset") or {}, sorted(k for k, v in s["scores"].items() if v is None), sorted(s["scores"]))
        for s in record["samples"]
    )
    counts = sorted((k, v["n"]) for k, v in record["summary"].items())
    metrics = sorted((m["name"], m["higher_is_better"]) for m in record["metrics"])
    return canonical_json({"samples": samples, "counts": counts, "metrics": metrics})


def numbers_differ(a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """Why records ``a`` and ``b`` do not carry the same numbers, or None when they do (within tolerance).

    The reason names the first differing sample and metric with both values, e.g.
    ``"sample 's003' lpips.alex: 0.1234 vs 0.1299 (tolerance: rtol 1e-06, atol 1e-06)"``.
    """
    if _structure(a) != _structure(b):
        return "the records cover different samples, subsets, metrics or failed scores"
    b_samples = {s["id"]: s for s in b["samples"]}
    for s in sorted(a["samples"], key=lambda s: s["id"]):
        other = b_samples[s["id"]]["scores"]
        for metric, value in sorted(s["scores"].items()):
            tol = tolerance_for(metric)
            if not tol.agree(value, other[metric]):
                return (
                    f"sample {s['id']!r} {metric}: {value!r} vs {other[metric]!r} "
                    f"(tolerance: rtol {tol.rtol:g}, atol {tol.atol:g})"
                )
    for metric, summ in sorted(a["summary"].items()):
        tol = tolerance_for(metric)
        if not tol.agree(summ["mean"], b["summary"][metric]["mean"]):
            return f"summary {metric}: {summ['mean']!r} vs {b['summary'][metric]['mean']!r}"
    return None
