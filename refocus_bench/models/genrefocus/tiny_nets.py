"""Networks of ``genrefocus.tiny``: a compact DeblurNet and BokehNet that run anywhere.

Both are *candidate-fusion* networks with a prior: a fixed, physics-derived stack of candidate
images is computed from the input, a closed-form prior says how to blend them per pixel, and a small
U-Net predicts bounded corrections to the blend logits plus a residual. The U-Net's head starts at
zero, so an untrained network *is* its prior; training teaches it what the prior gets wrong. The
candidates carry what a small CPU-trained network cannot learn cheaply (large, exactly shaped blur
kernels; inverse filters).

* :class:`TinyDeblurNet` - candidates: the blurry input and its Wiener deconvolutions with disk
  kernels of a few radii (linear light, mirror boundary); the U-Net predicts the defocus map (a
  correction of the classical gradient-ratio estimate,
  :func:`~refocus_bench.models.baselines.deconvolution.estimate_coc_px`; trained against the true
  |CoC|) and the prior interpolates between the candidates bracketing it. An optional second U-Net
  (``refine_widths``; used by the shipped weights) then writes the output as
  ``input + sum_k g_k (candidate_k - input) + g (blend - input) + residual`` with per-pixel gates in
  (-1, 1); its head starts at zero, so the untrained refinement is the identity (the blurry input),
  and it is trained with LPIPS-alex + L1. Blind: it sees only the blurry image, like GenRefocus's
  DeblurNet.
* :class:`TinyBokehNet` - candidates: the AIF image blurred with the *aperture kernel* at a few
  radii (linear light; the kernel is rotated by 180 degrees in front of the focus plane); the prior
  interpolates linearly between the two candidates whose radii bracket the requested CoC. The U-Net
  is conditioned on GenRefocus's defocus map
  ``clip(|K (1/z - 1/z_f)| / 100, 0, 1)``, the signed CoC, and on an aperture-shape image (a
  ``aperture_px`` x ``aperture_px`` transmittance raster) through FiLM on its bottleneck.

Every U-Net sees its input extended by a mirrored margin (:data:`UNET_MARGIN_PX`) that is cropped off
again, so the transient of its zero padding stays outside the frame.

Shapes: images (B, 3, H, W) sRGB in [0, 1]; CoC (B, 1, H, W) signed pixels; any H, W.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb
from torch import nn

from ...simulators.render.apertures import Aperture, Disk, signed_kernel
from ..baselines.deconvolution import estimate_coc_px, fft_convolve, wiener_deconvolve

__all__ = [
    "TinyUNet",
    "TinyDeblurNet",
    "TinyBokehNet",
    "aperture_image",
    "interp_weights",
    "COC_SCALE_PX",
    "UNET_MARGIN_PX",
]

COC_SCALE_PX = 16.0
"""The signed CoC input channel is ``clip(coc / COC_SCALE_PX, -2, 2)``."""

UNET_MARGIN_PX = 32
"""Mirror margin (px) around every :class:`TinyUNet` input, cropped off its output.

Without it the convolutions' zero padding reaches ~16 px into the frame, and the DeblurNet
refinement's gates switch there: deblurred photos got a thin dark line ~10 px inside the frame, a
rounded rectangle across smooth backgrounds (``tests/test_models_tiny_seams.py``). 32 px covers the
reach: outputs then change by < 2e-4 when the margin grows to 64 px.
"""


def aperture_image(aperture: Aperture, size: int = 32) -> torch.Tensor:
    """Transmittance of ``aperture`` sampled at pixel centres over the unit square, (1, size, size)."""
    t = (torch.arange(size, dtype=torch.float64) + 0.5) / size * 2.0 - 1.0
    v, u = torch.meshgrid(t, t, indexing="ij")
    return aperture.transmittance(u, v).to(torch.float32)[None]


class _Res(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.a = nn.Conv2d(c, c, 3, padding=1)
        self.b = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.b(F.silu(self.a(F.silu(x))))


class TinyUNet(nn.Module):
    """Three-level U-Net (strides 1, 2, 4), residual blocks, optional FiLM on the bottleneck.

    Args:
        in_ch, out_ch: channels in and out.
        widths: channels per level.
        film_dim: size of the conditioning vector (0 = none).
        margin_px: mirror margin added around the input and cropped off the output
            (:data:`UNET_MARGIN_PX`; at most the image size - 1). Weights do not depend on it.
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        widths: tuple[int, int, int] = (24, 32, 48),
        film_dim: int = 0,
        margin_px: int = UNET_MARGIN_PX,
    ) -> None:
        super().__init__()
        w0, w1, w2 = widths
        self.margin_px = int(margin_px)
        self.stem = nn.Conv2d(in_ch, w0, 3, padding=1)
        self.enc0 = _Res(w0)
        self.down1 = nn.Conv2d(w0, w1, 3, stride=2, padding=1)
        self.enc1 = _Res(w1)
        self.down2 = nn.Conv2d(w1, w2, 3, stride=2, padding=1)
        self.mid = nn.Sequential(_Res(w2), _Res(w2))
        self.film = nn.Linear(film_dim, 2 * w2) if film_dim else None
        self.up1 = nn.Conv2d(w2 + w1, w1, 3, padding=1)
        self.dec1 = _Res(w1)
        self.up0 = nn.Conv2d(w1 + w0, w0, 3, padding=1)
        self.dec0 = _Res(w0)
        self.head = nn.Conv2d(w0, out_ch, 3, padding=1)
        nn.init.zeros_(self.head.weight)  # an untrained network returns the prior
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        h, w = x.shape[-2:]
        e = min(self.margin_px, h - 1, w - 1)
        if e > 0:  # the convolutions' zero padding then acts outside the frame (see UNET_MARGIN_PX)
            x = F.pad(x, (e, e, e, e), mode="reflect")
        ph, pw = (-x.shape[-2]) % 4, (-x.shape[-1]) % 4
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        s0 = self.enc0(self.stem(x))
        s1 = self.enc1(self.down1(F.silu(s0)))
        m = self.down2(F.silu(s1))
        if self.film is not None and cond is not None:
            gamma, beta = self.film(cond).chunk(2, dim=1)
            m = m * (1 + gamma[..., None, None]) + beta[..., None, None]
        m = self.mid(m)
        u1 = self.dec1(
            self.up1(torch.cat([F.interpolate(m, size=s1.shape[-2:], mode="bilinear", align_corners=False), s1], 1))
        )
        u0 = self.dec0(
            self.up0(torch.cat([F.interpolate(u1, size=s0.shape[-2:], mode="bilinear", align_corners=False), s0], 1))
        )
        return self.head(F.silu(u0))[..., e : e + h, e : e + w]


def interp_weights(radius_px: torch.Tensor, radii: tuple[float, ...]) -> torch.Tensor:
    """Hat-function weights (B, N, H, W) over ascending ``radii`` for a radius map (B, 1, H, W).

    Each pixel splits linearly between the two radii that bracket it (clamped at the ends), so the
    weights sum to 1 and equal a one-hot on exact radii.
    """
    t = torch.tensor(radii, dtype=radius_px.dtype, device=radius_px.device)
    r = radius_px.clamp(float(t[0]), float(t[-1]))
    idx = (torch.bucketize(r, t, right=True) - 1).clamp(0, len(radii) - 2)
    frac = ((r - t[idx]) / (t[idx + 1] - t[idx])).clamp(0.0, 1.0)
    k = torch.arange(len(radii), device=r.device).reshape(1, -1, 1, 1)
    return torch.where(k == idx, 1.0 - frac, torch.zeros_like(frac)) + torch.where(
        k == idx + 1, frac, torch.zeros_like(frac)
    )


LOGIT_RANGE = 6.0
"""Bound of the learned logit corrections (keeps training stable; the prior always has a say)."""


FUSE_RESIDUAL = 0.1
"""Bound of the free RGB residual added to the fused candidates."""


def _fuse(out: torch.Tensor, candidates: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """``sum softmax(log prior + c) * candidates + residual`` (residual bounded by :data:`FUSE_RESIDUAL`).

    Candidates (B, N, 3, H, W); ``out`` (B, >= N + 3, H, W) holds N logit corrections then 3 residual channels.
    """
    n = candidates.shape[1]
    correction = LOGIT_RANGE * torch.tanh(out[:, :n] / LOGIT_RANGE)
    weights = torch.softmax(torch.log(prior + 1e-3) + correction, dim=1)[:, :, None]
    return (weights * candidates).sum(1) + FUSE_RESIDUAL * torch.tanh(out[:, n : n + 3])


class TinyDeblurNet(nn.Module):
    """Blind deblurring: a learned defocus map drives a blend of Wiener deconvolutions.

    The U-Net predicts, per pixel, the blur radius (a correction of the classical gradient-ratio
    estimate, supervised with the true |CoC| in training). The output blends the two Wiener
    candidates whose radii bracket the predicted radius, so with a perfect radius map the network
    reproduces layered Wiener deconvolution with the oracle CoC. With ``refine_widths`` a second
    U-Net refines that blend (:meth:`refine_image`). With ``fusion="learned"`` the first U-Net
    also predicts bounded corrections of the blend logits and a small residual (trained with an
    image loss; on our validation split that traded LPIPS for PSNR, so the shipped model uses
    ``fusion="prior"``).

    Args:
        radii: disk radii (px) of the Wiener candidates (radius 0 is the input itself).
        nsr: Wiener noise-to-signal ratio of the candidates.
        widths: U-Net widths.
        fusion: "prior" (blend fixed by the predicted radius) or "learned".
        refine_widths: widths of the refinement U-Net, or ``None`` for no refinement.
        refine_residual: bound of the refinement's free RGB residual (0 = gated candidates only).
    """

    def __init__(
        self,
        radii: tuple[float, ...] = (1.0, 1.5, 2.0, 3.0, 4.0, 5.5, 8.0, 12.0),
        nsr: float = 3e-2,
        widths: tuple[int, int, int] = (24, 32, 48),
        fusion: str = "prior",
        refine_widths: tuple[int, int, int] | None = None,
        refine_residual: float = 0.1,
    ) -> None:
        super().__init__()
        if fusion not in ("prior", "learned"):
            raise ValueError(f"fusion must be 'prior' or 'learned', got {fusion!r}")
        self.radii, self.nsr, self.fusion = tuple(float(r) for r in radii), float(nsr), fusion
        n = len(self.radii) + 1
        self.unet = TinyUNet(3 * n + 1, n + 4 if fusion == "learned" else 1, widths)
        # refinement: input + gated candidate differences + residual; zero head = the identity
        self.refine = TinyUNet(3 * n + 5, n + 3, tuple(refine_widths)) if refine_widths else None
        self.refine_residual = float(refine_residual)

    def coc_estimate(self, image: torch.Tensor) -> torch.Tensor:
        """Classical blind CoC estimate (B, 1, H, W) px, the starting point of the learned one."""
        with torch.no_grad():
            return estimate_coc_px(image.clamp(0.0, 1.0), max_radius_px=max(self.radii))

    def candidates(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 1 + len(radii), 3, H, W): the input and its Wiener deconvolutions, sRGB."""
        lin = rgb_to_linear_rgb(image)
        out = [image]
        for r in self.radii:
            k = Disk().kernel(r, device=image.device, dtype=image.dtype)
            out.append(linear_rgb_to_rgb(wiener_deconvolve(lin, k, nsr=self.nsr).clamp(0.0, 1.0)))
        return torch.stack(out, dim=1)

    def fuse(self, cands: torch.Tensor, coc_est: torch.Tensor, return_coc: bool = False, refine: bool = True):
        """Fusion of precomputed :meth:`candidates` given :meth:`coc_estimate` (training crops both).

        Returns the image (B, 3, H, W), and with ``return_coc`` also the predicted |CoC| (B, 1, H, W) px.
        ``refine=False`` skips the refinement (the prior blend by the predicted radius).
        """
        n = cands.shape[1]
        out = self.unet(torch.cat([cands.flatten(1, 2), coc_est / COC_SCALE_PX], dim=1))
        coc = (coc_est + 4.0 * out[:, -1:]).clamp(min=0.0)
        prior = interp_weights(coc, (0.0,) + self.radii)
        if self.fusion == "learned":
            image = _fuse(out[:, : n + 3], cands, prior)
        else:
            image = (prior[:, :, None] * cands).sum(1)
        if refine and self.refine is not None:
            image = self.refine_image(cands, image, coc, coc_est)
        return (image, coc) if return_coc else image

    def refine_image(
        self, cands: torch.Tensor, blend: torch.Tensor, coc: torch.Tensor, coc_est: torch.Tensor
    ) -> torch.Tensor:
        """``input + sum_k g_k (candidate_k - input) + g (blend - input) + residual``, gates in (-1, 1).

        The residual is ``refine_residual * tanh(.)`` per channel (absent when ``refine_residual`` is 0).

        ``cands`` (B, N, 3, H, W) from :meth:`candidates`, ``blend`` the prior blend (B, 3, H, W), ``coc``
        the predicted and ``coc_est`` the classical |CoC| (B, 1, H, W) px. The head of the refinement
        U-Net starts at zero, so an untrained refinement returns the blurry input unchanged.
        """
        n = cands.shape[1]
        x = cands[:, 0]
        out = self.refine(torch.cat([cands.flatten(1, 2), blend, coc / COC_SCALE_PX, coc_est / COC_SCALE_PX], dim=1))
        gates = torch.tanh(out[:, :n])[:, :, None]  # (B, N, 1, H, W): N-1 candidates and the blend
        diffs = torch.cat([cands[:, 1:], blend[:, None]], dim=1) - x[:, None]
        out_img = x + (gates * diffs).sum(1)
        return out_img + self.refine_residual * torch.tanh(out[:, n : n + 3]) if self.refine_residual else out_img

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.fuse(self.candidates(image), self.coc_estimate(image))


class TinyBokehNet(nn.Module):
    """Bokeh rendering: fuse aperture-kernel blurs of the AIF image, conditioned on defocus and aperture.

    Args:
        radii: blur radii (px) of the candidates; 0 = the sharp image.
        aperture_px: size of the aperture-shape image fed to the FiLM encoder.
        widths: U-Net widths.
    """

    def __init__(
        self,
        radii: tuple[float, ...] = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0),
        aperture_px: int = 32,
        widths: tuple[int, int, int] = (24, 32, 48),
    ) -> None:
        super().__init__()
        self.radii, self.aperture_px = tuple(float(r) for r in radii), int(aperture_px)
        n = len(self.radii)
        self.aperture_encoder = nn.Sequential(
            nn.Conv2d(1, 16, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(16, 32, 4, stride=2, padding=1),
            nn.SiLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(128, 64),
            nn.SiLU(),
        )
        self.unet = TinyUNet(3 * n + 2, n + 3, widths, film_dim=64)

    def candidates(self, image: torch.Tensor, coc_px: torch.Tensor, aperture: Aperture) -> torch.Tensor:
        """(B, len(radii), 3, H, W): the AIF blurred with the signed aperture kernel at each radius, sRGB."""
        lin = rgb_to_linear_rgb(image)
        front = coc_px < 0
        out = []
        for r in self.radii:
            if r == 0.0:
                out.append(image)
                continue
            k = signed_kernel(aperture, r, device=image.device, dtype=image.dtype)
            behind = fft_convolve(lin, k)
            kf = torch.flip(k, dims=(0, 1))
            blurred = (
                torch.where(front, fft_convolve(lin, kf), behind)
                if not torch.equal(k, kf) and bool(front.any())
                else behind
            )
            out.append(linear_rgb_to_rgb(blurred.clamp(0.0, 1.0)))
        return torch.stack(out, dim=1)

    def forward(
        self,
        image: torch.Tensor,
        coc_px: torch.Tensor,
        defocus_map: torch.Tensor,
        aperture: Aperture,
        aperture_img: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """image (B, 3, H, W) AIF sRGB, coc_px (B, 1, H, W) signed px, defocus_map (B, 1, H, W) in [0, 1]."""
        if aperture_img is None:
            aperture_img = aperture_image(aperture, self.aperture_px).to(image)
        return self.fuse(self.candidates(image, coc_px, aperture), coc_px, defocus_map, aperture_img)

    def fuse(
        self, cands: torch.Tensor, coc_px: torch.Tensor, defocus_map: torch.Tensor, aperture_img: torch.Tensor
    ) -> torch.Tensor:
        """Learned fusion of precomputed :meth:`candidates`; ``aperture_img`` is (1 or B, 1, P, P)."""
        ap = aperture_img.expand(cands.shape[0], 1, self.aperture_px, self.aperture_px)
        x = torch.cat([cands.flatten(1, 2), defocus_map, (coc_px / COC_SCALE_PX).clamp(-2.0, 2.0)], dim=1)
        return _fuse(self.unet(x, self.aperture_encoder(ap)), cands, interp_weights(coc_px.abs(), self.radii))
