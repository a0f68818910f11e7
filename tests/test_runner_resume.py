"""A run killed with SIGKILL resumes to the same results as an uninterrupted one, without duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from refocus_bench.results import read_record
from refocus_bench.runner.evaluation import evaluate
from tests.runner_fixtures import SlowModel, TinyDeblurBench

ROOT = Path(__file__).resolve().parents[1]
N = 8
SCRIPT = f"""
import sys, torch
torch.set_num_threads(1)
from refocus_bench.runner.evaluation import evaluate
from tests.runner_fixtures import SlowModel, TinyDeblurBench
model = SlowModel(delay=float(sys.argv[3]), log=sys.argv[2])
evaluate(model, TinyDeblurBench(n={N}), out_dir=sys.argv[1], progress=False)
"""


def _run(out: Path, log: Path, delay: float) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(out), str(log), str(delay)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _comparable(rec: dict) -> dict:
    drop = {"started", "wall_time_s", "environment", "digest"}
    out = {k: v for k, v in rec.items() if k not in drop}
    out["samples"] = [{k: v for k, v in s.items() if k != "runtime_s"} for s in rec["samples"]]
    return out


@pytest.mark.usefixtures("one_torch_thread")
def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path):
    log = tmp_path / "calls.txt"
    out = tmp_path / "killed"
    proc = _run(out, log, delay=0.4)
    deadline = time.monotonic() + 120
    cache = out / ".cache"
    while time.monotonic() < deadline:  # kill once some, but not all, samples are cached
        done = list(cache.glob("*/s*.json")) if cache.exists() else []
        if len(done) >= 3 or proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    n_done = len(list(cache.glob("*/s*.json")))
    assert 3 <= n_done < N
    assert not (out / "tiny-deblur" / "test.slow.json").exists()
    calls_before = len(log.read_text().splitlines())

    resumed = evaluate(SlowModel(log=str(log)), TinyDeblurBench(n=N), out_dir=out, progress=False)
    calls_resume = len(log.read_text().splitlines()) - calls_before
    assert calls_resume == N - n_done  # nothing computed twice
    assert resumed.cached == n_done and resumed.computed == N - n_done
    rec = read_record(out / "tiny-deblur" / "test.slow.json")
    ids = [s["id"] for s in rec["samples"]]
    assert ids == sorted(set(ids)) and len(ids) == N and rec["status"] == "complete"

    ref = evaluate(SlowModel(), TinyDeblurBench(n=N), out_dir=tmp_path / "clean", progress=False)
    assert _comparable(rec) == _comparable(ref.record)
    assert resumed.frame.drop(columns="runtime_s").equals(ref.frame.drop(columns="runtime_s"))
