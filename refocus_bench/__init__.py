"""refocus-bench: single-image refocusing toolkit.

Physics bokeh simulator (:mod:`refocus_bench.optics`, :mod:`refocus_bench.simulators`), metrics,
models, benchmarks and leaderboards. Heavy subpackages are imported lazily.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import InvalidInputError, MissingFileError, RefocusBenchError, UnknownNameError  # noqa: E402
from .optics import ThinLens  # noqa: E402

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
