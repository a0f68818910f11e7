"""``refocus-bench make-pairs`` / ``make-lf-benchmark`` end to end, and the card's command reproducing the config."""

from __future__ import annotations

import json
import shlex

import pytest

from refocus_bench.cli import build_parser, main
from refocus_bench.simulators.pairs.cli import _config_from_args, config_command, parse_floats, parse_size, parse_source
from tests.pair_fixtures import data_hashes, small_config


def test_parsers():
    assert parse_size("512") == (512, 512) and parse_size("768x512") == (512, 768)
    assert parse_source("folder:/a=b/c") == ("folder:/a=b/c", 1.0)
    assert parse_source("folder:/data=3") == ("folder:/data", 3.0) and parse_source("middlebury") == ("middlebury", 1.0)
    assert parse_floats("-1:1:5", "--focus") == [-1.0, -0.5, 0.0, 0.5, 1.0] and parse_floats("0.2,3", "x") == [0.2, 3.0]


def test_card_command_reproduces_the_config():
    cfg = small_config(mode="k", focus_method="point,mask-median", tasks=("refocus", "deblur"), format="folder")
    argv = shlex.split(config_command(cfg, "out dir"))
    assert argv[:2] == ["refocus-bench", "make-pairs"]
    args = build_parser().parse_args(argv[1:])
    assert _config_from_args(args).fingerprint() == cfg.fingerprint()


def test_make_pairs_cli_runs_resumes_and_reports(tmp_path, capsys):
    out = tmp_path / "pairs"
    argv = [
        "make-pairs",
        "-o",
        str(out),
        "--size",
        "56x40",
        "--num-scenes",
        "2",
        "--pairs-per-scene",
        "1",
        "--scenes-per-shard",
        "1",
        "--seed",
        "7",
        "--source",
        "dead-leaves",
        "--leaves",
        "6:12:int",
        "--point-lights",
        "0:2:int",
        "--coc-range=0.5,10",
        "--tasks",
        "bokeh",
        "-q",
    ]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "2 records in 2 shards (0 already done, 2 made" in first
    hashes = data_hashes(out)
    assert len(hashes) == 2
    assert main(argv) == 0
    assert "(2 already done, 0 made" in capsys.readouterr().out and data_hashes(out) == hashes
    card = (out / "README.md").read_text()
    assert "refocus-bench make-pairs -o" in card and "--leaves=6.0:12.0:int" in card
    assert main(["make-pairs", "-o", str(out), "--print-config", "--seed", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["seed"] == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--f-number", "8:1.2"], "range is empty"),
        (["--aperture", "moon"], "aperture must be a choice"),
        (["--size", "big"], "--size must be N or WxH"),
        (["--source", "flickr"], "unknown scene source"),
    ],
)
def test_make_pairs_cli_bad_input_is_one_clear_line(tmp_path, capsys, args, message):
    assert main(["make-pairs", "-o", str(tmp_path / "x"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.startswith("refocus-bench make-pairs: error:")


def test_make_lf_benchmark_cli_synthetic(tmp_path, capsys):
    out = tmp_path / "lf"
    argv = [
        "make-lf-benchmark",
        "--synthetic",
        "1",
        "--synthetic-size",
        "32",
        "--synthetic-grid",
        "5",
        "-o",
        str(out),
        "--focus=-0.5,0,0.5",
        "--aperture",
        "disk",
        "--aperture",
        "hexagon:1.5",
        "--refocus-pairs",
        "2",
    ]
    assert main(argv) == 0
    assert "6 LF-Bokeh and 4 LF-Refocus records (1 light fields built" in capsys.readouterr().out
    manifest = json.loads((out / "manifest.json").read_text())
    assert {r["aperture"] for r in manifest["lf-bokeh"]} == {"disk", "hexagon"}
    assert {r["radius_views"] for r in manifest["lf-bokeh"]} == {2.0, 1.5}
    assert main(argv) == 0
    assert "0 light fields built, 1 already done" in capsys.readouterr().out
