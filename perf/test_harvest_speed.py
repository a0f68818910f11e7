"""``refocus-bench harvest`` against raw ``exiftool -json -n``, start-up included, on 20 and 200 JPEGs.

Run with ``make bench``. Both are whole commands in fresh processes, as a user runs them: the
harvest command (Python start-up, imports, the scan, one ExifTool process, hashing, integrity
checks, normalisation, Pillow's header probe, part files and the Parquet/CSV/manifest outputs) into
a fresh folder, and one ``exiftool -json -n -@ LIST`` with its output discarded. They run
alternately in the same session and are compared by their fastest rounds, the least disturbed by
other load, after one unmeasured round of each (the file cache; Python's bytecode cache, which an
installed package has from its installation and an environment with ``PYTHONDONTWRITEBYTECODE``
would otherwise compile anew each round: it goes to ``PYTHONPYCACHEPREFIX`` in the test's folder).
The ratio is raw time / harvest time (1.0: as fast as raw ExifTool). The CPU seconds
of each (user + system, the harvest's ExifTool included) are printed beside them: on a machine busy
with other work they say more than wall time. The photos are 640 x 427 JPEGs of about 200 kB with
camera EXIF, like those of ``perf/test_bench_harvest.py``.
"""

from __future__ import annotations

import os
import resource
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


def _cpu_s() -> float:
    """CPU seconds (user + system) of the finished child processes and their descendants."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the command and its children, ExifTool included)."""
    c0, t0 = _cpu_s(), time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    return time.perf_counter() - t0, _cpu_s() - c0


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


@pytest.fixture(scope="module")
def python_env(tmp_path_factory) -> dict[str, str]:
    """The environment of the harvest command: bytecode cached, as in an installed package."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path_factory.mktemp("pycache"))
    return env


def _ratio(folder: Path, listing: Path, out: Path, env: dict[str, str]) -> dict[str, float]:
    """Fastest wall and CPU seconds of raw ExifTool and of the harvest over alternating rounds."""
    raw, ours = [], []
    for i in range(ROUNDS + 1):
        raw.append(_time([EXIFTOOL, "-json", "-n", "-@", str(listing)]))
        shutil.rmtree(out, ignore_errors=True)
        ours.append(_time([*HARVEST_CMD, str(folder), "-o", str(out), "-q"], env))
        if i == 0:  # the warm-up round
            raw.clear()
            ours.clear()
    return {
        "raw_s": min(w for w, _ in raw),
        "harvest_s": min(w for w, _ in ours),
        "raw_cpu_s": min(c for _, c in raw),
        "harvest_cpu_s": min(c for _, c in ours),
    }


def test_harvest_speed_against_raw_exiftool(benchmark, folders, python_env):
    result = benchmark.pedantic(lambda: {n: _ratio(*folders[n], python_env) for n in SIZES}, rounds=1)
    ratios = {n: r["raw_s"] / r["harvest_s"] for n, r in result.items()}
    print(f"\nload average {os.getloadavg()[0]:.1f}")
    for n, r in result.items():
        print(
            f"{n} JPEGs: raw exiftool -json -n {r['raw_s']:.2f} s ({r['raw_cpu_s']:.2f} s CPU), "
            f"harvest {r['harvest_s']:.2f} s ({r['harvest_cpu_s']:.2f} s CPU), ratio {ratios[n]:.2f}"
        )
        benchmark.extra_info[f"ratio_{n}"] = round(ratios[n], 3)
        for key, value in r.items():
            benchmark.extra_info[f"{key}_{n}"] = round(value, 3)
    assert ratios[200] >= MIN_RATIO_200, f"harvest reaches {ratios[200]:.2f} of raw ExifTool's speed on 200 JPEGs"
