"""``refocus-bench weights import NAME PATH``: a user's downloaded official checkpoint -> checked safetensors.

Weights that may not be redistributed (CLIP for ``clipiqa.vit``/``clip_i.vit``; pyiqa's MUSIQ and
MANIQA checkpoints) are downloaded by the user and imported once:

* CLIP metrics: ``PATH`` is a ``transformers`` CLIP folder (e.g. a snapshot of
  ``openai/clip-vit-base-patch16``). It is loaded with ``CLIPModel`` (no missing or unexpected keys
  allowed) and written again as safetensors with its processor files.
* pyiqa metrics: ``PATH`` is the released ``.pth``; it is read with ``torch.load(weights_only=True)``,
  unwrapped as pyiqa does (a ``params`` entry, a ``module.`` prefix), loaded strictly into pyiqa's
  architecture, and written as ``model.safetensors`` plus ``config.json``.

The result goes to ``$REFOCUS_BENCH_HOME/weights/metrics/<NAME>/`` with ``card.json``: the source
file and its sha256, the sha256 of every written file, and the licence. Loading checks the weights
file against the recorded sha256 (:func:`verify_folder`); a metric records it with its scores.
Writes are atomic: the folder appears complete or not at all.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, MissingFileError, UnknownNameError, check
from ..hashing import file_sha256
from ..home import metric_weights_dir
from .extras import PYIQA_INSTALL, pyiqa_installed
from .imported_card import CARD, recorded_sha256, verify_folder

__all__ = ["IMPORTABLE", "import_weights", "import_status", "recorded_sha256", "verify_folder", "CARD"]

IMPORTABLE: dict[str, dict[str, str]] = {
    "clipiqa.vit": {
        "kind": "clip",
        "source": "https://huggingface.co/openai/clip-vit-base-patch16 (a local snapshot folder)",
        "licence": "MIT (OpenAI CLIP)",
    },
    "clip_i.vit": {
        "kind": "clip",
        "source": "https://huggingface.co/openai/clip-vit-base-patch16 (a local snapshot folder)",
        "licence": "MIT (OpenAI CLIP)",
    },
    "musiq.koniq": {
        "kind": "pyiqa",
        "source": "https://huggingface.co/chaofengc/IQA-PyTorch-Weights musiq_koniq_ckpt-e95806b9.pth",
        "licence": "MUSIQ weights: Apache-2.0 (google-research); code: pyiqa, PolyForm-Noncommercial-1.0.0",
    },
    "maniqa.koniq": {
        "kind": "pyiqa",
        "source": "https://huggingface.co/chaofengc/IQA-PyTorch-Weights ckpt_koniq10k.pt",
        "licence": "MANIQA weights: Apache-2.0 (IIGROUP/MANIQA); code: pyiqa, PolyForm-Noncommercial-1.0.0",
    },
}


def _entry(name: str) -> dict[str, str]:
    if name not in IMPORTABLE:
        raise UnknownNameError(f"NAME: no importable weights called {name!r}; known: {', '.join(IMPORTABLE)}")
    return IMPORTABLE[name]


def _unwrap(obj: Any, path: Path) -> dict[str, Any]:
    import torch

    if isinstance(obj, dict) and "params" in obj and isinstance(obj["params"], dict):
        obj = obj["params"]
    check(isinstance(obj, dict), lambda: f"PATH: {path} does not hold a state dict", exc=InvalidInputError)
    out = {(k[7:] if k.startswith("module.") else k): v for k, v in obj.items()}
    bad = [k for k, v in out.items() if not isinstance(v, torch.Tensor)]
    check(not bad, lambda: f"PATH: {path} holds non-tensor entries {bad[:5]}", exc=InvalidInputError)
    return out


def _import_pyiqa(name: str, path: Path, dest: Path) -> None:
    import torch
    from safetensors.torch import save_file

    from .iqa_noncommercial import build_network

    check(path.is_file(), lambda: f"PATH: expected the checkpoint file, got {path}", exc=MissingFileError)
    state = _unwrap(torch.load(path, map_location="cpu", weights_only=True), path)
    net = build_network(name)
    want = net.state_dict()
    missing, unexpected = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    shapes = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in want.items()
        if k in state and state[k].shape != v.shape
    ]
    check(
        not missing and not unexpected and not shapes,
        lambda: f"PATH: {path} is not a {name} checkpoint: missing keys {missing[:8]}, "
        f"unexpected keys {unexpected[:8]}, shape mismatches {shapes[:4]}",
        exc=InvalidInputError,
    )
    net.load_state_dict(state, strict=True)
    save_file({k: v.detach().contiguous() for k, v in net.state_dict().items()}, str(dest / "model.safetensors"))
    (dest / "config.json").write_text(json.dumps({"arch": {}}, indent=2))


def _import_clip(name: str, path: Path, dest: Path) -> None:
    from transformers import CLIPModel, CLIPProcessor

    check(path.is_dir(), lambda: f"PATH: expected a transformers CLIP folder, got {path}", exc=MissingFileError)
    model, info = CLIPModel.from_pretrained(str(path), local_files_only=True, output_loading_info=True)
    problems = {
        k: sorted(v)[:8] for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and v
    }
    check(not problems, lambda: f"PATH: {path} is not a complete CLIP model: {problems}", exc=InvalidInputError)
    model.save_pretrained(str(dest), safe_serialization=True)
    CLIPProcessor.from_pretrained(str(path), local_files_only=True).save_pretrained(str(dest))


def import_weights(name: str, path: str | os.PathLike[str], *, home: str | os.PathLike[str] | None = None) -> Path:
    """Check and convert a downloaded checkpoint for metric ``name``; returns the folder it now lives in.

    Raises:
        UnknownNameError: ``name`` takes no imported weights.
        MissingFileError / InvalidInputError: ``path`` is absent or is not that model (keys listed).
    """
    entry = _entry(name)
    src = Path(path)
    check(src.exists(), lambda: f"PATH: not found: {src}", exc=MissingFileError)
    root = metric_weights_dir(home)
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        (_import_clip if entry["kind"] == "clip" else _import_pyiqa)(name, src, tmp)
        card = {
            "metric": name,
            "source": entry["source"],
            "licence": entry["licence"],
            "imported_from": src.name,
            "source_sha256": file_sha256(src) if src.is_file() else None,
            "files": {p.name: file_sha256(p) for p in sorted(tmp.iterdir()) if p.is_file()},
        }
        (tmp / CARD).write_text(json.dumps(card, indent=2))
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def import_status(home: str | os.PathLike[str] | None = None) -> list[dict[str, str]]:
    """One row per importable metric: name, state (``ok``/``missing``), folder, where to get the weights,
    and ``needs`` (what to install first) when the metric's code is not installed."""
    root = metric_weights_dir(home)
    rows = []
    for name, entry in IMPORTABLE.items():
        folder = root / name
        state = "ok" if recorded_sha256(folder) and (folder / "model.safetensors").is_file() else "missing"
        row = {"name": name, "state": state, "folder": str(folder), **entry}
        if entry["kind"] == "pyiqa" and not pyiqa_installed():
            row["needs"] = PYIQA_INSTALL
        rows.append(row)
    return rows
