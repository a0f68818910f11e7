"""The renderer's kernel cache: aperture kernels ready to convolve, on the input's device and dtype.

Kernels are made in two steps, each computed once:

1. :meth:`Aperture.kernel <refocus_bench.simulators.render.apertures.Aperture.kernel>` integrates the
   aperture over the pixel footprint at one radius: float64 on the CPU, kept for the whole process in
   the apertures module (512 most recent (shape, radius) pairs);
2. a :class:`KernelCache` turns it into what a convolution takes: signed (rotated 180 deg in front of
   the focus plane), restricted to a sub-aperture cell, without its all-zero outer rings, moved to a
   device and cast to a dtype. This step is cached per (shape, signed radius, cell, device, dtype).

:func:`~refocus_bench.simulators.render.rgbd.render_bokeh` and
:func:`~refocus_bench.simulators.render.layered.render_layered` use a fresh :class:`KernelCache` per call
unless they are given one, so within one render each kernel is moved to the device once (not once per
tile, batch sample or cat's-eye zone); a
:class:`~refocus_bench.simulators.render.module.DefocusRenderer` keeps one for its lifetime.

Example:
    >>> from refocus_bench.simulators.render.apertures import Disk
    >>> cache = KernelCache()
    >>> k = cache.get(Disk(), -2.5, dtype=torch.float32)
    >>> tuple(k.shape), k.dtype, len(cache)
    ((7, 7), torch.float32, 1)
    >>> cache.get(Disk(), -2.5, dtype=torch.float32) is k
    True
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TypeVar

import torch

from ...errors import check
from .apertures import Aperture
from .subaperture import WHOLE_APERTURE, ApertureCell

__all__ = ["KernelCache", "trim_zero_ring"]

T = TypeVar("T")


def trim_zero_ring(kernel: torch.Tensor) -> torch.Tensor:
    """(..., K, K) kernel without its all-zero outer rings (kernels carry one for anti-aliasing
    support; it costs a third of the multiply-adds of a 7x7 to 9x9 convolution). Same result."""
    while kernel.shape[-1] > 1:
        ring = torch.cat([kernel[..., 0, :], kernel[..., -1, :], kernel[..., :, 0], kernel[..., :, -1]], -1)
        if bool((ring != 0).any()):
            break
        kernel = kernel[..., 1:-1, 1:-1]
    return kernel


class KernelCache:
    """Kernels ready to convolve, keyed by (aperture shape, signed radius, cell, device, dtype).

    Args:
        max_elements: the cache forgets its least recently used kernels when they hold more than this
            many values in all (default 2^24, 64 MiB of float32).

    A kernel is the aperture's (:meth:`ApertureCell.kernel`, float64 on the CPU) without its
    all-zero outer rings (:func:`trim_zero_ring`), then moved and cast; the radius is the exact
    float the renderer asks for, so cached and fresh kernels are the same bits.
    """

    def __init__(self, max_elements: int = 1 << 24) -> None:
        check(max_elements > 0, lambda: f"max_elements must be > 0, got {max_elements}")
        self.max_elements = max_elements
        self._kernels: OrderedDict[tuple, object] = OrderedDict()
        self._elements = 0

    def get(
        self,
        aperture: Aperture,
        coc_px: float,
        cell: ApertureCell = WHOLE_APERTURE,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """(K, K) kernel of ``cell`` of ``aperture`` at signed radius ``coc_px`` (px), on ``device`` in ``dtype``."""
        device = torch.device(device if device is not None else "cpu")
        key = (aperture.cache_key(), float(coc_px), cell, device, dtype)
        return self.cached(key, lambda: trim_zero_ring(cell.kernel(aperture, coc_px)).to(device=device, dtype=dtype))

    def cached(self, key: tuple, make: Callable[[], T]) -> T:
        """The value kept under ``key``, made by ``make()`` (anything with a ``numel()``) the first time."""
        value = self._kernels.get(key)
        if value is not None:
            self._kernels.move_to_end(key)
            return value
        value = make()
        self._kernels[key] = value
        self._elements += value.numel()
        while self._elements > self.max_elements and len(self._kernels) > 1:
            _, old = self._kernels.popitem(last=False)
            self._elements -= old.numel()
        return value

    def clear(self) -> None:
        """Forget every kernel (e.g. after the owner moved to another device)."""
        self._kernels.clear()
        self._elements = 0

    def __len__(self) -> int:
        return len(self._kernels)

    def __repr__(self) -> str:
        return f"KernelCache({len(self)} kernels, {self._elements} values)"
