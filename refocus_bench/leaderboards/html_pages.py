"""HTML pages of the leaderboard site: ``index.html`` and one page per benchmark.

Every string that comes from a results file (model, benchmark, metric, subset and sample names,
provenance) goes through :func:`esc` (``html.escape(..., quote=True)``), in text and in attributes; the
embedded JSON goes through :func:`~refocus_bench.leaderboards.export.safe_json`. File names in the site
are generated (:func:`~refocus_bench.leaderboards.tables.short_id`, content hashes), never taken from a
record. Numbers are written with ``repr`` in ``data-value`` attributes so the sorter sees exact values.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from .examples import ExampleGrid
from .export import safe_json
from .plots import Plot
from .stats import BOOTSTRAP_CONFIDENCE, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
from .tables import BenchmarkTable, Row, fmt_num
from .web_assets import page

__all__ = ["esc", "benchmark_page_path", "render_index", "render_benchmark_page"]


def esc(value: Any) -> str:
    """HTML-escape ``value`` (quotes included) for text and attribute contexts."""
    return html.escape(str(value), quote=True)


def benchmark_page_path(table: BenchmarkTable) -> str:
    """Site-relative path of a benchmark page (generated name)."""
    return f"benchmarks/{table.page_id}.html"


def _num_cell(v: float | None, digits: int = 4, text: str | None = None) -> str:
    value = "" if v is None else repr(float(v))
    return f'<td class="num" data-value="{esc(value)}">{esc(text if text is not None else fmt_num(v, digits))}</td>'


def _th(label: str, kind: str = "number", title: str = "") -> str:
    t = f' title="{esc(title)}"' if title else ""
    return f'<th data-type="{kind}"{t}>{esc(label)}</th>'


def _direction(higher: bool) -> str:
    return "higher is better" if higher else "lower is better"


def _provenance_cell(r: Row) -> str:
    p = r.provenance
    summary = f"toolkit {p['toolkit'].get('version', '?')}"
    if r.weights_sha256:
        summary += f" · weights {r.weights_sha256[:8]}"
    text = json.dumps(p, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False)
    return (
        f'<td><details id="prov-{esc(r.row_id)}"><summary>{esc(summary)}</summary><pre>{esc(text)}</pre></details></td>'
    )


def _main_table(t: BenchmarkTable) -> str:
    others = [(m, h) for m, h in t.metrics if m != t.headline_metric]
    head = [
        _th("Rank"),
        _th("Model", "text"),
        _th("Weights", "text", "weights sha256"),
        _th(t.headline_metric, title=_direction(t.higher_is_better)),
        _th("95% CI", title="percentile bootstrap over samples; sorts by the lower bound"),
        _th("n"),
    ]
    head += [_th(m, title=_direction(h)) for m, h in others]
    head += [_th("s/image", title="mean model runtime per sample, seconds"), '<th data-nosort="">Provenance</th>']
    body = []
    for r in t.rows:
        weights = r.weights_sha256[:12] if r.weights_sha256 else "–"
        cells = [
            _num_cell(r.rank, text="–" if r.rank is None else str(r.rank)),
            f'<td class="model">{esc(r.model)}</td>',
            f'<td title="{esc(r.weights_sha256 or "no weights")}"><code>{esc(weights)}</code></td>',
            _num_cell(r.headline.mean),
            _num_cell(r.headline.low, text=f"[{fmt_num(r.headline.low)}, {fmt_num(r.headline.high)}]"),
            _num_cell(r.headline.n, text=str(r.headline.n)),
        ]
        cells += [_num_cell(r.metrics.get(m)) for m, _ in others]
        cells += [_num_cell(r.runtime_s, 3), _provenance_cell(r)]
        body.append(f'<tr id="row-{esc(r.row_id)}">' + "".join(cells) + "</tr>")
    return (
        '<table class="sortable leaderboard" id="leaderboard"><thead><tr>'
        + "".join(head)
        + "</tr></thead>\n<tbody>\n"
        + "\n".join(body)
        + "\n</tbody></table>"
    )


def _subset_tables(t: BenchmarkTable) -> str:
    parts = []
    for key in t.subset_keys:
        values = sorted({v for r in t.rows for v in r.subsets.get(key, {})})
        head = [_th("Model", "text")] + [_th(v) for v in values]
        body = []
        for r in t.rows:
            sub = r.subsets.get(key, {})
            cells = [f"<td>{esc(r.model)}</td>"]
            for v in values:
                cell = sub.get(v)
                cells.append(
                    _num_cell(None)
                    if cell is None
                    else _num_cell(cell["mean"], text=f"{fmt_num(cell['mean'])} (n={cell['n']})")
                )
            body.append("<tr>" + "".join(cells) + "</tr>")
        parts.append(
            f"<h3>{esc(t.headline_metric)} by {esc(key)}</h3>\n"
            '<table class="sortable subset"><thead><tr>'
            + "".join(head)
            + "</tr></thead>\n<tbody>\n"
            + "\n".join(body)
            + "\n</tbody></table>"
        )
    if not parts:
        return ""
    return "<h2>Per-subset breakdown</h2>\n" + "\n".join(parts)


def _plots(plots: Sequence[Plot]) -> str:
    if not plots:
        return ""
    figs = [
        f'<figure><img src="../{esc(p.asset)}" alt="{esc(p.caption)}"><figcaption>{esc(p.caption)}'
        "</figcaption></figure>"
        for p in plots
    ]
    return '<h2>Plots</h2>\n<div class="plots">\n' + "\n".join(figs) + "\n</div>"


def _figure(asset: str | None, caption: str) -> str:
    if asset is None:
        return f"<figure><figcaption>{esc(caption)}: not available</figcaption></figure>"
    return (
        f'<figure><img src="../{esc(asset)}" alt="{esc(caption)}" loading="lazy">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def _examples(grid: ExampleGrid) -> str:
    if not grid.samples:
        return ""
    parts = ["<h2>Side-by-side examples</h2>"]
    for s in grid.samples:
        figs = [_figure(s.input, "input")]
        if s.target is not None:
            figs.append(_figure(s.target, "target"))
        figs += [_figure(asset, r.model) for r, asset in s.predictions]
        parts.append(f'<h3>Sample {esc(s.sample_id)}</h3>\n<div class="scene">' + "".join(figs) + "</div>")
    return "\n".join(parts)


def _definition(t: BenchmarkTable) -> str:
    text = json.dumps(t.definition, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False)
    return f"<details><summary>Benchmark definition</summary><pre>{esc(text)}</pre></details>"


def render_benchmark_page(t: BenchmarkTable, plots: Sequence[Plot], grid: ExampleGrid) -> bytes:
    """The page of one benchmark: ranked table, subset tables, plots, examples, definition."""
    desc = t.definition.get("description")
    body = [
        '<p><a href="../index.html">← all leaderboards</a></p>',
        f"<h1>{esc(t.name)} <small>v{esc(t.version)}</small></h1>",
        f"<p>{esc(desc)}</p>" if isinstance(desc, str) and desc else "",
        f'<p class="meta">Task <code>{esc(t.task)}</code> · {t.num_samples} samples · content hash '
        f"<code>{esc(t.content_hash)}</code><br>Ranked by <b>{esc(t.headline_metric)}</b> "
        f"({_direction(t.higher_is_better)}). {int(BOOTSTRAP_CONFIDENCE * 100)}% percentile bootstrap CI over "
        f"samples ({BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}). Click a column header to sort.</p>",
        _main_table(t),
        _subset_tables(t),
        _plots(plots),
        _examples(grid),
        _definition(t),
    ]
    return page(
        f"{t.name} v{t.version} — refocus-bench leaderboard",
        "\n".join(b for b in body if b),
        data_json=safe_json(t.as_dict(), indent=None),
    )


def render_index(tables: Sequence[BenchmarkTable]) -> bytes:
    """The landing page: every benchmark with its ranked headline table and a link to its page."""
    parts = [
        "<h1>refocus-bench leaderboards</h1>",
        '<p class="meta">Generated from results records by <code>refocus-bench leaderboard build</code>. '
        'Downloads: <a href="leaderboard.md">Markdown</a> · <a href="leaderboard.json">JSON</a> · '
        '<a href="leaderboard.parquet">Parquet</a> (one row per benchmark, model, sample and metric).</p>',
    ]
    for t in tables:
        rows = []
        for r in t.rows:
            rows.append(
                "<tr>"
                + _num_cell(r.rank, text="–" if r.rank is None else str(r.rank))
                + f"<td>{esc(r.model)}</td>"
                + _num_cell(r.headline.mean)
                + _num_cell(r.headline.low, text=f"[{fmt_num(r.headline.low)}, {fmt_num(r.headline.high)}]")
                + _num_cell(r.runtime_s, 3)
                + "</tr>"
            )
        head = "".join(
            [
                _th("Rank"),
                _th("Model", "text"),
                _th(t.headline_metric, title=_direction(t.higher_is_better)),
                _th("95% CI"),
                _th("s/image"),
            ]
        )
        parts.append(
            f'<h2><a href="{esc(benchmark_page_path(t))}">{esc(t.name)}</a> <small>v{esc(t.version)}'
            f'</small></h2>\n<p class="meta">{esc(t.task)} · {t.num_samples} samples · ranked by '
            f"<b>{esc(t.headline_metric)}</b> ({_direction(t.higher_is_better)})</p>\n"
            f'<table class="sortable"><thead><tr>{head}</tr></thead>\n<tbody>\n'
            + "\n".join(rows)
            + "\n</tbody></table>"
        )
    return page("refocus-bench leaderboards", "\n".join(parts))
