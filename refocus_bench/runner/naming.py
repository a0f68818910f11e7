"""Safe file names and the layout of a results folder.

Layout of ``RESULTS_DIR``::

    <benchmark>/<model>.json                    one results record (default metric set)
    <benchmark>/<model>.metrics-<8 hex>.json    a record computed with another metric set
    examples/<benchmark>/<model>/<sample>.png   predictions of the first ``save_examples`` samples
    examples/<benchmark>/_input/<sample>.png    their inputs and targets, once per benchmark
    examples/<benchmark>/_target/<sample>.png
    .cache/<run key>/<sample>.json              per-sample results of a run, for resuming

Every component is passed through :func:`safe_name`: names that are already safe stay as they are;
any other name has its unsafe characters replaced and a hash of the original appended, so two
different names never share a path and nothing can escape the folder (``..``, ``/``, leading dots).
"""

from __future__ import annotations

import re
from pathlib import Path

from ..hashing import text_sha256

__all__ = ["safe_name", "record_path", "examples_dir", "cache_dir", "INPUT_DIR", "TARGET_DIR", "CACHE_DIR"]

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
INPUT_DIR = "_input"
TARGET_DIR = "_target"
CACHE_DIR = ".cache"


def safe_name(name: str) -> str:
    """A file-name component for ``name``: unchanged when it is ``[A-Za-z0-9][A-Za-z0-9._-]*`` (at most
    100 characters), else a cleaned, shortened form plus ``-`` and the first 8 hex digits of its sha256.

    Example:
        >>> safe_name("deblur.wiener")
        'deblur.wiener'
        >>> safe_name("../evil/name")
        'evil_name-97aa8c42'
    """
    if _SAFE.match(name) and not name.endswith("."):
        return name
    cleaned = _UNSAFE_CHARS.sub("_", name).lstrip("._-")[:80].rstrip(".")
    digest = text_sha256(name, "utf-8", "surrogatepass")[:8]
    return f"{cleaned}-{digest}" if cleaned else digest


def record_path(results_dir: str | Path, benchmark: str, model: str, metric_set: str | None = None) -> Path:
    """Where the record of (``model``, ``benchmark``) goes; ``metric_set`` tags a non-default metric set."""
    stem = safe_name(model) + (f".metrics-{metric_set}" if metric_set else "")
    return Path(results_dir) / safe_name(benchmark) / f"{stem}.json"


def examples_dir(results_dir: str | Path, benchmark: str, who: str) -> Path:
    """Folder of example PNGs: ``who`` is a model name, :data:`INPUT_DIR` or :data:`TARGET_DIR`."""
    leaf = who if who in (INPUT_DIR, TARGET_DIR) else safe_name(who)
    return Path(results_dir) / "examples" / safe_name(benchmark) / leaf


def cache_dir(results_dir: str | Path, run_key: str) -> Path:
    """Per-sample cache folder of the run identified by ``run_key`` (a hex digest)."""
    return Path(results_dir) / CACHE_DIR / run_key
