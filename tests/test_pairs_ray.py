"""``make-pairs --executor ray``: one Ray task per shard, outputs byte-identical to a local run."""

from __future__ import annotations

import pytest

from refocus_bench.cli import main
from refocus_bench.errors import InvalidInputError
from refocus_bench.simulators.pairs.shards import run
from tests.pair_fixtures import data_hashes, small_config

ray = pytest.importorskip("ray")  # skips only where the optional extra 'ray' is not installed


def test_ray_shards_are_byte_identical_to_local_and_resume(tmp_path, capsys):
    config = small_config(num_scenes=3, pairs_per_scene=1, scenes_per_shard=1)
    local = run(config, tmp_path / "local")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        res = run(config, tmp_path / "ray", workers=2, executor="ray")
        again = run(config, tmp_path / "ray", workers=2, executor="ray")
        code = main(
            [
                "make-pairs",
                "-o",
                str(tmp_path / "cli"),
                "--size",
                "32",
                "--num-scenes",
                "2",
                "--pairs-per-scene",
                "1",
                "--scenes-per-shard",
                "1",
                "--executor",
                "ray",
                "--workers",
                "2",
                "-q",
            ]
        )
    finally:
        ray.shutdown()
    assert res.shards_made == 3 and not res.failed_shards and res.records == local.records
    assert again.shards_skipped == 3 and again.shards_made == 0
    assert data_hashes(tmp_path / "ray") == data_hashes(tmp_path / "local")
    for name in ("summary.json", "failures.jsonl", "README.md"):
        assert (tmp_path / "ray" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    assert code == 0 and "2 shards (0 already done, 2 made" in capsys.readouterr().out


def test_unknown_executor_is_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="executor must be 'local' or 'ray'"):
        run(small_config(), tmp_path, executor="dask")
