"""Failure isolation (issue 21): a model that raises, returns NaN or inf (border included), the wrong
shape or dtype, or no tensor at all fails only its sample. The run completes, ``evaluate`` exits with
1, and each failure (model, sample id, reason) is in the record, in ``leaderboard.md`` and in the HTML
pages built from that record; no example PNG is written for a failed sample.

:class:`HostileModel` reads its behaviour from the oracle CoC hint (``coc_px`` is filled with the
sample's index under the ``oracle_coc`` protocol), so one run meets every kind of failure; it applies
the behaviour per batch row, so batched calls fail the same way. The classes live here, at module
level, so spawned worker processes unpickle them.
"""

from __future__ import annotations

import re

import pytest
import torch

from refocus_bench.benchmarks import BENCHMARKS
from refocus_bench.benchmarks.base import BenchmarkSample, BenchmarkSpec
from refocus_bench.cli import main
from refocus_bench.leaderboards import build_site
from refocus_bench.models import MODELS
from refocus_bench.models.base import ModelCard, RefocusModel
from refocus_bench.results import read_record
from refocus_bench.runner.evaluation import evaluate
from refocus_bench.runner.executors import shutdown_pool
from tests.runner_fixtures import TinyDeblurBench

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BORDER = 2
REASONS = {  # sample id -> what its record's error must say (the whole message, or its start)
    "s001": "model failed: RuntimeError: hostile model raised on purpose",
    "s002": "model output unusable: 1 NaN and 0 inf values of 3072 (first at y=0, x=0); every value must be finite",
    "s003": "model output unusable: 0 NaN and 1 inf values of 3072 (first at y=16, x=16)",
    "s004": "model output unusable: shape (1, 3, 32, 31), expected (1, 3, 32, 32) (the input's)",
    "s005": "model output unusable: dtype torch.float64, expected torch.float32 (the input's)",
    "s006": "model output unusable: a ndarray, expected a torch.Tensor",
}
GOOD = ["s000", "s007"]


class HostileBench(TinyDeblurBench):
    """8 TinyDeblurBench samples under ``oracle_coc``; sample i's ``coc_px`` is filled with i; scores skip
    a 2-px border."""

    def __init__(self, n: int = 8) -> None:
        super().__init__(n, name="test-hostile")
        s = self.spec
        self.spec = BenchmarkSpec(
            name=s.name,
            version=s.version,
            task=s.task,
            description="tiny deblur benchmark met by a hostile model",
            headline_metric=s.headline_metric,
            metrics=s.metrics,
            source=s.source,
            subsets=s.subsets,
            preprocessing={"border_crop_px": BORDER},
            protocol={"name": "oracle_coc"},
        )

    def load(self, sample_id: str) -> BenchmarkSample:
        s = super().load(sample_id)
        coc = torch.full_like(s.condition["coc_px"], float(int(sample_id[1:])))
        return BenchmarkSample(s.id, s.image, s.target, {"coc_px": coc}, s.subset)


class HostileModel(RefocusModel):
    """Identity, except by batch row ``coc_px`` value: 1 raises, 2 NaN at the (skipped) corner pixel,
    3 inf in the middle, 4 one column short, 5 float64, 6 a numpy array. Overrides ``deblur`` itself,
    so the base class's own shape and dtype fixing cannot hide the faults."""

    card = ModelCard(
        name="test.hostile",
        tasks=("deblur",),
        summary="fails in every way",
        source="tests",
        licence="Apache-2.0",
        paper="",
        input_contract="any size",
    )

    def deblur(self, image: torch.Tensor, *, coc_px: torch.Tensor | None = None) -> torch.Tensor:
        modes = {int(v) for v in coc_px[:, 0, 0, 0]}
        if 1 in modes:
            raise RuntimeError("hostile model raised on purpose")
        out = image.clone()
        for row, v in enumerate(coc_px[:, 0, 0, 0].tolist()):
            if v == 2:
                out[row, 0, 0, 0] = float("nan")
            elif v == 3:
                out[row, 1, 16, 16] = float("inf")
        if 4 in modes:
            out = out[..., :-1]
        if 5 in modes:
            out = out.double()
        return out.numpy() if 6 in modes else out


@pytest.fixture(scope="module", autouse=True)
def registered():
    BENCHMARKS.register("test-hostile", HostileBench, description="tiny hostile benchmark", override=True)
    MODELS.register("test.hostile", HostileModel, description="fails in every way", override=True)
    yield
    BENCHMARKS._entries.pop("test-hostile", None)
    MODELS._entries.pop("test.hostile", None)
    shutdown_pool()


def _check_failures(rec: dict) -> None:
    assert rec["status"] == "complete" and rec["model"]["name"] == "test.hostile"
    by_id = {s["id"]: s for s in rec["samples"]}
    for sid, reason in REASONS.items():
        assert by_id[sid]["error"].startswith(reason), (sid, by_id[sid]["error"])
        assert set(by_id[sid]["scores"].values()) == {None}, sid
    for sid in GOOD:
        assert by_id[sid]["error"] is None and None not in by_id[sid]["scores"].values(), sid
    assert {m: s["n"] for m, s in rec["summary"].items()} == dict.fromkeys(rec["summary"], 2)


def test_the_cli_run_completes_exits_1_and_lists_every_failure(tmp_path, capsys):
    argv = ["evaluate", "--model", "test.hostile", "--benchmark", "test-hostile", "--save-examples", "8", "-q"]
    assert main([*argv, "-o", str(tmp_path / "r")]) == 1
    out, err = capsys.readouterr()
    assert "test.hostile on test-hostile: 8 samples (0 from cache), 6 with errors" in out
    for sid, reason in REASONS.items():
        assert f"evaluate: test.hostile, sample {sid}: {reason}" in err  # model, sample and reason
    rec = read_record(tmp_path / "r" / "test-hostile" / "test.hostile.json")
    _check_failures(rec)
    assert sorted(rec["examples"]) == GOOD  # failed samples have no prediction to show
    pngs = sorted(p.name for p in (tmp_path / "r" / "examples" / "test-hostile" / "test.hostile").iterdir())
    assert pngs == ["s000.png", "s007.png"]

    build_site(tmp_path / "r", tmp_path / "site")
    md = (tmp_path / "site" / "leaderboard.md").read_text()
    assert re.search(r"^\| – \| test\.hostile \|.*\| 2 \|", md, re.M)  # no rank, n = 2 of 8
    html = (tmp_path / "site" / "benchmarks" / "test-hostile.html").read_text()
    assert '<h2 id="failures">Failed samples</h2>' in html and "test.hostile</b>: 6 of 8 samples failed" in html
    for sid, reason in REASONS.items():
        text = reason.replace("'", "&#x27;")
        assert f"* test.hostile: 1 of 8 samples failed ({sid}): {reason}" in md and f"({sid}): <code>{text}" in html, (
            sid
        )


@pytest.mark.parametrize("batch_size", [1, 4])
def test_batched_and_parallel_runs_fail_the_same_samples(batch_size, tmp_path):
    """A batch with a bad row is run again sample by sample; two worker processes give the same record."""
    one = evaluate(HostileModel(), HostileBench(), out_dir=None, progress=False, batch_size=batch_size)
    _check_failures(one.record)
    assert [sid for sid, _ in one.failed] == list(REASONS)
    if batch_size == 4:
        two = evaluate(HostileModel(), HostileBench(), out_dir=tmp_path, progress=False, workers=2, batch_size=4)
        assert two.failed == one.failed
        drop = ("runtime_s",)
        assert [{k: v for k, v in s.items() if k not in drop} for s in two.record["samples"]] == [
            {k: v for k, v in s.items() if k not in drop} for s in one.record["samples"]
        ]
