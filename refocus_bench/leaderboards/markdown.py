"""README-ready Markdown leaderboards (``leaderboard.md``).

Names come from results files, so every cell is escaped twice over: HTML special characters become
entities (GitHub renders inline HTML in Markdown) and Markdown punctuation that could open a link,
emphasis, code span or new cell is backslash-escaped.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from .stats import BOOTSTRAP_CONFIDENCE, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
from .tables import BenchmarkTable, fmt_num

__all__ = ["md_escape", "render_markdown"]

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~$])")


def md_escape(text: str) -> str:
    """Escape ``text`` for one Markdown table cell (HTML entities, backslash-escaped punctuation, no newlines)."""
    text = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=True))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join({"l": ":---", "r": "---:"}[a] for a in align) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _benchmark(t: BenchmarkTable) -> list[str]:
    arrow = "higher is better" if t.higher_is_better else "lower is better"
    lines = [f"## {md_escape(t.name)} (v{md_escape(t.version)})", ""]
    desc = t.definition.get("description")
    if isinstance(desc, str) and desc:
        lines += [md_escape(desc), ""]
    lines += [
        f"Task `{md_escape(t.task)}`, {t.num_samples} samples, content hash `{md_escape(t.content_hash[:16])}…`. "
        f"Ranked by **{md_escape(t.headline_metric)}** ({arrow}); "
        f"{int(BOOTSTRAP_CONFIDENCE * 100)}% bootstrap CI over samples; rows with n below {t.num_samples} "
        "(the model failed on some samples) are listed without a rank.",
        "",
    ]
    others = [m for m, _ in t.metrics if m != t.headline_metric]
    header = ["Rank", "Model", "Weights", md_escape(t.headline_metric), "95% CI", "n"]
    header += [md_escape(m) for m in others] + ["s/image"]
    rows = []
    for r in t.rows:
        cells = [
            "–" if r.rank is None else str(r.rank),
            md_escape(r.model),
            md_escape(r.weights_sha256[:12]) if r.weights_sha256 else "–",
            fmt_num(r.headline.mean),
            f"[{fmt_num(r.headline.low)}, {fmt_num(r.headline.high)}]",
            str(r.headline.n),
        ]
        cells += [fmt_num(r.metrics.get(m)) for m in others] + [fmt_num(r.runtime_s, 3)]
        rows.append(cells)
    lines += _table(header, rows, ["r", "l", "l", "r", "l", "r"] + ["r"] * len(others) + ["r"])
    for key in t.subset_keys:
        values = sorted({v for r in t.rows for v in r.subsets.get(key, {})})
        lines += ["", f"{md_escape(t.headline_metric)} by {md_escape(key)}:", ""]
        sub_rows = [
            [md_escape(r.model)] + [fmt_num(r.subsets.get(key, {}).get(v, {}).get("mean")) for v in values]
            for r in t.rows
        ]
        lines += _table(["Model"] + [md_escape(v) for v in values], sub_rows, ["l"] + ["r"] * len(values))
    return lines + [""]


def render_markdown(tables: Sequence[BenchmarkTable]) -> bytes:
    """The whole leaderboard as Markdown (UTF-8 bytes)."""
    lines = [
        "# refocus-bench leaderboards",
        "",
        f"Generated from results records by `refocus-bench leaderboard build`. Scores are means over benchmark "
        f"samples; intervals are percentile bootstrap ({BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}). "
        "Runtime is the mean per-sample model time in seconds. Provenance of each row is in `leaderboard.json` "
        "and on the HTML pages.",
        "",
    ]
    for t in tables:
        lines += _benchmark(t)
    return ("\n".join(lines).rstrip("\n") + "\n").encode("utf-8")
