"""Curation of harvested photos: content hash, integrity, sharpness, duplicates and filters.

* :func:`inspect_file` reads a file once: its sha256, a structural integrity check (truncated JPEG,
  PNG, ISO-BMFF (HEIC, CR3, AVIF) and TIFF-based RAW files are detected) and, optionally, a
  sharpness measure.
* :func:`laplacian_variance` is the classic focus measure: the variance of the 4-neighbour
  Laplacian of the luminance, with intensities in [0, 1] (so the value is in intensity^2 per
  pixel^4 at the measured resolution), optionally restricted to a mask.
  :func:`sharpness_from_bytes` decodes an image at a reduced resolution (JPEG's DCT scaling makes
  that nearly free) so its cost stays small next to ExifTool's; the scale is recorded because the
  measure depends on it.
* :func:`probe_pixels` asks the image decoder (Pillow, headers only) whether it reads a file's full
  image, and says why not when it does not (camera RAW, video, light field, ...).
* :func:`duplicate_of` picks one photo per content hash (the smallest path, so the choice does not
  depend on the order files were read) and names the kept one for the others.
* :class:`Filter` keeps rows by a comparison on one column, e.g. ``Filter.parse("coc_inf_px>=8")``;
  a null value never passes.

Example:
    >>> import numpy as np
    >>> img = np.zeros((8, 8), np.float32); img[4, 4] = 1.0
    >>> round(laplacian_variance(img), 4)
    0.5556
    >>> Filter.parse("coc_inf_px>=8")({"coc_inf_px": 12.5})
    (True, '')
"""

from __future__ import annotations

import difflib
import hashlib
import math
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError, check
from ..hashing import bytes_sha256

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "FileInspection",
    "inspect_file",
    "integrity_problem",
    "tiff_extent_problem",
    "laplacian_variance",
    "sharpness_from_bytes",
    "duplicate_of",
    "Filter",
    "FILTER_OPS",
    "parse_filters",
    "SHARPNESS_MAX_EDGE_PX",
    "probe_pixels",
]

SHARPNESS_MAX_EDGE_PX = 1024
"""Sharpness is measured after downscaling by 2, 4 or 8 until the long edge is at most this."""

_WHOLE_FILE_LIMIT = 1 << 30  # files above 1 GiB are hashed in chunks and not checked structurally
_CHUNK = 1 << 20


@dataclass
class FileInspection:
    """What one read of a file tells.

    Attributes:
        sha256: hex digest of the content.
        size_bytes: number of bytes read.
        problem: why the file is structurally broken (truncated...), or None.
        sharpness: Laplacian variance (see :func:`laplacian_variance`) or None when not measured
            or the format cannot be decoded here (HEIC, camera RAW).
        sharpness_scale: downscale factor the sharpness was measured at (1, 2, 4 or 8).
        head: the first 16 bytes (file signature).
    """

    sha256: str
    size_bytes: int
    problem: str | None = None
    sharpness: float | None = None
    sharpness_scale: int | None = None
    head: bytes = b""


def _jpeg_problem(data: bytes) -> str | None:
    n, pos = len(data), 2
    while True:
        if pos + 4 > n:
            return "truncated JPEG: ends before the image data"
        if data[pos] != 0xFF:
            return f"corrupt JPEG: no marker at byte {pos}"
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        if marker == 0xD9:
            return "corrupt JPEG: end-of-image before any image data"
        seglen = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xDA:  # start of scan: entropy-coded data never contains FF D9, so an FF D9
            start = pos + 2 + seglen  # at the very end (the common case) or anywhere after is the EOI
            if data.endswith(b"\xff\xd9") and n - 2 >= start or data.find(b"\xff\xd9", start) >= 0:
                return None
            return "truncated JPEG: no end-of-image marker"
        pos += 2 + seglen


def _bmff_problem(data: bytes) -> str | None:
    n, pos = len(data), 0
    while pos < n:
        if pos + 8 > n:
            return "truncated ISO-BMFF file: partial box header at the end"
        size = int.from_bytes(data[pos : pos + 4], "big")
        box = data[pos + 4 : pos + 8].decode("latin-1")
        if size == 1:
            if pos + 16 > n:
                return "truncated ISO-BMFF file: partial box header at the end"
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        elif size == 0:
            size = n - pos
        if size < 8:
            return f"corrupt ISO-BMFF file: box {box!r} has size {size}"
        if pos + size > n:
            return f"truncated ISO-BMFF file: box {box!r} needs {pos + size} bytes, file has {n}"
        pos += size
    return None


def integrity_problem(data: bytes) -> str | None:
    """Why ``data`` is a broken JPEG, PNG or ISO-BMFF (HEIC/CR3/AVIF) file, or None.

    Other formats pass here; TIFF-based files are checked by :func:`tiff_extent_problem`.
    """
    if data[:3] == b"\xff\xd8\xff":
        return _jpeg_problem(data)
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return None if data.rfind(b"IEND") > 8 else "truncated PNG: no IEND chunk"
    if data[4:8] == b"ftyp":
        return _bmff_problem(data)
    return None


def tiff_extent_problem(strips: Mapping[str, tuple[Any, Any]], size_bytes: int) -> str | None:
    """Whether any image strip or tile of a TIFF-based file (TIFF, DNG, NEF, CR2, ARW...) ends past EOF.

    Args:
        strips: per IFD, the ExifTool ``-n`` values of (offsets, byte counts), space-separated ints.
        size_bytes: file size.
    """
    for ifd, (offsets, counts) in strips.items():
        try:
            offs = [int(float(v)) for v in str(offsets).split()]
            cnts = [int(float(v)) for v in str(counts).split()]
        except ValueError:  # "(Binary data ...)" for very long lists: nothing to check
            continue
        if len(offs) != len(cnts) or not offs or max(offs) >= 0xFFFFFFFF:  # RW2: 2^32-1, "not given here"
            continue
        end = max(o + c for o, c in zip(offs, cnts))
        if end > size_bytes:
            return f"truncated: {ifd} image data needs {end} bytes, file has {size_bytes}"
    return None


def laplacian_variance(gray: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Variance of the 4-neighbour Laplacian of a grey image; higher is sharper.

    Args:
        gray: (H, W) luminance; uint8 and uint16 are scaled to [0, 1], floats are used as given.
        mask: optional (H, W) boolean; only pixels where it is True (and not on the image border)
            count. At least two such pixels are required.

    Returns:
        The variance, in (intensity units)^2 for intensities in [0, 1].
    """
    import cv2
    import numpy as np

    check(
        isinstance(gray, np.ndarray) and gray.ndim == 2,
        lambda: f"gray must be a 2-D array (H, W), got {getattr(gray, 'shape', type(gray))}",
    )
    check(min(gray.shape) >= 3, lambda: f"gray must be at least 3x3 pixels, got {gray.shape}")
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(gray.dtype, 1.0)
    g = gray.astype(np.float32) / np.float32(scale)
    lap = cv2.Laplacian(g, cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REPLICATE)[1:-1, 1:-1]
    if mask is not None:
        check(
            isinstance(mask, np.ndarray) and mask.shape == gray.shape,
            lambda: f"mask must be a boolean array of shape {gray.shape}, got {getattr(mask, 'shape', type(mask))}",
        )
        vals = lap[mask.astype(bool)[1:-1, 1:-1]]
        check(vals.size >= 2, lambda: f"mask selects {vals.size} interior pixels; at least 2 are needed")
    else:
        vals = lap
    return float(vals.astype(np.float64).var())


_REDUCED = {1: None, 2: "IMREAD_REDUCED_GRAYSCALE_2", 4: "IMREAD_REDUCED_GRAYSCALE_4", 8: "IMREAD_REDUCED_GRAYSCALE_8"}


def sharpness_from_bytes(data: bytes, long_edge_px: int | None = None) -> tuple[float, int] | None:
    """Laplacian variance of an encoded image at a reduced resolution, or None if OpenCV can't decode it.

    Args:
        data: encoded JPEG, PNG, TIFF, WebP or BMP bytes.
        long_edge_px: the image's longest edge (from EXIF) to choose the scale (the smallest power of two
            that brings it to :data:`SHARPNESS_MAX_EDGE_PX` or below, at most 8); None decodes at 1.

    Returns:
        ``(variance, scale)`` with ``scale`` in {1, 2, 4, 8}.
    """
    import cv2
    import numpy as np

    scale = 1
    if long_edge_px:
        while scale < 8 and long_edge_px / scale > SHARPNESS_MAX_EDGE_PX:
            scale *= 2
    flag = cv2.IMREAD_GRAYSCALE if scale == 1 else getattr(cv2, _REDUCED[scale])
    buf = np.frombuffer(data, dtype=np.uint8)
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # broken files are expected here
    try:
        img = cv2.imdecode(buf, flag) if buf.size else None
    except cv2.error:
        img = None
    finally:
        cv2.utils.logging.setLogLevel(level)
    if img is None or img.ndim != 2 or min(img.shape) < 3:
        return None
    return laplacian_variance(img), scale


def inspect_file(
    path: str | os.PathLike[str],
    *,
    sharpness: bool = False,
    long_edge_px: int | None = None,
    tiff_strips: Mapping[str, tuple[Any, Any]] | None = None,
) -> FileInspection:
    """Read ``path`` once: sha256, integrity and (optionally) sharpness.

    Args:
        path: the file.
        sharpness: measure :func:`sharpness_from_bytes` (only when the file is intact).
        long_edge_px: the image's longest edge, to pick the sharpness scale.
        tiff_strips: strip/tile extents per IFD (see :func:`tiff_extent_problem`), checked when the
            file starts with a TIFF byte-order mark (TIFF, DNG and most camera RAW formats).

    Raises OSError when the file cannot be read (the caller records it as unreadable).
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > _WHOLE_FILE_LIMIT:
            h = hashlib.sha256()  # streamed here, not hashing.file_sha256: the file is read once
            total, head = 0, b""
            while chunk := fh.read(_CHUNK):
                head = head or chunk[:16]
                h.update(chunk)
                total += len(chunk)
            return FileInspection(h.hexdigest(), total, head=head)
        data = fh.read()
    out = FileInspection(bytes_sha256(data), len(data), integrity_problem(data), head=data[:16])
    if out.problem is None and tiff_strips and data[:2] in (b"II", b"MM"):
        out.problem = tiff_extent_problem(tiff_strips, len(data))
    if sharpness and out.problem is None:
        got = sharpness_from_bytes(data, long_edge_px)
        if got is not None:
            out.sharpness, out.sharpness_scale = got
    return out


def probe_pixels(
    path: str | os.PathLike[str], file_type: str | None, mime_type: str | None, size: tuple[int, int] | None
) -> tuple[str | None, str | None]:
    """Whether a decoder here reads the full image of ``path``: ``(decoder, None)`` or ``(None, why not)``.

    The decoder is Pillow, asked by content (it reads the header only). Its answer counts when its
    image is the size ExifTool reports (``size``, either orientation): Pillow opens a TIFF-based camera
    RAW file as a TIFF but sees only the embedded preview.

    Args:
        path: the file.
        file_type, mime_type: ExifTool's ``FileType`` and ``MIMEType`` (for the reason in words).
        size: (width, height) in pixels that ExifTool reports, or None.

    Returns:
        ``("Pillow JPEG", None)`` and the like, or ``(None, reason)``.
    """
    from PIL import EpsImagePlugin, Image

    what = file_type or "this file type"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                fmt, got = im.format, im.size
    except Exception:  # noqa: BLE001 - Pillow raises many kinds for files it cannot read
        fmt, got = None, None
    if fmt is None:
        if (mime_type or "").startswith("video/"):
            return None, f"video ({what}): its frames are not decoded here"
        return None, f"no decoder here reads {what} image data (Pillow does not recognise it)"
    if size is not None and sorted(got) != sorted(size):
        return None, (
            f"Pillow reads only an embedded {got[0]}x{got[1]} {fmt} image, not the {size[0]}x{size[1]} "
            f"{what} image (camera RAW data is not decoded here)"
        )
    if fmt == "EPS" and not EpsImagePlugin.has_ghostscript():
        return None, "Pillow needs Ghostscript to render EPS, and it is not installed"
    return f"Pillow {fmt}", None


def duplicate_of(items: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """Map each duplicate path to the kept path with the same content hash.

    Args:
        items: (path, sha256) pairs; None hashes are ignored.

    Returns:
        ``{duplicate_path: kept_path}``; the kept path of each hash is the smallest, so the result
        does not depend on the order of ``items``.
    """
    kept: dict[str, str] = {}
    paths: dict[str, list[str]] = {}
    for path, sha in items:
        if sha is None:
            continue
        paths.setdefault(sha, []).append(path)
        if sha not in kept or path < kept[sha]:
            kept[sha] = path
    return {p: kept[sha] for sha, ps in paths.items() for p in ps if p != kept[sha]}


FILTER_OPS = (">=", "<=", "==", "!=", ">", "<")
"""Comparison operators understood by :meth:`Filter.parse` (longest first)."""

_FILTER_RE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|!=|>|<)\s*(.+?)\s*$")


def _literal(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return float(text)
    except ValueError:
        return text.strip("'\"")


def _check_value_type(text: str, column: str, dtype: str, value: Any, raw: str) -> None:
    numeric = dtype.startswith(("float", "int"))
    if numeric:
        check(
            isinstance(value, float) and not isinstance(value, bool),
            lambda: f"filter {text!r}: {column} holds numbers ({dtype}), and {raw!r} is not a number",
        )
    elif dtype == "bool":
        check(
            isinstance(value, bool),
            lambda: f"filter {text!r}: {column} holds true/false, and {raw!r} is neither",
        )


@dataclass(frozen=True)
class Filter:
    """Keep a row when ``row[column] <op> value``; nulls never pass.

    Example:
        >>> f = Filter.parse("focus_distance_reliable == true")
        >>> f({"focus_distance_reliable": False})
        (False, 'focus_distance_reliable=False fails focus_distance_reliable==True')
    """

    column: str
    op: str
    value: Any

    @classmethod
    def parse(cls, text: str, columns: Sequence[str] | Mapping[str, str] | None = None) -> Filter:
        """Parse ``"column<op>value"``.

        Args:
            text: the filter.
            columns: the valid column names, or a mapping of them to their Arrow types (``"float64"``,
                ``"int32"``, ``"bool"``, ``"string"``), which also checks that the value fits the type.

        Raises InvalidInputError for a malformed filter (``coc_inf_px>>8``), an unknown column, or a
        value of the wrong type (``coc_inf_px>=abc``).
        """
        m = _FILTER_RE.match(text or "")
        check(
            m is not None,
            lambda: f"filter {text!r} must look like COLUMN OP VALUE with OP in {FILTER_OPS}, e.g. 'coc_inf_px>=8'",
        )
        column, op, raw = m.groups()
        check(
            raw[0] not in "<>=!",
            lambda: f"filter {text!r}: the value {raw!r} starts with an operator; write one of {FILTER_OPS} once, "
            "e.g. 'coc_inf_px>=8'",
        )
        if columns is not None and column not in columns:
            close = difflib.get_close_matches(column, list(columns), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; columns: {', '.join(columns)}"
            raise InvalidInputError(f"filter {text!r}: unknown column {column!r}{hint}")
        value = _literal(raw)
        dtype = columns.get(column) if isinstance(columns, Mapping) else None
        if dtype is not None:
            _check_value_type(text, column, dtype, value, raw)
        return cls(column, op, value)

    def __call__(self, row: Mapping[str, Any]) -> tuple[bool, str]:
        """``(passes, why_not)`` for one row."""
        v = row.get(self.column)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return False, f"{self.column} unknown (null) fails {self}"
        try:
            ok = {
                ">=": lambda: v >= self.value,
                "<=": lambda: v <= self.value,
                ">": lambda: v > self.value,
                "<": lambda: v < self.value,
                "==": lambda: v == self.value,
                "!=": lambda: v != self.value,
            }[self.op]()
        except TypeError:
            return False, f"{self.column}={v!r} cannot be compared in {self}"
        return (True, "") if ok else (False, f"{self.column}={v!r} fails {self}")

    def __str__(self) -> str:
        return (
            f"{self.column}{self.op}{self.value!r}"
            if isinstance(self.value, str)
            else f"{self.column}{self.op}{self.value:g}"
            if isinstance(self.value, float)
            else f"{self.column}{self.op}{self.value}"
        )


def parse_filters(texts: Iterable[str], columns: Sequence[str] | None = None) -> list[Filter]:
    """Parse several filter strings (see :meth:`Filter.parse`)."""
    return [Filter.parse(t, columns) for t in texts]
