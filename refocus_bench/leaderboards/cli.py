"""``refocus-bench leaderboard ...`` sub-commands.

* ``refocus-bench leaderboard build RESULTS_DIR... -o SITE_DIR [--max-examples N] [--published DIR]``:
  check every record, write the site (HTML, Markdown, JSON, Parquet, plots) with the rows reported in
  papers (``--published``, default ``leaderboards/published`` when that folder exists), print the
  headline tables and the site path.
* ``refocus-bench leaderboard submit RESULTS.json [--store DIR]``: validate a record (schema,
  provenance, completeness, benchmark content hash) and copy it into the store; a rejection prints
  one line with the reason and exits with code 2.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

__all__ = ["add_parser"]

DEFAULT_STORE = "leaderboards/store"
DEFAULT_PUBLISHED = "leaderboards/published"


def _warnings_to_stderr() -> None:
    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        print(f"warning: {message}", file=sys.stderr)

    warnings.showwarning = show  # type: ignore[assignment]


def _build(args: argparse.Namespace) -> int:
    from .site import build_site
    from .tables import headline_table, printable

    _warnings_to_stderr()
    published = args.published
    if published is None:
        published = [DEFAULT_PUBLISHED] if Path(DEFAULT_PUBLISHED).is_dir() and not args.no_published else []
    elif args.no_published:
        print("refocus-bench leaderboard build: --published and --no-published exclude each other", file=sys.stderr)
        return 2
    result = build_site(args.results_dirs, args.output, max_examples=args.max_examples, published_dirs=published)
    print(headline_table(result.tables), end="")
    if result.published:
        rows = sum(len(p.rows) for p in result.published)
        print(f"reported rows: {rows} from {len(result.published)} published table(s) in {', '.join(published)}")
    print(f"site: {printable(str(result.site_dir.resolve() / 'index.html'))}")
    return 0


def _submit(args: argparse.Namespace) -> int:
    from .submit import SubmissionRejected, submit_record
    from .tables import printable

    try:
        sub = submit_record(args.results, args.store)
    except SubmissionRejected as err:
        reason = " ".join(str(err).split())
        print(f"refocus-bench leaderboard submit: rejected: {printable(reason)}", file=sys.stderr)
        return 2
    b, v, m, w = sub.key
    state = "accepted" if sub.added else "already in the store"
    print(f"{state}: {printable(b)} v{printable(v)} / {printable(m)} (weights {w[:12] or 'none'}) -> {sub.path}")
    return 0


def add_parser(subparsers: Any) -> None:
    """Add the ``leaderboard`` command with its ``build`` and ``submit`` sub-commands."""
    lb = subparsers.add_parser("leaderboard", help="build leaderboard sites and accept results into a store")
    sub = lb.add_subparsers(dest="leaderboard_command", metavar="ACTION", required=True)
    build = sub.add_parser("build", help="rank results records into a static site (HTML, Markdown, JSON, Parquet)")
    build.add_argument("results_dirs", nargs="+", metavar="RESULTS_DIR", help="folders of results records (*.json)")
    build.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="SITE_DIR",
        help="site folder (written atomically; replaced only if made by an earlier build)",
    )
    build.add_argument(
        "--max-examples",
        type=int,
        default=4,
        metavar="N",
        help="scenes per benchmark in the side-by-side comparisons (default 4)",
    )
    build.add_argument(
        "--published",
        action="append",
        metavar="DIR",
        help=f"folder of published tables (rows reported in papers); repeatable (default: {DEFAULT_PUBLISHED} "
        "when it exists)",
    )
    build.add_argument("--no-published", action="store_true", help="leave the rows reported in papers out")
    build.set_defaults(func=_build)
    submit = sub.add_parser("submit", help="validate a results record and copy it into the leaderboard store")
    submit.add_argument("results", metavar="RESULTS.json")
    submit.add_argument("--store", default=DEFAULT_STORE, metavar="DIR", help=f"store folder (default {DEFAULT_STORE})")
    submit.set_defaults(func=_submit)
