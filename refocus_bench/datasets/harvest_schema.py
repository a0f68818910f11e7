"""The outputs of a harvest: their columns with types and meanings, the skip reasons, the dataset card.

``data/train-00000-of-00001.parquet`` (:data:`DATA_FILE`) and ``photos.csv`` hold the
:data:`DATASET_COLUMNS` of each kept photo (:data:`FILE_FIELDS` then
:data:`~refocus_bench.datasets.exif.PHOTO_FIELDS`); ``manifest.csv`` holds the
:data:`MANIFEST_COLUMNS` of every path found; the resume parts hold :data:`PART_FIELDS`.

>>> DATASET_COLUMNS[:3]
('path', 'relative_path', 'size_bytes')
>>> sorted(SKIP_REASONS)[:3]
['corrupt', 'duplicate', 'error']
"""

from __future__ import annotations

import array
import functools
import itertools
import json
from collections.abc import Mapping
from typing import Any

from .exif import PHOTO_FIELDS
from .sensors import LENSFUN_ATTRIBUTION

__all__ = [
    "DATA_FILE",
    "SKIP_REASONS",
    "FILE_FIELDS",
    "STATUS_FIELDS",
    "PART_FIELDS",
    "DATASET_COLUMNS",
    "DATASET_FEATURES",  # noqa: F822 - built on first use by the module __getattr__
    "MANIFEST_COLUMNS",
    "features",
    "arrow_schema",
    "arrow_table",
    "dataset_card",
]

DATA_FILE = "data/train-00000-of-00001.parquet"
"""The dataset's one Parquet file, relative to the output folder."""

SKIP_REASONS = {
    "not_image": "neither image, video nor lens metadata (ExifTool reads no image size or camera data, "
    "and no image decoder recognises it)",
    "no_exif": "an image (ExifTool reports an image size, or a decoder reads it) without camera metadata",
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
STATUS_FIELDS = (
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
PART_FIELDS = FILE_FIELDS + STATUS_FIELDS + PHOTO_FIELDS


_ARROW_TYPES = {"string": "string", "float64": "float64", "int64": "int64", "int32": "int32", "bool": "bool_"}


@functools.lru_cache(maxsize=4)
def arrow_schema(fields: tuple[tuple[str, str, str], ...]):  # noqa: ANN202 - pyarrow.Schema
    """The Arrow schema of ``fields`` with the Hugging Face ``Features`` metadata that ``datasets`` writes.

    Equal to ``features(fields).arrow_schema`` (a test checks it) without importing ``datasets``,
    which alone takes longer than harvesting a small folder.
    """
    import pyarrow as pa

    hf = {"info": {"features": {name: {"dtype": dtype, "_type": "Value"} for name, dtype, _ in fields}}}
    schema = pa.schema([pa.field(name, getattr(pa, _ARROW_TYPES[dtype])()) for name, dtype, _ in fields])
    return schema.with_metadata({"huggingface": json.dumps(hf)})


_NUMBER_CODES = {"double": "d", "int64": "q", "int32": "i"}


def _bits(flags: list[bool]) -> bytes:
    """Arrow's little-endian bitmap of ``flags`` (validity or boolean values)."""
    out = bytearray((len(flags) + 7) // 8)
    for i, flag in enumerate(flags):
        if flag:
            out[i >> 3] |= 1 << (i & 7)
    return bytes(out)


def _column(values: list[Any], typ: Any) -> Any:
    """One Arrow array of ``values`` (None: null) built from its buffers; ValueError for a value of another type."""
    import pyarrow as pa

    n, valid = len(values), [v is not None for v in values]
    nulls = n - sum(valid)
    validity = pa.py_buffer(_bits(valid)) if nulls else None
    kind = str(typ)
    if kind == "string":
        if not all(v is None or type(v) is str for v in values):
            raise ValueError("not a str")
        data = [b"" if v is None else v.encode("utf-8") for v in values]
        offsets = array.array("i", itertools.accumulate(map(len, data), initial=0))
        buffers = [validity, pa.py_buffer(offsets.tobytes()), pa.py_buffer(b"".join(data))]
    elif kind == "bool":
        if not all(v is None or type(v) is bool for v in values):
            raise ValueError("not a bool")
        buffers = [validity, pa.py_buffer(_bits([bool(v) for v in values]))]
    elif kind in _NUMBER_CODES:
        if not all(v is None or type(v) in (int, float) for v in values):
            raise ValueError("not a Python number")
        zero = 0.0 if kind == "double" else 0
        numbers = array.array(_NUMBER_CODES[kind], [zero if v is None else v for v in values])
        buffers = [validity, pa.py_buffer(numbers.tobytes())]
    else:
        raise ValueError(f"no buffer layout for {kind}")
    return pa.Array.from_buffers(typ, n, buffers, nulls)


def arrow_table(rows: list[Mapping[str, Any]], schema: Any) -> Any:
    """``pyarrow.Table.from_pylist(rows, schema=schema)`` without importing pandas.

    pyarrow's conversion of Python lists imports pandas (about 0.8 s, longer than harvesting a small
    folder) to check whether the list is a pandas object; the harvest's columns (string, float64,
    int64, int32, bool) are built here from their buffers instead. A column whose values are not
    plain ``str`` / ``bool`` / ``int`` / ``float`` goes through pyarrow's own conversion, with its
    checks and errors. The two tables are equal (a test checks it).
    """
    import pyarrow as pa

    arrays = []
    for f in schema:
        values = [r.get(f.name) for r in rows]
        try:
            arrays.append(_column(values, f.type))
        except (ValueError, TypeError, OverflowError, UnicodeEncodeError):
            arrays.append(pa.array(values, type=f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


@functools.lru_cache(maxsize=4)
def features(fields: tuple[tuple[str, str, str], ...]):  # noqa: ANN202 - datasets.Features
    """``datasets.Features`` with one ``Value(dtype)`` per (name, dtype, meaning) of ``fields``."""
    from datasets import Features, Value

    return Features({name: Value(dtype) for name, dtype, _ in fields})


def __getattr__(name: str) -> Any:  # DATASET_FEATURES is built lazily: importing datasets is slow
    if name == "DATASET_FEATURES":
        return features(FILE_FIELDS + PHOTO_FIELDS)
    raise AttributeError(name)


def dataset_card(counts: Mapping[str, int], options: dict[str, Any], filters: list[str], exiftool_version: str) -> str:
    """The dataset card (``README.md``): how to load the data, counts, options, licence notes, every field."""
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
