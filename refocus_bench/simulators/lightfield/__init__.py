"""Sub-aperture light fields: loading, and synthetic-aperture bokeh by shift-and-add.

Python API::

    from refocus_bench.simulators.lightfield import load_lightfield, refocus
    lf = load_lightfield("views/")                 # folder of view_<row>_<col>.png, or a .npy (V, U, H, W, 3)
    image = refocus(lf, 0.5, "hexagon", 3.0)     # (1, 3, H, W) sRGB focused at disparity 0.5 px per view

Everything lives in ``field`` (conventions at its top). The LF-Bokeh / LF-Refocus benchmarks built
from light fields are in :mod:`refocus_bench.benchmarks.lightfield`. Names resolve lazily: importing
the package imports no module of it.
"""

from __future__ import annotations

from ...lazy import lazy_exports

_EXPORTS = {
    "LightField": "field",
    "load_lightfield": "field",
    "view_weights": "field",
    "refocus": "field",
    "refocus_linear": "field",
    "GridAperture": "field",
    "grid_aperture": "field",
    "synthetic_lightfield": "field",
    "synthetic_dead_leaves_lightfield": "field",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
