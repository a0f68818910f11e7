"""End-to-end harvest on photos made by the tests: every edge case, every field, resume, increments.

The photos are written with Pillow and ExifTool (tests/exif_photos.py), so every expected value
below is known from what was written; optics are checked against hand computations.
"""

from __future__ import annotations

import csv
import fcntl
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from refocus_bench.cli import main as cli_main
from refocus_bench.datasets import curation, harvest_schema
from refocus_bench.datasets.harvest import harvest

harvest_mod = sys.modules["refocus_bench.datasets.harvest"]  # the package re-exports the function by that name
from refocus_bench.datasets.harvest_schema import DATA_FILE, DATASET_COLUMNS
from refocus_bench.errors import InvalidInputError, MissingFileError

from . import exif_photos as ph


@pytest.fixture(autouse=True, scope="module")
def _exiftool_installed():
    """ExifTool is part of the set-up (scripts/setup.sh); its absence is a failure, not a skip."""
    if ph.EXIFTOOL is None:
        pytest.fail(
            "ExifTool is not installed: run `make setup` as root or `sudo apt-get install libimage-exiftool-perl`"
        )


FF_DIAG = math.hypot(36.0, 24.0)


def read_manifest(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "manifest.csv", newline="", encoding="utf-8") as fh:
        return {row["relative_path"]: row for row in csv.DictReader(fh)}


def read_rows(out: Path) -> dict[str, dict]:
    return {r["relative_path"]: r for r in pq.read_table(out / DATA_FILE).to_pylist()}


def assert_same_outputs(a: Path, b: Path) -> None:
    for name in (DATA_FILE, "photos.csv", "manifest.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    root = tmp_path_factory.mktemp("edge")
    photos = ph.build_edge_case_folder(root)
    result = harvest([photos], root / "out", sharpness=True, batch_size=4)
    return photos, root / "out", result


# ------------------------------------------------------------------------------ every path
def test_every_path_is_in_the_manifest_with_the_right_reason(edge):
    photos, out, result = edge
    manifest = read_manifest(out)
    assert set(manifest) == set(ph.EXPECTED_STATUS)
    for name, (status, reason) in ph.EXPECTED_STATUS.items():
        assert (manifest[name]["status"], manifest[name]["reason"] or None) == (status, reason), name
    assert manifest["dup copy.jpg"]["duplicate_of"] == str(photos / "canon 50mm.jpg")
    assert manifest["linked.jpg"]["duplicate_of"] == str(photos / "canon 50mm.jpg")
    assert "end-of-image" in manifest["truncated.jpg"]["detail"]
    assert "StripOffsets" in manifest["truncated_raw.nef"]["detail"]
    assert manifest["empty.jpg"]["detail"] == "empty file (0 bytes)"
    assert "does-not-exist.jpg" in manifest["broken_link.jpg"]["detail"]
    assert "leads back to" in manifest["sub/back"]["detail"]
    assert sum(result.counts.values()) == len(ph.EXPECTED_STATUS) == result.files_total
    assert result.counts["ok"] == sum(s == "ok" for s, _ in ph.EXPECTED_STATUS.values())


def test_dataset_has_explicit_features_and_matches_csv_and_card(edge):
    from datasets import Dataset

    _, out, result = edge
    ds = Dataset.from_parquet(str(out / DATA_FILE))
    assert ds.features == harvest_schema.DATASET_FEATURES
    assert ds.features["k_px_m"].dtype == "float64" and ds.features["focus_distance_reliable"].dtype == "bool"
    assert tuple(ds.column_names) == DATASET_COLUMNS
    assert len(ds) == result.counts["ok"]
    with open(out / "photos.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["path"] for r in rows] == ds["path"]
    card = (out / "README.md").read_text()
    assert "CC BY-SA 3.0" in card and "`k_px_m`" in card and DATA_FILE in card
    umask = os.umask(0)
    os.umask(umask)
    assert (out / "manifest.csv").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


# ------------------------------------------------------------------------------ field values
def test_canon_jpeg_every_field(edge):
    photos, _, _ = edge
    row = read_rows(edge[1])["canon 50mm.jpg"]
    f, n, s, w, h = 50.0, 1.8, 2.0, *ph.CANON_SIZE
    data = (photos / "canon 50mm.jpg").read_bytes()
    a = f / n
    c = FF_DIAG / 1442
    hyper = (f * f / (n * c) + f) / 1000
    k_mm = f * f * (s * 1000) / (2 * n * (s * 1000 - f)) * (w / 36.0)  # GenRefocus's formula, in px*mm
    expected = {
        "path": str(photos / "canon 50mm.jpg"),
        "relative_path": "canon 50mm.jpg",
        "size_bytes": len(data),
        "mtime_ns": (photos / "canon 50mm.jpg").stat().st_mtime_ns,
        "sha256": __import__("hashlib").sha256(data).hexdigest(),
        "file_type": "JPEG",
        "mime_type": "image/jpeg",
        "make": "Canon",
        "model": "Canon EOS 5D Mark II",
        "lens_model": "EF50mm f/1.8 II",
        "f_number": n,
        "focal_length_mm": f,
        "focal_length_35mm_mm": 50.0,
        "crop_factor": 1.0,
        "sensor_width_mm": 36.0,
        "sensor_height_mm": 24.0,
        "sensor_source": "35mm_equivalent",
        "exiftool_scale_factor_35efl": 1.0,  # ExifTool's own 35 mm ratio, the same number
        "own_crop_factor": 1.0,
        "own_crop_factor_source": "35mm_equivalent",
        "focus_distance_tags": '{"EXIF:ExifIFD:SubjectDistance": 2}',
        "pixel_decoder": "Pillow JPEG",
        "no_pixels_reason": None,
        "focus_distance_m": s,
        "focus_distance_tag": "EXIF:SubjectDistance",
        "focus_distance_reliable": False,
        "focus_distance_lower_m": None,
        "focus_distance_upper_m": None,
        "orientation": 1,
        "image_width_px": w,
        "image_height_px": h,
        "exposure_time_s": 0.005,
        "iso": 400,
        "capture_time": "2024-05-01T12:34:56.25+01:00",
        "aperture_diameter_mm": a,
        "pixels_per_mm": w / 36.0,
        "coc_limit_mm": c,
        "hyperfocal_distance_m": hyper,
        "dof_near_m": s * (hyper - f / 1000) / (hyper + s - 2 * f / 1000),
        "dof_far_m": s * (hyper - f / 1000) / (hyper - s),
        "coc_inf_px": a * f / (s * 1000 - f) / 2 * (w / 36.0),
        "k_px_m": k_mm / 1000,
        "k_inf_px_m": (f / 1000) ** 2 / (2 * n) * (w / 36.0 * 1000),
        "exif_warning": None,
        "notes": None,
        "sharpness_scale": 1,
    }
    assert set(expected) | {"sharpness_laplacian_var"} == set(row)
    for key, value in expected.items():
        if isinstance(value, float):
            assert row[key] == pytest.approx(value, rel=1e-9), key
        else:
            assert row[key] == value, key
    assert row["sharpness_laplacian_var"] > 0.1  # a random texture is very sharp


def test_phone_portrait_orientation_crop_and_xmp_focus(edge):
    row = read_rows(edge[1])["phone ü日本 portrait.jpg"]
    assert (row["image_width_px"], row["image_height_px"], row["orientation"]) == (300, 400, 6)
    crop = 26.0 / 4.25
    assert row["crop_factor"] == pytest.approx(crop)
    assert row["sensor_width_mm"] == pytest.approx(FF_DIAG / crop * 0.8)  # 4:3 -> long side = 0.8 diagonal
    assert (row["focus_distance_m"], row["focus_distance_tag"]) == (1.5, "XMP:ApproximateFocusDistance")
    k_mm = 4.25**2 * 1500 / (2 * 1.6 * (1500 - 4.25)) * (400 / row["sensor_width_mm"])
    assert row["k_px_m"] * 1000 == pytest.approx(k_mm)
    assert row["capture_time"] == "2023-12-24T18:00:00"


def test_raw_like_files_lensfun_and_focal_plane(edge):
    rows = read_rows(edge[1])
    nef = rows["nikon_raw.nef"]
    assert (nef["file_type"], nef["sensor_source"]) == ("NEF", "lensfun")
    assert nef["crop_factor"] == pytest.approx(1.523, abs=1e-3)
    assert nef["k_px_m"] is None and nef["focus_distance_m"] is None  # no focus distance: only the coefficient
    ppm = 300 / nef["sensor_width_mm"] * 1000
    assert nef["k_inf_px_m"] == pytest.approx(0.035**2 / (2 * 2.8) * ppm)
    # this NEF is a plain TIFF whose full image Pillow reads (real RAW files: tests/test_exif_corpus.py)
    assert nef["pixel_decoder"] == "Pillow TIFF" and nef["sharpness_laplacian_var"] is not None
    dng = rows["acme_focalplane.dng"]
    # ExifTool's ScaleFactor35efl comes from the same focal-plane resolution: used, and equal to the own estimate
    assert (dng["file_type"], dng["sensor_source"]) == ("DNG", "exiftool_scale_factor")
    assert dng["own_crop_factor_source"] == "focal_plane_resolution"
    assert dng["own_crop_factor"] == pytest.approx(dng["exiftool_scale_factor_35efl"], rel=1e-6)
    assert (dng["sensor_width_mm"], dng["sensor_height_mm"]) == (pytest.approx(6.0), pytest.approx(4.0))
    assert dng["pixels_per_mm"] == pytest.approx(50.0) and dng["crop_factor"] == pytest.approx(
        FF_DIAG / math.hypot(6, 4)
    )
    assert dng["k_px_m"] == pytest.approx(0.012**2 * 0.8 / (2 * 4 * (0.8 - 0.012)) * 50_000)
    tif, png = rows["tiff_photo.tif"], rows["png_with_exif.png"]
    assert (tif["file_type"], tif["crop_factor"]) == ("TIFF", pytest.approx(53 / 35))
    assert (png["file_type"], png["f_number"], png["focal_length_mm"], png["sensor_source"]) == (
        "PNG",
        2.8,
        85.0,
        "lensfun",
    )


def test_odd_rationals_and_impossible_focus_are_nulls_with_reasons(edge):
    rows = read_rows(edge[1])
    odd = rows["odd_rationals.jpg"]
    assert odd["f_number"] is None and odd["focal_length_mm"] is None and odd["exposure_time_s"] is None
    assert math.isinf(odd["focus_distance_m"])  # 5/0 reads as infinity
    assert "FNumber='undef'" in odd["notes"] and "FocalLength=-50" in odd["notes"]
    close = rows["too_close.jpg"]
    assert close["focus_distance_m"] is None and close["k_px_m"] is None
    assert "not beyond the focal length" in close["notes"]
    assert close["k_inf_px_m"] == pytest.approx(0.2**2 / (2 * 4.0) * (150 / 36.0 * 1000))


# --------------------------------------------------------------------------- resume, increments
def test_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    ph.build_simple_folder(photos, 40)
    harvest([photos], tmp_path / "full", batch_size=8)

    real_write = harvest_mod._write_part
    calls = []

    def crash_after_two(*args, **kw):
        if len(calls) == 2:
            raise RuntimeError("simulated crash")
        calls.append(1)
        return real_write(*args, **kw)

    monkeypatch.setattr(harvest_mod, "_write_part", crash_after_two)
    with pytest.raises(RuntimeError, match="simulated crash"):
        harvest([photos], tmp_path / "resumed", batch_size=8)
    monkeypatch.setattr(harvest_mod, "_write_part", real_write)
    assert not (tmp_path / "resumed" / "manifest.csv").exists()
    result = harvest([photos], tmp_path / "resumed", batch_size=8)
    assert result.files_read == 40 - 16  # two batches of 8 survived the crash
    assert_same_outputs(tmp_path / "full", tmp_path / "resumed")
    assert len(pq.read_table(tmp_path / "resumed" / DATA_FILE)) == 40  # no duplicate rows


def test_resume_after_sigkill_of_the_cli_equals_an_uninterrupted_run(tmp_path):
    photos = tmp_path / "photos"
    ph.build_simple_folder(photos, 400, size=(32, 24))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [
        sys.executable,
        "-m",
        "refocus_bench.cli",
        "harvest",
        str(photos),
        "-o",
        str(tmp_path / "killed"),
        "--batch-size",
        "4",
        "-q",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    parts = tmp_path / "killed" / "state" / "parts"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and len(list(parts.glob("part-*.parquet"))) < 5:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    n_parts = len(list(parts.glob("part-*.parquet")))
    assert 5 <= n_parts < 100 and not (tmp_path / "killed" / "manifest.csv").exists(), "not killed mid-run"
    result = harvest([photos], tmp_path / "killed", batch_size=4)
    assert 0 < result.files_read < 400
    harvest([photos], tmp_path / "full", batch_size=64)
    assert_same_outputs(tmp_path / "full", tmp_path / "killed")
    assert list((tmp_path / "killed" / "state" / "parts").iterdir()) == list(parts.glob("part-*.parquet"))
    assert len(list(parts.iterdir())) == 1  # compacted, no temporary files left


def test_incremental_run_reads_only_new_and_changed_files(tmp_path, monkeypatch):
    photos = tmp_path / "photos"
    ph.build_simple_folder(photos, 30)
    harvest([photos], tmp_path / "out")
    new = ph.build_simple_folder(photos, 10, start=30)
    changed = photos / "img_00003.jpg"
    shutil.copyfile(photos / "img_00004.jpg", changed)  # new content -> new size/mtime, now a duplicate
    os.utime(changed, ns=(time.time_ns(), time.time_ns() + 10**9))
    (photos / "img_00005.jpg").unlink()
    read = []
    real_inspect = curation.inspect_file
    monkeypatch.setattr(curation, "inspect_file", lambda p, **kw: read.append(Path(p)) or real_inspect(p, **kw))
    result = harvest([photos], tmp_path / "out")
    assert sorted(read) == sorted(new + [changed]) and result.files_read == 11
    monkeypatch.setattr(curation, "inspect_file", real_inspect)
    harvest([photos], tmp_path / "fresh")
    assert_same_outputs(tmp_path / "fresh", tmp_path / "out")
    manifest = read_manifest(tmp_path / "out")
    assert "img_00005.jpg" not in manifest and manifest["img_00004.jpg"]["reason"] == "duplicate"
    assert harvest([photos], tmp_path / "out").files_read == 0


def test_filters_apply_without_rereading(edge, tmp_path):
    photos, out, _ = edge
    shutil.copytree(out, tmp_path / "out")
    result = harvest([photos], tmp_path / "out", sharpness=True, filters=["coc_inf_px>=1"])
    assert result.files_read == 0
    manifest = read_manifest(tmp_path / "out")
    assert set(read_rows(tmp_path / "out")) == {"canon 50mm.jpg", "acme_focalplane.dng"}  # 5.9 px and 1.14 px
    assert manifest["phone ü日本 portrait.jpg"]["reason"] == "filtered"
    assert "coc_inf_px" in manifest["nikon_raw.nef"]["detail"] and "null" in manifest["nikon_raw.nef"]["detail"]


# --------------------------------------------------------------------------- odd names, rights
def test_names_exiftool_cannot_take_as_arguments(tmp_path):
    photos = tmp_path / "photos"
    src = ph.build_simple_folder(photos, 2)
    os.rename(src[0], photos / "new\nline.jpg")
    os.rename(src[1], os.fsdecode(bytes(photos) + b"/latin1 \xe9t\xe9.jpg"))  # not valid UTF-8
    harvest([photos], tmp_path / "out")
    manifest = read_manifest(tmp_path / "out")
    assert {r["status"] for r in manifest.values()} == {"ok"}
    assert set(manifest) == {"new\nline.jpg", "latin1 \\xe9t\\xe9.jpg"}
    assert all(r["f_number"] == 1.8 for r in read_rows(tmp_path / "out").values())


def test_unreadable_file_is_reported(tmp_path):
    """A file without read permission: run as an unprivileged user when the tests run as root."""
    base = Path(tempfile.mkdtemp(prefix="harvest-unreadable-", dir="/tmp"))  # traversable by everyone
    try:
        photos = base / "photos"
        ph.build_simple_folder(photos, 2)
        (photos / "img_00001.jpg").chmod(0)
        base.chmod(0o755)
        photos.chmod(0o755)
        out = base / "out"
        if os.geteuid() == 0:
            harvest([photos], base / "warm")  # import everything lazily loaded before dropping rights
            out.mkdir()
            out.chmod(0o777)
            pid = os.fork()
            if pid == 0:  # child: become nobody, harvest, exit without running pytest's teardown
                code = 1
                try:
                    os.setgroups([])
                    os.setgid(65534)
                    os.setuid(65534)
                    harvest([photos], out)
                    code = 0
                finally:
                    os._exit(code)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
        else:
            harvest([photos], out)
        manifest = read_manifest(out)
        assert manifest["img_00001.jpg"]["reason"] == "unreadable"
        assert "permission" in manifest["img_00001.jpg"]["detail"]
        assert manifest["img_00000.jpg"]["status"] == "ok"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_output_folder_inside_the_input_is_not_harvested(tmp_path):
    ph.build_simple_folder(tmp_path, 3)
    harvest([tmp_path], tmp_path / "out")
    result = harvest([tmp_path], tmp_path / "out")
    assert result.files_total == 3 and result.files_read == 0


# ----------------------------------------------------------------------------- errors and CLI
def test_bad_arguments_name_the_argument(tmp_path):
    with pytest.raises(MissingFileError, match="nope"):
        harvest([tmp_path / "nope"], tmp_path / "out")
    with pytest.raises(InvalidInputError, match="batch_size"):
        harvest([tmp_path], tmp_path / "out", batch_size=0)
    with pytest.raises(InvalidInputError, match="did you mean coc_inf_px"):
        harvest([tmp_path], tmp_path / "out", filters=["coc_inf>=8"])
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidInputError, match="not a folder"):
        harvest([tmp_path], tmp_path / "file")


def test_a_second_harvest_into_the_same_folder_is_refused(tmp_path):
    ph.build_simple_folder(tmp_path / "p", 1)
    (tmp_path / "out" / "state").mkdir(parents=True)
    with open(tmp_path / "out" / "state" / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        with pytest.raises(InvalidInputError, match="in use by another harvest"):
            harvest([tmp_path / "p"], tmp_path / "out")


def test_cli_harvest_and_its_errors(tmp_path, capsys):
    ph.build_simple_folder(tmp_path / "p", 3)
    assert cli_main(["harvest", str(tmp_path / "p"), "-o", str(tmp_path / "out"), "-q", "--filter", "f_number<=2"]) == 0
    assert "3 ok" in capsys.readouterr().out
    assert cli_main(["harvest", str(tmp_path / "missing"), "-o", str(tmp_path / "o2")]) == 2
    assert "missing" in capsys.readouterr().err
    code = cli_main(["harvest", str(tmp_path / "p"), "-o", str(tmp_path / "o3"), "--exiftool", "/nonexistent/exiftool"])
    assert code == 2
    assert "sudo apt-get install libimage-exiftool-perl" in capsys.readouterr().err


def test_reader_survives_exiftool_failures_file_by_file(tmp_path, monkeypatch):
    from refocus_bench.datasets.exif import classify_tags
    from refocus_bench.datasets.exiftool import ExifToolReader

    paths = [str(p) for p in ph.build_simple_folder(tmp_path / "p", 3)]
    os.rename(paths[2], tmp_path / "p" / "new\nline.jpg")  # read through an alias, also after a restart
    paths[2] = str(tmp_path / "p" / "new\nline.jpg")
    with ExifToolReader() as reader:
        real = reader._execute

        def flaky(args):
            if len(args) > 1 or "img_00001" in args[0]:  # the batch call and one file "crash" ExifTool
                reader._stop()
                raise RuntimeError("exiftool died")
            return real(args)

        monkeypatch.setattr(reader, "_execute", flaky)
        got = reader.read(paths)
    assert [g["EXIF:ExifIFD:FNumber"] for g in (got[0], got[2])] == [1.8, 1.8]
    assert "ExifTool failed on this file" in got[1]["ExifTool:Error"]
    assert classify_tags(got[1])[0] == "corrupt"


def test_changing_per_file_options_rereads_once_then_resumes(tmp_path):
    ph.build_simple_folder(tmp_path / "p", 20)
    assert harvest([tmp_path / "p"], tmp_path / "out", sharpness=True).files_read == 20
    assert read_rows(tmp_path / "out")["img_00000.jpg"]["sharpness_laplacian_var"] > 0
    assert harvest([tmp_path / "p"], tmp_path / "out").files_read == 20  # other options: read again
    assert read_rows(tmp_path / "out")["img_00000.jpg"]["sharpness_laplacian_var"] is None
    assert harvest([tmp_path / "p"], tmp_path / "out").files_read == 0
    assert len(list((tmp_path / "out" / "state" / "parts").iterdir())) == 1


def test_reads_sent_ahead_survive_exiftool_dying_before_their_answers(tmp_path):
    from refocus_bench.datasets.exiftool import ExifToolReader

    paths = [str(p) for p in ph.build_simple_folder(tmp_path / "p", 6)]
    with ExifToolReader() as reader:
        first, second = reader.submit(paths[:3]), reader.submit(paths[3:])
        os.kill(reader.pid, signal.SIGKILL)
        got = reader.collect(first) + reader.collect(second)
        assert reader.version == reader.version.strip() and reader.version[0].isdigit()
    assert [g["SourceFile"] for g in got] == paths
    assert [g["EXIF:ExifIFD:FNumber"] for g in got] == [1.8] * 6


def test_the_command_starts_exiftool_before_the_heavy_imports(tmp_path):
    """Perl's start-up overlaps the imports of numpy, pyarrow, Pillow and lensfun: none is loaded before it."""
    ph.build_simple_folder(tmp_path / "p", 3)
    code = """
import sys
import refocus_bench.datasets.exiftool as E
start = E._Process.__init__
def spy(self, *args):
    heavy = [m for m in ("numpy", "pyarrow", "PIL", "lensfunpy", "torch", "pandas") if m in sys.modules]
    print("loaded when ExifTool started:", heavy, file=sys.stderr)
    start(self, *args)
E._Process.__init__ = spy
from refocus_bench.cli import main
raise SystemExit(main(sys.argv[1:]))
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    run = subprocess.run(
        [sys.executable, "-c", code, "harvest", str(tmp_path / "p"), "-o", str(tmp_path / "out"), "-q"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "loaded when ExifTool started: []" in run.stderr
    assert "3 ok" in run.stdout
