"""Check a scanned dataset copy against its manifest; every issue names the file concerned.

Checks, in order: pairing and metadata problems found by the scan; files that a sample needs but
that are missing; extra files and folders in the dataset folders; extensions per role; image headers
(bit depth, pair sizes, unreadable headers); the official count (``strict``); full decodes
(``decode``); sha256 checksums (when the manifest or the caller gives them).
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import InvalidInputError, check
from ...hashing import file_sha256 as sha256_file
from .manifest import Issue, ValidationReport
from .probe import ImageHeader, decode_check, probe_image

if TYPE_CHECKING:
    from .base import DatasetLoader, ScanResult

__all__ = ["validate_scan", "sha256_file", "load_checksums"]


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


def validate_scan(
    ds: DatasetLoader,
    scan: ScanResult,
    *,
    strict: bool,
    decode: bool,
    checksums: Mapping[str, str] | str | os.PathLike[str] | None,
) -> ValidationReport:
    """Run every check on ``scan`` of ``ds`` and return the report (see the module docstring)."""
    m = ds.manifest
    rel = ds.relpath
    name = ds.card.title
    issues: list[Issue] = list(scan.issues)
    samples = list(ds)
    checked = ["structure", "headers"]

    # 1. files a sample needs
    present: dict[Path, bool] = {}
    for s in samples:
        for role, p in s.paths().items():
            ok = present.setdefault(p, p.is_file())
            if not ok:
                partner = "" if role == "input" else f" (input {rel(s.input_path)!r} has no {role})"
                issues.append(
                    Issue("missing_file", rel(p), f"sample {s.id!r}: {role} file missing: {rel(p)!r}{partner}")
                )

    # 2. extra files / folders in the watched folders
    used = {p for p, ok in present.items() if ok} | set(scan.claimed)
    used_dirs: set[Path] = set()
    for p in used:  # every ancestor folder of a used file, each walked once
        q = p.parent
        while q not in used_dirs and q != q.parent:
            used_dirs.add(q)
            q = q.parent
    watched = set(scan.watched)
    patterns = tuple(m.ignore) + tuple(scan.ignore)
    for folder in sorted(watched):
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            if _ignored(entry.name, patterns):
                continue
            if entry.is_dir():
                if entry not in watched and entry not in used_dirs:
                    issues.append(
                        Issue(
                            "extra_folder",
                            rel(entry),
                            f"unexpected folder {rel(entry)!r} in the {name} layout ({ds.layout.name}): no sample uses it",
                        )
                    )
            elif entry not in used:
                issues.append(
                    Issue(
                        "extra_file",
                        rel(entry),
                        f"extra file {rel(entry)!r}: no sample uses it (unpaired, misplaced, or not part of the {name} layout)",
                    )
                )

    # 3. extensions, 4. headers: bit depth and sizes
    headers: dict[Path, ImageHeader | None] = {}
    for s in samples:
        sizes: dict[str, tuple[int, int]] = {}
        for role, p in s.paths().items():
            if not present.get(p):
                continue
            allowed = m.extensions.get(role)
            if allowed and p.suffix.lower() not in allowed:
                issues.append(
                    Issue(
                        "extension",
                        rel(p),
                        f"sample {s.id!r}: {role} {rel(p)!r} has extension {p.suffix!r}; {name} expects {' or '.join(allowed)}",
                    )
                )
                continue
            if role not in m.image_roles:
                continue
            if p not in headers:
                try:
                    headers[p] = probe_image(p)
                except (InvalidInputError, OSError) as err:
                    headers[p] = None
                    issues.append(
                        Issue("corrupt", rel(p), f"sample {s.id!r}: {role} {rel(p)!r} is unreadable: {_reason(err, p)}")
                    )
            h = headers[p]
            if h is None:
                continue
            want = m.bit_depth.get(role)
            if want is not None and h.bit_depth != want:
                issues.append(
                    Issue(
                        "bit_depth",
                        rel(p),
                        f"sample {s.id!r}: {role} {rel(p)!r} is {h.bit_depth}-bit; {name} {role} images are {want}-bit {h.format.upper()}",
                    )
                )
            if role in m.same_size:
                sizes[role] = h.size
        if len(set(sizes.values())) > 1:
            desc = ", ".join(f"{role} {rel(s.paths()[role])!r} is {hw[1]}x{hw[0]}" for role, hw in sizes.items())
            issues.append(Issue("size", rel(s.input_path), f"sample {s.id!r}: images differ in size (W x H): {desc}"))

    # 5. official counts
    official = m.counts.get(ds.split)
    if strict:
        checked.append("counts")
        if official is None:
            issues.append(
                Issue(
                    "count",
                    ".",
                    f"no official sample count is recorded for {name} split {ds.split!r}; strict validation checked pairing and formats only",
                    "warning",
                )
            )
        elif len(samples) != official:
            issues.append(
                Issue(
                    "count",
                    ".",
                    f"{name} split {ds.split!r} has {len(samples)} samples; the official split has {official} (strict=True){' - ' + m.count_note if m.count_note else ''}",
                )
            )
    elif official is not None and len(samples) != official:
        issues.append(
            Issue(
                "count",
                ".",
                f"{name} split {ds.split!r}: {len(samples)} of the official {official} samples (a subset; strict=True requires all)",
                "warning",
            )
        )

    # 6. decode everything
    if decode:
        checked.append("decode")
        issues += _decode_all(ds, samples, present, headers)

    # 7. checksums
    sums = dict(m.checksums)
    if checksums is not None:
        sums.update(load_checksums(checksums))
    if sums:
        checked.append("checksums")
        for relpath, digest in sorted(sums.items()):
            p = ds.root / relpath
            if not p.is_file():
                issues.append(Issue("checksum", relpath, f"{relpath!r} has a recorded sha256 but is missing"))
            elif sha256_file(p) != digest.lower():
                issues.append(
                    Issue(
                        "checksum",
                        relpath,
                        f"{relpath!r}: sha256 differs from the recorded {digest[:12]}... (modified or corrupt copy)",
                    )
                )

    return ValidationReport(
        dataset=name,
        root=str(ds.root),
        layout=ds.layout.name,
        split=ds.split,
        num_samples=len(samples),
        issues=tuple(issues),
        strict=strict,
        checked=tuple(checked),
    )


def _reason(err: BaseException, p: Path) -> str:
    text = str(err)
    prefix = f"{str(p)!r}: "
    return text[len(prefix) :] if text.startswith(prefix) else text


def _decode_all(ds: DatasetLoader, samples: list, present: dict[Path, bool], headers: dict) -> list[Issue]:
    issues: list[Issue] = []
    done: set[Path] = set()
    for s in samples:
        for role, p in s.paths().items():
            if p in done or not present.get(p) or headers.get(p, 0) is None:
                continue
            done.add(p)
            try:
                if role == "depth" and p.suffix.lower() in (".npy", ".exr"):
                    from ...io import read_depth

                    read_depth(p)
                elif role in ds.manifest.image_roles or p.suffix.lower() in (".png", ".jpg", ".jpeg"):
                    decode_check(p)
            except (InvalidInputError, OSError, ValueError) as err:
                issues.append(
                    Issue(
                        "corrupt",
                        ds.relpath(p),
                        f"sample {s.id!r}: {role} {ds.relpath(p)!r} cannot be decoded: {_reason(err, p)}",
                    )
                )
    return issues
