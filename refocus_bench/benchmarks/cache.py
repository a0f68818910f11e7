"""On-disk cache of generated benchmarks: one folder per (name, version, config), verified by sha256.

Layout (``root`` defaults to :func:`~refocus_bench.home.benchmarks_dir`: ``$REFOCUS_BENCH_HOME/benchmarks``,
``~/.cache/refocus_bench/benchmarks``)::

    <root>/<data name>/v<version>[-<config hash>]/
        manifest.json                 every sample's id, labels, scalars and files with their sha256
        <sample id>/image.png         16-bit sRGB PNG (input)
        <sample id>/target.png        16-bit sRGB PNG (ground truth)
        <sample id>/<map>.npy         float32 (H, W) maps: depth_m (metres), *_coc_px (signed px)

The folder of the default configuration is ``v<version>``; a non-default one (``num_samples=``,
``size=`` ...) gets a suffix with a hash of its configuration, so test-sized data never shadows the
real benchmark. A folder is built under a temporary name and renamed into place only when complete
(:func:`build_atomically`), so a killed generation leaves no partial cache. Every file is written
deterministically (PNG via OpenCV with fixed settings, ``np.save``, key-sorted JSON): two builds of the
same configuration are byte-identical.

Images are stored quantised to 16 bits and *loaded back* before anything is hashed, so what a
generator returns and what the cache later loads are the same tensors.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import RefocusBenchError, check
from ..hashing import bytes_sha256, text_sha256

__all__ = [
    "CACHE_FORMAT",
    "CacheError",
    "config_dir_name",
    "quantize_image",
    "encode_png16",
    "decode_png16",
    "encode_npy",
    "decode_npy",
    "verify_cache",
    "read_manifest",
    "build_atomically",
]

CACHE_FORMAT = "refocus-bench.benchmark-cache/1"
MANIFEST = "manifest.json"


class CacheError(RefocusBenchError):
    """A benchmark cache folder that is incomplete or whose files do not match their recorded sha256."""


def config_dir_name(version: str, config: Mapping[str, Any], default: Mapping[str, Any]) -> str:
    """``v<version>`` for the default configuration, else ``v<version>-<12 hex of the config>``."""
    if dict(config) == dict(default):
        return f"v{version}"
    digest = text_sha256(json.dumps(config, sort_keys=True))[:12]
    return f"v{version}-{digest}"


# -- encoding ------------------------------------------------------------------------------------------
def quantize_image(image: torch.Tensor) -> torch.Tensor:
    """sRGB (1, 3, H, W) in [0, 1] -> the same image after a 16-bit round trip (float32)."""
    q = torch.round(image.detach().to(torch.float64).clamp(0.0, 1.0) * 65535.0)
    return (q / 65535.0).to(torch.float32)


def encode_png16(image: torch.Tensor) -> bytes:
    """16-bit RGB PNG bytes of an sRGB (1, 3, H, W) or (3, H, W) image in [0, 1] (deterministic)."""
    import cv2

    img = image[0] if image.ndim == 4 else image
    check(img.ndim == 3 and img.shape[0] == 3, lambda: f"expected an RGB image (3, H, W), got {tuple(image.shape)}")
    arr = (
        torch.round(img.detach().to(torch.float64).clamp(0.0, 1.0) * 65535.0).to(torch.int32).numpy().astype(np.uint16)
    )
    bgr = np.ascontiguousarray(arr.transpose(1, 2, 0)[..., ::-1])
    ok, buf = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    check(ok, "could not encode a 16-bit PNG")
    return buf.tobytes()


def decode_png16(data: bytes, where: str = "image") -> torch.Tensor:
    """Inverse of :func:`encode_png16`: float32 (1, 3, H, W) sRGB in [0, 1]."""
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3 or arr.shape[2] != 3:
        raise CacheError(f"{where}: not a 16-bit RGB PNG")
    rgb = np.ascontiguousarray(arr[..., ::-1].transpose(2, 0, 1)).astype(np.float64) / 65535.0
    return torch.from_numpy(rgb).to(torch.float32)[None]


def encode_npy(array: torch.Tensor | np.ndarray) -> bytes:
    """``np.save`` bytes of a float32 (H, W) map (a (1, 1, H, W) tensor is squeezed)."""
    import io

    a = array.detach().cpu().numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
    a = np.ascontiguousarray(a.reshape(a.shape[-2:]).astype("<f4"))
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def decode_npy(data: bytes, where: str = "map") -> torch.Tensor:
    """Inverse of :func:`encode_npy`: float32 (1, 1, H, W)."""
    import io

    try:
        a = np.load(io.BytesIO(data), allow_pickle=False)
    except Exception as err:  # noqa: BLE001
        raise CacheError(f"{where}: not a .npy array ({err})") from None
    if a.ndim != 2 or a.dtype != np.dtype("<f4"):
        raise CacheError(f"{where}: expected a float32 (H, W) array, got {a.dtype} {a.shape}")
    return torch.from_numpy(a.copy())[None, None]


# -- verification ----------------------------------------------------------------------------------------
def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest of a cache folder (format-checked, files not verified)."""
    path = folder / MANIFEST
    if not path.is_file():
        raise CacheError(f"benchmark cache {str(folder)!r} has no {MANIFEST} (incomplete or not a cache)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CacheError(f"{str(path)!r} is not valid JSON: {err}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != CACHE_FORMAT:
        raise CacheError(f"{str(path)!r} is not a {CACHE_FORMAT} manifest")
    return manifest


def verify_cache(folder: Path, expect: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Check a cache folder: manifest format, expected header fields, every file's sha256.

    Args:
        folder: the ``v<version>...`` folder.
        expect: manifest fields that must match (``name``, ``version``, ``config`` ...).

    Returns:
        the manifest.

    Raises:
        CacheError: naming the first file that is missing or whose sha256 differs.
    """
    manifest = read_manifest(folder)
    for key, value in (expect or {}).items():
        if manifest.get(key) != value:
            raise CacheError(
                f"benchmark cache {str(folder)!r}: manifest field {key!r} is {manifest.get(key)!r}, expected {value!r}"
            )
    samples = manifest.get("samples")
    if not isinstance(samples, list) or not all(
        isinstance(s, dict) and "id" in s and isinstance(s.get("files"), dict) for s in samples
    ):
        raise CacheError(f"benchmark cache {str(folder)!r}: manifest has no valid 'samples' list")
    for sample in samples:
        for role, entry in sample["files"].items():
            path = folder / entry["path"]
            if not path.is_file():
                raise CacheError(
                    f"benchmark cache {str(folder)!r}: file {entry['path']!r} "
                    f"({role} of sample {sample['id']!r}) is missing"
                )
            digest = bytes_sha256(path.read_bytes())
            if digest != entry["sha256"]:
                raise CacheError(
                    f"benchmark cache {str(folder)!r}: file {entry['path']!r} has sha256 {digest[:12]}..., "
                    f"the manifest records {entry['sha256'][:12]}... (the file was modified or corrupted)"
                )
    return manifest


# -- building --------------------------------------------------------------------------------------------
def _fsync_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_temporaries(parent: Path) -> None:
    """Delete ``.tmp-<pid>-*`` build folders left by processes that no longer run (killed builds)."""
    if not parent.is_dir():
        return
    for p in parent.iterdir():
        if p.is_dir() and p.name.startswith(".") and ".tmp-" in p.name:
            try:
                pid = int(p.name.split(".tmp-")[1].split("-")[0])
            except ValueError:
                continue
            if not _pid_alive(pid):
                shutil.rmtree(p, ignore_errors=True)


def build_atomically(
    folder: Path, write: Callable[[Callable[[str, bytes], str]], dict[str, Any]], *, replace: bool = False
) -> dict[str, Any]:
    """Build a cache folder under a temporary name and rename it into place when complete.

    Args:
        folder: the final ``v<version>...`` folder.
        write: ``write(put) -> manifest``; ``put(relative_path, data) -> sha256`` writes one file.
            The manifest is written last.
        replace: replace an existing folder (one found corrupt); otherwise a folder that another
            process finished meanwhile is kept and the new build discarded.

    Returns:
        the manifest of the folder now in place.
    """
    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(parent)
    tmp = parent / f".{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:

        def put(rel: str, data: bytes) -> str:
            _fsync_write(tmp / rel, data)
            return bytes_sha256(data)

        manifest = write(put)
        _fsync_write(
            tmp / MANIFEST, (json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii")
        )
        old = None
        if folder.exists() and not replace:
            return read_manifest(folder)
        if folder.exists():
            old = parent / f".{folder.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            os.replace(folder, old)
        try:
            os.rename(tmp, folder)
        except OSError:
            if not folder.is_dir():  # not a lost race: a real failure
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process built it first: keep theirs
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        return manifest
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
