"""The results record schema: finalize, validate, tamper detection, atomic write."""

from __future__ import annotations

import copy
import json

import pytest

from refocus_bench.errors import MissingFileError
from refocus_bench.results import (
    SCHEMA,
    InvalidResultError,
    finalize_record,
    read_record,
    record_digest,
    summarize,
    validate_record,
    write_record,
)


def _draft(n: int = 3, status: str = "complete") -> dict:
    return {
        "status": status,
        "toolkit": {"name": "refocus-bench", "version": "0.1.0", "git_commit": None},
        "model": {"name": "identity", "weights_sha256": None, "config": {}, "tasks": ["deblur"]},
        "benchmark": {
            "name": "synthetic-deblur",
            "version": "1",
            "content_hash": "ab" * 32,
            "task": "deblur",
            "headline_metric": "lpips.alex",
            "num_samples": n,
            "definition": {},
        },
        "metrics": [
            {"name": "lpips.alex", "higher_is_better": False, "version": "1", "definition": {}},
            {"name": "psnr", "higher_is_better": True, "version": "1", "definition": {}},
        ],
        "seeds": {"benchmark": 0},
        "environment": {"device": "cpu"},
        "started": "2026-11-25T00:00:00Z",
        "wall_time_s": 1.0,
        "samples": [
            {
                "id": f"{i:04d}",
                "subset": {"aperture": "disk"},
                "scores": {"lpips.alex": 0.1 * (i + 1), "psnr": 30.0 + i},
                "runtime_s": 0.01,
                "error": None,
            }
            for i in range(n)
        ],
    }


def test_finalize_fills_summary_and_digest():
    rec = finalize_record(_draft())
    assert rec["schema"] == SCHEMA
    assert rec["summary"]["lpips.alex"]["n"] == 3
    assert rec["summary"]["lpips.alex"]["mean"] == pytest.approx(0.2)
    assert rec["summary"]["psnr"]["mean"] == pytest.approx(31.0)
    assert rec["digest"] == record_digest(rec)


def test_summary_skips_failed_samples():
    s = [{"scores": {"m": 1.0}}, {"scores": {"m": None}}, {"scores": {"m": 3.0}}]
    assert summarize(s, ["m"]) == {"m": {"mean": 2.0, "n": 2}}
    assert summarize([], ["m"]) == {"m": {"mean": None, "n": 0}}


@pytest.mark.parametrize(
    "edit,field",
    [
        (lambda r: r["samples"][0]["scores"].__setitem__("psnr", 99.0), "summary"),
        (lambda r: r["samples"].pop(), "samples"),
        (lambda r: r["benchmark"].__setitem__("content_hash", "zz"), "content_hash"),
        (lambda r: r.__setitem__("schema", "other/1"), "schema"),
        (lambda r: r["samples"][1].__setitem__("id", "0000"), "duplicate sample id"),
        (lambda r: r["samples"][0]["scores"].pop("psnr"), "scores"),
        (lambda r: r["samples"][0]["scores"].__setitem__("psnr", None), "error"),
        (lambda r: r["benchmark"].__setitem__("headline_metric", "ssim"), "headline_metric"),
        (lambda r: r["model"].__setitem__("name", ""), "model.name"),
    ],
)
def test_tampered_or_broken_records_are_rejected(edit, field):
    rec = finalize_record(_draft())
    bad = copy.deepcopy(rec)
    edit(bad)
    with pytest.raises(InvalidResultError, match=field):
        validate_record(bad)


def test_consistent_edit_is_caught_by_digest():
    rec = finalize_record(_draft())
    bad = copy.deepcopy(rec)
    bad["samples"][0]["scores"]["psnr"] = 60.0
    bad["summary"] = summarize(bad["samples"], ["lpips.alex", "psnr"])
    with pytest.raises(InvalidResultError, match="digest"):
        validate_record(bad)


def test_partial_record_with_a_failed_sample_is_valid():
    d = _draft(4, status="partial")
    d["samples"][2]["scores"] = {"lpips.alex": None, "psnr": None}
    d["samples"][2]["error"] = "RuntimeError: out of memory"
    d["samples"].pop()
    rec = finalize_record(d)
    assert rec["summary"]["psnr"]["n"] == 2


def test_write_read_roundtrip_and_errors(tmp_path):
    rec = finalize_record(_draft())
    p = write_record(tmp_path / "r.json", rec)
    assert read_record(p) == rec
    assert [x.name for x in tmp_path.iterdir()] == ["r.json"]  # no temporary left behind
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(InvalidResultError, match="bad.json.*not valid JSON"):
        read_record(tmp_path / "bad.json")
    with pytest.raises(MissingFileError, match="nope.json"):
        read_record(tmp_path / "nope.json")
    bad = json.loads(p.read_text())
    bad["wall_time_s"] = 2.0
    (tmp_path / "edited.json").write_text(json.dumps(bad))
    with pytest.raises(InvalidResultError, match="edited.json.digest"):
        read_record(tmp_path / "edited.json")
