"""``refocus-bench harvest``: photos to a calibrated dataset (see :mod:`.harvest`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register the dataset sub-commands on the top-level CLI."""
    p = subparsers.add_parser(
        "harvest",
        help="read EXIF of photos (JPEG, HEIC, TIFF, PNG, DNG, camera RAW) into a calibrated dataset",
        description=(
            "Scan folders recursively, read every file's metadata with ExifTool (one long-running "
            "process, batches, numeric values), normalise lens parameters to physical units, derive "
            "blur strength (GenRefocus K, CoC at infinity, depth of field) and write a Hugging Face "
            "Parquet dataset, a CSV and a manifest that accounts for every path. Rerunning into the "
            "same OUT resumes a killed run and reads only new or changed files. Needs ExifTool: "
            "sudo apt-get install libimage-exiftool-perl"
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="DIR", help="folders (recursive) or files to harvest")
    p.add_argument("-o", "--out", required=True, metavar="OUT", help="output folder (also holds the resume state)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        metavar="N",
        help="files per ExifTool call and resume step (default 128)",
    )
    p.add_argument(
        "--sharpness", action="store_true", help="also measure Laplacian-variance sharpness (decodes images; slower)"
    )
    p.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="EXPR",
        dest="filters",
        help="keep rows where EXPR holds, e.g. 'coc_inf_px>=8' (repeatable; nulls fail)",
    )
    p.add_argument("--no-lensfun", action="store_true", help="do not look cameras up in the lensfun database")
    p.add_argument("--exiftool", default=None, metavar="PATH", help="ExifTool executable (default: exiftool on PATH)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_run_harvest)


def _check_flags(args: argparse.Namespace) -> Any:
    """Check the paths and filters before any work, naming the flag the user typed; returns ExifTool, started.

    ExifTool starts first, before the checks' imports (it is stopped if a check fails): Perl's
    start-up then overlaps everything else the harvest does before its first read."""
    from ..errors import InvalidInputError, MissingFileError, RefocusBenchError
    from .exiftool import ExifToolReader, find_exiftool

    try:
        reader, missing = ExifToolReader(find_exiftool(args.exiftool)), None
    except MissingFileError as err:
        reader, missing = None, err
    try:
        from ..paths import check_input_path, check_output_dir

        for arg in args.inputs:
            check_input_path(arg, "DIR")
        check_output_dir(args.out, "-o/--out")
        if args.batch_size is not None and args.batch_size < 1:
            raise InvalidInputError(f"--batch-size must be an integer >= 1, got {args.batch_size}")
        from .curation import parse_filters
        from .exif import PHOTO_FIELDS
        from .harvest_schema import FILE_FIELDS

        try:
            parse_filters(args.filters, {n: t for n, t, _ in FILE_FIELDS + PHOTO_FIELDS})
        except RefocusBenchError as err:
            raise InvalidInputError(f"--filter: {err}") from None
        if missing is not None:
            raise MissingFileError(f"--exiftool: {missing}") from None
    except BaseException:
        if reader is not None:
            reader.abort()
        raise
    return reader


def _run_harvest(args: argparse.Namespace) -> int:
    reader = _check_flags(args)
    from ..errors import InvalidInputError
    from ..paths import os_error_line
    from .harvest import DEFAULT_BATCH_SIZE, _print_progress, harvest

    try:
        result = harvest(
            args.inputs,
            args.out,
            batch_size=DEFAULT_BATCH_SIZE if args.batch_size is None else args.batch_size,
            sharpness=args.sharpness,
            filters=args.filters,
            use_lensfun=not args.no_lensfun,
            exiftool=reader,
            progress=None if args.quiet else _print_progress,
        )
    except OSError as err:
        raise InvalidInputError(os_error_line(err, "-o/--out", args.out)) from None
    skipped = ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items()) if k != "ok") or "none"
    print(
        f"harvest: {result.files_total} paths, {result.counts.get('ok', 0)} ok, skipped: {skipped}; "
        f"read {result.files_read} files in {result.seconds:.1f} s ({result.files_per_second:.0f} files/s) "
        f"-> {result.out_dir}",
        file=sys.stdout,
    )
    return 0
