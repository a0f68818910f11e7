"""Records of a sample and the files of a shard: Parquet (Hugging Face) or a folder of PNG/EXR + JSON.

A :class:`~refocus_bench.simulators.pairs.generate.Sample` gives one record per task (fields:
:mod:`refocus_bench.simulators.pairs.schema`). :func:`write_parquet` writes one Parquet file per task,
:func:`write_folder` one folder per shard; both write to temporary names and rename into place, and
return the sha256 of what they wrote (a folder's digest: :func:`tree_sha256`). Nothing written
carries a time or a path outside ``out/``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...errors import check
from ...hashing import bytes_sha256, file_sha256
from ...io import atomic_path, write_depth
from .generate import PairConfig, Sample
from .schema import MAP_FIELDS, SIDE_DOCS, pair_features

__all__ = [
    "sample_records",
    "shard_files",
    "write_parquet",
    "write_pair_table",
    "write_folder",
    "tree_sha256",
    "digest",
]

_PLAN = {"deblur": ("a", "aif"), "bokeh": ("aif", "a"), "refocus": ("a", "b")}  # task: (input, target) image keys


def _side(draw: Any, max_coc: float) -> dict[str, Any]:
    """The side fields of a lens draw (None: the all-in-focus pinhole side)."""
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


def sample_records(config: PairConfig, s: Sample) -> Iterator[dict[str, Any]]:
    """Records of one sample, one per task of ``config``, maps as (H, W) tensors.

    The ``input``/``target`` fields hold the key of the image, not its pixels: ``'aif'`` (the
    all-in-focus image), ``'a'`` (render at setting A) or ``'b'`` (render at setting B).
    """
    zeros = torch.zeros_like(s.coc_a)
    side_a = _side(s.a, float(s.coc_a.abs().max()))
    side_b = _side(s.b, float(s.coc_b.abs().max())) if s.b is not None else None
    pin = _side(None, 0.0)
    sides = {"aif": (pin, zeros, zeros), "a": (side_a, s.coc_a, s.defocus_a), "b": (side_b, s.coc_b, s.defocus_b)}
    scene = {
        "name": s.scene.name,
        "source": s.scene.source,
        "licence": s.scene.licence,
        "params_json": json.dumps(s.scene.params, sort_keys=True),
    }
    for task in config.tasks:
        src, tgt = _PLAN[task]
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
            "route": "simulator",
            "confidence": None,
            "provenance_json": None,
        }


def png_bytes(image: torch.Tensor) -> bytes:
    """8-bit PNG of a (1, 3, H, W) sRGB image in [0, 1] (rounded to the nearest code)."""
    import cv2

    arr = image[0].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()[..., ::-1]
    ok, enc = cv2.imencode(".png", np.ascontiguousarray(np.round(arr * 255.0).astype(np.uint8)))
    check(ok, "could not encode a PNG")
    return enc.tobytes()


def shard_files(config: PairConfig, shard: int) -> dict[str, str]:
    """Relative paths of shard ``shard``'s outputs: {task: path} (parquet) or {'folder': path}."""
    n = config.num_shards
    if config.format == "folder":
        return {"folder": f"data/shard-{shard:05d}"}
    return {t: f"data/{t}/train-{shard:05d}-of-{n:05d}.parquet" for t in config.tasks}


# ------------------------------------------------------------------------------------- parquet
def _array2d(maps: list[torch.Tensor], ext_type: Any) -> Any:
    """An ``Array2D`` Arrow column of (H, W) float32 maps, built without a Python loop over pixels."""
    import pyarrow as pa

    n = len(maps)
    h, w = maps[0].shape if n else ext_type.shape
    values = pa.array(
        np.concatenate([m.numpy().astype(np.float32).ravel() for m in maps]) if n else np.zeros(0, np.float32)
    )
    inner = pa.ListArray.from_arrays(pa.array(np.arange(0, n * h * w + 1, w, dtype=np.int32)), values)
    outer = pa.ListArray.from_arrays(pa.array(np.arange(0, n * h + 1, h, dtype=np.int32)), inner)
    return pa.ExtensionArray.from_storage(ext_type, outer)


def _shard_pngs(samples: list[Sample]) -> dict[tuple[str, str], bytes]:
    """PNG bytes of every image of the shard, by (sample id, image key), each encoded once."""
    pngs: dict[tuple[str, str], bytes] = {}
    for s in samples:
        pngs[(s.sample_id, "aif")] = png_bytes(s.scene.image)
        pngs[(s.sample_id, "a")] = png_bytes(s.render_a)
        if s.render_b is not None:
            pngs[(s.sample_id, "b")] = png_bytes(s.render_b)
    return pngs


def _task_table(features: Any, rows: list[tuple[Sample, dict]], pngs: dict[tuple[str, str], bytes]) -> Any:
    """The Arrow table of one task's records: scalar fields from Python, maps as ``Array2D`` columns."""
    import pyarrow as pa

    schema = features.arrow_schema
    plain = []
    for s, r in rows:
        row = {k: v for k, v in r.items() if k not in MAP_FIELDS}
        for key in ("input", "target"):
            row[key] = {"bytes": pngs[(s.sample_id, r[key])], "path": None}
        row["aif"] = {"bytes": pngs[(s.sample_id, "aif")], "path": None}
        plain.append(row)
    scalar_names = [n for n in features if n not in MAP_FIELDS]
    table = pa.Table.from_pylist(plain, schema=pa.schema([schema.field(n) for n in scalar_names]))
    cols = {n: table[n] for n in scalar_names}
    cols["depth_m"] = _array2d([s.scene.depth[0, 0] for s, _ in rows], schema.field("depth_m").type)
    for m in MAP_FIELDS[1:]:
        cols[m] = _array2d([r[m] for _, r in rows], schema.field(m).type)
    return pa.table({n: cols[n] for n in features}, schema=schema)


def write_pair_table(table: Any, path: Path) -> str:
    """Write a pyarrow table of pair records to ``path`` (atomically); returns the file's sha256.

    Float maps (:data:`~refocus_bench.simulators.pairs.schema.MAP_FIELDS`) are stored with
    byte-stream-split + zstd (about 25 % smaller than dictionary encoding on real depth), the other
    columns with dictionaries; 16 rows per row group.
    """
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(
            table,
            tmp,
            compression="zstd",
            row_group_size=16,
            use_byte_stream_split=list(MAP_FIELDS),
            use_dictionary=[n for n in table.column_names if n not in MAP_FIELDS],
        )
    return file_sha256(path)


def write_parquet(config: PairConfig, out: Path, shard: int, samples: list[Sample]) -> dict[str, str]:
    """Write one Parquet file per task of shard ``shard`` under ``out``; returns {relative path: sha256}.

    A task without records writes no file (storage: :func:`write_pair_table`).
    """
    features = pair_features(config.size)
    pngs = _shard_pngs(samples)
    by_task: dict[str, list[tuple[Sample, dict]]] = {t: [] for t in config.tasks}
    for s in samples:
        for r in sample_records(config, s):
            by_task[r["task"]].append((s, r))
    written = {}
    for task, rel in shard_files(config, shard).items():
        if not by_task[task]:
            continue
        written[rel] = write_pair_table(_task_table(features, by_task[task], pngs), out / rel)
    return written


# -------------------------------------------------------------------------------------- folder
def _write_sample_files(d: Path, s: Sample) -> None:
    """The images (PNG) and maps (EXR) of one sample into the new folder ``d``."""
    d.mkdir()
    (d / "aif.png").write_bytes(png_bytes(s.scene.image))
    (d / "a.png").write_bytes(png_bytes(s.render_a))
    write_depth(d / "depth.exr", s.scene.depth)
    write_depth(d / "coc_a.exr", s.coc_a)
    write_depth(d / "defocus_a.exr", s.defocus_a)
    if s.render_b is not None:
        (d / "b.png").write_bytes(png_bytes(s.render_b))
        write_depth(d / "coc_b.exr", s.coc_b)
        write_depth(d / "defocus_b.exr", s.defocus_b)


def _folder_lines(config: PairConfig, s: Sample, rel: str) -> list[str]:
    """``records.jsonl`` lines of one sample: the Parquet fields with paths relative to ``out/``."""
    base = f"{rel}/{s.sample_id}"
    files = {  # image key: (image, CoC map, defocus map); None = zeros (the pinhole side)
        "aif": (f"{base}/aif.png", None, None),
        "a": (f"{base}/a.png", f"{base}/coc_a.exr", f"{base}/defocus_a.exr"),
        "b": (f"{base}/b.png", f"{base}/coc_b.exr", f"{base}/defocus_b.exr"),
    }
    lines = []
    for r in sample_records(config, s):
        src, tgt = files[r["input"]], files[r["target"]]
        row = {k: v for k, v in r.items() if k not in MAP_FIELDS}
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
    return lines


def write_folder(config: PairConfig, out: Path, shard: int, samples: list[Sample]) -> dict[str, str]:
    """Write shard ``shard`` as ``data/shard-<shard>/``; returns {relative path: :func:`tree_sha256`}."""
    rel = shard_files(config, shard)["folder"]
    final = out / rel
    tmp = final.parent / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        lines = []
        for s in samples:
            _write_sample_files(tmp / s.sample_id, s)
            lines += _folder_lines(config, s, rel)
        (tmp / "records.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        tree = tree_sha256(tmp)
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {rel: tree}


# -------------------------------------------------------------------------------------- digests
def tree_sha256(root: Path) -> str:
    """sha256 of a folder: of the lines ``<relative path>\\0<file sha256>\\n`` of its files in path order."""
    lines = [f"{p.relative_to(root).as_posix()}\0{file_sha256(p)}\n" for p in sorted(root.rglob("*")) if p.is_file()]
    return bytes_sha256("".join(lines).encode())


def digest(out: Path, rel: str) -> str | None:
    """sha256 of ``out/rel`` (a file, or a folder by :func:`tree_sha256`); None when it is missing."""
    p = out / rel
    if p.is_dir():
        return tree_sha256(p)
    return file_sha256(p) if p.is_file() else None
