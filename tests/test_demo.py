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


def test_the_demo_lists_the_metrics_it_cannot_score_and_why(tmp_path, monkeypatch, capsys):
    """With an empty weights home, the paper's CLIP and no-reference metrics (and LPIPS/DISTS) are listed
    with the file that is missing and the command that provides it."""
    import refocus_bench.demo as demo

    monkeypatch.setenv("REFOCUS_BENCH_HOME", str(tmp_path / "home"))
    skipped = demo._skipped_metrics()
    assert {"clipiqa.vit", "clip_i.vit", "lpips.alex", "dists.vgg16"} <= set(skipped)
    assert "weights import clipiqa.vit" in skipped["clipiqa.vit"]
    assert "weights fetch" in skipped["lpips.alex"]
    assert not {"psnr.rgb", "ssim.rgb", "niqe.live", "brisque.live", "lvcorr.genphoto"} & set(skipped)

    summary = {
        "table": "TABLE",
        "failures": [],
        "skipped_metrics": skipped,
        "timings": dict.fromkeys(("total_s", "showcase_s", "benchmarks_s", "evaluate_s", "leaderboard_s"), 0.0),
        "site": "site/index.html",
        "markdown": "site/leaderboard.md",
    }
    monkeypatch.setattr(demo, "run_demo", lambda *a, **k: summary)
    assert cli_main(["demo", "-o", str(tmp_path / "out"), "-q"]) == 0
    out = capsys.readouterr().out
    assert f"Not scored for want of weights or code ({len(skipped)};" in out
    assert "  clipiqa.vit: weights missing: " in out
