"""Published rows (``leaderboards/published/``): the schema, the committed tables, and how they are shown.

Every committed table must validate, cite its paper (arXiv id, links) and carry the protocol; its
numbers are kept as printed. On the site and in the Markdown they are "reported" rows, apart from the
reproduced ones, and beside a reproduced row of the same model, benchmark data and metric.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import pytest

from refocus_bench.leaderboards import LeaderboardError, build_site
from refocus_bench.leaderboards.published import PUBLISHED_SCHEMA, load_published, parse_published

from .test_leaderboard_support import published_table, standard_results, write_published

PUBLISHED = Path(__file__).resolve().parents[1] / "leaderboards" / "published"
ROW_FIELDS = {"method", "metric", "value", "printed", "paper", "table", "arxiv", "paper_url", "table_url", "protocol"}


def test_committed_tables_validate_and_cite_their_source():
    tables = load_published(PUBLISHED)
    assert tables, "leaderboards/published/ holds no table"
    from refocus_bench.benchmarks import list_benchmarks
    from refocus_bench.metrics import list_metrics
    from refocus_bench.models import list_models

    for t in tables:
        raw = json.loads((PUBLISHED / f"{t.source_id}.json").read_text(encoding="utf-8"))
        assert raw["schema"] == PUBLISHED_SCHEMA
        assert re.fullmatch(r"\d{4}\.\d{4,5}", t.arxiv) and t.arxiv in t.paper_url
        assert t.table_url.startswith(f"https://arxiv.org/html/{t.arxiv}") or t.table_url.startswith("https://")
        assert t.licence and t.protocol and t.transcribed_from
        assert set(t.benchmark_ids) <= set(list_benchmarks())
        for r in t.rows:
            d = r.as_dict()
            assert ROW_FIELDS <= set(d) and all(d[k] not in (None, "") for k in ROW_FIELDS), d
            assert r.printed == raw["rows"][t.rows.index(r)]["value"]  # stored as printed
            assert r.model is None or r.model in list_models()
            assert r.metric_id is None or r.metric_id in list_metrics()
        if t.checked:  # read from the paper itself: say which arXiv version, and link that version
            assert t.arxiv_version, f"{t.source_id}: checked_against_paper needs table.arxiv_version"
        if t.arxiv_version and t.table_url.startswith("https://arxiv.org/html/"):
            assert t.table_url.split("#")[0].endswith(f"{t.arxiv}{t.arxiv_version}"), t.table_url


def test_genrefocus_lf_bokeh_lvcorr_as_quoted_in_the_issues():
    (t,) = [t for t in load_published(PUBLISHED) if t.arxiv == "2512.16923" and t.benchmark == "LF-Bokeh"]
    got = {(r.method, r.metric): r.printed for r in t.rows}
    assert got == {
        ("BokehMe", "LVCorr"): "0.9940",
        ("GenRefocus", "LVCorr"): "0.9368",
        ("BokehDiff", "LVCorr"): "0.8976",
        ("DiffCamera", "LVCorr"): "0.5632",
    }
    assert all(r.higher_is_better for r in t.rows)
    assert t.checked is False  # quoted from the issues, not read from the paper: said so on the site


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d.pop("protocol"), "missing field"),
        (lambda d: d["paper"].update(arxiv="2501.1"), "paper.arxiv"),
        (lambda d: d["paper"].update(url="http://arxiv.org/abs/2501.00001"), "paper.url"),
        (lambda d: d["table"].update(url="javascript:alert(1)"), "table.url"),
        (lambda d: d["rows"][0].update(value=0.125), "rows[0].value"),
        (lambda d: d["rows"][0].update(value="1e-3"), "rows[0].value"),
        (lambda d: d["rows"][0].update(metric="SSIM"), "not declared"),
        (lambda d: d["rows"].append(dict(d["rows"][0])), "appears twice"),
        (lambda d: d["metrics"]["LPIPS"].pop("higher_is_better"), "higher_is_better"),
        (lambda d: d["transcription"].update(checked_against_paper="yes"), "checked_against_paper"),
        (lambda d: d["benchmark"].update(ids=["Not A Name"]), "benchmark.ids"),
        (lambda d: d["table"].update(arxiv_version="3"), "table.arxiv_version"),
        (lambda d: d["table"].update(arxiv_version="v0"), "table.arxiv_version"),
        (lambda d: d.update(schema="refocus-bench.published/0"), "schema"),
        (lambda d: d.update(rows=[]), "rows"),
    ],
)
def test_schema_violations_name_the_file_and_field(mutate, field):
    data = published_table()
    parse_published(copy.deepcopy(data), "ok")  # the fixture itself is valid
    mutate(data)
    with pytest.raises(LeaderboardError, match=re.escape(field)) as info:
        parse_published(data, "broken-table")
    assert "'broken-table'" in str(info.value)


def test_arxiv_version_is_optional_and_shown_in_the_citation():
    old = parse_published(published_table(), "no-version")  # tables written before the field stay valid
    assert old.arxiv_version is None and old.cite == "TestPaper (arXiv 2501.00001), Table 2"
    data = published_table()
    data["table"]["arxiv_version"] = "v2"
    t = parse_published(data, "with-version")
    assert t.arxiv_version == "v2" and t.cite == "TestPaper (arXiv 2501.00001v2), Table 2"
    assert {r.as_dict()["arxiv_version"] for r in t.rows} == {"v2"}


def test_unreadable_file_or_missing_folder_is_an_error(tmp_path):
    with pytest.raises(LeaderboardError, match="does not exist"):
        load_published(tmp_path / "nope")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(LeaderboardError, match="bad.json.*not readable JSON"):
        load_published(tmp_path)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pub")
    results = standard_results(tmp / "results")
    pub = write_published(tmp / "published", {"test-paper-table2": published_table()})
    return build_site(results, tmp / "site", published_dirs=[pub, PUBLISHED])


def test_reported_rows_sit_beside_the_reproduced_row(site):
    deblur = next(t for t in site.tables if t.name == "synthetic-deblur")
    wiener = next(r for r in deblur.rows if r.model == "deblur.wiener")
    data = json.loads((site.site_dir / "leaderboard.json").read_text())
    reported = {(r["method"], r["metric"]): r for r in data["reported"]}
    lpips = reported[("Wiener", "LPIPS")]
    assert lpips["printed"] == "0.1250" and lpips["table"] == "Table 2" and lpips["arxiv"] == "2501.00001"
    assert lpips["reproduced"] == [
        {"benchmark": "synthetic-deblur", "row_id": wiener.row_id, "value": wiener.metrics["lpips.alex"], "n": 6}
    ]
    assert reported[("Wiener", "PSNR")]["reproduced"] == []  # the paper's PSNR is not mapped to a metric here
    assert reported[("NoCode-Net", "LPIPS")]["reproduced"] == []
    assert reported[("GenRefocus", "LVCorr")]["printed"] == "0.9368"

    page = (site.site_dir / "benchmarks" / "synthetic-deblur.html").read_text()
    section = page[page.index('<h2 id="reported">') :]
    assert 'class="reported"' in section and '<span class="badge">reported</span> Wiener' in section
    assert 'href="https://arxiv.org/html/2501.00001v1#S4.T2"' in section
    assert (
        f'href="../benchmarks/synthetic-deblur.html#row-{wiener.row_id}">{wiener.metrics["lpips.alex"]:.4g}</a>'
        in section
    )
    assert "LF-Bokeh" not in page  # only tables on this benchmark's data
    bokeh_page = (site.site_dir / "benchmarks" / "synthetic-bokeh.html").read_text()
    assert 'id="reported"' not in bokeh_page

    index = (site.site_dir / "index.html").read_text()
    assert index.index('<h2 id="reported">') > index.rindex("synthetic-deblur</a>")  # after the reproduced tables
    assert "LF-Bokeh" in index and "not yet checked against the paper" in index
    assert 'href="https://arxiv.org/abs/2512.16923"' in index


def test_markdown_shows_reported_rows_apart_with_their_source(site):
    md = (site.site_dir / "leaderboard.md").read_text()
    head, reported = md.split("## Reported in papers", 1)
    assert "0.9368" not in head and "TestPaper" not in head
    assert (
        "### Synthetic Deblur (paper) (reported): [TestPaper (arXiv 2501.00001), Table 2](https://arxiv.org/html/2501.00001v1#S4.T2)"
        in reported
    )
    wiener = next(r for t in site.tables if t.name == "synthetic-deblur" for r in t.rows if r.model == "deblur.wiener")
    assert f"| Wiener | LPIPS ↓ | 0.1250 | {wiener.metrics['lpips.alex']:.4g} (synthetic-deblur, n=6) |" in reported
    assert "| GenRefocus | LVCorr ↑ | 0.9368 | – |" in reported


def test_cli_reads_published_tables(tmp_path, capsys, monkeypatch):
    from refocus_bench.cli import main as cli_main

    results = standard_results(tmp_path / "results")
    pub = write_published(tmp_path / "pub", {"t": published_table()})
    assert cli_main(["leaderboard", "build", str(results), "-o", str(tmp_path / "site"), "--published", str(pub)]) == 0
    assert "reported rows: 3 from 1 published table(s)" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path)  # no leaderboards/published here: no reported rows by default
    assert cli_main(["leaderboard", "build", str(results), "-o", str(tmp_path / "site2")]) == 0
    assert "reported rows" not in capsys.readouterr().out
    code = cli_main(
        ["leaderboard", "build", str(results), "-o", str(tmp_path / "s3"), "--published", str(pub), "--no-published"]
    )
    assert code == 2
