"""Deblurring baselines: Wiener and Richardson-Lucy deconvolution per CoC layer, unsharp masking.

Defocus blur is spatially varying, so the image is deconvolved once per CoC *layer*: the signed
CoC range is covered by the renderer's layer radii (:func:`~refocus_bench.simulators.render.rgbd.layer_centres`),
the whole image is deconvolved with the aperture kernel at each layer radius, and every pixel takes
a linear blend of the two layers that bracket its own CoC. The CoC comes from an oracle (the
``coc_px`` hint of :meth:`RefocusModel.deblur`) or is estimated per tile by
:func:`estimate_coc_px`. All deconvolution runs in linear light (the renderer blurs there); inputs
and outputs are sRGB (B, 3, H, W) in [0, 1].

Boundaries: by default the image is mirrored to (2H, 2W) before the FFT (an even extension, periodic
and continuous), so frame edges neither wrap around nor ring; ``boundary="periodic"`` deconvolves a
circular blur exactly.

Example:
    >>> img = torch.rand(1, 3, 32, 32, dtype=torch.float64)
    >>> k = Disk().kernel(2.0, dtype=torch.float64)
    >>> blurred = fft_convolve(img, k, boundary="periodic")
    >>> restored = wiener_deconvolve(blurred, k, nsr=1e-14, boundary="periodic")
    >>> bool((restored - img).abs().max() < 1e-3)
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb
from kornia.filters import gaussian_blur2d, spatial_gradient

from ...errors import check, check_tensor
from ...simulators.render.apertures import Aperture, Disk, make_aperture, signed_kernel  # noqa: F401 (Disk: doctest)
from ...simulators.render.config import RenderConfig
from ...simulators.render.rgbd import layer_centres
from ..base import ModelCard, RefocusModel

__all__ = [
    "BOUNDARIES",
    "COC_SOURCES",
    "fft_convolve",
    "wiener_deconvolve",
    "richardson_lucy",
    "deconvolve_layered",
    "estimate_coc_px",
    "unsharp_mask",
    "WienerDeblur",
    "RichardsonLucyDeblur",
    "UnsharpMask",
]

BOUNDARIES = {"reflect", "periodic"}
COC_SOURCES = {"auto", "estimate"}
"""``auto``: use the oracle ``coc_px`` when the caller gives one, else estimate; ``estimate``: always estimate."""


# -- FFT helpers ------------------------------------------------------------------------------------
def _extend(x: torch.Tensor, boundary: str) -> torch.Tensor:
    """Even (mirror) extension to (2H, 2W): periodic *and* continuous, so the FFT sees no wrap edge."""
    if boundary == "periodic":
        return x
    x = torch.cat([x, torch.flip(x, dims=(-1,))], dim=-1)
    return torch.cat([x, torch.flip(x, dims=(-2,))], dim=-2)


def _otf(kernel: torch.Tensor, shape: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
    """rFFT of ``kernel`` placed on an ``shape`` grid with its centre at (0, 0).

    A kernel larger than the grid is folded modulo the grid (exact for circular convolution).
    """
    kh, kw = kernel.shape
    h, w = shape
    if kh <= h and kw <= w:
        big = torch.zeros(h, w, dtype=dtype, device=kernel.device)
        big[:kh, :kw] = kernel.to(dtype)
        big = torch.roll(big, shifts=(-(kh // 2), -(kw // 2)), dims=(0, 1))
    else:
        rows = (torch.arange(kh, device=kernel.device) - kh // 2) % h
        cols = (torch.arange(kw, device=kernel.device) - kw // 2) % w
        big = torch.zeros(h * w, dtype=dtype, device=kernel.device)
        big.index_add_(0, (rows[:, None] * w + cols[None, :]).flatten(), kernel.to(dtype).flatten())
        big = big.reshape(h, w)
    return torch.fft.rfft2(big)


def _check_kernel(kernel: torch.Tensor) -> None:
    check_tensor(kernel, "kernel", ["kH", "kW"])
    check(
        kernel.shape[0] % 2 == 1 and kernel.shape[1] % 2 == 1,
        lambda: f"kernel must have odd sizes, got {tuple(kernel.shape)}",
    )


def fft_convolve(x: torch.Tensor, kernel: torch.Tensor, *, boundary: str = "reflect") -> torch.Tensor:
    """Convolve every channel of (B, C, H, W) with a centred (kH, kW) kernel via the FFT."""
    _check_kernel(kernel)
    check(boundary in BOUNDARIES, lambda: f"boundary must be one of {sorted(BOUNDARIES)}, got {boundary!r}")
    xp = _extend(x, boundary)
    otf = _otf(kernel, xp.shape[-2:], x.dtype)
    y = torch.fft.irfft2(torch.fft.rfft2(xp) * otf, s=xp.shape[-2:])
    return y[..., : x.shape[-2], : x.shape[-1]]


def wiener_deconvolve(
    x: torch.Tensor, kernel: torch.Tensor, *, nsr: float = 3e-3, boundary: str = "reflect"
) -> torch.Tensor:
    """Wiener deconvolution ``conj(K) / (|K|^2 + nsr)`` of (B, C, H, W) (linear light) by ``kernel``.

    Args:
        x: blurred image, any float dtype; values are not clipped.
        kernel: (kH, kW), odd sizes, unit sum (the PSF).
        nsr: noise-to-signal power ratio (> 0); larger = smoother, less ringing.
        boundary: "reflect" (even mirror extension to (2H, 2W)) or "periodic".
    """
    _check_kernel(kernel)
    check(nsr > 0 and math.isfinite(nsr), lambda: f"nsr must be a finite number > 0, got {nsr}")
    check(boundary in BOUNDARIES, lambda: f"boundary must be one of {sorted(BOUNDARIES)}, got {boundary!r}")
    if kernel.numel() == 1:
        return x.clone()
    xp = _extend(x, boundary)
    otf = _otf(kernel, xp.shape[-2:], x.dtype)
    filt = otf.conj() / (otf.abs() ** 2 + nsr)
    y = torch.fft.irfft2(torch.fft.rfft2(xp) * filt, s=xp.shape[-2:])
    return y[..., : x.shape[-2], : x.shape[-1]]


def richardson_lucy(
    x: torch.Tensor, kernel: torch.Tensor, *, iterations: int = 30, boundary: str = "reflect", eps: float = 1e-6
) -> torch.Tensor:
    """Richardson-Lucy deconvolution of a non-negative (B, C, H, W) image (linear light).

    Each iteration multiplies the estimate by the back-projected ratio ``x / (k * est)``; with a
    unit-sum kernel and periodic boundaries the total flux is preserved exactly.
    """
    _check_kernel(kernel)
    check(
        isinstance(iterations, int) and iterations >= 0, lambda: f"iterations must be an int >= 0, got {iterations!r}"
    )
    check(boundary in BOUNDARIES, lambda: f"boundary must be one of {sorted(BOUNDARIES)}, got {boundary!r}")
    if kernel.numel() == 1 or iterations == 0:
        return x.clone()
    xp = _extend(x.clamp(min=0.0), boundary)
    otf = _otf(kernel, xp.shape[-2:], x.dtype)
    shape = xp.shape[-2:]
    est = xp.clone()
    for _ in range(iterations):
        blurred = torch.fft.irfft2(torch.fft.rfft2(est) * otf, s=shape)
        ratio = xp / blurred.clamp(min=eps)
        est = est * torch.fft.irfft2(torch.fft.rfft2(ratio) * otf.conj(), s=shape)
    return est[..., : x.shape[-2], : x.shape[-1]]


# -- spatially varying deconvolution ------------------------------------------------------------------
Deconvolver = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def deconvolve_layered(
    image: torch.Tensor,
    coc_px: torch.Tensor,
    deconvolve: Deconvolver,
    *,
    aperture: str | Aperture = "disk",
    layer_step_px: float = 0.5,
    rel_layer_step: float = 0.1,
) -> torch.Tensor:
    """Deconvolve an sRGB image whose blur varies with a signed CoC map, one CoC layer at a time.

    Args:
        image: sRGB (B, 3, H, W) in [0, 1].
        coc_px: signed CoC radius (B, 1, H, W) in pixels of the blur to remove.
        deconvolve: ``f(linear (1, 3, H, W), kernel (kH, kW)) -> linear (1, 3, H, W)``.
        aperture: the aperture whose kernel blurred the image.
        layer_step_px, rel_layer_step: layer spacing, as in the renderer's :class:`RenderConfig`.

    Returns:
        sRGB (B, 3, H, W) in [0, 1].
    """
    sizes = check_tensor(image, "image", ["B", 3, "H", "W"], min_value=0.0, max_value=1.0)
    check_tensor(coc_px, "coc_px", [sizes["B"], 1, sizes["H"], sizes["W"]])
    ap = make_aperture(aperture)
    config = RenderConfig(min_layer_step_px=layer_step_px, rel_layer_step=rel_layer_step)
    lin = rgb_to_linear_rgb(image)
    outs = []
    for i in range(image.shape[0]):
        c = coc_px[i, 0].to(image.dtype)
        centres = layer_centres(float(c.min()), float(c.max()), config)
        acc = torch.zeros_like(lin[i : i + 1])
        if len(centres) == 1:
            weights = [torch.ones_like(c)]
        else:
            t = torch.tensor(centres, dtype=c.dtype, device=c.device)
            idx = (torch.bucketize(c, t, right=True) - 1).clamp(0, len(centres) - 2)
            frac = ((c - t[idx]) / (t[idx + 1] - t[idx])).clamp(0.0, 1.0)
            weights = [
                torch.where(idx == j, 1.0 - frac, torch.zeros_like(c))
                + torch.where(idx == j - 1, frac, torch.zeros_like(c))
                for j in range(len(centres))
            ]
        h, w = c.shape
        for r, wgt in zip(centres, weights):
            rows, cols = torch.nonzero((wgt > 0).any(1)).flatten(), torch.nonzero((wgt > 0).any(0)).flatten()
            if len(rows) == 0:
                continue
            kernel = signed_kernel(ap, r, device=image.device, dtype=image.dtype)
            # deconvolve only the layer's bounding box plus a margin of several kernel widths: pixels
            # farther away barely influence the result, and most layers cover a small part of the frame
            m = 4 * kernel.shape[-1] + 8
            y0, y1 = max(0, int(rows[0]) - m), min(h, int(rows[-1]) + 1 + m)
            x0, x1 = max(0, int(cols[0]) - m), min(w, int(cols[-1]) + 1 + m)
            part = deconvolve(lin[i : i + 1, :, y0:y1, x0:x1], kernel)
            acc[..., y0:y1, x0:x1] = acc[..., y0:y1, x0:x1] + wgt[y0:y1, x0:x1] * part
        outs.append(acc)
    return linear_rgb_to_rgb(torch.cat(outs).clamp(0.0, 1.0))


def estimate_coc_px(
    image: torch.Tensor,
    *,
    max_radius_px: float = 12.0,
    tile_px: int = 32,
    reblur_sigma_px: float = 2.0,
    min_gradient: float = 0.01,
) -> torch.Tensor:
    """Blind per-tile CoC estimate (B, 1, H, W) in pixels (unsigned: the sign is not observable).

    Gradient-ratio method (Zhuo & Sim, Pattern Recognition 2011): re-blurring an edge blurred by a
    Gaussian of std ``s`` with a known Gaussian ``s0`` divides its gradient by
    ``R = sqrt(s^2 + s0^2) / s``, so ``s = s0 / sqrt(R^2 - 1)``. The ratio is read at gradient maxima
    of the linear luminance, the median per ``tile_px`` tile is taken, and a disk of radius ``r``
    is matched by its second moment (``s = r / 2``). Tiles without edges take the image median.
    """
    sizes = check_tensor(image, "image", ["B", 3, "H", "W"], min_value=0.0, max_value=1.0)
    check(max_radius_px > 0 and reblur_sigma_px > 0, "max_radius_px and reblur_sigma_px must be > 0")
    check(isinstance(tile_px, int) and tile_px >= 8, lambda: f"tile_px must be an int >= 8, got {tile_px!r}")
    b, h, w = sizes["B"], sizes["H"], sizes["W"]
    gray = rgb_to_linear_rgb(image).mean(1, keepdim=True)
    k = 2 * math.ceil(3 * reblur_sigma_px) + 1
    reblurred = gaussian_blur2d(gray, (k, k), (reblur_sigma_px, reblur_sigma_px), border_type="reflect")
    m1 = spatial_gradient(gray).norm(dim=2)
    m2 = spatial_gradient(reblurred).norm(dim=2)
    ratio = (m1 / m2.clamp(min=1e-12)).clamp(min=1.0 + 1e-3)
    radius = (2.0 * reblur_sigma_px / (ratio**2 - 1.0).sqrt()).clamp(max=max_radius_px)
    edges = (m1 >= F.max_pool2d(m1, 3, 1, 1)) & (m1 > min_gradient)
    vals = torch.where(edges, radius, torch.full_like(radius, float("nan")))
    th, tw = -(-h // tile_px), -(-w // tile_px)
    vals = F.pad(vals, (0, tw * tile_px - w, 0, th * tile_px - h), value=float("nan"))
    tiles = vals.reshape(b, th, tile_px, tw, tile_px).permute(0, 1, 3, 2, 4).reshape(b, th, tw, -1)
    per_tile = tiles.nanmedian(-1).values  # (B, th, tw), NaN where a tile has no edge
    fill = torch.nan_to_num(vals.flatten(1).nanmedian(1).values, nan=0.0)
    per_tile = torch.where(torch.isnan(per_tile), fill[:, None, None], per_tile)
    return F.interpolate(per_tile[:, None], size=(h, w), mode="bilinear", align_corners=False)


def unsharp_mask(image: torch.Tensor, *, sigma_px: float = 1.5, amount: float = 1.0) -> torch.Tensor:
    """``image + amount * (image - gaussian(image, sigma))`` in sRGB, clipped to [0, 1]."""
    check_tensor(image, "image", ["B", 3, "H", "W"], min_value=0.0, max_value=1.0)
    check(sigma_px > 0 and amount >= 0, lambda: f"sigma_px must be > 0 and amount >= 0, got {sigma_px}, {amount}")
    k = 2 * math.ceil(3 * sigma_px) + 1
    blurred = gaussian_blur2d(image, (k, k), (sigma_px, sigma_px), border_type="reflect")
    return (image + amount * (image - blurred)).clamp(0.0, 1.0)


# -- models -------------------------------------------------------------------------------------------
_DECONV_CONTRACT = (
    "sRGB (B, 3, H, W); uses the oracle coc_px hint when given (coc_source='auto'), "
    "else a per-tile blind estimate; assumes the blur kernel is the given aperture"
)


class _LayeredDeconvolution(RefocusModel):
    """Shared logic: resolve the CoC map (oracle or estimate), then :func:`deconvolve_layered`."""

    def __init__(
        self, aperture: str = "disk", coc_source: str = "auto", max_radius_px: float = 12.0, tile_px: int = 32
    ) -> None:
        super().__init__()
        check(coc_source in COC_SOURCES, lambda: f"coc_source must be one of {sorted(COC_SOURCES)}, got {coc_source!r}")
        check(
            isinstance(aperture, str),
            lambda: f"aperture must be a registered name or an image path, got {type(aperture).__name__}",
        )
        self.aperture, self.coc_source = aperture, coc_source
        self.max_radius_px, self.tile_px = float(max_radius_px), int(tile_px)
        self._ap = make_aperture(aperture)

    def _base_config(self) -> dict:
        return {
            "aperture": self.aperture,
            "coc_source": self.coc_source,
            "max_radius_px": self.max_radius_px,
            "tile_px": self.tile_px,
        }

    def _method(self, lin: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _deblur(self, image: torch.Tensor, coc_px: torch.Tensor | None) -> torch.Tensor:
        if coc_px is None or self.coc_source == "estimate":
            coc_px = estimate_coc_px(image, max_radius_px=self.max_radius_px, tile_px=self.tile_px)
        return deconvolve_layered(image, coc_px.to(image.dtype), self._method, aperture=self._ap)


class WienerDeblur(_LayeredDeconvolution):
    """Wiener deconvolution with the aperture kernel per CoC layer (oracle or estimated CoC).

    The default ``nsr`` (0.03) had the best LPIPS on the validation split of the synthetic pairs
    among 1e-3, 1e-2 and 3e-2: occlusion edges break the one-kernel-per-layer model, and a smaller
    ratio rings there.
    """

    card = ModelCard(
        name="deblur.wiener",
        tasks=("deblur",),
        summary="Wiener deconvolution per CoC layer in linear light (oracle or estimated CoC)",
        source="refocus-bench",
        licence="Apache-2.0",
        paper="N. Wiener, Extrapolation, Interpolation, and Smoothing of Stationary Time Series, 1949",
        input_contract=_DECONV_CONTRACT,
    )

    def __init__(
        self,
        nsr: float = 3e-2,
        aperture: str = "disk",
        coc_source: str = "auto",
        max_radius_px: float = 12.0,
        tile_px: int = 32,
    ) -> None:
        super().__init__(aperture, coc_source, max_radius_px, tile_px)
        check(nsr > 0, lambda: f"nsr must be > 0, got {nsr}")
        self.nsr = float(nsr)

    def config(self) -> dict:
        return {"nsr": self.nsr, **self._base_config()}

    def _method(self, lin: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        return wiener_deconvolve(lin, kernel, nsr=self.nsr)


class RichardsonLucyDeblur(_LayeredDeconvolution):
    """Richardson-Lucy deconvolution with the aperture kernel per CoC layer (oracle or estimated CoC)."""

    card = ModelCard(
        name="deblur.richardson_lucy",
        tasks=("deblur",),
        summary="Richardson-Lucy deconvolution per CoC layer in linear light (oracle or estimated CoC)",
        source="refocus-bench",
        licence="Apache-2.0",
        paper="W. H. Richardson, JOSA 1972; L. B. Lucy, Astronomical Journal 1974",
        input_contract=_DECONV_CONTRACT,
    )

    def __init__(
        self,
        iterations: int = 30,
        aperture: str = "disk",
        coc_source: str = "auto",
        max_radius_px: float = 12.0,
        tile_px: int = 32,
    ) -> None:
        super().__init__(aperture, coc_source, max_radius_px, tile_px)
        check(
            isinstance(iterations, int) and iterations >= 1,
            lambda: f"iterations must be an int >= 1, got {iterations!r}",
        )
        self.iterations = iterations

    def config(self) -> dict:
        return {"iterations": self.iterations, **self._base_config()}

    @classmethod
    def dummy_kwargs(cls) -> dict:
        return {"iterations": 3}

    def _method(self, lin: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        return richardson_lucy(lin, kernel, iterations=self.iterations)


class UnsharpMask(RefocusModel):
    """Unsharp masking in sRGB: a sharpening filter that ignores the blur's size and shape."""

    card = ModelCard(
        name="deblur.unsharp",
        tasks=("deblur",),
        summary="unsharp masking (Gaussian high-boost) in sRGB; ignores the CoC",
        source="refocus-bench",
        licence="Apache-2.0",
        paper="",
        input_contract="sRGB (B, 3, H, W); the coc_px hint is ignored",
    )

    def __init__(self, sigma_px: float = 1.5, amount: float = 1.0) -> None:
        super().__init__()
        check(sigma_px > 0 and amount >= 0, lambda: f"sigma_px must be > 0 and amount >= 0, got {sigma_px}, {amount}")
        self.sigma_px, self.amount = float(sigma_px), float(amount)

    def config(self) -> dict:
        return {"sigma_px": self.sigma_px, "amount": self.amount}

    def _deblur(self, image: torch.Tensor, coc_px: torch.Tensor | None) -> torch.Tensor:
        return unsharp_mask(image, sigma_px=self.sigma_px, amount=self.amount)
