"""NIQE and BRISQUE: blind image quality from natural scene statistics, offline, with published constants.

Neither metric needs learned network weights; each needs a small table of published constants that
ships with the package (``refocus_bench/data/metrics/``, safetensors, sha256 checked on load):

* **NIQE** (``niqe.live``; Mittal, Soundararajan & Bovik, IEEE SPL 2013): the distance between a
  multivariate Gaussian fitted to 36 NSS features of the image's 96x96 blocks (two scales) and the
  pristine model of the LIVE release (``modelparameters.mat``: ``mu_prisparam``, ``cov_prisparam``):
  ``sqrt((mu_p - mu_d) pinv((C_p + C_d) / 2) (mu_p - mu_d)^T)``. Lower is better.
* **BRISQUE** (``brisque.live``; Mittal, Moorthy & Bovik, IEEE TIP 2012): 36 NSS features (two
  scales), scaled to [-1, 1] with the release's ``allrange`` and scored by its epsilon-SVR
  ``allmodel`` (774 support vectors, RBF, gamma 0.05, rho -153.591). Lower is better (about 0-100).

Both follow the MATLAB releases (see :mod:`.nss`) on the rounded 8-bit grey image, in float64, and
equal pyiqa's ``niqe`` and ``brisque`` (its default, "original", versions) on the same constants
(tests/test_metrics_blind_iqa.py). Inputs: sRGB (B, 3, H, W) in [0, 1]; NIQE needs at least 96 px
per side (one block; only whole blocks are used), BRISQUE at least 16.

    >>> import torch
    >>> from refocus_bench.metrics import create_metric
    >>> x = torch.rand(1, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    >>> create_metric("niqe.live").score(x).shape
    torch.Size([1])
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

import torch

from ..errors import check
from ..hashing import file_sha256
from .base import MetricSpec, RefocusMetric
from .nss import aggd_fit, ggd_fit, imresize_half, matlab_gray, mscn

__all__ = ["NIQE", "BRISQUE", "niqe", "brisque", "brisque_features", "constants", "CONSTANTS", "CONSTANTS_DIR"]

CONSTANTS_DIR = Path(__file__).resolve().parents[1] / "data" / "metrics"
# file -> sha256 (the converted constants; their sources are recorded in each file's metadata)
CONSTANTS = {
    "niqe_live.safetensors": "ddcaf9141b30f4fe26dc1ce95d209a9f5f8f5c22640ed6eb59d9baea1356b262",
    "brisque_live.safetensors": "3483e7656cde2605ef066114a9656ccf38187e23a10f7d167b07993a569425ef",
}
_SHIFTS_NIQE = ((0, 1), (1, 0), (1, 1), (1, -1))  # computefeature.m
_SHIFTS_BRISQUE = ((0, 1), (1, 0), (1, 1), (-1, 1))  # brisque_feature.m


@cache
def constants(name: str) -> dict[str, torch.Tensor]:
    """The tensors of a packaged constants file (float64, CPU), after checking its sha256."""
    from safetensors.torch import load_file

    from .weights import WeightsError

    path = CONSTANTS_DIR / name
    got = file_sha256(path)
    check(
        got == CONSTANTS[name],
        lambda: f"{path}: sha256 {got} differs from the pinned {CONSTANTS[name]}",
        exc=WeightsError,
    )
    return load_file(str(path))


def _pair_features(x: torch.Tensor, shifts: tuple[tuple[int, int], ...], brisque_style: bool) -> list[torch.Tensor]:
    feats = []
    for shift in shifts:
        a, ls, rs, bl, br = aggd_fit(x * torch.roll(x, shifts=shift, dims=(-2, -1)))
        if brisque_style:  # eta with the standard deviations; variances
            eta = (rs - ls) * torch.exp(torch.lgamma(2.0 / a) - 0.5 * (torch.lgamma(1.0 / a) + torch.lgamma(3.0 / a)))
            feats += [a, eta, ls.pow(2), rs.pow(2)]
        else:  # NIQE: mean with the betas; betas
            feats += [a, (br - bl) * torch.exp(torch.lgamma(2.0 / a) - torch.lgamma(1.0 / a)), bl, br]
    return feats


def _blocks(x: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 1, H, W) with H, W multiples of ``size`` -> (B, N, size, size) non-overlapping blocks."""
    b, _, h, w = x.shape
    t = x.reshape(b, h // size, size, w // size, size).permute(0, 1, 3, 2, 4)
    return t.reshape(b, -1, size, size)


def _niqe_block_features(blocks: torch.Tensor) -> torch.Tensor:
    a, _, _, bl, br = aggd_fit(blocks)
    return torch.stack([a, (bl + br) / 2, *_pair_features(blocks, _SHIFTS_NIQE, False)], dim=-1)


def niqe(image: torch.Tensor, block: int = 96) -> torch.Tensor:
    """NIQE of sRGB images (B, 3, H, W) in [0, 1] -> (B,) float64; lower is better."""
    c = constants("niqe_live.safetensors")
    gray = matlab_gray(image)
    h, w = (gray.shape[-2] // block) * block, (gray.shape[-1] // block) * block
    gray = gray[..., :h, :w]
    feats = []
    for scale in (1, 2):
        norm, _ = mscn(gray, padding="replicate")
        feats.append(_niqe_block_features(_blocks(norm, block // scale)))
        gray = imresize_half(gray)
    feat = torch.cat(feats, dim=-1)  # (B, N, 36)
    mu_p, cov_p = c["mu"].to(feat.device), c["cov"].to(feat.device)
    out = []
    for f in feat:
        f = f[~torch.isnan(f).any(dim=-1)]
        mu_d = f.mean(dim=0)
        cov_d = torch.cov(f.T, correction=1) if f.shape[0] > 1 else torch.zeros_like(cov_p)
        d = mu_p - mu_d
        out.append(torch.sqrt(d @ torch.linalg.pinv((cov_p + cov_d) / 2) @ d))
    return torch.stack(out)


def brisque_features(image: torch.Tensor) -> torch.Tensor:
    """The 36 unscaled BRISQUE features of sRGB images (B, 3, H, W) in [0, 1] -> (B, 36) float64."""
    gray = matlab_gray(image)
    feats = []
    for _ in range(2):
        norm, _ = mscn(gray, padding="zero")
        a, sigma = ggd_fit(norm)
        feats += [a, sigma.pow(2), *_pair_features(norm, _SHIFTS_BRISQUE, True)]
        gray = imresize_half(gray)
    return torch.stack(feats, dim=-1)[:, 0]


def brisque(image: torch.Tensor) -> torch.Tensor:
    """BRISQUE of sRGB images (B, 3, H, W) in [0, 1] -> (B,) float64; lower is better."""
    c = {k: v.to(image.device) for k, v in constants("brisque_live.safetensors").items()}
    f = brisque_features(image)
    scaled = -1.0 + 2.0 * (f - c["feature_min"]) / (c["feature_max"] - c["feature_min"])
    kernel = torch.exp(-c["gamma"] * (scaled[:, None, :] - c["sv"][None]).pow(2).sum(dim=-1))
    return kernel @ c["sv_coef"] - c["rho"]


class _Blind(RefocusMetric):
    _min_size: ClassVar[int]
    _fn: ClassVar[Any]

    def _check_extra(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> None:
        super()._check_extra(preds, target, **extra)
        check(
            min(preds.shape[-2:]) >= self._min_size,
            lambda: f"{self.spec.name} needs images of at least {self._min_size} px per side, "
            f"got {tuple(preds.shape[-2:])}",
        )

    def _score(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> torch.Tensor:
        with torch.no_grad():
            return type(self)._fn(preds).to(preds.dtype)


def _spec(name: str, description: str, **conv: Any) -> MetricSpec:
    return MetricSpec(
        name=name,
        higher_is_better=False,
        reference="none",
        value_range=(0.0, math.inf) if name.startswith("niqe") else (-math.inf, math.inf),
        differentiable=False,
        conventions={
            "grey": "round(255 * (0.299 R + 0.587 G + 0.114 B)) of sRGB, float64",
            "window": "7x7 Gaussian, sigma 7/6",
            "scales": "2 (MATLAB imresize 0.5, bicubic, antialiased)",
            **conv,
        },
        inputs=("preds",),
        version="1",
        description=description,
    )


class NIQE(_Blind):
    """NIQE with the LIVE release's pristine model; per image, lower is better."""

    spec = _spec(
        "niqe.live",
        "NIQE, LIVE pristine model (MATLAB release; equals pyiqa niqe)",
        blocks="96x96, whole blocks only; replicate padding",
        constants="niqe_live.safetensors: LIVE niqe_release modelparameters.mat",
    )
    _min_size = 96
    _fn = staticmethod(niqe)


class BRISQUE(_Blind):
    """BRISQUE with the LIVE release's SVR; per image, lower is better (about 0-100)."""

    spec = _spec(
        "brisque.live",
        "BRISQUE, LIVE SVR model (MATLAB release; equals pyiqa brisque)",
        padding="zero (filter2 'same')",
        constants="brisque_live.safetensors: LIVE BRISQUE_release allmodel + allrange",
    )
    _min_size = 16
    _fn = staticmethod(brisque)
