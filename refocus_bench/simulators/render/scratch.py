"""Reusable scratch memory for the renderer's large per-layer temporaries (CPU).

A render allocates, per depth layer, a few frame-sized temporaries (the layer's stack, the padded
input of its convolution). glibc returns large freed blocks to the kernel, so each new one is
faulted in again page by page: at 1024x1024 that was ~60 000 page faults and ~20% of a render's
time. Inside :func:`scratch_scope` (entered by the public render functions), :func:`scratch`
hands out views of one buffer per role that grows as needed and is dropped when the outermost
scope ends; outside a scope it simply allocates. Buffers are per thread.

A role's buffer is overwritten by the next request for that role: a caller must be done with the
previous view by then (the renderer asks for one layer's stack after the previous layer is blurred).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import torch

__all__ = ["scratch", "scratch_scope"]

_LOCAL = threading.local()


@contextlib.contextmanager
def scratch_scope() -> Iterator[None]:
    """Keep scratch buffers for reuse until the outermost scope of this thread exits."""
    depth = getattr(_LOCAL, "depth", 0)
    if depth == 0:
        _LOCAL.buffers = {}
    _LOCAL.depth = depth + 1
    try:
        yield
    finally:
        _LOCAL.depth = depth
        if depth == 0:
            _LOCAL.buffers = {}


def scratch(role: str, numel: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A 1-D tensor of ``numel`` elements with undefined contents, reused for ``role`` in a scope."""
    buffers = getattr(_LOCAL, "buffers", None) if getattr(_LOCAL, "depth", 0) else None
    if buffers is None or device.type != "cpu":
        return torch.empty(numel, dtype=dtype, device=device)
    key = (role, dtype)
    buf = buffers.get(key)
    if buf is None or buf.numel() < numel:
        buf = torch.empty(numel, dtype=dtype, device=device)
        buffers[key] = buf
    return buf[:numel]
