"""Lazy re-exports for package ``__init__`` modules: the one way a package names its public API.

A package lists where each public name lives and gets a module ``__getattr__`` that imports that
submodule on first use (so ``import refocus_bench.runner`` stays light and a CLI's ``--help``
imports nothing heavy) and a ``__dir__`` that shows the names before they are loaded. The value is
cached in the package's namespace, so the import happens once.

In a package ``__init__``::

    _EXPORTS = {"evaluate": "evaluation", "Evaluation": "evaluation"}
    __all__ = sorted(_EXPORTS)
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

Example (the standard library's ``json`` package, whose encoder lives in ``json.encoder``):
    >>> getattr_, dir_ = lazy_exports("json", {"JSONEncoder": "encoder"})
    >>> getattr_("JSONEncoder").__module__
    'json.encoder'
    >>> "JSONEncoder" in dir_()
    True
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` whose name ``n`` lives in submodule ``exports[n]``.

    Args:
        package: the package's ``__name__``.
        exports: public name -> submodule name relative to the package (``"evaluation"``, or a
            dotted path below it) that defines it; ``""`` exports the submodule ``name`` itself.
    """

    def __getattr__(name: str) -> Any:
        home = exports.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if home == "":
            value = importlib.import_module(f"{package}.{name}")
        else:
            value = getattr(importlib.import_module(f"{package}.{home}"), name)
        module = sys.modules.get(package)
        if module is not None:
            setattr(module, name, value)
        return value

    def __dir__() -> list[str]:
        module = sys.modules.get(package)
        return sorted(set(vars(module) if module is not None else ()) | set(exports))

    return __getattr__, __dir__
