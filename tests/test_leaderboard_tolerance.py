"""Records compare with a per-metric float tolerance: a rerun on another machine is the same result.

The committed baselines rerun elsewhere differ by about 1.2e-7 in LPIPS/DISTS; `leaderboard build`
must put such a rerun next to the committed record, and `leaderboard submit` must take it as already
stored. A difference beyond float noise is still a different result and is refused by both.
"""

from __future__ import annotations

import copy

import pytest

from refocus_bench.leaderboards import LeaderboardError, LeaderboardWarning, build_site, load_results, submit_record
from refocus_bench.leaderboards.compare import DEFAULT_TOLERANCE, numbers_differ, scores_agree, tolerance_for
from refocus_bench.leaderboards.submit import SubmissionRejected
from refocus_bench.results import finalize_record

from .test_leaderboard_submit import lookup
from .test_leaderboard_support import make_record, write_results


def _nudged(rec: dict, delta: float, metric: str = "lpips.alex", sample: int = 3) -> dict:
    """A copy of ``rec`` whose ``metric`` on one sample moved by ``delta``, re-finalized (valid digest)."""
    out = copy.deepcopy(rec)
    out["samples"][sample]["scores"][metric] += delta
    out["environment"] = {"device": "cpu", "python": "3.12", "threads": 16}  # another machine
    return finalize_record({k: v for k, v in out.items() if k not in ("schema", "summary", "digest")})


def test_tolerance_is_documented_float_noise():
    assert DEFAULT_TOLERANCE.rtol == 1e-6 and DEFAULT_TOLERANCE.atol == 1e-6
    assert tolerance_for("lpips.alex") == DEFAULT_TOLERANCE
    assert scores_agree("lpips.alex", 0.1676933802, 0.1676933802 + 1.2e-7)
    assert scores_agree("psnr", 31.25, 31.25 * (1 + 9e-7))
    assert not scores_agree("lpips.alex", 0.1676, 0.1676 + 1e-5)
    assert not scores_agree("psnr", 31.25, 31.26)
    assert scores_agree("psnr", None, None) and not scores_agree("psnr", None, 0.0)


def test_numbers_differ_names_the_sample_and_metric():
    rec = make_record("m", 0.0)
    assert numbers_differ(rec, _nudged(rec, 1.2e-7)) is None
    why = numbers_differ(rec, _nudged(rec, 3e-4))
    assert why is not None and "'s003' lpips.alex" in why and "rtol 1e-06" in why
    failed = copy.deepcopy(rec)
    failed["samples"][1]["scores"]["psnr"] = None
    failed["samples"][1]["error"] = "RuntimeError: boom"
    failed = finalize_record({k: v for k, v in failed.items() if k not in ("schema", "summary", "digest")})
    assert "failed scores" in numbers_differ(rec, failed)


def test_rerun_within_float_noise_builds_next_to_the_committed_record(tmp_path):
    rec = make_record("identity", 0.0)
    committed = write_results(tmp_path / "committed", {"b/identity.json": rec})
    rerun = write_results(tmp_path / "rerun", {"b/identity.json": _nudged(rec, 1.2e-7)})
    with pytest.warns(LeaderboardWarning, match="equal within the float tolerance"):
        entries = load_results([committed, rerun])
    assert len(entries) == 1 and entries[0].results_dir == committed
    with pytest.warns(LeaderboardWarning):
        site = build_site([committed, rerun], tmp_path / "site")
    assert [r.model for r in site.tables[0].rows] == ["identity"]


def test_real_differences_are_still_refused(tmp_path):
    rec = make_record("identity", 0.0)
    committed = write_results(tmp_path / "committed", {"b/identity.json": rec})
    other = write_results(tmp_path / "other", {"b/identity.json": _nudged(rec, 1e-4)})
    with pytest.raises(LeaderboardError, match=r"different numbers.*'s003' lpips\.alex"):
        load_results([committed, other])


def test_submit_accepts_a_rerun_within_tolerance_and_refuses_a_change(tmp_path):
    rec = make_record("synthetic-m", 0.0)
    first = write_results(
        tmp_path / "in", {"a.json": rec, "b.json": _nudged(rec, 1.2e-7), "c.json": _nudged(rec, 2e-5)}
    )
    sub = submit_record(first / "a.json", tmp_path / "store", hash_lookup=lookup)
    again = submit_record(first / "b.json", tmp_path / "store", hash_lookup=lookup)
    assert sub.added and not again.added and again.path == sub.path
    with pytest.raises(SubmissionRejected, match=r"different numbers.*'s003' lpips\.alex"):
        submit_record(first / "c.json", tmp_path / "store", hash_lookup=lookup)
