"""The loader base class shared by every benchmark dataset: layout detection, scanning, checking.

A dataset class declares a :class:`DatasetInfo` card (licence, citation, task) and a
:class:`~refocus_bench.datasets.loaders.manifest.Manifest`, and implements :meth:`_scan`, which
turns the files of one split of one layout into :class:`DatasetSample` records plus the problems it
saw while pairing (:class:`~refocus_bench.datasets.loaders.scan.ScanResult`). Everything else -
picking the layout, sorting, the structural / bit-depth / size / count / checksum checks and their
messages - lives here and in :mod:`.validate`, so every dataset reports broken trees the same way.

Example (needs a copy of DPDD, so it is not run as a doctest; tests/test_dataset_loaders.py runs the
same calls on generated trees)::

    from refocus_bench.datasets.loaders import open_dataset
    ds = open_dataset("dpdd", "/data/DPDD", split="test")
    len(ds), ds.info.layout, ds[0].subset  # (76, 'b', {'scene': 'indoor'})
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from ...errors import InvalidInputError, MissingFileError, check
from ...hashing import file_sha256
from .manifest import Layout, Manifest, ValidationReport
from .sample import DatasetSample
from .scan import ScanResult, natural_key
from .validate import validate_scan

__all__ = ["DatasetInfo", "DatasetLoader"]


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is, where it comes from and under which terms.

    Attributes:
        name: registry name (``"dpdd"``).
        title: full name.
        task: one of ``deblur``, ``bokeh``, ``refocus`` (see :data:`TASKS`).
        has_target: whether samples carry ground truth (``False``: no-reference metrics only).
        licence: the licence as the source states it, or ``"see source"`` where none is clear.
        citation: BibTeX of the paper to cite.
        homepage: where the data is published.
        notes: caveats (units, known loader bugs, label conventions).
        version: version of this loader + manifest (bumped when samples or ids change).
        layout, split, root: filled in on an opened dataset; ``None`` on the class card.
    """

    name: str
    title: str
    task: str
    has_target: bool
    licence: str
    citation: str
    homepage: str
    notes: str = ""
    version: str = "1"
    layout: str | None = None
    split: str | None = None
    root: str | None = None


class DatasetLoader(ABC):
    """Base of every benchmark loader: a sized, sorted, re-iterable collection of samples.

    Args:
        root: the dataset folder (e.g. ``/data/DPDD``); see each dataset's layouts.
        split: which split (``"test"`` ...); ``None`` takes the manifest default if the layout has it,
            else the first split present.
        layout: ``"auto"`` or a layout name of the manifest.
        check: run the quick validation (pairing, extra files, extensions, headers: bit depth and
            sizes) and raise :class:`InvalidInputError` listing the problems. ``False`` skips it
            (use :meth:`validate` to get the report).
        strict: with ``check``, also require the official sample count of the split.

    Raises:
        MissingFileError: ``root`` does not exist.
        InvalidInputError: ``root`` matches no layout (the message lists each layout and what it
            lacked), the split is not there, or the quick validation failed.
    """

    card: ClassVar[DatasetInfo]
    manifest: ClassVar[Manifest]

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str | None = None,
        layout: str = "auto",
        *,
        check: bool = True,
        strict: bool = False,
    ) -> None:
        self.root = Path(root).expanduser()
        _check_root(self.root, self.card.title)
        self.layout, self.split = self._detect(layout, split)
        self._scan_result = self._scan()
        samples = sorted(self._scan_result.samples, key=lambda s: natural_key(s.id))
        seen: dict[str, DatasetSample] = {}
        for s in samples:
            if s.id in seen:
                raise InvalidInputError(
                    f"{self.card.name}: two samples share the id {s.id!r}: "
                    f"{str(s.input_path)!r} and {str(seen[s.id].input_path)!r}"
                )
            seen[s.id] = s
        self._samples: tuple[DatasetSample, ...] = tuple(samples)
        self._index = {s.id: i for i, s in enumerate(samples)}
        if check:
            self.validate(strict=strict, decode=False).raise_if_failed()

    # -- the one method a dataset implements ----------------------------------------------
    @abstractmethod
    def _scan(self) -> ScanResult:
        """Samples of ``self.split`` in ``self.layout`` below ``self.root``, with pairing issues."""

    # -- layout ---------------------------------------------------------------------------
    def _detect(self, layout: str, split: str | None) -> tuple[Layout, str]:
        m = self.manifest
        check(isinstance(layout, str), lambda: f"layout must be a string, got {type(layout).__name__}")
        candidates = m.layouts if layout == "auto" else (m.layout(layout),)
        all_splits = sorted({s for lay in m.layouts for s in lay.splits})
        check(
            split is None or split in all_splits,
            lambda: f"split of {self.card.name} must be one of {all_splits}, got {split!r}",
        )
        reasons = []
        for lay in candidates:
            if split is not None and split not in lay.splits:
                reasons.append(f"{lay.describe(split)}: this layout has no split {split!r} (it has {list(lay.splits)})")
                continue
            order = [split] if split is not None else _split_order(lay, m.default_split)
            first_missing: list[str] | None = None
            for s in order:
                missing = lay.missing(self.root, s)
                if not missing:
                    return lay, s
                first_missing = first_missing if first_missing is not None else missing
            shown = order[0]
            reasons.append(f"{lay.describe(shown)}: missing {', '.join(repr(p) for p in first_missing or [])}")
        found = sorted(p.name for p in self.root.iterdir() if not p.name.startswith("."))
        what = "a" if layout == "auto" else f"layout {layout!r} of the"
        raise InvalidInputError(
            f"root {str(self.root)!r}: not {what} {self.card.title} layout"
            + (f" with split {split!r}" if split else "")
            + ". Expected one of: "
            + "; ".join(reasons)
            + f" - found: {', '.join(found) if found else '(empty folder)'}"
        )

    # -- collection interface ---------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._samples)

    def __iter__(self) -> Iterator[DatasetSample]:
        return iter(self._samples)

    def __getitem__(self, key: int | str) -> DatasetSample:
        """A sample by position (sorted order) or by id."""
        if isinstance(key, str):
            if key not in self._index:
                raise InvalidInputError(f"{self.card.name} split {self.split!r} has no sample {key!r}")
            return self._samples[self._index[key]]
        return self._samples[key]

    def ids(self) -> list[str]:
        return [s.id for s in self._samples]

    def subsets(self, key: str) -> dict[str, list[str]]:
        """Sample ids grouped by the subset label ``key`` (e.g. ``"scene"`` -> indoor / outdoor)."""
        out: dict[str, list[str]] = {}
        for s in self._samples:
            if key in s.subset:
                out.setdefault(s.subset[key], []).append(s.id)
        return out

    @property
    def info(self) -> DatasetInfo:
        """The card with this copy's layout, split and root filled in."""
        return replace(self.card, layout=self.layout.name, split=self.split, root=str(self.root))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={str(self.root)!r}, split={self.split!r}, "
            f"layout={self.layout.name!r}, samples={len(self)})"
        )

    # -- checks -------------------------------------------------------------------------------
    def validate(
        self,
        strict: bool = False,
        decode: bool = True,
        checksums: Mapping[str, str] | str | os.PathLike[str] | None = None,
    ) -> ValidationReport:
        """Check this copy against the manifest; returns the report (never raises on issues).

        Args:
            strict: require the official sample count of the split.
            decode: decode every image and depth file (finds truncated pixel data; slow on full sets).
            checksums: sha256 by relative path (a mapping or a JSON file) overriding the manifest's.
        """
        return validate_scan(self, self._scan_result, strict=strict, decode=decode, checksums=checksums)

    def checksums(self) -> dict[str, str]:
        """sha256 of every file the samples use, by posix path relative to ``root`` (to pin a copy)."""
        files = {p for s in self._samples for p in s.paths().values()} | set(self._scan_result.claimed)
        return {self.relpath(p): file_sha256(p) for p in sorted(files) if p.is_file()}

    def relpath(self, path: Path) -> str:
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    # -- helpers for subclasses -------------------------------------------------------------
    def _sample(self, **kw: Any) -> DatasetSample:
        return DatasetSample(dataset=self.card.name, split=self.split, **kw)


def _split_order(layout: Layout, default: str) -> list[str]:
    return ([default] if default in layout.splits else []) + [s for s in layout.splits if s != default]


def _check_root(root: Path, title: str) -> None:
    check(
        root.exists(),
        lambda: f"root {str(root)!r}: folder not found (point root at your {title} copy)",
        exc=MissingFileError,
    )
    check(root.is_dir(), lambda: f"root {str(root)!r} must be a folder, got a file")
