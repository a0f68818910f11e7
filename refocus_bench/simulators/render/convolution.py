"""Convolution of layer stacks with per-channel kernels: backend choice, reflect borders, recording.

:class:`Convolver` blurs a (C, h, w) stack with (C, K, K) kernels taken from a
:class:`~refocus_bench.simulators.render.kernels.KernelCache`. Large kernels run through kornia's
``fft_conv``; small ones through kornia's ``filter2d`` on GPU and, on CPU, through the same depthwise
convolution on a channels-last tensor (:func:`direct_conv`, ~3-10x faster there, identical results).
All are true convolutions with reflect borders. :func:`record_convolutions` records each call for the
performance suite.

Example:
    >>> x = torch.rand(3, 16, 16, dtype=torch.float64)
    >>> k = torch.rand(3, 5, 5, dtype=torch.float64)
    >>> torch.allclose(run_convolution("direct", x, k), run_convolution("spatial", x, k))
    True
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from kornia.filters import fft_conv, filter2d

from .apertures import Aperture
from .config import RenderConfig, reduced_radius
from .kernels import KernelCache
from .scratch import scratch
from .subaperture import WHOLE_APERTURE, ApertureCell

__all__ = ["Convolver", "direct_conv", "run_convolution", "record_convolutions", "reflect_indices"]

_TRACE: list[tuple[str, torch.Tensor, torch.Tensor]] | None = None


@contextlib.contextmanager
def record_convolutions() -> Iterator[list[tuple[str, torch.Tensor, torch.Tensor]]]:
    """Record every convolution the renderer performs as ``(backend, input, kernels)``.

    Used by the benchmarks to time the raw convolutions alone and compare with the whole render.
    """
    global _TRACE
    previous, _TRACE = _TRACE, []
    try:
        yield _TRACE
    finally:
        _TRACE = previous


def reflect_indices(n: int, pad: int, device: torch.device) -> torch.Tensor:
    """Indices of the "reflect" extension of ``n`` samples by ``pad`` on each side, for any ``pad``."""
    i = torch.arange(-pad, n + pad, device=device)
    if n == 1:
        return torch.zeros_like(i)
    period = 2 * (n - 1)  # reflecting about both edges repeats with this period
    i = torch.remainder(i, period)
    return torch.where(i < n, i, period - i)


@contextlib.contextmanager
def _ieee_float32(x: torch.Tensor) -> Iterator[None]:
    """Full float32 precision for cuDNN convolutions of ``x``.

    cuDNN may run float32 convolutions in TF32 (10-bit mantissa, ~1e-3 relative error) when
    ``torch.backends.cudnn.allow_tf32`` is set (PyTorch's default). The renderer's depthwise
    convolutions showed no TF32 effect on an H100 (torch 2.11: energy error 1.07e-6 either way), but
    nothing guarantees that for every cuDNN algorithm, so the flag is cleared around them and restored.
    """
    if not (x.is_cuda and x.dtype == torch.float32 and torch.backends.cudnn.allow_tf32):
        yield
        return
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32 = True


def run_convolution(backend: str, x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """One raw convolution as the renderer calls it: (C, h, w) * (C, K, K), reflect borders."""
    with _ieee_float32(x):
        return _run_convolution(backend, x, kernels)


def _run_convolution(backend: str, x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    pad = kernels.shape[-1] // 2
    h, w = x.shape[-2:]
    if pad >= min(h, w):  # a kernel wider than the frame: padding by reflection needs pad < size
        x = x[:, reflect_indices(h, pad, x.device)][:, :, reflect_indices(w, pad, x.device)]
        return _run_convolution(backend, x, kernels)[:, pad : pad + h, pad : pad + w]
    if backend == "direct":
        return direct_conv(x, kernels)
    fn = fft_conv if backend == "fft" else filter2d
    if bool((kernels == kernels[:1]).all()):  # one kernel for all channels: a single batched call
        return fn(x[None], kernels[:1], border_type="reflect", behaviour="conv")[0]
    return fn(x[:, None], kernels, border_type="reflect", behaviour="conv")[:, 0]


class Convolver:
    """Blurs (C, h, w) stacks with per-channel kernels of one aperture cell, choosing the backend.

    Args:
        config: the render settings (backend, FFT threshold, chromatic scaling).
        kernels: where the kernels come from (and are kept).
        cell: the sub-aperture cell whose kernels are used (default: the whole aperture).
    """

    def __init__(self, config: RenderConfig, kernels: KernelCache, cell: ApertureCell = WHOLE_APERTURE) -> None:
        self.config = config
        self.cache = kernels
        self.cell = cell

    def kernels(self, aperture: Aperture, coc_px: float, scale: int, channels: int, device, dtype) -> torch.Tensor:
        """(channels, K, K): per-channel kernels (chromatic scaling applies to colour channels)."""
        cs = self.config.chromatic_scale
        radii = [coc_px * c for c in cs] if cs is not None else [coc_px]
        ks = []
        for r in radii:
            rr = reduced_radius(r, scale)
            ks.append(self.cache.get(aperture, math.copysign(rr, r), self.cell, device=device, dtype=dtype))
        size = max(k.shape[-1] for k in ks)
        ks = [F.pad(k, [(size - k.shape[-1]) // 2] * 4) for k in ks]
        if len(ks) == 1:
            return ks[0].expand(channels, size, size)
        # colour channels use their own radius; alpha channels follow the matching colour channel
        return torch.stack([ks[i % 3] for i in range(channels)])

    def backend(self, x: torch.Tensor, kernels: torch.Tensor) -> str:
        """The backend that convolves ``x`` with ``kernels`` (see :class:`RenderConfig`)."""
        backend = self.config.backend
        if backend == "auto":
            if kernels.shape[-1] >= self.config.fft_min_kernel_px:
                return "fft"
            return "direct" if x.device.type == "cpu" else "spatial"
        return backend

    def __call__(self, x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
        """Convolve (C, h, w) with (C, K, K) kernels; true convolution, reflect borders."""
        if kernels.shape[-1] == 1:
            if not (x.requires_grad and torch.is_grad_enabled()) and bool((kernels == 1).all()):
                return x  # radius 0: the identity (the caller only reads the result)
            return x * kernels.reshape(-1, 1, 1)
        backend = self.backend(x, kernels)
        if _TRACE is not None:
            _TRACE.append((backend, x.detach(), kernels.detach()))
        return run_convolution(backend, x, kernels)


def direct_conv(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """(C, h, w) * (C, K, K) true convolution with reflect borders: kornia ``filter2d``'s result.

    Runs PyTorch's depthwise ``conv2d`` on a channels-last tensor, which on CPU is about 10x faster
    than the contiguous layout that ``filter2d`` produces internally (measured at 1024x1024, 4
    channels, 3x3 to 9x9 kernels). Results equal ``filter2d(..., behaviour="conv")`` to rounding;
    the result keeps the channels-last strides (converting it back cost 5% of a render).
    """
    c, k = x.shape[0], kernels.shape[-1]
    pad = k // 2
    if x.requires_grad and torch.is_grad_enabled():
        xp = F.pad(x[None], (pad, pad, pad, pad), mode="reflect").contiguous(memory_format=torch.channels_last)
    else:
        xp = _reflect_pad_channels_last(x, pad)
    weight = torch.flip(kernels, dims=(-2, -1)).reshape(c, 1, k, k).to(x.dtype)
    return F.conv2d(xp, weight, groups=c)[0]  # channels-last strides: the compositing reads them as they are


def _reflect_pad_channels_last(x: torch.Tensor, pad: int) -> torch.Tensor:
    """``F.pad(x[None], [pad] * 4, mode="reflect")`` in channels-last memory, written in one pass
    (padding first and converting after copies the frame twice); ``pad`` < h, w; no autograd."""
    c, h, w = x.shape
    hp, wp = h + 2 * pad, w + 2 * pad
    xp = scratch("conv_input", c * hp * wp, x.dtype, x.device).view(1, hp, wp, c).permute(0, 3, 1, 2)
    inner = xp[0, :, :, pad : pad + w]
    inner[:, pad : pad + h] = x
    if pad:
        inner[:, :pad] = x[:, 1 : pad + 1].flip(-2)
        inner[:, pad + h :] = x[:, h - pad - 1 : h - 1].flip(-2)
        xp[0, :, :, :pad] = xp[0, :, :, pad + 1 : 2 * pad + 1].flip(-1)
        xp[0, :, :, pad + w :] = xp[0, :, :, w - 1 : w + pad - 1].flip(-1)
    return xp
