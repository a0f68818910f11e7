"""Making a pair dataset: :func:`make_pairs` / :func:`run` - shards, resume, parallel workers, outputs.

Layout of ``out/`` (``format="parquet"``)::

    data/<task>/train-<shard>-of-<n>.parquet   Hugging Face dataset, explicit Features (schema.pair_features)
    README.md                                  dataset card: distributions, sources + licences, command
    failures.jsonl                             every sample that gave no record, with its reason
    summary.json                               counts per task and per failure reason
    state/progress.json                        resume state: config and its fingerprint
    state/shards/shard-<shard>.json            resume state: sha256 of a finished shard's files, its failures

``format="folder"``: ``data/shard-<shard>/`` holds per sample ``<sample_id>/`` with ``aif.png``,
``a.png``/``b.png`` (renders at settings A and B), ``depth.exr`` (metres), ``coc_a.exr``/``coc_b.exr``
(signed px) and ``defocus_a.exr``/``defocus_b.exr``, plus ``records.jsonl`` (the Parquet fields with
file paths relative to ``out/`` instead of pixels; a null map path means zeros, a pinhole side).

Determinism: shard ``j`` holds scenes ``[j * scenes_per_shard, (j + 1) * scenes_per_shard)``; every
scene and sample is seeded from (seed, scene index, pair index) and each shard is made with one
torch thread, so the bytes do not depend on the worker count or on which shards ran before. Nothing
in a shard carries a time or a path outside ``out/``.

Resume: a shard is written to temporary names and renamed into place, then its files' sha256 are
recorded in ``state/shards/shard-<shard>.json`` (atomically; one small file per shard, so the cost
of recording stays constant however many shards there are). A rerun with the same config skips the shards whose
files are present with the recorded hashes, deletes stale temporaries and any shard file not recorded
(the remains of a run killed between two renames) and makes the rest. A rerun with another config is
refused (``overwrite=True`` starts afresh). Failed samples are recorded with their shard, so they are
reported once, not once per run.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import multiprocessing
import os
import shutil
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ...errors import InvalidInputError, check
from ...io import atomic_write_bytes, atomic_write_json
from ...version import __version__
from .card import dataset_card
from .generate import PairConfig, Sample, SampleFailure, scene_samples
from .records import digest, write_folder, write_parquet

__all__ = ["make_pairs", "run", "PairRunResult", "generate_shard", "STATE_VERSION"]

STATE_VERSION = 1

ShardDone = Callable[[int, dict[str, Any]], None]  # finish(shard, info) of a shard made


# -------------------------------------------------------------------------------------- shards
@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _scene_range(config: PairConfig, shard: int) -> range:
    """Scene indices of shard ``shard``."""
    first = shard * config.scenes_per_shard
    return range(first, min(first + config.scenes_per_shard, config.scene_count))


def generate_shard(config_dict: dict[str, Any], out_dir: str, shard: int) -> dict[str, Any]:
    """Make shard ``shard`` (a worker entry point: arguments and result are plain data).

    Returns ``{"files": {relative path: sha256}, "samples", "scenes", "records", "failures"}``.
    """
    config = PairConfig.from_dict(config_dict)
    scenes = _scene_range(config, shard)
    samples: list[Sample] = []
    failures: list[SampleFailure] = []
    with _one_thread():
        for g in scenes:
            s, f = scene_samples(config, g)
            samples += s
            failures += f
        writer = write_folder if config.format == "folder" else write_parquet
        files = writer(config, Path(out_dir), shard, samples) if samples else {}
    return {
        "files": files,
        "samples": len(samples),
        "scenes": len(scenes),
        "records": len(samples) * len(config.tasks),
        "failures": [f.to_dict() for f in failures],
    }


def _worker_init() -> None:  # pragma: no cover - runs in worker processes
    torch.set_num_threads(1)


def _one_line(err: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(err), err)).strip()


def _make_here(cfg: dict[str, Any], out: Path, todo: list[int], finish: ShardDone) -> dict[int, str]:
    """Make the shards ``todo`` one after another in this process; returns {shard: error} of those that failed."""
    failed = {}
    for j in todo:
        try:
            finish(j, generate_shard(cfg, str(out), j))
        except Exception as err:  # noqa: BLE001 - as with workers: reported, retried next run
            failed[j] = _one_line(err)
    return failed


def _make_in_pool(cfg: dict[str, Any], out: Path, todo: list[int], workers: int, finish: ShardDone) -> dict[int, str]:
    """Make the shards ``todo`` in spawned worker processes; returns {shard: error} of those that failed."""
    failed = {}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(todo)), mp_context=ctx, initializer=_worker_init) as pool:
        pending = {pool.submit(generate_shard, cfg, str(out), j): j for j in todo}
        try:
            while pending:
                ready, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in ready:
                    j = pending.pop(fut)
                    try:
                        finish(j, fut.result())
                    except Exception as err:  # noqa: BLE001 - a crashed shard is reported and retried next run
                        failed[j] = _one_line(err)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return failed


def _make_on_ray(cfg: dict[str, Any], out: Path, todo: list[int], workers: int, finish: ShardDone) -> dict[int, str]:
    """Make the shards ``todo`` as Ray tasks, ``workers`` at a time; returns {shard: error} of those that failed."""
    from ...ray_backend import ray_map_function

    failed = {}
    for i, info, err in ray_map_function(generate_shard, [(cfg, str(out), j) for j in todo], workers):
        if err is None:
            finish(todo[i], info)
        else:  # as with local workers: reported, retried next run
            failed[todo[i]] = _one_line(err)
    return failed


def _make_shards(
    config: PairConfig, out: Path, todo: list[int], workers: int, executor: str, finish: ShardDone
) -> dict[int, str]:
    """Make the shards ``todo`` on ``executor``; returns {shard: error} of those that failed."""
    cfg = config.to_dict()
    if executor == "ray" and todo:
        return _make_on_ray(cfg, out, todo, workers, finish)
    if workers == 1 or len(todo) <= 1:
        return _make_here(cfg, out, todo, finish)
    return _make_in_pool(cfg, out, todo, workers, finish)


# --------------------------------------------------------------------------------------- state
def _load_state(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InvalidInputError(
            f"resume state {str(path)!r} is unreadable ({err}); remove it or pass overwrite=True"
        ) from err
    check(
        state.get("version") == STATE_VERSION,
        lambda: f"resume state {str(path)!r} has version {state.get('version')}, expected {STATE_VERSION}",
    )
    return state


def _shard_state(out: Path, shard: int) -> Path:
    return out / "state" / "shards" / f"shard-{shard:05d}.json"


def _recorded_shards(out: Path, num_shards: int) -> dict[int, dict[str, Any]]:
    """Finished shards recorded in ``state/shards`` (unreadable or out-of-range records are ignored)."""
    done = {}
    for p in sorted((out / "state" / "shards").glob("shard-*.json")):
        try:
            j = int(p.stem.split("-")[1])
            info = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError, IndexError):
            continue
        if 0 <= j < num_shards and isinstance(info, dict) and "files" in info:
            done[j] = info
    return done


def _finished_shards(out: Path, num_shards: int, verify: bool) -> dict[int, dict[str, Any]]:
    """Recorded shards whose files are intact (re-hashed when ``verify``); the others' records are removed."""
    done = {}
    for j, info in _recorded_shards(out, num_shards).items():
        ok = all((digest(out, rel) == sha) if verify else (out / rel).exists() for rel, sha in info["files"].items())
        if ok:
            done[j] = info
        else:
            _shard_state(out, j).unlink(missing_ok=True)
    return done


def _clean(out: Path, keep: set[str]) -> None:
    """Remove temporaries and shard outputs that no finished shard owns."""
    data = out / "data"
    if not data.is_dir():
        return
    for p in sorted(data.rglob(".*"), key=lambda q: -len(q.parts)):
        if ".tmp" in p.name:
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    for p in sorted(data.rglob("train-*.parquet")) + sorted(data.glob("shard-*")):
        if p.relative_to(out).as_posix() not in keep:
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """Hold ``out/state/.lock`` (one run per folder at a time) for the body."""
    with open(out / "state" / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InvalidInputError(f"out_dir {str(out)!r} is in use by another make-pairs run") from None
        yield


def _start_state(out: Path, config: PairConfig, fingerprint: str, overwrite: bool) -> dict[str, Any]:
    """The run's state; an ``out`` made with another config is refused, or emptied when ``overwrite``."""
    state = _load_state(out / "state" / "progress.json")
    if state is not None and state.get("fingerprint") != fingerprint:
        check(
            overwrite,
            lambda: f"out_dir {str(out)!r} holds a dataset made with another config "
            "(or changed folder sources); use a new folder or overwrite=True (--overwrite)",
        )
        shutil.rmtree(out / "data", ignore_errors=True)
        shutil.rmtree(out / "state" / "shards", ignore_errors=True)
    (out / "state" / "shards").mkdir(exist_ok=True)
    return {"version": STATE_VERSION, "fingerprint": fingerprint, "config": config.to_dict()}


class _ShardLog:
    """Records each finished shard: its state file, the run's counts, its failures on stderr, the progress."""

    def __init__(self, out: Path, state: dict[str, Any], progress: bool | Callable[[int, int], None], total: int):
        self.out, self.state = out, state
        self.records_made = 0
        self.bar, self.callback = _progress(progress, total)

    def finish(self, j: int, info: dict[str, Any]) -> None:
        atomic_write_json(_shard_state(self.out, j), info)
        self.state["shards"][str(j)] = info
        self.records_made += info["records"]
        for f in info["failures"]:
            where = f"scene {f['scene_index']}" + ("" if f["pair_index"] is None else f" pair {f['pair_index']}")
            print(f"make-pairs: {where}: {f['reason']}: {f['detail']}", file=sys.stderr)
        self.callback(info["scenes"])

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _progress(progress: bool | Callable[[int, int], None], total: int) -> tuple[Any, Callable[[int], None]]:
    if callable(progress):
        done = [0]

        def cb(n: int) -> None:
            done[0] += n
            progress(done[0], total)

        return None, cb
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="scene", desc="make-pairs", file=sys.stderr)
        return bar, bar.update
    return None, lambda n: None


# ----------------------------------------------------------------------------------------- run
@dataclass
class PairRunResult:
    """What :func:`run` did. ``failures`` lists every failed sample of the dataset (all runs)."""

    out_dir: Path
    shards_total: int
    shards_made: int
    shards_skipped: int
    records: int
    failures: list[dict[str, Any]]
    failed_shards: dict[int, str] = field(default_factory=dict)
    seconds: float = 0.0
    records_made: int = 0  # records written by this run

    @property
    def records_per_second(self) -> float:
        """Records (input -> target pairs) written per second by this run."""
        return self.records_made / self.seconds if self.seconds > 0 else 0.0


def _out_folder(out_dir: str | os.PathLike[str]) -> Path:
    out = Path(out_dir).absolute()
    check(not out.exists() or out.is_dir(), lambda: f"out_dir {str(out)!r} exists and is not a folder")
    (out / "state").mkdir(parents=True, exist_ok=True)
    return out


def run(
    config: PairConfig,
    out_dir: str | os.PathLike[str],
    *,
    workers: int = 1,
    progress: bool | Callable[[int, int], None] = False,
    overwrite: bool = False,
    verify: bool = True,
    command: str | None = None,
    executor: str = "local",
) -> PairRunResult:
    """Generate (or finish) the dataset of ``config`` in ``out_dir``.

    Args:
        config: the :class:`PairConfig`.
        out_dir: output folder (created); rerunning into it resumes.
        workers: parallel processes (spawned; 1 = in this process).
        progress: True for a tqdm bar on stderr, or a ``callback(scenes_done, scenes_todo)``.
        overwrite: discard an ``out_dir`` made with another config instead of refusing.
        verify: re-hash finished shards before skipping them (else existence is enough).
        command: the command line to record in the card (default: the Python call).
        executor: ``"local"`` (this process or a process pool) or ``"ray"``: one Ray task per shard,
            at most ``workers`` at a time, on a running Ray instance or a local one started for the
            run. Shards are written by the tasks themselves, so on a multi-node cluster ``out_dir``
            must be on a shared filesystem. The bytes written do not depend on the executor.
    """
    t0 = time.perf_counter()
    check(isinstance(workers, int) and workers >= 1, lambda: f"workers must be an int >= 1, got {workers!r}")
    check(executor in ("local", "ray"), lambda: f"executor must be 'local' or 'ray', got {executor!r}")
    if executor == "ray":
        from ...ray_backend import require_ray

        require_ray()
    out = _out_folder(out_dir)
    fingerprint = config.fingerprint()
    with _exclusive(out):
        state = _start_state(out, config, fingerprint, overwrite)
        done = _finished_shards(out, config.num_shards, verify)
        state["shards"] = {str(k): v for k, v in sorted(done.items())}
        _clean(out, {rel for info in done.values() for rel in info["files"]})
        atomic_write_json(out / "state" / "progress.json", {k: v for k, v in state.items() if k != "shards"})
        todo = [j for j in range(config.num_shards) if j not in done]
        log = _ShardLog(out, state, progress, sum(len(_scene_range(config, j)) for j in todo))
        try:
            failed = _make_shards(config, out, todo, workers, executor, log.finish)
        finally:
            log.close()
        failures = [
            f for _, info in sorted(state["shards"].items(), key=lambda kv: int(kv[0])) for f in info["failures"]
        ]
        _write_outputs(out, config, state, failures, failed, command)
    records = sum(info["records"] for info in state["shards"].values())
    return PairRunResult(
        out,
        config.num_shards,
        len(todo) - len(failed),
        config.num_shards - len(todo),
        records,
        failures,
        failed,
        time.perf_counter() - t0,
        log.records_made,
    )


def make_pairs(config: PairConfig, out_dir: str | os.PathLike[str], **kwargs: Any) -> PairRunResult:
    """Generate (or finish) the dataset of ``config`` in ``out_dir``: :func:`run` under the package's verb.

    Keyword arguments are those of :func:`run` (``workers``, ``progress``, ``overwrite``, ``verify``,
    ``command``, ``executor``).
    """
    return run(config, out_dir, **kwargs)


# ------------------------------------------------------------------------------------- outputs
def _summary(config: PairConfig, state: dict, failures: list, failed: dict) -> dict[str, Any]:
    """The content of ``summary.json``: counts over every finished shard, failures by reason, versions."""
    counts = Counter()
    for info in state["shards"].values():
        counts["records"] += info["records"]
        counts["samples"] += info["samples"]
        counts["scenes"] += info["scenes"]
    reasons = Counter(f["reason"] for f in failures)
    return {
        "records": counts["records"],
        "samples": counts["samples"],
        "scenes_done": counts["scenes"],
        "records_per_task": {t: counts["samples"] for t in config.tasks},
        "failures_by_reason": dict(sorted(reasons.items())),
        "shards_total": config.num_shards,
        "shards_done": len(state["shards"]),
        "shards_failed_this_run": {str(k): v for k, v in sorted(failed.items())},
        "fingerprint": state["fingerprint"],
        "refocus_bench_version": __version__,
        "torch_version": torch.__version__,
    }


def _python_command(config: PairConfig) -> str:
    """The Python call that the card records when no command line is given."""
    cfg = json.dumps(config.to_dict(), sort_keys=True)
    return f"refocus_bench.simulators.pairs.make_pairs(PairConfig.from_dict({cfg}), ...)"


def _write_outputs(
    out: Path, config: PairConfig, state: dict, failures: list, failed: dict, command: str | None
) -> None:
    """Write ``failures.jsonl``, ``summary.json`` and the dataset card ``README.md`` (atomically)."""
    atomic_write_bytes(out / "failures.jsonl", "".join(json.dumps(f, sort_keys=True) + "\n" for f in failures).encode())
    summary = _summary(config, state, failures, failed)
    atomic_write_json(out / "summary.json", summary)
    card = dataset_card(config, summary, command or _python_command(config))
    atomic_write_bytes(out / "README.md", card.encode("utf-8"))
