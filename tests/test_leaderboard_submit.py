"""``leaderboard submit``: accepted records go to a hash-named store; tampered or incomplete ones are rejected."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from refocus_bench.cli import main as cli_main
from refocus_bench.leaderboards import SubmissionRejected, build_site, submit_record
from refocus_bench.leaderboards import submit as submit_mod
from refocus_bench.results import finalize_record, write_record

from .test_leaderboard_support import BENCH_HASH, make_record


def lookup(name: str, version: str) -> str:
    """Stands in for the registered benchmarks (the built-in ones are not needed by these tests)."""
    if name != "synthetic-deblur":
        raise SubmissionRejected(f"benchmark {name!r} is not registered here")
    if version != "1":
        raise SubmissionRejected(f"benchmark {name!r}: registered version is '1', the record has {version!r}")
    return BENCH_HASH


@pytest.fixture
def use_lookup(monkeypatch):
    monkeypatch.setattr(submit_mod, "registered_content_hash", lookup)


def _write(tmp_path: Path, rec: dict, name: str = "r.json") -> Path:
    return write_record(tmp_path / "in" / name, rec)


def test_accepted_record_is_stored_under_a_hash_name(tmp_path):
    rec = make_record("deblur.wiener", 0.0, examples={"s000": "../../evil.png"})
    sub = submit_record(_write(tmp_path, rec), tmp_path / "store", hash_lookup=lookup)
    assert sub.added and re.fullmatch(r"[0-9a-f]{32}\.json", sub.path.name)
    assert sub.path.parent == tmp_path / "store"
    assert json.loads(sub.path.read_text()) == rec
    again = submit_record(
        _write(
            tmp_path, make_record("deblur.wiener", 0.0, runtime=3.0, examples={"s000": "../../evil.png"}), "again.json"
        ),
        tmp_path / "store",
        hash_lookup=lookup,
    )
    assert not again.added and again.path == sub.path
    # the store is a RESULTS_DIR: the leaderboard builds from it (the bad example path is skipped)
    with pytest.warns(UserWarning, match="outside the results folder"):
        result = build_site(tmp_path / "store", tmp_path / "site")
    assert [r.model for r in result.tables[0].rows] == ["deblur.wiener"]


def _reason(tmp_path: Path, path: Path, **kw) -> str:
    with pytest.raises(SubmissionRejected) as info:
        submit_record(path, tmp_path / "store", hash_lookup=lookup, **kw)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "store").exists() or not list((tmp_path / "store").iterdir())
    return str(info.value)


def test_changed_score_is_rejected(tmp_path):
    path = _write(tmp_path, make_record("m", 0.0))
    data = json.loads(path.read_text())
    data["samples"][0]["scores"]["lpips.alex"] = 0.0001
    path.write_text(json.dumps(data))
    assert "summary" in _reason(tmp_path, path)
    data["summary"]["lpips.alex"]["mean"] = sum(s["scores"]["lpips.alex"] for s in data["samples"]) / 6
    path.write_text(json.dumps(data))
    assert "digest" in _reason(tmp_path, path)


def test_wrong_benchmark_hash_is_rejected(tmp_path):
    path = _write(tmp_path, make_record("m", 0.0, content_hash="cd" * 32))
    assert re.search(r"content hash cdcdcdcd.*does not match the registered benchmark", _reason(tmp_path, path))


def test_other_version_or_unknown_benchmark_is_rejected(tmp_path):
    assert "version" in _reason(tmp_path, _write(tmp_path, make_record("m", 0.0, version="2")))
    assert "not registered" in _reason(tmp_path, _write(tmp_path, make_record("m", 0.0, bench="elsewhere")))


def test_default_lookup_rejects_an_unregistered_benchmark(tmp_path):
    path = _write(tmp_path, make_record("m", 0.0, bench="no-such-benchmark-xyz"))
    with pytest.raises(SubmissionRejected, match="not registered"):
        submit_record(path, tmp_path / "store")


def test_missing_samples_are_rejected(tmp_path):
    assert "incomplete: status is 'partial' (5 of 6 samples)" in _reason(
        tmp_path, _write(tmp_path, make_record("m", 0.0, status="partial"))
    )
    rec = make_record("m", 0.0)
    rec["samples"][2]["scores"]["psnr"] = None
    rec["samples"][2]["error"] = "RuntimeError: out of memory"
    rec = finalize_record({k: v for k, v in rec.items() if k not in ("schema",)})
    assert "incomplete: 1 sample(s) have no score or an error (s002)" in _reason(tmp_path, _write(tmp_path, rec))


def test_missing_provenance_or_inconsistent_definition_is_rejected(tmp_path):
    rec = make_record("m", 0.0)
    rec["environment"] = {}
    rec = finalize_record({k: v for k, v in rec.items() if k != "schema"})
    assert "environment" in _reason(tmp_path, _write(tmp_path, rec))
    rec = make_record("m", 0.0)
    rec["benchmark"]["definition"]["headline_metric"] = "psnr"
    rec = finalize_record({k: v for k, v in rec.items() if k != "schema"})
    assert "inconsistent: benchmark.headline_metric" in _reason(tmp_path, _write(tmp_path, rec))


def test_different_numbers_for_a_stored_key_are_rejected(tmp_path):
    submit_record(_write(tmp_path, make_record("m", 0.0)), tmp_path / "store", hash_lookup=lookup)
    with pytest.raises(SubmissionRejected, match="inconsistent: the store already holds different numbers"):
        submit_record(_write(tmp_path, make_record("m", 0.01), "b.json"), tmp_path / "store", hash_lookup=lookup)


def test_cli_submit(tmp_path, capsys, use_lookup):
    good = _write(tmp_path, make_record("deblur.wiener", 0.0))
    assert cli_main(["leaderboard", "submit", str(good), "--store", str(tmp_path / "store")]) == 0
    assert capsys.readouterr().out.startswith("accepted: synthetic-deblur v1 / deblur.wiener")
    bad = _write(tmp_path, make_record("other", 0.0, content_hash="cd" * 32), "bad.json")
    assert cli_main(["leaderboard", "submit", str(bad), "--store", str(tmp_path / "store")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("refocus-bench leaderboard submit: rejected: benchmark")
    assert len(list((tmp_path / "store").iterdir())) == 1


def test_cli_build_prints_table_and_site(tmp_path, capsys):
    from .test_leaderboard_support import write_results

    root = write_results(tmp_path / "r", {"b/m.json": make_record("m", 0.0), "b/n.json": make_record("n", 0.1)})
    assert cli_main(["leaderboard", "build", str(root), "-o", str(tmp_path / "site")]) == 0
    out = capsys.readouterr().out
    assert "synthetic-deblur v1" in out and "lpips.alex" in out and "95% CI" in out
    body = out.split("\n", 2)[2]  # below the title and the header row (which has an "n" column)
    assert body.index(" m ") < body.index(" n ")
    assert out.strip().endswith(f"site: {(tmp_path / 'site' / 'index.html').resolve()}")


def test_dataset_benchmark_needing_root_is_rejected_with_a_reason():
    from refocus_bench.leaderboards.submit import SubmissionRejected, registered_content_hash

    with pytest.raises(SubmissionRejected, match="dpdd-test.*cannot be checked here.*root"):
        registered_content_hash("dpdd-test", "1")
