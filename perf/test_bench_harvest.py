"""EXIF harvest throughput against a raw ``exiftool -json -n`` batch, and its memory against file count.

Run with ``make bench``. The photos are made here: 640 x 427 JPEGs (about 200 kB of incompressible
texture each, so reading and hashing cost what they cost on real files) with camera EXIF, one in
eight a TIFF-based NEF. The raw baseline is one ``exiftool -json -n -@ LIST`` process over the same
files with its output discarded; the harvest is the full pipeline (scan, ExifTool, hashing,
integrity checks, normalisation, optics, part files, Parquet/CSV/manifest outputs) into a fresh
folder each round. They run alternately in the same session and are compared by their fastest
round, the one least disturbed by other load on the machine.

Memory: the harvest of N and of 4N files, each in a fresh subprocess, reporting the peak of the
Python heap (tracemalloc) and the peak resident set size; both must stay flat in the number of
files (the per-file index is a path and a stat, everything else is streamed batch by batch).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, TiffImagePlugin

from refocus_bench.datasets.harvest import harvest

EXIFTOOL = shutil.which("exiftool")
pytestmark = pytest.mark.skipif(EXIFTOOL is None, reason="needs ExifTool: sudo apt-get install libimage-exiftool-perl")

N_FILES = 1024
MIN_THROUGHPUT_RATIO = 0.8
MEMORY_N = 256
ROUNDS = 5


def make_photos(folder: Path, n: int) -> list[Path]:
    """``n`` distinct photos with EXIF: JPEGs, and every eighth a TIFF-based NEF."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = (rng.random((427, 640, 3)) * 255).astype(np.uint8)
    rat = TiffImagePlugin.IFDRational
    paths = []
    for i in range(n):
        img = base.copy()
        img[(i // 80) % 53 * 8 : (i // 80) % 53 * 8 + 8, (i % 80) * 8 : (i % 80) * 8 + 8] = (i * 37) % 256
        img[0, :16, 0] = np.frombuffer(i.to_bytes(16, "little"), np.uint8)  # inside the NEF crop too
        ex = Image.Exif()
        ex[0x010F], ex[0x0110] = (
            ("NIKON CORPORATION", "NIKON D7000") if i % 8 == 7 else ("Canon", "Canon EOS 5D Mark II")
        )
        ifd = ex.get_ifd(0x8769)
        ifd[0x829D], ifd[0x920A], ifd[0x9206], ifd[0x829A], ifd[0x8827] = (
            rat(18, 10),
            rat(50, 1),
            rat(2 + i % 7, 1),
            rat(1, 250),
            100,
        )
        if i % 2:
            ifd[0xA405] = 50  # 35 mm equivalent on half of them; the others go through lensfun
        if i % 8 == 7:
            p = folder / f"raw_{i:05d}.nef"
            Image.fromarray(img[:200, :300]).save(p, format="TIFF", exif=ex)
        else:
            p = folder / f"img_{i:05d}.jpg"
            Image.fromarray(img).save(p, quality=90, exif=ex)
        paths.append(p)
    return paths


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-photos")
    paths = make_photos(root / "photos", N_FILES)
    listing = root / "files.txt"
    listing.write_text("".join(f"{p}\n" for p in paths))
    return root, paths, listing


def test_harvest_throughput_vs_raw_exiftool(benchmark, photos):
    root, paths, listing = photos
    raw_times: list[float] = []
    out = root / "out"

    def setup():
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        subprocess.run(
            [EXIFTOOL, "-json", "-n", "-@", str(listing)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        raw_times.append(time.perf_counter() - t0)
        return (), {}

    result = benchmark.pedantic(lambda: harvest([root / "photos"], out), setup=setup, rounds=ROUNDS, warmup_rounds=1)
    assert result.counts == {"ok": N_FILES}
    harvest_s, raw_s = benchmark.stats.stats.min, min(raw_times)
    ratio = raw_s / harvest_s
    benchmark.extra_info.update(
        files=N_FILES,
        harvest_files_per_s=round(N_FILES / harvest_s, 1),
        raw_exiftool_files_per_s=round(N_FILES / raw_s, 1),
        throughput_ratio=round(ratio, 3),
    )
    print(
        f"\nharvest {N_FILES / harvest_s:.0f} files/s, raw exiftool -json -n {N_FILES / raw_s:.0f} files/s, "
        f"ratio {ratio:.2f}"
    )
    assert ratio >= MIN_THROUGHPUT_RATIO, (
        f"harvest reaches {ratio:.2f} of raw ExifTool's throughput (< {MIN_THROUGHPUT_RATIO})"
    )


_MEMORY_PROBE = r"""
import json, resource, sys, tracemalloc
from refocus_bench.datasets.harvest import harvest
import datasets, pyarrow.parquet  # imports are not part of the measurement
tracemalloc.start()
result = harvest(sys.argv[1:-1], sys.argv[-1])
_, peak = tracemalloc.get_traced_memory()
print(json.dumps({"files": result.files_total, "ok": result.counts.get("ok", 0), "tracemalloc_peak_bytes": peak,
                  "max_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _probe(inputs: list[Path], out: Path) -> dict:
    cmd = [sys.executable, "-c", _MEMORY_PROBE, *map(str, inputs), str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_harvest_memory_is_flat_in_the_number_of_files(benchmark, photos, tmp_path):
    root, paths, _ = photos
    small, large = tmp_path / "small", tmp_path / "large"
    small.mkdir()
    large.mkdir()
    for p in paths[:MEMORY_N]:
        (small / p.name).symlink_to(p)
    for p in paths[: 4 * MEMORY_N]:
        (large / p.name).symlink_to(p)
    m1, m4 = benchmark.pedantic(lambda: (_probe([small], tmp_path / "o1"), _probe([large], tmp_path / "o4")), rounds=1)
    assert (m1["ok"], m4["ok"]) == (MEMORY_N, 4 * MEMORY_N)
    heap_ratio = m4["tracemalloc_peak_bytes"] / m1["tracemalloc_peak_bytes"]
    rss_growth_mib = (m4["max_rss_kib"] - m1["max_rss_kib"]) / 1024
    print(
        f"\nN={MEMORY_N}: heap peak {m1['tracemalloc_peak_bytes'] / 2**20:.1f} MiB, "
        f"max RSS {m1['max_rss_kib'] / 1024:.0f} MiB; "
        f"4N={4 * MEMORY_N}: heap peak {m4['tracemalloc_peak_bytes'] / 2**20:.1f} MiB, "
        f"max RSS {m4['max_rss_kib'] / 1024:.0f} MiB; "
        f"heap ratio {heap_ratio:.2f}, RSS growth {rss_growth_mib:.1f} MiB"
    )
    benchmark.extra_info.update(
        n_files=MEMORY_N,
        heap_peak_mib_n=round(m1["tracemalloc_peak_bytes"] / 2**20, 2),
        heap_peak_mib_4n=round(m4["tracemalloc_peak_bytes"] / 2**20, 2),
        max_rss_mib_n=round(m1["max_rss_kib"] / 1024),
        max_rss_mib_4n=round(m4["max_rss_kib"] / 1024),
    )
    assert heap_ratio < 1.5, f"Python heap peak grew {heap_ratio:.2f}x for 4x the files"
    assert rss_growth_mib < 64, f"resident memory grew {rss_growth_mib:.0f} MiB for 3N more files"
