"""Natural scene statistics, as the LIVE MATLAB releases of NIQE and BRISQUE compute them.

The building blocks of the two blind quality metrics in :mod:`.blind_iqa`, written from the MATLAB
code of the releases (``niqe_release``: ``computequality.m``, ``computefeature.m``,
``estimateaggdparam.m``; ``BRISQUE_release``: ``brisque_feature.m``, ``estimateggdparam.m``), in float64:

* :func:`matlab_gray`: ``rgb2gray`` of the 8-bit image, 0.299 R + 0.587 G + 0.114 B of sRGB values
  times 255, rounded (MATLAB's own weights are 0.2989, 0.5870, 0.1140; the field's PyTorch
  implementation, pyiqa, uses the rounded ones, and so does this module).
* :func:`mscn`: mean-subtracted contrast-normalised coefficients ``(I - mu) / (sigma + 1)`` with a 7x7
  Gaussian window (sigma 7/6, normalised), zero (``filter2 'same'``) or replicate (``imfilter
  'replicate'``) padding.
* :func:`ggd_fit` / :func:`aggd_fit`: moment matching on the grid ``alpha = 0.2:0.001:10``.
* :func:`imresize_half`: MATLAB ``imresize(I, 0.5)``: bicubic (a = -0.5) with antialiasing, symmetric
  borders, rows then columns.

Shapes: grey images are (B, 1, H, W) float64 in [0, 255]; fits reduce the last two dimensions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["matlab_gray", "gaussian_window", "mscn", "ggd_fit", "aggd_fit", "imresize_half", "cubic_weights"]

_LUMA = (0.299, 0.587, 0.114)


def matlab_gray(image: torch.Tensor) -> torch.Tensor:
    """sRGB (B, 3, H, W) in [0, 1] -> rounded 8-bit grey (B, 1, H, W), float64 in [0, 255]."""
    x = image.to(torch.float64)
    # pyiqa's weights are float32 numbers; used as such, its rounding ties break the same way
    w = torch.tensor(_LUMA, dtype=torch.float32).to(device=x.device, dtype=torch.float64)
    y = x.permute(0, 2, 3, 1) @ w
    return (y * 255.0).round().unsqueeze(1)


def gaussian_window(device: torch.device | None = None, size: int = 7, sigma: float = 7.0 / 6.0) -> torch.Tensor:
    """MATLAB ``fspecial('gaussian', size, sigma)``, normalised to sum 1; (size, size) float64."""
    r = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2.0
    g = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2.0 * sigma * sigma))
    g = torch.where(g < torch.finfo(torch.float64).eps * g.max(), torch.zeros_like(g), g)
    return g / g.sum()


def _filter(x: torch.Tensor, window: torch.Tensor, padding: str) -> torch.Tensor:
    k = window.shape[-1] // 2
    mode = {"zero": "constant", "replicate": "replicate"}[padding]
    return F.conv2d(F.pad(x, (k, k, k, k), mode=mode), window[None, None])


def mscn(gray: torch.Tensor, padding: str = "zero") -> tuple[torch.Tensor, torch.Tensor]:
    """MSCN coefficients and the local deviation sigma of a grey image (B, 1, H, W); both (B, 1, H, W).

    ``padding``: ``"zero"`` (BRISQUE's ``filter2 'same'``) or ``"replicate"`` (NIQE's ``imfilter``).
    """
    w = gaussian_window(gray.device)
    mu = _filter(gray, w, padding)
    sigma = torch.sqrt((_filter(gray * gray, w, padding) - mu * mu).abs())
    return (gray - mu) / (sigma + 1.0), sigma


def _grid(x: torch.Tensor) -> torch.Tensor:
    # MATLAB's 0.2:0.001:10 is computed as 0.2 + k * 0.001, k = 0..9800
    return 0.2 + torch.arange(9801, dtype=torch.float64, device=x.device) * 0.001


def ggd_fit(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised Gaussian fit over the last two dims: (alpha, sigma); sigma is the RMS, shapes x.shape[:-2]."""
    gam = _grid(x)
    r_gam = torch.exp(torch.lgamma(1.0 / gam) + torch.lgamma(3.0 / gam) - 2.0 * torch.lgamma(2.0 / gam))
    sigma_sq = x.pow(2).mean(dim=(-2, -1))
    rho = sigma_sq / x.abs().mean(dim=(-2, -1)).pow(2)
    alpha = gam[(rho[..., None] - r_gam).abs().argmin(dim=-1)]
    return alpha, sigma_sq.sqrt()


def aggd_fit(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric generalised Gaussian fit over the last two dims.

    Returns ``(alpha, left_std, right_std, beta_l, beta_r)``, each of shape x.shape[:-2], where the
    stds are the RMS of the negative / positive values and ``beta = std * sqrt(G(1/a) / G(3/a))``.
    """
    gam = _grid(x)
    r_gam = torch.exp(2.0 * torch.lgamma(2.0 / gam) - torch.lgamma(1.0 / gam) - torch.lgamma(3.0 / gam))
    neg, pos = x < 0, x > 0
    left = torch.sqrt((x * neg).pow(2).sum(dim=(-2, -1)) / neg.sum(dim=(-2, -1)))
    right = torch.sqrt((x * pos).pow(2).sum(dim=(-2, -1)) / pos.sum(dim=(-2, -1)))
    g = left / right
    rhat = x.abs().mean(dim=(-2, -1)).pow(2) / x.pow(2).mean(dim=(-2, -1))
    rhatnorm = rhat * (g.pow(3) + 1) * (g + 1) / (g.pow(2) + 1).pow(2)
    alpha = gam[(r_gam - rhatnorm[..., None]).pow(2).argmin(dim=-1)]
    c = torch.exp(0.5 * (torch.lgamma(1.0 / alpha) - torch.lgamma(3.0 / alpha)))
    return alpha, left, right, left * c, right * c


def cubic_weights(n_in: int, device: torch.device | None = None) -> torch.Tensor:
    """The (ceil(n_in / 2), n_in) matrix of MATLAB ``imresize(., 0.5)`` along one dimension (float64).

    MATLAB's ``contributions``: output ``i`` (1-based) sits at ``u = 2 i - 0.5`` in input
    coordinates; the cubic kernel is stretched by 2 (antialiasing), taps ``floor(u - 4) + (0..9)``
    normalised to sum 1, indices mirrored at the borders (``[1:n, n:-1:1]``).
    """
    n_out = math.ceil(n_in * 0.5)
    u = 2.0 * torch.arange(1, n_out + 1, dtype=torch.float64, device=device) - 0.5
    left = torch.floor(u - 4.0)
    idx = left[:, None] + torch.arange(10, dtype=torch.float64, device=device)[None, :]
    t = (u[:, None] - idx).abs() * 0.5
    k = torch.where(
        t <= 1,
        1.5 * t**3 - 2.5 * t**2 + 1,
        torch.where(t <= 2, -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2, torch.zeros_like(t)),
    )
    w = 0.5 * k
    w = w / w.sum(dim=1, keepdim=True)
    mirror = torch.cat([torch.arange(n_in), torch.arange(n_in - 1, -1, -1)]).to(device)
    cols = mirror[torch.remainder(idx.long() - 1, 2 * n_in)]
    out = torch.zeros(n_out, n_in, dtype=torch.float64, device=device)
    return out.scatter_add_(1, cols, w)


def imresize_half(x: torch.Tensor) -> torch.Tensor:
    """MATLAB ``imresize(x, 0.5)`` (bicubic, antialiased) of (..., H, W) -> (..., ceil(H/2), ceil(W/2))."""
    x = x.to(torch.float64)
    rows = cubic_weights(x.shape[-2], x.device)
    cols = cubic_weights(x.shape[-1], x.device)
    return torch.matmul(cols, torch.matmul(rows, x).transpose(-2, -1)).transpose(-2, -1)
