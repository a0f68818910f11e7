"""refocus-bench: single-image refocusing toolkit.

Physics bokeh simulator (:mod:`refocus_bench.optics`, :mod:`refocus_bench.simulators`), metrics,
models, benchmarks and leaderboards. Heavy subpackages are imported lazily. This module is the
package's front door: it re-exports names from every layer and no module of the package imports it.
"""

from __future__ import annotations

from .errors import InvalidInputError, MissingFileError, RefocusBenchError, UnknownNameError
from .optics import ThinLens
from .version import __version__

__all__ = [
    "__version__",
    "ThinLens",
    "RefocusBenchError",
    "InvalidInputError",
    "UnknownNameError",
    "MissingFileError",
    "evaluate",
]


def __getattr__(attr: str):  # noqa: ANN202 - lazy export: the runner imports torch, pandas ...
    if attr == "evaluate":
        from .runner.evaluation import evaluate

        return evaluate
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
