"""refocus-bench: single-image refocusing toolkit.

Physics bokeh simulator (:mod:`refocus_bench.optics`, :mod:`refocus_bench.simulators`), metrics,
models, benchmarks and leaderboards. This module is the package's front door: it re-exports names
from every layer and no module of the package imports it. Every name but the errors and the version
is imported on first use, so ``import refocus_bench`` (and the CLI's ``--help``) loads no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import InvalidInputError, MissingFileError, RefocusBenchError, UnknownNameError
from .lazy import lazy_exports
from .version import __version__

if TYPE_CHECKING:
    from .optics import ThinLens
    from .runner.evaluation import evaluate

__all__ = [
    "__version__",
    "ThinLens",
    "RefocusBenchError",
    "InvalidInputError",
    "UnknownNameError",
    "MissingFileError",
    "evaluate",
]

__getattr__, __dir__ = lazy_exports(__name__, {"ThinLens": "optics", "evaluate": "runner.evaluation"})
