"""The optional non-commercial extra (pyiqa): whether it is installed, and how to install it.

One definition of both, used by the registry (:mod:`refocus_bench.metrics`), the availability report
(:mod:`.availability`), the weight import status (:mod:`.weights_import`) and the pyiqa metrics
themselves (:mod:`.iqa_noncommercial`). Checking imports nothing heavy (``importlib.util.find_spec``).

    >>> isinstance(pyiqa_installed(), bool)
    True
    >>> "iqa-noncommercial" in PYIQA_INSTALL
    True
"""

from __future__ import annotations

import importlib.util

__all__ = ["PYIQA_INSTALL", "pyiqa_installed"]

PYIQA_INSTALL = "pip install 'refocus-bench[iqa-noncommercial]' (pyiqa, non-commercial licence)"
"""The command that installs the optional extra, with its licence named."""


def pyiqa_installed() -> bool:
    """Whether pyiqa is importable (found on the path; not imported)."""
    return importlib.util.find_spec("pyiqa") is not None
