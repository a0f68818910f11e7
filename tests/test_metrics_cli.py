"""The metrics' command-line entry points."""

from __future__ import annotations

from refocus_bench.cli import main


def test_weights_fetch_and_list_report_the_cache(metric_weights, capsys):
    assert main(["weights", "fetch"]) == 0
    out = capsys.readouterr().out
    assert "present and verified" in out and "vgg16_features.safetensors" in out
    assert main(["weights", "list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5 and all(" ok " in line for line in lines)


def test_weights_list_on_an_empty_cache_says_missing(tmp_path, capsys):
    assert main(["weights", "list", "--home", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("missing") == 5


def test_fetch_failure_is_one_clear_line(tmp_path, capsys):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "DISTS_pytorch-0.1-py3-none-any.whl").write_bytes(b"not a wheel")
    code = main(
        [
            "weights",
            "fetch",
            "--only",
            "dists.alpha_beta",
            "--home",
            str(tmp_path / "h"),
            "--source-dir",
            str(tmp_path / "src"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "does not match the pinned" in err and "Traceback" not in err


def test_metrics_list_shows_direction(capsys):
    assert main(["metrics", "list", "lpips.*"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in out] == ["lpips.alex", "lpips.vgg"]
    assert all("lower  is better" in line for line in out)
