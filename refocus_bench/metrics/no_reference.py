"""No-reference and CLIP-based adapters: CLIP-IQA, CLIP-I, MUSIQ, MANIQA — weights from local files.

Their weights are not redistributable offline, so nothing here downloads: each adapter loads a
folder ``<weights_dir>/`` holding ``config.json`` (the architecture, a :class:`ViTConfig` plus the
adapter's own fields) and ``model.safetensors``; by default the folder is
``$REFOCUS_BENCH_HOME/weights/metrics/<metric name>/``. A missing file raises
:class:`~refocus_bench.errors.MissingFileError` naming the path it expected. The tests build tiny,
randomly initialised models from config (:meth:`NRModel.save`), so every code path runs offline.

Architectures (written from the papers; tensor names follow OpenAI CLIP's ``visual.*`` layout for the
ViT, so a converted CLIP checkpoint loads key for key):

* **CLIP-I** (``clip_i.vit``, full reference): cosine similarity of the CLIP image embeddings of
  ``preds`` and ``target``; in [-1, 1], higher is better.
* **CLIP-IQA** (``clipiqa.vit``, Wang et al., AAAI 2023): softmax over
  ``logit_scale * cos(image, prompt)`` for the antonym prompts ("Good photo.", "Bad photo."), the
  probability of the first; in [0, 1]. The text tower is not needed at scoring time: the two prompt
  embeddings are stored as ``prompt_features`` (2, D).
* **MUSIQ** (``musiq.vit``, Ke et al., ICCV 2021): the image at native resolution plus versions whose
  longer side is each of ``scales``, cut into ``patch_size`` patches with hashed 2-D spatial
  embeddings (a ``hash_grid`` x ``hash_grid`` grid shared by all scales) and a per-scale embedding,
  one transformer over all patches, a regression head on the class token (MOS units of the training
  set; KonIQ-10k: 0-100).
* **MANIQA** (Yang et al., CVPRW 2022): ViT token features of several layers concatenated, a
  transposed (channel) attention block, and a dual-branch head whose per-patch scores are averaged
  with per-patch weights (sigmoid). The Swin stages of the original are not included.

Preprocessing is pinned: bicubic resize (antialiased) to ``image_size`` (except MUSIQ's native scale),
then CLIP's mean/std (CLIP-I, CLIP-IQA) or ImageNet's (MUSIQ, MANIQA).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import MissingFileError, check
from ..home import metric_weights_dir
from .base import MetricSpec, NetworkMetric

__all__ = [
    "ViTConfig",
    "VisionTransformer",
    "NRModel",
    "CLIPModelIQA",
    "MUSIQModel",
    "MANIQAModel",
    "CLIPIQA",
    "CLIPImageSimilarity",
    "MUSIQ",
    "MANIQA",
]

CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass
class ViTConfig:
    """Vision-transformer size. Defaults: CLIP ViT-B/32."""

    image_size: int = 224
    patch_size: int = 32
    width: int = 768
    layers: int = 12
    heads: int = 12
    output_dim: int = 512
    extra: dict[str, Any] = field(default_factory=dict)


class _Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.mlp = nn.Sequential()
        self.mlp.add_module("c_fc", nn.Linear(width, 4 * width))
        self.mlp.add_module("gelu", nn.GELU())
        self.mlp.add_module("c_proj", nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class _Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(_Block(width, heads) for _ in range(layers))

    def forward(self, x: torch.Tensor, keep: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        kept = []
        for i, block in enumerate(self.resblocks):
            x = block(x)
            if i in keep:
                kept.append(x)
        return x, kept


class VisionTransformer(nn.Module):
    """CLIP-layout ViT: ``conv1``, ``class_embedding``, ``positional_embedding``, ``ln_pre``,
    ``transformer.resblocks``, ``ln_post``, ``proj``. Input: normalised (B, 3, S, S), S = image_size."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        n = (cfg.image_size // cfg.patch_size) ** 2
        self.conv1 = nn.Conv2d(3, cfg.width, cfg.patch_size, stride=cfg.patch_size, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(cfg.width) * cfg.width**-0.5)
        self.positional_embedding = nn.Parameter(torch.randn(n + 1, cfg.width) * cfg.width**-0.5)
        self.ln_pre, self.ln_post = nn.LayerNorm(cfg.width), nn.LayerNorm(cfg.width)
        self.transformer = _Transformer(cfg.width, cfg.layers, cfg.heads)
        self.proj = nn.Parameter(torch.randn(cfg.width, cfg.output_dim) * cfg.width**-0.5)

    def tokens(self, x: torch.Tensor, keep: tuple[int, ...] = ()) -> tuple[torch.Tensor, list[torch.Tensor]]:
        x = self.conv1(x).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = self.ln_pre(torch.cat([cls, x], dim=1) + self.positional_embedding)
        return self.transformer(x, keep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x, _ = self.tokens(x)
        return self.ln_post(x[:, 0]) @ self.proj


def _resize_norm(x: torch.Tensor, size: int | None, mean: tuple, std: tuple) -> torch.Tensor:
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False, antialias=True)
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - m) / s


class NRModel(nn.Module):
    """Base of the adapters' networks: built from a :class:`ViTConfig`, saved/loaded as a folder."""

    kind: ClassVar[str] = ""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.cfg = cfg

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write ``config.json`` + ``model.safetensors`` (used to build tiny test models)."""
        from safetensors.torch import save_file

        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps({"kind": self.kind, **asdict(self.cfg)}, indent=2))
        save_file({k: v.detach().contiguous() for k, v in self.state_dict().items()}, str(out / "model.safetensors"))
        return out

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> NRModel:
        from safetensors.torch import load_file

        folder = Path(folder)
        for name in ("config.json", "model.safetensors"):
            check(
                (folder / name).is_file(),
                lambda name=name: f"{cls.kind} weights not found: expected {folder / name} "
                "(config.json + model.safetensors; these weights are not fetched automatically: "
                "convert them and put them there, or pass weights_dir=...)",
                exc=MissingFileError,
            )
        raw = json.loads((folder / "config.json").read_text())
        check(
            raw.pop("kind", cls.kind) == cls.kind,
            lambda: f"{folder / 'config.json'} describes another model than {cls.kind}",
        )
        model = cls(ViTConfig(**raw))
        model.load_state_dict(load_file(str(folder / "model.safetensors")), strict=True)
        return model.eval().requires_grad_(False)


class CLIPModelIQA(NRModel):
    """CLIP image tower + stored antonym-prompt embeddings (``prompt_features``) + ``logit_scale``."""

    kind = "clip"

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__(cfg)
        self.visual = VisionTransformer(cfg)
        self.register_buffer("prompt_features", torch.randn(2, cfg.output_dim))
        self.register_buffer("logit_scale", torch.tensor(100.0))

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        f = self.visual(_resize_norm(images, self.cfg.image_size, CLIP_MEAN, CLIP_STD))
        return F.normalize(f, dim=-1)

    def quality(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.logit_scale * self.embed(images) @ F.normalize(self.prompt_features, dim=-1).T
        return logits.softmax(dim=-1)[:, 0]


class MUSIQModel(NRModel):
    """Multi-scale ViT with hashed spatial and scale embeddings (``extra``: scales, hash_grid)."""

    kind = "musiq"

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__(cfg)
        self.scales = tuple(cfg.extra.get("scales", (224, 384)))
        self.grid = int(cfg.extra.get("hash_grid", 10))
        w = cfg.width
        self.patch_embed = nn.Conv2d(3, w, cfg.patch_size, stride=cfg.patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, w))
        self.spatial_embedding = nn.Parameter(torch.randn(self.grid * self.grid, w) * 0.02)
        self.scale_embedding = nn.Parameter(torch.randn(len(self.scales) + 1, w) * 0.02)
        self.encoder = _Transformer(w, cfg.layers, cfg.heads)
        self.norm = nn.LayerNorm(w)
        self.head = nn.Linear(w, 1)

    def _patches(self, x: torch.Tensor, scale_index: int) -> torch.Tensor:
        t = self.patch_embed(x)  # (B, W, nh, nw)
        nh, nw = t.shape[-2:]
        rows = (torch.arange(nh, device=x.device) * self.grid // nh)[:, None]
        cols = (torch.arange(nw, device=x.device) * self.grid // nw)[None, :]
        pos = self.spatial_embedding[(rows * self.grid + cols).flatten()]
        return t.flatten(2).transpose(1, 2) + pos + self.scale_embedding[scale_index]

    def quality(self, images: torch.Tensor) -> torch.Tensor:
        p = self.cfg.patch_size
        x = _resize_norm(images, None, IMAGENET_MEAN, IMAGENET_STD)
        h, w = x.shape[-2:]
        inputs = [x[..., : h // p * p, : w // p * p]]
        for s in self.scales:
            r = s / max(h, w)
            size = (max(p, round(h * r) // p * p), max(p, round(w * r) // p * p))
            inputs.append(F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True))
        tokens = torch.cat(
            [self.cls_token.expand(x.shape[0], -1, -1)] + [self._patches(t, i) for i, t in enumerate(inputs)], dim=1
        )
        out, _ = self.encoder(tokens)
        return self.head(self.norm(out[:, 0])).squeeze(-1)


class MANIQAModel(NRModel):
    """ViT multi-layer features -> transposed attention -> per-patch score x weight (``extra``: layers)."""

    kind = "maniqa"

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__(cfg)
        self.layers = tuple(cfg.extra.get("layers", (6, 7, 8, 9)))
        self.vit = VisionTransformer(cfg)
        c = cfg.width * len(self.layers)
        self.tab_norm = nn.LayerNorm(c)
        self.tab_qkv = nn.Linear(c, 3 * c)
        self.reduce = nn.Linear(c, cfg.width)
        self.score_head = nn.Sequential(nn.Linear(cfg.width, cfg.width), nn.ReLU(), nn.Linear(cfg.width, 1), nn.ReLU())
        self.weight_head = nn.Sequential(
            nn.Linear(cfg.width, cfg.width), nn.ReLU(), nn.Linear(cfg.width, 1), nn.Sigmoid()
        )

    def quality(self, images: torch.Tensor) -> torch.Tensor:
        _, kept = self.vit.tokens(_resize_norm(images, self.cfg.image_size, IMAGENET_MEAN, IMAGENET_STD), self.layers)
        f = torch.cat([k[:, 1:] for k in kept], dim=-1)  # (B, N, C): patch tokens of the chosen layers
        q, k, v = self.tab_qkv(self.tab_norm(f)).chunk(3, dim=-1)
        attn = (F.normalize(q, dim=1).transpose(1, 2) @ F.normalize(k, dim=1)).softmax(
            dim=-1
        )  # (B, C, C): channel attention
        f = f + (attn @ v.transpose(1, 2)).transpose(1, 2)
        f = self.reduce(f)
        s, w = self.score_head(f).squeeze(-1), self.weight_head(f).squeeze(-1)
        return (s * w).sum(dim=1) / w.sum(dim=1).clamp_min(1e-8)


# -- registered adapters -------------------------------------------------------------------------------
class _Adapter(NetworkMetric):
    """A registered no-reference (or CLIP) metric around an :class:`NRModel` held as the child module ``net``."""

    _model_cls: ClassVar[type[NRModel]]
    _min_size = 16

    def __init__(self, weights_dir: str | os.PathLike[str] | None = None, **conventions: Any) -> None:
        folder = Path(weights_dir) if weights_dir is not None else _default_dir(self.spec.name)
        super().__init__(self._model_cls.load(folder), **conventions)
        self.weights_folder = str(folder)

    def _check_extra(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> None:
        super()._check_extra(preds, target, **extra)
        check(
            min(preds.shape[-2:]) >= self._min_size,
            lambda: f"{self.spec.name} needs images of at least {self._min_size} px, got {tuple(preds.shape[-2:])}",
        )

    def _score(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> torch.Tensor:
        model = self._net_on(preds.device)
        with torch.set_grad_enabled(preds.requires_grad):
            return self._run_model(model, preds.float(), None if target is None else target.float()).to(preds.dtype)

    def _run_model(self, model: Any, preds: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        return model.quality(preds)

    def definition(self) -> dict[str, Any]:
        d = super().definition()
        d["conventions"]["weights_dir"] = self.weights_folder
        return d


def _default_dir(name: str) -> Path:
    return metric_weights_dir() / name


def _nr_spec(name: str, ref: str, rng: tuple[float, float], higher: bool, description: str, **conv: Any) -> MetricSpec:
    return MetricSpec(
        name=name,
        higher_is_better=higher,
        reference=ref,
        value_range=rng,
        differentiable=True,
        conventions={"weights": f"local: $REFOCUS_BENCH_HOME/weights/metrics/{name}/", **conv},
        inputs=("preds", "target") if ref == "full" else ("preds",),
        description=description,
    )


class CLIPIQA(_Adapter):
    """CLIP-IQA: probability of "Good photo." against "Bad photo." (no reference)."""

    spec = _nr_spec(
        "clipiqa.vit",
        "none",
        (0.0, 1.0),
        True,
        "CLIP-IQA antonym-prompt quality (local weights)",
        prompts=("Good photo.", "Bad photo."),
        preprocess="bicubic resize to image_size, CLIP mean/std",
        logit_scale="from weights (CLIP: 100)",
    )
    _model_cls = CLIPModelIQA


class CLIPImageSimilarity(_Adapter):
    """CLIP-I: cosine similarity of CLIP image embeddings of preds and target."""

    spec = _nr_spec(
        "clip_i.vit",
        "full",
        (-1.0, 1.0),
        True,
        "CLIP image-embedding cosine similarity (local weights)",
        preprocess="bicubic resize to image_size, CLIP mean/std",
    )
    _model_cls = CLIPModelIQA

    def _run_model(self, model: Any, preds: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
        e = model.embed(torch.cat([preds, target], dim=0))
        b = preds.shape[0]
        return (e[:b] * e[b:]).sum(dim=-1)


class MUSIQ(_Adapter):
    """MUSIQ: multi-scale image quality transformer (no reference; MOS units of its training set)."""

    spec = _nr_spec(
        "musiq.vit",
        "none",
        (0.0, 100.0),
        True,
        "MUSIQ multi-scale quality transformer (local weights)",
        scales="from config (paper: 224, 384 + native)",
        hash_grid="from config (paper: 10)",
        preprocess="ImageNet mean/std, native + resized scales",
        score_scale="KonIQ-10k MOS [0, 100] for the KonIQ model",
    )
    _model_cls = MUSIQModel
    _min_size = 32


class MANIQA(_Adapter):
    """MANIQA-style: multi-layer ViT features, transposed attention, weighted per-patch scores (no reference)."""

    spec = _nr_spec(
        "maniqa.vit",
        "none",
        (0.0, 1.0),
        True,
        "MANIQA-style attention quality head (local weights)",
        layers="from config (paper: 6-9 of ViT-B/8)",
        preprocess="bicubic resize to image_size, ImageNet mean/std",
        score_scale="PIPAL-normalised MOS [0, 1]",
    )
    _model_cls = MANIQAModel
