"""``genrefocus.flux``: the released GenRefocus architecture (FLUX.1-dev + DeblurNet/BokehNet LoRAs).

Weights load from local paths only:

* ``base``: a diffusers folder of FLUX.1-dev (``model_index.json``, transformer, vae, text encoders,
  tokenizers, scheduler), default ``$REFOCUS_BENCH_HOME/weights/models/FLUX.1-dev``;
* ``deblur_lora`` / ``bokeh_lora``: the released ``deblurNet.safetensors`` / ``bokehNet.safetensors``,
  default in ``$REFOCUS_BENCH_HOME/weights/models``.

FLUX.1-dev needs a large GPU (about 24 GB of weights in bfloat16); ``tiny={...}`` builds toy-sized
random components instead (:mod:`.tiny_components`) so the whole path runs in tests on a CPU.

Images are resized to the next multiple of 16 px (VAE x packing; the release does the same), run,
and resized back. ``refocus`` = DeblurNet, then BokehNet on the AIF with the defocus map of the new
focus/K; with ``K = 0`` it returns the DeblurNet result, as the released demo does. The released
BokehNet knows only the round aperture, so other apertures are rejected.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ....errors import MissingFileError, check
from ....home import model_weights_dir
from ....simulators.render.apertures import Disk
from ...base import BokehRequest, ModelCard, RefocusModel, WeightsFile
from ...weights import resolve_weights
from .lora import GatedLoRALinear, adapter_state, inject_lora, parse_lora_state, read_lora_file
from .pipeline import FluxSampler

__all__ = ["GenRefocusFlux", "LORA_FILES", "BASE_FOLDER"]

_RELEASE = "https://huggingface.co/nycu-cplab/Genfocus-Model"
LORA_FILES = {
    "deblur": WeightsFile(
        "deblurNet.safetensors",
        None,
        "cache",
        f"{_RELEASE} (deblurNet.safetensors)",
        "Apache-2.0 (Genfocus release)",
        "DeblurNet LoRA on FLUX.1-dev (no sha256 published; the file's hash is reported on load)",
    ),
    "bokeh": WeightsFile(
        "bokehNet.safetensors",
        None,
        "cache",
        f"{_RELEASE} (bokehNet.safetensors)",
        "Apache-2.0 (Genfocus release)",
        "BokehNet LoRA on FLUX.1-dev (no sha256 published; the file's hash is reported on load)",
    ),
}
BASE_FOLDER = "FLUX.1-dev"
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class GenRefocusFlux(RefocusModel):
    """GenRefocus on diffusers FLUX components, DeblurNet and BokehNet as condition-token LoRAs.

    Args:
        base: diffusers folder of FLUX.1-dev (ignored with ``tiny``).
        deblur_lora, bokeh_lora: ``"default"`` (released file in the cache folder), a path, ``"random"``
            (random adapter, for tests) or ``None`` (no adapter).
        tiny: build toy random components with these overrides (see :mod:`.tiny_components`).
        steps: sampling steps for both stages (default: the released 28).
        tile: tile size in latent tokens for tiled denoising (32 = 512 px on FLUX).
        max_sequence_length: T5 tokens (512 on FLUX.1-dev).
        black_offset: DeblurNet's black-image position offset in tokens (released: (0, 32)).
        device, dtype: where to run ("cpu", "cuda") and in which precision ("float32", "bfloat16").
    """

    card = ModelCard(
        name="genrefocus.flux",
        tasks=("deblur", "bokeh", "refocus"),
        summary="released GenRefocus: FLUX.1-dev + DeblurNet/BokehNet LoRAs (OminiControl conditions); "
        "needs a large GPU",
        source="architecture of https://github.com/rayray9999/Genfocus, re-implemented on diffusers",
        licence="Apache-2.0 (code); FLUX.1 [dev] Non-Commercial License (base weights)",
        paper="Generative Refocusing: Flexible Defocus Control from a Single Image, arXiv 2512.16923",
        input_contract="sRGB (B, 3, H, W), resized internally to multiples of 16 px (tiled above 512x512); "
        "disk aperture only",
        weights=(LORA_FILES["deblur"], LORA_FILES["bokeh"]),
    )

    def __init__(
        self,
        base: str | os.PathLike[str] | None = None,
        deblur_lora: str | None = "default",
        bokeh_lora: str | None = "default",
        tiny: dict[str, Any] | None = None,
        steps: int | None = None,
        tile: int = 32,
        max_sequence_length: int = 512,
        black_offset: tuple[int, int] | list[int] = (0, 32),
        device: str = "cpu",
        dtype: str = "float32",
        lora_rank: int = 4,
    ) -> None:
        super().__init__()
        check(dtype in _DTYPES, lambda: f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        check(
            steps is None or (isinstance(steps, int) and steps >= 1),
            lambda: f"steps must be an int >= 1, got {steps!r}",
        )
        self.settings = {
            "base": None if base is None else str(base),
            "tiny": tiny,
            "steps": steps,
            "tile": int(tile),
            "max_sequence_length": int(max_sequence_length),
            "black_offset": list(black_offset),
            "device": device,
            "dtype": dtype,
            "lora_rank": int(lora_rank),
        }
        if tiny is not None:
            from .tiny_components import build_tiny_pipeline

            pipe = build_tiny_pipeline(**tiny)
            max_sequence_length = pipe.tokenizer.model_max_length
            self.settings["max_sequence_length"] = int(max_sequence_length)
        else:
            pipe = self._load_base(base, _DTYPES[dtype])
        pipe.to(device)
        self.sampler = FluxSampler(
            pipe, tile=tile, max_sequence_length=max_sequence_length, black_offset=tuple(black_offset)
        )
        self.transformer = pipe.transformer
        self.lora_files: dict[str, str] = {}
        for stage, source in (("deblur", deblur_lora), ("bokeh", bokeh_lora)):
            if source is None:
                continue
            if source == "random":
                self._random_adapter(stage, int(lora_rank), seed=len(stage))
            else:
                path = resolve_weights(LORA_FILES[stage], None if source == "default" else source, model=self.card.name)
                self.add_adapter(stage, read_lora_file(path))
                self.lora_files[stage] = str(path)

    @staticmethod
    def _load_base(base: str | os.PathLike[str] | None, dtype: torch.dtype):
        from diffusers import FluxPipeline

        folder = Path(base).expanduser() if base is not None else model_weights_dir() / BASE_FOLDER
        if not (folder / "model_index.json").is_file():
            raise MissingFileError(
                f"genrefocus.flux: no diffusers FLUX.1-dev folder at {str(folder)!r} (model_index.json missing); "
                "download black-forest-labs/FLUX.1-dev once (licence acceptance needed) and put it there, "
                "or pass base=FOLDER"
            )
        return FluxPipeline.from_pretrained(str(folder), local_files_only=True, torch_dtype=dtype)

    # -- adapters -----------------------------------------------------------------------------------
    def add_adapter(self, stage: str, adapter: dict[str, tuple[torch.Tensor, torch.Tensor, float]]) -> None:
        """Install adapter ``stage`` ({module: (A, B, scale)}) on condition tokens."""
        inject_lora(self.transformer, list(adapter))
        for name, (a, b, scale) in adapter.items():
            module = self.transformer.get_submodule(name)
            check(
                isinstance(module, GatedLoRALinear),
                lambda: f"LoRA target {name!r} is not a linear layer of this transformer",
            )
            module.add_adapter(stage, a, b, scale)

    def _random_adapter(self, stage: str, rank: int, seed: int) -> None:
        g = torch.Generator().manual_seed(1000 + seed)
        names = inject_lora(self.transformer)
        adapter = {}
        for name in names:
            m = self.transformer.get_submodule(name)
            a = torch.randn(rank, m.in_features, generator=g) / m.in_features**0.5
            b = torch.randn(m.out_features, rank, generator=g) * (0.5 / rank**0.5)
            adapter[name] = (a, b, 1.0)
        self.add_adapter(stage, adapter)

    def config(self) -> dict:
        return {**self.settings, "deblur_lora": None, "bokeh_lora": None}

    @classmethod
    def dummy_kwargs(cls) -> dict:
        return {"tiny": {}, "deblur_lora": "random", "bokeh_lora": "random", "steps": 2}

    def state_to_save(self) -> dict[str, torch.Tensor]:
        out = {}
        for stage in ("deblur", "bokeh"):
            out.update({f"{stage}.{k}": v.float().cpu() for k, v in adapter_state(self.transformer, stage).items()})
        return out

    def load_saved_state(self, tensors: dict[str, torch.Tensor]) -> None:
        for stage in ("deblur", "bokeh"):
            part = {k[len(stage) + 1 :]: v for k, v in tensors.items() if k.startswith(stage + ".")}
            if part:
                self.add_adapter(stage, parse_lora_state(part))

    # -- tasks --------------------------------------------------------------------------------------
    def _to_grid(self, x: torch.Tensor) -> torch.Tensor:
        m = self.sampler.multiple
        h, w = x.shape[-2:]
        H, W = -(-h // m) * m, -(-w // m) * m
        x = x.to(device=self.sampler.device, dtype=torch.float32)
        return x if (H, W) == (h, w) else F.interpolate(x, size=(H, W), mode="bilinear", align_corners=False)

    @staticmethod
    def _from_grid(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != like.shape[-2:]:
            x = F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)
        return x.to(device=like.device, dtype=like.dtype).clamp(0.0, 1.0)

    def _deblur(self, image: torch.Tensor, coc_px: torch.Tensor | None) -> torch.Tensor:
        return self._from_grid(self.sampler.deblur(self._to_grid(image), self.settings["steps"]), image)

    def _bokeh(self, image: torch.Tensor, req: BokehRequest) -> torch.Tensor:
        check(
            isinstance(req.aperture, Disk),
            lambda: f"genrefocus.flux renders the round aperture only (the released BokehNet "
            f"has no aperture input), got {req.aperture!r}; use genrefocus.tiny or bokeh.layered for shaped bokeh",
        )
        sharp = (req.k_px_m == 0).to(image.device)
        if bool(sharp.all()):
            return image.clone()
        out = self.sampler.bokeh(self._to_grid(image), self._to_grid(req.defocus_map()), self.settings["steps"])
        out = self._from_grid(out, image)
        return torch.where(sharp[:, None, None, None], image, out)

    def _refocus(self, image: torch.Tensor, req: BokehRequest, input_coc_px: torch.Tensor | None) -> torch.Tensor:
        return self._bokeh(self._deblur(image, input_coc_px), req)  # K = 0 returns the AIF
