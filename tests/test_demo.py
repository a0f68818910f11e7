"""The demo's plan: every offline model on every built-in benchmark of its task; clear errors."""

from __future__ import annotations

import pytest

from refocus_bench.benchmarks import create_benchmark
from refocus_bench.benchmarks.builtin import BUILTIN_BENCHMARKS
from refocus_bench.cli import main as cli_main
from refocus_bench.demo import demo_plan, offline_models, run_demo
from refocus_bench.errors import InvalidInputError
from refocus_bench.models import list_models, model_card


def test_offline_models_exclude_models_whose_weights_must_be_downloaded():
    for task in ("deblur", "bokeh", "refocus"):
        names = offline_models(task)
        assert "genrefocus.tiny" in names and "identity" in names
        assert "genrefocus.flux" not in names  # FLUX + LoRA weights live in the user's cache
        assert set(names) <= set(list_models(task=task))
        assert all(w.location == "package" for n in names for w in model_card(n).weights)


def test_plan_covers_every_builtin_benchmark_with_the_models_of_its_task():
    plan = demo_plan()
    assert {b for _, b in plan} == set(BUILTIN_BENCHMARKS)
    for model, bench in plan:
        assert create_benchmark(bench, progress=False).spec.task in model_card(model).tasks
    assert len(plan) == len(set(plan))
    assert demo_plan(["synthetic-deblur"], ["identity", "bokeh.gaussian"]) == [("identity", "synthetic-deblur")]


def test_bad_input_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(InvalidInputError, match="unknown model 'idenity'"):
        demo_plan(models=["idenity"])
    with pytest.raises(InvalidInputError, match="jobs must be an int >= 1"):
        run_demo(tmp_path / "x", jobs=0, showcase=False)
    assert (
        cli_main(
            [
                "demo",
                "-o",
                str(tmp_path / "y"),
                "--no-showcase",
                "--benchmarks",
                "synthetic-deblur",
                "--models",
                "bokeh.gaussian",
                "-q",
            ]
        )
        == 2
    )
    assert "none of ['bokeh.gaussian'] supports the task" in capsys.readouterr().err
    assert not (tmp_path / "y" / "site").exists()
