"""Machine-readable leaderboard outputs: ``leaderboard.json`` and a Parquet results table.

``leaderboard.json`` holds every table with its rows and provenance. It is plain JSON, with ``<``, ``>``
and ``&`` written as ``\\u003c``, ``\\u003e``, ``\\u0026`` so that the text can be pasted into HTML
unchanged (the decoded strings are identical).

``leaderboard.parquet`` is a flat, Hugging Face ``datasets``-compatible table with one row per
(benchmark, model, sample, metric) and explicit ``Features`` stored in the schema metadata, so
``datasets.Dataset.from_parquet(path)`` loads it with the declared types. Names in it are kept exactly
as in the records (it is data, not markup: whoever renders it must escape it).
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..hashing import canonical_json
from .published import PublishedTable, reproduced_for
from .stats import BOOTSTRAP_CONFIDENCE, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
from .tables import BenchmarkTable

__all__ = [
    "LEADERBOARD_SCHEMA",
    "PARQUET_FEATURES",
    "safe_json",
    "leaderboard_dict",
    "leaderboard_json",
    "parquet_bytes",
]

LEADERBOARD_SCHEMA = "refocus-bench.leaderboard/1"

# column -> datasets Value dtype (all columns are flat scalars)
PARQUET_FEATURES: dict[str, str] = {
    "benchmark": "string",
    "benchmark_version": "string",
    "benchmark_content_hash": "string",
    "task": "string",
    "model": "string",
    "weights_sha256": "string",
    "toolkit_version": "string",
    "record_digest": "string",
    "rank": "int32",
    "sample_id": "string",
    "subset": "string",
    "metric": "string",
    "higher_is_better": "bool",
    "is_headline": "bool",
    "score": "float64",
    "runtime_s": "float64",
    "error": "string",
}


def safe_json(obj: Any, *, indent: int | None = 1) -> str:
    """Sorted-key JSON with ``<``, ``>``, ``&`` escaped as unicode escapes (safe inside HTML ``<script>``)."""
    text = json.dumps(obj, sort_keys=True, indent=indent, ensure_ascii=True, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _reported(tables: Sequence[BenchmarkTable], published: Sequence[PublishedTable]) -> list[dict[str, Any]]:
    out = []
    for p in published:
        for r in p.rows:
            d = r.as_dict()
            d["reproduced"] = [
                {"benchmark": x.table.name, "row_id": x.row.row_id, "value": x.value, "n": x.n}
                for x in reproduced_for(r, tables)
            ]
            out.append(d)
    return out


def leaderboard_dict(tables: Sequence[BenchmarkTable], published: Sequence[PublishedTable] = ()) -> dict[str, Any]:
    """The whole leaderboard as a JSON-ready dict (no timestamps, no local paths).

    ``reported`` (present when published tables were given) holds the rows reported in papers, each
    with its source and the matching reproduced rows.
    """
    out: dict[str, Any] = {
        "schema": LEADERBOARD_SCHEMA,
        "bootstrap": {
            "method": "percentile",
            "resamples": BOOTSTRAP_RESAMPLES,
            "confidence": BOOTSTRAP_CONFIDENCE,
            "seed": BOOTSTRAP_SEED,
            "over": "samples",
        },
        "benchmarks": [t.as_dict() for t in tables],
    }
    if published:
        out["reported"] = _reported(tables, published)
    return out


def leaderboard_json(tables: Sequence[BenchmarkTable], published: Sequence[PublishedTable] = ()) -> bytes:
    return (safe_json(leaderboard_dict(tables, published)) + "\n").encode("ascii")


def _rows(tables: Sequence[BenchmarkTable]) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {c: [] for c in PARQUET_FEATURES}
    for t in tables:
        for r in t.rows:
            rec = r.entry.record
            for s in sorted(rec["samples"], key=lambda s: s["id"]):
                for name, higher in t.metrics:
                    if name not in s["scores"]:
                        continue
                    rt = s.get("runtime_s")
                    values = {
                        "benchmark": t.name,
                        "benchmark_version": t.version,
                        "benchmark_content_hash": t.content_hash,
                        "task": t.task,
                        "model": r.model,
                        "weights_sha256": r.weights_sha256,
                        "toolkit_version": str(rec["toolkit"]["version"]),
                        "record_digest": rec["digest"],
                        "rank": r.rank,
                        "sample_id": s["id"],
                        "subset": canonical_json(s.get("subset") or {}),
                        "metric": name,
                        "higher_is_better": higher,
                        "is_headline": name == t.headline_metric,
                        "score": s["scores"][name],
                        "runtime_s": float(rt) if isinstance(rt, (int, float)) and not isinstance(rt, bool) else None,
                        "error": s.get("error") or None,
                    }
                    for c in cols:
                        cols[c].append(values[c])
    return cols


def _hf_metadata() -> bytes:
    features = {c: {"dtype": dt, "_type": "Value"} for c, dt in PARQUET_FEATURES.items()}
    return json.dumps({"info": {"features": features}}, sort_keys=True).encode("utf-8")


def parquet_bytes(tables: Sequence[BenchmarkTable]) -> bytes:
    """The flat results table as Parquet bytes (deterministic for a given pyarrow version)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    types: Mapping[str, Any] = {"string": pa.string(), "int32": pa.int32(), "bool": pa.bool_(), "float64": pa.float64()}
    schema = pa.schema(
        [pa.field(c, types[dt], nullable=True) for c, dt in PARQUET_FEATURES.items()],
        metadata={b"huggingface": _hf_metadata()},
    )
    table = pa.Table.from_pydict(_rows(tables), schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", write_statistics=True, store_schema=True)
    return buf.getvalue()
