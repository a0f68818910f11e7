"""Benchmarks: declarative, versioned definitions and the registry verbs.

``list_benchmarks("synthetic-*")`` and ``create_benchmark(name, **kw)`` work like the model and metric
registries: unknown names raise with close matches, third-party packages register through the
``refocus_bench.benchmarks`` entry-point group, nothing heavy is imported until used.
"""

from __future__ import annotations

from typing import Any

from ..registry import Registry
from .base import TASKS, Benchmark, BenchmarkSample, BenchmarkSpec

__all__ = ["BENCHMARKS", "list_benchmarks", "create_benchmark", "Benchmark", "BenchmarkSample", "BenchmarkSpec", "TASKS"]

BENCHMARKS = Registry("benchmark", "refocus_bench.benchmarks")

# name -> "module:factory"; filled in by the built-in and dataset benchmark modules.
_LAZY: dict[str, str] = {}
for _name, _ref in _LAZY.items():
    BENCHMARKS.register(_name, _ref)


def list_benchmarks(pattern: str = "*") -> list[str]:
    """Registered benchmark names matching the glob ``pattern``, sorted."""
    return BENCHMARKS.list(pattern)


def create_benchmark(name: str, **kwargs: Any) -> Benchmark:
    """Instantiate the benchmark ``name`` (raises UnknownNameError with close matches)."""
    return BENCHMARKS.create(name, **kwargs)
