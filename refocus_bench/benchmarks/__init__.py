"""Benchmarks: declarative, versioned definitions and the registry verbs.

``list_benchmarks("synthetic-*")`` and ``create_benchmark(name, **kw)`` work like the model and metric
registries: unknown names raise with close matches, third-party packages register through the
``refocus_bench.benchmarks`` entry-point group, nothing heavy is imported until used.
"""

from __future__ import annotations

from typing import Any

from ..registry import Registry
from ..tasks import TASKS
from .base import Benchmark, BenchmarkSample, BenchmarkSpec

__all__ = [
    "BENCHMARKS",
    "list_benchmarks",
    "create_benchmark",
    "Benchmark",
    "BenchmarkSample",
    "BenchmarkSpec",
    "TASKS",
]

BENCHMARKS = Registry("benchmark", "refocus_bench.benchmarks")

# name -> "module:factory"; filled in by the built-in and dataset benchmark modules.
# Built-in generated benchmarks (no download; cached under $REFOCUS_BENCH_HOME/benchmarks). Factories
# take optional cache_dir=, num_samples=, seed=, aperture_samples=, on_corrupt=, progress= (and size=
# for the synthetic ones, crop=/scale= for Middlebury); see docs/benchmarks.md.
_LAZY: dict[str, str] = {
    "synthetic-deblur": "refocus_bench.benchmarks.synthetic:synthetic_deblur",
    "synthetic-deblur-oracle-coc": "refocus_bench.benchmarks.synthetic:synthetic_deblur_oracle_coc",
    "synthetic-bokeh": "refocus_bench.benchmarks.synthetic:synthetic_bokeh",
    "synthetic-bokeh-oracle": "refocus_bench.benchmarks.synthetic:synthetic_bokeh_oracle",
    "synthetic-refocus": "refocus_bench.benchmarks.synthetic:synthetic_refocus",
    "synthetic-bokeh-sweep": "refocus_bench.benchmarks.synthetic_sweep:synthetic_bokeh_sweep",
    "synthetic-refocus-sweep": "refocus_bench.benchmarks.synthetic_sweep:synthetic_refocus_sweep",
    "middlebury-bokeh": "refocus_bench.benchmarks.middlebury:middlebury_bokeh",
    # Benchmarks on local dataset copies (nothing downloaded): factories need root=<your copy>; see
    # refocus_bench/benchmarks/from_datasets.py and docs/benchmarks.md.
    "dpdd-test": "refocus_bench.benchmarks.from_datasets:dpdd_test",
    "realdof": "refocus_bench.benchmarks.from_datasets:realdof",
    "lfdof-test": "refocus_bench.benchmarks.from_datasets:lfdof_test",
    "cuhk-blur": "refocus_bench.benchmarks.from_datasets:cuhk_blur",
    "realbokeh-deblur": "refocus_bench.benchmarks.from_datasets:realbokeh_deblur",
    "blb-bokeh": "refocus_bench.benchmarks.from_datasets:blb_bokeh",
    # EBB! with focus and K fitted by route (c): also need fits=<a fit-blur run>; see benchmarks/ebb.py.
    "ebb400-bokeh": "refocus_bench.benchmarks.ebb:ebb400_bokeh",
    "ebb-val294-bokeh": "refocus_bench.benchmarks.ebb:ebb_val294_bokeh",
    # NTIRE 2023 bokeh transformation: the challenge's lens-to-lens task (benchmarks/ntire23_lens.py), and the
    # same data as refocus with matte depth and an oracle K (benchmarks/ntire23.py).
    "ntire23-lens-to-lens": "refocus_bench.benchmarks.ntire23_lens:ntire23_lens_to_lens",
    "ntire23-refocus-oracle-k": "refocus_bench.benchmarks.ntire23:ntire23_refocus_oracle_k",
}
for _name, _ref in _LAZY.items():
    BENCHMARKS.register(_name, _ref)


def list_benchmarks(pattern: str = "*") -> list[str]:
    """Registered benchmark names matching the glob ``pattern``, sorted."""
    return BENCHMARKS.list(pattern)


def create_benchmark(name: str, **kwargs: Any) -> Benchmark:
    """Instantiate the benchmark ``name`` (raises UnknownNameError with close matches)."""
    return BENCHMARKS.create(name, **kwargs)
