"""The static parts of the HTML site: inline stylesheet, the table-sorting script and the page frame.

No CDN and no external request: the CSS and a small vanilla-JS sorter are inlined in every page, so
the site works from ``file://``. A Content-Security-Policy allows only that one script (by its sha256),
so markup injected through a name could not run even if escaping failed somewhere.
"""

from __future__ import annotations

import base64
import hashlib
import html

__all__ = ["CSS", "SORT_JS", "page"]

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5rem auto;max-width:78rem;padding:0 1rem;
color:#1b1f24;line-height:1.45}
h1,h2,h3{line-height:1.2}
a{color:#0b5cad}
table{border-collapse:collapse;margin:0.6rem 0 1.2rem;font-size:0.9rem}
th,td{border:1px solid #d0d7de;padding:0.25rem 0.5rem;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
thead th{background:#f3f5f7;white-space:nowrap}
table.sortable thead th:not([data-nosort]){cursor:pointer}
table.sortable thead th:not([data-nosort])::after{content:" \\21C5";color:#8b949e}
th[aria-sort=ascending]::after{content:" \\25B2"!important;color:#1b1f24!important}
th[aria-sort=descending]::after{content:" \\25BC"!important;color:#1b1f24!important}
details pre{max-width:40rem;max-height:24rem;overflow:auto;font-size:0.75rem;background:#f6f8fa;padding:0.5rem}
.meta{color:#57606a;font-size:0.9rem}
.plots img{max-width:100%;border:1px solid #d0d7de;margin:0.3rem 0}
.scene{display:flex;flex-wrap:wrap;gap:0.6rem;margin:0.4rem 0 1.2rem}
.scene figure{margin:0;max-width:14rem}
.scene img{width:14rem;image-rendering:pixelated;border:1px solid #d0d7de}
.scene figcaption{font-size:0.8rem;overflow-wrap:anywhere}
code{overflow-wrap:anywhere}
.scroll{overflow-x:auto;max-width:100%}
.scroll table{margin-top:0.2rem}
section.reported{background:#fff8e6;border-left:4px solid #d4a72c;padding:0.2rem 0.8rem 0.4rem;margin:0.8rem 0}
section.reported table{background:#fffdf5}
.badge{display:inline-block;font-size:0.7rem;text-transform:uppercase;letter-spacing:0.04em;
background:#d4a72c;color:#1b1f24;border-radius:0.6rem;padding:0 0.45rem;margin-right:0.2rem;vertical-align:middle}
.unchecked{color:#9a6700}
table.reported-table td:first-child{white-space:nowrap}
table.reported-table td:last-child{min-width:12rem}
ul.failures code{font-size:0.8rem}
@media (max-width:40rem){body{margin:0.8rem auto;padding:0 0.6rem}
.scene figure{flex:0 0 calc(50% - 0.3rem);max-width:none}.scene img{width:100%}h1{font-size:1.5rem}}
"""

SORT_JS = """(function () {
  "use strict";
  function key(cell, numeric) {
    var v = cell.getAttribute("data-value");
    if (v === null) { v = cell.textContent.trim(); }
    if (!numeric) { return v.toLowerCase(); }
    var x = parseFloat(v);
    return isNaN(x) ? null : x;
  }
  function sortBy(table, col, th) {
    var numeric = th.getAttribute("data-type") === "number";
    var asc = th.getAttribute("aria-sort") !== "ascending";
    var heads = table.tHead.rows[0].cells;
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).map(function (r, i) {
      return {r: r, i: i, k: key(r.cells[col], numeric)};
    });
    rows.sort(function (a, b) {
      if (a.k === null || b.k === null) {
        if (a.k === b.k) { return a.i - b.i; }
        return a.k === null ? 1 : -1;
      }
      var c = a.k < b.k ? -1 : (a.k > b.k ? 1 : 0);
      return (asc ? c : -c) || (a.i - b.i);
    });
    rows.forEach(function (x) { body.appendChild(x.r); });
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      if (th.hasAttribute("data-nosort")) { return; }
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortBy(table, col, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, col, th); }
      });
    });
  });
})();
"""

# a base64 digest, as Content-Security-Policy wants it (hashing.py gives hex digests only)
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(SORT_JS.encode("utf-8")).digest()).decode("ascii")
_CSP = (
    f"default-src 'none'; img-src 'self' data: file:; style-src 'unsafe-inline'; "
    f"script-src 'sha256-{_SCRIPT_HASH}'; base-uri 'none'; form-action 'none'"
)


def page(title: str, body: str, *, data_json: str | None = None) -> bytes:
    """A complete HTML document. ``title`` is escaped here; ``body`` must already be escaped markup.

    ``data_json`` (already made HTML-safe by :func:`~refocus_bench.leaderboards.export.safe_json`) is
    embedded as an inert ``application/json`` block for scripts and scrapers.
    """
    data = ""
    if data_json is not None:
        data = f'<script type="application/json" id="leaderboard-data">{data_json}</script>\n'
    doc = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{html.escape(_CSP, quote=True)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{html.escape(title, quote=True)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"{body}\n{data}<script>{SORT_JS}</script>\n</body>\n</html>\n"
    )
    return doc.encode("utf-8")
