"""Helpers for the pair-generator tests: tiny configs and independent readers of the outputs."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from refocus_bench.simulators.pairs.generate import PairConfig

SIZE = (40, 56)  # (H, W): not square, so height/width mix-ups show


def small_config(**kw: Any) -> PairConfig:
    base = dict(
        size=SIZE,
        num_scenes=3,
        pairs_per_scene=2,
        scenes_per_shard=1,
        seed=7,
        coc_range_px=(0.5, 10.0),
        sources=(("dead-leaves", 2.0), ("middlebury", 1.0)),
        leaves="6:12:int",
        point_lights="0:2:int",
    )
    base.update(kw)
    return PairConfig(**base)


def data_hashes(out: Path) -> dict[str, str]:
    """sha256 of every file under ``out/data`` by relative path."""
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((out / "data").rglob("*"))
        if p.is_file()
    }


def _png(data: bytes) -> np.ndarray:
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return arr[..., ::-1].astype(np.float32) / 255.0  # (H, W, 3) RGB


def read_records(out: Path, task: str) -> list[dict[str, Any]]:
    """Rows of every Parquet shard of ``task``, with maps as (H, W) float32 arrays and images decoded."""
    import pyarrow.parquet as pq

    rows = []
    for f in sorted((out / "data" / task).glob("*.parquet")):
        t = pq.read_table(f)
        n = t.num_rows
        maps = {}
        for name in ("depth_m", "source_coc_px", "target_coc_px", "source_defocus", "target_defocus"):
            col = t.column(name).combine_chunks()
            storage = col.storage if hasattr(col, "storage") else col
            flat = storage.flatten().flatten().to_numpy(zero_copy_only=False)
            maps[name] = flat.reshape(n, -1, len(storage[0][0]))
        plain = t.drop_columns(list(maps)).to_pylist()
        for i, r in enumerate(plain):
            for k in ("input", "target", "aif"):
                r[k] = _png(r[k]["bytes"])
            for name, arr in maps.items():
                r[name] = arr[i]
            r["_file"] = f.name
            rows.append(r)
    return rows
