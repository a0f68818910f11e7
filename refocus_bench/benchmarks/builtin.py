"""The built-in generated benchmarks as a group: their names and a one-call ``prepare_builtin``.

Example (builds every cache folder once, then only verifies them; minutes the first time, so it is
not run as a doctest)::

    from refocus_bench.benchmarks.builtin import prepare_builtin
    hashes = prepare_builtin()
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .builtin_specs import DATA_OF, SPECS

__all__ = ["BUILTIN_BENCHMARKS", "prepare_builtin"]

BUILTIN_BENCHMARKS = tuple(SPECS)
"""Names of the built-in generated benchmarks (base benchmarks and their protocol variants)."""


def prepare_builtin(
    names: tuple[str, ...] | list[str] | None = None,
    *,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    **kwargs: Any,
) -> dict[str, str]:
    """Generate (or verify) the caches of ``names`` (default: all built-ins); variants reuse their
    base's data. Returns ``{name: content_hash}``."""
    from . import create_benchmark

    out: dict[str, str] = {}
    done: set[str] = set()
    for name in names or BUILTIN_BENCHMARKS:
        bench = create_benchmark(name, cache_dir=cache_dir, progress=progress and DATA_OF[name] not in done, **kwargs)
        bench.prepare()
        done.add(DATA_OF[name])
        out[name] = bench.content_hash()
    return out
