"""Refocusing models: task interfaces (refocus_bench.tasks), a registry, baselines and the reference GenRefocus models.

The registry verbs are the public API::

    >>> from refocus_bench.models import list_models, create_model, model_card
    >>> "deblur.wiener" in list_models("deblur.*")
    True
    >>> model_card("bokeh.gaussian").tasks
    ('bokeh',)

Entries are lazy ``"module:Class"`` placeholders: importing this package imports no network and
reads no weights. Third-party packages add models through the ``refocus_bench.models`` entry-point
group (``name = "package.module:Class"``); the class derives from
:class:`~refocus_bench.models.base.RefocusModel` and gets the conformance tests for free.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MissingFileError, check
from ..lazy import lazy_exports
from ..registry import Registry
from ..tasks import TASKS
from .card import ModelCard, WeightsFile

if TYPE_CHECKING:
    from .base import BokehRequest, RefocusModel, make_bokeh_request

__all__ = [
    "MODELS",
    "TASKS",
    "list_models",
    "create_model",
    "model_card",
    "cards_markdown",
    "save_model",
    "load_model",
    "ModelCard",
    "WeightsFile",
    "RefocusModel",
    "BokehRequest",
    "make_bokeh_request",
]

MODELS = Registry("model", "refocus_bench.models")

# torch-bound names load on first use, so listing models and the CLI's --help import no torch
__getattr__, __dir__ = lazy_exports(
    __name__, {"RefocusModel": "base", "BokehRequest": "base", "make_bokeh_request": "base"}
)

_LAZY = {
    "identity": "refocus_bench.models.baselines.identity:Identity",
    "deblur.wiener": "refocus_bench.models.baselines.deconvolution:WienerDeblur",
    "deblur.richardson_lucy": "refocus_bench.models.baselines.deconvolution:RichardsonLucyDeblur",
    "deblur.unsharp": "refocus_bench.models.baselines.deconvolution:UnsharpMask",
    "bokeh.layered": "refocus_bench.models.baselines.bokeh:LayeredBokeh",
    "bokeh.scatter": "refocus_bench.models.baselines.bokeh:ScatterBokeh",
    "bokeh.gaussian": "refocus_bench.models.baselines.bokeh:GaussianBokeh",
    "refocus.cascade": "refocus_bench.models.baselines.cascade:Cascade",
    "genrefocus.tiny": "refocus_bench.models.genrefocus.tiny:GenRefocusTiny",
    "genrefocus.flux": "refocus_bench.models.genrefocus.flux.model:GenRefocusFlux",
}
for _name, _ref in _LAZY.items():
    MODELS.register(_name, _ref)

MODEL_JSON = "model.json"
MODEL_WEIGHTS = "model.safetensors"


def list_models(pattern: str = "*", task: str | None = None) -> list[str]:
    """Registered model names matching ``pattern`` (shell-style), optionally only those supporting ``task``."""
    names = MODELS.list(pattern)
    if task is None:
        return names
    check(task in TASKS, lambda: f"task must be one of {TASKS}, got {task!r}")
    return [n for n in names if task in model_card(n).tasks]


def model_card(name: str) -> ModelCard:
    """The :class:`ModelCard` of ``name`` (imports the model's module, builds nothing)."""
    return MODELS.get(name).card


def cards_markdown(pattern: str = "*") -> str:
    """A Markdown table generated from the model cards (for documentation; never written by hand)."""
    lines = ["| model | tasks | summary | licence | weights (sha256) | paper |", "|---|---|---|---|---|---|"]
    for name in list_models(pattern):
        c = model_card(name)
        weights = (
            "; ".join(
                f"`{w.filename}` ({w.sha256[:12] + '...' if w.sha256 else 'no published hash'})" for w in c.weights
            )
            or "none"
        )
        cells = [f"`{name}`", ", ".join(c.tasks), c.summary, c.licence, weights, c.paper or "-"]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def create_model(name: str, **kwargs: Any) -> RefocusModel:
    """Instantiate model ``name``.

    Raises:
        UnknownNameError: ``name`` is not registered (the message lists close matches).
        MissingFileError: the model's weights are not on disk (the message says where to put them).
    """
    from .base import RefocusModel

    model = MODELS.create(name, **kwargs)
    check(
        isinstance(model, RefocusModel),
        lambda: f"model {name!r} must derive from RefocusModel, got {type(model).__name__}",
    )
    model.registry_name = name
    return model.eval()


def save_model(model: RefocusModel, directory: str | os.PathLike[str]) -> Path:
    """Write ``model.json`` (name, config, card) and ``model.safetensors`` into ``directory``."""
    from safetensors.torch import save_file

    from ..io import atomic_path, atomic_write_json
    from ..version import __version__

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    tensors = model.state_to_save()
    with atomic_path(d / MODEL_WEIGHTS) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
    record = {
        "name": model.name,
        "config": model.config(),
        "card": model.card.as_dict(),
        "toolkit_version": __version__,
    }
    json.dumps(record)  # fail before writing when the config is not JSON-serialisable
    atomic_write_json(d / MODEL_JSON, record)
    return d


def load_model(directory: str | os.PathLike[str]) -> RefocusModel:
    """Re-create a model written by :func:`save_model`."""
    from safetensors.torch import load_file

    d = Path(directory)
    meta = d / MODEL_JSON
    check(meta.is_file(), lambda: f"{str(d)!r} holds no saved model ({MODEL_JSON} missing)", exc=MissingFileError)
    record = json.loads(meta.read_text())
    model = create_model(record["name"], **record["config"])
    weights = d / MODEL_WEIGHTS
    tensors = load_file(str(weights)) if weights.is_file() else {}
    model.load_saved_state(tensors)
    return model.eval()
