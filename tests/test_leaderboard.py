"""Leaderboard build: determinism, escaping, ranking, bootstrap CIs, strict loading, safe example paths."""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from pathlib import Path

import pytest

from refocus_bench.cli import main as cli_main
from refocus_bench.leaderboards import (
    LeaderboardError,
    LeaderboardWarning,
    bootstrap_ci,
    build_site,
    build_tables,
    headline_table,
    load_results,
    mean_ci,
)
from refocus_bench.leaderboards.markdown import md_escape
from refocus_bench.leaderboards.site import SITE_MARKER

from .test_leaderboard_support import XSS, make_record, standard_results, tiny_png, write_results


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The standard results built twice: from the folder and from a copy elsewhere (same bytes expected)."""
    base = tmp_path_factory.mktemp("lb")
    results = standard_results(base / "results")
    with warnings.catch_warnings():
        warnings.simplefilter("error", LeaderboardWarning)  # the fixture is clean: no warning expected
        first = build_site(results, base / "site1")
    copy = base / "elsewhere" / "results"
    shutil.copytree(results, copy)
    second = build_site([copy], base / "site2")
    return first, second, results


def test_rebuild_is_byte_identical(built, tmp_path):
    first, second, results = built
    a, b = _tree(first.site_dir), _tree(second.site_dir)
    assert sorted(a) == sorted(b) == sorted(first.files)
    for name in a:
        assert a[name] == b[name], f"{name} differs between two builds of the same results"
    # rebuilding over an existing site replaces it with the same bytes and leaves no temporary folder behind
    site = tmp_path / "site"
    build_site(results, site)
    (site / "stale.txt").write_text("from an older build")
    build_site(results, site)
    assert _tree(site) == a
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]
    # a site inside the results folder is not mistaken for results on the next build
    inner = build_site(results, results / "site")
    assert _tree(build_site(results, results / "site").site_dir) == _tree(inner.site_dir) == a


def test_site_layout_and_generated_names(built):
    first, _, _ = built
    files = first.files
    for must in ("index.html", "leaderboard.md", "leaderboard.json", "leaderboard.parquet", SITE_MARKER):
        assert must in files
    pages = [f for f in files if f.startswith("benchmarks/")]
    assert sorted(pages) == ["benchmarks/synthetic-bokeh.html", "benchmarks/synthetic-deblur.html"]  # readable slugs
    imgs = [f for f in files if f.startswith("assets/img/")]
    assert imgs and all(re.fullmatch(r"assets/img/[0-9a-f]{24}\.png", f) for f in imgs)
    plots = [f for f in files if f.startswith("assets/plots/")]
    # deblur: runtime + aperture + blur; bokeh: the same + LVCorr
    assert len(plots) == 7 and all(f.endswith(".svg") for f in plots)
    svg = (first.site_dir / plots[0]).read_text()
    assert "<dc:date>" not in svg and "Matplotlib v" not in svg  # no date or creator metadata
    assert not [f for f in files if f.startswith("assets/") and not f.startswith(("assets/img/", "assets/plots/"))]


def test_model_name_is_escaped_in_every_output(built):
    first, _, _ = built
    site = first.site_dir
    for name, data in _tree(site).items():
        if name.endswith(".parquet"):
            continue  # data, not markup: checked verbatim below
        assert b"<script>alert" not in data, f"raw model name in {name}"
        assert b"alert(1)</script" not in data, f"raw model name in {name}"
    index = (site / "index.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index
    page = next((site / "benchmarks").iterdir()).read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert len(re.findall(r"<script[ >]", page)) == 2  # the inert JSON block and the sorter, nothing else
    assert "\\<script\\>alert(1)\\</script\\>" in (site / "leaderboard.md").read_text()  # Markdown escapes
    data = json.loads((site / "leaderboard.json").read_text())  # \u003c escapes decode to the exact name
    assert XSS in {r["model"] for t in data["benchmarks"] for r in t["rows"]}
    embedded = re.search(r'<script type="application/json" id="leaderboard-data">(.*?)</script>', page, re.S)
    assert XSS in {r["model"] for r in json.loads(embedded.group(1))["rows"]}


def test_parquet_loads_with_datasets_features(built):
    import datasets

    first, _, _ = built
    ds = datasets.Dataset.from_parquet(str(first.site_dir / "leaderboard.parquet"))
    assert ds.features["score"] == datasets.Value("float64")
    assert ds.features["rank"] == datasets.Value("int32")
    assert ds.features["higher_is_better"] == datasets.Value("bool")
    # 3 models x 6 samples x (2 metrics on synthetic-deblur + 3 on synthetic-bokeh)
    assert len(ds) == 3 * 6 * 5
    assert XSS in set(ds["model"])  # names are stored verbatim in the data table
    row = next(
        r
        for r in ds
        if r["model"] == "identity"
        and r["benchmark"] == "synthetic-deblur"
        and r["metric"] == "lpips.alex"
        and r["sample_id"] == "s002"
    )
    assert row["score"] == pytest.approx(0.17) and row["is_headline"] and row["rank"] == 2
    assert json.loads(row["subset"]) == {"aperture": "disk", "blur": "4"}


def test_ranking_follows_metric_direction(built):
    first, _, _ = built
    tables = {t.name: t for t in first.tables}
    deblur, bokeh = tables["synthetic-deblur"], tables["synthetic-bokeh"]
    assert not deblur.higher_is_better and bokeh.higher_is_better
    # lpips (lower is better) grows with the model index; psnr (higher is better) shrinks with 2 - index
    assert [r.model for r in deblur.rows] == ["deblur.wiener", "identity", XSS]
    assert [r.model for r in bokeh.rows] == [XSS, "identity", "deblur.wiener"]
    assert [r.rank for r in deblur.rows] == [1, 2, 3]
    text = headline_table(first.tables)
    assert "lower is better" in text and "higher is better" in text


def test_ties_share_a_rank_and_failed_rows_come_last(tmp_path):
    recs = {"b/a.json": make_record("a", 0.1), "b/b.json": make_record("b", 0.1), "b/c.json": make_record("c", 0.0)}
    tables = build_tables(load_results(write_results(tmp_path / "r", recs)))
    assert [(r.model, r.rank) for r in tables[0].rows] == [("c", 1), ("a", 2), ("b", 2)]


def test_a_model_that_failed_on_some_samples_is_not_ranked(tmp_path):
    from refocus_bench.results import finalize_record

    # "d" would be best on the samples it managed, but it failed on two of six: listed after the ranked rows
    partial = make_record("d", -0.09)
    for s in partial["samples"][:2]:
        s["scores"] = {"lpips.alex": None, "psnr": None}
        s["error"] = "model failed: InvalidInputError: disk apertures only"
    partial = finalize_record(partial)
    recs = {"b/a.json": make_record("a", 0.0), "b/c.json": make_record("c", 0.05), "b/d.json": partial}
    tables = build_tables(load_results(write_results(tmp_path / "r", recs)))
    assert [(r.model, r.rank, r.headline.n) for r in tables[0].rows] == [("a", 1, 6), ("c", 2, 6), ("d", None, 4)]
    assert "4/6" in headline_table(tables)


def test_runtime_and_subsets_in_rows(built):
    first, _, _ = built
    row = next(r for t in first.tables if t.name == "synthetic-deblur" for r in t.rows if r.model == "identity")
    assert row.runtime_s == pytest.approx(0.08 * 1.25)
    assert row.subsets["aperture"]["disk"] == {"mean": pytest.approx(0.17), "n": 3}
    assert set(row.subsets["blur"]) == {"1", "2", "4"}
    assert row.provenance["benchmark"]["content_hash"] == "ab" * 32
    assert row.provenance["model"]["weights_sha256"] == "2" * 64
    assert row.provenance["toolkit"]["version"] == "0.1.0"


def test_bootstrap_ci_contains_mean_and_is_deterministic():
    import numpy as np

    vals = np.random.default_rng(3).normal(0.3, 0.1, size=40).tolist()
    ci = mean_ci(vals)
    assert ci.low <= ci.mean <= ci.high and ci.n == 40
    assert mean_ci(vals) == ci  # same seed, same interval
    assert bootstrap_ci(vals, seed=1) != (ci.low, ci.high)
    wide = bootstrap_ci(vals, confidence=0.99)
    assert wide[0] <= ci.low and wide[1] >= ci.high
    assert bootstrap_ci([0.5]) == (0.5, 0.5)
    assert mean_ci([None, None]).mean is None
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(vals, confidence=1.5)


def _expect_error(results_dirs, site: Path, *patterns: str) -> None:
    with pytest.raises(LeaderboardError) as info:
        build_site(results_dirs, site)
    for p in patterns:
        assert re.search(p, str(info.value)), f"{p!r} not in {info.value}"
    assert not site.exists(), "no site folder may be created by a failed build"
    assert not [p for p in site.parent.iterdir() if p.name.startswith(f".{site.name}.")]


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    _expect_error(tmp_path / "empty", tmp_path / "site", "holds no results records", "empty")


def test_corrupt_file_is_an_error(tmp_path):
    root = write_results(tmp_path / "r", {"b/good.json": make_record("good", 0.0)})
    (root / "b" / "broken.json").write_text('{"schema": ')
    _expect_error(root, tmp_path / "site", "corrupt", "broken.json", "not valid JSON")
    edited = json.loads((root / "b" / "good.json").read_text())
    edited["samples"][0]["scores"]["psnr"] = 99.0
    (root / "b" / "broken.json").write_text(json.dumps(edited))
    _expect_error(root, tmp_path / "site", "broken.json", "summary")


def test_mixed_versions_are_an_error(tmp_path):
    a = write_results(tmp_path / "a", {"b/m.json": make_record("m", 0.0, version="1")})
    b = write_results(tmp_path / "b", {"b/n.json": make_record("n", 0.0, version="2")})
    _expect_error([a, b], tmp_path / "site", "different versions", "m.json", "n.json")


def test_conflicting_duplicates_are_an_error_identical_ones_merge(tmp_path):
    a = write_results(tmp_path / "a", {"b/m.json": make_record("m", 0.0)})
    b = write_results(tmp_path / "b", {"b/m.json": make_record("m", 0.01)})
    _expect_error([a, b], tmp_path / "site", "different numbers", str(a / "b" / "m.json"), str(b / "b" / "m.json"))
    c = write_results(tmp_path / "c", {"b/m.json": make_record("m", 0.0, runtime=9.0)})  # same scores, other run
    with pytest.warns(LeaderboardWarning, match="repeats the numbers"):
        entries = load_results([a, c])
    assert len(entries) == 1


def test_partial_records_are_skipped_with_a_warning(tmp_path):
    root = write_results(
        tmp_path / "r",
        {"b/full.json": make_record("full", 0.0), "b/part.json": make_record("part", 0.0, status="partial")},
    )
    with pytest.warns(LeaderboardWarning, match="part.json.*partial"):
        entries = load_results(root)
    assert [e.record["model"]["name"] for e in entries] == ["full"]


def test_missing_folder_and_cli_error(tmp_path, capsys):
    code = cli_main(["leaderboard", "build", str(tmp_path / "nope"), "-o", str(tmp_path / "site")])
    assert code == 2 and "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "site").exists()


def test_failed_build_keeps_previous_site_and_foreign_folders(tmp_path):
    good = write_results(tmp_path / "good", {"b/m.json": make_record("m", 0.0)})
    site = tmp_path / "site"
    build_site(good, site)
    before = _tree(site)
    (tmp_path / "bad").mkdir()
    with pytest.raises(LeaderboardError):
        build_site(tmp_path / "bad", site)
    assert _tree(site) == before
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(LeaderboardError, match="refusing to replace"):
        build_site(good, foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_unsafe_example_paths_are_skipped(tmp_path):
    outside = tmp_path / "outside.png"
    outside.write_bytes(tiny_png((1, 2, 3)))
    root = tmp_path / "r"
    (root / "ex").mkdir(parents=True)
    os.symlink(outside, root / "ex" / "link.png")
    (root / "ex" / "fake.png").write_bytes(b"GIF89a not a png")
    (root / "ex" / "ok.jpg").write_bytes(tiny_png((1, 2, 3)))
    (root / "ex" / "good.png").write_bytes(tiny_png((9, 9, 9)))
    examples = {
        "s000": "../outside.png",
        "s001": str(outside),
        "s002": "ex/link.png",
        "s003": "ex/fake.png",
        "s004": "ex/ok.jpg",
        "s005": "ex/good.png",
    }
    write_results(root, {"b/m.json": make_record("m", 0.0, examples=examples)})
    with pytest.warns(LeaderboardWarning) as caught:
        result = build_site(root, tmp_path / "site", max_examples=10)
    text = "\n".join(str(w.message) for w in caught)
    assert text.count("outside the results folder") == 3 and "bad signature" in text and "not a .png" in text
    imgs = [f for f in result.files if f.startswith("assets/img/")]
    assert len(imgs) == 1 and (result.site_dir / imgs[0]).read_bytes() == tiny_png((9, 9, 9))
    assert not any("outside" in f or "link" in f or "good" in f for f in result.files)


def test_markdown_escape():
    assert md_escape("a|b") == "a\\|b"
    assert md_escape("<b>x</b>") == "\\<b\\>x\\</b\\>"
    assert md_escape('GenRefocus\'s "K"') == 'GenRefocus\'s "K"'  # quotes stay quotes, no &#x27;
    assert md_escape("[x](javascript:y)") == "\\[x\\](javascript:y)"
    assert md_escape("line\nbreak") == "line break"
