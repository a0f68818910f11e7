"""Writing real-photo samples (routes ``exif`` and ``fit-blur``): the pair schema, shards, resume, manifest.

Both real-photo routes turn a sorted list of inputs into BokehNet samples: one ``bokeh`` record per
kept input (input = the all-in-focus image, target = the real photo, the fields of
:func:`~refocus_bench.simulators.pairs.schema.pair_features` with ``route`` set). Layout of ``out/``::

    data/bokeh/train-<shard>-of-<n>.parquet   the kept samples (Hugging Face dataset, explicit Features)
    manifest.jsonl                            one line per input in input order: kept / skipped / rejected, why
    summary.json                              counts by status and reason
    README.md                                 dataset card (route, counts, settings, fields)
    state/progress.json, state/shards/*.json  resume state (as make-pairs)

Inputs ``[j * per_shard, (j + 1) * per_shard)`` form shard ``j``; each shard's Parquet file is
written to a temporary name and renamed, then its sha256 and manifest lines are recorded in
``state/shards/shard-<j>.json``. A rerun with the same settings skips recorded shards whose file is
intact and removes leftovers of a killed run; a rerun with other settings is refused unless
``overwrite``. Nothing written carries a time, so the bytes depend only on the inputs and settings.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ... import optics
from ...errors import check
from ...hashing import bytes_sha256
from ...io import atomic_write_bytes, atomic_write_json
from ...version import __version__
from .records import _array2d, png_bytes, write_pair_table
from .schema import FIELD_DOCS, MAP_FIELDS, ROUTES, SIDE_DOCS, pair_features
from .shards import _clean, _exclusive, _finished_shards

__all__ = ["RealSample", "Outcome", "RealRunResult", "write_real_run", "side_fields", "STATE_VERSION"]

STATE_VERSION = 1


@dataclass
class RealSample:
    """A kept sample. Images sRGB [0, 1] (1, 3, H, W); depth metres (1, 1, H, W); K px*m at this size."""

    aif: torch.Tensor
    photo: torch.Tensor
    depth_m: torch.Tensor
    k_px_m: float
    focus_distance_m: float
    side: dict[str, Any]
    confidence: float
    provenance: dict[str, Any]


@dataclass
class Outcome:
    """What became of one input: ``status`` kept / skipped / rejected, ``reason``, facts for the manifest."""

    name: str
    status: str
    reason: str | None = None
    detail: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    sample: RealSample | None = None

    def manifest_line(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "reason": self.reason, "detail": self.detail, **self.facts}


@dataclass
class RealRunResult:
    """What :func:`write_real_run` did."""

    out_dir: Path
    kept: int
    counts: dict[str, int]
    shards_made: int
    shards_skipped: int
    failed: dict[int, str]


def side_fields(**values: Any) -> dict[str, Any]:
    """A ``target_params`` side: every field of :data:`SIDE_DOCS`, None unless given."""
    unknown = set(values) - set(SIDE_DOCS)
    check(not unknown, lambda: f"unknown side fields {sorted(unknown)}")
    return {k: values.get(k) for k in SIDE_DOCS}


def _pinhole() -> dict[str, Any]:
    return side_fields(kind="all-in-focus", k_px_m=0.0, max_abs_coc_px=0.0)


def _row(route: str, index: int, o: Outcome, source: str, licence: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """The scalar fields and the maps of one kept sample's record."""
    s = o.sample
    sample_id = f"{index:06d}-00"
    coc = optics.coc_radius_from_k(s.depth_m.double(), s.k_px_m, s.focus_distance_m).float()
    defocus = optics.genrefocus_defocus_map(s.depth_m.double(), s.k_px_m, s.focus_distance_m).float()
    zeros = torch.zeros_like(coc[0, 0])
    side = {**s.side, "k_px_m": s.k_px_m, "focus_distance_m": s.focus_distance_m}
    side["max_abs_coc_px"] = float(coc.abs().max())
    row = {
        "id": f"{sample_id}-bokeh",
        "sample_id": sample_id,
        "task": "bokeh",
        "scene_index": index,
        "pair_index": 0,
        "seed": 0,
        "scene": {"name": o.name, "source": source, "licence": licence, "params_json": "{}"},
        "input": {"bytes": png_bytes(s.aif), "path": None},
        "target": {"bytes": png_bytes(s.photo), "path": None},
        "aif": {"bytes": png_bytes(s.aif), "path": None},
        "source": _pinhole(),
        "target_params": side,
        "route": route,
        "confidence": float(s.confidence),
        "provenance_json": json.dumps(s.provenance, sort_keys=True, allow_nan=True),
    }
    maps = {
        "depth_m": s.depth_m[0, 0].float(),
        "source_coc_px": zeros,
        "target_coc_px": coc[0, 0],
        "source_defocus": zeros,
        "target_defocus": defocus[0, 0],
    }
    return row, maps


def _write_shard(out: Path, rel: str, size: tuple[int, int], rows: list[tuple[dict, dict]]) -> str:
    """Write one Parquet file of records (atomically); returns its sha256."""
    import pyarrow as pa

    features = pair_features(size)
    schema = features.arrow_schema
    scalar_names = [n for n in features if n not in MAP_FIELDS]
    table = pa.Table.from_pylist([r for r, _ in rows], schema=pa.schema([schema.field(n) for n in scalar_names]))
    cols = {n: table[n] for n in scalar_names}
    for m in MAP_FIELDS:
        cols[m] = _array2d([maps[m] for _, maps in rows], schema.field(m).type)
    return write_pair_table(pa.table({n: cols[n] for n in features}, schema=schema), out / rel)


def _start(out: Path, settings: dict[str, Any], overwrite: bool, command: str) -> str:
    """Check or start the resume state; returns the settings fingerprint."""
    fingerprint = bytes_sha256(json.dumps(settings, sort_keys=True).encode())
    progress = out / "state" / "progress.json"
    if progress.is_file():
        try:
            old = json.loads(progress.read_text(encoding="utf-8")).get("fingerprint")
        except (OSError, ValueError):
            old = None
        if old != fingerprint:
            check(
                overwrite,
                lambda: f"out_dir {str(out)!r} holds samples made from other inputs or settings; "
                "use a new folder or overwrite=True (--overwrite)",
            )
            shutil.rmtree(out / "data", ignore_errors=True)
            shutil.rmtree(out / "state" / "shards", ignore_errors=True)
    (out / "state" / "shards").mkdir(parents=True, exist_ok=True)
    state = {"version": STATE_VERSION, "fingerprint": fingerprint, "settings": settings, "command": command}
    atomic_write_json(progress, state)
    return fingerprint


def write_real_run(
    out_dir: str | Path,
    names: Sequence[str],
    process: Callable[[int], Outcome],
    *,
    route: str,
    size: tuple[int, int],
    settings: dict[str, Any],
    source: str,
    licence: str,
    per_shard: int = 16,
    overwrite: bool = False,
    command: str = "",
) -> RealRunResult:
    """Process ``names`` (by index) into shards of ``per_shard`` under ``out_dir``, resumably.

    ``process(i)`` turns input ``i`` into an :class:`Outcome`; an exception in it fails the shard
    (reported in ``failed``, retried on the next run), never the run.
    """
    check(route in ROUTES, lambda: f"route must be one of {sorted(ROUTES)}, got {route!r}")
    check(per_shard >= 1, lambda: f"per_shard must be >= 1, got {per_shard}")
    out = Path(out_dir).absolute()
    (out / "state").mkdir(parents=True, exist_ok=True)
    n_shards = max(1, -(-len(names) // per_shard))
    failed: dict[int, str] = {}
    with _exclusive(out):
        _start(out, {**settings, "names": list(names), "per_shard": per_shard, "size": list(size)}, overwrite, command)
        done = _finished_shards(out, n_shards, verify=True)
        _clean(out, {rel for info in done.values() for rel in info["files"]})
        made = 0
        for j in range(n_shards):
            if j in done:
                continue
            try:
                done[j] = _make_shard(out, j, n_shards, names, process, route, size, source, licence, per_shard)
                made += 1
            except Exception as err:  # noqa: BLE001 - a failed shard is reported and retried next run
                failed[j] = f"{type(err).__name__}: {err}"
                print(f"{route}: shard {j}: {failed[j]}", file=sys.stderr)
        lines = [line for j in sorted(done) for line in done[j]["manifest"]]
        counts = _outputs(out, route, size, settings, lines, failed, command)
    return RealRunResult(out, counts.get("kept", 0), counts, made, n_shards - made - len(failed), failed)


def _make_shard(
    out: Path,
    j: int,
    n_shards: int,
    names: Sequence[str],
    process: Callable[[int], Outcome],
    route: str,
    size: tuple[int, int],
    source: str,
    licence: str,
    per_shard: int,
) -> dict[str, Any]:
    """Process and write shard ``j``; returns (and records) its state."""
    rows, manifest = [], []
    for i in range(j * per_shard, min((j + 1) * per_shard, len(names))):
        o = process(i)
        manifest.append(o.manifest_line())
        if o.status == "kept":
            rows.append(_row(route, i, o, source, licence))
    files = {}
    if rows:
        rel = f"data/bokeh/train-{j:05d}-of-{n_shards:05d}.parquet"
        files[rel] = _write_shard(out, rel, size, rows)
    info = {"files": files, "manifest": manifest}
    atomic_write_json(out / "state" / "shards" / f"shard-{j:05d}.json", info)
    return info


def _outputs(
    out: Path, route: str, size: tuple[int, int], settings: dict, lines: list, failed: dict, command: str
) -> dict[str, int]:
    """Write ``manifest.jsonl``, ``summary.json`` and ``README.md``; returns the counts by status."""
    atomic_write_bytes(out / "manifest.jsonl", "".join(json.dumps(m, sort_keys=True) + "\n" for m in lines).encode())
    counts = Counter(m["status"] for m in lines)
    reasons = Counter(f"{m['status']}:{m['reason']}" for m in lines if m["reason"])
    summary = {
        "route": route,
        "inputs_done": len(lines),
        "counts": dict(sorted(counts.items())),
        "reasons": dict(sorted(reasons.items())),
        "shards_failed_this_run": {str(k): v for k, v in sorted(failed.items())},
        "refocus_bench_version": __version__,
    }
    atomic_write_json(out / "summary.json", summary)
    atomic_write_bytes(out / "README.md", _card(route, size, settings, summary, command).encode())
    return dict(counts)


def _card(route: str, size: tuple[int, int], settings: dict, summary: dict, command: str) -> str:
    """The dataset card: front matter for ``datasets.load_dataset``, route, counts, settings, fields."""
    lines = [
        "---",
        f"pretty_name: refocus-bench BokehNet samples from real photos ({route})",
        "license: other",
        "configs:",
        "- config_name: bokeh",
        "  data_files:",
        "  - split: train",
        "    path: data/bokeh/*.parquet",
        "  default: true",
        "---",
        f"# BokehNet samples from real photos: route `{route}`",
        "",
        f"{ROUTES[route]}. Images {size[1]}x{size[0]} px. Made by refocus-bench {__version__}: `{command}`.",
        "",
        f"Counts: {json.dumps(summary['counts'], sort_keys=True)}; reasons: {json.dumps(summary['reasons'])}. "
        "Every input is listed in `manifest.jsonl` with its status and reason.",
        "",
        "Licence: the photos keep their own licences; check them before redistributing this dataset.",
        "",
        "## Settings",
        "",
        "```json",
        json.dumps(settings, indent=2, sort_keys=True),
        "```",
        "",
        "## Fields",
        "",
        "| field | meaning |",
        "|---|---|",
        *(f"| `{k}` | {v} |" for k, v in FIELD_DOCS.items()),
        "",
        "Side fields (`source`, `target_params`):",
        "",
        "| field | meaning |",
        "|---|---|",
        *(f"| `{k}` | {v} |" for k, v in SIDE_DOCS.items()),
        "",
    ]
    return "\n".join(lines)
