"""Leaderboards: a pure function of results records (``refocus_bench.results``).

Python API::

    from refocus_bench.leaderboards import build_site, load_results, build_tables, headline_table
    result = build_site(["results/"], "site/")        # HTML + Markdown + JSON + Parquet + plots
    print(headline_table(result.tables))
    submit_record("results/synthetic-deblur/deblur.wiener.json", "leaderboards/store")

Modules: ``load`` (read and cross-check records), ``compare`` (the per-metric float tolerance between two
records), ``published`` (rows reported in papers, ``leaderboards/published/*.json``), ``stats`` (bootstrap
CIs), ``tables`` (ranking, page slugs, subset order),
``examples`` (safe example images), ``plots`` (SVG), ``markdown``, ``export`` (JSON, Parquet),
``html_pages`` + ``web_assets`` (static site), ``site`` (atomic build), ``submit`` (store intake),
``cli`` (``refocus-bench leaderboard build|submit``). Names resolve lazily so that importing the
package stays cheap.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "LeaderboardError": "load",
    "LeaderboardWarning": "load",
    "ResultEntry": "load",
    "load_results": "load",
    "scores_agree": "compare",
    "numbers_differ": "compare",
    "DEFAULT_TOLERANCE": "compare",
    "PublishedTable": "published",
    "PublishedRow": "published",
    "load_published": "published",
    "bootstrap_ci": "stats",
    "mean_ci": "stats",
    "MeanCI": "stats",
    "BenchmarkTable": "tables",
    "Row": "tables",
    "build_tables": "tables",
    "headline_table": "tables",
    "render_markdown": "markdown",
    "leaderboard_dict": "export",
    "parquet_bytes": "export",
    "build_site": "site",
    "render_site": "site",
    "SiteResult": "site",
    "SubmissionRejected": "submit",
    "Submission": "submit",
    "check_submission": "submit",
    "submit_record": "submit",
    "registered_content_hash": "submit",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
