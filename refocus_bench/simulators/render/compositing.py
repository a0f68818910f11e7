"""Blur-and-composite of a stack of layers (linear light, one sample at a time).

The scene is a stack of layers sorted from near to far, each with premultiplied linear colour,
coverage (alpha) and one signed CoC radius. Every layer is blurred with the aperture kernel at its
own fractional radius and the results are composited with the "over" operator, blurred alpha
included, so a blurred foreground spreads over what is behind it while a sharp foreground is
never overrun by a blurred background.

With ``occludes`` (RGB-D soft layers, ``RenderConfig.occlusion_gap_px`` / ``_rel``) a layer attenuates only
the layers far enough behind it (:class:`DeferredFrontToBack`, :class:`DeferredBackToFront`; the near half
still covers the far half as a whole): soft layers close in depth share one surface, which "over" would
darken and mix.

Speed comes from these things:

* strongly blurred layers carry no fine detail, so a layer whose radius is ``>= 2 * coarse_radius_px``
  is rendered at a power-of-two reduced resolution (area-downsampled, blurred with the kernel at
  the reduced radius, bilinearly upsampled) - the strategy of real-time depth-of-field renderers;
  the reduced radius is corrected so the blur's second moment matches the full-resolution one
  (:func:`~refocus_bench.simulators.render.config.reduced_radius`);
* the "over" operator is associative, so the near half of the stack is composited front to back
  (:class:`FrontToBack`) and the far half back to front (:class:`BackToFront`); both then run from
  coarse to fine and accumulators only ever need upsampling;
* kernels come from a :class:`~refocus_bench.simulators.render.kernels.KernelCache` and are
  convolved by :class:`~refocus_bench.simulators.render.convolution.Convolver`;
* each layer is processed only inside the bounding box of the tiles it touches;
* large temporaries (layer stacks, padded convolution inputs) reuse scratch buffers
  (:mod:`~refocus_bench.simulators.render.scratch`) instead of being faulted in afresh for every layer.

Example (one sharp opaque layer composites to itself):
    >>> from refocus_bench.simulators.render.apertures import Disk
    >>> from refocus_bench.simulators.render.config import RenderConfig
    >>> from refocus_bench.simulators.render.kernels import KernelCache
    >>> stack = torch.cat([torch.rand(3, 8, 8, dtype=torch.float64), torch.ones(1, 8, 8, dtype=torch.float64)])
    >>> config = RenderConfig().for_input(layered=True)
    >>> color, cover = composite_layers(
    ...     [lambda s, box: stack], [0.0], [(0, 8, 0, 8)], Disk(), (8, 8), config, KernelCache(),
    ...     alpha_channels=1,
    ... )
    >>> bool(torch.equal(color, stack[:3])), bool(torch.equal(cover, stack[3:]))
    (True, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from ...errors import check
from .apertures import Aperture, CatsEye
from .config import RenderConfig, layer_scale, reduced_radius
from .convolution import Convolver
from .kernels import KernelCache
from .subaperture import WHOLE_APERTURE, ApertureCell

__all__ = [
    "composite_layers",
    "Box",
    "LayerFn",
    "kernel_reach",
    "mask_box",
    "pad_to_multiple",
    "upsample_planes",
    "FrontToBack",
    "BackToFront",
    "DeferredFrontToBack",
    "DeferredBackToFront",
    "Occludes",
    "occlusion_gap",
]

Box = tuple[int, int, int, int]
"""A crop (y0, y1, x0, x1) in full-resolution pixels."""

LayerFn = Callable[[int, Box], torch.Tensor]
"""``make(scale, box) -> (C, h, w)``: a layer's stack inside ``box``, area-downsampled by ``scale``."""

Slices = tuple[slice, slice]
ZoneWeights = tuple[list[tuple[float, float]], torch.Tensor]


def mask_box(mask: torch.Tensor, grow: int = 0) -> Box | None:
    """Bounding box (y0, y1, x0, x1) of the True pixels of an (H, W) bool mask, grown by ``grow`` px and clamped
    to the frame; None if there are none."""
    ys, xs = torch.nonzero(mask.any(1)).flatten(), torch.nonzero(mask.any(0)).flatten()
    if not len(ys):
        return None
    h, w = mask.shape
    y0, y1, x0, x1 = int(ys[0]) - grow, int(ys[-1]) + 1 + grow, int(xs[0]) - grow, int(xs[-1]) + 1 + grow
    return max(0, y0), min(h, y1), max(0, x0), min(w, x1)


def pad_to_multiple(x: torch.Tensor, m: int) -> torch.Tensor:
    """(C, H, W) padded at the bottom and right (replicating the edge) to sizes divisible by ``m``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if ph == 0 and pw == 0:
        return x
    return F.pad(x[None], (0, pw, 0, ph), mode="replicate")[0]


def upsample_planes(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear (align_corners=False) resize of (C, h, w) to (C, *size), each channel as its own image:
    PyTorch's CPU kernel converts a multi-channel image to channels-last and back (2x slower)."""
    return F.interpolate(x[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def kernel_reach(coc_px: float, scale: int, config: RenderConfig) -> int:
    """Half-width (reduced px) of the kernels used for a layer, chromatic scaling included."""
    grow = max(config.chromatic_scale) if config.chromatic_scale is not None else 1.0
    return int(math.ceil(reduced_radius(coc_px * grow, scale) + 1.0)) + 1


def _zone_weights(h: int, w: int, zones: int, device, dtype) -> ZoneWeights:
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


def _blur_stack(
    conv: Convolver, stack: torch.Tensor, aperture: Aperture, coc_px: float, scale: int, zones: ZoneWeights | None
) -> torch.Tensor:
    """Blur a (C, h, w) stack at the reduced scale; cat's-eye apertures vary over the image."""
    c = stack.shape[0]
    if zones is not None and coc_px != 0:
        centres, weights = zones
        out = torch.zeros_like(stack)
        for (x, y), wz in zip(centres, weights):  # the PSF follows the position of the source
            k = conv.kernels(aperture.at(x, y), coc_px, scale, c, stack.device, stack.dtype)
            out = out + conv(wz * stack, k)
        return out
    k = conv.kernels(aperture, coc_px, scale, c, stack.device, stack.dtype)
    return conv(stack, k)


class _LayerBlur:
    """Blurs layer ``i`` of one :func:`composite_layers` call inside its crop (see its arguments)."""

    def __init__(
        self,
        layers: Sequence[LayerFn],
        radii: list[list[float]],
        scales: list[int],
        boxes: Sequence[Box],
        margins: list[int],
        aperture: Aperture,
        size: tuple[int, int],
        config: RenderConfig,
        conv: Convolver,
        psf_normalizer: bool,
    ) -> None:
        self.layers, self.radii, self.scales, self.boxes, self.margins = layers, radii, scales, boxes, margins
        self.aperture, self.size, self.config, self.conv = aperture, size, config, conv
        self.psf_normalizer = psf_normalizer
        self._zones: dict[int, ZoneWeights] = {}

    def crop(self, i: int) -> tuple[Box, Slices]:
        """The layer's box grown by its kernel reach, aligned to its scale, clipped to the frame;
        and the same crop as slices of the layer's reduced grid."""
        s, (h, w) = self.scales[i], self.size
        grow = max(kernel_reach(r, s, self.config) for r in self.radii[i]) * s + self.margins[i]
        y0, y1, x0, x1 = self.boxes[i]
        y0, x0 = max(0, (y0 - grow) // s * s), max(0, (x0 - grow) // s * s)
        y1, x1 = min(h, -(-(y1 + grow) // s) * s), min(w, -(-(x1 + grow) // s) * s)
        return (y0, y1, x0, x1), (slice(y0 // s, y1 // s), slice(x0 // s, x1 // s))

    def zone_weights(self, s: int, sl: Slices, like: torch.Tensor) -> ZoneWeights | None:
        """Cat's-eye zone weights on the crop ``sl`` of the grid at scale ``s``; None for other apertures."""
        if not (isinstance(self.aperture, CatsEye) and self.config.cats_eye_zones > 1):
            return None
        if s not in self._zones:
            h, w = self.size
            self._zones[s] = _zone_weights(h // s, w // s, self.config.cats_eye_zones, like.device, like.dtype)
        centres, weights = self._zones[s]
        return centres, weights[(slice(None),) + sl]

    def __call__(self, i: int) -> tuple[torch.Tensor, Slices]:
        """Layer ``i`` blurred (sum of its parts' blurs) and the slices of its crop."""
        s = self.scales[i]
        box, sl = self.crop(i)
        stack = self.layers[i](s, box)
        zw = self.zone_weights(s, sl, stack)
        block = stack.shape[0] // len(self.radii[i])
        normalize = self.psf_normalizer and zw is not None
        out = None
        for k, r in enumerate(self.radii[i]):
            part = stack[k * block : (k + 1) * block]
            if normalize:  # blur constant 1s alongside (one per alpha): the local sum of the varying PSFs
                part = torch.cat([part, torch.ones_like(part[3:])])
            b = _blur_stack(self.conv, part, self.aperture, r, s, zw)
            if normalize:
                b, psf_sum = b[:block], b[block:]
                b = torch.cat([b[:3], b[3:] / psf_sum.clamp(min=1e-8), b[3:]])
            out = b if out is None else out + b
        return out, sl


class _Accumulator:
    """A full-frame tensor updated crop by crop: in place, or on a copy when autograd records."""

    def __init__(self, value: torch.Tensor, copy: bool) -> None:
        self.value = value
        self.copy = copy and torch.is_grad_enabled()

    @classmethod
    def full(cls, fill: float, channels: int, size: tuple[int, int], like: torch.Tensor, copy: bool) -> _Accumulator:
        """A (channels, *size) frame of ``fill`` on ``like``'s device and dtype."""
        return cls(torch.full((channels, *size), fill, dtype=like.dtype, device=like.device), copy)

    def update(self, box: Slices, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
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


def _per_color(t: torch.Tensor, n_color: int) -> torch.Tensor:
    """Alpha-shaped (1 or 3 channels) -> one per colour channel (the normaliser channels follow R, G, B)."""
    return t if t.shape[0] in (1, n_color) else t.repeat(n_color // t.shape[0], 1, 1)


class _Group:
    """Accumulators of one half of the stack, at the resolution of the latest layer added."""

    fills: tuple[float, ...] = ()

    def __init__(self, size: tuple[int, int], n_color: int, alpha_channels: int, copy: bool) -> None:
        self.size, self.n_color, self.copy = size, n_color, copy
        self.channels = (n_color,) + (alpha_channels,) * (len(self.fills) - 1)
        self.acc: list[_Accumulator] = []

    def _at_scale(self, s: int, like: torch.Tensor) -> list[_Accumulator]:
        """The accumulators, created at or upsampled to the grid of scale ``s``."""
        size = (self.size[0] // s, self.size[1] // s)
        if not self.acc:
            self.acc = [_Accumulator.full(f, c, size, like, self.copy) for f, c in zip(self.fills, self.channels)]
        for acc in self.acc:
            acc.resize(size)
        return self.acc

    def values(self) -> list[torch.Tensor] | None:
        """The accumulators at full resolution, or None when no layer was added."""
        self.finish()
        for acc in self.acc:
            acc.resize(self.size)
        return [acc.value for acc in self.acc] if self.acc else None

    def finish(self) -> None:
        """Apply what is still pending (only the delayed groups keep something pending)."""


class FrontToBack(_Group):
    """Near layers, front to back: ``C += T * P ; A += T * A_l ; T *= (1 - A_l)`` (T: transmittance)."""

    fills = (0.0, 0.0, 1.0)

    def add(self, out: torch.Tensor, sl: Slices, s: int, coc: float = 0.0) -> None:
        """Composite a blurred layer ``out`` (colour then alpha channels) behind what is there, in crop ``sl``."""
        acc_c, acc_a, trans = self._at_scale(s, out)
        t_old = trans.value[(slice(None),) + sl]
        p, a = out[: self.n_color], out[self.n_color :]
        acc_c.update(sl, lambda v: v.addcmul_(_per_color(t_old, self.n_color), p))
        acc_a.update(sl, lambda v: v.addcmul_(t_old, a))
        trans.update(sl, lambda v: v.mul_(1.0 - a))


class BackToFront(_Group):
    """Far layers, back to front: ``(C, A) <- (P, A_l) over (C, A)``."""

    fills = (0.0, 0.0)

    def add(self, out: torch.Tensor, sl: Slices, s: int, coc: float = 0.0) -> None:
        """Composite a blurred layer ``out`` (colour then alpha channels) over what is there, in crop ``sl``."""
        acc_c, acc_a = self._at_scale(s, out)
        p, a = out[: self.n_color], out[self.n_color :]
        one_minus_a = 1.0 - a
        acc_c.update(sl, lambda v: v.mul_(_per_color(one_minus_a, self.n_color)).add_(p))  # p + (1 - a) v
        acc_a.update(sl, lambda v: v.mul_(one_minus_a).add_(a))


Occludes = Callable[[float, float], bool]
"""``occludes(front_px, back_px)``: whether a layer of CoC ``front_px`` occludes one of CoC ``back_px`` behind it."""


class _Pending:
    """A blurred layer a :class:`_Deferred` group has not applied yet: (C, h, w) crop ``out`` at slices ``sl``
    of the grid of scale ``s``, CoC ``coc``; :meth:`at` gives it on a finer grid (crop upsampled)."""

    def __init__(self, out: torch.Tensor, sl: Slices, s: int, coc: float) -> None:
        self.out, self.sl, self.s, self.coc = out, sl, s, coc

    def at(self, s: int) -> tuple[torch.Tensor, Slices]:
        if s == self.s:
            return self.out, self.sl
        f = self.s // s
        out = upsample_planes(self.out, (self.out.shape[-2] * f, self.out.shape[-1] * f))
        return out, tuple(slice(x.start * f, x.stop * f) for x in self.sl)


class _Deferred:
    """Mixin of the groups in which a layer occludes only the layers behind it that ``occludes`` names
    (:func:`occlusion_gap`): what a layer does to the layers behind it is kept pending until a layer far
    enough behind arrives (radii are sorted, so from then on every later one is far enough too)."""

    occludes: Occludes
    pending: list[_Pending]

    def _flush(self, s: int, coc: float | None) -> None:
        """Apply the pending layers that occlude a layer of CoC ``coc`` (all of them when None)."""
        keep = []
        for item in self.pending:
            if coc is None or self._far_enough(item.coc, coc):
                self._apply(*item.at(s))
            else:
                keep.append(item)
        self.pending = keep

    def finish(self) -> None:
        if self.pending:
            self._flush(min(item.s for item in self.pending), None)


class DeferredFrontToBack(_Deferred, FrontToBack):
    """:class:`FrontToBack` in which a layer attenuates only the layers that ``occludes`` says it occludes."""

    def __init__(self, *args, occludes: Occludes, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.occludes, self.pending = occludes, []

    def _far_enough(self, pending_coc: float, coc: float) -> bool:
        return self.occludes(pending_coc, coc)

    def add(self, out: torch.Tensor, sl: Slices, s: int, coc: float = 0.0) -> None:
        acc_c, acc_a, trans = self._at_scale(s, out)
        self._flush(s, coc)
        t_old = trans.value[(slice(None),) + sl]
        p, a = out[: self.n_color], out[self.n_color :]
        acc_c.update(sl, lambda v: v.addcmul_(_per_color(t_old, self.n_color), p))
        acc_a.update(sl, lambda v: v.addcmul_(t_old, a))
        self.pending.append(_Pending(a.clone(), sl, s, coc))

    def _apply(self, a: torch.Tensor, sl: Slices) -> None:
        self.acc[2].update(sl, lambda v: v.mul_(1.0 - a))


class DeferredBackToFront(_Deferred, BackToFront):
    """:class:`BackToFront` in which a layer attenuates only the layers that ``occludes`` says it occludes:
    the layers behind it within reach are added after it (kept pending), the others attenuated."""

    def __init__(self, *args, occludes: Occludes, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.occludes, self.pending = occludes, []

    def _far_enough(self, pending_coc: float, coc: float) -> bool:
        return self.occludes(coc, pending_coc)

    def add(self, out: torch.Tensor, sl: Slices, s: int, coc: float = 0.0) -> None:
        acc_c, acc_a = self._at_scale(s, out)
        self._flush(s, coc)
        one_minus_a = 1.0 - out[self.n_color :]
        acc_c.update(sl, lambda v: v.mul_(_per_color(one_minus_a, self.n_color)))
        acc_a.update(sl, lambda v: v.mul_(one_minus_a))
        self.pending.append(_Pending(out.clone(), sl, s, coc))

    def _apply(self, out: torch.Tensor, sl: Slices) -> None:
        self.acc[0].update(sl, lambda v: v.add_(out[: self.n_color]))
        self.acc[1].update(sl, lambda v: v.add_(out[self.n_color :]))


def occlusion_gap(gap_px: float, gap_rel: float) -> Occludes:
    """Layers occlude only layers whose CoC is larger by more than ``max(gap_px, gap_rel * max(|r1|, |r2|))``."""

    def occludes(front_px: float, back_px: float) -> bool:
        return back_px - front_px > max(gap_px, gap_rel * max(abs(front_px), abs(back_px)))

    return occludes


def _merge(near: FrontToBack, far: BackToFront) -> tuple[torch.Tensor, torch.Tensor]:
    """The near composite over the far one, at full resolution."""
    front, back = near.values(), far.values()
    if front is None:
        return back[0], back[1]
    acc_c, acc_a, trans = front
    if back is None:
        return acc_c, acc_a
    return acc_c + _per_color(trans, near.n_color) * back[0], acc_a + trans * back[1]


def composite_layers(
    layers: Sequence[LayerFn],
    cocs: Sequence[float],
    boxes: Sequence[Box],
    aperture: Aperture,
    size: tuple[int, int],
    config: RenderConfig,
    kernels: KernelCache,
    *,
    cell: ApertureCell = WHOLE_APERTURE,
    alpha_channels: int,
    margins: Sequence[int] | None = None,
    requires_grad: bool = False,
    parts: Sequence[Sequence[float]] | None = None,
    psf_normalizer: bool = False,
    occludes: Occludes | None = None,
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
        config: the render settings, ``coarse_radius_px`` resolved (:meth:`RenderConfig.for_input`).
        kernels: the kernel cache the blurs take their kernels from.
        cell: blur with the kernels of this sub-aperture cell (default: the whole aperture).
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
    check(
        config.coarse_radius_px is not None,
        "composite_layers needs config.coarse_radius_px set: pass RenderConfig.for_input(layered=...)",
    )
    radii = [list(p) for p in parts] if parts is not None else [[c] for c in cocs]
    margins = list(margins) if margins is not None else [0] * len(cocs)
    scales = [layer_scale(c, config.coarse_radius_px) for c in cocs]
    conv = Convolver(config, kernels, cell)
    blur = _LayerBlur(layers, radii, scales, boxes, margins, aperture, size, config, conv, psf_normalizer)
    live = [b[1] > b[0] and b[3] > b[2] for b in boxes]  # layers with no pixels are skipped
    near_order = [i for i, c in enumerate(cocs) if c < 0 and live[i]]  # front to back: most negative first
    far_order = [i for i, c in enumerate(cocs) if c >= 0 and live[i]][::-1]  # back to front: farthest first
    check(near_order or far_order, "composite_layers got only empty layers")
    n_color = 3 + (alpha_channels if psf_normalizer else 0)
    group = (n_color, alpha_channels, requires_grad)
    if occludes is None:
        near, far = FrontToBack(size, *group), BackToFront(size, *group)
    else:
        near = DeferredFrontToBack(size, *group, occludes=occludes)
        far = DeferredBackToFront(size, *group, occludes=occludes)
    for i in near_order:
        near.add(*blur(i), scales[i], cocs[i])
    for i in far_order:
        far.add(*blur(i), scales[i], cocs[i])
    return _merge(near, far)
