"""sha256 helpers: files, bytes, text, canonical JSON, tensors and a streaming hasher (standard library only).

Weights, benchmark caches, dataset copies, pair shards, results records and example images are all
pinned by these hex digests. Modules of the package call these helpers rather than ``hashlib``; the
few that still call ``hashlib`` directly need something these do not give (a base64 digest for a
Content-Security-Policy hash, raw digest bytes for a seed).

>>> bytes_sha256(b"")[:16]
'e3b0c44298fc1c14'
>>> text_sha256("a") == bytes_sha256(b"a")
True
>>> canonical_json({"b": 1, "a": [1.5, None]})
'{"a":[1.5,null],"b":1}'
>>> json_sha256({"b": 1, "a": 2}) == text_sha256('{"a":2,"b":1}')
True
>>> h = sha256_hasher(); h.update(b"a"); h.hexdigest() == bytes_sha256(b"a")
True
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

__all__ = [
    "file_sha256",
    "bytes_sha256",
    "text_sha256",
    "canonical_json",
    "json_sha256",
    "sha256_hasher",
    "tensors_sha256",
]

_CHUNK = 1 << 20


def sha256_hasher() -> Any:
    """A fresh streaming sha256 object (``update(bytes)`` then ``hexdigest()``), for digests built piece by piece."""
    return hashlib.sha256()


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


def text_sha256(text: str, encoding: str = "utf-8", errors: str = "strict") -> str:
    """Hex sha256 of ``text`` encoded with ``encoding`` (``errors`` as in :meth:`str.encode`)."""
    return hashlib.sha256(text.encode(encoding, errors)).hexdigest()


def canonical_json(obj: Any) -> str:
    """Deterministic JSON text: sorted keys, no spaces, ASCII only, non-finite floats refused (ValueError)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def json_sha256(obj: Any) -> str:
    """Hex sha256 of :func:`canonical_json` of ``obj``."""
    return text_sha256(canonical_json(obj), "ascii")


def tensors_sha256(tensors: Mapping[str, Any]) -> str:
    """Hex sha256 over sorted ``(name, dtype, shape, little-endian bytes)`` of a dict of torch tensors.

    Independent of how the tensors were stored (file layout, order, device); dtype and shape count.
    Tensors are duck-typed (``detach().cpu().contiguous().numpy()``), so this module imports no torch.
    """
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        arr = t.numpy()
        h.update(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())
    return h.hexdigest()
