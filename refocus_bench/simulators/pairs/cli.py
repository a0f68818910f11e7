"""Generate synthetic deblur / bokeh / refocus training pairs, in resumable shards.

Distributions are written x, lo:hi, lo:hi:log, lo:hi:int or a=w,b=w (a weighted choice). Values that
start with a minus sign need '=' (--flag=-1:1). Rerunning a command into the same folder resumes it;
a run that fails before finishing a shard leaves no folder behind. Exit code 0: every shard made;
1: some shards failed (rerun to retry them); 2: bad input.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from ...errors import InvalidInputError, check

__all__ = ["add_parser", "config_command", "parse_size", "parse_source", "parse_floats"]

_DIST_FLAGS = {  # CLI flag -> PairConfig field
    "--f-number": "f_number",
    "--focal-length": "focal_length_mm",
    "--sensor-format": "sensor_format",
    "--k": "k_px_m",
    "--focus-method": "focus_method",
    "--aperture": "aperture",
    "--leaves": "leaves",
    "--point-lights": "point_lights",
    "--near": "near_m",
    "--far": "far_m",
}


def parse_size(text: str) -> tuple[int, int]:
    """``"512"`` -> (512, 512); ``"768x512"`` (W x H) -> (512, 768) as (H, W)."""
    try:
        if "x" in text.lower():
            w, h = (int(v) for v in text.lower().split("x"))
        else:
            w = h = int(text)
    except ValueError as err:
        raise InvalidInputError(f"--size must be N or WxH in pixels, got {text!r}") from err
    return h, w


def parse_source(text: str) -> tuple[str, float]:
    """``dead-leaves``, ``middlebury=2``, ``folder:PATH`` or ``folder:PATH=3`` -> (source, weight)."""
    head, sep, tail = text.rpartition("=")
    if sep:
        try:
            return head, float(tail)
        except ValueError:
            pass
    return text, 1.0


def parse_floats(text: str, name: str) -> list[float]:
    """``"a,b,c"`` or ``"lo:hi:n"`` (n evenly spaced values) -> floats."""
    try:
        if ":" in text:
            lo, hi, n = text.split(":")
            k = int(n)
            check(k >= 1, lambda: f"{name}: n must be >= 1")
            return [float(lo) + (float(hi) - float(lo)) * i / max(1, k - 1) for i in range(k)]
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as err:
        raise InvalidInputError(f"{name} must be 'a,b,c' or 'lo:hi:n', got {text!r}") from err


def config_command(config: Any, out: str) -> str:
    """A ``refocus-bench make-pairs`` command line that reproduces ``config`` into ``out``."""
    d = config.to_dict()
    h, w = d["size"]
    argv = [
        "refocus-bench",
        "make-pairs",
        "-o",
        out,
        "--size",
        f"{w}x{h}",
        "--seed",
        str(d["seed"]),
        "--pairs-per-scene",
        str(d["pairs_per_scene"]),
        "--scenes-per-shard",
        str(d["scenes_per_shard"]),
        "--mode",
        d["mode"],
        "--tasks",
        ",".join(d["tasks"]),
        "--format",
        d["format"],
    ]
    if d["num_scenes"] is not None:
        argv += ["--num-scenes", str(d["num_scenes"])]
    for src, wt in d["sources"]:
        argv += ["--source", f"{src}={wt:g}"]
    for flag, field in _DIST_FLAGS.items():
        if d[field] is not None:
            argv.append(f"{flag}={d[field]}")
    argv += [
        f"--focus-quantiles={d['focus_quantiles'][0]!r},{d['focus_quantiles'][1]!r}",
        f"--coc-range={d['coc_range_px'][0]!r},{d['coc_range_px'][1]!r}",
        "--refocus-min-diopter",
        repr(d["refocus_min_diopter"]),
        "--max-draws",
        str(d["max_draws"]),
        "--scale-jitter",
        repr(d["scale_jitter"]),
        "--png-depth-scale",
        repr(d["png_scale_m"]),
        "--depth-scale",
        repr(d["depth_scale"]),
    ]
    return shlex.join(argv)


def _config_from_args(args: argparse.Namespace) -> Any:
    from .generate import PairConfig

    base: dict[str, Any] = {}
    if args.config:
        try:
            base = json.loads(Path(args.config).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise InvalidInputError(f"--config {args.config!r}: cannot read JSON ({err})") from err
        check(isinstance(base, dict), "--config must hold a JSON object of PairConfig fields")
    over: dict[str, Any] = {}
    if args.size:
        over["size"] = parse_size(args.size)
    if args.num_scenes is not None:
        over["num_scenes"] = None if args.num_scenes == "all" else int(args.num_scenes)
    elif "num_scenes" not in base and args.source and all(s.startswith("folder:") for s in args.source):
        over["num_scenes"] = None  # one per folder entry
    for name in (
        "pairs_per_scene",
        "scenes_per_shard",
        "seed",
        "mode",
        "refocus_min_diopter",
        "max_draws",
        "scale_jitter",
        "depth_scale",
        "format",
    ):
        v = getattr(args, name)
        if v is not None:
            over[name] = v
    if args.png_depth_scale is not None:
        over["png_scale_m"] = args.png_depth_scale
    if args.source:
        over["sources"] = tuple(parse_source(s) for s in args.source)
    if args.tasks:
        over["tasks"] = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
    if args.focus_quantiles:
        over["focus_quantiles"] = tuple(parse_floats(args.focus_quantiles, "--focus-quantiles"))
    if args.coc_range:
        over["coc_range_px"] = tuple(parse_floats(args.coc_range, "--coc-range"))
    for field in _DIST_FLAGS.values():
        v = getattr(args, field)
        if v is not None:
            over[field] = v
    return PairConfig.from_dict({**base, **over})


def _has_finished_shards(out: Path) -> bool:
    """Whether a run folder holds a finished shard (worth keeping for a resume)."""
    return any((out / "state" / "shards").glob("shard-*.json"))


def _check_folder_sources(config: Any) -> None:
    """Every ``folder:PATH`` source exists and is a folder (before the output folder is made)."""
    for src, _ in config.sources:
        if src.startswith("folder:"):
            folder = Path(src.removeprefix("folder:"))
            check(folder.is_dir(), lambda folder=folder: f"--source: scene folder not found: {str(folder)!r}")


def _summary(result: Any) -> str:
    """The one-line summary: records, shards, and what failed (samples, and whole shards)."""
    reasons: dict[str, int] = {}
    for f in result.failures:
        reasons[f["reason"]] = reasons.get(f["reason"], 0) + 1
    samples = ", ".join(f"{k} {v}" for k, v in sorted(reasons.items()))
    failed = f"failed samples: {samples or 'none'}"
    if result.failed_shards:
        failed = f"{len(result.failed_shards)} shard(s) failed (see below); " + (
            f"failed samples in the finished shards: {samples}"
            if samples
            else "no failed samples in the finished shards"
        )
    return (
        f"make-pairs: {result.records} records in {result.shards_total} shards ({result.shards_skipped} already done, "
        f"{result.shards_made} made, {result.records_made} records at {result.records_per_second:.2f}/s); "
        f"{failed} -> {result.out_dir}"
    )


def _run_make_pairs(args: argparse.Namespace) -> int:
    from ...paths import check_output_dir, removed_on_failure
    from .shards import run

    check(args.workers >= 1, lambda: f"--workers must be >= 1, got {args.workers}")
    config = _config_from_args(args)
    if args.print_config:
        print(json.dumps(config.to_dict(), indent=2, sort_keys=True))
        return 0
    _check_folder_sources(config)
    check_output_dir(args.out, "-o")
    with removed_on_failure(args.out, keep=_has_finished_shards):
        result = run(
            config,
            args.out,
            workers=args.workers,
            progress=not args.quiet and sys.stderr.isatty(),
            overwrite=args.overwrite,
            verify=not args.no_verify,
            command=config_command(config, args.out),
            executor=args.executor,
        )
    print(_summary(result))
    for j, why in sorted(result.failed_shards.items()):
        print(f"make-pairs: shard {j} failed (rerun to retry): {why}", file=sys.stderr)
    return 1 if result.failed_shards else 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "make-pairs",
        help="generate synthetic deblur/bokeh/refocus training pairs (resumable)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-o", "--out", required=True, help="output folder (rerun into it to resume)")
    p.add_argument("--config", help="JSON file of PairConfig fields (flags override it)")
    p.add_argument("--size", help="image size N or WxH in pixels (default 512)")
    p.add_argument("--num-scenes", help="scenes to draw (default 16; 'all' = one per folder entry)")
    p.add_argument("--pairs-per-scene", type=int, help="blur settings per scene (default 4)")
    p.add_argument(
        "--scenes-per-shard", type=int, help="scenes per shard: the unit of resume and parallel work (default 4)"
    )
    p.add_argument("--seed", type=int, help="run seed (default 0)")
    p.add_argument(
        "--source",
        action="append",
        metavar="SRC[=W]",
        help="scene source with weight: dead-leaves, middlebury, folder:PATH (repeatable; default dead-leaves)",
    )
    p.add_argument("--tasks", help="comma-separated subset of deblur,bokeh,refocus (default all)")
    p.add_argument(
        "--mode", choices=("physical", "k"), help="physical lens parameters or GenRefocus K (default physical)"
    )
    for flag, field in _DIST_FLAGS.items():
        p.add_argument(flag, dest=field, metavar="DIST", help=f"distribution of {field}")
    p.add_argument(
        "--focus-quantiles", metavar="LO,HI", help="depth-histogram focus range as quantiles (default 0.02,0.98)"
    )
    p.add_argument("--coc-range", metavar="LO,HI", help="accepted largest |CoC| per image in px (default 1,48)")
    p.add_argument("--refocus-min-diopter", type=float, help="least focus change of refocus pairs in 1/m (default 0.1)")
    p.add_argument("--max-draws", type=int, help="parameter draws per sample before it fails (default 50)")
    p.add_argument("--scale-jitter", type=float, help="real scenes: extra random scale up to this (default 1.25)")
    p.add_argument(
        "--png-depth-scale", type=float, help="user folders: metres per 16-bit PNG depth code (default 0.001)"
    )
    p.add_argument("--depth-scale", type=float, help="user folders: multiply depth values by this (default 1)")
    p.add_argument(
        "--format",
        choices=("parquet", "folder"),
        help="Hugging Face Parquet shards or PNG/EXR + JSON (default parquet)",
    )
    p.add_argument(
        "--workers", type=int, default=1, help="parallel worker processes, or Ray tasks at a time (default 1)"
    )
    p.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local processes or Ray tasks, one per shard (optional extra 'ray'; same bytes) (default local)",
    )
    p.add_argument("--overwrite", action="store_true", help="discard an OUT made with another config")
    p.add_argument("--no-verify", action="store_true", help="skip re-hashing finished shards on resume")
    p.add_argument("--print-config", action="store_true", help="print the resolved config as JSON and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_make_pairs)
