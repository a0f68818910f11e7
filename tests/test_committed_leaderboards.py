"""The committed leaderboards (leaderboards/) are a pure function of the committed results records."""

from __future__ import annotations

from pathlib import Path

from refocus_bench.leaderboards import build_site
from refocus_bench.results import read_record

ROOT = Path(__file__).resolve().parents[1] / "leaderboards"


def test_committed_records_are_valid_and_cover_every_builtin_benchmark():
    from refocus_bench.benchmarks.builtin import BUILTIN_BENCHMARKS

    records = [read_record(p) for p in sorted((ROOT / "results").rglob("*.json"))]
    assert {r["benchmark"]["name"] for r in records} == set(BUILTIN_BENCHMARKS)
    assert all(r["status"] == "complete" for r in records)
    assert {"genrefocus.tiny", "identity"} <= {r["model"]["name"] for r in records}


def test_rebuilding_from_the_committed_records_reproduces_the_tables(tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # example images are not committed with the records
        site = build_site([ROOT / "results"], tmp_path / "site", published_dirs=[ROOT / "published"])
    for name in ("leaderboard.md", "leaderboard.json"):
        assert (site.site_dir / name).read_bytes() == (ROOT / "site" / name).read_bytes(), name
