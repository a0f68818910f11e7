"""Example images for side-by-side comparisons, read safely from RESULTS_DIRs.

A record may carry ``"examples": {sample_id: path}`` with paths relative to its RESULTS_DIR; inputs and
targets live at ``RESULTS_DIR/examples/<benchmark>/_input/<id>.png`` and ``.../_target/<id>.png``.
Every such path comes from a submission, so it is only ever *read*, and only when:

* it resolves (symlinks followed) to a file inside that RESULTS_DIR,
* its name ends in ``.png`` and its bytes start with the PNG signature,
* it is at most :data:`MAX_IMAGE_BYTES`.

Otherwise it is skipped with a :class:`~refocus_bench.leaderboards.load.LeaderboardWarning`. The site
stores each image under a name generated from its content (``assets/img/<sha256>.png``), never under a
name from the submission.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..hashing import bytes_sha256
from .load import LeaderboardWarning
from .tables import BenchmarkTable, Row

__all__ = ["MAX_IMAGE_BYTES", "PNG_SIGNATURE", "ExampleSample", "ExampleGrid", "read_safe_png", "collect_examples"]

MAX_IMAGE_BYTES = 16 * 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_safe_png(results_dir: Path, rel: str, *, what: str, warn_missing: bool = True) -> bytes | None:
    """The bytes of the PNG at ``results_dir / rel`` if it is safe to use, else None (with a warning)."""
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        warnings.warn(f"{what}: skipped an example with an invalid path {rel!r}", LeaderboardWarning, stacklevel=2)
        return None
    root = results_dir.resolve()
    try:
        target = (root / rel).resolve()
    except (OSError, RuntimeError, ValueError):
        target = None
    if target is None or not target.is_relative_to(root):
        warnings.warn(
            f"{what}: skipped example {rel!r}: it points outside the results folder {str(results_dir)!r}",
            LeaderboardWarning,
            stacklevel=2,
        )
        return None
    if target.suffix.lower() != ".png":
        warnings.warn(f"{what}: skipped example {rel!r}: not a .png file", LeaderboardWarning, stacklevel=2)
        return None
    if not target.is_file():
        if warn_missing:
            warnings.warn(
                f"{what}: skipped example {rel!r}: file not found under {str(results_dir)!r}",
                LeaderboardWarning,
                stacklevel=2,
            )
        return None
    if target.stat().st_size > MAX_IMAGE_BYTES:
        warnings.warn(
            f"{what}: skipped example {rel!r}: larger than {MAX_IMAGE_BYTES} bytes", LeaderboardWarning, stacklevel=2
        )
        return None
    data = target.read_bytes()
    if not data.startswith(PNG_SIGNATURE):
        warnings.warn(
            f"{what}: skipped example {rel!r}: not a PNG image (bad signature)", LeaderboardWarning, stacklevel=2
        )
        return None
    return data


@dataclass
class ExampleSample:
    """One scene: the input, the target and each row's prediction, as site asset names (or None)."""

    sample_id: str
    input: str | None
    target: str | None
    predictions: list[tuple[Row, str | None]]


@dataclass
class ExampleGrid:
    """The comparison scenes of one benchmark and the image bytes they need, by asset name."""

    samples: list[ExampleSample] = field(default_factory=list)
    assets: dict[str, bytes] = field(default_factory=dict)

    def add(self, data: bytes | None) -> str | None:
        if data is None:
            return None
        name = f"assets/img/{bytes_sha256(data)[:24]}.png"
        self.assets[name] = data
        return name


def _record_examples(row: Row) -> Mapping[str, str]:
    ex = row.entry.record.get("examples")
    if ex is None:
        return {}
    if not isinstance(ex, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in ex.items()):
        warnings.warn(
            f"{str(row.entry.path)!r}: 'examples' must map sample ids to relative paths; ignored",
            LeaderboardWarning,
            stacklevel=3,
        )
        return {}
    return ex


def collect_examples(table: BenchmarkTable, max_samples: int = 4) -> ExampleGrid:
    """Pick up to ``max_samples`` scenes (sorted sample ids that have a prediction) and read their images."""
    grid = ExampleGrid()
    per_row = [(row, _record_examples(row)) for row in table.rows]
    scored = row_ids(table)
    ids = sorted({sid for _, ex in per_row for sid in ex if sid in scored})
    dirs: list[Path] = []
    for row in table.rows:
        if row.entry.results_dir not in dirs:
            dirs.append(row.entry.results_dir)
    for sid in ids[:max_samples]:
        preds = []
        for row, ex in per_row:
            data = read_safe_png(row.entry.results_dir, ex[sid], what=str(row.entry.path)) if sid in ex else None
            preds.append((row, grid.add(data)))
        if not any(asset for _, asset in preds):
            continue
        ref = {}
        for kind in ("_input", "_target"):
            data = None
            for d in dirs:
                data = read_safe_png(
                    d, f"examples/{table.name}/{kind}/{sid}.png", what=f"benchmark {table.name!r}", warn_missing=False
                )
                if data is not None:
                    break
            ref[kind] = grid.add(data)
        grid.samples.append(ExampleSample(sid, ref["_input"], ref["_target"], preds))
    return grid


def row_ids(table: BenchmarkTable) -> set[str]:
    """Sample ids scored by any row of ``table``."""
    return {sid for row in table.rows for sid in row.sample_scores}
