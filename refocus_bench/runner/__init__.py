"""The evaluation runner: ``evaluate(model, benchmark, metrics) -> DataFrame`` plus a results record.

See :func:`refocus_bench.runner.evaluation.evaluate` and ``docs/runner.md``. Also available as
``refocus_bench.evaluate`` and on the command line as ``refocus-bench evaluate``. Importing this
package imports nothing heavy; ``evaluate`` loads on first access.
"""

from __future__ import annotations

from typing import Any

__all__ = ["evaluate"]


def __getattr__(attr: str) -> Any:
    if attr == "evaluate":
        from .evaluation import evaluate

        return evaluate
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
