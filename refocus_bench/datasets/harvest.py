"""Harvest a folder of photos into a calibrated dataset: scan, read in batches, resume, write outputs.

``harvest(["photos/"], "out/")`` (CLI: ``refocus-bench harvest photos/ -o out/``) writes::

    out/data/train-00000-of-00001.parquet   Hugging Face dataset (explicit Features, see harvest_schema)
    out/photos.csv                          the same rows, for a quick look
    out/manifest.csv                        every path found: status ok/skipped, reason, detail
    out/summary.json                        counts, versions, options, speed of this run
    out/README.md                           dataset card: fields with units, licence notes
    out/state/parts/part-*.parquet          per-batch results (the resume state)

Every regular file under the inputs is accounted for in the manifest: ``ok`` or ``skipped`` with a
reason from :data:`~refocus_bench.datasets.harvest_schema.SKIP_REASONS`. Folder symlinks are
followed; a link back into a folder being scanned is reported as ``symlink_loop`` instead of being
walked forever (:mod:`refocus_bench.datasets.walk`). Columns, types and the dataset card:
:mod:`refocus_bench.datasets.harvest_schema`.

Resume and incremental runs: files are processed in sorted path order, in batches; after each batch
its rows are written atomically as a part file keyed by (path, size, mtime). A rerun reads only the
files whose key is not in the parts (new or changed files), so a killed run resumes where it stopped
and a grown folder costs only its new files. Parts made with other per-file options (``sharpness``,
``use_lensfun``) are not reused: changing those re-reads everything. Outputs are assembled by
streaming a merge of the sorted parts (the newest record of each path wins), then the parts are
compacted into one. Duplicate detection and filters are applied at assembly, so they do not depend
on the order files were read and changing a filter costs no re-reading. Memory: the index holds one
path and stat per file (a few hundred bytes); metadata and rows are streamed batch by batch.

Speed: the one ExifTool process starts as soon as the arguments are checked (the command line
starts it before its own imports), so Perl's start-up overlaps the scan and Python's imports (no
torch, no pandas: Arrow tables are built from their buffers, see
:func:`~refocus_bench.datasets.harvest_schema.arrow_table`; a first run loads pyarrow while Perl
starts). ExifTool selects the requested tags through
:data:`~refocus_bench.datasets.exiftool.PERL_TAG_SELECTION` (about 0.8 of raw
``exiftool -json -n``'s CPU instead of 1.35). The reads of the next two batches wait in ExifTool's
input, so ExifTool goes from batch to batch without a round trip, and Python takes each file's tags
as soon as ExifTool has printed them (:meth:`~refocus_bench.datasets.exiftool.ExifToolReader.stream`)
and hashes, checks and normalises that file while ExifTool reads the next. A first run writes its
outputs batch by batch (:class:`~refocus_bench.datasets.harvest_outputs.HarvestOutputs`). What is left
after ExifTool's last answer is one file and the outputs' commit (measured in
``perf/test_harvest_speed.py`` and ``perf/test_bench_harvest.py``; figures in docs/datasets.md).

Pixels: for each kept row Pillow is asked (headers only) whether it reads the file's full image
(:func:`~refocus_bench.datasets.curation.probe_pixels`); ``pixel_decoder`` names it, or
``no_pixels_reason`` says why no pixel data comes with the row (camera RAW, video, light field,
sidecar). A file ExifTool cannot identify but Pillow can (TGA) is an image without camera metadata.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import heapq
import itertools
import json
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, MissingFileError, check
from ..io import atomic_path, atomic_write_bytes, atomic_write_json
from ..paths import check_output_dir, removed_on_failure
from . import curation, sensors
from .exif import PHOTO_FIELDS, TagIndex, classify_tags, normalize_tags
from .exiftool import ExifToolReader, find_exiftool
from .harvest_outputs import HarvestOutputs
from .harvest_schema import (
    DATA_FILE,
    FILE_FIELDS,
    PART_FIELDS,
    SKIP_REASONS,
    arrow_schema,
    arrow_table,
    dataset_card,
)
from .sensors import LENSFUN_ATTRIBUTION
from .walk import Entry, display_path, scan_inputs, split_batches

__all__ = ["harvest", "HarvestResult", "DEFAULT_BATCH_SIZE"]

DEFAULT_BATCH_SIZE = 128
STATE_VERSION = 2
_READS_AHEAD = 2  # ExifTool reads sent before their batch is processed


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
    if not parts:  # a first run: pyarrow loads later, beside ExifTool's first read
        return {}
    import pyarrow.parquet as pq

    done: dict[str, tuple[Any, Any]] = {}
    for _, _, p in parts:
        with pq.ParquetFile(p) as pf:  # pq.read_table would import pandas
            t = pf.read(columns=["path", "size_bytes", "mtime_ns"])
        for path, size, mtime in zip(*(t.column(c).to_pylist() for c in ("path", "size_bytes", "mtime_ns"))):
            done[path] = (size, mtime)
    return done


def _write_part(
    out: Path, seq: int, run_id: str, rows: list[dict[str, Any]], options: dict[str, Any], write: bool = True
):  # noqa: ANN202 - pyarrow.Table
    """Write one part atomically (unless ``write`` is false); returns its ``pyarrow.Table`` (its rows as a
    reader of the part gets them)."""
    import pyarrow.parquet as pq

    schema = _part_schema(seq, run_id, options)
    table = arrow_table(rows, schema)
    if write:
        with atomic_path(_state_dir(out) / f"part-{seq:08d}.parquet") as tmp:
            pq.write_table(table, tmp)
    return table


def _part_schema(seq: int, run_id: str, options: dict[str, Any]):  # noqa: ANN202 - pyarrow.Schema
    schema = arrow_schema(PART_FIELDS)
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
def _skipped(entry: Entry, reason: str, detail: str, **extra: Any) -> dict[str, Any]:
    row = {name: None for name, _, _ in PART_FIELDS}
    row.update(
        path=display_path(entry.path),
        relative_path=display_path(entry.relative_path),
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


def _process(entry: Entry, raw: dict[str, Any] | None, options: dict[str, Any]) -> dict[str, Any]:
    """The part row of one scanned path (never raises)."""
    if entry.reason is not None:
        return _skipped(entry, entry.reason, entry.detail)
    try:
        idx = TagIndex(raw or {})
        reason, detail = classify_tags(idx)
        long_edge = None
        if reason == "not_image":  # a decoder may still read it (TGA)
            decoder, _ = curation.probe_pixels(entry.path, None, None, None)
            if decoder is not None:
                reason = "no_exif"
                if idx.get("FileType") is None:
                    detail = f"an image read by {decoder}; ExifTool reads no metadata from it"
        if reason is None:
            photo = normalize_tags(idx, use_lensfun=options["lensfun"])
            size = (photo["image_width_px"], photo["image_height_px"]) if photo["image_width_px"] else None
            photo["pixel_decoder"], photo["no_pixels_reason"] = curation.probe_pixels(
                entry.path, photo["file_type"], photo["mime_type"], size
            )
            if size:
                long_edge = max(size)
        want_sharpness = options["sharpness"] and reason is None and photo["pixel_decoder"] is not None
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
        row = {name: None for name, _, _ in PART_FIELDS}
        row.update(photo)
        row.update(
            path=display_path(entry.path),
            relative_path=display_path(entry.relative_path),
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


# -------------------------------------------------------------------------------------- assembly
def _outputs(out: Path, seq: int, present: set[str], filters: list[curation.Filter], options: dict[str, Any]):  # noqa: ANN202
    """The run's :class:`HarvestOutputs`; the compacted part gets sequence number ``seq``."""
    part = _state_dir(out) / f"part-{seq:08d}.parquet"
    return HarvestOutputs(out, part, _part_schema(seq, f"compact-{seq}", options), present, filters)


def _assemble(outputs: HarvestOutputs, parts: list[tuple[int, str, Path]]) -> None:
    """Give ``outputs`` the newest record of each path in ``parts``, in path order (a streaming merge)."""
    runs: dict[str, list[tuple[int, Path]]] = {}
    for seq, run_id, p in parts:
        runs.setdefault(run_id, []).append((seq, p))
    merged = heapq.merge(*(_iter_run(v) for v in runs.values()), key=lambda t: (t[0], t[1]))
    for _, group in itertools.groupby(merged, key=lambda t: t[0]):
        outputs.add(next(group)[2])  # newest record of this path


# ------------------------------------------------------------------------------------------- API
def _check_arguments(inputs: Sequence[str | os.PathLike[str]], out_dir: Any, batch_size: Any) -> Path:
    """Checks of :func:`harvest`'s arguments; returns the absolute output folder."""
    check(len(inputs) > 0, "inputs must name at least one folder or file")
    for arg in inputs:
        check(os.path.exists(arg), lambda: f"input {os.fspath(arg)!r}: no such file or folder", exc=MissingFileError)
    check(
        isinstance(batch_size, int) and batch_size >= 1,
        lambda: f"batch_size must be an integer >= 1, got {batch_size!r}",
    )
    out = Path(out_dir).absolute()
    check(not out.exists() or out.is_dir(), lambda: f"out_dir {str(out)!r} exists and is not a folder")
    check_output_dir(out, "out_dir")
    return out


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """Hold ``out/state/.lock`` (one harvest per folder at a time) for the body."""
    with open(out / "state" / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InvalidInputError(f"out_dir {str(out)!r} is in use by another harvest") from None
        yield


@dataclass
class _Plan:
    """What a run must do: the reusable parts, the entries to read, every path present, the path count."""

    parts: list[tuple[int, str, Path]]
    todo: list[Entry]
    present: set[str]
    files_total: int


def _plan(out: Path, inputs: list[str], options: dict[str, Any]) -> _Plan:
    """Scan the inputs, drop stale parts and temporaries, and list the files no valid part holds (new or changed)."""
    _remove_stale_temporaries(out)
    entries = scan_inputs(inputs, exclude=[str(out)])
    parts, stale = _valid_parts(out, options)
    for p in stale:  # made with other options (or unreadable): their files are read again
        p.unlink(missing_ok=True)
    done = _done_index(parts)
    todo = [e for e in entries if done.get(display_path(e.path), ()) != (e.size_bytes, e.mtime_ns)]
    present = {display_path(e.path) for e in entries}  # the index kept through the run: one path per file
    return _Plan(parts, todo, present, len(entries))


class _PartLog:
    """Writes one part per batch (sequence numbers continue after the valid parts) and lists them."""

    def __init__(self, out: Path, parts: list[tuple[int, str, Path]], options: dict[str, Any]) -> None:
        self.out, self.parts, self.options = out, parts, options
        self.run_id = uuid.uuid4().hex
        self.seq = (parts[-1][0] + 1) if parts else 0

    def write(self, rows: list[dict[str, Any]], write: bool = True):  # noqa: ANN201 - pyarrow.Table
        """Write ``rows`` as the next part; returns its table. ``write=False``: only the table (the rows
        go straight into the outputs; a run killed before those are in place reads them again)."""
        table = _write_part(self.out, self.seq, self.run_id, rows, self.options, write)
        if write:
            self.parts.append((self.seq, self.run_id, _state_dir(self.out) / f"part-{self.seq:08d}.parquet"))
        self.seq += 1
        return table


def _readable(batch: list[Entry]) -> list[str]:
    return [e.path for e in batch if e.reason is None]


def _warm_up(options: dict[str, Any]) -> None:
    """Load what processing a batch needs (pyarrow, Pillow's common plugins, lensfun's database) while
    ExifTool starts: in parallel with Perl, instead of after ExifTool's first answer."""
    import pyarrow.parquet  # noqa: F401 - imported for its import time
    from PIL import Image

    Image.preinit()
    if options["lensfun"]:
        with contextlib.suppress(Exception):  # lensfun missing or broken: the lookups report it per file
            sensors.load_lensfun()


def _read_all(
    batches: list[list[Entry]],
    log: _PartLog,
    options: dict[str, Any],
    reader: ExifToolReader,
    progress: Callable[[int, int], None] | None,
    outputs_for: Callable[[], HarvestOutputs] | None = None,
) -> HarvestOutputs | None:
    """Read and process every batch, one part each; with ``outputs_for``, also give each batch's rows to
    the outputs it makes (a first run: rows come in path order) and return them, still to commit.

    The reads of batches ``i + 1`` and ``i + 2`` are sent to ExifTool before this thread processes
    batch ``i``, so ExifTool goes from one batch to the next without waiting for Python; each file of
    batch ``i`` is processed as soon as ExifTool has printed its tags. The imports that processing
    needs run while Perl starts. Once the last read is sent, ExifTool is told to exit after it.
    """
    n_todo, n_done = sum(len(b) for b in batches), 0
    queued = collections.deque(reader.submit(_readable(b)) for b in batches[:_READS_AHEAD])
    if len(queued) == len(batches):
        reader.finish()
    if any(_readable(b) for b in batches):
        _warm_up(options)
    outputs = outputs_for() if outputs_for is not None else None
    try:
        for i, batch in enumerate(batches):
            raws = reader.stream(queued.popleft())  # each file's tags as soon as ExifTool has printed them
            if i + _READS_AHEAD < len(batches):
                queued.append(reader.submit(_readable(batches[i + _READS_AHEAD])))
                if i + _READS_AHEAD == len(batches) - 1:
                    reader.finish()
            rows = [_process(e, next(raws) if e.reason is None else None, options) for e in batch]
            table = log.write(rows, write=outputs is None or i < len(batches) - 1)  # the last: in the outputs
            if outputs is not None:
                for row in table.to_pylist():
                    outputs.add(row)
                outputs.convert()
            n_done += len(batch)
            batches[i] = []  # processed entries are no longer needed
            if progress:
                progress(n_done, n_todo)
    except BaseException:
        if outputs is not None:
            outputs.discard()
        raise
    return outputs


def _write_outputs(
    out: Path,
    plan: _Plan,
    outputs: HarvestOutputs | None,
    flt: list[curation.Filter],
    options: dict[str, Any],
    pool: ThreadPoolExecutor,
) -> tuple[HarvestOutputs, list[Future]]:
    """Assemble (unless a first run already gave ``outputs`` its rows) and commit the outputs; the parts the
    compacted part replaces are removed in ``pool`` (the futures of their removals are returned)."""
    if outputs is None:
        seq = (plan.parts[-1][0] + 1) if plan.parts else 0
        outputs = _outputs(out, seq, plan.present, flt, options)
        try:
            _assemble(outputs, plan.parts)
        except BaseException:
            outputs.discard()
            raise
    outputs.commit(pool)
    removals = [pool.submit(p.unlink, missing_ok=True) for _, _, p in plan.parts]  # all in the compacted part
    return outputs, removals


def _summary(
    inputs: Sequence[str | os.PathLike[str]],
    plan_total: int,
    n_todo: int,
    counts: Counter,
    options: dict[str, Any],
    filters: Sequence[str],
    seconds: float,
    version: str,
) -> dict[str, Any]:
    """The content of ``summary.json``."""
    return {
        "inputs": [display_path(os.path.abspath(a)) for a in inputs],
        "files_total": plan_total,
        "files_read_this_run": n_todo,
        "counts": dict(sorted(counts.items())),
        "options": options,
        "filters": list(filters),
        "seconds_this_run": round(seconds, 3),
        "files_per_second_this_run": round(n_todo / seconds, 1) if seconds > 0 else None,
        "exiftool_version": version,
        "skip_reasons": SKIP_REASONS,
        "attribution": LENSFUN_ATTRIBUTION,
    }


def _follow_umask(paths: list[Path]) -> None:
    """Give ``paths`` the mode the umask gives new files (``io.atomic_path`` creates 0600 temporaries)."""
    mode = _file_mode()
    for p in paths:
        with contextlib.suppress(OSError):
            os.chmod(p, mode)


def harvest(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    sharpness: bool = False,
    filters: Sequence[str] = (),
    use_lensfun: bool = True,
    exiftool: str | ExifToolReader | None = None,
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
        exiftool: ExifTool executable (default: ``exiftool`` on PATH), or an :class:`ExifToolReader`
            already started with the default tags (the command line starts it before its imports);
            the harvest closes it.
        progress: called as ``progress(files_done, files_to_read)`` after each batch.

    Returns:
        A :class:`HarvestResult` with counts by status/reason.
    """
    t0 = time.perf_counter()
    try:
        out = _check_arguments(inputs, out_dir, batch_size)
        flt = curation.parse_filters(filters, {n: t for n, t, _ in FILE_FIELDS + PHOTO_FIELDS})
    except BaseException:
        if isinstance(exiftool, ExifToolReader):
            exiftool.abort()
        raise
    reader = exiftool if isinstance(exiftool, ExifToolReader) else ExifToolReader(find_exiftool(exiftool))
    options = {"sharpness": bool(sharpness), "lensfun": bool(use_lensfun)}
    try:  # Perl starts while the scan and the imports run
        with removed_on_failure(out, keep=lambda p: any(_state_dir(p).glob("part-*.parquet"))):
            _state_dir(out).mkdir(parents=True, exist_ok=True)
            with _exclusive(out):
                plan = _plan(out, [os.fspath(a) for a in inputs], options)
                n_todo = len(plan.todo)
                log = _PartLog(out, plan.parts, options)
                batches = split_batches(plan.todo, batch_size)
                plan.todo = []
                first_run = None if plan.parts else log.seq + len(batches)  # the compacted part's number
                made = _read_all(
                    batches,
                    log,
                    options,
                    reader,
                    progress,
                    None if first_run is None else lambda: _outputs(out, first_run, plan.present, flt, options),
                )
                del batches
                version = reader.version
                with ThreadPoolExecutor(4) as pool:  # file system work in parallel: fsyncs, removals
                    written, removals = _write_outputs(out, plan, made, flt, options, pool)
                    counts, outputs = written.counts, dict(written.paths)
                    seconds = time.perf_counter() - t0
                    outputs["card"] = out / "README.md"
                    outputs["summary"] = out / "summary.json"
                    card = dataset_card(counts, options, list(filters), version)
                    summary = _summary(inputs, plan.files_total, n_todo, counts, options, filters, seconds, version)
                    done = [
                        pool.submit(atomic_write_bytes, outputs["card"], card.encode("utf-8")),
                        pool.submit(atomic_write_json, outputs["summary"], summary),
                        *removals,
                    ]
                    for f in done:
                        f.result()
    except BaseException:  # an error or an interrupt: ExifTool need not finish the reads already sent
        reader.abort()
        raise
    reader.close()
    _follow_umask([*outputs.values(), *_state_dir(out).glob("part-*.parquet")])
    return HarvestResult(out, dict(counts), plan.files_total, n_todo, seconds, outputs)


def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _print_progress(done: int, total: int) -> None:  # pragma: no cover - cosmetic
    print(f"\rharvest: {done}/{total} files read", end="" if done < total else "\n", file=sys.stderr, flush=True)
