"""Output of :mod:`refocus_bench.simulators.pairs.generate`: shards, resume, parallel workers, dataset card.

Layout of ``out/`` (``format="parquet"``)::

    data/<task>/train-<shard>-of-<n>.parquet   Hugging Face dataset, explicit Features (PAIR_FEATURES)
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
import hashlib
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

import numpy as np
import torch

from ...version import __version__
from ...errors import InvalidInputError, check
from ...hashing import file_sha256
from ...io import atomic_path, atomic_write_bytes, atomic_write_json, write_depth
from .generate import PairConfig, Sample, SampleFailure, scene_samples

__all__ = ["run", "PairRunResult", "pair_features", "shard_files", "STATE_VERSION", "FIELD_DOCS", "SIDE_DOCS"]

STATE_VERSION = 1

FIELD_DOCS = {
    "id": "record id: <sample_id>-<task>",
    "sample_id": "<scene_index:06d>-<pair_index:02d>; the three tasks of one sample share it",
    "task": "deblur, bokeh or refocus",
    "scene_index": "index of the scene in the run",
    "pair_index": "index of the blur setting within the scene",
    "seed": "run seed; sample RNG = SeedSequence([tag, seed, scene_index, pair_index + 1])",
    "scene": "name, source, licence and scene parameters (JSON) of the scene",
    "input": "model input, sRGB 8-bit PNG",
    "target": "model target, sRGB 8-bit PNG",
    "aif": "all-in-focus (pinhole) image, sRGB 8-bit PNG",
    "depth_m": "depth in metres, float32 (H, W); inf = sky / infinitely far",
    "source_coc_px": "signed CoC radius (px) of the input's setting, float32 (H, W); positive behind focus; zeros for a pinhole",
    "target_coc_px": "signed CoC radius (px) of the target's setting (as above)",
    "source_defocus": "GenRefocus defocus map clip(|K (1/z - 1/s)| / 100, 0, 1) of the input's setting, float32 (H, W)",
    "target_defocus": "GenRefocus defocus map of the target's setting",
    "source": "parameters of the input's setting (see the side fields)",
    "target_params": "parameters of the target's setting (see the side fields)",
}
SIDE_DOCS = {
    "kind": "all-in-focus (pinhole, K = 0) or defocused",
    "mode": "physical or k",
    "k_px_m": "blur gain K in pixel-metres: CoC = K (1/s - 1/z)",
    "focus_distance_m": "focus distance s in metres",
    "focal_length_mm": "focal length (physical mode)",
    "f_number": "f-number (physical mode)",
    "sensor_format": "sensor format name (physical mode)",
    "sensor_width_mm": "long-side sensor width in mm spanned by the image's longest edge (physical mode)",
    "aperture": "aperture shape name (refocus_bench.simulators.render.apertures)",
    "focus_method": "depth-histogram, point or mask-median",
    "focus_x": "pixel (x right) the focus came from (mask centre for mask-median)",
    "focus_y": "pixel (y down) the focus came from",
    "focus_mask_box": "mask-median: bounding box [x0, y0, x1, y1) of the mask",
    "max_abs_coc_px": "largest |CoC| over the image (px)",
}
_MAPS = ("depth_m", "source_coc_px", "target_coc_px", "source_defocus", "target_defocus")


def pair_features(size: tuple[int, int]):  # noqa: ANN201 - datasets.Features (imported lazily)
    """The explicit ``datasets.Features`` of a pair record at image size (H, W)."""
    from datasets import Array2D, Features, Image, List, Value

    side = {name: Value("string") for name in ("kind", "mode", "sensor_format", "aperture", "focus_method")}
    side.update(
        {
            name: Value("float64")
            for name in (
                "k_px_m",
                "focus_distance_m",
                "focal_length_mm",
                "f_number",
                "sensor_width_mm",
                "max_abs_coc_px",
            )
        }
    )
    side.update(focus_x=Value("int32"), focus_y=Value("int32"), focus_mask_box=List(Value("int32")))
    side = {k: side[k] for k in SIDE_DOCS}
    h, w = size
    return Features(
        {
            "id": Value("string"),
            "sample_id": Value("string"),
            "task": Value("string"),
            "scene_index": Value("int32"),
            "pair_index": Value("int32"),
            "seed": Value("int64"),
            "scene": {
                "name": Value("string"),
                "source": Value("string"),
                "licence": Value("string"),
                "params_json": Value("string"),
            },
            "input": Image(),
            "target": Image(),
            "aif": Image(),
            **{m: Array2D((h, w), "float32") for m in _MAPS},
            "source": side,
            "target_params": side,
        }
    )


# ------------------------------------------------------------------------------------- records
def _side(draw: Any, max_coc: float) -> dict[str, Any]:
    if draw is None:
        out = {k: None for k in SIDE_DOCS}
        out.update(kind="all-in-focus", k_px_m=0.0, max_abs_coc_px=0.0)
        return out
    f = draw.focus
    return {
        "kind": "defocused",
        "mode": draw.mode,
        "k_px_m": draw.k_px_m,
        "focus_distance_m": f.distance_m,
        "focal_length_mm": draw.focal_length_mm,
        "f_number": draw.f_number,
        "sensor_format": draw.sensor_format,
        "sensor_width_mm": draw.sensor_width_mm,
        "aperture": draw.aperture,
        "focus_method": f.method,
        "focus_x": f.x,
        "focus_y": f.y,
        "focus_mask_box": list(f.box) if f.box else None,
        "max_abs_coc_px": max_coc,
    }


def _records(config: PairConfig, s: Sample) -> Iterator[dict[str, Any]]:
    """Records of one sample, images as tensors (keys ``input``/``target``: 'aif', 'a' or 'b')."""
    zeros = torch.zeros_like(s.coc_a)
    side_a = _side(s.a, float(s.coc_a.abs().max()))
    side_b = _side(s.b, float(s.coc_b.abs().max())) if s.b is not None else None
    pin = _side(None, 0.0)
    sides = {"aif": (pin, zeros, zeros), "a": (side_a, s.coc_a, s.defocus_a), "b": (side_b, s.coc_b, s.defocus_b)}
    plan = {"deblur": ("a", "aif"), "bokeh": ("aif", "a"), "refocus": ("a", "b")}
    scene = {
        "name": s.scene.name,
        "source": s.scene.source,
        "licence": s.scene.licence,
        "params_json": json.dumps(s.scene.params, sort_keys=True),
    }
    for task in config.tasks:
        src, tgt = plan[task]
        yield {
            "id": f"{s.sample_id}-{task}",
            "sample_id": s.sample_id,
            "task": task,
            "scene_index": s.scene_index,
            "pair_index": s.pair_index,
            "seed": config.seed,
            "scene": scene,
            "input": src,
            "target": tgt,
            "source": sides[src][0],
            "target_params": sides[tgt][0],
            "source_coc_px": sides[src][1],
            "target_coc_px": sides[tgt][1],
            "source_defocus": sides[src][2],
            "target_defocus": sides[tgt][2],
        }


def _png(image: torch.Tensor) -> bytes:
    import cv2

    arr = image[0].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()[..., ::-1]
    ok, enc = cv2.imencode(".png", np.ascontiguousarray(np.round(arr * 255.0).astype(np.uint8)))
    check(ok, "could not encode a PNG")
    return enc.tobytes()


def _array2d(maps: list[torch.Tensor], ext_type: Any) -> Any:
    import pyarrow as pa

    n = len(maps)
    h, w = maps[0].shape if n else ext_type.shape
    values = pa.array(
        np.concatenate([m.numpy().astype(np.float32).ravel() for m in maps]) if n else np.zeros(0, np.float32)
    )
    inner = pa.ListArray.from_arrays(pa.array(np.arange(0, n * h * w + 1, w, dtype=np.int32)), values)
    outer = pa.ListArray.from_arrays(pa.array(np.arange(0, n * h + 1, h, dtype=np.int32)), inner)
    return pa.ExtensionArray.from_storage(ext_type, outer)


def shard_files(config: PairConfig, shard: int) -> dict[str, str]:
    """Relative paths of shard ``shard``'s outputs: {task: path} (parquet) or {'folder': path}."""
    n = config.num_shards
    if config.format == "folder":
        return {"folder": f"data/shard-{shard:05d}"}
    return {t: f"data/{t}/train-{shard:05d}-of-{n:05d}.parquet" for t in config.tasks}


def _write_parquet(config: PairConfig, out: Path, shard: int, samples: list[Sample]) -> dict[str, str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    features = pair_features(config.size)
    schema = features.arrow_schema
    pngs: dict[tuple[str, str], bytes] = {}
    for s in samples:
        pngs[(s.sample_id, "aif")] = _png(s.scene.image)
        pngs[(s.sample_id, "a")] = _png(s.render_a)
        if s.render_b is not None:
            pngs[(s.sample_id, "b")] = _png(s.render_b)
    by_task: dict[str, list[dict]] = {t: [] for t in config.tasks}
    for s in samples:
        for r in _records(config, s):
            by_task[r["task"]].append((s, r))
    written = {}
    for task, rel in shard_files(config, shard).items():
        rows = by_task[task]
        if not rows:
            continue
        plain = []
        for s, r in rows:
            row = {k: v for k, v in r.items() if k not in _MAPS}
            for key in ("input", "target"):
                row[key] = {"bytes": pngs[(s.sample_id, r[key])], "path": None}
            row["aif"] = {"bytes": pngs[(s.sample_id, "aif")], "path": None}
            plain.append(row)
        scalar_names = [n for n in features if n not in _MAPS]
        table = pa.Table.from_pylist(plain, schema=pa.schema([schema.field(n) for n in scalar_names]))
        cols = {n: table[n] for n in scalar_names}
        cols["depth_m"] = _array2d([s.scene.depth[0, 0] for s, _ in rows], schema.field("depth_m").type)
        for m in _MAPS[1:]:
            cols[m] = _array2d([r[m] for _, r in rows], schema.field(m).type)
        table = pa.table({n: cols[n] for n in features}, schema=schema)
        with atomic_path(out / rel) as tmp:
            # float maps: byte-stream-split + zstd (about 25 % smaller than dictionary encoding on real depth)
            pq.write_table(
                table,
                tmp,
                compression="zstd",
                row_group_size=16,
                use_byte_stream_split=list(_MAPS),
                use_dictionary=[n for n in features if n not in _MAPS],
            )
        written[rel] = file_sha256(out / rel)
    return written


def _write_folder(config: PairConfig, out: Path, shard: int, samples: list[Sample]) -> dict[str, str]:
    rel = shard_files(config, shard)["folder"]
    final = out / rel
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        lines = []
        for s in samples:
            d = tmp / s.sample_id
            d.mkdir()
            (d / "aif.png").write_bytes(_png(s.scene.image))
            (d / "a.png").write_bytes(_png(s.render_a))
            write_depth(d / "depth.exr", s.scene.depth)
            write_depth(d / "coc_a.exr", s.coc_a)
            write_depth(d / "defocus_a.exr", s.defocus_a)
            if s.render_b is not None:
                (d / "b.png").write_bytes(_png(s.render_b))
                write_depth(d / "coc_b.exr", s.coc_b)
                write_depth(d / "defocus_b.exr", s.defocus_b)
            base = f"{rel}/{s.sample_id}"
            files = {
                "aif": (f"{base}/aif.png", None, None),
                "a": (f"{base}/a.png", f"{base}/coc_a.exr", f"{base}/defocus_a.exr"),
                "b": (f"{base}/b.png", f"{base}/coc_b.exr", f"{base}/defocus_b.exr"),
            }
            for r in _records(config, s):
                src, tgt = files[r["input"]], files[r["target"]]
                row = {k: v for k, v in r.items() if k not in _MAPS}
                row.update(
                    input=src[0],
                    target=tgt[0],
                    aif=f"{base}/aif.png",
                    depth_m=f"{base}/depth.exr",
                    source_coc_px=src[1],
                    target_coc_px=tgt[1],
                    source_defocus=src[2],
                    target_defocus=tgt[2],
                )
                lines.append(json.dumps(row, sort_keys=True, allow_nan=True))
        (tmp / "records.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        digest = _sha256_tree(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {rel: digest}


def _sha256_tree(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(f"{p.relative_to(root).as_posix()}\0{file_sha256(p)}\n".encode())
    return h.hexdigest()


def _digest(out: Path, rel: str) -> str | None:
    p = out / rel
    if p.is_dir():
        return _sha256_tree(p)
    return file_sha256(p) if p.is_file() else None


# -------------------------------------------------------------------------------------- shards
@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def generate_shard(config_dict: dict[str, Any], out_dir: str, shard: int) -> dict[str, Any]:
    """Make shard ``shard`` (a worker entry point: arguments and result are plain data)."""
    config = PairConfig.from_dict(config_dict)
    out = Path(out_dir)
    first = shard * config.scenes_per_shard
    last = min(first + config.scenes_per_shard, config.scene_count)
    samples: list[Sample] = []
    failures: list[SampleFailure] = []
    with _one_thread():
        for g in range(first, last):
            s, f = scene_samples(config, g)
            samples += s
            failures += f
        writer = _write_folder if config.format == "folder" else _write_parquet
        files = writer(config, out, shard, samples) if samples else {}
    return {
        "files": files,
        "samples": len(samples),
        "scenes": last - first,
        "records": len(samples) * len(config.tasks),
        "failures": [f.to_dict() for f in failures],
    }


def _worker_init() -> None:  # pragma: no cover - runs in worker processes
    torch.set_num_threads(1)


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
    out = Path(out_dir).absolute()
    check(not out.exists() or out.is_dir(), lambda: f"out_dir {str(out)!r} exists and is not a folder")
    (out / "state").mkdir(parents=True, exist_ok=True)
    state_path = out / "state" / "progress.json"
    fingerprint = config.fingerprint()
    with open(out / "state" / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InvalidInputError(f"out_dir {str(out)!r} is in use by another make-pairs run") from None
        state = _load_state(state_path)
        if state is not None and state.get("fingerprint") != fingerprint:
            check(
                overwrite,
                lambda: f"out_dir {str(out)!r} holds a dataset made with another config "
                "(or changed folder sources); use a new folder or overwrite=True (--overwrite)",
            )
            shutil.rmtree(out / "data", ignore_errors=True)
            shutil.rmtree(out / "state" / "shards", ignore_errors=True)
        (out / "state" / "shards").mkdir(exist_ok=True)
        state = {"version": STATE_VERSION, "fingerprint": fingerprint, "config": config.to_dict()}
        done = {}
        for j, info in _recorded_shards(out, config.num_shards).items():
            ok = all(
                (_digest(out, rel) == sha) if verify else (out / rel).exists() for rel, sha in info["files"].items()
            )
            if ok:
                done[j] = info
            else:
                _shard_state(out, j).unlink(missing_ok=True)
        state["shards"] = {str(k): v for k, v in sorted(done.items())}
        _clean(out, {rel for info in done.values() for rel in info["files"]})
        atomic_write_json(state_path, {k: v for k, v in state.items() if k != "shards"})
        todo = [j for j in range(config.num_shards) if j not in done]
        failed: dict[int, str] = {}
        made_records = 0
        bar, callback = _progress(progress, sum(_scenes_in(config, j) for j in todo))

        def finish(j: int, info: dict[str, Any]) -> None:
            nonlocal made_records
            atomic_write_json(_shard_state(out, j), info)
            state["shards"][str(j)] = info
            made_records += info["records"]
            for f in info["failures"]:
                where = f"scene {f['scene_index']}" + ("" if f["pair_index"] is None else f" pair {f['pair_index']}")
                print(f"make-pairs: {where}: {f['reason']}: {f['detail']}", file=sys.stderr)
            callback(info["scenes"])

        cfg = config.to_dict()
        try:
            if executor == "ray" and todo:
                from ...ray_backend import ray_map_function

                for i, info, err in ray_map_function(generate_shard, [(cfg, str(out), j) for j in todo], workers):
                    if err is None:
                        finish(todo[i], info)
                    else:  # as with local workers: reported, retried next run
                        failed[todo[i]] = "".join(traceback.format_exception_only(type(err), err)).strip()
            elif workers == 1 or len(todo) <= 1:
                for j in todo:
                    try:
                        finish(j, generate_shard(cfg, str(out), j))
                    except Exception as err:  # noqa: BLE001 - as with workers: reported, retried next run
                        failed[j] = "".join(traceback.format_exception_only(type(err), err)).strip()
            else:
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
                                    failed[j] = "".join(traceback.format_exception_only(type(err), err)).strip()
                    except BaseException:
                        pool.shutdown(wait=False, cancel_futures=True)
                        raise
        finally:
            if bar is not None:
                bar.close()
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
        made_records,
    )


def _scenes_in(config: PairConfig, shard: int) -> int:
    first = shard * config.scenes_per_shard
    return max(0, min(first + config.scenes_per_shard, config.scene_count) - first)


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


def _write_outputs(
    out: Path, config: PairConfig, state: dict, failures: list, failed: dict, command: str | None
) -> None:
    from .card import dataset_card

    counts = Counter()
    for info in state["shards"].values():
        counts["records"] += info["records"]
        counts["samples"] += info["samples"]
        counts["scenes"] += info["scenes"]
    reasons = Counter(f["reason"] for f in failures)
    atomic_write_bytes(out / "failures.jsonl", "".join(json.dumps(f, sort_keys=True) + "\n" for f in failures).encode())
    summary = {
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
    atomic_write_json(out / "summary.json", summary)
    cmd = (
        command
        or f"refocus_bench.simulators.pairs.generate.make_pairs(PairConfig.from_dict({json.dumps(config.to_dict(), sort_keys=True)}), ...)"
    )
    atomic_write_bytes(out / "README.md", dataset_card(config, summary, cmd).encode("utf-8"))
