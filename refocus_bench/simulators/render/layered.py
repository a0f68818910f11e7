"""The layered, occlusion-aware defocus engine (linear light, one sample at a time).

The scene is a stack of layers sorted from near to far, each with premultiplied linear colour,
coverage (alpha) and one signed CoC radius. Every layer is blurred with the aperture kernel at its
own fractional radius and the results are composited with the "over" operator, blurred alpha
included, so a blurred foreground spreads over what is behind it while a sharp foreground is
never overrun by a blurred background.

Speed comes from these things:

* strongly blurred layers carry no fine detail, so a layer whose radius is ``>= 2 * coarse_radius_px``
  is rendered at a power-of-two reduced resolution (area-downsampled, blurred with the kernel at
  the reduced radius, bilinearly upsampled) - the strategy of real-time depth-of-field renderers;
  the reduced radius is corrected so the blur's second moment matches the full-resolution one;
* the "over" operator is associative, so the near half of the stack is composited front to back
  and the far half back to front; both then run from coarse to fine and accumulators only ever
  need upsampling;
* kernels are cached per (aperture, radius); large kernels run through kornia's ``fft_conv``, small
  ones through kornia's ``filter2d`` on GPU and, on CPU, through the same depthwise convolution on a
  channels-last tensor (:func:`direct_conv`, ~3-10x faster there, identical results);
* each layer is processed only inside the bounding box of the tiles it touches;
* large temporaries (layer stacks, padded convolution inputs) reuse scratch buffers
  (:mod:`~refocus_bench.simulators.render.scratch`) instead of being faulted in afresh for every layer.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from kornia.filters import fft_conv, filter2d

from ...errors import check
from .apertures import Aperture, CatsEye
from .scratch import scratch

__all__ = [
    "RenderConfig",
    "composite_layers",
    "layer_scale",
    "reduced_radius",
    "direct_conv",
    "run_convolution",
    "record_convolutions",
    "BACKENDS",
]

BACKENDS = {"auto", "spatial", "fft", "direct"}

KernelFn = Callable[[Aperture, float], torch.Tensor]


@dataclass(frozen=True)
class RenderConfig:
    """Quality/speed settings of the layered renderer (all radii in pixels).

    Attributes:
        min_layer_step_px: largest spacing of RGB-D depth layers near the focus plane (px of CoC).
        rel_layer_step: spacing of RGB-D layers far from focus, relative to the radius
            (0.35 = one layer every 35% of CoC growth). Pixels between two layers are split between
            them linearly, so radii are never rounded; a point light between two layers is drawn as
            the mix of the two discs (its RMS radius stays within ~0.45 px of the true one from
            1 to 16 px). With the defaults (2 px, 0.35) the 1024x1024 benchmark scene renders ~11x
            faster than the scatter baseline; (1 px, 0.2) halves the spacing for ~1.6x the time,
            with the same fidelity against the reference (README, "Fidelity").
        coarse_radius_px: layers with |CoC| >= 2x this are rendered at reduced resolution, keeping
            the reduced kernel radius in [coarse, 2 coarse). ``inf`` renders everything at full size.
        backend: "spatial" (kornia ``filter2d``), "fft" (kornia ``fft_conv``), "direct" (channels-last
            depthwise ``conv2d``, same result as ``filter2d``, ~10x faster on CPU) or "auto": the FFT
            for kernels at least ``fft_min_kernel_px`` wide, else "direct" on CPU and "spatial" on GPU.
        fft_min_kernel_px: in "auto", kernels at least this wide use the FFT.
        highlight_gain: >1 boosts clipped highlights in linear light before blurring (off = 1).
        highlight_threshold: sRGB value above which a pixel counts as (partly) clipped.
        chromatic_scale: per-channel CoC multipliers (R, G, B) for longitudinal chromatic
            aberration, e.g. (1.03, 1.0, 0.97); None = achromatic.
        cats_eye_zones: for a :class:`CatsEye` aperture, the image is covered by this many zones per
            axis, each with its own kernel, blended bilinearly.
        fill_disocclusions: RGB-D input only: extend each depth layer behind the layers in front
            of it (local mean colour) so a blurred foreground reveals plausible background.
        group_tolerance_px, group_tolerance_rel: layered scenes only: consecutive planes whose radii
            differ by at most max(px, rel * |r|) (and have the same sign) are composited sharp and
            blurred each at its own radius (exact for equal radii); 0 disables grouping.
        tile_px: RGB-D images larger than this are rendered in tiles of this size (with a halo
            covering every blur), which bounds peak memory; cat's-eye apertures are not tiled.
        aperture_splits: 2 renders the four quadrants of the aperture separately and sums them (see
            :mod:`~refocus_bench.simulators.render.subaperture`): more exact occlusion between defocused
            layers, 4x the cost; 1 renders the whole aperture at once. None = automatic: 2 for layered scenes (:func:`render_layered`, where hidden content is
            known and occlusion order is the remaining error), 1 for RGB-D input and cat's-eye apertures.
    """

    min_layer_step_px: float = 2.0
    rel_layer_step: float = 0.35
    coarse_radius_px: float = 3.0
    backend: str = "auto"
    fft_min_kernel_px: int = 17
    highlight_gain: float = 1.0
    highlight_threshold: float = 0.95
    chromatic_scale: tuple[float, float, float] | None = None
    cats_eye_zones: int = 5
    fill_disocclusions: bool = True
    tile_px: int = 1024
    group_tolerance_px: float = 1.0
    group_tolerance_rel: float = 0.1
    aperture_splits: int | None = None

    def __post_init__(self) -> None:
        check(self.min_layer_step_px > 0, lambda: f"min_layer_step_px must be > 0 px, got {self.min_layer_step_px}")
        check(0 < self.rel_layer_step < 1, lambda: f"rel_layer_step must be in (0, 1), got {self.rel_layer_step}")
        check(
            self.coarse_radius_px >= 2,
            lambda: f"coarse_radius_px must be >= 2 px (or inf), got {self.coarse_radius_px}",
        )
        check(self.backend in BACKENDS, lambda: f"backend must be one of {sorted(BACKENDS)}, got {self.backend!r}")
        check(self.highlight_gain >= 1, lambda: f"highlight_gain must be >= 1 (1 = off), got {self.highlight_gain}")
        check(
            0 < self.highlight_threshold < 1,
            lambda: f"highlight_threshold must be in (0, 1), got {self.highlight_threshold}",
        )
        if self.chromatic_scale is not None:
            cs = tuple(self.chromatic_scale)
            check(
                len(cs) == 3 and all(0.5 <= c <= 2 for c in cs),
                lambda: f"chromatic_scale must be 3 values in [0.5, 2], got {cs}",
            )
        check(isinstance(self.cats_eye_zones, int) and self.cats_eye_zones >= 1, "cats_eye_zones must be an int >= 1")
        check(
            isinstance(self.tile_px, int) and self.tile_px >= 64,
            lambda: f"tile_px must be an int >= 64, got {self.tile_px!r}",
        )
        check(
            self.aperture_splits in (None, 1, 2) and not isinstance(self.aperture_splits, bool),
            lambda: f"aperture_splits must be None (automatic), 1 or 2, got {self.aperture_splits!r}",
        )

    def splits_for(self, aperture: Aperture, layered: bool) -> int:
        """Sub-aperture grid size to use: ``aperture_splits`` or the automatic choice."""
        if self.aperture_splits is None:
            return 2 if layered and not isinstance(aperture, CatsEye) else 1
        check(
            self.aperture_splits == 1 or not isinstance(aperture, CatsEye),
            "aperture_splits > 1 is not supported with a cat's-eye aperture (its kernel varies over the image)",
        )
        return self.aperture_splits


def layer_scale(coc_px: float, coarse_radius_px: float) -> int:
    """Power-of-two downsampling factor for a layer of radius ``|coc_px|``."""
    r = abs(coc_px)
    if not math.isfinite(coarse_radius_px) or r < 2 * coarse_radius_px:
        return 1
    return 2 ** int(math.floor(math.log2(r / coarse_radius_px)))


REDUCED_RADIUS_SHRINK = 0.35
"""Fraction of the resampling blur taken off a reduced-resolution kernel's radius (see below)."""


def reduced_radius(coc_px: float, scale: int) -> float:
    """Radius (reduced px) of the kernel that stands for ``coc_px`` at ``scale`` times less resolution.

    Area-downsampling by ``s``, bilinear upsampling and the coarser kernel footprint together add a
    per-axis variance of about (5 s^2 - 2) / 12 px^2, which softens the disc's edge. Taking all of it
    off the radius (a disk of radius R has variance R^2 / 4) matches the blur's second moment but
    moves the half-intensity edge of a bokeh disc inwards by ~0.8 px; taking none leaves it ~0.5 px
    outside. ``REDUCED_RADIUS_SHRINK`` = 0.35 of it keeps the edge within ~0.5 px (measured at 5 to
    20 px) and scores best against the reference on the fidelity scenes.
    """
    if scale == 1:
        return abs(coc_px)
    r2 = coc_px * coc_px - REDUCED_RADIUS_SHRINK * ((5.0 / 3.0) * scale * scale - 2.0 / 3.0)
    return math.sqrt(max(r2, (0.5 * coc_px) ** 2)) / scale


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


def _reflect_indices(n: int, pad: int, device: torch.device) -> torch.Tensor:
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
        x = x[:, _reflect_indices(h, pad, x.device)][:, :, _reflect_indices(w, pad, x.device)]
        return _run_convolution(backend, x, kernels)[:, pad : pad + h, pad : pad + w]
    if backend == "direct":
        return direct_conv(x, kernels)
    fn = fft_conv if backend == "fft" else filter2d
    if bool((kernels == kernels[:1]).all()):  # one kernel for all channels: a single batched call
        return fn(x[None], kernels[:1], border_type="reflect", behaviour="conv")[0]
    return fn(x[:, None], kernels, border_type="reflect", behaviour="conv")[:, 0]


def _trim_zero_ring(kernel: torch.Tensor) -> torch.Tensor:
    """(..., K, K) kernel without its all-zero outer rings (kernels carry one for anti-aliasing
    support; it costs a third of the multiply-adds of a 7x7 to 9x9 convolution). Same result."""
    while kernel.shape[-1] > 1:
        ring = torch.cat([kernel[..., 0, :], kernel[..., -1, :], kernel[..., :, 0], kernel[..., :, -1]], -1)
        if bool((ring != 0).any()):
            break
        kernel = kernel[..., 1:-1, 1:-1]
    return kernel


class _Convolver:
    """Blurs (C, h, w) stacks with per-channel kernels through kornia, choosing the backend."""

    def __init__(self, config: RenderConfig, kernel_fn: KernelFn) -> None:
        self.config = config
        self.kernel_fn = kernel_fn

    def kernels(self, aperture: Aperture, coc_px: float, scale: int, channels: int, device, dtype) -> torch.Tensor:
        """(channels, K, K): per-channel kernels (chromatic scaling applies to colour channels)."""
        cs = self.config.chromatic_scale
        radii = [coc_px * c for c in cs] if cs is not None else [coc_px]
        ks = []
        for r in radii:
            rr = reduced_radius(r, scale)
            k = _trim_zero_ring(self.kernel_fn(aperture, math.copysign(rr, r)))
            ks.append(k.to(device=device, dtype=dtype))
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


def _zone_weights(h: int, w: int, zones: int, device, dtype) -> tuple[list[tuple[float, float]], torch.Tensor]:
    """Zone centres in normalised image coords and (Z, h, w) bilinear partition-of-unity weights."""
    ys = torch.linspace(-1.0, 1.0, h, device=device, dtype=dtype)
    xs = torch.linspace(-1.0, 1.0, w, device=device, dtype=dtype)
    centres_1d = (
        torch.linspace(-1.0, 1.0, zones, device=device, dtype=dtype)
        if zones > 1
        else torch.zeros(1, device=device, dtype=dtype)
    )
    step = 2.0 / (zones - 1) if zones > 1 else float("inf")
    wy = (1.0 - (ys[None, :] - centres_1d[:, None]).abs() / step).clamp(min=0.0)
    wx = (1.0 - (xs[None, :] - centres_1d[:, None]).abs() / step).clamp(min=0.0)
    weights = (wy[:, None, :, None] * wx[None, :, None, :]).reshape(-1, h, w)
    diag = math.hypot(1.0, 1.0)
    centres = [(float(cx) / diag, float(cy) / diag) for cy in centres_1d for cx in centres_1d]
    return centres, weights


def _blur_layer(
    conv: _Convolver, layer_stack: torch.Tensor, aperture: Aperture, coc_px: float, scale: int, zone_weights=None
) -> torch.Tensor:
    """Blur a (C, h, w) stack at the reduced scale; cat's-eye apertures vary over the image."""
    c = layer_stack.shape[0]
    if zone_weights is not None and coc_px != 0:
        centres, weights = zone_weights
        out = torch.zeros_like(layer_stack)
        for (x, y), wz in zip(centres, weights):  # the PSF follows the position of the source
            k = conv.kernels(aperture.at(x, y), coc_px, scale, c, layer_stack.device, layer_stack.dtype)
            out = out + conv(wz * layer_stack, k)
        return out
    k = conv.kernels(aperture, coc_px, scale, c, layer_stack.device, layer_stack.dtype)
    return conv(layer_stack, k)


def kernel_reach(coc_px: float, scale: int, config: RenderConfig) -> int:
    """Half-width (reduced px) of the kernels used for a layer, chromatic scaling included."""
    grow = max(config.chromatic_scale) if config.chromatic_scale is not None else 1.0
    return int(math.ceil(reduced_radius(coc_px * grow, scale) + 1.0)) + 1


Box = tuple[int, int, int, int]
"""A crop (y0, y1, x0, x1) in full-resolution pixels."""

LayerFn = Callable[[int, Box], torch.Tensor]


def upsample_planes(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear (align_corners=False) resize of (C, h, w) to (C, *size), each channel as its own image:
    PyTorch's CPU kernel converts a multi-channel image to channels-last and back (2x slower)."""
    return F.interpolate(x[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


class _Accumulator:
    """A full-frame tensor updated crop by crop: in place, or on a copy when autograd records."""

    def __init__(self, value: torch.Tensor, copy: bool) -> None:
        self.value = value
        self.copy = copy and torch.is_grad_enabled()

    def update(self, box: tuple[slice, slice], fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Apply ``fn`` to the crop ``box``; ``fn`` updates its argument in place and returns it."""
        region = (slice(None),) + box
        if self.copy:
            new = self.value.clone()
            new[region] = fn(self.value[region].clone())
            self.value = new
        else:
            fn(self.value[region])

    def resize(self, size: tuple[int, int]) -> None:
        if tuple(self.value.shape[-2:]) != size:
            self.value = upsample_planes(self.value, size)


def composite_layers(
    layers: Sequence[LayerFn],
    cocs: Sequence[float],
    boxes: Sequence[Box],
    aperture: Aperture,
    size: tuple[int, int],
    config: RenderConfig,
    kernel_fn: KernelFn,
    *,
    alpha_channels: int,
    margins: Sequence[int] | None = None,
    requires_grad: bool = False,
    parts: Sequence[Sequence[float]] | None = None,
    psf_normalizer: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Blur and composite layers sorted near -> far; returns premultiplied colour and coverage.

    Args:
        layers: one callable per layer, ``make(scale, box) -> (3 + alpha_channels, h, w)`` giving
            the premultiplied linear colour and coverage inside the full-resolution crop ``box``,
            area-downsampled by ``scale``. Each layer is requested once, so scenes are streamed.
        cocs: signed CoC radius (px) of each layer, ascending (near -> far).
        boxes: full-resolution bounding box (y0, y1, x0, x1) of each layer's support.
        aperture: the aperture shape.
        size: full-resolution (H, W); both must be divisible by every layer's scale.
        alpha_channels: 1, or 3 when the alpha is blurred per colour channel (chromatic).
        margins: extra full-resolution pixels to add around each box (e.g. for fills).
        requires_grad: the inputs require gradients (accumulators are then updated by copy).
        parts: optional radii of the parts of each layer: the layer's stack then holds one
            (3 + alpha_channels)-channel block per part, each blurred with its own radius and
            summed (a group of planes at nearly equal depths, composited sharp beforehand).
        psf_normalizer: with a spatially varying (cat's-eye) aperture, also composite each layer's
            blurred coverage divided by the blur of a constant 1 with the same kernels (which is not
            1 where the PSF changes across the frame), as ``alpha_channels`` extra colour channels.
            Dividing the colour by that instead of the coverage fills compositing gaps without
            undoing the energy that each source spreads with its own PSF.

    Returns:
        ``(color (3 [+ alpha_channels], H, W), coverage (alpha_channels, H, W))`` - the "over"
        composite of all layers.
    """
    check(len(layers) == len(cocs) == len(boxes) and len(cocs) > 0, "composite_layers needs one CoC and box per layer")
    conv = _Convolver(config, kernel_fn)
    h, w = size
    scales = [layer_scale(c, config.coarse_radius_px) for c in cocs]
    margins = list(margins) if margins is not None else [0] * len(cocs)
    live = [b[1] > b[0] and b[3] > b[2] for b in boxes]  # layers with no pixels are skipped
    near = [i for i, c in enumerate(cocs) if c < 0 and live[i]]  # front to back: most negative first
    far = [i for i, c in enumerate(cocs) if c >= 0 and live[i]][::-1]  # back to front: farthest first
    check(near or far, "composite_layers got only empty layers")
    zones: dict[int, tuple] = {}

    radii = [list(p) for p in parts] if parts is not None else [[c] for c in cocs]

    def crop(i: int) -> tuple[Box, tuple[slice, slice]]:
        """The layer's box grown by its kernel reach, aligned to its scale, clipped to the frame."""
        s = scales[i]
        grow = max(kernel_reach(r, s, config) for r in radii[i]) * s + margins[i]
        y0, y1, x0, x1 = boxes[i]
        y0, x0 = max(0, (y0 - grow) // s * s), max(0, (x0 - grow) // s * s)
        y1, x1 = min(h, -(-(y1 + grow) // s) * s), min(w, -(-(x1 + grow) // s) * s)
        return (y0, y1, x0, x1), (slice(y0 // s, y1 // s), slice(x0 // s, x1 // s))

    def blurred(i: int) -> tuple[torch.Tensor, tuple[slice, slice]]:
        s = scales[i]
        box, sl = crop(i)
        stack = layers[i](s, box)
        zw = None
        if isinstance(aperture, CatsEye) and config.cats_eye_zones > 1:
            if s not in zones:
                zones[s] = _zone_weights(h // s, w // s, config.cats_eye_zones, stack.device, stack.dtype)
            centres, weights = zones[s]
            zw = (centres, weights[(slice(None),) + sl])
        block = stack.shape[0] // len(radii[i])
        normalize = psf_normalizer and zw is not None
        out = None
        for k, r in enumerate(radii[i]):
            part = stack[k * block : (k + 1) * block]
            if normalize:  # blur constant 1s alongside (one per alpha): the local sum of the varying PSFs
                part = torch.cat([part, torch.ones_like(part[3:])])
            b = _blur_layer(conv, part, aperture, r, s, zw)
            if normalize:
                b, psf_sum = b[:block], b[block:]
                b = torch.cat([b[:3], b[3:] / psf_sum.clamp(min=1e-8), b[3:]])
            out = b if out is None else out + b
        return out, sl

    def frame(fill: float, channels: int, s: int, like: torch.Tensor) -> _Accumulator:
        value = torch.full((channels, h // s, w // s), fill, dtype=like.dtype, device=like.device)
        return _Accumulator(value, copy=requires_grad)

    # near group, front to back: C += T * P ; A += T * A_l ; T *= (1 - A_l)
    n_color = 3 + (alpha_channels if psf_normalizer else 0)

    def per_color(t: torch.Tensor) -> torch.Tensor:
        """Alpha-shaped (1 or 3 channels) -> one per colour channel (the normaliser channels follow R, G, B)."""
        return t if t.shape[0] in (1, n_color) else t.repeat(n_color // t.shape[0], 1, 1)

    near_acc: list[_Accumulator] = []
    for i in near:
        out, sl = blurred(i)
        s = scales[i]
        if not near_acc:
            near_acc = [
                frame(0.0, n_color, s, out),
                frame(0.0, alpha_channels, s, out),
                frame(1.0, alpha_channels, s, out),
            ]
        for acc in near_acc:
            acc.resize((h // s, w // s))
        acc_c, acc_a, trans = near_acc
        t_old = trans.value[(slice(None),) + sl]
        p, a = out[:n_color], out[n_color:]
        acc_c.update(sl, lambda v: v.addcmul_(per_color(t_old), p))
        acc_a.update(sl, lambda v: v.addcmul_(t_old, a))
        trans.update(sl, lambda v: v.mul_(1.0 - a))

    # far group, back to front: (C, A) <- (P, A_l) over (C, A)
    far_acc: list[_Accumulator] = []
    for i in far:
        out, sl = blurred(i)
        s = scales[i]
        if not far_acc:
            far_acc = [frame(0.0, n_color, s, out), frame(0.0, alpha_channels, s, out)]
        for acc in far_acc:
            acc.resize((h // s, w // s))
        p, a = out[:n_color], out[n_color:]
        one_minus_a = 1.0 - a
        far_acc[0].update(sl, lambda v: v.mul_(per_color(one_minus_a)).add_(p))  # p + (1 - a) v
        far_acc[1].update(sl, lambda v: v.mul_(one_minus_a).add_(a))

    for acc in near_acc + far_acc:
        acc.resize((h, w))
    if not near_acc:
        return far_acc[0].value, far_acc[1].value
    acc_c, acc_a, trans = (acc.value for acc in near_acc)
    if not far_acc:
        return acc_c, acc_a
    return acc_c + per_color(trans) * far_acc[0].value, acc_a + trans * far_acc[1].value
