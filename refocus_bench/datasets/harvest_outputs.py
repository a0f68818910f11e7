"""The harvest's outputs, written row by row in path order: dataset, CSV, manifest and compacted part.

:class:`HarvestOutputs` takes the newest part row of each path, in path order, and writes the
Parquet dataset, ``photos.csv``, ``manifest.csv`` and one compacted part holding every row it was
given. Duplicate detection (the first path of each sha256 is kept) and filters are applied here, so
they depend neither on the order files were read nor on how the rows arrive: merged from the parts
of earlier runs after the reading, or, on a first run, batch by batch while ExifTool still reads.
Rows are buffered :data:`ROWS_PER_WRITE` at a time (one Parquet row group), which bounds memory.

Every file is written to a temporary beside its final path (:func:`refocus_bench.io.atomic_path`)
and flushed to disk and renamed there by :meth:`HarvestOutputs.commit`, the four files in parallel
(one ``fsync`` costs milliseconds). :meth:`HarvestOutputs.discard` removes them.
"""

from __future__ import annotations

import contextlib
import csv
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..io import atomic_path
from . import curation
from .exif import PHOTO_FIELDS
from .harvest_schema import DATA_FILE, DATASET_COLUMNS, FILE_FIELDS, MANIFEST_COLUMNS, arrow_schema, arrow_table

__all__ = ["HarvestOutputs", "ROWS_PER_WRITE"]

ROWS_PER_WRITE = 256  # rows buffered per Parquet row group: bounds memory


class _RowGroups:
    """Rows on their way into one Parquet writer, :data:`ROWS_PER_WRITE` to a row group.

    :meth:`convert` turns the rows added so far into an Arrow chunk ahead of time (a first run does it
    after each batch, while ExifTool reads the next), so the rows' conversion is not left for the end;
    chunked or not, the file is byte for byte the same."""

    def __init__(self, writer: Any, schema: Any) -> None:
        self.writer, self.schema = writer, schema
        self.rows: list[dict[str, Any]] = []
        self.chunks: list[Any] = []  # pyarrow.Table chunks of the rows before ``rows``
        self.n_chunked = 0

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        if self.n_chunked + len(self.rows) >= ROWS_PER_WRITE:
            self.flush()

    def convert(self) -> None:
        if self.rows:
            self.chunks.append(arrow_table(self.rows, self.schema))
            self.n_chunked += len(self.rows)
            self.rows = []

    def flush(self, final: bool = False) -> None:
        """Write full row groups (``final``: the rest as well)."""
        import pyarrow as pa

        if self.n_chunked + len(self.rows) == 0:
            return
        self.convert()
        table = pa.concat_tables(self.chunks) if len(self.chunks) > 1 else self.chunks[0]
        start = 0
        while len(table) - start >= ROWS_PER_WRITE or (final and start < len(table)):
            self.writer.write_table(table.slice(start, ROWS_PER_WRITE))
            start += ROWS_PER_WRITE
        rest = table.slice(start)
        self.chunks, self.n_chunked = ([rest], len(rest)) if len(rest) else ([], 0)


class HarvestOutputs:
    """The dataset, CSV, manifest and compacted part of one harvest, written as rows are :meth:`add`-ed.

    Args:
        out: the harvest's output folder.
        part_path: where the compacted part goes; ``part_schema`` is its Arrow schema.
        present: every path found by this run's scan (rows of other paths are dropped: deleted files).
        filters: row filters applied to kept rows.
    """

    def __init__(
        self, out: Path, part_path: Path, part_schema: Any, present: set[str], filters: list[curation.Filter]
    ) -> None:
        import pyarrow.parquet as pq

        self.present, self.filters = present, filters
        self.counts: Counter = Counter()
        self.paths = {"dataset": out / DATA_FILE, "csv": out / "photos.csv", "manifest": out / "manifest.csv"}
        self._kept_by_hash: dict[str, str] = {}
        self._files: list[contextlib.ExitStack] = []  # one temporary (atomic_path) each: renamed or removed
        self._writers = contextlib.ExitStack()
        try:
            tmp = {k: self._temporary(p) for k, p in {**self.paths, "part": part_path}.items()}
            ds_schema = arrow_schema(FILE_FIELDS + PHOTO_FIELDS)
            self._ds = _RowGroups(self._writers.enter_context(pq.ParquetWriter(tmp["dataset"], ds_schema)), ds_schema)
            self._part = _RowGroups(
                self._writers.enter_context(pq.ParquetWriter(tmp["part"], part_schema)), part_schema
            )
            csv_fh = self._writers.enter_context(open(tmp["csv"], "w", newline="", encoding="utf-8"))
            man_fh = self._writers.enter_context(open(tmp["manifest"], "w", newline="", encoding="utf-8"))
        except BaseException:
            self.discard()
            raise
        self._csv = csv.DictWriter(csv_fh, DATASET_COLUMNS, extrasaction="ignore", lineterminator="\n")
        self._man = csv.DictWriter(man_fh, MANIFEST_COLUMNS, extrasaction="ignore", lineterminator="\n")
        self._csv.writeheader()
        self._man.writeheader()

    def _temporary(self, path: Path) -> Path:
        stack = contextlib.ExitStack()
        self._files.append(stack)
        return stack.enter_context(atomic_path(path))

    def add(self, row: dict[str, Any]) -> None:
        """One path's newest part row (rows must come in path order, one per path)."""
        path = row["path"]
        if path not in self.present:  # deleted since it was read
            return
        self._part.add(row)
        row = dict(row, duplicate_of=None)
        if row["status"] == "ok":
            kept = self._kept_by_hash.setdefault(row["sha256"], path)
            if kept != path:
                row.update(status="skipped", reason="duplicate", detail=f"same content as {kept}", duplicate_of=kept)
        if row["status"] == "ok":
            for flt in self.filters:
                ok, why = flt(row)
                if not ok:
                    row.update(status="skipped", reason="filtered", detail=why)
                    break
        self.counts["ok" if row["status"] == "ok" else row["reason"]] += 1
        self._man.writerow(row)
        if row["status"] == "ok":
            self._csv.writerow({k: ("" if row[k] is None else row[k]) for k in DATASET_COLUMNS})
            self._ds.add(row)

    def convert(self) -> None:
        """Convert the rows added so far to Arrow now rather than at the next row group or the commit."""
        self._ds.convert()
        self._part.convert()

    def commit(self, pool: ThreadPoolExecutor) -> None:
        """Write what is buffered, close the files and move them into place, in parallel (each is flushed to
        disk first: its ``fsync`` then shares the file system's journal commits with the others')."""
        try:
            self._ds.flush(final=True)
            self._part.flush(final=True)
            self._writers.close()
        except BaseException:
            self.discard()
            raise
        list(pool.map(contextlib.ExitStack.close, self._files))

    def discard(self) -> None:
        """Close and remove the temporaries (nothing is renamed)."""
        with contextlib.suppress(Exception):
            self._writers.close()
        err = RuntimeError("harvest outputs discarded")
        for stack in self._files:
            stack.__exit__(RuntimeError, err, None)
