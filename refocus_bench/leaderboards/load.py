"""Load results records for a leaderboard: every ``*.json`` under one or more RESULTS_DIRs.

A leaderboard is a pure function of these files, so loading is strict. Each file goes through
:func:`refocus_bench.results.read_record` (schema, summary and digest checks), and then the set of
records is checked for consistency. Any of these is an error that names the files involved:

* a RESULTS_DIR that does not exist, or holds no record at all;
* a file that is not valid JSON or not a valid record;
* records of one benchmark with different versions, content hashes, headline metrics, or metric
  directions (they cannot be ranked together);
* two records for the same (benchmark, version, model, weights) whose numbers differ by more than
  float noise (the per-metric tolerance of :mod:`~refocus_bench.leaderboards.compare`).

Two records with the same key *and* the same numbers up to that tolerance (a copy of one run in two
folders, or a rerun on another machine) are merged with a warning; the first one is kept. ``partial``
records are skipped with a warning: they do not cover the benchmark.
Hidden files and folders (names starting with ``.``, such as the temporary files of atomic writes)
are ignored, and so is a leaderboard site built inside a RESULTS_DIR (it carries a marker file).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, MissingFileError
from ..results import InvalidResultError, read_record, record_key
from .compare import numbers_differ, record_numbers

__all__ = ["SITE_MARKER", "LeaderboardError", "LeaderboardWarning", "ResultEntry", "load_results", "record_numbers"]


SITE_MARKER = ".refocus-bench-site"  # written into every built site; such folders are not results


class LeaderboardError(InvalidInputError):
    """The results cannot make a leaderboard (missing, corrupt or inconsistent records)."""


class LeaderboardWarning(UserWarning):
    """Something was left out of a leaderboard (a partial record, an unsafe example path...)."""


@dataclass(frozen=True)
class ResultEntry:
    """One loaded record.

    Attributes:
        record: the validated record.
        path: the file it was read from.
        results_dir: the RESULTS_DIR it was found under (example paths are relative to it).
        rel_path: ``path`` relative to ``results_dir``, POSIX style (stable across machines).
    """

    record: Mapping[str, Any]
    path: Path
    results_dir: Path
    rel_path: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return record_key(self.record)


def _record_files(results_dir: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(results_dir):
        if SITE_MARKER in files:  # a leaderboard site built inside the results folder
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(root) / f for f in sorted(files) if f.endswith(".json") and not f.startswith("."))
    return sorted(found, key=lambda p: p.relative_to(results_dir).as_posix())


def _read_dir(results_dir: Path) -> list[ResultEntry]:
    if not results_dir.is_dir():
        raise MissingFileError(f"results folder {str(results_dir)!r} does not exist (or is not a folder)")
    files = _record_files(results_dir)
    if not files:
        raise LeaderboardError(
            f"results folder {str(results_dir)!r} holds no results records (*.json); "
            "run `refocus-bench run ...` first or point at the right folder"
        )
    entries = []
    for f in files:
        try:
            record = read_record(f)
        except InvalidResultError as err:
            raise LeaderboardError(f"corrupt results file: {err}") from None
        except ValueError as err:  # e.g. NaN in a config: the digest cannot be computed
            raise LeaderboardError(f"corrupt results file {str(f)!r}: {err}") from None
        entries.append(ResultEntry(record, f, results_dir, f.relative_to(results_dir).as_posix()))
    return entries


def _check_benchmark_consistency(entries: list[ResultEntry]) -> None:
    by_bench: dict[str, list[ResultEntry]] = {}
    for e in entries:
        by_bench.setdefault(e.record["benchmark"]["name"], []).append(e)
    for name, group in sorted(by_bench.items()):
        for field, what in (
            ("version", "versions"),
            ("content_hash", "content hashes"),
            ("headline_metric", "headline metrics"),
        ):
            values: dict[str, list[str]] = {}
            for e in group:
                values.setdefault(str(e.record["benchmark"][field]), []).append(str(e.path))
            if len(values) > 1:
                detail = "; ".join(f"{v!r}: {', '.join(files)}" for v, files in sorted(values.items()))
                raise LeaderboardError(
                    f"benchmark {name!r}: results of different {what} are mixed ({detail}); "
                    "keep one benchmark version per leaderboard build"
                )
        directions: dict[str, dict[bool, list[str]]] = {}
        for e in group:
            for m in e.record["metrics"]:
                directions.setdefault(m["name"], {}).setdefault(m["higher_is_better"], []).append(str(e.path))
        for metric, dirs in sorted(directions.items()):
            if len(dirs) > 1:
                raise LeaderboardError(
                    f"benchmark {name!r}: metric {metric!r} is higher-is-better in "
                    f"{', '.join(dirs[True])} but lower-is-better in {', '.join(dirs[False])}"
                )


def _merge_duplicates(entries: list[ResultEntry]) -> list[ResultEntry]:
    kept: dict[tuple[str, str, str, str], ResultEntry] = {}
    for e in entries:
        first = kept.get(e.key)
        if first is None:
            kept[e.key] = e
            continue
        why = numbers_differ(first.record, e.record)
        if why is not None:
            raise LeaderboardError(
                f"two records for benchmark {e.key[0]!r} v{e.key[1]}, model {e.key[2]!r}, "
                f"weights {e.key[3] or 'none'} with different numbers: {str(first.path)!r} and "
                f"{str(e.path)!r} ({why}); remove the stale one"
            )
        exact = record_numbers(first.record) == record_numbers(e.record)
        warnings.warn(
            f"{str(e.path)!r} repeats the numbers of {str(first.path)!r}"
            f"{'' if exact else ' (equal within the float tolerance)'}; using the first",
            LeaderboardWarning,
            stacklevel=3,
        )
    return list(kept.values())


def load_results(results_dirs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[ResultEntry]:
    """Read, validate and cross-check every record under ``results_dirs``.

    Args:
        results_dirs: one folder or several; records are ``*.json`` files at any depth (the runner
            writes ``RESULTS_DIR/<benchmark>/<model>.json``).
    Returns:
        the complete records, in a deterministic order (folder order, then relative path), with
        identical duplicates merged and partial records dropped (each with a :class:`LeaderboardWarning`).
    Raises:
        MissingFileError: a folder does not exist.
        LeaderboardError: an empty folder, a corrupt file, or inconsistent records (names the files).
    """
    if isinstance(results_dirs, (str, os.PathLike)):
        results_dirs = [results_dirs]
    dirs = [Path(d) for d in results_dirs]
    if not dirs:
        raise LeaderboardError("no results folder given")
    entries: list[ResultEntry] = []
    for d in dirs:
        entries.extend(_read_dir(d))
    complete = []
    for e in entries:
        if e.record["status"] != "complete":
            n, total = len(e.record["samples"]), e.record["benchmark"]["num_samples"]
            warnings.warn(
                f"skipping {str(e.path)!r}: status {e.record['status']!r} ({n} of {total} samples)",
                LeaderboardWarning,
                stacklevel=2,
            )
        else:
            complete.append(e)
    if not complete:
        raise LeaderboardError("no complete results records under " + ", ".join(repr(str(d)) for d in dirs))
    _check_benchmark_consistency(complete)
    return _merge_duplicates(complete)
