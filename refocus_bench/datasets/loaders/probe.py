"""Cheap image header probes: format, size and bit depth without decoding the pixels.

PNG sizes and bit depths come from the IHDR chunk (the first 33 bytes), JPEG ones from the first
start-of-frame segment; other formats (TIFF, BMP, WebP) fall back to a full decode with OpenCV.
Used by the manifests to check bit depth and pair sizes of a whole dataset in about a second,
and by :func:`~refocus_bench.datasets.loaders.sample.load_image` to record the source bit depth.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import InvalidInputError

__all__ = ["ImageHeader", "probe_image", "decode_check"]

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}  # colour type -> channels (palette decodes to RGB)
# start-of-frame markers (baseline, progressive, lossless, arithmetic); not DHT (C4), JPG (C8), DAC (CC)
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD9)}  # markers without a length field


@dataclass(frozen=True)
class ImageHeader:
    """What an image file declares about itself.

    Attributes:
        format: ``"png"``, ``"jpeg"`` or the lower-case suffix of a decoded file (``"tiff"`` ...).
        width, height: pixels.
        bit_depth: bits per sample (8 or 16 for the datasets here; PNG may also say 1, 2 or 4).
        channels: samples per pixel (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA).
    """

    format: str
    width: int
    height: int
    bit_depth: int
    channels: int

    @property
    def size(self) -> tuple[int, int]:
        """(H, W) in pixels, the order of tensor shapes."""
        return (self.height, self.width)


def _png_header(head: bytes, path: Path) -> ImageHeader:
    if len(head) < 33 or head[12:16] != b"IHDR":
        raise InvalidInputError(f"{str(path)!r}: truncated PNG header (no IHDR chunk)")
    width, height, depth, colour = struct.unpack(">IIBB", head[16:26])
    if colour not in _PNG_CHANNELS or width == 0 or height == 0:
        raise InvalidInputError(f"{str(path)!r}: invalid PNG header (colour type {colour}, {width}x{height})")
    return ImageHeader("png", width, height, depth, _PNG_CHANNELS[colour])


def _jpeg_header(path: Path) -> ImageHeader:
    """Walk the marker segments with seeks (a 24 MP JPEG is not read past its frame header)."""
    with open(path, "rb") as fh:
        fh.seek(2)
        while True:
            head = fh.read(2)
            if len(head) < 2 or head[0] != 0xFF:
                break
            marker = head[1]
            while marker == 0xFF:  # fill bytes
                nxt = fh.read(1)
                if not nxt:
                    break
                marker = nxt[0]
            if marker in _JPEG_STANDALONE:
                continue
            raw = fh.read(2)
            if len(raw) < 2:
                break
            (length,) = struct.unpack(">H", raw)
            if marker in _JPEG_SOF:
                body = fh.read(6)
                if len(body) < 6:
                    break
                precision, height, width, comps = struct.unpack(">BHHB", body)
                if width == 0 or height == 0:
                    break
                return ImageHeader("jpeg", width, height, precision, comps)
            if marker == 0xDA or length < 2:  # start of scan before any frame header
                break
            fh.seek(length - 2, 1)
    raise InvalidInputError(f"{str(path)!r}: corrupt JPEG (no valid start-of-frame header)")


def probe_image(path: str | os.PathLike[str]) -> ImageHeader:
    """Read the header of an image file.

    Raises:
        MissingFileError: the file does not exist (from ``open``: ``FileNotFoundError``).
        InvalidInputError: the header is missing, truncated or not an image; the message names the file.
    """
    p = Path(path)
    with open(p, "rb") as fh:
        head = fh.read(33)
    if head.startswith(_PNG_SIGNATURE):
        return _png_header(head, p)
    if head.startswith(b"\xff\xd8\xff"):
        return _jpeg_header(p)
    if p.suffix.lower() in (".png", ".jpg", ".jpeg"):
        kind = "PNG" if p.suffix.lower() == ".png" else "JPEG"
        raise InvalidInputError(f"{str(p)!r}: not a {kind} file (wrong signature; corrupt or misnamed)")
    arr = _decode(p)
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    bits = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(arr.dtype, 32)
    return ImageHeader(p.suffix.lower().lstrip(".") or "image", arr.shape[1], arr.shape[0], bits, channels)


def _decode(p: Path) -> np.ndarray:
    import cv2

    buf = np.fromfile(p, dtype=np.uint8)
    arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if arr is None:
        raise InvalidInputError(f"{str(p)!r}: cannot decode as an image (corrupt, truncated or not an image)")
    return arr


def decode_check(path: str | os.PathLike[str]) -> ImageHeader:
    """Decode the whole file (catches truncated pixel data that a header probe misses).

    Returns the header of the decoded array; raises :class:`InvalidInputError` naming the file.
    """
    import cv2

    p = Path(path)
    header = probe_image(p)
    if header.format in ("png", "jpeg"):
        # libpng/libjpeg warn on stderr but still return a (partly grey) array for some truncations;
        # cv2.imdecode returns None for the PNG cases, and the JPEG end marker is checked explicitly
        buf = np.fromfile(p, dtype=np.uint8)
        arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
        if arr is None:
            raise InvalidInputError(f"{str(p)!r}: cannot decode as an image (corrupt or truncated pixel data)")
        if header.format == "jpeg" and b"\xff\xd9" not in bytes(buf[-65536:]):  # trailers may follow
            raise InvalidInputError(f"{str(p)!r}: truncated JPEG (no end-of-image marker)")
        if arr.shape[:2] != header.size:
            raise InvalidInputError(f"{str(p)!r}: decoded size {arr.shape[:2]} differs from the header {header.size}")
    return header
