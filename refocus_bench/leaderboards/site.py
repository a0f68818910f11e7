"""Build the whole leaderboard site from RESULTS_DIRs, atomically.

``build_site(results_dirs, site_dir)`` writes::

    SITE_DIR/
      index.html                      every benchmark, ranked headline tables, downloads
      benchmarks/<slug>.html          one page per benchmark (readable slug of its name)
      assets/plots/<slug>-<id>.svg    matplotlib plots
      assets/img/<sha256>.png         example images, copied under content-hash names
      leaderboard.md                  README-ready Markdown
      leaderboard.json                tables, rows, provenance
      leaderboard.parquet             flat results table (Hugging Face datasets Features)
      .refocus-bench-site             marker: this folder may be replaced by the next build

Everything is written into a temporary folder beside SITE_DIR and renamed into place at the end, so
a failed build leaves no partial site (and an existing site untouched). An existing SITE_DIR is only
replaced if it is empty or carries the marker of an earlier build. The output is a pure function of
the records (and the published tables, if given): rebuilding from the same inputs gives byte-identical
files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from .examples import collect_examples
from .export import leaderboard_json, parquet_bytes
from .html_pages import benchmark_page_path, render_benchmark_page, render_index
from .load import SITE_MARKER, LeaderboardError, load_results
from .markdown import render_markdown
from .plots import benchmark_plots
from .published import PublishedTable, load_published
from .tables import BenchmarkTable, build_tables

__all__ = ["SITE_MARKER", "SiteResult", "render_site", "build_site"]

_MARKER_TEXT = b"refocus-bench leaderboard site; rebuilt by `refocus-bench leaderboard build`\n"


@dataclass(frozen=True)
class SiteResult:
    """What :func:`build_site` made: the site folder, the tables, and the files written (sorted)."""

    site_dir: Path
    tables: list[BenchmarkTable]
    files: list[str]
    published: list[PublishedTable] = field(default_factory=list)


def render_site(
    tables: list[BenchmarkTable], *, max_examples: int = 4, published: list[PublishedTable] | None = None
) -> dict[str, bytes]:
    """Every file of the site, as ``{relative path: bytes}`` (no disk writes); ``published``: reported rows."""
    published = list(published or [])
    files: dict[str, bytes] = {SITE_MARKER: _MARKER_TEXT}
    for t in tables:
        plots = benchmark_plots(t)
        grid = collect_examples(t, max_samples=max_examples)
        files.update({p.asset: p.svg for p in plots})
        files.update(grid.assets)
        files[benchmark_page_path(t)] = render_benchmark_page(t, plots, grid, published)
    files["index.html"] = render_index(tables, published)
    files["leaderboard.md"] = render_markdown(tables, published)
    files["leaderboard.json"] = leaderboard_json(tables, published)
    files["leaderboard.parquet"] = parquet_bytes(tables)
    return dict(sorted(files.items()))


def _check_replaceable(site_dir: Path) -> None:
    if not site_dir.exists():
        return
    if not site_dir.is_dir():
        raise LeaderboardError(f"site folder {str(site_dir)!r} exists and is not a folder")
    if any(site_dir.iterdir()) and not (site_dir / SITE_MARKER).is_file():
        raise LeaderboardError(
            f"site folder {str(site_dir)!r} is not empty and was not made by "
            "`refocus-bench leaderboard build`; refusing to replace it (choose another -o)"
        )


def _write_tree(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.chmod(path, 0o644)
    for d in sorted({p for rel in files for p in (root / rel).parents if p.is_relative_to(root)}):
        os.chmod(d, 0o755)


def build_site(
    results_dirs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    site_dir: str | os.PathLike[str],
    *,
    max_examples: int = 4,
    published_dirs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] = (),
) -> SiteResult:
    """Load, check and rank the records under ``results_dirs`` and write the site to ``site_dir``.

    Args:
        results_dirs: one or more RESULTS_DIRs (see :func:`~refocus_bench.leaderboards.load.load_results`).
        site_dir: output folder; replaced as a whole (only if empty or made by an earlier build).
        max_examples: scenes per benchmark in the side-by-side comparisons.
        published_dirs: folders of published tables (``leaderboards/published``): rows reported in
            papers, shown apart from the reproduced rows (see :mod:`~refocus_bench.leaderboards.published`).
    Raises:
        MissingFileError, LeaderboardError: nothing is written then.
    """
    site = Path(site_dir)
    _check_replaceable(site)
    tables = build_tables(load_results(results_dirs))
    published = load_published(published_dirs)
    files = render_site(tables, max_examples=max_examples, published=published)
    site.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{site.name}.", suffix=".tmp", dir=site.parent))
    old: Path | None = None
    try:
        _write_tree(tmp, files)
        os.chmod(tmp, 0o755)
        if site.exists():
            _check_replaceable(site)
            old = Path(tempfile.mkdtemp(prefix=f".{site.name}.", suffix=".old", dir=site.parent))
            os.rmdir(old)
            os.replace(site, old)
        os.replace(tmp, site)
    except BaseException:
        if old is not None and old.exists() and not site.exists():
            os.replace(old, site)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return SiteResult(site, tables, sorted(files), published)
