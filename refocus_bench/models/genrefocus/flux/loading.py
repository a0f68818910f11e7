"""Where ``genrefocus.flux`` finds its weights, and the checks that name what is missing.

* ``base``: a diffusers folder of FLUX.1-dev (``model_index.json`` and one sub-folder per
  component), default ``$REFOCUS_BENCH_HOME/weights/models/FLUX.1-dev``;
* the released LoRA files (:data:`LORA_FILES`), default in ``$REFOCUS_BENCH_HOME/weights/models``.

Nothing is downloaded: a missing folder, component or file raises :class:`MissingFileError` with
the path and what belongs there.

Example:
    >>> sorted(LORA_FILES)
    ['bokeh', 'deblur', 'pre_deblur']
"""

from __future__ import annotations

import os
from pathlib import Path

from ....errors import MissingFileError
from ....home import model_weights_dir
from ...card import WeightsFile

__all__ = ["LORA_FILES", "BASE_FOLDER", "FLUX_COMPONENTS", "base_folder", "check_base_folder", "load_base"]

_RELEASE = "https://huggingface.co/nycu-cplab/Genfocus-Model"


def _lora(filename: str, what: str) -> WeightsFile:
    return WeightsFile(
        filename,
        None,
        "cache",
        f"{_RELEASE} ({filename})",
        "Apache-2.0 (Genfocus release)",
        f"{what} LoRA on FLUX.1-dev (no sha256 published; the file's hash is reported on load)",
    )


LORA_FILES = {
    "deblur": _lora("deblurNet.safetensors", "DeblurNet"),
    "pre_deblur": _lora("deblurNet_with_pre_deblur.safetensors", "DeblurNet with a pre-deblurred input"),
    "bokeh": _lora("bokehNet.safetensors", "BokehNet"),
}
"""The three released adapters, by stage name."""

BASE_FOLDER = "FLUX.1-dev"
FLUX_COMPONENTS = {
    "transformer": "FluxTransformer2DModel (config.json + diffusion_pytorch_model*.safetensors)",
    "vae": "AutoencoderKL (config.json + diffusion_pytorch_model.safetensors)",
    "text_encoder": "CLIPTextModel (config.json + model.safetensors)",
    "text_encoder_2": "T5EncoderModel (config.json + model*.safetensors)",
    "tokenizer": "CLIP tokenizer files",
    "tokenizer_2": "T5 tokenizer files",
    "scheduler": "FlowMatchEulerDiscreteScheduler (scheduler_config.json)",
}
"""The sub-folders of a diffusers FLUX.1 folder and what belongs in each."""


def base_folder(base: str | os.PathLike[str] | None) -> Path:
    """The FLUX folder: ``base`` or ``$REFOCUS_BENCH_HOME/weights/models/FLUX.1-dev``."""
    return Path(base).expanduser() if base is not None else model_weights_dir() / BASE_FOLDER


def check_base_folder(folder: Path) -> None:
    """Raise :class:`MissingFileError` naming the first missing piece of a diffusers FLUX folder."""
    hint = (
        "download black-forest-labs/FLUX.1-dev once (licence acceptance needed) and put it there, or pass base=FOLDER"
    )
    if not (folder / "model_index.json").is_file():
        raise MissingFileError(
            f"genrefocus.flux: no diffusers FLUX.1-dev folder at {str(folder)!r} (model_index.json missing); {hint}"
        )
    for name, what in FLUX_COMPONENTS.items():
        sub = folder / name
        if not sub.is_dir() or not any(sub.iterdir()):
            raise MissingFileError(
                f"genrefocus.flux: the FLUX folder {str(folder)!r} lacks its {name!r} component: "
                f"{str(sub)!r} must hold the {what}; {hint}"
            )


def load_base(base: str | os.PathLike[str] | None, dtype):
    """A diffusers ``FluxPipeline`` from the local folder (checked first), weights in ``dtype``."""
    from diffusers import FluxPipeline

    folder = base_folder(base)
    check_base_folder(folder)
    return FluxPipeline.from_pretrained(str(folder), local_files_only=True, dtype=dtype)
