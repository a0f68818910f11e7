"""The ``refocus-bench`` command line.

Each subsystem owns its sub-commands in a small module that exposes ``add_parser(subparsers)``;
this file only lists those modules, and each of them must import (a missing one is an error, not a
sub-command quietly left out). A sub-command's handler receives the parsed arguments and
returns an exit code. Errors raised on purpose by the toolkit (:class:`RefocusBenchError`) are
printed as one clear line, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from .errors import RefocusBenchError
from .version import __version__

# Modules that contribute sub-commands (each defines ``add_parser(subparsers)``).
COMMAND_MODULES = [
    "refocus_bench.simulators.render.cli",
    "refocus_bench.simulators.pairs.cli",
    "refocus_bench.benchmarks.cli",
    "refocus_bench.datasets.cli",
    "refocus_bench.metrics.cli",
    "refocus_bench.models.cli",
    "refocus_bench.runner.cli",
    "refocus_bench.leaderboards.cli",
    "refocus_bench.showcase",
    "refocus_bench.demo",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="refocus-bench", description="Single-image refocusing toolkit.")
    parser.add_argument("--version", action="version", version=f"refocus-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:  # every module must import: a failure is a packaging error, never skipped
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except RefocusBenchError as err:
        print(f"refocus-bench {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"refocus-bench {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
