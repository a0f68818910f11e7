"""``refocus-bench --help`` is fast: answering it imports nothing heavy, and every help text is plain,
starts with a one-line summary and shows at least one example.

The module set is asserted strictly (no torch, numpy, pandas, ... for ``--help`` of any command);
the time with a generous bound that a loaded machine still meets (the median of five fresh
interpreters importing the CLI and building every parser must stay under 1 s), and the measured
median is printed (``pytest -s``).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

import pytest

from refocus_bench.cli import EXAMPLES, build_parser, command_parsers

HEAVY = ("torch", "numpy", "pandas", "pyarrow", "PIL", "cv2", "kornia", "transformers", "scipy", "matplotlib")

_PROBE = """
import json, sys, time
t = time.perf_counter()
from refocus_bench.cli import build_parser, command_parsers
parser = build_parser()
for _, p in command_parsers(parser):
    p.format_help()
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "heavy": sorted(m for m in %r if m in sys.modules)}))
"""


def _probe() -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE % (HEAVY,)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_help_of_every_command_imports_nothing_heavy():
    """Building every parser and formatting every help text loads none of the heavy libraries."""
    assert _probe()["heavy"] == []


def test_help_starts_in_under_a_second():
    runs = [_probe()["seconds"] for _ in range(5)]
    median = statistics.median(runs)
    print(f"\n--help import + every parser: median {median * 1000:.0f} ms of 5 runs {[round(r, 3) for r in runs]}")
    assert median < 1.0, runs


def test_the_help_entry_point_itself_is_fast_and_prints_every_command():
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from refocus_bench.cli import main; sys.exit(main(['--help']))"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0
    for command in ("render", "make-pairs", "evaluate", "list", "leaderboard", "harvest", "refocus", "demo"):
        assert f"\n    {command}" in out.stdout


def _commands():
    return list(command_parsers(build_parser()))


@pytest.mark.parametrize("path", [path for path, _ in _commands()])
def test_every_help_has_a_summary_an_example_and_no_markup(path):
    parser = dict(_commands())[path]
    text = parser.format_help()
    assert parser.description and parser.description.splitlines()[0].strip(), path
    assert EXAMPLES.get(path), f"no example for {path!r}: add one to refocus_bench.cli.EXAMPLES"
    assert "examples:\n  refocus-bench" in text
    for markup in ("``", ":mod:", ":func:", ":class:", "::\n"):
        assert markup not in text, (path, markup)


def test_the_command_table_names_the_module_of_every_command():
    """``cli.COMMANDS`` (what ``main`` builds alone for a known command) is what the modules register."""
    import argparse
    import importlib

    from refocus_bench.cli import COMMAND_MODULES, COMMANDS

    registered = {}
    for name in COMMAND_MODULES:
        sub = argparse.ArgumentParser().add_subparsers()
        importlib.import_module(name).add_parser(sub)
        registered.update(dict.fromkeys(sub.choices, name))
    assert COMMANDS == registered


@pytest.mark.parametrize("command", ["harvest", "render", "list"])
def test_one_command_alone_has_the_help_of_the_whole_parser(command, capsys):
    from refocus_bench.cli import COMMANDS, main

    whole = dict(_commands())[command].format_help()
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert capsys.readouterr().out == whole
    assert dict(command_parsers(build_parser([COMMANDS[command]])))[command].format_help() == whole
