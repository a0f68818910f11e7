"""Simulators: the render engine and what is built on it.

Three subpackages, following the flow of data:

* :mod:`~refocus_bench.simulators.render` - the engine: thin-lens defocus blur of RGB-D images and
  layered scenes (apertures, soft layers, disocclusion fill, sub-apertures, compositing), plus a
  scatter baseline and an exact shift-and-add reference;
* :mod:`~refocus_bench.simulators.pairs` - training pairs: scenes, parameter sampling, shards and
  their dataset card;
* :mod:`~refocus_bench.simulators.lightfield` - sub-aperture light fields: loading and refocusing.

The engine's main names are re-exported here, imported on first use (``import
refocus_bench.simulators`` loads no subpackage)::

    >>> from refocus_bench.simulators import RenderConfig
    >>> RenderConfig().rel_layer_step
    0.35
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

__all__ = [
    "render",
    "pairs",
    "lightfield",
    "render_bokeh",
    "render_layered",
    "DefocusRenderer",
    "RenderConfig",
    "make_aperture",
    "list_apertures",
]

_SUBPACKAGES = ("render", "pairs", "lightfield")
_ENGINE = ("render_bokeh", "render_layered", "DefocusRenderer", "RenderConfig", "make_aperture", "list_apertures")

if TYPE_CHECKING:
    from . import lightfield, pairs, render
    from .render import DefocusRenderer, RenderConfig, list_apertures, make_aperture, render_bokeh, render_layered


__getattr__, __dir__ = lazy_exports(__name__, {**{p: "" for p in _SUBPACKAGES}, **{n: "render" for n in _ENGINE}})
