"""Bootstrap confidence intervals of a mean score over benchmark samples.

The percentile bootstrap: resample the per-sample scores with replacement ``n_resamples`` times,
take the mean of each resample, and report the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
quantiles of those means. The generator is seeded, so the interval is a pure function of the scores.

Example:
    >>> lo, hi = bootstrap_ci([0.1, 0.2, 0.3, 0.4], n_resamples=200, seed=0)
    >>> lo <= 0.25 <= hi
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import check

__all__ = ["BOOTSTRAP_RESAMPLES", "BOOTSTRAP_CONFIDENCE", "BOOTSTRAP_SEED", "MeanCI", "bootstrap_ci", "mean_ci"]

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class MeanCI:
    """A mean with its bootstrap interval over ``n`` scores (all None when ``n == 0``)."""

    mean: float | None
    low: float | None
    high: float | None
    n: int

    def as_dict(self) -> dict[str, float | int | None]:
        return {"mean": self.mean, "ci_low": self.low, "ci_high": self.high, "n": self.n}


def bootstrap_ci(
    values: Sequence[float],
    *,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = BOOTSTRAP_CONFIDENCE,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of ``values``.

    Args:
        values: finite per-sample scores (at least one).
        n_resamples: number of resamples (>= 1).
        confidence: central coverage in (0, 1), e.g. 0.95.
        seed: seed of ``numpy.random.default_rng``; same inputs and seed give the same interval.
    Returns:
        ``(low, high)`` as Python floats.
    """
    arr = np.asarray(list(values), dtype=np.float64)
    check(arr.ndim == 1 and arr.size > 0, "bootstrap_ci needs a non-empty list of scores")
    check(bool(np.isfinite(arr).all()), "bootstrap_ci: scores must be finite")
    check(isinstance(n_resamples, int) and n_resamples >= 1, lambda: f"n_resamples must be >= 1, got {n_resamples}")
    check(0.0 < confidence < 1.0, lambda: f"confidence must be in (0, 1), got {confidence}")
    if arr.size == 1:
        return float(arr[0]), float(arr[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, arr.size, size=(n_resamples, arr.size))
    means = arr[idx].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def mean_ci(values: Sequence[float | None], **kwargs: float | int) -> MeanCI:
    """Mean (``math.fsum``, in order) and bootstrap interval of the non-null ``values``."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return MeanCI(None, None, None, 0)
    low, high = bootstrap_ci(vals, **kwargs)  # type: ignore[arg-type]
    return MeanCI(math.fsum(vals) / len(vals), low, high, len(vals))
