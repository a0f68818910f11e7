"""The toolkit's home folder, resolved in one place: ``$REFOCUS_BENCH_HOME`` or ``~/.cache/refocus_bench``.

Layout under the home folder::

    weights/metrics/    converted metric weights (LPIPS, DISTS safetensors; no-reference model folders)
    weights/models/     model weights the user puts there (FLUX.1-dev, LoRAs, depth models)
    benchmarks/         generated benchmark caches

Nothing here creates folders; callers create what they write.

>>> import os
>>> os.environ["REFOCUS_BENCH_HOME"] = "/tmp/rb-home"
>>> home_dir().as_posix(), metric_weights_dir().as_posix()
('/tmp/rb-home', '/tmp/rb-home/weights/metrics')
>>> model_weights_dir().as_posix(), benchmarks_dir("/elsewhere").as_posix()
('/tmp/rb-home/weights/models', '/elsewhere/benchmarks')
>>> del os.environ["REFOCUS_BENCH_HOME"]
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["HOME_ENV", "home_dir", "metric_weights_dir", "model_weights_dir", "benchmarks_dir"]

HOME_ENV = "REFOCUS_BENCH_HOME"
"""Environment variable that overrides the default home folder ``~/.cache/refocus_bench``."""


def home_dir(home: str | os.PathLike[str] | None = None) -> Path:
    """``home`` if given, else ``$REFOCUS_BENCH_HOME`` (``~`` expanded), else ``~/.cache/refocus_bench``."""
    if home is not None:
        return Path(home)
    env = os.environ.get(HOME_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "refocus_bench"


def metric_weights_dir(home: str | os.PathLike[str] | None = None) -> Path:
    """``<home>/weights/metrics``: converted metric weights (see :mod:`refocus_bench.metrics.weights`)."""
    return home_dir(home) / "weights" / "metrics"


def model_weights_dir(home: str | os.PathLike[str] | None = None) -> Path:
    """``<home>/weights/models``: model weights the user puts there (see :mod:`refocus_bench.models.weights`)."""
    return home_dir(home) / "weights" / "models"


def benchmarks_dir(home: str | os.PathLike[str] | None = None) -> Path:
    """``<home>/benchmarks``: caches of generated benchmarks (see :mod:`refocus_bench.benchmarks.cache`)."""
    return home_dir(home) / "benchmarks"
