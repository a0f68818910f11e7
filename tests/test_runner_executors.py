"""Executors agree: in-process, a process pool and Ray give the same per-sample results (float equality:
each sample is seeded from its id, and every worker runs one torch thread like the tests' local runs)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from refocus_bench.results import read_record
from refocus_bench.runner.evaluation import evaluate
from tests.runner_fixtures import NoisyModel, TinyDeblurBench

pytestmark = pytest.mark.usefixtures("one_torch_thread")
N, BLANK = 6, 4


def free_cpus_settle(ray: Any, expected: float, timeout_s: float = 30.0) -> float:
    """Ray's free CPUs once they reach ``expected`` (killing actors frees them asynchronously), or after
    ``timeout_s`` seconds, whichever comes first."""
    deadline = time.monotonic() + timeout_s
    while (free := ray.available_resources().get("CPU", 0.0)) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return free


def _bench():
    return TinyDeblurBench(n=N, blank=BLANK)


def _scores(df):
    """Rows without runtimes, NaN as None (so that equal rows compare equal)."""
    d = df.drop(columns="runtime_s")
    return d.astype(object).where(d.notna(), None).to_dict("records")


@pytest.fixture(scope="module")
def local_noisy(tmp_path_factory):
    return evaluate(NoisyModel(), _bench(), out_dir=tmp_path_factory.mktemp("local"), progress=False).frame


def test_seeded_model_is_reproducible_and_seed_matters(local_noisy):
    assert local_noisy["error"].notna().tolist() == [i == BLANK for i in range(N)]
    again = evaluate(NoisyModel(), _bench(), out_dir=None, progress=False).frame
    other = evaluate(NoisyModel(), _bench(), out_dir=None, progress=False, seed=1).frame
    assert _scores(again) == _scores(local_noisy)
    assert _scores(other) != _scores(local_noisy)


def test_process_pool_equals_local(local_noisy, tmp_path):
    ev = evaluate(NoisyModel(), _bench(), out_dir=tmp_path, progress=False, workers=2)
    assert _scores(ev.frame) == _scores(local_noisy)
    rec = read_record(ev.path)
    assert rec["environment"]["workers"] == 2 and rec["environment"]["executor"] == "local"
    assert sorted(rec["examples"]) == ["s000", "s001", "s002", "s003"]


def test_ray_equals_local_including_the_failing_sample(local_noisy, tmp_path):
    ray = pytest.importorskip("ray")  # skips only where the optional extra 'ray' is not installed
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        ev = evaluate(NoisyModel(), _bench(), out_dir=tmp_path, progress=False, workers=2, executor="ray")
        assert free_cpus_settle(ray, 2) == 2  # the actors were killed: none is left holding a CPU
    finally:
        ray.shutdown()
    assert _scores(ev.frame) == _scores(local_noisy)
    assert ev.frame["error"][BLANK].startswith("model failed: RuntimeError: blank input")
    rec = read_record(ev.path)
    assert rec["environment"]["executor"] == "ray" and rec["environment"]["ray"] == ray.__version__
    assert rec["status"] == "complete" and [s["id"] for s in rec["samples"]] == [f"s{i:03d}" for i in range(N)]
