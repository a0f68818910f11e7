"""sha256 of files and bytes, the one place the toolkit computes them (standard library only).

Weights, benchmark caches, dataset copies, pair shards and example images are all pinned by these
hex digests.
"""

from __future__ import annotations

import hashlib
import os

__all__ = ["file_sha256", "bytes_sha256"]

_CHUNK = 1 << 20


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, streamed in 1 MiB chunks (memory does not grow with the file)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def bytes_sha256(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()
