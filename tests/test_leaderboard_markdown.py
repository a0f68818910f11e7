"""leaderboard.md renders correctly in a Markdown renderer (markdown-it-py, CommonMark + GFM tables).

Names and descriptions from records may hold any text. After rendering, every cell and heading must
show exactly that text: no HTML entity in the file, no pipe that splits a cell, no emphasis, code
span, link or HTML tag opened by a name.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from refocus_bench.leaderboards import build_site
from refocus_bench.leaderboards.markdown import md_block, md_escape

from .test_leaderboard_support import make_record, write_results

HOSTILE = [
    "a|b",
    "*bold* and **strong**",
    "_under_score_",
    "`code` ``span``",
    "<script>alert(1)</script>",
    'GenRefocus\'s "K"',
    "x &amp; y &#x27;",
    "[link](javascript:alert(1))",
    "~~strike~~ $x$ \\back",
    "# not a heading",
]
DESCRIPTION = '- not a list | pipe <b>bold</b> *em* 1. GenRefocus\'s "LVCorr" &copy;'
BENCH = "bench|*x*_<i>"


class _Cells(HTMLParser):
    """Collects the text of every table cell, heading and paragraph, and every tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.cells: list[str] = []
        self.headings: list[str] = []
        self.paragraphs: list[str] = []
        self._buf: list[str] | None = None
        self._kind = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in ("td", "th", "h2", "p"):
            self._buf, self._kind = [], tag

    def handle_endtag(self, tag):
        if self._buf is not None and tag == self._kind:
            text = "".join(self._buf)
            {"td": self.cells, "th": self.cells, "h2": self.headings, "p": self.paragraphs}[tag].append(text)
            self._buf = None

    def handle_data(self, data):
        if self._buf is not None:
            self._buf.append(data)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    from markdown_it import MarkdownIt

    tmp = tmp_path_factory.mktemp("md")
    records = {}
    for i, name in enumerate(HOSTILE):
        rec = make_record(name, 0.01 * i, bench=BENCH)
        rec["benchmark"]["definition"]["description"] = DESCRIPTION
        from refocus_bench.results import finalize_record

        records[f"b/m{i}.json"] = finalize_record({k: v for k, v in rec.items() if k not in ("schema", "digest")})
    site = build_site(write_results(tmp / "results", records), tmp / "site")
    md = (site.site_dir / "leaderboard.md").read_text(encoding="utf-8")
    html = MarkdownIt("commonmark").enable("table").enable("strikethrough").render(md)
    parser = _Cells()
    parser.feed(html)
    return md, html, parser


def test_no_html_entities_in_the_markdown(rendered):
    md, _, _ = rendered
    assert "&#" not in md.replace("&\\#", "") and "&lt;" not in md and "&quot;" not in md
    assert 'GenRefocus\'s "K"' in md  # quotes are kept as quotes


def test_every_name_renders_as_its_own_text(rendered):
    _, _, p = rendered
    for name in HOSTILE:
        assert p.cells.count(name) >= 2, (name, [c for c in p.cells if c.startswith(name[:2])])  # main + subset tables
    assert f"{BENCH} (v1)" in p.headings


def test_nothing_from_a_name_becomes_markup(rendered):
    _, html, p = rendered
    assert "script" not in p.tags and "i" not in p.tags and "b" not in p.tags
    assert "em" not in p.tags and "del" not in p.tags and "h1" in p.tags
    assert p.tags.count("code") == 2  # the intro's `refocus-bench leaderboard build` and `leaderboard.json`
    assert "a" not in p.tags  # no link at all: the names' [link](javascript:...) stayed text
    assert "javascript:" not in html.replace("[link](javascript:alert(1))", "")
    assert p.tags.count("strong") == 1  # the one bold headline metric of the single benchmark


def test_description_is_one_paragraph_of_its_own_text(rendered):
    _, _, p = rendered
    assert DESCRIPTION in p.paragraphs
    assert "ul" not in p.tags and "ol" not in p.tags or "Failed samples" in " ".join(p.paragraphs)


def test_table_rows_keep_their_column_count(rendered):
    md, _, _ = rendered
    table = [line for line in md.splitlines() if line.startswith("| ")]
    header_cells = table[0].count(" | ")
    for line in table[: len(HOSTILE) + 1]:  # the header and one row per model
        unescaped = line.replace("\\|", "")
        assert unescaped.count(" | ") == header_cells, line


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a|b", "a\\|b"),
        ("<script>", "\\<script\\>"),
        ('it\'s "q"', 'it\'s "q"'),
        ("&amp;", "\\&amp;"),
        ("two\n lines", "two lines"),
    ],
)
def test_md_escape_examples(text, expected):
    assert md_escape(text) == expected


def test_md_block_keeps_block_starts_as_text():
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark")
    for text in ("- item", "+ item", "1. first", "2) second", "> quote", "---", "=== x", "# h"):
        out = md.render(md_block(text))
        assert out.startswith("<p>") and out.count("<") == 2, (text, out)
