"""Pair generation: resume after SIGKILL, crashed shards, bad input reported per sample, config changes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from refocus_bench.errors import InvalidInputError
from refocus_bench.io import write_image
from refocus_bench.simulators.pairs import shards as pair_shards
from refocus_bench.simulators.pairs.shards import run
from tests.pair_fixtures import data_hashes, read_records, small_config

ROOT = Path(__file__).resolve().parent.parent

KILLER = textwrap.dedent(
    """
    import json, os, signal, sys
    import pyarrow.parquet as pq
    from refocus_bench.simulators.pairs.generate import PairConfig
    from refocus_bench.simulators.pairs import shards as pair_shards

    real = pq.write_table
    calls = [0]

    def dying_write(table, where, **kw):
        calls[0] += 1
        if calls[0] == int(sys.argv[3]):  # die half-way through writing this file
            real(table, where, **kw)
            data = open(where, "rb").read()
            open(where, "wb").write(data[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        real(table, where, **kw)

    pq.write_table = dying_write
    pair_shards.run(PairConfig.from_dict(json.loads(sys.argv[1])), sys.argv[2])
    """
)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "out"
    result = run(small_config(), out)
    return out, result


def _files_stat(out: Path, rels) -> dict[str, tuple[int, int]]:
    return {r: ((out / r).stat().st_ino, (out / r).stat().st_mtime_ns) for r in rels}


def test_resume_after_sigkill_equals_uninterrupted_run_without_redoing_shards(reference, tmp_path):
    ref_out, ref_result = reference
    out = tmp_path / "killed"
    # 3 shards x 3 task files; call 5 is shard 1's second file: shard 0 is done and recorded, shard 1's
    # first file is already renamed into place (not recorded), its second is a partial temporary
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, json.dumps(small_config().to_dict()), str(out), "5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    recorded = sorted(p.name for p in (out / "state" / "shards").iterdir())
    assert recorded == ["shard-00000.json"]
    assert (out / "data/deblur/train-00001-of-00003.parquet").exists()
    assert [p.name for p in (out / "data").rglob(".*tmp*")], "the killed write should have left a temporary"
    done_files = list(json.loads((out / "state/shards/shard-00000.json").read_text())["files"])
    before = _files_stat(out, done_files)

    result = run(small_config(), out)
    assert (result.shards_skipped, result.shards_made, result.records_made) == (1, 2, 12)
    assert _files_stat(out, done_files) == before  # finished shard not rewritten
    assert data_hashes(out) == data_hashes(ref_out)
    assert not list((out / "data").rglob(".*"))
    assert (out / "failures.jsonl").read_bytes() == (ref_out / "failures.jsonl").read_bytes()
    assert result.records == ref_result.records == 18

    again = run(small_config(), out)  # nothing left to do: no duplicates, nothing rewritten
    assert (again.shards_skipped, again.shards_made, again.records) == (3, 0, 18)
    assert data_hashes(out) == data_hashes(ref_out)


def test_crashed_shard_is_reported_left_out_and_retried(reference, tmp_path, monkeypatch):
    ref_out, _ = reference
    real = pair_shards.write_parquet

    def flaky(config, out, shard, samples):
        if shard == 1:
            raise OSError("disk full (simulated)")
        return real(config, out, shard, samples)

    monkeypatch.setattr(pair_shards, "write_parquet", flaky)
    out = tmp_path / "crash"
    result = run(small_config(), out)
    assert list(result.failed_shards) == [1] and "disk full" in result.failed_shards[1]
    assert not any("00001-of" in rel for rel in data_hashes(out))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["shards_done"] == 2 and "disk full" in summary["shards_failed_this_run"]["1"]
    monkeypatch.setattr(pair_shards, "write_parquet", real)
    result = run(small_config(), out)
    assert (result.shards_skipped, result.shards_made, result.failed_shards) == (2, 1, {})
    assert data_hashes(out) == data_hashes(ref_out)


def _user_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    import torch

    for name in ("good1", "good2", "nodepth", "small", "broken"):
        write_image(root / f"{name}.png", torch.from_numpy(rng.random((1, 3, 30, 44), dtype=np.float32)))
    for name in ("good1", "good2", "broken"):
        np.save(root / f"{name}_depth.npy", rng.uniform(1.0, 5.0, (30, 44)).astype(np.float32))
    np.save(root / "small_depth.npy", np.ones((10, 10), np.float32))
    (root / "broken.png").write_bytes((root / "broken.png").read_bytes()[:60])  # truncated
    return root


def test_bad_user_input_is_reported_per_sample_and_good_scenes_are_kept(tmp_path, capsys):
    folder = _user_folder(tmp_path / "rgbd")
    cfg = small_config(sources=((f"folder:{folder}", 1.0),), num_scenes=None, scenes_per_shard=2, tasks=("deblur",))
    assert cfg.scene_count == 5 and cfg.num_shards == 3
    out = tmp_path / "out"
    result = run(cfg, out)
    reasons = {(f["scene_index"], f["reason"]) for f in result.failures}
    # scenes in name order: broken, good1, good2, nodepth, small
    assert reasons == {(0, "corrupt_image"), (3, "missing_depth"), (4, "size_mismatch")}
    detail = {f["reason"]: f["detail"] for f in result.failures}
    assert "broken.png" in detail["corrupt_image"] and "no depth file" in detail["missing_depth"]
    assert "44x30 px but depth" in detail["size_mismatch"]
    assert "size_mismatch" in capsys.readouterr().err
    rows = read_records(out, "deblur")
    assert sorted({r["scene"]["name"] for r in rows}) == ["good1", "good2"] and len(rows) == 4
    assert {r["scene"]["licence"] for r in rows} == {"unknown (user-supplied folder without a LICENSE file)"}
    logged = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert logged == result.failures
    assert json.loads((out / "summary.json").read_text())["failures_by_reason"] == {
        "corrupt_image": 1,
        "missing_depth": 1,
        "size_mismatch": 1,
    }
    before = data_hashes(out)

    again = run(cfg, out)  # resumed: failures are not repeated, nothing is rewritten
    assert again.shards_made == 0 and again.failures == result.failures and data_hashes(out) == before

    np.save(
        folder / "nodepth_depth.npy", np.tile(np.linspace(1, 6, 44, dtype=np.float32), (30, 1))
    )  # the folder changed
    with pytest.raises(InvalidInputError, match="another config .*changed folder sources"):
        run(cfg, out)
    assert data_hashes(out) == before  # refusing loses nothing
    fixed = run(cfg, out, overwrite=True)
    assert {f["reason"] for f in fixed.failures} == {"corrupt_image", "size_mismatch"}


def test_impossible_parameter_ranges_fail_each_sample_with_the_reason(tmp_path):
    cfg = small_config(num_scenes=2, coc_range_px=(300.0, 400.0), max_draws=5)
    result = run(cfg, tmp_path / "out")
    assert result.records == 0 and len(result.failures) == 4 and not result.failed_shards
    assert {f["reason"] for f in result.failures} == {"parameter_ranges"}
    assert all(
        "outside coc_range_px [300, 400]" in f["detail"] and "widen the ranges" in f["detail"] for f in result.failures
    )
    assert not (tmp_path / "out" / "data").exists() or not any((tmp_path / "out" / "data").rglob("*.parquet"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"f_number": "8:1.2"}, "uniform range is empty: low 8 > high 1.2"),
        ({"f_number": "0:8:log"}, "log-uniform needs low > 0"),
        ({"f_number": "0.1:8"}, r"f_number must lie in \[0.5, 64\]"),
        ({"near_m": "3:5", "far_m": "2:4"}, "near_m .* must lie below far_m"),
        ({"aperture": "disk,moon"}, "aperture must be a choice among"),
        ({"coc_range_px": (5.0, 1.0)}, "coc_range_px must satisfy"),
        ({"tasks": ("deblur", "denoise")}, "tasks must be distinct names"),
        ({"sources": (("flickr", 1.0),)}, "unknown scene source 'flickr'"),
        ({"leaves": "1.5:4"}, "leaves must be an integer distribution"),
        ({"focus_method": "center"}, "focus_method must be a choice among"),
        ({"num_scenes": None}, "needs folder sources only"),
    ],
)
def test_impossible_configs_are_refused_with_a_clear_message(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        small_config(**kwargs)


def test_other_config_into_same_folder_is_refused(reference):
    ref_out, _ = reference
    before = data_hashes(ref_out)
    with pytest.raises(InvalidInputError, match="another config"):
        run(small_config(seed=99), ref_out)
    assert data_hashes(ref_out) == before


def test_damaged_or_deleted_shard_is_remade_on_resume(reference, tmp_path):
    import shutil

    ref_out, _ = reference
    out = tmp_path / "copy"
    shutil.copytree(ref_out, out)
    victim = out / "data/bokeh/train-00002-of-00003.parquet"
    victim.write_bytes(victim.read_bytes()[:-10] + b"0123456789")  # same size, other bytes
    (out / "data/refocus/train-00000-of-00003.parquet").unlink()
    result = run(small_config(), out)
    assert (result.shards_skipped, result.shards_made) == (1, 2)
    assert data_hashes(out) == data_hashes(ref_out)
