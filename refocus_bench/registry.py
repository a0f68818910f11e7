"""One generic registry for models, metrics, benchmarks and apertures.

Entries are registered three ways, all lazy where possible:

* a decorator on a class or factory: ``@MODELS.register("deblur.wiener")``;
* a placeholder string ``"package.module:object"`` that is imported on first use, so an entry
  exists whether or not its module was imported (timm's failure mode does not happen here);
* a setuptools entry point in the registry's group (``refocus_bench.models`` ...), discovered
  the first time the registry is listed or queried. Third-party packages need no code change here.

Registering the same name twice is an error (pass ``override=True`` to replace on purpose).
Unknown names raise :class:`~refocus_bench.errors.UnknownNameError` with close matches.

Example:
    >>> reg = Registry("widget")
    >>> @reg.register("widget.round")
    ... def make_round(radius=1.0):
    ...     return ("round", radius)
    >>> reg.create("widget.round", radius=2.0)
    ('round', 2.0)
    >>> reg.list("*round*")
    ['widget.round']
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
from collections.abc import Callable, Iterator
from importlib import metadata
from typing import Any

from .errors import InvalidInputError, UnknownNameError, check

__all__ = ["Registry"]


def _load(ref: str) -> Any:
    module_name, _, attr = ref.partition(":")
    module = importlib.import_module(module_name)
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Registry:
    """A name -> object map with lazy placeholders and entry-point discovery.

    Args:
        kind: what the entries are ("model", "metric", ...), used in messages.
        entry_point_group: setuptools entry-point group scanned once, lazily.
    """

    def __init__(self, kind: str, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, Any] = {}
        self._descriptions: dict[str, str] = {}
        self._discovered = entry_point_group is None

    # -- registration -------------------------------------------------------------------------
    def register(self, name: str, obj: Any = None, *, description: str = "", override: bool = False) -> Any:
        """Register ``obj`` (an object or a ``"module:obj"`` string) under ``name``.

        Without ``obj`` this returns a decorator.
        """
        check(
            isinstance(name, str) and name.strip() == name and name,
            f"{self.kind} name must be a non-empty string without surrounding spaces, got {name!r}",
        )

        def add(target: Any) -> Any:
            if name in self._entries and not override:
                raise InvalidInputError(f"{self.kind} {name!r} is already registered; pass override=True to replace it")
            self._entries[name] = target
            doc = description
            if not doc and not isinstance(target, str):
                doc = (getattr(target, "__doc__", None) or "").strip().splitlines()[0:1]
                doc = doc[0] if doc else ""
            self._descriptions[name] = doc
            return target

        if obj is None:
            return add
        add(obj)
        return obj

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        for ep in metadata.entry_points(group=self.entry_point_group):
            if ep.name not in self._entries:
                self._entries[ep.name] = ep.value
                self._descriptions.setdefault(ep.name, f"(entry point from {ep.value})")

    # -- lookup -------------------------------------------------------------------------------
    def names(self) -> list[str]:
        self._discover()
        return sorted(self._entries)

    def list(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell-style ``pattern``, sorted."""
        return [n for n in self.names() if fnmatch.fnmatchcase(n, pattern)]

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def get(self, name: str) -> Any:
        """The registered object, importing a lazy placeholder on first use."""
        self._discover()
        if name not in self._entries:
            close = difflib.get_close_matches(name, list(self._entries), n=5, cutoff=0.5)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}{hint} (see list_{self.kind}s() for all {len(self._entries)} names)"
            )
        obj = self._entries[name]
        if isinstance(obj, str):
            obj = _load(obj)
            self._entries[name] = obj
            if not self._descriptions.get(name) or self._descriptions[name].startswith("(entry point"):
                lines = (getattr(obj, "__doc__", None) or "").strip().splitlines()
                self._descriptions[name] = lines[0] if lines else self._descriptions.get(name, "")
        return obj

    def create(self, name: str, **kwargs: Any) -> Any:
        """Instantiate (call) the entry registered under ``name`` with ``kwargs``."""
        factory: Callable[..., Any] = self.get(name)
        return factory(**kwargs)

    def describe(self, name: str) -> str:
        """One-line description of an entry (loads it if it is a placeholder without one)."""
        if not self._descriptions.get(name):
            self.get(name)
        return self._descriptions.get(name, "")
