"""What a loader's ``_scan`` returns, and the helpers it uses to pair files.

:class:`ScanResult` carries the samples of one split plus what the checks of
:mod:`refocus_bench.datasets.loaders.validate` need to know about the folders they came from.

>>> natural_key("img_10") > natural_key("img_9")
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .manifest import Issue
from .sample import DatasetSample

__all__ = ["ScanResult", "natural_key", "index_folder"]


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key that orders digit runs by value: ``"2" < "10"``, ``"img_9" < "img_10"``."""
    return tuple((0, int(tok), tok) if tok.isdigit() else (1, 0, tok) for tok in re.split(r"(\d+)", text) if tok)


@dataclass
class ScanResult:
    """What :meth:`DatasetLoader._scan` found in one split.

    Attributes:
        samples: the records, any order (the dataset sorts them).
        issues: pairing / metadata problems seen while scanning.
        watched: folders whose every entry must belong to a sample (others are reported as extra).
        claimed: files used besides the sample paths (metadata, label lists).
        ignore: extra file-name glob patterns that are not reported in the watched folders.
    """

    samples: list[DatasetSample] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    watched: list[Path] = field(default_factory=list)
    claimed: set[Path] = field(default_factory=set)
    ignore: tuple[str, ...] = ()


def index_folder(folder: Path, extensions: tuple[str, ...]) -> tuple[dict[str, Path], list[Issue]]:
    """Files of ``folder`` with an allowed suffix, by stem; two files with one stem are an issue.

    Suffixes compare case-insensitively (``.JPG`` == ``.jpg``). A missing folder gives ``{}``.
    """
    out: dict[str, Path] = {}
    issues: list[Issue] = []
    if not folder.is_dir():
        return out, issues
    for p in sorted(folder.iterdir(), key=lambda q: natural_key(q.name)):
        if p.is_file() and p.suffix.lower() in extensions and not p.name.startswith("."):
            if p.stem in out:
                issues.append(
                    Issue(
                        "extra_file", str(p), f"{str(p)!r} and {str(out[p.stem])!r} have the same name stem; keep one"
                    )
                )
                continue
            out[p.stem] = p
    return out, issues
