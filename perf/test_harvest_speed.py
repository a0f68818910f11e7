"""``refocus-bench harvest`` against raw ``exiftool -json -n``, start-up included, on 20 and 200 JPEGs.

Run with ``make bench``. Both are whole commands in fresh processes, as a user runs them: the
harvest command (Python start-up, imports, the scan, one ExifTool process, hashing, integrity
checks, normalisation, Pillow's header probe, part files and the Parquet/CSV/manifest outputs) into
a fresh folder, and one ``exiftool -json -n -@ LIST`` with its output discarded. They run
alternately in the same session and are compared by their fastest rounds, the least disturbed by
other load. The ratio is raw time / harvest time (1.0: as fast as raw ExifTool). The photos are
those of ``perf/test_bench_harvest.py`` (640 x 427 JPEGs of about 200 kB with camera EXIF).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

EXIFTOOL = shutil.which("exiftool")
pytestmark = pytest.mark.skipif(EXIFTOOL is None, reason="needs ExifTool: sudo apt-get install libimage-exiftool-perl")

SIZES = (20, 200)
ROUNDS = 5
MIN_RATIO_200 = 0.8
HARVEST_CMD = [sys.executable, "-c", "from refocus_bench.cli import main; raise SystemExit(main())", "harvest"]


def _photos(folder: Path, n: int) -> list[Path]:
    """``n`` distinct 640 x 427 JPEGs with camera EXIF."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    base = (rng.random((427, 640, 3)) * 255).astype(np.uint8)
    paths = []
    for i in range(n):
        img = base.copy()
        img[0, :16, 0] = np.frombuffer(i.to_bytes(16, "little"), np.uint8)
        ex = Image.Exif()
        ex[0x010F], ex[0x0110] = "Canon", "Canon EOS 5D Mark II"
        ifd = ex.get_ifd(0x8769)
        ifd[0x829D], ifd[0x920A], ifd[0x9206] = 1.8, 50.0, 2.0 + i % 7
        p = folder / f"img_{i:05d}.jpg"
        Image.fromarray(img).save(p, quality=90, exif=ex)
        paths.append(p)
    return paths


def _time(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("speed")
    out = {}
    for n in SIZES:
        paths = _photos(root / f"photos{n}", n)
        listing = root / f"files{n}.txt"
        listing.write_text("".join(f"{p}\n" for p in paths))
        out[n] = (root / f"photos{n}", listing, root / f"out{n}")
    return out


def _ratio(folder: Path, listing: Path, out: Path) -> tuple[float, float]:
    """(fastest raw ExifTool seconds, fastest harvest seconds) over alternating rounds."""
    raw, ours = [], []
    for _ in range(ROUNDS):
        raw.append(_time([EXIFTOOL, "-json", "-n", "-@", str(listing)]))
        shutil.rmtree(out, ignore_errors=True)
        ours.append(_time([*HARVEST_CMD, str(folder), "-o", str(out), "-q"]))
    return min(raw), min(ours)


def test_harvest_speed_against_raw_exiftool(benchmark, folders):
    result = benchmark.pedantic(lambda: {n: _ratio(*folders[n]) for n in SIZES}, rounds=1)
    ratios = {n: raw / ours for n, (raw, ours) in result.items()}
    for n, (raw, ours) in result.items():
        print(f"\n{n} JPEGs: raw exiftool -json -n {raw:.2f} s, harvest {ours:.2f} s, ratio {raw / ours:.2f}")
        benchmark.extra_info[f"ratio_{n}"] = round(raw / ours, 3)
        benchmark.extra_info[f"raw_s_{n}"] = round(raw, 3)
        benchmark.extra_info[f"harvest_s_{n}"] = round(ours, 3)
    assert ratios[200] >= MIN_RATIO_200, f"harvest reaches {ratios[200]:.2f} of raw ExifTool's speed on 200 JPEGs"
