"""CLIP-based metrics: CLIP-IQA (no reference) and CLIP-I (image similarity), from a local CLIP folder.

Both load a Hugging Face ``transformers`` CLIP model from a local folder (``config.json``,
``model.safetensors``, the tokenizer files and ``preprocessor_config.json``, as
``CLIPModel.save_pretrained`` / ``CLIPProcessor.save_pretrained`` write them); nothing downloads. The
default folder is ``$REFOCUS_BENCH_HOME/weights/metrics/<metric name>/``; ``refocus-bench weights import
NAME PATH`` checks a downloaded model and puts it there (see :mod:`.weights_import`).

* **CLIP-IQA** (``clipiqa.vit``; Wang, Chan & Loy, AAAI 2023) is torchmetrics'
  :class:`~torchmetrics.multimodal.CLIPImageQualityAssessment` with the antonym prompts of the
  CLIP-IQA release ("Good photo.", "Bad photo."): softmax over ``100 * cos(image, prompt)``, the
  probability of the first, in [0, 1]. The CLIP variant is torchmetrics' Hugging Face default,
  ViT-B/16 (``openai/clip-vit-base-patch16``), with CLIP's processor (bicubic resize of the shorter
  side to 224, centre crop 224, CLIP mean/std). The CLIP-IQA release and pyiqa's ``clipiqa`` use the
  ResNet-50 CLIP at the image's native size instead, and pyiqa averages five prompt pairs; see
  docs/metrics.md.
* **CLIP-I** (``clip_i.vit``): cosine similarity of the CLIP image embeddings (projected, as
  ``CLIPModel.get_image_features``) of ``preds`` and ``target``; in [-1, 1].

Two adaptations make torchmetrics 1.9 work with ``transformers`` 5 (both are tested against
``CLIPModel``'s own forward): ``get_text_features``/``get_image_features`` return an output object
there, not a tensor (:class:`_FeatureModel` returns its ``pooler_output``), and torchmetrics hands the
processor images already in [0, 1], which CLIP's processor would divide by 255 again
(:class:`_UnitRangeProcessor` passes ``do_rescale=False``).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import MissingFileError, check
from ..home import metric_weights_dir
from .base import MetricSpec, NetworkMetric

__all__ = ["CLIPIQA", "CLIPImageSimilarity", "load_clip_folder", "CLIP_SOURCES", "CLIP_FILES"]

CLIP_FILES = ("config.json", "model.safetensors")
PROCESSOR_FILES = ("preprocessor_config.json", "processor_config.json")  # transformers 4 / 5 name it differently
CLIP_SOURCES = {
    "clipiqa.vit": "https://huggingface.co/openai/clip-vit-base-patch16 (MIT)",
    "clip_i.vit": "https://huggingface.co/openai/clip-vit-base-patch16 (MIT)",
}


def clip_folder(name: str, weights_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder metric ``name`` loads from: ``weights_dir`` or ``$REFOCUS_BENCH_HOME/weights/metrics/<name>``."""
    return Path(weights_dir) if weights_dir is not None else metric_weights_dir() / name


def load_clip_folder(folder: str | os.PathLike[str], name: str = "clip") -> tuple[Any, Any]:
    """Load ``(CLIPModel, CLIPProcessor)`` from a local folder, offline, in eval mode.

    Raises:
        MissingFileError: a required file is absent; the message names it and where to get the model.
    """
    from transformers import CLIPModel, CLIPProcessor

    folder = Path(folder)
    for f in CLIP_FILES:
        check(
            (folder / f).is_file(),
            lambda f=f: f"{name} weights not found: expected {folder / f}. Download the CLIP model "
            f"({CLIP_SOURCES.get(name, 'a transformers CLIP model folder')}) and run "
            f"'refocus-bench weights import {name} PATH', or pass weights_dir=...",
            exc=MissingFileError,
        )
    check(
        any((folder / f).is_file() for f in PROCESSOR_FILES),
        lambda: f"{name} weights incomplete: {folder} has no {' or '.join(PROCESSOR_FILES)} (the image processor); "
        f"import the whole CLIP folder with 'refocus-bench weights import {name} PATH'",
        exc=MissingFileError,
    )
    model = _own_memory(CLIPModel.from_pretrained(str(folder), local_files_only=True).eval().requires_grad_(False))
    processor = CLIPProcessor.from_pretrained(str(folder), local_files_only=True)
    return model, processor


def _own_memory(model: nn.Module) -> nn.Module:
    """``model`` with its parameters and buffers copied out of the safetensors memory map.

    A mapped tensor can start at any byte offset; CPU matmul kernels then take another path than on
    the aligned copy that a worker process unpickles, and scores differ by about 1e-6 relative.
    """
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            t.data = t.data.clone()
    return model


class _FeatureModel(nn.Module):
    """``CLIPModel`` whose ``get_*_features`` return the projected embeddings as tensors (B, D)."""

    def __init__(self, clip: nn.Module) -> None:
        super().__init__()
        self.clip = clip

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return _pooled(self.clip.get_image_features(pixel_values=pixel_values))

    def get_text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return _pooled(self.clip.get_text_features(input_ids=input_ids, attention_mask=attention_mask))


def _pooled(out: Any) -> torch.Tensor:
    return out if isinstance(out, torch.Tensor) else out.pooler_output


class _UnitRangeProcessor:
    """CLIP's processor for images already in [0, 1] (no second division by 255)."""

    def __init__(self, processor: Any) -> None:
        self.processor = processor

    def __call__(self, images: Any = None, text: Any = None, **kwargs: Any) -> Any:
        if images is not None:
            return self.processor.image_processor(images, do_rescale=False, return_tensors="pt")
        return self.processor.tokenizer(text, return_tensors="pt", padding=True)


def _spec(name: str, ref: str, rng: tuple[float, float], description: str, **conv: Any) -> MetricSpec:
    return MetricSpec(
        name=name,
        higher_is_better=True,
        reference=ref,
        value_range=rng,
        differentiable=False,
        conventions={
            "weights": f"local transformers CLIP folder: $REFOCUS_BENCH_HOME/weights/metrics/{name}/",
            "clip_variant": "ViT-B/16 (openai/clip-vit-base-patch16)",
            "preprocess": "CLIPProcessor: bicubic shorter side to 224, centre crop 224, CLIP mean/std",
            **conv,
        },
        inputs=("preds", "target") if ref == "full" else ("preds",),
        version="2",
        description=description,
    )


class _CLIPMetric(NetworkMetric):
    _min_size = 8

    def __init__(self, weights_dir: str | os.PathLike[str] | None = None, **conventions: Any) -> None:
        folder = clip_folder(type(self).spec.name, weights_dir)
        model, processor = load_clip_folder(folder, type(self).spec.name)
        super().__init__(self._build(model, processor), **conventions)
        self.weights_folder = str(folder)

    def _build(self, model: Any, processor: Any) -> nn.Module:
        raise NotImplementedError

    def _check_extra(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> None:
        super()._check_extra(preds, target, **extra)
        check(
            min(preds.shape[-2:]) >= self._min_size,
            lambda: f"{self.spec.name} needs images of at least {self._min_size} px, got {tuple(preds.shape[-2:])}",
        )

    def definition(self) -> dict[str, Any]:
        from .imported_card import recorded_sha256

        d = super().definition()
        d["conventions"]["weights_dir"] = self.weights_folder
        d["conventions"]["weights_sha256"] = recorded_sha256(Path(self.weights_folder))
        return d


def _pair(a: Any, b: Any) -> tuple[Any, Any]:
    return a, b


class CLIPIQA(_CLIPMetric):
    """CLIP-IQA through torchmetrics: P("Good photo.") against "Bad photo.", per image, in [0, 1]."""

    spec = _spec(
        "clipiqa.vit",
        "none",
        (0.0, 1.0),
        "CLIP-IQA antonym-prompt quality (torchmetrics, local CLIP ViT-B/16)",
        prompts=("Good photo.", "Bad photo."),
        logit_scale=100.0,
        implementation="torchmetrics.multimodal.CLIPImageQualityAssessment",
    )

    def _build(self, model: Any, processor: Any) -> nn.Module:
        from torchmetrics.multimodal import CLIPImageQualityAssessment

        feat, proc = _FeatureModel(model), _UnitRangeProcessor(processor)
        load = functools.partial(_pair, feat, proc)  # not a lambda: the metric must pickle for worker processes
        return CLIPImageQualityAssessment(model_name_or_path=load, data_range=1.0, prompts=("quality",))

    def _score(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> torch.Tensor:
        tm = self._net_on(preds.device)
        tm.reset()
        tm.update(preds.float())
        out = tm.compute().reshape(-1)
        tm.reset()
        return out.to(device=preds.device, dtype=preds.dtype)


class CLIPImageSimilarity(_CLIPMetric):
    """CLIP-I: cosine similarity of the CLIP image embeddings of preds and target, per pair, in [-1, 1]."""

    spec = _spec("clip_i.vit", "full", (-1.0, 1.0), "CLIP image-embedding cosine similarity (local CLIP ViT-B/16)")

    def _build(self, model: Any, processor: Any) -> nn.Module:
        net = _FeatureModel(model)
        net.processor = _UnitRangeProcessor(processor)  # type: ignore[assignment]
        return net

    def _score(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> torch.Tensor:
        net = self._net_on(preds.device)
        both = torch.cat([preds, target], dim=0).float()
        pixels = net.processor(images=[i.cpu() for i in both])["pixel_values"].to(preds.device)
        with torch.no_grad():
            e = F.normalize(net.get_image_features(pixels), dim=-1)
        b = preds.shape[0]
        return (e[:b] * e[b:]).sum(dim=-1).to(preds.dtype)
