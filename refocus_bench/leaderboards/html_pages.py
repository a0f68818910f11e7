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
from .published import PublishedTable, reproduced_for, tables_for
from .stats import BOOTSTRAP_CONFIDENCE, BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED
from .tables import BenchmarkTable, Row, fmt_num, subset_order
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
        '<div class="scroll"><table class="sortable leaderboard" id="leaderboard"><thead><tr>'
        + "".join(head)
        + "</tr></thead>\n<tbody>\n"
        + "\n".join(body)
        + "\n</tbody></table></div>"
    )


def _subset_tables(t: BenchmarkTable) -> str:
    parts = []
    for key in t.subset_keys:
        values = subset_order(v for r in t.rows for v in r.subsets.get(key, {}))
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
            '<div class="scroll"><table class="sortable subset"><thead><tr>'
            + "".join(head)
            + "</tr></thead>\n<tbody>\n"
            + "\n".join(body)
            + "\n</tbody></table></div>"
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


def _figure(asset: str, caption: str) -> str:
    return (
        f'<figure><img src="../{esc(asset)}" alt="{esc(caption)}" loading="lazy">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def _examples(grid: ExampleGrid, t: BenchmarkTable) -> str:
    """Scenes with the models that produced an image for them; the others are named once, not drawn."""
    if not grid.samples:
        return ""
    parts = ["<h2>Side-by-side examples</h2>"]
    for s in grid.samples:
        figs = [_figure(a, c) for a, c in ((s.input, "input"), (s.target, "target")) if a is not None]
        figs += [_figure(asset, r.model) for r, asset in s.predictions if asset is not None]
        missing = [r.model for r, asset in s.predictions if asset is None]
        note = ""
        if missing:
            note = f'<p class="meta">No image from: {esc(", ".join(missing))}.</p>'
        parts.append(f'<h3>Sample {esc(s.sample_id)}</h3>\n<div class="scene">' + "".join(figs) + "</div>" + note)
    return "\n".join(parts)


def _failures(t: BenchmarkTable) -> str:
    """Per model, the samples that have no score and why (the records' ``error`` fields)."""
    items = []
    for r in t.rows:
        if not r.failures:
            continue
        reasons = "".join(
            f'<li><span class="count">{len(f.sample_ids)} sample{"s" if len(f.sample_ids) != 1 else ""}</span> '
            f"({esc(', '.join(f.sample_ids[:6]))}{' …' if len(f.sample_ids) > 6 else ''}): "
            f"<code>{esc(f.reason)}</code></li>"
            for f in r.failures
        )
        items.append(
            f'<li><b class="model">{esc(r.model)}</b>: {r.num_failed} of {t.num_samples} samples failed'
            f"<ul>{reasons}</ul></li>"
        )
    if not items:
        return ""
    return (
        '<h2 id="failures">Failed samples</h2>\n<p class="meta">A failed sample has no score; rows with n below '
        f'{t.num_samples} are not ranked.</p>\n<ul class="failures">' + "".join(items) + "</ul>"
    )


def _definition(t: BenchmarkTable) -> str:
    text = json.dumps(t.definition, sort_keys=True, indent=1, ensure_ascii=False, allow_nan=False)
    return f"<details><summary>Benchmark definition</summary><pre>{esc(text)}</pre></details>"


def render_benchmark_page(
    t: BenchmarkTable, plots: Sequence[Plot], grid: ExampleGrid, published: Sequence[PublishedTable] = ()
) -> bytes:
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
        _failures(t),
        _reported(tables_for(published, t.name), [t], base="../"),
        _plots(plots),
        _examples(grid, t),
        _definition(t),
    ]
    return page(
        f"{t.name} v{t.version} — refocus-bench leaderboard",
        "\n".join(b for b in body if b),
        data_json=safe_json(t.as_dict(), indent=None),
    )


def _reproduced_cell(prow, tables: Sequence[BenchmarkTable], base: str) -> str:
    found = reproduced_for(prow, tables)
    if not found:
        return '<td class="num" data-value="">–</td>'
    links = []
    for rep in found:
        href = f"{base}{benchmark_page_path(rep.table)}#row-{rep.row.row_id}"
        links.append(
            f'<a href="{esc(href)}">{esc(fmt_num(rep.value))}</a> '
            f'<span class="meta">({esc(rep.table.name)}, n={rep.n}/{rep.table.num_samples})</span>'
        )
    value = "" if found[0].value is None else repr(float(found[0].value))
    return f'<td class="num" data-value="{esc(value)}">' + "<br>".join(links) + "</td>"


def _reported_table(p: PublishedTable, tables: Sequence[BenchmarkTable], base: str) -> str:
    head = "".join(
        [_th("Method", "text"), _th("Metric", "text"), _th("Reported"), _th("Reproduced here"), _th("Notes", "text")]
    )
    body = []
    for r in p.rows:
        arrow = "↑" if r.higher_is_better else "↓"
        body.append(
            '<tr class="reported-row">'
            f'<td><span class="badge">reported</span> {esc(r.method)}</td>'
            f'<td title="{esc("higher is better" if r.higher_is_better else "lower is better")}">'
            f"{esc(r.metric)} {arrow}</td>"
            f'<td class="num" data-value="{esc(repr(r.value))}">{esc(r.printed)}</td>'
            + _reproduced_cell(r, tables, base)
            + f"<td>{esc(r.notes)}</td></tr>"
        )
    checked = (
        ""
        if p.checked
        else (
            f' <span class="unchecked" title="{esc(p.transcription_note)}">Transcribed from {esc(p.transcribed_from)}; '
            "not yet checked against the paper.</span>"
        )
    )
    return (
        f'<section class="reported" id="reported-{esc(p.source_id)}">'
        f'<h3>{esc(p.benchmark)} <small>— <a href="{esc(p.table_url)}" rel="noreferrer">{esc(p.cite)}</a></small></h3>'
        f'<p class="meta"><a href="{esc(p.paper_url)}" rel="noreferrer">{esc(p.paper)}</a>. '
        f"Task {esc(p.task)}. Protocol: {esc(p.protocol.rstrip('.'))}.{checked}</p>"
        f'<div class="scroll"><table class="sortable reported-table"><thead><tr>{head}</tr></thead>\n<tbody>\n'
        + "\n".join(body)
        + "\n</tbody></table></div></section>"
    )


def _reported(published: Sequence[PublishedTable], tables: Sequence[BenchmarkTable], *, base: str) -> str:
    """Rows reported in papers, styled apart from reproduced rows, with the reproduced value beside them."""
    if not published:
        return ""
    return (
        '<h2 id="reported">Reported in papers</h2>\n<p class="meta">Numbers as printed in the papers, on their '
        "benchmarks and under their protocols: not computed here. Each table links to its source; "
        "“Reproduced here” shows this leaderboard's score for the same model, benchmark data and metric where "
        "one exists.</p>\n" + "\n".join(_reported_table(p, tables, base) for p in published)
    )


def _index_table(t: BenchmarkTable) -> str:
    rows = []
    for r in t.rows:
        n_text = f"{r.headline.n}/{t.num_samples}"
        title = "" if not r.failures else f' title="{esc(f"{r.num_failed} failed: {r.failures[0].reason}")}"'
        rows.append(
            "<tr>"
            + _num_cell(r.rank, text="–" if r.rank is None else str(r.rank))
            + f"<td>{esc(r.model)}</td>"
            + _num_cell(r.headline.mean)
            + _num_cell(r.headline.low, text=f"[{fmt_num(r.headline.low)}, {fmt_num(r.headline.high)}]")
            + f'<td class="num" data-value="{r.headline.n}"{title}>{esc(n_text)}</td>'
            + _num_cell(r.runtime_s, 3)
            + "</tr>"
        )
    head = "".join(
        [
            _th("Rank"),
            _th("Model", "text"),
            _th(t.headline_metric, title=_direction(t.higher_is_better)),
            _th("95% CI"),
            _th("n", title="samples scored / benchmark samples; rows below the total are not ranked"),
            _th("s/image"),
        ]
    )
    failed = sum(1 for r in t.rows if r.headline.n < t.num_samples)
    note = ""
    if failed:
        note = (
            f" · {failed} row{'s' if failed != 1 else ''} with failed samples, not ranked "
            f'(<a href="{esc(benchmark_page_path(t))}#failures">why</a>)'
        )
    return (
        f'<h2><a href="{esc(benchmark_page_path(t))}">{esc(t.name)}</a> <small>v{esc(t.version)}'
        f'</small></h2>\n<p class="meta">{esc(t.task)} · {t.num_samples} samples · ranked by '
        f"<b>{esc(t.headline_metric)}</b> ({_direction(t.higher_is_better)}){note}</p>\n"
        f'<div class="scroll"><table class="sortable"><thead><tr>{head}</tr></thead>\n<tbody>\n'
        + "\n".join(rows)
        + "\n</tbody></table></div>"
    )


def render_index(tables: Sequence[BenchmarkTable], published: Sequence[PublishedTable] = ()) -> bytes:
    """The landing page: every benchmark's ranked headline table, then the rows reported in papers."""
    parts = [
        "<h1>refocus-bench leaderboards</h1>",
        '<p class="meta">Generated from results records by <code>refocus-bench leaderboard build</code>. '
        'Downloads: <a href="leaderboard.md">Markdown</a> · <a href="leaderboard.json">JSON</a> · '
        '<a href="leaderboard.parquet">Parquet</a> (one row per benchmark, model, sample and metric).'
        + (' Rows <a href="#reported">reported in papers</a> follow the reproduced ones.' if published else "")
        + "</p>",
    ]
    parts += [_index_table(t) for t in tables]
    parts.append(_reported(published, tables, base=""))
    return page("refocus-bench leaderboards", "\n".join(p for p in parts if p))
