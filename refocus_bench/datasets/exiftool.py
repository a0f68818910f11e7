"""ExifTool, run as one long-running process that reads the metadata of files in batches.

One ``exiftool -stay_open`` process (driven by ``pyexiftool``) reads files in batches with numeric
values (``-n``), every duplicate tag (``-a``) and group names of families 0 and 1 (``-G0:1``, keys
like ``"EXIF:ExifIFD:FNumber"`` or ``"MakerNotes:Canon:FocusDistanceUpper"``). Only
:data:`REQUESTED_TAGS` are asked for, among them ExifTool's Composite ``ImageSize``, ``Aperture`` and
``ScaleFactor35efl`` (keys like ``"Composite:ImageSize"``): ExifTool computes those from maker notes
and more, and the harvest takes them as ExifTool reports them instead of re-deriving them.
ExifTool's own selection of those tags costs more than reading them; :data:`PERL_TAG_SELECTION`,
loaded into the process, makes it cheaper without changing a byte of its output.

ExifTool reads JPEG, HEIC, TIFF, PNG, DNG, every camera RAW format (CR2, CR3, NEF, ARW, RAF, RW2,
ORF, X3F, ...), video (MOV, MP4, R3D, ...), sidecars (XMP, MIE), light fields (LFP) and documents
that carry photo metadata (PDF, PSD, EPS, MIFF). It comes from the Debian package
``libimage-exiftool-perl``; when it is missing, :func:`find_exiftool` raises
:class:`~refocus_bench.errors.MissingFileError` saying how to install it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import MissingFileError, check

__all__ = [
    "EXIFTOOL_INSTALL_HINT",
    "PERL_TAG_SELECTION",
    "REQUESTED_TAGS",
    "find_exiftool",
    "exiftool_version",
    "ExifToolReader",
]

EXIFTOOL_INSTALL_HINT = "sudo apt-get install libimage-exiftool-perl"

REQUESTED_TAGS = (
    "FileType",
    "MIMEType",
    "Error",
    "Warning",
    "Make",
    "Model",
    "LensModel",
    "Lens",
    "FNumber",
    "ApertureValue",
    "Aperture",
    "FocalLength",
    "FocalLengthIn35mmFormat",
    "ScaleFactor35efl",
    "FocalPlaneXResolution",
    "FocalPlaneYResolution",
    "FocalPlaneResolutionUnit",
    "FocusDistance",
    "SubjectDistance",
    "ApproximateFocusDistance",
    "FocusDistanceUpper",
    "FocusDistanceLower",
    "FocusDistanceRange",
    "ObjectDistance",
    "ManualFocusDistance",
    "ImageSize",
    "ImageWidth",
    "ImageHeight",
    "ExifImageWidth",
    "ExifImageHeight",
    "DefaultCropSize",
    "ImageSpatialExtent",
    "Orientation",
    "ExposureTime",
    "ShutterSpeedValue",
    "ISO",
    "DateTimeOriginal",
    "SubSecTimeOriginal",
    "OffsetTimeOriginal",
    "CreateDate",
    "StripOffsets",
    "StripByteCounts",
    "TileOffsets",
    "TileByteCounts",
)
"""ExifTool tags requested for every file (any group)."""

_EXIFTOOL_ARGS = ("-q", "-q", "-j", "-n", "-a", "-G0:1", "-api", "LargeFileSupport=1")

PERL_TAG_SELECTION = Path(__file__).resolve().parents[1] / "data" / "exiftool" / "RefocusBenchTags.pm"
"""Perl module loaded into ExifTool (``PERL5OPT``) that selects the requested tags faster.

ExifTool matches every requested tag name against every extracted tag with a new regular
expression, expands shortcuts the same way, and resolves every Composite tag it knows, for each
file: with :data:`REQUESTED_TAGS` that costs more than extracting the tags. The module replaces
those steps by a hash lookup, a cache, and the Composite tags that the requested ones need; the
JSON ExifTool prints is byte-identical (``tests/test_exiftool_fast.py``, the whole real-file
corpus). It replaces them only over the exact ExifTool code it was written against (12.57; an MD5
of each sub's source), so any other ExifTool version runs unchanged."""

_ENV_LOCK = threading.Lock()


@contextmanager
def _perl_options() -> Iterator[None]:
    """``PERL5OPT`` loads :data:`PERL_TAG_SELECTION` into the ExifTool started in the body.

    pyexiftool passes no environment of its own to the process, so the variable is set in this
    process's environment for the body only, under a lock. Nothing is set when the module's folder
    cannot be named in ``PERL5OPT`` (which splits on white space) or the file is missing."""
    folder = str(PERL_TAG_SELECTION.parent)
    if not PERL_TAG_SELECTION.is_file() or any(c.isspace() for c in folder):
        yield
        return
    with _ENV_LOCK:
        old = os.environ.get("PERL5OPT")
        os.environ["PERL5OPT"] = " ".join(filter(None, [old, f"-I{folder}", f"-M{PERL_TAG_SELECTION.stem}"]))
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("PERL5OPT", None)
            else:
                os.environ["PERL5OPT"] = old


def find_exiftool(executable: str | None = None) -> str:
    """Path of the ``exiftool`` executable; :class:`MissingFileError` with install help if absent."""
    path = shutil.which(executable or "exiftool")
    check(
        path is not None,
        lambda: f"ExifTool not found (executable={executable or 'exiftool'!r}); EXIF harvesting needs it: "
        f"run `{EXIFTOOL_INSTALL_HINT}` (Debian/Ubuntu; scripts/setup.sh does this when run as root)",
        exc=MissingFileError,
    )
    return str(path)


def _safe_arg(path: str) -> bool:
    """Whether ExifTool's line-based argument file format can carry ``path`` unchanged."""
    if "\n" in path or "\r" in path:
        return False
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in the name (surrogate escapes)
        return False
    return True


class ExifToolReader:
    """One long-running ExifTool process that reads metadata of files in batches.

    Example (needs ExifTool and a photo, so it is not run as a doctest; the harvest tests run it)::

        with ExifToolReader() as reader:
            tags = reader.read(["/photos/a.jpg"])[0]
        tags["EXIF:ExifIFD:FNumber"]  # 1.8

    Files whose names ExifTool's argument file format cannot carry (newlines, undecodable bytes) are
    read through a temporary symlink. A file for which ExifTool gives no answer gets a synthetic
    ``{"ExifTool:Error": ...}`` entry. If the ExifTool process dies, it is restarted and the batch is
    retried file by file, so one pathological file cannot take a batch down.
    """

    def __init__(self, executable: str | None = None, tags: Sequence[str] = REQUESTED_TAGS) -> None:
        import exiftool  # pyexiftool

        self._exe = find_exiftool(executable)
        self._tag_args = tuple(f"-{t}".encode() for t in tags)
        self._module = exiftool
        self._et = None
        self._alias_dir: str | None = None
        self._start()

    def _start(self) -> None:
        self._et = self._module.ExifTool(executable=self._exe, common_args=[])
        try:
            with _perl_options():
                self._et.run()
        except Exception:  # noqa: BLE001 - a Perl that cannot load the module: ExifTool as it is
            self._et = self._module.ExifTool(executable=self._exe, common_args=[])
            self._et.run()

    @property
    def version(self) -> str:
        """ExifTool version string, e.g. ``"12.57"``."""
        return str(self._et.version)

    def _stop(self) -> None:
        if self._et is not None and self._et.running:
            try:
                self._et.terminate()
            except Exception:  # noqa: BLE001 - already dead
                pass
        self._et = None

    def close(self) -> None:
        """Stop the ExifTool process and remove temporary aliases."""
        self._stop()
        if self._alias_dir:
            shutil.rmtree(self._alias_dir, ignore_errors=True)
            self._alias_dir = None

    def __enter__(self) -> ExifToolReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _arg_for(self, path: str, i: int) -> str:
        if _safe_arg(path):
            return path
        if self._alias_dir is None:
            self._alias_dir = tempfile.mkdtemp(prefix="refocus-bench-exif-")
        suffix = os.path.splitext(path)[1]
        suffix = suffix if suffix.isascii() and _safe_arg(suffix) else ""
        alias = os.path.join(self._alias_dir, f"{i:06d}{suffix}")
        if os.path.lexists(alias):
            os.unlink(alias)
        os.symlink(os.fsencode(path), alias)
        return alias

    def _execute(self, args: list[str]) -> list[dict[str, Any]]:
        out = self._et.execute(*_EXIFTOOL_ARGS, *self._tag_args, *(a.encode("utf-8") for a in args), raw_bytes=True)
        text = out.decode("utf-8", errors="replace").strip()
        return json.loads(text) if text else []

    def read(self, paths: Sequence[str]) -> list[dict[str, Any]]:
        """Metadata of each path (absolute paths recommended), in input order.

        Returns:
            One dict per path with ExifTool's ``"Group0:Group1:Tag"`` keys (numeric values).
        """
        if not paths:
            return []
        args = [self._arg_for(os.path.abspath(p), i) for i, p in enumerate(paths)]
        try:
            entries = self._execute(args)
        except Exception:  # noqa: BLE001 - process died or spoke garbage: isolate file by file
            entries = []
            for a in args:
                try:
                    if self._et is None or not self._et.running:
                        self._start()
                    entries.extend(self._execute([a]))
                except Exception as err:  # noqa: BLE001
                    entries.append({"SourceFile": a, "ExifTool:Error": f"ExifTool failed on this file: {err}"})
                    self._stop()
        by_source = {e.get("SourceFile"): e for e in entries}
        return [
            by_source.get(a) or {"SourceFile": a, "ExifTool:Error": "ExifTool could not open the file"} for a in args
        ]


def exiftool_version(executable: str | None = None) -> str:
    """Version of the ExifTool ``executable`` (``exiftool -ver``), or ``"unknown"`` when it cannot run."""
    try:
        exe = find_exiftool(executable)
        return subprocess.run([exe, "-ver"], capture_output=True, text=True, timeout=60).stdout.strip() or "unknown"
    except (MissingFileError, OSError, subprocess.SubprocessError):
        return "unknown"
