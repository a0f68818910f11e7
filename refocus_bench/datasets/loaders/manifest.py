"""Declarative description of a dataset's files, and the report of checking a copy against it.

A :class:`Manifest` is data, not logic: the accepted :class:`Layout` s (required sub-folders per
split), official sample counts per split, allowed extensions and bit depth per file role, and
optional sha256 checksums. :mod:`~refocus_bench.datasets.loaders.validate` checks a user's copy
against it and returns a :class:`ValidationReport` whose every :class:`Issue` names the file.
"""

from __future__ import annotations

import glob
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import InvalidInputError

__all__ = ["Layout", "Manifest", "Issue", "ValidationReport", "ISSUE_KINDS", "DEFAULT_IGNORE"]

DEFAULT_IGNORE = (".DS_Store", "Thumbs.db", "desktop.ini", "._*", "*.md", "*.txt", "LICENSE*")
"""File names never reported as extra: OS clutter, read-me and licence files."""

ISSUE_KINDS = {
    "missing_file": "a file that a sample needs is not there (e.g. an input without its target)",
    "extra_file": "a file in a dataset folder that no sample uses (unpaired, misplaced or foreign)",
    "extra_folder": "a folder inside a dataset folder that the layout does not have",
    "extension": "a file with an extension the manifest does not allow for its role",
    "bit_depth": "an image with a bit depth other than the manifest's",
    "size": "images of one sample with different sizes",
    "corrupt": "a file that cannot be read or decoded",
    "count": "a split with a number of samples other than the official one (strict validation)",
    "checksum": "a file whose sha256 differs from the recorded one",
    "metadata": "a metadata / label file with a wrong or inconsistent entry",
}


@dataclass(frozen=True)
class Layout:
    """One accepted arrangement of a dataset's files below ``root``.

    Attributes:
        name: short name used by ``layout=`` (``"a"``, ``"flat"`` ...).
        required: paths relative to ``root`` that must exist for a split; ``{split}`` is replaced by
            the split name and glob patterns (``*/info.json``) need at least one match.
        splits: the splits this layout can hold; the first present one is the default unless the
            manifest names a default.
        description: human-readable form for messages, ``{split}`` allowed.
    """

    name: str
    required: tuple[str, ...]
    splits: tuple[str, ...]
    description: str

    def missing(self, root: Path, split: str) -> list[str]:
        """The required paths of ``split`` that are absent under ``root``."""
        out = []
        for pattern in self.required:
            rel = pattern.format(split=split)
            if glob.has_magic(rel):
                found = next(iter(root.glob(rel)), None) is not None
            else:
                found = (root / rel).exists()
            if not found:
                out.append(rel)
        return out

    def describe(self, split: str) -> str:
        return f"({self.name}) {self.description.format(split=split)}"


@dataclass(frozen=True)
class Manifest:
    """What a complete, well-formed copy of a dataset looks like.

    Attributes:
        layouts: accepted layouts, in the order auto-detection tries them.
        default_split: the split used when none is given (if the detected layout has it).
        counts: official number of samples per split; checked by ``validate(strict=True)``.
            A sample is one evaluation unit (a pair, or one target of a multi-target scene).
        extensions: allowed lower-case suffixes per file role (``input``, ``target``, ``depth``, aux roles).
        bit_depth: required bits per sample per image role; roles not listed accept any depth.
        image_roles: roles that are images (probed for size and bit depth); others (depth
            ``.npy``/``.exr``, JSON) are only checked for existence and decodability.
        same_size: role groups whose images must have equal (H, W) within one sample.
        ignore: glob patterns of file names that are never reported as extra (OS clutter and
            documented companions such as CUHK's motion-blur images).
        checksums: optional sha256 per path relative to ``root`` (posix form), checked by ``validate``.
        count_note: how the official counts were obtained / what a sample is.
    """

    layouts: tuple[Layout, ...]
    default_split: str
    counts: Mapping[str, int] = field(default_factory=dict)
    extensions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    bit_depth: Mapping[str, int] = field(default_factory=dict)
    image_roles: tuple[str, ...] = ("input", "target")
    same_size: tuple[str, ...] = ("input", "target")
    ignore: tuple[str, ...] = DEFAULT_IGNORE
    checksums: Mapping[str, str] = field(default_factory=dict)
    count_note: str = ""

    def layout(self, name: str) -> Layout:
        for lay in self.layouts:
            if lay.name == name:
                return lay
        raise InvalidInputError(f"layout must be 'auto' or one of {[lay.name for lay in self.layouts]}, got {name!r}")


@dataclass(frozen=True)
class Issue:
    """One problem found in a dataset copy.

    Attributes:
        kind: a key of :data:`ISSUE_KINDS`.
        path: the file or folder concerned, relative to the dataset root where possible.
        message: a complete sentence naming the file and what was expected.
        severity: ``"error"`` (the copy cannot be evaluated as is) or ``"warning"``.
    """

    kind: str
    path: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"[{self.kind}] {self.message}"


@dataclass(frozen=True)
class ValidationReport:
    """The result of checking a dataset copy; ``ok`` when there is no error.

    Attributes:
        dataset, root, layout, split: what was checked.
        num_samples: samples found in the split.
        issues: every problem found, errors and warnings, in a stable order.
        strict: whether official counts were enforced.
        checked: which checks ran (``structure``, ``headers``, ``decode``, ``checksums``, ``counts``).
    """

    dataset: str
    root: str
    layout: str
    split: str
    num_samples: int
    issues: tuple[Issue, ...]
    strict: bool
    checked: tuple[str, ...]

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity == "warning")

    @property
    def ok(self) -> bool:
        return not self.errors

    def by_kind(self, kind: str) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.kind == kind)

    def summary(self, limit: int = 20) -> str:
        """A multi-line text: a header line, then up to ``limit`` errors and the warnings count."""
        head = (
            f"{self.dataset} at {self.root!r} (layout {self.layout}, split {self.split!r}, "
            f"{self.num_samples} samples): {len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        )
        lines = [head]
        shown = list(self.errors[:limit])
        lines += [f"  - {issue}" for issue in shown]
        if len(self.errors) > limit:
            lines.append(f"  ... and {len(self.errors) - limit} more error(s) (see .validate().issues)")
        if not self.errors and self.warnings:
            lines += [f"  - warning {issue}" for issue in self.warnings[:limit]]
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        """Raise :class:`InvalidInputError` with :meth:`summary` when there is any error."""
        if not self.ok:
            raise InvalidInputError(self.summary())
