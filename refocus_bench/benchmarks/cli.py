"""Build the LF-Bokeh and LF-Refocus benchmarks from light fields (shift-and-add refocusing).

Each light field (a folder of sub-aperture views named by row and column, or a .npy array of shape
(V, U, H, W, 3), sRGB in [0, 1]) is refocused by shift-and-add at each focus disparity (px per view
step) and aperture; the centre view is the all-in-focus input. Outputs are written atomically and a
rerun into the same folder resumes. Exit code 0: every light field built; 1: some failed (listed);
2: bad input.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from ..errors import InvalidInputError, check
from ..simulators.pairs.cli import parse_floats, parse_size


def _check_inputs(args: argparse.Namespace) -> None:
    """Light-field paths readable, counts in range, OUT writable: before anything is built."""
    from ..paths import check_input_path, check_output_dir

    for path in args.lightfields:
        check_input_path(path, "LIGHTFIELD")
    check(args.synthetic >= 0, lambda: f"--synthetic must be >= 0, got {args.synthetic}")
    check(args.synthetic_grid >= 2, lambda: f"--synthetic-grid must be >= 2 views, got {args.synthetic_grid}")
    check(args.lightfields or args.synthetic, "give light-field folders / .npy files, or --synthetic N")
    check_output_dir(args.out, "-o")


def _run_make_lf(args: argparse.Namespace) -> int:
    from ..paths import removed_on_failure
    from ..simulators.lightfield.field import synthetic_dead_leaves_lightfield
    from .lightfield import DEFAULT_FOCUS_DISPARITIES, make_lf_benchmark

    _check_inputs(args)
    sources: list[Any] = list(args.lightfields)
    if args.synthetic:
        size = parse_size(args.synthetic_size)
        grid = args.synthetic_grid
        sources += [
            synthetic_dead_leaves_lightfield(
                seed=args.seed + i,
                size=size,
                grid=(grid, grid),
                max_disparity=args.max_disparity,
                n_leaves=16,
                point_lights=2,
            )
            for i in range(args.synthetic)
        ]
    check(len(sources) > 0, "give light-field folders / .npy files, or --synthetic N")
    focus = parse_floats(args.focus, "--focus") if args.focus else list(DEFAULT_FOCUS_DISPARITIES)
    apertures = []
    for spec in args.aperture or ["disk"]:
        name, _, r = spec.partition(":")
        try:
            apertures.append((name, float(r) if r else None))
        except ValueError as err:
            raise InvalidInputError(f"--aperture must be NAME or NAME:RADIUS (views), got {spec!r}") from err
    argv = [
        "refocus-bench",
        "make-lf-benchmark",
        *map(str, args.lightfields),
        "-o",
        args.out,
        f"--focus={','.join(map(repr, focus))}",
    ]
    argv += [x for a, r in apertures for x in ("--aperture", a if r is None else f"{a}:{r:g}")]
    if args.synthetic:
        argv += [
            "--synthetic",
            str(args.synthetic),
            "--synthetic-size",
            args.synthetic_size,
            "--synthetic-grid",
            str(args.synthetic_grid),
            f"--max-disparity={args.max_disparity!r}",
        ]
    if args.refocus_pairs is not None:
        argv += ["--refocus-pairs", str(args.refocus_pairs)]
    argv += ["--seed", str(args.seed), "--order", args.order]
    with removed_on_failure(args.out):
        result = make_lf_benchmark(
            sources,
            args.out,
            focus_disparities=focus,
            apertures=apertures,
            refocus_pairs=args.refocus_pairs,
            seed=args.seed,
            order=args.order,
            licence=args.licence,
            overwrite=args.overwrite,
            command=shlex.join(argv),
        )
        if result.failures and not result.built and not result.skipped:  # nothing usable: bad input
            f = result.failures[0]
            raise InvalidInputError(f"LIGHTFIELD: no light field could be built; {f['lightfield']}: {f['detail']}")
    print(
        f"make-lf-benchmark: {result.bokeh_records} LF-Bokeh and {result.refocus_records} LF-Refocus records "
        f"({len(result.built)} light fields built, {len(result.skipped)} already done, "
        f"{len(result.failures)} problems) -> {result.out_dir}"
    )
    for f in result.failures:
        print(f"make-lf-benchmark: {f['lightfield']}: {f['reason']}: {f['detail']}", file=sys.stderr)
    return 1 if result.failures else 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    q = subparsers.add_parser(
        "make-lf-benchmark",
        help="build LF-Bokeh / LF-Refocus benchmarks from light fields",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    q.add_argument(
        "lightfields",
        nargs="*",
        metavar="LIGHTFIELD",
        help="folders of sub-aperture views (row_col names) or .npy (V, U, H, W, 3)",
    )
    q.add_argument("-o", "--out", required=True, help="output folder (rerun into it to resume)")
    q.add_argument(
        "--focus", help="focus disparities in px per view step: 'a,b,c' or 'lo:hi:n' (default -1,-0.5,0,0.5,1)"
    )
    q.add_argument(
        "--aperture",
        action="append",
        metavar="NAME[:R]",
        help="aperture shape and radius in views (repeatable; default disk, largest radius)",
    )
    q.add_argument(
        "--refocus-pairs", type=int, help="LF-Refocus pairs per light field and aperture (default: all ordered pairs)"
    )
    q.add_argument("--seed", type=int, default=0, help="seed for choosing refocus pairs and synthetic scenes")
    q.add_argument("--order", choices=("row-col", "col-row"), default="row-col", help="index order in view file names")
    q.add_argument("--licence", default="unknown", help="licence of the light fields given as paths")
    q.add_argument(
        "--synthetic", type=int, default=0, metavar="N", help="also build N synthetic dead-leaves light fields"
    )
    q.add_argument("--synthetic-size", default="128", help="synthetic light-field view size N or WxH (default 128)")
    q.add_argument("--synthetic-grid", type=int, default=9, help="synthetic grid side in views (default 9)")
    q.add_argument(
        "--max-disparity", type=float, default=1.0, help="synthetic: largest |disparity| px per view (default 1)"
    )
    q.add_argument("--overwrite", action="store_true", help="rebuild an OUT made with other options")
    q.set_defaults(func=_run_make_lf)
