"""README-ready Markdown leaderboards (``leaderboard.md``).

Names come from results files, so every string from a record is escaped as Markdown, never as HTML
(an HTML entity such as ``&#x27;`` would show up literally in a renderer that does not decode it, and
in the raw file): whitespace runs become one space, and the ASCII punctuation that could open a link,
emphasis, code span, inline HTML tag, entity, heading or new table cell is backslash-escaped
(CommonMark lets any ASCII punctuation be escaped so, and a GFM table takes ``\\|`` as a literal pipe).
Quotes need no escaping in Markdown and are kept as they are. At the start of a block, a character
that would open a list, a quote or a thematic break is escaped too (:func:`md_block`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .published import PublishedTable, reproduced_for
from .stats import BOOTSTRAP_CONFIDENCE, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
from .tables import BenchmarkTable, fmt_num, subset_order

__all__ = ["md_escape", "md_block", "render_markdown"]

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~$<>&#!])")
_BLOCK_START = re.compile(r"^([-+=]|\d+(?=[.)]))")


def md_escape(text: str) -> str:
    """Escape ``text`` for inline Markdown (one table cell, a heading): no newlines, punctuation escaped."""
    text = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", text)


def md_block(text: str) -> str:
    """:func:`md_escape` for text that starts a paragraph: a leading ``-``, ``+``, ``=`` or ``1.`` stays text."""
    out = md_escape(text)
    m = _BLOCK_START.match(out)
    if m is None:
        return out
    if m.group(1)[0].isdigit():  # "1." / "1)": escape the delimiter after the number
        end = m.end()
        return out[:end] + "\\" + out[end:]
    return "\\" + out


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join({"l": ":---", "r": "---:"}[a] for a in align) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _benchmark(t: BenchmarkTable) -> list[str]:
    arrow = "higher is better" if t.higher_is_better else "lower is better"
    lines = [f"## {md_escape(t.name)} (v{md_escape(t.version)})", ""]
    desc = t.definition.get("description")
    if isinstance(desc, str) and desc.strip():
        lines += [md_block(desc), ""]
    lines += [
        f"Task {md_escape(t.task)}, {t.num_samples} samples, content hash {md_escape(t.content_hash[:16])}…. "
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
    lines += _failures(t)
    for key in t.subset_keys:
        values = subset_order(v for r in t.rows for v in r.subsets.get(key, {}))
        lines += ["", f"{md_escape(t.headline_metric)} by {md_escape(key)}:", ""]
        sub_rows = [
            [md_escape(r.model)] + [fmt_num(r.subsets.get(key, {}).get(v, {}).get("mean")) for v in values]
            for r in t.rows
        ]
        lines += _table(["Model"] + [md_escape(v) for v in values], sub_rows, ["l"] + ["r"] * len(values))
    return lines + [""]


def _failures(t: BenchmarkTable) -> list[str]:
    lines = []
    for r in t.rows:
        for f in r.failures:
            ids = ", ".join(f.sample_ids[:6]) + (" …" if len(f.sample_ids) > 6 else "")
            lines.append(
                f"* {md_escape(r.model)}: {len(f.sample_ids)} of {t.num_samples} samples failed "
                f"({md_escape(ids)}): {md_escape(f.reason)}"
            )
    return ["", "Failed samples (no score; such rows are not ranked):", ""] + lines if lines else []


def _link(text: str, url: str) -> str:
    """A Markdown link; ``url`` was validated by the published-table schema (https, no spaces or brackets)."""
    return f"[{md_escape(text)}]({url})"


def _reported(tables: Sequence[BenchmarkTable], published: Sequence[PublishedTable]) -> list[str]:
    if not published:
        return []
    lines = [
        "## Reported in papers",
        "",
        "Numbers as printed in the papers, on their benchmarks and under their protocols: **reported, not "
        "computed here**. Each table links to its source; *Reproduced here* is this leaderboard's score for the "
        "same model, benchmark data and metric where one exists.",
        "",
    ]
    for p in published:
        checked = (
            ""
            if p.checked
            else f" Transcribed from {md_escape(p.transcribed_from)}; not yet checked against the paper."
        )
        lines += [
            f"### {md_escape(p.benchmark)} (reported): {_link(p.cite, p.table_url)}",
            "",
            f"{_link(p.paper, p.paper_url)}. Task {md_escape(p.task)}. "
            f"Protocol: {md_escape(p.protocol.rstrip('.'))}.{checked}",
            "",
        ]
        rows = []
        for r in p.rows:
            rep = reproduced_for(r, tables)
            here = "; ".join(f"{fmt_num(x.value)} ({md_escape(x.table.name)}, n={x.n})" for x in rep) or "–"
            arrow = "↑" if r.higher_is_better else "↓"
            rows.append([md_escape(r.method), f"{md_escape(r.metric)} {arrow}", r.printed, here, md_escape(r.notes)])
        lines += _table(["Method", "Metric", "Reported", "Reproduced here", "Notes"], rows, ["l", "l", "r", "r", "l"])
        lines.append("")
    return lines


def render_markdown(tables: Sequence[BenchmarkTable], published: Sequence[PublishedTable] = ()) -> bytes:
    """The whole leaderboard as Markdown (UTF-8 bytes): reproduced tables, then rows reported in papers."""
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
    lines += _reported(tables, published)
    return ("\n".join(lines).rstrip("\n") + "\n").encode("utf-8")
