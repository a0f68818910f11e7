"""Fixture records for the leaderboard tests (helpers only; the checks of this module are trivial).

``make_record`` builds a finalized record with deterministic scores; ``write_results`` lays out a
RESULTS_DIR the way the runner does (``<benchmark>/<model>.json``, example PNGs under ``examples/``).
"""

from __future__ import annotations

import copy
import struct
import zlib
from pathlib import Path
from typing import Any

from refocus_bench.results import finalize_record, write_record

BENCH_HASH = "ab" * 32
XSS = "<script>alert(1)</script>"


def tiny_png(rgb: tuple[int, int, int], size: int = 4) -> bytes:
    """A valid size x size RGB PNG of one colour (written by hand: no imaging library needed)."""
    raw = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def make_record(
    model: str,
    offset: float,
    *,
    bench: str = "synthetic-deblur",
    version: str = "1",
    n: int = 6,
    runtime: float = 0.05,
    weights: str | None = None,
    status: str = "complete",
    headline: str = "lpips.alex",
    content_hash: str = BENCH_HASH,
    examples: dict | None = None,
    lvcorr: bool = False,
) -> dict[str, Any]:
    """A finalized record: lpips.alex (lower better) = 0.1 + offset + 0.01 i,
    psnr (higher better) = 30 - 10 offset + i."""
    metrics = [
        {"name": "lpips.alex", "higher_is_better": False, "version": "1", "definition": {"net": "alex"}},
        {"name": "psnr", "higher_is_better": True, "version": "1", "definition": {"data_range": 1.0}},
    ]
    if lvcorr:
        metrics.append({"name": "lvcorr.pearson", "higher_is_better": True, "version": "1", "definition": {}})
    apertures = ["disk", "hexagon"]
    levels = ["1", "2", "4"]
    samples = []
    for i in range(n):
        scores = {"lpips.alex": round(0.1 + offset + 0.01 * i, 6), "psnr": round(30.0 - 10 * offset + i, 6)}
        if lvcorr:
            scores["lvcorr.pearson"] = round(0.9 - offset - 0.05 * (i % 3), 6)
        samples.append(
            {
                "id": f"s{i:03d}",
                "subset": {"aperture": apertures[i % 2], "blur": levels[i % 3]},
                "scores": scores,
                "runtime_s": runtime * (1 + 0.1 * i),
                "error": None,
            }
        )
    draft = {
        "status": status,
        "toolkit": {"name": "refocus-bench", "version": "0.1.0", "git_commit": None},
        "model": {"name": model, "weights_sha256": weights, "config": {}, "tasks": ["deblur"]},
        "benchmark": {
            "name": bench,
            "version": version,
            "content_hash": content_hash,
            "task": "deblur",
            "headline_metric": headline,
            "num_samples": n,
            "definition": {
                "name": bench,
                "version": version,
                "task": "deblur",
                "headline_metric": headline,
                "description": "Generated deblurring pairs",
            },
        },
        "metrics": metrics,
        "seeds": {"benchmark": 0, "model": 0},
        "environment": {"device": "cpu", "python": "3.11", "threads": 1},
        "started": "2026-11-25T00:00:00Z",
        "wall_time_s": 1.5,
        "samples": samples if status == "complete" else samples[: n - 1],
    }
    if examples is not None:
        draft["examples"] = examples
    return finalize_record(copy.deepcopy(draft))


def write_results(root: Path, records: dict[str, dict[str, Any]], pngs: dict[str, bytes] | None = None) -> Path:
    """Write ``{relative path: record}`` and ``{relative path: png bytes}`` under ``root``; return root."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, rec in records.items():
        write_record(root / rel, rec)
    for rel, data in (pngs or {}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def standard_results(root: Path, *, model_names: tuple[str, ...] = ("deblur.wiener", "identity", XSS)) -> Path:
    """Two benchmarks, three models (one named like an XSS payload), examples with inputs and targets."""
    records: dict[str, dict[str, Any]] = {}
    pngs: dict[str, bytes] = {}
    for sid in ("s000", "s001"):
        pngs[f"examples/synthetic-deblur/_input/{sid}.png"] = tiny_png((200, 10, 10))
        pngs[f"examples/synthetic-deblur/_target/{sid}.png"] = tiny_png((10, 200, 10))
    for i, name in enumerate(model_names):
        ex = {}
        for sid in ("s000", "s001"):
            rel = f"examples/synthetic-deblur/m{i}/{sid}.png"
            pngs[rel] = tiny_png((10 * i, 10, 100 + 10 * i))
            ex[sid] = rel
        records[f"synthetic-deblur/m{i}.json"] = make_record(
            name, 0.05 * i, runtime=0.02 * (3 - i) ** 2, weights=f"{i + 1:x}" * 64 if i else None, examples=ex
        )
        records[f"synthetic-bokeh/m{i}.json"] = make_record(
            name, 0.02 * (2 - i), bench="synthetic-bokeh", headline="psnr", lvcorr=True
        )
    return write_results(root, records, pngs)


def test_support_png_is_valid():
    assert tiny_png((1, 2, 3)).startswith(b"\x89PNG")


def published_table(**overrides: Any) -> dict[str, Any]:
    """A valid published table (schema refocus-bench.published/1) on synthetic-deblur, for fixture sites.

    The numbers are made up for the tests; the committed tables are under leaderboards/published/.
    """
    data: dict[str, Any] = {
        "schema": "refocus-bench.published/1",
        "paper": {
            "title": "A Test Paper",
            "short": "TestPaper",
            "arxiv": "2501.00001",
            "url": "https://arxiv.org/abs/2501.00001",
        },
        "table": {"label": "Table 2", "caption": "Deblurring.", "url": "https://arxiv.org/html/2501.00001v1#S4.T2"},
        "benchmark": {"name": "Synthetic Deblur (paper)", "task": "deblur", "ids": ["synthetic-deblur"]},
        "protocol": "full image, sRGB",
        "transcription": {
            "from": "the paper's HTML",
            "url": "https://arxiv.org/html/2501.00001v1",
            "checked_against_paper": True,
            "note": "",
        },
        "licence": "test fixture",
        "metrics": {
            "LPIPS": {"higher_is_better": False, "refocus_bench_metric": "lpips.alex"},
            "PSNR": {"higher_is_better": True, "refocus_bench_metric": None},
        },
        "rows": [
            {"method": "Wiener", "metric": "LPIPS", "value": "0.1250", "model": "deblur.wiener", "notes": ""},
            {"method": "Wiener", "metric": "PSNR", "value": "24.31", "model": "deblur.wiener", "notes": ""},
            {"method": "NoCode-Net", "metric": "LPIPS", "value": "0.0990", "model": None, "notes": "no code released"},
        ],
    }
    data.update(overrides)
    return data


def write_published(root: Path, tables: dict[str, dict[str, Any]]) -> Path:
    """Write ``{file stem: published table}`` as JSON files under ``root``; return root."""
    import json

    root.mkdir(parents=True, exist_ok=True)
    for stem, data in tables.items():
        (root / f"{stem}.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    return root
