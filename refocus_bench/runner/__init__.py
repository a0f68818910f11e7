"""The evaluation runner: ``evaluate(model, benchmark, metrics) -> Evaluation`` plus a results record.

Python API::

    from refocus_bench.runner import evaluate
    ev = evaluate("deblur.wiener", "synthetic-deblur", out_dir="results/")
    ev.frame          # pandas.DataFrame, one row per sample
    ev.record         # the results record (schema: refocus_bench.results), written to ev.path

Modules: ``evaluation`` (:func:`evaluate` and its steps, :class:`Evaluation`), ``plan`` (resolve and
check before any work, the run key), ``protocols`` (evaluation protocols: how a benchmark's task is
run and scored), ``worker`` (one sample), ``executors`` (local, process pool, Ray), ``cache``
(per-sample resume), ``record`` (the results record of a run), ``naming`` (the results folder
layout), ``cli`` (``refocus-bench evaluate|list``). Also available as ``refocus_bench.evaluate``.
Importing this package imports nothing heavy; names resolve on first access. See ``docs/runner.md``.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "evaluate": "evaluation",
    "Evaluation": "evaluation",
    "results_frame": "evaluation",
    "Plan": "plan",
    "make_plan": "plan",
    "PROTOCOLS": "protocols",
    "check_protocol": "protocols",
    "EXECUTORS": "executors",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
