"""The layered, occlusion-aware defocus engine (linear light, one sample at a time).

The scene is a stack of layers sorted from near to far, each with premultiplied linear colour,
coverage (alpha) and one signed CoC radius. Every layer is blurred with the aperture kernel at its
own fractional radius and the results are composited with the "over" operator, blurred alpha
included, so a blurred foreground spreads over what is behind it while a sharp foreground is
never overrun by a blurred background.

Speed comes from three things:

* strongly blurred layers carry no fine detail, so a layer whose radius is ``>= 2 * coarse_radius_px``
  is rendered at a power-of-two reduced resolution (area-downsampled, blurred with the kernel at
  the reduced radius, bilinearly upsampled) - the strategy of real-time depth-of-field renderers;
  the reduced radius is corrected so the blur's second moment matches the full-resolution one;
* the "over" operator is associative, so the near half of the stack is composited front to back
  and the far half back to front; both then run from coarse to fine and accumulators only ever
  need upsampling;
* kernels are cached per (aperture, radius); small kernels use kornia's spatial ``filter2d`` and
  large ones its ``fft_conv``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from kornia.filters import fft_conv, filter2d

from ..errors import check
from .apertures import Aperture, CatsEye, signed_kernel

__all__ = ["RenderConfig", "Layer", "composite_layers", "layer_scale", "BACKENDS"]

BACKENDS = {"auto", "spatial", "fft"}

KernelFn = Callable[[Aperture, float], torch.Tensor]


@dataclass(frozen=True)
class RenderConfig:
    """Quality/speed settings of the layered renderer (all radii in pixels).

    Attributes:
        min_layer_step_px: largest spacing of RGB-D depth layers near the focus plane (px of CoC).
        rel_layer_step: spacing of RGB-D layers far from focus, relative to the radius
            (0.15 = one layer every 15% of CoC growth). Pixels between two layers are split between
            them linearly, so radii are never rounded.
        coarse_radius_px: layers with |CoC| >= 2x this are rendered at reduced resolution, keeping
            the reduced kernel radius in [coarse, 2 coarse). ``inf`` renders everything at full size.
        backend: "spatial" (kornia ``filter2d``), "fft" (kornia ``fft_conv``) or "auto".
        fft_min_kernel_px: in "auto", kernels at least this wide use the FFT.
        highlight_gain: >1 boosts clipped highlights in linear light before blurring (off = 1).
        highlight_threshold: sRGB value above which a pixel counts as (partly) clipped.
        chromatic_scale: per-channel CoC multipliers (R, G, B) for longitudinal chromatic
            aberration, e.g. (1.03, 1.0, 0.97); None = achromatic.
        cats_eye_zones: for a :class:`CatsEye` aperture, the image is covered by this many zones per
            axis, each with its own kernel, blended bilinearly.
        fill_disocclusions: RGB-D input only: extend each depth layer behind the layers in front
            of it (local mean colour) so a blurred foreground reveals plausible background.
    """

    min_layer_step_px: float = 0.5
    rel_layer_step: float = 0.1
    coarse_radius_px: float = 8.0
    backend: str = "auto"
    fft_min_kernel_px: int = 23
    highlight_gain: float = 1.0
    highlight_threshold: float = 0.95
    chromatic_scale: tuple[float, float, float] | None = None
    cats_eye_zones: int = 5
    fill_disocclusions: bool = True

    def __post_init__(self) -> None:
        check(self.min_layer_step_px > 0, lambda: f"min_layer_step_px must be > 0 px, got {self.min_layer_step_px}")
        check(0 < self.rel_layer_step < 1, lambda: f"rel_layer_step must be in (0, 1), got {self.rel_layer_step}")
        check(self.coarse_radius_px >= 2, lambda: f"coarse_radius_px must be >= 2 px (or inf), got {self.coarse_radius_px}")
        check(self.backend in BACKENDS, lambda: f"backend must be one of {sorted(BACKENDS)}, got {self.backend!r}")
        check(self.highlight_gain >= 1, lambda: f"highlight_gain must be >= 1 (1 = off), got {self.highlight_gain}")
        check(0 < self.highlight_threshold < 1, lambda: f"highlight_threshold must be in (0, 1), got {self.highlight_threshold}")
        if self.chromatic_scale is not None:
            cs = tuple(self.chromatic_scale)
            check(len(cs) == 3 and all(0.5 <= c <= 2 for c in cs), lambda: f"chromatic_scale must be 3 values in [0.5, 2], got {cs}")
        check(isinstance(self.cats_eye_zones, int) and self.cats_eye_zones >= 1, "cats_eye_zones must be an int >= 1")


@dataclass
class Layer:
    """One layer: premultiplied linear colour ``(3, H, W)``, coverage ``(1, H, W)``, signed CoC (px)."""

    color: torch.Tensor
    alpha: torch.Tensor
    coc_px: float


def layer_scale(coc_px: float, coarse_radius_px: float) -> int:
    """Power-of-two downsampling factor for a layer of radius ``|coc_px|``."""
    r = abs(coc_px)
    if not math.isfinite(coarse_radius_px) or r < 2 * coarse_radius_px:
        return 1
    return 2 ** int(math.floor(math.log2(r / coarse_radius_px)))


def reduced_radius(coc_px: float, scale: int) -> float:
    """Radius (reduced px) whose blur, with the down/upsampling, matches ``coc_px`` at full size.

    Area-downsampling by ``s`` adds a per-axis variance of s^2/12, bilinear upsampling s^2/6 and the
    coarser pixel footprint of the kernel s^2/6 - 1/6 (px^2); a disk of radius R has R^2/4.
    """
    if scale == 1:
        return abs(coc_px)
    r2 = coc_px * coc_px - (5.0 / 3.0) * scale * scale + 2.0 / 3.0
    return math.sqrt(max(r2, (0.5 * coc_px) ** 2)) / scale


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
            k = self.kernel_fn(aperture, math.copysign(rr, r))
            ks.append(k.to(device=device, dtype=dtype))
        size = max(k.shape[-1] for k in ks)
        ks = [F.pad(k, [(size - k.shape[-1]) // 2] * 4) for k in ks]
        if len(ks) == 1:
            return ks[0].expand(channels, size, size)
        # colour channels use their own radius; alpha channels follow the matching colour channel
        return torch.stack([ks[i % 3] for i in range(channels)])

    def __call__(self, x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
        """Convolve (C, h, w) with (C, K, K) kernels; true convolution, reflect borders."""
        if kernels.shape[-1] == 1:
            return x * kernels.reshape(-1, 1, 1)
        backend = self.config.backend
        if backend == "auto":
            backend = "fft" if kernels.shape[-1] >= self.config.fft_min_kernel_px else "spatial"
        fn = fft_conv if backend == "fft" else filter2d
        same = bool((kernels == kernels[:1]).all())
        if same:  # one kernel for all channels: a single batched call
            return fn(x[None], kernels[:1], border_type="reflect", behaviour="conv")[0]
        return fn(x[:, None], kernels, border_type="reflect", behaviour="conv")[:, 0]


def _zone_weights(h: int, w: int, zones: int, device, dtype) -> tuple[list[tuple[float, float]], torch.Tensor]:
    """Zone centres in normalised image coords and (Z, h, w) bilinear partition-of-unity weights."""
    ys = torch.linspace(-1.0, 1.0, h, device=device, dtype=dtype)
    xs = torch.linspace(-1.0, 1.0, w, device=device, dtype=dtype)
    centres_1d = torch.linspace(-1.0, 1.0, zones, device=device, dtype=dtype) if zones > 1 else torch.zeros(1, device=device, dtype=dtype)
    step = 2.0 / (zones - 1) if zones > 1 else float("inf")
    wy = (1.0 - (ys[None, :] - centres_1d[:, None]).abs() / step).clamp(min=0.0)
    wx = (1.0 - (xs[None, :] - centres_1d[:, None]).abs() / step).clamp(min=0.0)
    weights = (wy[:, None, :, None] * wx[None, :, None, :]).reshape(-1, h, w)
    diag = math.hypot(1.0, 1.0)
    centres = [(float(cx) / diag, float(cy) / diag) for cy in centres_1d for cx in centres_1d]
    return centres, weights


def _blur_layer(conv: _Convolver, layer_stack: torch.Tensor, aperture: Aperture, coc_px: float, scale: int) -> torch.Tensor:
    """Blur a (C, h, w) stack at the reduced scale; cat's-eye apertures vary over the image."""
    c, h, w = layer_stack.shape
    if isinstance(aperture, CatsEye) and conv.config.cats_eye_zones > 1 and coc_px != 0:
        centres, weights = _zone_weights(h, w, conv.config.cats_eye_zones, layer_stack.device, layer_stack.dtype)
        out = torch.zeros_like(layer_stack)
        for (x, y), wz in zip(centres, weights):
            k = conv.kernels(aperture.at(x, y), coc_px, scale, c, layer_stack.device, layer_stack.dtype)
            out = out + wz * conv(layer_stack, k)
        return out
    k = conv.kernels(aperture, coc_px, scale, c, layer_stack.device, layer_stack.dtype)
    return conv(layer_stack, k)


def composite_layers(
    layers: Sequence[Callable[[int], torch.Tensor]],
    cocs: Sequence[float],
    aperture: Aperture,
    size: tuple[int, int],
    config: RenderConfig,
    kernel_fn: KernelFn,
    *,
    alpha_channels: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Blur and composite layers sorted near -> far; returns premultiplied colour and coverage.

    Args:
        layers: one callable per layer, ``make(scale) -> (3 + alpha_channels, H/scale, W/scale)``
            giving the premultiplied linear colour and coverage already area-downsampled; the
            engine asks for each layer once, so large scenes are streamed.
        cocs: signed CoC radius (px) of each layer, ascending (near -> far).
        aperture: the aperture shape.
        size: full-resolution (H, W); both must be divisible by every layer's scale.
        alpha_channels: 1, or 3 when the alpha is blurred per colour channel (chromatic).

    Returns:
        ``(color (3, H, W), coverage (alpha_channels, H, W))`` - the "over" composite of all layers.
    """
    check(len(layers) == len(cocs) and len(cocs) > 0, "composite_layers needs one CoC per layer")
    conv = _Convolver(config, kernel_fn)
    scales = [layer_scale(c, config.coarse_radius_px) for c in cocs]
    near = [i for i, c in enumerate(cocs) if c < 0]  # front to back: most negative (coarsest) first
    far = [i for i, c in enumerate(cocs) if c >= 0][::-1]  # back to front: farthest (coarsest) first
    h, w = size

    def upsample(t: torch.Tensor | None, s_from: int, s_to: int) -> torch.Tensor | None:
        if t is None or s_from == s_to:
            return t
        return F.interpolate(t[None], size=(h // s_to, w // s_to), mode="bilinear", align_corners=False)[0]

    # near group, front to back: acc_c += T * P ; acc_a += T * A ; T *= (1 - A)
    acc_c = acc_a = trans = None
    cur = None
    for i in near:
        s = scales[i]
        acc_c, acc_a, trans = (upsample(t, cur, s) if cur is not None else t for t in (acc_c, acc_a, trans))
        cur = s
        blurred = _blur_layer(conv, layers[i](s), aperture, cocs[i], s)
        p, a = blurred[:3], blurred[3:]
        if acc_c is None:
            acc_c, acc_a, trans = p, a, 1.0 - a
        else:
            acc_c = acc_c + trans * p
            acc_a = acc_a + trans * a
            trans = trans * (1.0 - a)
    near_state = (acc_c, acc_a, trans, cur)

    # far group, back to front: (C, A) <- (P, A_l) over (C, A)
    f_c = f_a = None
    cur = None
    for i in far:
        s = scales[i]
        if cur is not None:
            f_c, f_a = upsample(f_c, cur, s), upsample(f_a, cur, s)
        cur = s
        blurred = _blur_layer(conv, layers[i](s), aperture, cocs[i], s)
        p, a = blurred[:3], blurred[3:]
        if f_c is None:
            f_c, f_a = p, a
        else:
            f_c = p + (1.0 - a) * f_c
            f_a = a + (1.0 - a) * f_a
    if f_c is not None:
        f_c, f_a = upsample(f_c, cur, 1), upsample(f_a, cur, 1)

    acc_c, acc_a, trans, cur = near_state
    if acc_c is None:
        return f_c, f_a
    acc_c, acc_a, trans = (upsample(t, cur, 1) for t in (acc_c, acc_a, trans))
    if f_c is None:
        return acc_c, acc_a
    return acc_c + trans * f_c, acc_a + trans * f_a
