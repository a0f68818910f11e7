"""Depth estimators: user-supplied depth, and adapters for Depth Pro and Depth Anything (local weights).

Every estimator maps an sRGB image (B, 3, H, W) in [0, 1] to metric depth (B, 1, H, W) in metres
(``inf`` allowed), the toolkit's depth contract. Registry verbs::

    >>> from refocus_bench.models.depth import list_depth_estimators
    >>> list_depth_estimators()
    ['depth_anything', 'depth_pro', 'user']

* ``user``: a depth map the caller already has (a tensor or a ``.npy`` / 16-bit ``.png`` / ``.exr`` file).
* ``depth_pro``: Apple's Depth Pro through ``transformers`` (``DepthProForDepthEstimation``). It
  predicts inverse depth at a canonical focal length; metric depth is ``f_px / (W * inverse)`` with
  ``f_px`` from the caller (EXIF) or the checkpoint's field-of-view head.
* ``depth_anything``: Depth Anything (V1/V2 layouts) through ``transformers``. Metric checkpoints
  give metres directly; relative ones give disparity up to an unknown scale and shift, which is
  mapped *linearly to inverse depth* between ``1 / far_m`` (smallest disparity) and ``1 / near_m``
  (largest) - an explicit, documented assumption, not a measurement.

Weights are Hugging Face model folders (``config.json`` + ``model.safetensors``) on local disk, by
default under ``$REFOCUS_BENCH_HOME/weights/models/<folder>``; nothing downloads. Tests build tiny
randomly initialised models from config (``dummy_kwargs``). Third-party estimators register through
the ``refocus_bench.depth_estimators`` entry-point group.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import MissingFileError, check, check_tensor
from ..home import model_weights_dir
from ..registry import Registry
from .base import check_image

__all__ = [
    "DEPTH_ESTIMATORS",
    "DepthCard",
    "DepthEstimator",
    "UserDepth",
    "DepthProAdapter",
    "DepthAnythingAdapter",
    "list_depth_estimators",
    "create_depth_estimator",
    "load_hf_folder",
]

DEPTH_ESTIMATORS = Registry("depth estimator", "refocus_bench.depth_estimators")
for _name, _ref in {
    "user": "refocus_bench.models.depth:UserDepth",
    "depth_pro": "refocus_bench.models.depth:DepthProAdapter",
    "depth_anything": "refocus_bench.models.depth:DepthAnythingAdapter",
}.items():
    DEPTH_ESTIMATORS.register(_name, _ref)


def list_depth_estimators(pattern: str = "*") -> list[str]:
    """Registered depth estimator names matching ``pattern``."""
    return DEPTH_ESTIMATORS.list(pattern)


def create_depth_estimator(name: str, **kwargs: Any) -> DepthEstimator:
    """Instantiate depth estimator ``name`` (unknown names list close matches)."""
    return DEPTH_ESTIMATORS.create(name, **kwargs).eval()


@dataclass(frozen=True)
class DepthCard:
    """What a depth estimator is: output kind ("metric" or "relative"), provenance, weights folder."""

    name: str
    summary: str
    output: str
    source: str
    licence: str
    paper: str
    weights_folder: str = ""


class DepthEstimator(nn.Module):
    """Base class: ``estimate(image) -> depth_m``; subclasses implement ``_estimate``."""

    card: ClassVar[DepthCard]

    @classmethod
    def dummy_kwargs(cls) -> dict[str, Any]:
        """Arguments of a tiny, offline, randomly initialised instance (for tests)."""
        return {}

    @torch.no_grad()
    def estimate(self, image: torch.Tensor) -> torch.Tensor:
        """Metric depth (B, 1, H, W) in metres (> 0, ``inf`` allowed) of an sRGB image (B, 3, H, W)."""
        sizes = check_image(image)
        depth = self._estimate(image)
        check_tensor(depth, "estimated depth", [sizes["B"], 1, sizes["H"], sizes["W"]], allow_inf=True)
        check(bool((depth > 0).all()), f"{self.card.name} produced non-positive depth")
        return depth.to(image.dtype)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.estimate(image)

    def _estimate(self, image: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class UserDepth(DepthEstimator):
    """A depth map supplied by the caller: a (1 or B, 1, H, W) tensor in metres or a depth file."""

    card = DepthCard("user", "depth supplied by the user", "metric", "refocus-bench", "Apache-2.0", "")

    def __init__(self, depth: torch.Tensor | str | os.PathLike[str], png_scale_m: float = 1e-3) -> None:
        super().__init__()
        if not isinstance(depth, torch.Tensor):
            from ..io import read_depth

            depth = read_depth(depth, png_scale_m=png_scale_m)
        check_tensor(depth, "depth", ["B", 1, "H", "W"], allow_inf=True)
        check(bool((depth > 0).all()), lambda: f"depth must be > 0 m (inf allowed), got minimum {float(depth.min()):g}")
        self.depth = depth.float()

    @classmethod
    def dummy_kwargs(cls) -> dict[str, Any]:
        return {"depth": torch.full((1, 1, 32, 32), 2.0)}

    def _estimate(self, image: torch.Tensor) -> torch.Tensor:
        b, _, h, w = image.shape
        d = self.depth
        check(
            d.shape[-2:] == (h, w),
            lambda: f"user depth has size {tuple(d.shape[-2:])} but the image is {(h, w)}; they must match",
        )
        check(d.shape[0] in (1, b), lambda: f"user depth has batch {d.shape[0]}, the image {b}")
        return d.expand(b, 1, h, w).to(image.device)


def load_hf_folder(cls: type, folder: str | os.PathLike[str] | None, default_name: str, model: str) -> nn.Module:
    """``cls.from_pretrained(folder)`` strictly offline; a missing folder or file says where to put it."""
    path = Path(folder).expanduser() if folder is not None else model_weights_dir() / default_name
    missing = [f for f in ("config.json",) if not (path / f).is_file()]
    has_weights = any(path.glob("*.safetensors")) if path.is_dir() else False
    if missing or not has_weights:
        raise MissingFileError(
            f"{model}: no Hugging Face model folder at {str(path)!r} (needs config.json and *.safetensors); "
            f"download it once elsewhere and put it there, or pass weights=FOLDER"
        )
    return cls.from_pretrained(str(path), local_files_only=True, use_safetensors=True).eval()


class _HFDepth(DepthEstimator):
    hf_class: ClassVar[str]

    def __init__(self, weights: str | os.PathLike[str] | None = None, model: nn.Module | None = None) -> None:
        super().__init__()
        if model is None:
            import transformers

            model = load_hf_folder(
                getattr(transformers, self.hf_class), weights, self.card.weights_folder, self.card.name
            )
        self.net = model.eval()


class DepthProAdapter(_HFDepth):
    """Depth Pro (metric, sharp boundaries) from a local ``transformers`` checkpoint.

    Args:
        weights: model folder (default ``$REFOCUS_BENCH_HOME/weights/models/DepthPro-hf``).
        model: an already built ``DepthProForDepthEstimation`` (overrides ``weights``).
        f_px: focal length in pixels of the input image (e.g. from EXIF); without it the checkpoint's
            field-of-view head must be present.
    """

    card = DepthCard(
        "depth_pro",
        "Depth Pro metric monocular depth (transformers)",
        "metric",
        "https://huggingface.co/apple/DepthPro-hf",
        "Apple Machine Learning Research Model License",
        "A. Bochkovskii et al., Depth Pro: Sharp Monocular Metric Depth in Less Than a Second, ICLR 2025",
        "DepthPro-hf",
    )
    hf_class = "DepthProForDepthEstimation"

    def __init__(
        self, weights: str | os.PathLike[str] | None = None, model: nn.Module | None = None, f_px: float | None = None
    ) -> None:
        super().__init__(weights, model)
        check(f_px is None or f_px > 0, lambda: f"f_px must be > 0 pixels, got {f_px}")
        self.f_px = f_px
        cfg = self.net.config
        self.input_size = int(round(cfg.patch_size / min(cfg.scaled_images_ratios)))

    @classmethod
    def dummy_kwargs(cls) -> dict[str, Any]:
        from transformers import DepthProConfig, DepthProForDepthEstimation

        sub = {
            "model_type": "dinov2",
            "hidden_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "intermediate_size": 37,
            "patch_size": 8,
            "image_size": 32,
        }
        cfg = DepthProConfig(
            patch_size=32,
            fusion_hidden_size=16,
            intermediate_hook_ids=[1, 0],
            intermediate_feature_dims=[16, 16],
            scaled_images_ratios=[0.5, 1],
            scaled_images_overlap_ratios=[0.0, 0.5],
            scaled_images_feature_dims=[32, 16],
            use_fov_model=True,
            num_fov_head_layers=1,
            image_model_config=dict(sub),
            patch_model_config=dict(sub),
            fov_model_config=dict(sub),
        )
        torch.manual_seed(0)
        return {"model": DepthProForDepthEstimation(cfg)}

    def _estimate(self, image: torch.Tensor) -> torch.Tensor:
        b, _, h, w = image.shape
        x = F.interpolate(
            (image.float() - 0.5) / 0.5, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False
        )
        out = self.net(pixel_values=x)
        inv = F.interpolate(out.predicted_depth[:, None], size=(h, w), mode="bilinear", align_corners=False)
        if self.f_px is not None:
            f = torch.full((b,), float(self.f_px), device=image.device)
        else:
            fov = getattr(out, "field_of_view", None)
            check(
                fov is not None,
                "depth_pro needs f_px (focal length in pixels, e.g. from EXIF) or a checkpoint with the FOV head",
            )
            f = 0.5 * w / torch.tan(0.5 * torch.deg2rad(fov.reshape(b).float()))
        return 1.0 / (inv * w / f[:, None, None, None]).clamp(1e-4, 1e4)


class DepthAnythingAdapter(_HFDepth):
    """Depth Anything (relative or metric checkpoints) from a local ``transformers`` checkpoint.

    Args:
        weights: model folder (default ``$REFOCUS_BENCH_HOME/weights/models/Depth-Anything-V2-Small-hf``).
        model: an already built ``DepthAnythingForDepthEstimation`` (overrides ``weights``).
        input_size: the shorter side fed to the network (rounded to the patch size).
        near_m, far_m: for relative checkpoints, the depths assigned to the largest and smallest
            disparity in each image (inverse depth is interpolated linearly between them).
    """

    card = DepthCard(
        "depth_anything",
        "Depth Anything monocular depth (transformers); relative or metric",
        "relative or metric",
        "https://huggingface.co/depth-anything",
        "Apache-2.0 (Small) / CC-BY-NC-4.0 (Base, Large)",
        "L. Yang et al., Depth Anything V2, NeurIPS 2024",
        "Depth-Anything-V2-Small-hf",
    )
    hf_class = "DepthAnythingForDepthEstimation"

    def __init__(
        self,
        weights: str | os.PathLike[str] | None = None,
        model: nn.Module | None = None,
        input_size: int = 518,
        near_m: float = 1.0,
        far_m: float = 100.0,
    ) -> None:
        super().__init__(weights, model)
        check(0 < near_m < far_m, lambda: f"need 0 < near_m < far_m (far_m may be inf), got {near_m}, {far_m}")
        self.input_size, self.near_m, self.far_m = int(input_size), float(near_m), float(far_m)
        self.metric = getattr(self.net.config, "depth_estimation_type", "relative") == "metric"
        self.patch = int(self.net.config.patch_size)

    @classmethod
    def dummy_kwargs(cls) -> dict[str, Any]:
        from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

        bb = Dinov2Config(
            image_size=28,
            patch_size=14,
            hidden_size=32,
            num_hidden_layers=4,
            num_attention_heads=2,
            intermediate_size=37,
            out_features=["stage1", "stage2", "stage3", "stage4"],
            reshape_hidden_states=False,
        )
        cfg = DepthAnythingConfig(
            backbone_config=bb,
            reassemble_hidden_size=32,
            neck_hidden_sizes=[8, 16, 32, 32],
            fusion_hidden_size=16,
            head_hidden_size=8,
            patch_size=14,
        )
        torch.manual_seed(0)
        return {"model": DepthAnythingForDepthEstimation(cfg), "input_size": 56}

    def _estimate(self, image: torch.Tensor) -> torch.Tensor:
        b, _, h, w = image.shape
        s = self.input_size / min(h, w)
        size = (
            max(self.patch, round(h * s / self.patch) * self.patch),
            max(self.patch, round(w * s / self.patch) * self.patch),
        )
        mean = torch.tensor([0.485, 0.456, 0.406], device=image.device)[:, None, None]
        std = torch.tensor([0.229, 0.224, 0.225], device=image.device)[:, None, None]
        x = F.interpolate((image.float() - mean) / std, size=size, mode="bicubic", align_corners=False)
        pred = F.interpolate(
            self.net(pixel_values=x).predicted_depth[:, None], size=(h, w), mode="bilinear", align_corners=False
        )
        if self.metric:
            return pred.clamp(min=1e-3)
        lo = pred.amin(dim=(-2, -1), keepdim=True)
        hi = pred.amax(dim=(-2, -1), keepdim=True)
        t = ((pred - lo) / (hi - lo).clamp(min=1e-12)).clamp(0.0, 1.0)
        inv_far = 0.0 if math.isinf(self.far_m) else 1.0 / self.far_m
        inv = inv_far + t * (1.0 / self.near_m - inv_far)
        return torch.where(inv > 0, 1.0 / inv.clamp(min=1e-12), torch.full_like(inv, float("inf")))
