"""File I/O with the toolkit's contracts: atomic writes, sRGB images and metric depth maps.

* Images are returned as float32 tensors of shape (1, 3, H, W), sRGB-encoded, values in [0, 1];
  8- and 16-bit PNG/JPEG/TIFF are read at their full bit depth.
* Depth maps are returned as float32 (1, 1, H, W) in metres: ``.npy`` (float metres, or integer
  millimetres, which are converted with a warning), 16-bit PNG (millimetres, 0 = invalid -> ``inf``
  unless told otherwise) and OpenEXR (metres). A depth map has one channel: an (H, W, 3) array is
  refused (it is an image, not a depth map).
* Inputs are checked before they are decoded (:func:`refocus_bench.paths.check_input_file`: missing,
  empty, a folder, a symlink loop), and an image whose header declares more than
  :data:`MAX_IMAGE_PIXELS` pixels is refused before any pixel is allocated (a decompression bomb).
* Every write goes to a temporary file in the destination folder and is renamed into place, so a
  crash never leaves a partial file under the final name. Missing folders above it are created.

numpy, torch and OpenCV are imported by the functions that need them, so importing this module is
cheap (the command line imports it to answer ``--help``).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InvalidInputError, check, check_tensor
from .paths import check_input_file

if TYPE_CHECKING:
    import numpy as np
    import torch

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "read_image",
    "write_image",
    "read_depth",
    "write_depth",
]

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
DEPTH_SUFFIXES = {".npy", ".png", ".exr"}
MAX_IMAGE_PIXELS = 200_000_000
"""Largest image :func:`read_image` decodes (200 megapixels, above any camera's): a header that
declares more is a decompression bomb or a corrupt file, refused before decoding."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=f".tmp{final.suffix}", dir=final.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; final files get the usual permissions
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as pretty, key-sorted UTF-8 JSON to ``path`` atomically."""
    text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=True) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"))


def _existing(path: str | os.PathLike[str], name: str) -> Path:
    return check_input_file(path, name)


def _declared_size(p: Path) -> tuple[int, int] | None:
    """(width, height) from the file's header without decoding pixels; None if Pillow cannot tell."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # Pillow's own bomb check would hide the size; ours follows
    try:
        with Image.open(p) as im:
            return tuple(im.size)  # type: ignore[return-value]
    except Exception:  # noqa: BLE001 - not a format Pillow knows; OpenCV decides below
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = limit


def _quiet_opencv() -> Any:
    """OpenCV, with its console log limited to errors (no ``[ WARN ...]`` line before our message)."""
    import cv2

    with contextlib.suppress(AttributeError):
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    return cv2


def read_image(path: str | os.PathLike[str], name: str = "image") -> torch.Tensor:
    """Read an image file as sRGB float32 (1, 3, H, W) in [0, 1] at its full bit depth.

    Grey images are repeated to three channels, alpha is dropped; 8- and 16-bit files are scaled by
    255 and 65535. Raises :class:`InvalidInputError` naming the file when it cannot be decoded, is
    empty, or declares more than :data:`MAX_IMAGE_PIXELS` pixels.
    """
    import numpy as np
    import torch

    cv2 = _quiet_opencv()
    p = _existing(path, name)
    size = _declared_size(p)
    if size is not None:
        w, h = size
        check(
            w * h <= MAX_IMAGE_PIXELS,
            lambda: f"{name}: {str(p)!r} declares {w}x{h} pixels, more than the limit of "
            f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels (a corrupt header or a decompression bomb)",
        )
    buf = np.fromfile(p, dtype=np.uint8)  # also works for non-ASCII names
    arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    check(arr is not None, lambda: f"{name}: cannot decode {str(p)!r} as an image (corrupt, truncated or not an image)")
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(arr.dtype, 1.0)
    arr = arr.astype(np.float32) / np.float32(scale)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    elif arr.shape[-1] == 4:
        arr = cv2.cvtColor(arr, cv2.COLOR_BGRA2RGB)
    else:
        arr = cv2.cvtColor(arr[..., :3], cv2.COLOR_BGR2RGB)
    t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)[None]
    return t.clamp_(0.0, 1.0)


def write_image(path: str | os.PathLike[str], image: torch.Tensor, bit_depth: int = 8) -> None:
    """Write an sRGB (1, 3, H, W) or (3, H, W) image in [0, 1] atomically (PNG/TIFF: 8 or 16 bit)."""
    import numpy as np
    import torch

    cv2 = _quiet_opencv()

    check(bit_depth in (8, 16), lambda: f"bit_depth must be 8 or 16, got {bit_depth}")
    if isinstance(image, torch.Tensor) and image.ndim == 4:
        check(image.shape[0] == 1, lambda: f"image must hold one sample to write, got batch {image.shape[0]}")
        image = image[0]
    check_tensor(image, "image", [3, "H", "W"])
    arr = image.detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()[..., ::-1]  # RGB -> BGR
    suffix = Path(path).suffix.lower()
    check(
        suffix in IMAGE_SUFFIXES, lambda: f"output path must end in one of {sorted(IMAGE_SUFFIXES)}, got {str(path)!r}"
    )
    if bit_depth == 16:
        check(suffix in (".png", ".tif", ".tiff"), lambda: "16-bit output needs a .png or .tif path")
        data = np.round(arr * 65535.0).astype(np.uint16)
    else:
        data = np.round(arr * 255.0).astype(np.uint8)
    ok, encoded = cv2.imencode(suffix, np.ascontiguousarray(data))
    check(ok, lambda: f"could not encode an image as {suffix}")
    atomic_write_bytes(path, encoded.tobytes())


def read_depth(path: str | os.PathLike[str], png_scale_m: float = 1e-3, name: str = "depth") -> torch.Tensor:
    """Read a metric depth map as float32 (1, 1, H, W) metres.

    Args:
        path: ``.npy`` (float metres, ``inf`` allowed; an integer array is read as units of
            ``png_scale_m`` metres, millimetres by default, with 0 = no value -> ``inf``, and a
            warning says so), 16-bit ``.png`` (integer units of ``png_scale_m`` metres, 0 or
            65535 = no value -> ``inf``), or ``.exr`` (first channel, metres).
        png_scale_m: metres per integer code value (16-bit PNG or integer ``.npy``).
        name: how messages name the file (the CLI passes its flag, e.g. ``"--depth"``).

    Raises:
        InvalidInputError: an unreadable file, more than one channel ((H, W, 3) is an image, not a
            depth map), or more than :data:`MAX_IMAGE_PIXELS` values.

    A float map whose finite values are all whole numbers with a median above 100 is most likely in
    millimetres: it is read as metres, as documented, with a warning.
    """
    import numpy as np
    import torch

    p = _existing(path, name)
    suffix = p.suffix.lower()
    check(
        suffix in DEPTH_SUFFIXES,
        lambda: f"{name}: unsupported depth file {str(p)!r}; expected one of {sorted(DEPTH_SUFFIXES)}",
    )
    try:
        if suffix == ".npy":
            arr = _read_npy_depth(p, png_scale_m, name)
        elif suffix == ".png":
            arr = _read_png_depth(p, png_scale_m, name)
        else:
            arr = _read_exr(p)
            if arr.ndim == 3:
                arr = arr[..., 0] if arr.shape[-1] <= 4 else arr[0]
    except InvalidInputError:
        raise
    except Exception as err:  # noqa: BLE001
        raise InvalidInputError(f"{name}: cannot read depth from {str(p)!r}: {err}") from err
    check(arr.ndim == 2, lambda: f"{name}: depth must be a 2-D array (H, W), got shape {arr.shape}")
    check(arr.size > 0, lambda: f"{name}: depth map {str(p)!r} is empty (shape {arr.shape})")
    _warn_if_millimetres(arr, p, name)
    return torch.from_numpy(arr.astype(np.float32))[None, None]


def _one_channel(arr: np.ndarray, p: Path, name: str) -> np.ndarray:
    """(H, W), (1, H, W), (H, W, 1) or (1, 1, H, W) -> (H, W); several channels are refused."""
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    check(
        arr.ndim == 2,
        lambda: f"{name}: a depth map has one channel, shape (H, W); {str(p)!r} has shape {arr.shape}"
        + (" (an RGB image, not a depth map?)" if arr.ndim == 3 and arr.shape[-1] in (3, 4) else ""),
    )
    return arr


def _read_npy_depth(p: Path, scale_m: float, name: str) -> np.ndarray:
    import numpy as np

    raw = np.load(p, allow_pickle=False, mmap_mode="r")  # the header first: no allocation for a bogus shape
    check(
        raw.size <= MAX_IMAGE_PIXELS,
        lambda: f"{name}: {str(p)!r} holds {raw.size} values, more than the limit of {MAX_IMAGE_PIXELS}",
    )
    check(
        raw.dtype.kind in "fiu",
        lambda: f"{name}: depth must be a float (metres) or integer (millimetres) array, got {raw.dtype}",
    )
    raw = _one_channel(np.array(raw), p, name)
    if raw.dtype.kind == "f":
        return raw.astype(np.float64)
    arr = raw.astype(np.float64) * scale_m
    arr[raw <= 0] = np.inf
    warnings.warn(
        f"{name}: {p.name} holds integers ({raw.dtype}): read as {scale_m:g} m per unit "
        "(millimetres), 0 = no value; save float metres to silence this",
        stacklevel=3,
    )
    return arr


def _read_png_depth(p: Path, scale_m: float, name: str) -> np.ndarray:
    import imageio.v3 as iio
    import numpy as np

    size = _declared_size(p)
    check(
        size is None or size[0] * size[1] <= MAX_IMAGE_PIXELS,
        lambda: f"{name}: {str(p)!r} declares {size[0]}x{size[1]} pixels, more than the limit of "
        f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels (a corrupt header or a decompression bomb)",
    )
    raw = np.asarray(iio.imread(p))
    check(raw.dtype == np.uint16, lambda: f"{name}: a depth PNG must be 16-bit (millimetres), got {raw.dtype}")
    if raw.ndim == 3 and all(np.array_equal(raw[..., 0], raw[..., c]) for c in range(1, min(3, raw.shape[-1]))):
        raw = raw[..., 0]  # grey stored as RGB(A)
    raw = _one_channel(raw, p, name)
    arr = raw.astype(np.float64) * scale_m
    arr[(raw == 0) | (raw == 65535)] = np.inf
    return arr


def _warn_if_millimetres(arr: np.ndarray, p: Path, name: str) -> None:
    import numpy as np

    finite = arr[np.isfinite(arr)]
    if finite.size and float(np.median(finite)) > 100 and bool(np.all(finite == np.round(finite))):
        warnings.warn(
            f"{name}: {p.name} has whole-number depths with median {float(np.median(finite)):g} m: "
            "if these are millimetres, divide by 1000 (depth is read in metres)",
            stacklevel=3,
        )


def _read_exr(p: Path) -> np.ndarray:
    import numpy as np
    import OpenEXR

    with OpenEXR.File(str(p)) as f:
        channels = f.channels()
        key = next(iter(channels))
        return np.asarray(channels[key].pixels, dtype=np.float64)


def write_depth(path: str | os.PathLike[str], depth_m: torch.Tensor) -> None:
    """Write a (1, 1, H, W) or (H, W) depth map in metres atomically as ``.npy`` or ``.exr``."""
    import numpy as np

    d = depth_m.detach().float().cpu().reshape(depth_m.shape[-2:]).numpy()
    suffix = Path(path).suffix.lower()
    check(suffix in (".npy", ".exr"), lambda: f"depth output must be .npy or .exr, got {str(path)!r}")
    with atomic_path(path) as tmp:
        if suffix == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, d)
        else:
            import OpenEXR

            header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
            with OpenEXR.File(header, {"Z": d}) as f:
                f.write(str(tmp))
