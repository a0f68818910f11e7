"""Score a model on a benchmark and write a results record (resumable).

Rerunning an evaluation into the same RESULTS_DIR resumes it: finished samples are read from
RESULTS_DIR/.cache and not computed again. Names, tasks, metrics, protocols, --model-arg and
--benchmark-arg keys and RESULTS_DIR are checked before anything is computed, each error printed as
one line. Exit code 0: every sample scored; 1: some samples failed (each listed on stderr, and
recorded with its reason); 2: bad input.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, check
from ..tasks import TASKS

__all__ = ["add_parser"]

_KINDS = ("models", "metrics", "benchmarks", "apertures")


def _kv(items: list[str] | None, flag: str) -> dict[str, Any]:
    from ..models.cli import parse_kv

    return parse_kv(items, flag)


def accepted_arguments(factory: Any) -> list[str] | None:
    """Keyword names ``factory`` (a class or function) accepts; None when it takes ``**kwargs``."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in params if p.kind in kinds and p.name != "self"]


def check_arguments(registry: Any, name: str, kwargs: dict[str, Any], flag: str) -> None:
    """Refuse keys of ``kwargs`` that the factory registered as ``name`` does not accept, naming them."""
    if not kwargs:
        return
    accepted = accepted_arguments(registry.get(name))
    if accepted is None:
        return
    unknown = sorted(set(kwargs) - set(accepted))
    check(
        not unknown,
        lambda: f"{flag}: {registry.kind} {name!r} takes no argument {', '.join(map(repr, unknown))}; "
        f"it accepts: {', '.join(accepted) or 'none'}",
    )


def _create(create: Any, name: str, kwargs: dict[str, Any], flag: str) -> Any:
    """``create(name, **kwargs)``, with a bad value reported against ``flag`` instead of a traceback."""
    try:
        return create(name, **kwargs)
    except TypeError as err:
        raise InvalidInputError(f"{flag}: {name!r} cannot be built with {kwargs}: {err}") from err


def _has_files(folder: Path) -> bool:
    return any(p.is_file() for p in folder.rglob("*"))


def _run_evaluate(args: argparse.Namespace) -> int:
    from ..benchmarks import BENCHMARKS, create_benchmark
    from ..models import MODELS, create_model
    from ..paths import check_output_dir, removed_on_failure
    from .evaluation import evaluate

    metrics = None
    if args.metrics:
        metrics = [m.strip() for item in args.metrics for m in item.split(",") if m.strip()]
    model_kw, bench_kw = _kv(args.model_arg, "--model-arg"), _kv(args.benchmark_arg, "--benchmark-arg")
    check_arguments(MODELS, args.model, model_kw, "--model-arg")
    check_arguments(BENCHMARKS, args.benchmark, bench_kw, "--benchmark-arg")
    check_output_dir(args.out, "-o")
    model = _create(create_model, args.model, model_kw, "--model-arg") if model_kw else args.model
    bench = _create(create_benchmark, args.benchmark, bench_kw, "--benchmark-arg") if bench_kw else args.benchmark
    with removed_on_failure(args.out, keep=_has_files):
        ev = evaluate(
            model,
            bench,
            metrics,
            device=args.device,
            batch_size=args.batch_size,
            workers=args.workers,
            executor=args.executor,
            out_dir=args.out,
            progress=not args.quiet and sys.stderr.isatty(),
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
            print(f"evaluate: {record['model']['name']}, sample {s['id']}: {s['error']}", file=sys.stderr)
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
    """One way to list each kind of thing: ``list models`` prints what ``models list`` prints, and
    ``list metrics`` what ``metrics list`` prints (the same handlers); benchmarks and apertures here."""
    check(args.task is None or args.kind == "models", "--task applies to 'list models' only")
    if args.kind == "models":
        from ..models import list_models
        from ..models.cli import _run_list as list_model_cards

        names = list_models(args.pattern, task=args.task)
        if names:
            list_model_cards(argparse.Namespace(pattern=args.pattern, task=args.task, markdown=False))
    elif args.kind == "metrics":
        from ..metrics import list_metrics
        from ..metrics.cli import _list_metrics

        names = list_metrics(args.pattern)
        if names:
            _list_metrics(argparse.Namespace(pattern=args.pattern))
    else:
        if args.kind == "benchmarks":
            from ..benchmarks import BENCHMARKS as reg
        else:
            from ..simulators.render.apertures import APERTURES as reg
        names = reg.list(args.pattern)
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

    q = subparsers.add_parser(
        "list",
        help="list registered models, metrics, benchmarks or aperture shapes with one-line descriptions",
        description="List registered models, metrics, benchmarks or aperture shapes, one per line with a description.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    q.add_argument("kind", choices=_KINDS, help="what to list")
    q.add_argument("pattern", nargs="?", default="*", help="shell-style pattern, e.g. 'deblur.*'")
    q.add_argument("--task", choices=TASKS, help="models: only those supporting this task")
    q.set_defaults(func=_run_list)
