"""Check a scanned dataset copy against its manifest; every issue names the file concerned.

Checks, in order: pairing and metadata problems found by the scan; files that a sample needs but
that are missing (:func:`missing_files`); extra files and folders in the dataset folders
(:func:`extra_entries`); extensions per role, image headers: bit depth, pair sizes, unreadable
headers (:func:`format_issues`); the official count (:func:`count_issues`, a warning unless
``strict``); full decodes (:func:`decode_issues`, with ``decode``); sha256 checksums
(:func:`checksum_issues`, when the manifest or the caller gives them).

The checks read an opened copy through :class:`OpenedCopy` (what
:class:`~refocus_bench.datasets.loaders.base.DatasetLoader` provides), so this module does not
import the loader base.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from ...errors import InvalidInputError, check
from ...hashing import file_sha256
from ...io import read_depth
from .manifest import Issue, Layout, Manifest, ValidationReport
from .probe import ImageHeader, decode_check, probe_image
from .sample import DatasetSample
from .scan import ScanResult

__all__ = [
    "OpenedCopy",
    "validate_scan",
    "load_checksums",
    "missing_files",
    "extra_entries",
    "format_issues",
    "count_issues",
    "decode_issues",
    "checksum_issues",
]


class OpenedCopy(Protocol):
    """What the checks read of an opened dataset copy (a ``DatasetLoader``)."""

    card: Any  # DatasetInfo: ``title`` names the dataset in messages
    manifest: Manifest
    root: Path
    split: str
    layout: Layout

    def relpath(self, path: Path) -> str: ...

    def __iter__(self) -> Iterator[DatasetSample]: ...


def load_checksums(source: Mapping[str, str] | str | os.PathLike[str]) -> dict[str, str]:
    """Checksums as ``{relative posix path: sha256}`` from a mapping or a JSON file of one."""
    if isinstance(source, Mapping):
        return {str(k): str(v).lower() for k, v in source.items()}
    p = Path(source)
    check(p.is_file(), lambda: f"checksums: file not found: {str(p)!r}")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InvalidInputError(f"checksums: cannot read {str(p)!r} as JSON: {err}") from err
    check(isinstance(data, dict), lambda: f"checksums: {str(p)!r} must hold a JSON object {{path: sha256}}")
    return {str(k): str(v).lower() for k, v in data.items()}


def _ignored(name: str, patterns: tuple[str, ...]) -> bool:
    return name.startswith(".") or any(fnmatch.fnmatch(name, pat) for pat in patterns)


def _reason(err: BaseException, p: Path) -> str:
    text = str(err)
    prefix = f"{str(p)!r}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


# ------------------------------------------------------------------------------------- checks
def missing_files(ds: OpenedCopy, samples: list[DatasetSample]) -> tuple[dict[Path, bool], list[Issue]]:
    """Whether each file a sample names exists (``present``), and one issue per sample file missing."""
    rel = ds.relpath
    present: dict[Path, bool] = {}
    issues = []
    for s in samples:
        for role, p in s.paths().items():
            ok = present.setdefault(p, p.is_file())
            if not ok:
                partner = "" if role == "input" else f" (input {rel(s.input_path)!r} has no {role})"
                issues.append(
                    Issue("missing_file", rel(p), f"sample {s.id!r}: {role} file missing: {rel(p)!r}{partner}")
                )
    return present, issues


def _ancestors(paths: set[Path]) -> set[Path]:
    """Every ancestor folder of ``paths``, each walked once."""
    dirs: set[Path] = set()
    for p in paths:
        q = p.parent
        while q not in dirs and q != q.parent:
            dirs.add(q)
            q = q.parent
    return dirs


def extra_entries(ds: OpenedCopy, scan: ScanResult, present: dict[Path, bool]) -> list[Issue]:
    """Files and folders in the watched folders that no sample uses (ignore patterns and dot-files aside)."""
    rel, name = ds.relpath, ds.card.title
    used = {p for p, ok in present.items() if ok} | set(scan.claimed)
    used_dirs = _ancestors(used)
    watched = set(scan.watched)
    patterns = tuple(ds.manifest.ignore) + tuple(scan.ignore)
    issues = []
    for folder in sorted(watched):
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            if _ignored(entry.name, patterns):
                continue
            if entry.is_dir():
                if entry not in watched and entry not in used_dirs:
                    msg = f"unexpected folder {rel(entry)!r} in the {name} layout ({ds.layout.name}): no sample uses it"
                    issues.append(Issue("extra_folder", rel(entry), msg))
            elif entry not in used:
                msg = (
                    f"extra file {rel(entry)!r}: no sample uses it "
                    f"(unpaired, misplaced, or not part of the {name} layout)"
                )
                issues.append(Issue("extra_file", rel(entry), msg))
    return issues


def _sample_format_issues(
    ds: OpenedCopy, s: DatasetSample, present: dict[Path, bool], headers: dict[Path, ImageHeader | None]
) -> list[Issue]:
    """Extension, header, bit-depth and same-size issues of one sample; fills ``headers`` (None = unreadable)."""
    m, rel, name = ds.manifest, ds.relpath, ds.card.title
    issues = []
    sizes: dict[str, tuple[int, int]] = {}
    for role, p in s.paths().items():
        if not present.get(p):
            continue
        allowed = m.extensions.get(role)
        if allowed and p.suffix.lower() not in allowed:
            msg = (
                f"sample {s.id!r}: {role} {rel(p)!r} has extension {p.suffix!r}; {name} expects {' or '.join(allowed)}"
            )
            issues.append(Issue("extension", rel(p), msg))
            continue
        if role not in m.image_roles:
            continue
        if p not in headers:
            try:
                headers[p] = probe_image(p)
            except (InvalidInputError, OSError) as err:
                headers[p] = None
                msg = f"sample {s.id!r}: {role} {rel(p)!r} is unreadable: {_reason(err, p)}"
                issues.append(Issue("corrupt", rel(p), msg))
        h = headers[p]
        if h is None:
            continue
        want = m.bit_depth.get(role)
        if want is not None and h.bit_depth != want:
            msg = (
                f"sample {s.id!r}: {role} {rel(p)!r} is {h.bit_depth}-bit; "
                f"{name} {role} images are {want}-bit {h.format.upper()}"
            )
            issues.append(Issue("bit_depth", rel(p), msg))
        if role in m.same_size:
            sizes[role] = h.size
    if len(set(sizes.values())) > 1:
        desc = ", ".join(f"{role} {rel(s.paths()[role])!r} is {hw[1]}x{hw[0]}" for role, hw in sizes.items())
        issues.append(Issue("size", rel(s.input_path), f"sample {s.id!r}: images differ in size (W x H): {desc}"))
    return issues


def format_issues(
    ds: OpenedCopy, samples: list[DatasetSample], present: dict[Path, bool]
) -> tuple[dict[Path, ImageHeader | None], list[Issue]]:
    """Extensions per role and image headers (bit depth, equal sizes, readability) of the present files.

    Returns the headers read (None for an unreadable one) and the issues.
    """
    headers: dict[Path, ImageHeader | None] = {}
    issues = []
    for s in samples:
        issues += _sample_format_issues(ds, s, present, headers)
    return headers, issues


def count_issues(ds: OpenedCopy, num_samples: int, strict: bool) -> list[Issue]:
    """The sample count against the official one: an error under ``strict``, else a warning for a subset."""
    m, name = ds.manifest, ds.card.title
    official = m.counts.get(ds.split)
    if strict:
        if official is None:
            msg = (
                f"no official sample count is recorded for {name} split {ds.split!r}; "
                "strict validation checked pairing and formats only"
            )
            return [Issue("count", ".", msg, "warning")]
        if num_samples != official:
            note = " - " + m.count_note if m.count_note else ""
            msg = (
                f"{name} split {ds.split!r} has {num_samples} samples; "
                f"the official split has {official} (strict=True){note}"
            )
            return [Issue("count", ".", msg)]
        return []
    if official is not None and num_samples != official:
        msg = (
            f"{name} split {ds.split!r}: {num_samples} of the official {official} samples "
            "(a subset; strict=True requires all)"
        )
        return [Issue("count", ".", msg, "warning")]
    return []


def decode_issues(
    ds: OpenedCopy, samples: list[DatasetSample], present: dict[Path, bool], headers: dict[Path, ImageHeader | None]
) -> list[Issue]:
    """Fully decode every present file once (depth: ``.npy``/``.exr``; images) and report those that fail.

    Files whose header was already unreadable are skipped (they are reported once).
    """
    issues: list[Issue] = []
    done: set[Path] = set()
    for s in samples:
        for role, p in s.paths().items():
            if p in done or not present.get(p) or headers.get(p, 0) is None:
                continue
            done.add(p)
            try:
                if role == "depth" and p.suffix.lower() in (".npy", ".exr"):
                    read_depth(p)
                elif role in ds.manifest.image_roles or p.suffix.lower() in (".png", ".jpg", ".jpeg"):
                    decode_check(p)
            except (InvalidInputError, OSError, ValueError) as err:
                msg = f"sample {s.id!r}: {role} {ds.relpath(p)!r} cannot be decoded: {_reason(err, p)}"
                issues.append(Issue("corrupt", ds.relpath(p), msg))
    return issues


def checksum_issues(root: Path, sums: Mapping[str, str]) -> list[Issue]:
    """Files below ``root`` whose sha256 differs from ``sums`` (relative posix path: hex digest) or that are missing."""
    issues = []
    for relpath, digest in sorted(sums.items()):
        p = root / relpath
        if not p.is_file():
            issues.append(Issue("checksum", relpath, f"{relpath!r} has a recorded sha256 but is missing"))
        elif file_sha256(p) != digest.lower():
            msg = f"{relpath!r}: sha256 differs from the recorded {digest[:12]}... (modified or corrupt copy)"
            issues.append(Issue("checksum", relpath, msg))
    return issues


# ------------------------------------------------------------------------------------ the run
def validate_scan(
    ds: OpenedCopy,
    scan: ScanResult,
    *,
    strict: bool,
    decode: bool,
    checksums: Mapping[str, str] | str | os.PathLike[str] | None,
) -> ValidationReport:
    """Run every check on ``scan`` of ``ds`` and return the report (see the module docstring)."""
    samples = list(ds)
    present, missing = missing_files(ds, samples)
    headers, formats = format_issues(ds, samples, present)
    issues = list(scan.issues) + missing + extra_entries(ds, scan, present) + formats
    issues += count_issues(ds, len(samples), strict)
    checked = ["structure", "headers"] + (["counts"] if strict else [])
    if decode:
        checked.append("decode")
        issues += decode_issues(ds, samples, present, headers)
    sums = dict(ds.manifest.checksums)
    if checksums is not None:
        sums.update(load_checksums(checksums))
    if sums:
        checked.append("checksums")
        issues += checksum_issues(ds.root, sums)
    return ValidationReport(
        dataset=ds.card.title,
        root=str(ds.root),
        layout=ds.layout.name,
        split=ds.split,
        num_samples=len(samples),
        issues=tuple(issues),
        strict=strict,
        checked=tuple(checked),
    )
