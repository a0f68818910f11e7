"""``refocus-bench evaluate`` and ``refocus-bench list``.

Examples::

    refocus-bench evaluate --model deblur.wiener --benchmark synthetic-deblur -o results/
    refocus-bench evaluate --model genrefocus.tiny --benchmark synthetic-bokeh --metrics lpips.alex,psnr.rgb \\
        --workers 2 --executor ray -o results/
    refocus-bench list models --task bokeh
    refocus-bench list metrics 'bokeh.*'

Rerunning an evaluation into the same RESULTS_DIR resumes it: finished samples are read from
``RESULTS_DIR/.cache`` and not computed again. Errors about names, tasks, metrics or protocols are
printed as one line before anything is computed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser"]

_KINDS = ("models", "metrics", "benchmarks")


def _kv(items: list[str] | None, flag: str) -> dict[str, Any]:
    from ..models.cli import parse_kv

    return parse_kv(items, flag)


def _run_evaluate(args: argparse.Namespace) -> int:
    from ..benchmarks import create_benchmark
    from ..models import create_model
    from .evaluation import evaluate

    metrics = None
    if args.metrics:
        metrics = [m.strip() for item in args.metrics for m in item.split(",") if m.strip()]
    model_kw, bench_kw = _kv(args.model_arg, "--model-arg"), _kv(args.benchmark_arg, "--benchmark-arg")
    model = create_model(args.model, **model_kw) if model_kw else args.model
    bench = create_benchmark(args.benchmark, **bench_kw) if bench_kw else args.benchmark
    ev = evaluate(
        model,
        bench,
        metrics,
        device=args.device,
        batch_size=args.batch_size,
        workers=args.workers,
        executor=args.executor,
        out_dir=args.out,
        progress=not args.quiet,
        save_examples=args.save_examples,
        seed=args.seed,
    )
    record = ev.record
    head = record["benchmark"]["headline_metric"]
    parts = []
    for m in record["metrics"]:
        s = record["summary"][m["name"]]
        mean = "n/a" if s["mean"] is None else f"{s['mean']:.4g}"
        parts.append(f"{m['name']} {mean}" + (" (headline)" if m["name"] == head else ""))
    print(
        f"evaluate: {record['model']['name']} on {record['benchmark']['name']}: {len(ev.frame)} samples "
        f"({ev.cached} from cache), {ev.errors} with errors; " + ", ".join(parts)
    )
    print(f"evaluate: record -> {ev.path}")
    for s in record["samples"]:
        if s["error"]:
            print(f"evaluate: sample {s['id']}: {s['error']}", file=sys.stderr)
    return 1 if ev.errors else 0


def _describe(registry: Any, name: str) -> str:
    """Registry.describe, falling back to the declared one-liner (metric spec, model card, benchmark spec)."""
    try:
        text = registry.describe(name) or ""
        if not text:
            obj = registry.get(name)
            spec = getattr(obj, "spec", None)
            card = getattr(obj, "card", None)
            text = getattr(spec, "description", "") or getattr(card, "summary", "") or ""
        return text
    except Exception as err:  # noqa: BLE001 - one broken entry must not hide the others
        return f"(unavailable: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"


def _run_list(args: argparse.Namespace) -> int:
    if args.kind == "models":
        from ..models import MODELS, list_models

        names, reg = list_models(args.pattern, task=args.task), MODELS
    elif args.kind == "metrics":
        from ..metrics import METRICS, list_metrics

        names, reg = list_metrics(args.pattern), METRICS
    else:
        from ..benchmarks import BENCHMARKS, list_benchmarks

        names, reg = list_benchmarks(args.pattern), BENCHMARKS
    width = max([len(n) for n in names] + [8]) + 2
    for n in names:
        print(f"{n:{width}s}{_describe(reg, n)}")
    if not names:
        print(f"no {args.kind} match {args.pattern!r}", file=sys.stderr)
    return 0


def add_parser(subparsers: Any) -> None:
    """Add the ``evaluate`` and ``list`` sub-commands."""
    p = subparsers.add_parser(
        "evaluate",
        help="score a model on a benchmark (resumable; writes a results record)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, help="model registry name (see 'refocus-bench list models')")
    p.add_argument("--benchmark", required=True, help="benchmark registry name (see 'refocus-bench list benchmarks')")
    p.add_argument(
        "--metrics",
        nargs="+",
        metavar="NAME",
        help="metric names, space- or comma-separated (default: the benchmark's)",
    )
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--batch-size", type=int, default=1, help="samples per unit of work sent to a worker (default 1)")
    p.add_argument(
        "--workers", type=int, default=1, help="parallel workers: processes (local) or actors (ray) (default 1)"
    )
    p.add_argument(
        "--executor", choices=("local", "ray"), default="local", help="local processes or Ray (default local)"
    )
    p.add_argument("-o", "--out", required=True, metavar="RESULTS_DIR", help="results folder (rerun into it to resume)")
    p.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    p.add_argument(
        "--save-examples", type=int, default=4, metavar="N", help="save the first N predictions as PNG (default 4)"
    )
    p.add_argument("--model-arg", action="append", metavar="KEY=VALUE", help="model constructor argument (JSON values)")
    p.add_argument(
        "--benchmark-arg", action="append", metavar="KEY=VALUE", help="benchmark factory argument (JSON values)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_evaluate)

    q = subparsers.add_parser("list", help="list registered models, metrics or benchmarks with one-line descriptions")
    q.add_argument("kind", choices=_KINDS, help="what to list")
    q.add_argument("pattern", nargs="?", default="*", help="shell-style pattern, e.g. 'deblur.*'")
    q.add_argument("--task", choices=("deblur", "bokeh", "refocus"), help="models: only those supporting this task")
    q.set_defaults(func=_run_list)
