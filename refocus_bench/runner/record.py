"""Building the results record of a run (schema: :mod:`refocus_bench.results`) and its example PNGs.

Status: a record is ``"complete"`` when every sample of the benchmark is present, *including*
samples on which the model or a metric failed: those carry null scores and a one-line ``error``, the
summary's ``n`` counts only the scored samples, and :func:`error_count` is non-zero, so a leaderboard
can flag or exclude the run. ``"partial"`` is written only when a run stops before every sample was
attempted (an exception or Ctrl-C), so that what was computed is visible; the per-sample cache
holds it too, and a rerun completes it.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..results import finalize_record
from ..version import __version__
from .naming import INPUT_DIR, TARGET_DIR, examples_dir, safe_name
from .plan import Plan

__all__ = ["git_commit", "environment", "build_record", "save_example", "utc_now", "error_count"]

_SAMPLE_FIELDS = ("id", "subset", "scores", "runtime_s", "error")


def utc_now() -> str:
    """The current UTC time, ISO 8601 with a ``Z`` suffix, to the second."""
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def git_commit() -> str | None:
    """HEAD of the git checkout holding the package (None when it is not one, or git is missing)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and len(sha) == 40 else None


def environment(device: str, executor: str, workers: int, **extra: Any) -> dict[str, Any]:
    """Where the run happened (varies between runs; not part of the run key)."""
    import torch

    env = {
        "device": device,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "executor": executor,
        "workers": workers,
    }
    if executor == "ray" and "ray" in sys.modules:
        env["ray"] = getattr(sys.modules["ray"], "__version__", None)
    env.update(extra)
    return env


def error_count(record: dict[str, Any]) -> int:
    """Samples of a record that carry an error."""
    return sum(1 for s in record["samples"] if s.get("error"))


def build_record(
    plan: Plan,
    results: dict[str, dict[str, Any]],
    *,
    status: str,
    started: str,
    wall_time_s: float,
    env: dict[str, Any],
    examples: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A finalized, validated record from per-sample ``results`` (in benchmark order)."""
    samples = []
    for sid in plan.sample_ids:
        r = results.get(sid)
        if r is None:
            continue
        s = {k: r[k] for k in _SAMPLE_FIELDS}
        s["runtime_s"] = round(float(s["runtime_s"]), 6)
        if r.get("protocol"):
            s["protocol"] = r["protocol"]
        samples.append(s)
    record = {
        "status": status,
        "toolkit": {"name": "refocus-bench", "version": __version__, "git_commit": git_commit()},
        "model": plan.model_info,
        "benchmark": plan.benchmark_info,
        "metrics": plan.metric_info,
        "seeds": {
            "model": plan.seed,
            "benchmark": plan.benchmark.spec.source.get("seed"),
            "per_sample": "sha256('<seed>:<sample id>') -> torch, numpy and random seeds",
        },
        "protocol": plan.protocol,
        "environment": env,
        "started": started,
        "wall_time_s": round(float(wall_time_s), 6),
        "samples": samples,
    }
    if examples:
        record["examples"] = {k: examples[k] for k in sorted(examples)}
    return finalize_record(record)


def save_example(results_dir: Path, plan: Plan, sample_id: str, images: dict[str, Any]) -> str:
    """Write the prediction (and, once per benchmark, input and target) PNGs; returns the prediction's
    path relative to ``results_dir`` (POSIX)."""
    from ..io import write_image

    bench = plan.benchmark.spec.name
    name = f"{safe_name(sample_id)}.png"
    pred = examples_dir(results_dir, bench, plan.model_info["name"]) / name
    write_image(pred, images["pred"].clamp(0, 1))
    for who, key in ((INPUT_DIR, "input"), (TARGET_DIR, "target")):
        p = examples_dir(results_dir, bench, who) / name
        if images.get(key) is not None and not p.exists():
            write_image(p, images[key].clamp(0, 1))
    return pred.relative_to(results_dir).as_posix()
