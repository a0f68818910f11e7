"""MUSIQ and MANIQA through pyiqa — an optional, NON-COMMERCIAL extra (``refocus-bench[iqa-noncommercial]``).

pyiqa (IQA-PyTorch, Chaofeng Chen et al.) holds the PyTorch implementations the field uses for these
two metrics, and is licensed under the PolyForm Noncommercial License 1.0.0. It is therefore never
a required dependency of this Apache-2.0 toolkit: the metrics below are registered only when pyiqa is
installed (:func:`available`), and their spec names the licence (``conventions["licence"]``).

The networks are pyiqa's own architectures (``pyiqa.archs.musiq_arch.MUSIQ``,
``pyiqa.archs.maniqa_arch.MANIQA``), built with ``pretrained=False`` (pyiqa would otherwise download)
and loaded, strictly, from ``<weights_dir>/model.safetensors``, which ``refocus-bench weights import``
converts from pyiqa's released checkpoint. ``<weights_dir>/config.json`` holds the architecture's
keyword arguments (the released model's by default). MANIQA's ViT-B/8 backbone is built by timm
without its ImageNet weights (the checkpoint carries them).

* ``musiq.koniq`` (Ke et al., ICCV 2021): multi-scale image quality transformer trained on KonIQ-10k;
  MOS in about [0, 100], higher is better. Input: sRGB [0, 1], any size (native + 224 + 384 scales).
* ``maniqa.koniq`` (Yang et al., CVPRW 2022): ViT-B/8 + transposed attention + Swin stages, trained on
  KonIQ-10k (pyiqa's ``maniqa``); score in about [0, 1]; mean of ``test_sample`` (20) uniform 224x224
  crops (images with a side under 224 are upsampled bilinearly first, as pyiqa does).
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import torch

from ..errors import MissingFileError, check
from ..home import metric_weights_dir
from .base import MetricSpec, NetworkMetric
from .extras import PYIQA_INSTALL, pyiqa_installed

__all__ = ["available", "PYIQA_METRICS", "build_network", "load_network", "MUSIQ", "MANIQA"]

LICENCE = "PolyForm-Noncommercial-1.0.0 (pyiqa); weights: see the card"

# name -> (pyiqa module, class, released-model kwargs, released checkpoint, where to get it)
PYIQA_METRICS: dict[str, dict[str, Any]] = {
    "musiq.koniq": {
        "module": "pyiqa.archs.musiq_arch",
        "cls": "MUSIQ",
        "kwargs": {"num_class": 1},
        "checkpoint": "musiq_koniq_ckpt-e95806b9.pth",
        "source": "pyiqa release (https://huggingface.co/chaofengc/IQA-PyTorch-Weights), musiq_koniq_ckpt-e95806b9.pth",
    },
    "maniqa.koniq": {
        "module": "pyiqa.archs.maniqa_arch",
        "cls": "MANIQA",
        "kwargs": {"train_dataset": "koniq", "scale": 0.8},
        "checkpoint": "ckpt_koniq10k.pt",
        "source": "pyiqa release (https://huggingface.co/chaofengc/IQA-PyTorch-Weights), ckpt_koniq10k.pt",
    },
}


def available() -> bool:
    """Whether pyiqa is installed (:func:`~refocus_bench.metrics.extras.pyiqa_installed`)."""
    return pyiqa_installed()


class _OfflineTimm:
    """Stands in for ``timm`` inside pyiqa's MANIQA module: builds the backbone without downloading."""

    def __init__(self, timm: Any, backbone: dict[str, Any] | None) -> None:
        self._timm, self._backbone = timm, backbone

    def create_model(self, name: str, pretrained: bool = False, **kwargs: Any) -> Any:
        if self._backbone is not None:  # a smaller ViT of the same layout (tests)
            from timm.models.vision_transformer import VisionTransformer

            return VisionTransformer(**self._backbone)
        return self._timm.create_model(name, pretrained=False, **kwargs)


@contextmanager
def _no_download(module: Any, backbone: dict[str, Any] | None):
    if not hasattr(module, "timm"):
        yield
        return
    real = module.timm
    module.timm = _OfflineTimm(real, backbone)
    try:
        yield
    finally:
        module.timm = real


def build_network(name: str, arch: dict[str, Any] | None = None) -> torch.nn.Module:
    """pyiqa's network for ``name`` with random weights; ``arch`` overrides the released kwargs.

    ``arch["backbone"]`` (MANIQA only) builds a smaller timm ``VisionTransformer`` for tests.
    """
    import importlib

    check(available(), f"{name} needs pyiqa: {PYIQA_INSTALL}")
    entry = PYIQA_METRICS[name]
    kwargs = {**entry["kwargs"], **(arch or {})}
    backbone = kwargs.pop("backbone", None)
    module = importlib.import_module(entry["module"])
    with _no_download(module, backbone):
        net = getattr(module, entry["cls"])(pretrained=False, pretrained_model_path=None, **kwargs)
    return net.eval().requires_grad_(False)


def load_network(name: str, folder: str | os.PathLike[str]) -> torch.nn.Module:
    """Build ``name``'s network from ``folder/config.json`` and load ``folder/model.safetensors`` strictly.

    Raises:
        MissingFileError: the weights are not there (the message names the file and where to get it).
        WeightsError: the file's sha256 differs from the one recorded at import.
    """
    from safetensors.torch import load_file

    from .imported_card import verify_folder

    folder = Path(folder)
    path = folder / "model.safetensors"
    check(
        path.is_file(),
        lambda: f"{name} weights not found: expected {path}. Download {PYIQA_METRICS[name]['source']} "
        f"and run 'refocus-bench weights import {name} PATH', or pass weights_dir=...",
        exc=MissingFileError,
    )
    verify_folder(folder)
    cfg = folder / "config.json"
    arch = json.loads(cfg.read_text()).get("arch", {}) if cfg.is_file() else {}
    net = build_network(name, arch)
    net.load_state_dict(load_file(str(path)), strict=True)
    return net


def _spec(name: str, rng: tuple[float, float], description: str, **conv: Any) -> MetricSpec:
    return MetricSpec(
        name=name,
        higher_is_better=True,
        reference="none",
        value_range=rng,
        differentiable=False,
        conventions={
            "weights": f"local: $REFOCUS_BENCH_HOME/weights/metrics/{name}/model.safetensors",
            "implementation": f"pyiqa {PYIQA_METRICS[name]['module']}.{PYIQA_METRICS[name]['cls']}",
            "licence": LICENCE,
            "checkpoint": PYIQA_METRICS[name]["checkpoint"],
            **conv,
        },
        inputs=("preds",),
        version="2",
        description=description,
    )


class _PyiqaMetric(NetworkMetric):
    _min_size: ClassVar[int] = 32

    def __init__(self, weights_dir: str | os.PathLike[str] | None = None, **conventions: Any) -> None:
        name = type(self).spec.name
        folder = Path(weights_dir) if weights_dir is not None else metric_weights_dir() / name
        super().__init__(load_network(name, folder), **conventions)
        self.weights_folder = str(folder)

    def _check_extra(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> None:
        super()._check_extra(preds, target, **extra)
        check(
            min(preds.shape[-2:]) >= self._min_size,
            lambda: f"{self.spec.name} needs images of at least {self._min_size} px, got {tuple(preds.shape[-2:])}",
        )

    def _score(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> torch.Tensor:
        net = self._net_on(preds.device)
        with torch.no_grad():
            out = net(preds.float())
        return out.reshape(preds.shape[0], -1)[:, 0].to(preds.dtype)

    def definition(self) -> dict[str, Any]:
        from .imported_card import recorded_sha256

        d = super().definition()
        d["conventions"]["weights_dir"] = self.weights_folder
        d["conventions"]["weights_sha256"] = recorded_sha256(Path(self.weights_folder))
        return d


class MUSIQ(_PyiqaMetric):
    """MUSIQ (KonIQ-10k model) through pyiqa; per-image MOS, about [0, 100]. Non-commercial licence."""

    spec = _spec(
        "musiq.koniq",
        (0.0, 100.0),
        "MUSIQ, KonIQ-10k model (pyiqa, non-commercial)",
        preprocess="pyiqa: x*2-1, native + longer side 224 and 384, 32 px patches",
    )


class MANIQA(_PyiqaMetric):
    """MANIQA (KonIQ-10k model) through pyiqa; per-image score, about [0, 1]. Non-commercial licence."""

    spec = _spec(
        "maniqa.koniq",
        (0.0, 1.0),
        "MANIQA, KonIQ-10k model (pyiqa, non-commercial)",
        preprocess="pyiqa: Inception mean/std, 20 uniform 224x224 crops, mean score",
    )
