"""The harvest against ``exiftool -n`` on real files of many makers and formats (tests/data/exif_corpus).

Every f-number, focal length, 35 mm focal length, ExifTool scale factor, image size and focus
distance that plain ``exiftool -j -n`` reports comes through equal (:mod:`tests.exif_corpus`), and
the per-format table in docs/datasets.md is the one this corpus gives. Also: which files are images
(PSD, EPS, TGA) and why RAW, video and light-field rows carry no pixels; the harvest's start-up
imports no torch; and the command line's errors name the flags.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from refocus_bench.datasets.harvest import harvest
from refocus_bench.datasets.harvest_schema import DATA_FILE
from tests.exif_corpus import CORPUS, CORPUS_DOCS, compare, corpus_files, exiftool_values, markdown_table

EXIFTOOL = shutil.which("exiftool")
ROOT = Path(__file__).resolve().parents[1]
CAMERA_RAW = ("CR2", "CR3", "CRW", "NEF", "RAF", "RW2", "X3F", "MRW", "IIQ", "DNG", "RAW")


@pytest.fixture(autouse=True, scope="module")
def _exiftool_installed():
    """ExifTool is part of the set-up (scripts/setup.sh); its absence is a failure, not a skip."""
    if EXIFTOOL is None:
        pytest.fail(
            "ExifTool is not installed: run `make setup` as root or `sudo apt-get install libimage-exiftool-perl`"
        )


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("corpus")
    photos = tmp / "photos"
    shutil.copytree(CORPUS, photos, ignore=shutil.ignore_patterns(*CORPUS_DOCS))
    Image.fromarray(np.full((6, 9, 3), 90, np.uint8)).save(photos / "pillow.tga")  # ExifTool: unknown type
    harvest([photos], tmp / "out")
    rows = {Path(r["path"]).name: r for r in pq.read_table(tmp / "out" / DATA_FILE).to_pylist()}
    with open(tmp / "out" / "manifest.csv", newline="", encoding="utf-8") as fh:
        manifest = {Path(m["path"]).name: m for m in csv.DictReader(fh)}
    return rows, manifest


def test_every_value_exiftool_reports_comes_through(corpus_run):
    rows, _ = corpus_run
    table, problems = compare(exiftool_values(EXIFTOOL, corpus_files()), rows)
    assert problems == []
    total = {c: sum(t[c] for t in table.values()) for c in ("values", "equal", "invalid", "missing")}
    assert total["missing"] == 0 and total["values"] == total["equal"] + total["invalid"] > 200
    assert sum(t["rows"] for t in table.values()) >= 60
    docs = (ROOT / "docs" / "datasets.md").read_text(encoding="utf-8")
    assert markdown_table(table) in docs, "docs/datasets.md: the corpus table is out of date:\n" + markdown_table(table)


def test_readme_names_the_source_of_every_file():
    """Every corpus file is listed in its README with its size and sha256; nothing listed is absent."""
    readme = (CORPUS / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \| (\d+) \| `([0-9a-f]{64})` \|$", readme, re.M)
    listed = {name: (int(size), sha) for name, size, sha in rows}
    found = {p.name: (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest()) for p in corpus_files()}
    assert listed == found
    assert "t/images/" in readme and "Artistic" in readme and (CORPUS / "LICENSE-Artistic").is_file()
    assert sum(p.stat().st_size for p in corpus_files()) < 3_000_000


def test_invalid_values_are_null_with_a_note(corpus_run):
    rows, _ = corpus_run
    avi = rows["Pentax.avi"]  # FNumber 0
    assert avi["f_number"] is None and "FNumber=0" in avi["notes"]
    red = rows["Red.r3d"]  # FocusDistance -0.001: kept in focus_distance_tags, not used
    assert json.loads(red["focus_distance_tags"]) == {"Red:FocusDistance": -0.001} and red["focus_distance_m"] is None


def test_formats_images_and_pixels(corpus_run):
    rows, manifest = corpus_run
    for name in ("Photoshop.psd", "PostScript.eps", "pillow.tga", "PNG.png", "GIF.gif"):
        assert manifest[name]["reason"] == "no_exif", (name, manifest[name]["detail"])  # images, no camera data
    for name in ("MP3.mp3", "Text1.txt", "Font.ttf", "HTML.html"):
        assert manifest[name]["reason"] == "not_image", name
    for name in ("QuickTime.mov", "Red.r3d", "Lytro.lfp", "XMP.xmp", "MIE.mie", "MIFF.miff", "PDF.pdf"):
        assert manifest[name]["status"] == "ok", (name, manifest[name]["detail"])
    raw = [r for r in rows.values() if r["file_type"] in CAMERA_RAW]
    assert len(raw) >= 10
    for r in raw:
        assert r["pixel_decoder"] is None and r["no_pixels_reason"], r["path"]
    for name in ("QuickTime.mov", "Red.r3d", "Pentax.avi"):
        assert "video" in rows[name]["no_pixels_reason"]
    assert rows["Lytro.lfp"]["pixel_decoder"] is None and "LFP" in rows["Lytro.lfp"]["no_pixels_reason"]
    jpegs = [r for r in rows.values() if r["file_type"] == "JPEG"]
    assert jpegs and all(r["pixel_decoder"] and r["pixel_decoder"].startswith("Pillow") for r in jpegs)


def test_crop_factor_own_and_exiftools(corpus_run):
    rows, _ = corpus_run
    oly = rows["Olympus.jpg"]  # no 35 mm focal length: ExifTool's maker-note scale factor is used
    assert oly["sensor_source"] == "exiftool_scale_factor"
    assert oly["crop_factor"] == oly["exiftool_scale_factor_35efl"] == pytest.approx(5.547, abs=1e-3)
    for r in rows.values():
        if r["crop_factor"] is not None and r["exiftool_scale_factor_35efl"] is not None:
            if (
                r["own_crop_factor"] is not None
                and abs(r["own_crop_factor"] / r["exiftool_scale_factor_35efl"] - 1) > 0.05
            ):
                assert "differ by" in r["notes"] and "used" in r["notes"], r["path"]


_PROBE = r"""
import sys
from refocus_bench.datasets.harvest import harvest
heavy = ("torch", "pandas", "datasets", "cv2")
print(",".join(m for m in heavy if m in sys.modules) or "none")
harvest([sys.argv[1]], sys.argv[2])
harvest([sys.argv[1]], sys.argv[2])  # a rerun: reads the parts back
print(",".join(m for m in heavy if m in sys.modules) or "none")
"""


def test_harvest_imports_no_torch_and_no_pandas(tmp_path):
    """Importing the harvest, harvesting the whole corpus and rerunning load neither torch nor pandas."""
    photos = tmp_path / "photos"
    shutil.copytree(CORPUS, photos, ignore=shutil.ignore_patterns(*CORPUS_DOCS))
    res = subprocess.run(
        [sys.executable, "-c", _PROBE, str(photos), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert res.stdout.strip().splitlines()[-2:] == ["none", "none"]


@pytest.mark.parametrize(
    "extra, flag",
    [
        (["--filter", "coc_inf_px>>8"], "--filter"),
        (["--filter", "coc_inf_px>=abc"], "--filter"),
        (["--exiftool", "/no/such/exiftool"], "--exiftool"),
    ],
)
def test_cli_errors_name_the_flag_and_leave_nothing(tmp_path, extra, flag):
    out = tmp_path / "new" / "out"
    cmd = [sys.executable, "-c", "from refocus_bench.cli import main; raise SystemExit(main())", "harvest"]
    res = subprocess.run([*cmd, str(CORPUS / "Canon.jpg"), "-o", str(out), *extra], capture_output=True, text=True)
    assert res.returncode != 0 and flag in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "new").exists()


def test_cli_unwritable_out_and_missing_input(tmp_path):
    cmd = [sys.executable, "-c", "from refocus_bench.cli import main; raise SystemExit(main())", "harvest"]
    res = subprocess.run(
        [*cmd, str(CORPUS / "Canon.jpg"), "-o", "/proc/refocus-bench/out"], capture_output=True, text=True
    )
    assert res.returncode != 0 and "--out" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    res = subprocess.run([*cmd, str(tmp_path / "missing"), "-o", str(tmp_path / "out")], capture_output=True, text=True)
    assert res.returncode != 0 and "missing" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()
