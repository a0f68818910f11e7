"""Published rows: the numbers papers report on the real benchmarks, as printed, with their source.

A leaderboard shows two kinds of rows, kept apart everywhere: rows *reproduced* here (computed from
results records) and rows *reported* in papers (read from ``leaderboards/published/*.json``). One
JSON file holds one table of one paper (schema :data:`PUBLISHED_SCHEMA`)::

    {
      "schema": "refocus-bench.published/1",
      "paper": {"title": "...", "short": "GenRefocus", "arxiv": "2512.16923",
                "url": "https://arxiv.org/abs/2512.16923"},
      "table": {"label": "Table 3", "caption": "...", "url": "https://arxiv.org/html/2512.16923v3",
                "arxiv_version": "v3"},
      "benchmark": {"name": "LF-Bokeh", "task": "bokeh", "ids": ["lf-bokeh"]},
      "protocol": "how the paper evaluated (e.g. oracle-K search per image)",
      "transcription": {"from": "where the numbers were read", "url": "https://...",
                        "checked_against_paper": false, "note": "..."},
      "licence": "...",
      "metrics": {"LVCorr": {"higher_is_better": true, "refocus_bench_metric": null}},
      "rows": [{"method": "BokehMe", "metric": "LVCorr", "value": "0.9940",
                "model": "bokeh.scatter" | null, "notes": ""}]
    }

``benchmark.ids`` are the refocus-bench benchmark names that evaluate the same data (a reported row
is shown beside the reproduced table of such a benchmark); ``metrics[m].refocus_bench_metric`` is the
metric here that computes the paper's metric the paper's way, or null; ``rows[i].model`` is the
registered model that implements the method, or null. When all three match a reproduced row, the
two values are shown side by side. A value is stored as the decimal string printed in the paper (no
rounding, no conversion, trailing zeros kept); ``checked_against_paper`` says whether someone compared
it with the paper itself. ``table.arxiv_version`` (optional, ``"v3"``) is the arXiv version whose table
the numbers were read from; versions of one paper may print different numbers, so a transcription from
the paper states it (the citation then reads ``arXiv 2512.16923v3``).

Every file is validated on load; a file that does not follow the schema is an error naming the file
and the field.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .load import LeaderboardError
from .tables import BenchmarkTable, Row

__all__ = [
    "PUBLISHED_SCHEMA",
    "PublishedRow",
    "PublishedTable",
    "Reproduced",
    "load_published",
    "parse_published",
    "reproduced_for",
    "tables_for",
]

PUBLISHED_SCHEMA = "refocus-bench.published/1"
_ARXIV = re.compile(r"^\d{4}\.\d{4,5}$")
_URL = re.compile(r"^https://[A-Za-z0-9.-]+(/[A-Za-z0-9._~:/?#@!$&'*+,;=%-]*)?$")
_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_VERSION = re.compile(r"^v[1-9]\d*$")
_TOP = ("schema", "paper", "table", "benchmark", "protocol", "transcription", "licence", "metrics", "rows")


@dataclass(frozen=True)
class PublishedRow:
    """One number reported in a paper, with everything needed to cite it."""

    method: str
    metric: str
    value: float
    printed: str
    higher_is_better: bool
    model: str | None
    metric_id: str | None
    notes: str
    table: PublishedTable = field(repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        t = self.table
        return {
            "method": self.method,
            "metric": self.metric,
            "value": self.value,
            "printed": self.printed,
            "higher_is_better": self.higher_is_better,
            "model": self.model,
            "refocus_bench_metric": self.metric_id,
            "notes": self.notes,
            "benchmark": t.benchmark,
            "benchmark_ids": list(t.benchmark_ids),
            "task": t.task,
            "paper": t.paper,
            "paper_short": t.paper_short,
            "arxiv": t.arxiv,
            "paper_url": t.paper_url,
            "table": t.table,
            "table_url": t.table_url,
            "arxiv_version": t.arxiv_version,
            "protocol": t.protocol,
            "checked_against_paper": t.checked,
            "source": t.source_id,
        }


@dataclass(frozen=True, eq=False)
class PublishedTable:
    """One table of one paper on one benchmark (one file under ``leaderboards/published/``)."""

    source_id: str
    paper: str
    paper_short: str
    arxiv: str
    paper_url: str
    table: str
    caption: str
    table_url: str
    benchmark: str
    task: str
    benchmark_ids: tuple[str, ...]
    protocol: str
    transcribed_from: str
    transcription_url: str
    checked: bool
    transcription_note: str
    licence: str
    arxiv_version: str | None = None
    rows: tuple[PublishedRow, ...] = ()

    @property
    def cite(self) -> str:
        """``"GenRefocus (arXiv 2512.16923v3), Table 3"`` (the version only when the table states it)."""
        return f"{self.paper_short} (arXiv {self.arxiv}{self.arxiv_version or ''}), {self.table}"


def _bad(where: str, msg: str) -> LeaderboardError:
    return LeaderboardError(f"published table {where}: {msg}")


def _obj(d: Any, keys: Iterable[str], where: str) -> Mapping[str, Any]:
    if not isinstance(d, Mapping):
        raise _bad(where, "must be a JSON object")
    missing = [k for k in keys if k not in d]
    if missing:
        raise _bad(where, f"missing field(s) {', '.join(missing)}")
    return d


def _str(d: Mapping[str, Any], key: str, where: str, *, empty: bool = False, pattern: re.Pattern | None = None) -> str:
    v = d.get(key)
    if not isinstance(v, str) or (not empty and not v.strip()):
        raise _bad(f"{where}.{key}", "must be a non-empty string" if not empty else "must be a string")
    if pattern is not None and not pattern.match(v):
        raise _bad(f"{where}.{key}", f"{v!r} does not match {pattern.pattern}")
    return v


def _optional(d: Mapping[str, Any], key: str, where: str, pattern: re.Pattern) -> str | None:
    """``d[key]`` when present and not null (then it must match ``pattern``), else None."""
    if d.get(key) is None:
        return None
    return _str(d, key, where, pattern=pattern)


def _opt_name(d: Mapping[str, Any], key: str, where: str) -> str | None:
    return _optional(d, key, where, _NAME)


def _header(data: Mapping[str, Any], w: str) -> dict[str, Any]:
    paper = _obj(data["paper"], ("title", "short", "arxiv", "url"), f"{w}.paper")
    table = _obj(data["table"], ("label", "caption", "url"), f"{w}.table")
    bench = _obj(data["benchmark"], ("name", "task", "ids"), f"{w}.benchmark")
    tr = _obj(data["transcription"], ("from", "url", "checked_against_paper", "note"), f"{w}.transcription")
    ids = bench["ids"]
    if not isinstance(ids, list) or not all(isinstance(i, str) and _NAME.match(i) for i in ids):
        raise _bad(f"{w}.benchmark.ids", "must be a list of refocus-bench benchmark names")
    if not isinstance(tr["checked_against_paper"], bool):
        raise _bad(f"{w}.transcription.checked_against_paper", "must be true or false")
    return {
        "paper": _str(paper, "title", f"{w}.paper"),
        "paper_short": _str(paper, "short", f"{w}.paper"),
        "arxiv": _str(paper, "arxiv", f"{w}.paper", pattern=_ARXIV),
        "paper_url": _str(paper, "url", f"{w}.paper", pattern=_URL),
        "table": _str(table, "label", f"{w}.table"),
        "caption": _str(table, "caption", f"{w}.table", empty=True),
        "table_url": _str(table, "url", f"{w}.table", pattern=_URL),
        "benchmark": _str(bench, "name", f"{w}.benchmark"),
        "task": _str(bench, "task", f"{w}.benchmark"),
        "benchmark_ids": tuple(ids),
        "protocol": _str(data, "protocol", w),
        "transcribed_from": _str(tr, "from", f"{w}.transcription"),
        "transcription_url": _str(tr, "url", f"{w}.transcription", pattern=_URL),
        "checked": tr["checked_against_paper"],
        "transcription_note": _str(tr, "note", f"{w}.transcription", empty=True),
        "licence": _str(data, "licence", w),
        "arxiv_version": _optional(table, "arxiv_version", f"{w}.table", _VERSION),
    }


def _metrics(data: Mapping[str, Any], w: str) -> dict[str, tuple[bool, str | None]]:
    metrics = data["metrics"]
    if not isinstance(metrics, Mapping) or not metrics:
        raise _bad(f"{w}.metrics", "must be a non-empty object {name: {higher_is_better, refocus_bench_metric}}")
    out = {}
    for name, m in metrics.items():
        mw = f"{w}.metrics.{name}"
        _obj(m, ("higher_is_better", "refocus_bench_metric"), mw)
        if not isinstance(m["higher_is_better"], bool):
            raise _bad(f"{mw}.higher_is_better", "must be true or false (never a default)")
        out[name] = (m["higher_is_better"], _opt_name(m, "refocus_bench_metric", mw))
    return out


def parse_published(data: Any, source_id: str) -> PublishedTable:
    """Validate one published table (a decoded JSON object) and return it; ``source_id`` names it in errors."""
    w = repr(source_id)
    _obj(data, _TOP, w)
    if data["schema"] != PUBLISHED_SCHEMA:
        raise _bad(f"{w}.schema", f"expected {PUBLISHED_SCHEMA!r}, got {data['schema']!r}")
    table = PublishedTable(source_id=source_id, **_header(data, w))
    metrics = _metrics(data, w)
    rows_in = data["rows"]
    if not isinstance(rows_in, list) or not rows_in:
        raise _bad(f"{w}.rows", "must be a non-empty list")
    rows, seen = [], set()
    for i, r in enumerate(rows_in):
        rw = f"{w}.rows[{i}]"
        _obj(r, ("method", "metric", "value", "model", "notes"), rw)
        method, metric = _str(r, "method", rw), _str(r, "metric", rw)
        if metric not in metrics:
            raise _bad(f"{rw}.metric", f"{metric!r} is not declared in metrics ({', '.join(sorted(metrics))})")
        v = r["value"]
        if not isinstance(v, str) or not _DECIMAL.match(v) or not math.isfinite(float(v)):
            raise _bad(f"{rw}.value", f'must be the number as printed in the paper, as a string ("0.9940"), got {v!r}')
        if (method, metric) in seen:
            raise _bad(rw, f"{method!r} / {metric!r} appears twice")
        seen.add((method, metric))
        higher, metric_id = metrics[metric]
        rows.append(
            PublishedRow(method, metric, float(v), v, higher, _opt_name(r, "model", rw), metric_id,
                         _str(r, "notes", rw, empty=True), table)
        )  # fmt: skip
    object.__setattr__(table, "rows", tuple(rows))
    return table


def load_published(dirs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[PublishedTable]:
    """Every ``*.json`` published table directly under ``dirs``, validated, sorted by benchmark then file name.

    Raises:
        LeaderboardError: a folder that does not exist, a file that is not JSON or does not follow the schema.
    """
    if isinstance(dirs, (str, os.PathLike)):
        dirs = [dirs]
    tables = []
    for d in map(Path, dirs):
        if not d.is_dir():
            raise LeaderboardError(f"published tables folder {str(d)!r} does not exist (or is not a folder)")
        for f in sorted(d.glob("*.json")):
            if f.name.startswith("."):
                continue
            try:
                data = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
                raise LeaderboardError(f"published table {str(f)!r} is not readable JSON: {err}") from None
            tables.append(parse_published(data, f.stem))
    ids = [t.source_id for t in tables]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise LeaderboardError(f"published tables with the same file name in two folders: {', '.join(dup)}")
    return sorted(tables, key=lambda t: (t.benchmark.lower(), t.source_id))


@dataclass(frozen=True)
class Reproduced:
    """A reproduced row beside a reported one: same benchmark data, same model, same metric."""

    table: BenchmarkTable
    row: Row
    value: float | None
    n: int


def reproduced_for(prow: PublishedRow, tables: Sequence[BenchmarkTable]) -> list[Reproduced]:
    """The reproduced rows of ``tables`` that match ``prow`` (benchmark id, model and metric all mapped)."""
    if prow.model is None or prow.metric_id is None:
        return []
    out = []
    for t in tables:
        if t.name not in prow.table.benchmark_ids:
            continue
        for r in t.rows:
            if r.model == prow.model and prow.metric_id in r.metrics:
                n = int(r.entry.record["summary"].get(prow.metric_id, {}).get("n", 0))
                out.append(Reproduced(t, r, r.metrics[prow.metric_id], n))
    return out


def tables_for(published: Sequence[PublishedTable], benchmark: str) -> list[PublishedTable]:
    """The published tables on the same data as the reproduced benchmark ``benchmark``."""
    return [p for p in published if benchmark in p.benchmark_ids]
