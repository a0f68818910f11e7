"""Harvest a folder of photos into a calibrated dataset: scan, read in batches, resume, write outputs.

``harvest(["photos/"], "out/")`` (CLI: ``refocus-bench harvest photos/ -o out/``) writes::

    out/data/train-00000-of-00001.parquet   Hugging Face dataset (explicit Features, see DATASET_FEATURES)
    out/photos.csv                          the same rows, for a quick look
    out/manifest.csv                        every path found: status ok/skipped, reason, detail
    out/summary.json                        counts, versions, options, speed of this run
    out/README.md                           dataset card: fields with units, licence notes
    out/state/parts/part-*.parquet          per-batch results (the resume state)

Every regular file under the inputs is accounted for in the manifest: ``ok`` or ``skipped`` with a
reason from :data:`SKIP_REASONS`. Folder symlinks are followed; a link back into a folder being
scanned is reported as ``symlink_loop`` instead of being walked forever.

Resume and incremental runs: files are processed in sorted path order, in batches; after each batch
its rows are written atomically as a part file keyed by (path, size, mtime). A rerun reads only the
files whose key is not in the parts (new or changed files), so a killed run resumes where it stopped
and a grown folder costs only its new files. Parts made with other per-file options (``sharpness``,
``use_lensfun``) are not reused: changing those re-reads everything. Outputs are assembled by streaming a merge of the
sorted parts (the newest record of each path wins), then the parts are compacted into one. Duplicate
detection and filters are applied at assembly, so they do not depend on the order files were read
and changing a filter costs no re-reading. Memory: the index holds one path and stat per file (a few
hundred bytes); metadata and rows are streamed batch by batch.

Speed: ExifTool reads batch ``i + 1`` in a worker thread while Python hashes, checks and normalises
batch ``i``, so on two cores the harvest runs at about ExifTool's own speed (see
``perf/test_bench_harvest.py``).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import functools
import heapq
import itertools
import json
import os
import stat
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, MissingFileError, check
from ..io import atomic_path, atomic_write_bytes, atomic_write_json
from . import curation
from .exif import PHOTO_FIELDS, ExifToolReader, TagIndex, classify_tags, find_exiftool, normalize_tags
from .sensors import LENSFUN_ATTRIBUTION

__all__ = [
    "harvest",
    "HarvestResult",
    "SKIP_REASONS",
    "FILE_FIELDS",
    "DATASET_FEATURES",  # noqa: F822 - built on first use by the module __getattr__
    "DATASET_COLUMNS",
    "MANIFEST_COLUMNS",
    "DEFAULT_BATCH_SIZE",
]

DEFAULT_BATCH_SIZE = 128
SHARPNESS_FILE_TYPES = frozenset({"JPEG", "PNG", "TIFF", "WEBP", "BMP"})
"""ExifTool file types whose pixels are decoded for sharpness (camera RAW and HEIC are not)."""
STATE_VERSION = 1
DATA_FILE = "data/train-00000-of-00001.parquet"
_ROWS_PER_WRITE = 256  # rows buffered per Parquet row group at assembly: bounds its memory

SKIP_REASONS = {
    "not_image": "not an image (ExifTool reports another file type, or none)",
    "no_exif": "an image without camera metadata (no Make, Model, FNumber, FocalLength, ...)",
    "unreadable": "cannot be opened or listed (permissions, broken symlink, not a regular file)",
    "corrupt": "empty, truncated or structurally broken",
    "duplicate": "same content (sha256) as the kept file named in duplicate_of",
    "symlink_loop": "a symlink that loops, or leads back into a folder already being scanned",
    "filtered": "rejected by a --filter",
    "error": "an unexpected error while processing this file (a bug; please report)",
}
"""Reasons a path is skipped, with their meaning."""

FILE_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("path", "string", "absolute path of the file as found (symlinks not resolved)"),
    ("relative_path", "string", "path relative to the input folder it was found under"),
    ("size_bytes", "int64", "file size in bytes"),
    ("mtime_ns", "int64", "modification time, nanoseconds since the Unix epoch"),
    ("sha256", "string", "sha256 of the file content (hex)"),
    (
        "sharpness_laplacian_var",
        "float64",
        "variance of the 4-neighbour Laplacian of luminance in [0,1] (with --sharpness)",
    ),
    ("sharpness_scale", "int32", "downscale factor the sharpness was measured at (1, 2, 4 or 8)"),
)
_STATUS_FIELDS = (
    ("status", "string", "ok or skipped"),
    ("reason", "string", "skip reason (see SKIP_REASONS)"),
    ("detail", "string", "skip detail in words"),
)
DATASET_COLUMNS = tuple(n for n, _, _ in FILE_FIELDS + PHOTO_FIELDS)
MANIFEST_COLUMNS = (
    "path",
    "relative_path",
    "status",
    "reason",
    "detail",
    "duplicate_of",
    "size_bytes",
    "mtime_ns",
    "sha256",
    "file_type",
)
_PART_FIELDS = FILE_FIELDS + _STATUS_FIELDS + PHOTO_FIELDS


@functools.lru_cache(maxsize=4)
def _features(fields: tuple[tuple[str, str, str], ...]):  # noqa: ANN202 - datasets.Features
    from datasets import Features, Value

    return Features({name: Value(dtype) for name, dtype, _ in fields})


def __getattr__(name: str) -> Any:  # DATASET_FEATURES is built lazily: importing datasets is slow
    if name == "DATASET_FEATURES":
        return _features(FILE_FIELDS + PHOTO_FIELDS)
    raise AttributeError(name)


@dataclass
class HarvestResult:
    """What a harvest produced. ``counts`` maps ``"ok"`` and each skip reason to a number of paths."""

    out_dir: Path
    counts: dict[str, int]
    files_total: int
    files_read: int
    seconds: float
    outputs: dict[str, Path] = field(default_factory=dict)

    @property
    def files_per_second(self) -> float:
        return self.files_read / self.seconds if self.seconds > 0 else 0.0


@dataclass(slots=True)
class _Entry:
    path: str
    relative_path: str
    size_bytes: int | None = None
    mtime_ns: int | None = None
    reason: str | None = None
    detail: str = ""


def _display(path: str) -> str:
    """A UTF-8-safe form of a path (undecodable bytes become backslash escapes)."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", errors="backslashreplace")


def _scan(inputs: Sequence[str], exclude: Sequence[str]) -> list[_Entry]:
    """Every path under ``inputs`` (recursively, following folder symlinks), sorted by path."""
    excluded = {os.path.realpath(e) for e in exclude}
    found: dict[str, _Entry] = {}
    for arg in inputs:
        root = os.path.abspath(arg)
        st = os.stat(root)
        if not stat.S_ISDIR(st.st_mode):
            rel = os.path.basename(root)
            found.setdefault(
                root,
                _Entry(root, rel, st.st_size, st.st_mtime_ns)
                if stat.S_ISREG(st.st_mode)
                else _Entry(root, rel, reason="unreadable", detail="not a regular file"),
            )
            continue
        active: dict[tuple[int, int], str] = {(st.st_dev, st.st_ino): root}
        stack: list[tuple[str, tuple[tuple[int, int], ...]]] = [(root, ((st.st_dev, st.st_ino),))]
        while stack:
            folder, ancestors = stack.pop()
            try:
                with os.scandir(folder) as it:
                    children = sorted(it, key=lambda e: e.name, reverse=True)
            except OSError as err:
                found.setdefault(
                    folder,
                    _Entry(
                        folder,
                        os.path.relpath(folder, root),
                        reason="unreadable",
                        detail=f"cannot list folder: {err.strerror}",
                    ),
                )
                continue
            for child in children:
                p = child.path
                rel = os.path.relpath(p, root)
                try:
                    cst = os.stat(p)
                except OSError as err:
                    if err.errno == errno.ELOOP:
                        found.setdefault(
                            p, _Entry(p, rel, reason="symlink_loop", detail="symlink loop (too many levels of links)")
                        )
                    elif child.is_symlink():
                        target = _display(os.readlink(p)) if os.path.islink(p) else "?"
                        found.setdefault(p, _Entry(p, rel, reason="unreadable", detail=f"broken symlink -> {target}"))
                    else:
                        found.setdefault(p, _Entry(p, rel, reason="unreadable", detail=err.strerror or str(err)))
                    continue
                if stat.S_ISDIR(cst.st_mode):
                    key = (cst.st_dev, cst.st_ino)
                    if os.path.realpath(p) in excluded:
                        continue
                    if key in ancestors:
                        found.setdefault(
                            p, _Entry(p, rel, reason="symlink_loop", detail=f"leads back to {_display(active[key])}")
                        )
                        continue
                    active.setdefault(key, p)
                    stack.append((p, ancestors + (key,)))
                elif stat.S_ISREG(cst.st_mode):
                    found.setdefault(p, _Entry(p, rel, cst.st_size, cst.st_mtime_ns))
                else:
                    found.setdefault(
                        p, _Entry(p, rel, reason="unreadable", detail="not a regular file (fifo, socket or device)")
                    )
                if not os.access(p, os.R_OK) and p in found and found[p].reason is None:
                    found[p] = _Entry(p, rel, reason="unreadable", detail="permission denied")
    return sorted(found.values(), key=lambda e: _display(e.path))


# ----------------------------------------------------------------------------------------- state
def _state_dir(out: Path) -> Path:
    return out / "state" / "parts"


def _part_meta(path: Path) -> dict[str, Any] | None:
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
        return json.loads(meta.get(b"refocus_bench", b"null"))
    except Exception:  # noqa: BLE001 - unreadable part: ignored, its files are read again
        return None


def _valid_parts(out: Path, options: dict[str, Any]) -> tuple[list[tuple[int, str, Path]], list[Path]]:
    """``([(seq, run_id, path)] sorted by seq, [stale part paths])``; stale: other options or unreadable."""
    good, stale = [], []
    folder = _state_dir(out)
    if not folder.is_dir():
        return good, stale
    for p in folder.iterdir():
        if p.name.startswith("."):  # temporary file left by a killed run
            p.unlink(missing_ok=True)
            continue
        meta = _part_meta(p) if p.suffix == ".parquet" else None
        if meta and meta.get("state_version") == STATE_VERSION and meta.get("options") == options:
            good.append((int(meta["seq"]), str(meta["run_id"]), p))
        else:
            stale.append(p)
    good.sort()
    return good, stale


def _remove_stale_temporaries(out: Path) -> None:
    """Delete temporary files that a killed run left beside its outputs (``io.atomic_path`` names)."""
    names = [Path(DATA_FILE).name, "photos.csv", "manifest.csv", "README.md", "summary.json"]
    for folder in (out, out / "data"):
        if folder.is_dir():
            for p in folder.iterdir():
                if any(p.name.startswith(f".{n}.") and ".tmp" in p.name for n in names):
                    p.unlink(missing_ok=True)


def _done_index(parts: list[tuple[int, str, Path]]) -> dict[str, tuple[Any, Any]]:
    """``{path: (size_bytes, mtime_ns)}`` of the newest record of each path in the parts."""
    import pyarrow.parquet as pq

    done: dict[str, tuple[Any, Any]] = {}
    for _, _, p in parts:
        t = pq.read_table(p, columns=["path", "size_bytes", "mtime_ns"])
        for path, size, mtime in zip(*(t.column(c).to_pylist() for c in ("path", "size_bytes", "mtime_ns"))):
            done[path] = (size, mtime)
    return done


def _write_part(out: Path, seq: int, run_id: str, rows: list[dict[str, Any]], options: dict[str, Any]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _part_schema(seq, run_id, options)
    table = pa.Table.from_pylist(rows, schema=schema)
    with atomic_path(_state_dir(out) / f"part-{seq:08d}.parquet") as tmp:
        pq.write_table(table, tmp)


def _part_schema(seq: int, run_id: str, options: dict[str, Any]):  # noqa: ANN202 - pyarrow.Schema
    schema = _features(_PART_FIELDS).arrow_schema
    meta = {"state_version": STATE_VERSION, "options": options, "seq": seq, "run_id": run_id}
    return schema.with_metadata({**(schema.metadata or {}), b"refocus_bench": json.dumps(meta).encode()})


def _iter_run(paths: list[tuple[int, Path]]) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """Rows of one run's parts, in order (each run's parts are sorted by path): (path, -seq, row)."""
    import pyarrow.parquet as pq

    for seq, p in paths:
        with pq.ParquetFile(p) as pf:
            for rb in pf.iter_batches(batch_size=512):
                for row in rb.to_pylist():
                    yield row["path"], -seq, row


# ------------------------------------------------------------------------------------ processing
def _skipped(entry: _Entry, reason: str, detail: str, **extra: Any) -> dict[str, Any]:
    row = {name: None for name, _, _ in _PART_FIELDS}
    row.update(
        path=_display(entry.path),
        relative_path=_display(entry.relative_path),
        size_bytes=entry.size_bytes,
        mtime_ns=entry.mtime_ns,
        status="skipped",
        reason=reason,
        detail=detail,
    )
    row.update(extra)
    return row


def _strips(idx: TagIndex) -> dict[str, tuple[Any, Any]]:
    out: dict[str, tuple[Any, Any]] = {}
    for off_tag, cnt_tag in (("StripOffsets", "StripByteCounts"), ("TileOffsets", "TileByteCounts")):
        counts = {(g0, g1): v for g0, g1, v in idx.all(cnt_tag)}
        for g0, g1, v in idx.all(off_tag):
            if (g0, g1) in counts:
                out[f"{g1}:{off_tag}"] = (v, counts[(g0, g1)])
    return out


def _process(entry: _Entry, raw: dict[str, Any] | None, options: dict[str, Any]) -> dict[str, Any]:
    """The part row of one scanned path (never raises)."""
    if entry.reason is not None:
        return _skipped(entry, entry.reason, entry.detail)
    try:
        idx = TagIndex(raw or {})
        reason, detail = classify_tags(idx)
        long_edge = None
        if reason is None:
            photo = normalize_tags(idx, use_lensfun=options["lensfun"])
            if photo["image_width_px"]:
                long_edge = max(photo["image_width_px"], photo["image_height_px"])
        want_sharpness = options["sharpness"] and reason is None and idx.get("FileType") in SHARPNESS_FILE_TYPES
        try:
            info = curation.inspect_file(
                entry.path, sharpness=want_sharpness, long_edge_px=long_edge, tiff_strips=_strips(idx)
            )
        except OSError as err:
            return _skipped(entry, "unreadable", f"cannot read: {err.strerror or err}")
        extra = {
            "sha256": info.sha256,
            "size_bytes": info.size_bytes,
            "file_type": idx.get("FileType"),
            "mime_type": idx.get("MIMEType"),
        }
        if reason == "not_image" or reason == "unreadable":
            return _skipped(entry, reason, detail, **extra)
        if info.problem is not None:
            return _skipped(entry, "corrupt", info.problem, **extra)
        if reason is not None:
            return _skipped(entry, reason, detail, **extra)
        row = {name: None for name, _, _ in _PART_FIELDS}
        row.update(photo)
        row.update(
            path=_display(entry.path),
            relative_path=_display(entry.relative_path),
            size_bytes=info.size_bytes,
            mtime_ns=entry.mtime_ns,
            sha256=info.sha256,
            sharpness_laplacian_var=info.sharpness,
            sharpness_scale=info.sharpness_scale,
            status="ok",
            reason=None,
            detail=None,
        )
        return row
    except Exception as err:  # noqa: BLE001 - one file must never take the harvest down
        return _skipped(entry, "error", f"{type(err).__name__}: {err}")


def _batches(todo: list[_Entry], batch_size: int) -> list[list[_Entry]]:
    """Split into batches of ``batch_size``, starting small (16, 32, ...) so the pipeline fills fast."""
    out, i, size = [], 0, min(batch_size, 16)
    while i < len(todo):
        out.append(todo[i : i + size])
        i += size
        size = min(batch_size, size * 2)
    return out


# -------------------------------------------------------------------------------------- assembly
def _assemble(
    out: Path,
    parts: list[tuple[int, str, Path]],
    present: set[str],
    filters: list[curation.Filter],
    options: dict[str, Any],
) -> tuple[Counter, dict[str, Path]]:
    """Merge the parts into the outputs and one compacted part; returns counts and output paths."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    runs: dict[str, list[tuple[int, Path]]] = {}
    for seq, run_id, p in parts:
        runs.setdefault(run_id, []).append((seq, p))
    merged = heapq.merge(*(_iter_run(v) for v in runs.values()), key=lambda t: (t[0], t[1]))
    counts: Counter = Counter()
    kept_by_hash: dict[str, str] = {}
    outputs = {"dataset": out / DATA_FILE, "csv": out / "photos.csv", "manifest": out / "manifest.csv"}
    compact_seq = (parts[-1][0] + 1) if parts else 0
    ds_schema = _features(FILE_FIELDS + PHOTO_FIELDS).arrow_schema
    part_schema = _part_schema(compact_seq, f"compact-{compact_seq}", options)
    with contextlib.ExitStack() as stack:
        ds_tmp = stack.enter_context(atomic_path(outputs["dataset"]))
        csv_tmp = stack.enter_context(atomic_path(outputs["csv"]))
        man_tmp = stack.enter_context(atomic_path(outputs["manifest"]))
        part_tmp = stack.enter_context(atomic_path(_state_dir(out) / f"part-{compact_seq:08d}.parquet"))
        ds_writer = stack.enter_context(pq.ParquetWriter(ds_tmp, ds_schema))
        part_writer = stack.enter_context(pq.ParquetWriter(part_tmp, part_schema))
        csv_fh = stack.enter_context(open(csv_tmp, "w", newline="", encoding="utf-8"))
        man_fh = stack.enter_context(open(man_tmp, "w", newline="", encoding="utf-8"))
        csv_w = csv.DictWriter(csv_fh, DATASET_COLUMNS, extrasaction="ignore", lineterminator="\n")
        man_w = csv.DictWriter(man_fh, MANIFEST_COLUMNS, extrasaction="ignore", lineterminator="\n")
        csv_w.writeheader()
        man_w.writeheader()
        ds_rows: list[dict[str, Any]] = []
        part_rows: list[dict[str, Any]] = []

        def flush(final: bool = False) -> None:
            if ds_rows and (final or len(ds_rows) >= _ROWS_PER_WRITE):
                ds_writer.write_table(pa.Table.from_pylist(ds_rows, schema=ds_schema))
                ds_rows.clear()
            if part_rows and (final or len(part_rows) >= _ROWS_PER_WRITE):
                part_writer.write_table(pa.Table.from_pylist(part_rows, schema=part_schema))
                part_rows.clear()

        for path, group in itertools.groupby(merged, key=lambda t: t[0]):
            row = next(group)[2]  # newest record of this path
            if path not in present:  # deleted since it was read
                continue
            part_rows.append(row)
            row = dict(row, duplicate_of=None)
            if row["status"] == "ok":
                kept = kept_by_hash.setdefault(row["sha256"], path)
                if kept != path:
                    row.update(
                        status="skipped", reason="duplicate", detail=f"same content as {kept}", duplicate_of=kept
                    )
            if row["status"] == "ok":
                for flt in filters:
                    ok, why = flt(row)
                    if not ok:
                        row.update(status="skipped", reason="filtered", detail=why)
                        break
            counts["ok" if row["status"] == "ok" else row["reason"]] += 1
            man_w.writerow(row)
            if row["status"] == "ok":
                csv_w.writerow({k: ("" if row[k] is None else row[k]) for k in DATASET_COLUMNS})
                ds_rows.append(row)
            flush()
        flush(final=True)
    for _, _, p in parts:  # the compacted part now holds everything they held
        p.unlink(missing_ok=True)
    return counts, outputs


def _dataset_card(counts: Counter, options: dict[str, Any], filters: list[str], exiftool_version: str) -> str:
    lines = [
        "---",
        "configs:",
        "- config_name: default",
        "  data_files:",
        "  - split: train",
        f"    path: {DATA_FILE}",
        "---",
        "# Harvested photos with calibrated lens parameters",
        "",
        f"Made by `refocus-bench harvest` (refocus_bench.datasets.harvest) with ExifTool {exiftool_version}. "
        'Load with `datasets.load_dataset("path/to/this/folder", split="train")`.',
        "",
        f"Rows: {counts.get('ok', 0)}. Skipped: "
        + (", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k != "ok") or "none")
        + ". Every input path is listed in `manifest.csv`.",
        f"Options: {json.dumps(options, sort_keys=True)}. Filters: {filters or 'none'}.",
        "",
        "## Licence and sources",
        "",
        "The photos keep their own licences; this dataset holds only their metadata and paths.",
        LENSFUN_ATTRIBUTION,
        "",
        "## Fields",
        "",
        "| field | type | unit / meaning |",
        "|---|---|---|",
    ]
    lines += [f"| `{n}` | {t} | {doc} |" for n, t, doc in FILE_FIELDS + PHOTO_FIELDS]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------- API
def harvest(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    sharpness: bool = False,
    filters: Sequence[str] = (),
    use_lensfun: bool = True,
    exiftool: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> HarvestResult:
    """Harvest photos under ``inputs`` into ``out_dir`` (see the module docstring for the layout).

    Args:
        inputs: folders (scanned recursively) or single files.
        out_dir: output folder; reruns into the same folder resume and only read new files.
        batch_size: files per ExifTool call and per resume part (>= 1).
        sharpness: also measure the Laplacian variance (decodes JPEG/PNG/TIFF at reduced size).
        filters: row filters such as ``"coc_inf_px>=8"`` (see :class:`curation.Filter`).
        use_lensfun: look cameras up in the lensfun database when the 35 mm equivalent is missing.
        exiftool: ExifTool executable (default: ``exiftool`` on PATH).
        progress: called as ``progress(files_done, files_to_read)`` after each batch.

    Returns:
        A :class:`HarvestResult` with counts by status/reason.
    """
    t0 = time.perf_counter()
    check(len(inputs) > 0, "inputs must name at least one folder or file")
    for arg in inputs:
        check(os.path.exists(arg), lambda: f"input {os.fspath(arg)!r}: no such file or folder", exc=MissingFileError)
    check(
        isinstance(batch_size, int) and batch_size >= 1,
        lambda: f"batch_size must be an integer >= 1, got {batch_size!r}",
    )
    out = Path(out_dir).absolute()
    check(not out.exists() or out.is_dir(), lambda: f"out_dir {str(out)!r} exists and is not a folder")
    flt = curation.parse_filters(filters, DATASET_COLUMNS)
    options = {"sharpness": bool(sharpness), "lensfun": bool(use_lensfun)}
    _state_dir(out).mkdir(parents=True, exist_ok=True)
    with open(out / "state" / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InvalidInputError(f"out_dir {str(out)!r} is in use by another harvest") from None
        _remove_stale_temporaries(out)
        entries = _scan([os.fspath(a) for a in inputs], exclude=[str(out)])
        parts, stale = _valid_parts(out, options)
        for p in stale:  # made with other options (or unreadable): their files are read again
            p.unlink(missing_ok=True)
        done = _done_index(parts)
        todo = [e for e in entries if done.get(_display(e.path), ()) != (e.size_bytes, e.mtime_ns)]
        present = {_display(e.path) for e in entries}
        n_total, n_todo = len(entries), len(todo)
        del done, entries  # the index kept through the run is `present` (one path per file)
        run_id = uuid.uuid4().hex
        seq = (parts[-1][0] + 1) if parts else 0
        batches = _batches(todo, batch_size)
        readable = lambda b: [e.path for e in b if e.reason is None]  # noqa: E731
        version, n_done = "not started", 0
        if any(readable(b) for b in batches):
            with ExifToolReader(exiftool) as reader, ThreadPoolExecutor(1) as pool:
                version = reader.version
                future = pool.submit(reader.read, readable(batches[0]))
                for i, batch in enumerate(batches):
                    raws = iter(future.result())
                    if i + 1 < len(batches):
                        future = pool.submit(reader.read, readable(batches[i + 1]))
                    rows = [_process(e, next(raws) if e.reason is None else None, options) for e in batch]
                    _write_part(out, seq, run_id, rows, options)
                    parts.append((seq, run_id, _state_dir(out) / f"part-{seq:08d}.parquet"))
                    seq += 1
                    n_done += len(batch)
                    batches[i] = []  # processed entries are no longer needed
                    if progress:
                        progress(n_done, n_todo)
        else:
            for batch in batches:
                _write_part(out, seq, run_id, [_process(e, None, options) for e in batch], options)
                parts.append((seq, run_id, _state_dir(out) / f"part-{seq:08d}.parquet"))
                seq += 1
        del todo, batches
        if version == "not started":  # nothing new to read: still name the ExifTool in the card
            version = _exiftool_version(exiftool)
        counts, outputs = _assemble(out, parts, present, flt, options)
        seconds = time.perf_counter() - t0
        outputs["card"] = out / "README.md"
        atomic_write_bytes(outputs["card"], _dataset_card(counts, options, list(filters), version).encode("utf-8"))
        outputs["summary"] = out / "summary.json"
        atomic_write_json(
            outputs["summary"],
            {
                "inputs": [_display(os.path.abspath(a)) for a in inputs],
                "files_total": n_total,
                "files_read_this_run": n_todo,
                "counts": dict(sorted(counts.items())),
                "options": options,
                "filters": list(filters),
                "seconds_this_run": round(seconds, 3),
                "files_per_second_this_run": round(n_todo / seconds, 1) if seconds > 0 else None,
                "exiftool_version": version,
                "skip_reasons": SKIP_REASONS,
                "attribution": LENSFUN_ATTRIBUTION,
            },
        )
    mode = _file_mode()  # io.atomic_path creates 0600 temporaries; outputs follow the umask
    for p in [*outputs.values(), *_state_dir(out).glob("part-*.parquet")]:
        with contextlib.suppress(OSError):
            os.chmod(p, mode)
    return HarvestResult(out, dict(counts), n_total, n_todo, seconds, outputs)


def _exiftool_version(executable: str | None) -> str:
    try:
        exe = find_exiftool(executable)
        return subprocess.run([exe, "-ver"], capture_output=True, text=True, timeout=60).stdout.strip() or "unknown"
    except (MissingFileError, OSError, subprocess.SubprocessError):
        return "unknown"


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _print_progress(done: int, total: int) -> None:  # pragma: no cover - cosmetic
    print(f"\rharvest: {done}/{total} files read", end="" if done < total else "\n", file=sys.stderr, flush=True)
