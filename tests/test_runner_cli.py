"""``refocus-bench evaluate`` and ``refocus-bench list``: output, exit codes, one-line errors."""

from __future__ import annotations

import pytest

from refocus_bench.benchmarks import BENCHMARKS
from refocus_bench.cli import main
from refocus_bench.results import read_record
from tests.runner_fixtures import TinyDeblurBench

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module", autouse=True)
def registered():
    BENCHMARKS.register(
        "test-tiny-deblur", TinyDeblurBench, description="tiny deblur benchmark for tests", override=True
    )
    yield
    BENCHMARKS._entries.pop("test-tiny-deblur", None)


def test_evaluate_writes_the_record_and_resumes(tmp_path, capsys):
    argv = [
        "evaluate",
        "--model",
        "identity",
        "--benchmark",
        "test-tiny-deblur",
        "--benchmark-arg",
        "n=3",
        "--metrics",
        "psnr.rgb,mae.rgb",
        "-o",
        str(tmp_path),
        "-q",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "identity on tiny-deblur: 3 samples (0 from cache), 0 with errors; psnr.rgb" in out and "(headline)" in out
    (path,) = (tmp_path / "tiny-deblur").glob("identity.metrics-*.json")  # not the default metric set
    assert f"record -> {path}" in out
    rec = read_record(path)
    assert [m["name"] for m in rec["metrics"]] == ["psnr.rgb", "mae.rgb"]
    assert main(argv) == 0
    assert "(3 from cache)" in capsys.readouterr().out


def test_failing_samples_give_exit_code_1(tmp_path, capsys):
    argv = [
        "evaluate",
        "--model",
        "identity",
        "--benchmark",
        "test-tiny-deblur",
        "--benchmark-arg",
        "n=2",
        "--metrics",
        "bokeh.psnr_out_of_focus",
        "-o",
        str(tmp_path),
        "-q",
    ]
    assert main(argv) == 1  # the region metric is undefined (empty out-of-focus region: |CoC| = 1 px everywhere)
    captured = capsys.readouterr()
    assert "2 with errors" in captured.out and "sample s000: bokeh.psnr_out_of_focus is undefined" in captured.err


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--model", "identiti", "--benchmark", "test-tiny-deblur"],
            "unknown model 'identiti'; did you mean 'identity'?",
        ),
        (["--model", "identity", "--benchmark", "test-tiny-deblr"], "did you mean 'test-tiny-deblur'"),
        (["--model", "bokeh.gaussian", "--benchmark", "test-tiny-deblur"], "does not support task 'deblur'"),
        (
            ["--model", "identity", "--benchmark", "test-tiny-deblur", "--metrics", "lvcorr.pearson"],
            "needs the lvcorr_sweep protocol",
        ),
        (["--model", "identity", "--benchmark", "test-tiny-deblur", "--metrics", "psnr"], "unknown metric 'psnr'"),
    ],
)
def test_errors_are_one_line_without_traceback(tmp_path, capsys, argv, message):
    assert main(["evaluate", *argv, "-o", str(tmp_path), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("refocus-bench evaluate: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_list_prints_one_line_descriptions(capsys):
    assert main(["list", "models", "deblur.*"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in lines] == ["deblur.richardson_lucy", "deblur.unsharp", "deblur.wiener"]
    assert all(len(ln.split()) > 2 for ln in lines)
    assert main(["list", "models", "--task", "bokeh"]) == 0
    assert "bokeh.gaussian" in capsys.readouterr().out
    assert main(["list", "metrics", "lvcorr.*"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("lvcorr.genphoto ") and "\nlvcorr.pearson " in out and "Laplacian-variance correlation" in out
    assert main(["list", "benchmarks", "test-*"]) == 0
    assert capsys.readouterr().out.split() == ["test-tiny-deblur", "tiny", "deblur", "benchmark", "for", "tests"]
    assert main(["list", "apertures", "hex*"]) == 0
    assert capsys.readouterr().out.split()[0] == "hexagon"


@pytest.mark.parametrize("kind", ["models", "metrics"])
def test_one_way_to_list_each_kind(capsys, kind):
    """'list models' prints exactly what 'models list' prints (and the same for metrics)."""
    assert main(["list", kind, "*"]) == 0
    via_list = capsys.readouterr().out
    assert main([kind, "list", "*"]) == 0
    assert capsys.readouterr().out == via_list and via_list.count("\n") > 3


def test_unknown_model_and_benchmark_arguments_list_the_accepted_names(tmp_path, capsys):
    base = ["evaluate", "--benchmark", "test-tiny-deblur", "-o", str(tmp_path / "r"), "-q"]
    assert main([*base, "--model", "deblur.wiener", "--model-arg", "foo=1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "--model-arg: model 'deblur.wiener' takes no argument 'foo'; it accepts: nsr, aperture" in err
    assert main([*base, "--model", "identity", "--benchmark-arg", "x=1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--benchmark-arg: benchmark 'test-tiny-deblur' takes no argument 'x'" in err
    assert "accepts: n" in err
    assert not (tmp_path / "r").exists()  # nothing made


def test_every_command_module_imports_and_a_missing_one_is_an_error(monkeypatch):
    from refocus_bench import cli

    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name in ("render", "make-pairs", "evaluate", "list", "leaderboard", "showcase", "demo"):
        assert name in commands
    monkeypatch.setattr(cli, "COMMAND_MODULES", [*cli.COMMAND_MODULES, "refocus_bench.not_built_yet"])
    with pytest.raises(ModuleNotFoundError, match="refocus_bench.not_built_yet"):
        cli.build_parser()  # a packaging error shows; the sub-command is not quietly skipped
