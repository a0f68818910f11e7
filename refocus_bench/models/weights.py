"""Locating, verifying and loading model weights (safetensors only; nothing downloads).

A model card lists :class:`~refocus_bench.models.base.WeightsFile` entries. Each is found

* ``location="package"``: in ``refocus_bench/data/weights`` (shipped in the wheel);
* ``location="cache"``: in :func:`~refocus_bench.home.model_weights_dir` (``$REFOCUS_BENCH_HOME/weights/models``,
  default ``~/.cache/refocus_bench/weights/models``), where the user puts files obtained elsewhere;
* ``location="user"``: only at a path the caller passes.

An explicit path always wins. A missing file raises :class:`MissingFileError` naming where to put
it; a file whose sha256 differs from the card raises :class:`WeightsMismatchError`. Only
safetensors are read, so loading never executes code.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..errors import MissingFileError, RefocusBenchError, check
from ..hashing import file_sha256
from ..home import model_weights_dir
from .card import WeightsFile

__all__ = [
    "WeightsMismatchError",
    "package_weights_dir",
    "resolve_weights",
    "load_safetensors",
]

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "data" / "weights"


class WeightsMismatchError(RefocusBenchError, ValueError):
    """A weight file exists but its sha256 is not the one on the card."""


def package_weights_dir() -> Path:
    """``refocus_bench/data/weights``: weights shipped with the package."""
    return PACKAGE_DIR


def resolve_weights(entry: WeightsFile, path: str | os.PathLike[str] | None = None, *, model: str = "model") -> Path:
    """The on-disk path of ``entry`` (``path`` overrides the card's location).

    Raises:
        MissingFileError: the file is not there; the message says where to put it.
    """
    if path is not None:
        p = Path(path).expanduser()
        if p.is_dir():
            p = p / entry.filename
    elif entry.location == "package":
        p = package_weights_dir() / entry.filename
    elif entry.location == "cache":
        p = model_weights_dir() / entry.filename
    else:
        raise MissingFileError(
            f"{model}: weights {entry.filename!r} ({entry.description or 'weights'}) must be given as a local path; "
            f"obtain them from {entry.source}"
        )
    if not p.is_file():
        where = {
            "package": "it ships with the package; reinstall refocus-bench or regenerate it with",
            "cache": f"put it at {model_weights_dir() / entry.filename} (or pass its path); get it from",
            "user": "pass its path; get it from",
        }[entry.location if path is None else "user"]
        raise MissingFileError(f"{model}: weight file not found: {str(p)!r}; {where} {entry.source}")
    return p


def load_safetensors(
    path: str | os.PathLike[str], sha256: str | None = None, *, device: str | torch.device = "cpu", model: str = "model"
) -> dict[str, torch.Tensor]:
    """Read a safetensors file after checking its sha256 (when ``sha256`` is given)."""
    from safetensors.torch import load_file

    p = Path(path)
    check(p.is_file(), lambda: f"{model}: weight file not found: {str(p)!r}", exc=MissingFileError)
    check(p.suffix == ".safetensors", lambda: f"{model}: only .safetensors weights are loaded, got {str(p)!r}")
    if sha256 is not None:
        got = file_sha256(p)
        if got != sha256:
            raise WeightsMismatchError(
                f"{model}: {str(p)!r} has sha256 {got}, but its card pins {sha256}; "
                "the file is corrupt or a different version"
            )
    return load_file(str(p), device=str(device))
