"""Read a pair dataset (any route) as ``genrefocus.tiny`` BokehNet training pairs.

``refocus-bench make-pairs`` (route a, ``simulator``), ``make-real-pairs`` (route b, ``exif``) and
``fit-blur`` (route c, ``fit-blur``) write the same records
(:func:`refocus_bench.simulators.pairs.schema.pair_features`) as sharded Parquet under
``<folder>/data/<task>/*.parquet``. :func:`load_route_pairs` reads the ``bokeh`` records of such a
folder into the tensors :func:`refocus_bench.models.genrefocus.synthetic.make_pairs` gives for the
BokehNet stage of ``scripts/train_tiny.py``, so the training script can mix routes by weight.

Resizing (one geometric operation for every map of a record, so image, depth and K stay consistent):
the centred square of side ``min(H, W)`` is cut out (crop offsets ``(H - m) // 2``, ``(W - m) // 2``),
then resized to ``size`` x ``size`` by the factor ``r = size / m``:

* images (``aif``, ``bokeh``): bilinear with antialiasing (an area-like average when shrinking),
  in the sRGB values as stored, then clamped to [0, 1];
* depth: ``nearest-exact`` (each output pixel takes one stored depth, so no depth is invented
  across a depth edge; ``inf`` stays ``inf``);
* ``k_out`` = K x r: K is in pixel-metres of the stored image and a CoC radius in pixels scales with
  the image (``CoC = K (1/s - 1/z)``); the focus distance is unchanged.

A square record of side ``size`` is returned unchanged (r = 1, no resampling).

Usage from ``scripts/train_tiny.py``::

    from tiny_route_pairs import load_route_pairs
    pairs = load_route_pairs(Path("/data/route_b"), 192)   # {"aif", "depth", "k_out", ...}
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from refocus_bench.errors import InvalidInputError, check  # noqa: E402
from refocus_bench.models.genrefocus.synthetic import OUTPUT_APERTURES  # noqa: E402

__all__ = ["load_route_pairs", "bokeh_files", "DEFAULT_APERTURE"]

DEFAULT_APERTURE = "disk"
"""Aperture of records that carry none (route b: the EXIF does not record the aperture's shape)."""

_COLUMNS = ["id", "task", "route", "aif", "target", "depth_m", "target_params"]


def bokeh_files(folder: str | Path) -> list[Path]:
    """The Parquet shards of the ``bokeh`` records of a pair dataset folder, in name order.

    Raises:
        InvalidInputError: ``folder`` is not a folder, or holds no ``data/bokeh/*.parquet``
            (not written by make-pairs / make-real-pairs / fit-blur in Parquet format).
    """
    root = Path(folder)
    check(root.is_dir(), lambda: f"folder {str(root)!r} is not a folder")
    files = sorted((root / "data" / "bokeh").glob("*.parquet"))
    if not files:
        hint = (
            " (it holds data/shard-*/ folders: write it with make-pairs --format parquet)"
            if any((root / "data").glob("shard-*"))
            else ""
        )
        raise InvalidInputError(
            f"folder {str(root)!r} is not a pair dataset with bokeh records: no data/bokeh/*.parquet "
            f"(write one with refocus-bench make-pairs --tasks bokeh, make-real-pairs or fit-blur){hint}"
        )
    return files


def _png(data: bytes, where: str) -> torch.Tensor:
    """(3, H, W) float32 sRGB in [0, 1] from PNG bytes (8- or 16-bit)."""
    import cv2

    arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    check(arr is not None and arr.ndim == 3 and arr.shape[2] >= 3, lambda: f"{where}: not an RGB PNG")
    scale = 65535.0 if arr.dtype == np.uint16 else 255.0
    rgb = np.ascontiguousarray(arr[..., 2::-1]).astype(np.float32) / scale
    return torch.from_numpy(rgb).permute(2, 0, 1).contiguous()


def _maps(table: Any, name: str, h: int, w: int, where: str) -> np.ndarray:
    """An ``Array2D`` column as (n, h, w) float32 (with or without the datasets extension type)."""
    col = table.column(name).combine_chunks()
    storage = col.storage if hasattr(col, "storage") else col
    flat = storage.flatten().flatten().to_numpy(zero_copy_only=False)
    n = table.num_rows
    check(flat.size == n * h * w, lambda: f"{where}: {name} does not hold {n} maps of {h}x{w}")
    return flat.astype(np.float32).reshape(n, h, w)


def _aperture_index(params: dict[str, Any], where: str) -> int:
    name = params.get("aperture") or DEFAULT_APERTURE
    check(
        name in OUTPUT_APERTURES,
        lambda: f"{where}: aperture {name!r} is not one BokehNet trains on (OUTPUT_APERTURES {list(OUTPUT_APERTURES)})",
    )
    return OUTPUT_APERTURES.index(name)


def _resize(aif: torch.Tensor, bokeh: torch.Tensor, depth: torch.Tensor, size: int) -> tuple[torch.Tensor, ...]:
    """Centre square crop, then resize to ``size`` (see the module docstring); returns (aif, bokeh, depth, r)."""
    h, w = depth.shape[-2:]
    m = min(h, w)
    y0, x0 = (h - m) // 2, (w - m) // 2
    aif, bokeh, depth = (t[..., y0 : y0 + m, x0 : x0 + m] for t in (aif, bokeh, depth))
    if m == size:
        return aif, bokeh, depth, 1.0

    def img(t: torch.Tensor) -> torch.Tensor:
        return F.interpolate(t[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]

    depth = F.interpolate(depth[None], size=(size, size), mode="nearest-exact")[0]
    return img(aif).clamp(0, 1), img(bokeh).clamp(0, 1), depth, size / m


def _read_file(path: Path, size: int) -> list[dict[str, Any]]:
    """The bokeh records of one shard as per-record tensors at ``size``."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=_COLUMNS)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types for a broken or foreign file
        raise InvalidInputError(f"{path}: not a pair-record Parquet file ({err})") from err
    rows = table.drop_columns(["depth_m"]).to_pylist()
    if not rows:
        return []
    out = []
    depth_all = None
    for i, r in enumerate(rows):
        where = f"{path} record {r['id']!r}"
        check(r["task"] == "bokeh", lambda: f"{where}: task {r['task']!r} in a bokeh shard")
        aif, bokeh = _png(r["aif"]["bytes"], where), _png(r["target"]["bytes"], where)
        check(aif.shape == bokeh.shape, lambda: f"{where}: aif {tuple(aif.shape)} and target {tuple(bokeh.shape)}")
        if depth_all is None:
            depth_all = _maps(table, "depth_m", aif.shape[1], aif.shape[2], str(path))
        p = r["target_params"]
        k, s = p.get("k_px_m"), p.get("focus_distance_m")
        check(
            k is not None and np.isfinite(k) and k >= 0 and s is not None and np.isfinite(s) and s > 0,
            lambda: f"{where}: target K {k!r} px*m / focus {s!r} m are not a defocused setting",
        )
        ap = _aperture_index(p, where)
        depth = torch.from_numpy(depth_all[i].copy())[None]
        aif, bokeh, depth, ratio = _resize(aif, bokeh, depth, size)
        out.append(
            {
                "aif": aif,
                "depth": depth,
                "k_out": torch.tensor(float(k) * ratio, dtype=torch.float64),
                "focus_out": torch.tensor(float(s), dtype=torch.float64),
                "aperture_out": torch.tensor(ap, dtype=torch.int64),
                "bokeh": bokeh,
                "_id": f"{path.name}:{r['id']}:{r['route']}",
            }
        )
    return out


def load_route_pairs(folder: Path, size: int) -> dict[str, torch.Tensor]:
    """The bokeh records of a pair dataset folder as BokehNet training pairs at ``size`` x ``size``.

    Args:
        folder: output folder of ``refocus-bench make-pairs`` (Parquet, with the bokeh task),
            ``make-real-pairs`` or ``fit-blur``.
        size: side of the square output in pixels (>= 16); see the module docstring for the crop/resize.

    Returns:
        The keys of :func:`refocus_bench.models.genrefocus.synthetic.make_pairs` the bokeh stage uses,
        N = number of bokeh records, in shard-name then record order:
        ``aif`` (N, 3, S, S) float32 sRGB [0, 1]; ``depth`` (N, 1, S, S) float32 metres (``inf`` kept);
        ``k_out`` (N,) float64 px*m at size S; ``focus_out`` (N,) float64 m; ``aperture_out`` (N,)
        int64 index into ``OUTPUT_APERTURES`` (records without an aperture: :data:`DEFAULT_APERTURE`);
        ``bokeh`` (N, 3, S, S) float32 sRGB [0, 1].

    Raises:
        InvalidInputError: not a pair dataset, an unreadable shard, no bokeh record, or a record whose
            aperture is not in ``OUTPUT_APERTURES`` (the message names the file and the record).
    """
    check(isinstance(size, int) and size >= 16, lambda: f"size must be an int >= 16, got {size!r}")
    items = [it for f in bokeh_files(folder) for it in _read_file(f, size)]
    check(bool(items), lambda: f"folder {str(folder)!r}: its bokeh shards hold no record")
    out = {k: torch.stack([it[k] for it in items]) for k in items[0] if not k.startswith("_")}
    out["aif"], out["bokeh"] = out["aif"].float().contiguous(), out["bokeh"].float().contiguous()
    out["depth"] = out["depth"].float().contiguous()
    return out


def describe(pairs: dict[str, torch.Tensor]) -> str:
    """One line of facts about a pair set (count, size, K and focus ranges)."""
    k, s = pairs["k_out"], pairs["focus_out"]
    return json.dumps(
        {
            "n": int(k.numel()),
            "size": list(pairs["aif"].shape[-2:]),
            "k_px_m": [round(float(k.min()), 3), round(float(k.median()), 3), round(float(k.max()), 3)],
            "focus_m": [round(float(s.min()), 3), round(float(s.median()), 3), round(float(s.max()), 3)],
        }
    )


if __name__ == "__main__":
    for arg in sys.argv[2:]:
        print(arg, describe(load_route_pairs(Path(arg), int(sys.argv[1]))))
