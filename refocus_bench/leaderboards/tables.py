"""Leaderboard tables: one per benchmark, rows ranked by the headline metric in its declared direction.

Each :class:`Row` carries the headline mean with a bootstrap interval over samples, the mean of every
other metric, the mean runtime per image, the headline mean per subset label (aperture, blur level,
scene...) and the record's provenance. Everything is sorted, so a table is a pure function of the
loaded records. Ties share a rank (competition ranking: 1, 1, 3); rows whose headline metric failed on
some samples (scored on ``n`` < the benchmark's samples) or on every sample are listed last without a rank.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..hashing import json_sha256
from .load import ResultEntry
from .stats import BOOTSTRAP_CONFIDENCE, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, MeanCI, mean_ci

__all__ = [
    "Row",
    "Failure",
    "BenchmarkTable",
    "build_tables",
    "headline_table",
    "short_id",
    "page_slug",
    "subset_order",
    "fmt_num",
    "printable",
]

# ordinal scales of subset labels, listed in their natural order (a benchmark's values follow one scale)
ORDINAL_SCALES: tuple[tuple[str, ...], ...] = (
    ("none", "very-low", "low", "mid", "medium", "high", "very-high"),
    ("near", "mid", "middle", "far"),
    ("small", "medium", "large"),
)


def short_id(*parts: str, n: int = 12) -> str:
    """A stable, file-name-safe id (hex) generated from ``parts``; never the parts themselves."""
    return json_sha256(list(parts))[:n]


def page_slug(name: str) -> str:
    """A readable, file-name-safe slug of a benchmark name, unique per name.

    ``"synthetic-deblur"`` stays ``"synthetic-deblur"``; a name that needs changing to be safe
    (capitals, spaces, markup) gets a short hash of the exact name appended, so two names never
    share a slug: ``"Lens Blur <x>"`` -> ``"lens-blur-x-<8 hex>"``.
    """
    slug = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip("-._")[:48].strip("-._")
    if slug == name and slug:
        return slug
    return f"{slug}-{short_id('slug', name, n=8)}" if slug else f"benchmark-{short_id('slug', name, n=8)}"


def _natural_key(text: str) -> tuple[Any, ...]:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in re.split(r"(\d+)", text) if p)


def subset_order(values: Iterable[str]) -> list[str]:
    """Subset labels in their natural order: an ordinal scale (low, mid, high; near, mid, far), numbers
    by value, anything else in natural sort order (``s2`` before ``s10``)."""
    vals = sorted(set(values))
    for scale in ORDINAL_SCALES:
        if vals and all(v.lower() in scale for v in vals):
            return sorted(vals, key=lambda v: (scale.index(v.lower()), v))
    try:
        nums = [float(v) for v in vals]
    except ValueError:
        return sorted(vals, key=lambda v: (_natural_key(v), v))
    if all(math.isfinite(x) for x in nums):
        return [v for _, v in sorted(zip(nums, vals))]
    return sorted(vals, key=lambda v: (_natural_key(v), v))


def printable(text: str) -> str:
    """``text`` with control characters escaped, for terminal output (no escape sequences from names)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt_num(v: float | None, digits: int = 4) -> str:
    """Short human form of a score (``"–"`` for a missing value)."""
    if v is None:
        return "–"
    return f"{v:.{digits}g}"


@dataclass(frozen=True)
class Failure:
    """Samples on which a row's model or metric failed, grouped by their reason (the record's ``error``)."""

    reason: str
    sample_ids: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "sample_ids": list(self.sample_ids)}


@dataclass
class Row:
    """One model on one benchmark."""

    row_id: str
    rank: int | None
    model: str
    weights_sha256: str | None
    headline: MeanCI
    metrics: dict[str, float | None]
    runtime_s: float | None
    subsets: dict[str, dict[str, dict[str, Any]]]
    provenance: dict[str, Any]
    sample_scores: dict[str, dict[str, float | None]] = field(repr=False)
    entry: ResultEntry = field(repr=False)
    failures: list[Failure] = field(default_factory=list)

    @property
    def num_failed(self) -> int:
        return sum(len(f.sample_ids) for f in self.failures)

    def as_dict(self) -> dict[str, Any]:
        return {
            "row_id": self.row_id,
            "rank": self.rank,
            "model": self.model,
            "weights_sha256": self.weights_sha256,
            "headline": self.headline.as_dict(),
            "metrics": dict(sorted(self.metrics.items())),
            "runtime_s": self.runtime_s,
            "subsets": self.subsets,
            "failures": [f.as_dict() for f in self.failures],
            "provenance": self.provenance,
        }


@dataclass
class BenchmarkTable:
    """The leaderboard of one benchmark version."""

    name: str
    version: str
    task: str
    content_hash: str
    num_samples: int
    headline_metric: str
    higher_is_better: bool
    definition: dict[str, Any]
    metrics: list[tuple[str, bool]]
    subset_keys: list[str]
    rows: list[Row]

    @property
    def page_id(self) -> str:
        """The benchmark's page and asset name: a readable slug of its name (:func:`page_slug`)."""
        return page_slug(self.name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "task": self.task,
            "content_hash": self.content_hash,
            "num_samples": self.num_samples,
            "headline_metric": self.headline_metric,
            "higher_is_better": self.higher_is_better,
            "definition": self.definition,
            "metrics": [{"name": n, "higher_is_better": h} for n, h in self.metrics],
            "subset_keys": self.subset_keys,
            "rows": [r.as_dict() for r in self.rows],
        }


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return math.fsum(vals) / len(vals) if vals else None


def _provenance(rec: Mapping[str, Any]) -> dict[str, Any]:
    b = rec["benchmark"]
    return {
        "toolkit": rec["toolkit"],
        "model": {k: rec["model"].get(k) for k in ("name", "weights_sha256", "config", "tasks")},
        "benchmark": {
            k: b.get(k)
            for k in ("name", "version", "content_hash", "task", "headline_metric", "num_samples", "definition")
        },
        "metrics": sorted(rec["metrics"], key=lambda m: m["name"]),
        "seeds": rec["seeds"],
        "environment": rec["environment"],
        "started": rec["started"],
        "wall_time_s": rec["wall_time_s"],
        "record_digest": rec["digest"],
    }


def _subset_breakdown(samples: Sequence[Mapping[str, Any]], metric: str) -> dict[str, dict[str, dict[str, Any]]]:
    groups: dict[str, dict[str, list[float | None]]] = {}
    for s in samples:
        for k, v in (s.get("subset") or {}).items():
            groups.setdefault(k, {}).setdefault(v, []).append(s["scores"][metric])
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for k in sorted(groups):
        out[k] = {}
        for v in subset_order(groups[k]):
            vals = [x for x in groups[k][v] if x is not None]
            out[k][v] = {"mean": _mean(vals), "n": len(vals)}
    return out


def _failures(samples: Sequence[Mapping[str, Any]]) -> list[Failure]:
    groups: dict[str, list[str]] = {}
    for s in samples:
        if s.get("error") or any(v is None for v in s["scores"].values()):
            reason = " ".join(str(s.get("error") or "no score (no reason given)").split())
            groups.setdefault(_clip(reason, 400), []).append(s["id"])
    return [Failure(r, tuple(ids)) for r, ids in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))]


def _row(entry: ResultEntry, headline: str, ci_kwargs: Mapping[str, Any]) -> Row:
    rec = entry.record
    samples = sorted(rec["samples"], key=lambda s: s["id"])
    runtimes = [s.get("runtime_s") for s in samples]
    runtimes = [r for r in runtimes if isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r)]
    return Row(
        row_id=short_id("row", *entry.key, n=16),
        rank=None,
        model=rec["model"]["name"],
        weights_sha256=rec["model"]["weights_sha256"],
        headline=mean_ci([s["scores"][headline] for s in samples], **ci_kwargs),
        metrics={m: v["mean"] for m, v in sorted(rec["summary"].items())},
        runtime_s=_mean(runtimes),
        subsets=_subset_breakdown(samples, headline),
        provenance=_provenance(rec),
        sample_scores={s["id"]: dict(s["scores"]) for s in samples},
        entry=entry,
        failures=_failures(samples),
    )


def _rank(rows: list[Row], higher_is_better: bool, num_samples: int) -> list[Row]:
    """Rank the rows scored on every sample; rows scored on only some samples (a model that failed on
    the others) follow without a rank, since their mean is over an easier or different subset."""
    sign = -1.0 if higher_is_better else 1.0
    complete = [r for r in rows if r.headline.mean is not None and r.headline.n == num_samples]
    scored = sorted(complete, key=lambda r: (sign * r.headline.mean, r.model, r.weights_sha256 or ""))  # type: ignore[operator]
    incomplete = sorted(
        (r for r in rows if r.headline.mean is not None and r.headline.n != num_samples),
        key=lambda r: (-r.headline.n, sign * r.headline.mean, r.model, r.weights_sha256 or ""),
    )  # type: ignore[operator]
    unscored = incomplete + sorted(
        (r for r in rows if r.headline.mean is None), key=lambda r: (r.model, r.weights_sha256 or "")
    )
    prev: float | None = None
    for i, r in enumerate(scored):
        r.rank = i + 1 if prev is None or r.headline.mean != prev else scored[i - 1].rank
        prev = r.headline.mean
    return scored + unscored


def build_tables(
    entries: Sequence[ResultEntry],
    *,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = BOOTSTRAP_CONFIDENCE,
    seed: int = BOOTSTRAP_SEED,
) -> list[BenchmarkTable]:
    """One ranked :class:`BenchmarkTable` per benchmark, sorted by benchmark name.

    ``entries`` come from :func:`~refocus_bench.leaderboards.load.load_results` (already checked to
    agree on version, content hash, headline metric and metric directions within a benchmark).
    """
    ci_kwargs = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    groups: dict[str, list[ResultEntry]] = {}
    for e in entries:
        groups.setdefault(e.record["benchmark"]["name"], []).append(e)
    tables = []
    for name in sorted(groups):
        group = groups[name]
        b = group[0].record["benchmark"]
        directions: dict[str, bool] = {}
        subset_keys: set[str] = set()
        for e in group:
            directions.update({m["name"]: m["higher_is_better"] for m in e.record["metrics"]})
            for s in e.record["samples"]:
                subset_keys.update((s.get("subset") or {}).keys())
        headline = b["headline_metric"]
        rows = _rank([_row(e, headline, ci_kwargs) for e in group], directions[headline], b["num_samples"])
        tables.append(
            BenchmarkTable(
                name=name,
                version=str(b["version"]),
                task=b["task"],
                content_hash=b["content_hash"],
                num_samples=b["num_samples"],
                headline_metric=headline,
                higher_is_better=directions[headline],
                definition=dict(b.get("definition") or {}),
                metrics=[(headline, directions[headline])]
                + sorted((m, h) for m, h in directions.items() if m != headline),
                subset_keys=sorted(subset_keys),
                rows=rows,
            )
        )
    return tables


def headline_table(tables: Sequence[BenchmarkTable]) -> str:
    """Plain-text summary: per benchmark, rank, model, headline mean [95% CI] and runtime per image."""
    lines: list[str] = []
    for t in tables:
        arrow = "higher is better" if t.higher_is_better else "lower is better"
        lines.append(
            f"{printable(t.name)} v{printable(t.version)} ({t.task}, {t.num_samples} samples) - "
            f"{t.headline_metric}, {arrow}"
        )
        names = [_clip(printable(r.model), 48) for r in t.rows]
        width = max([len(n) for n in names] + [5])
        lines.append(
            f"  {'rank':>4}  {'model':<{width}}  {t.headline_metric:>12}  {'95% CI':>21}  {'n':>7}  {'s/image':>8}"
        )
        for r, name in zip(t.rows, names):
            ci = f"[{fmt_num(r.headline.low)}, {fmt_num(r.headline.high)}]"
            rank = "-" if r.rank is None else str(r.rank)
            n = f"{r.headline.n}/{t.num_samples}"
            lines.append(
                f"  {rank:>4}  {name:<{width}}  {fmt_num(r.headline.mean):>12}  {ci:>21}  {n:>7}  "
                f"{fmt_num(r.runtime_s, 3):>8}"
            )
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
