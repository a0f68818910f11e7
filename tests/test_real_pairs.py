"""Route (b), ``make-real-pairs``: a photo with known lens, EXIF and true depth gives the thin-lens K.

The photo is the Middlebury 2014 Motorcycle scene rendered through the simulator with an 85 mm f/2
lens focused at 2.4 m on a full-frame sensor, saved as a JPEG with real EXIF (Pillow), harvested by
``refocus-bench harvest`` (ExifTool) and turned into a sample with the true depth.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from refocus_bench import optics
from refocus_bench.cli import main
from refocus_bench.errors import InvalidInputError
from refocus_bench.io import write_depth

pytestmark = pytest.mark.skipif(shutil.which("exiftool") is None, reason="harvest needs ExifTool")

FOCUS_M, F_MM, N = 2.4, 85.0, 2.0
SIZE = 192


def _save_jpeg(image: torch.Tensor, path, f_number: float) -> None:
    from PIL import Image

    arr = (image[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS R5"  # Make, Model
    ifd = exif.get_ifd(0x8769)
    ifd[0x829D], ifd[0x920A], ifd[0xA405] = f_number, F_MM, int(F_MM)  # FNumber, FocalLength, 35 mm equivalent
    Image.fromarray(arr).save(path, quality=95, exif=exif)


@pytest.fixture(scope="module")
def harvest(tmp_path_factory):
    from refocus_bench.simulators.render.rgbd import render_bokeh
    from refocus_bench.simulators.render.scenes import middlebury_motorcycle

    root = tmp_path_factory.mktemp("real")
    (root / "photos").mkdir()
    (root / "depth").mkdir()
    mb = middlebury_motorcycle()
    photo = render_bokeh(mb.image, mb.depth_m, optics.ThinLens(F_MM, N, FOCUS_M, 36.0))
    _save_jpeg(photo, root / "photos" / "moto.jpg", N)
    _save_jpeg(photo, root / "photos" / "zero_f.jpg", 0.0)  # EXIF f-number <= 0
    for stem in ("moto", "zero_f"):
        write_depth(root / "depth" / f"{stem}.exr", mb.depth_m)
    write_depth(root / "depth" / "small.exr", mb.depth_m[..., ::2, ::2])
    assert main(["harvest", str(root / "photos"), "-o", str(root / "harvest")]) == 0
    return root


def _run(root, out, *extra):
    args = ["make-real-pairs", str(root / "harvest"), "-o", str(out), "--depth-dir", str(root / "depth")]
    return main([*args, "--size", str(SIZE), *extra])


@pytest.fixture(scope="module")
def made(harvest, tmp_path_factory):
    out = tmp_path_factory.mktemp("made") / "out"
    assert _run(harvest, out) == 0
    return out


def test_exif_route_gives_thin_lens_k_and_the_focus_depth(harvest, made):
    import pyarrow.parquet as pq
    from datasets import load_dataset

    from refocus_bench.simulators.pairs.schema import pair_features

    rec = pq.read_table(harvest / "harvest" / "data" / "train-00000-of-00001.parquet").to_pylist()
    moto = next(r for r in rec if r["relative_path"] == "moto.jpg")
    ds = load_dataset(str(made), split="train", cache_dir=str(made.parent / "hf"))
    assert ds.features == pair_features((SIZE, SIZE)) and len(ds) == 1
    row = ds[0]
    side = row["target_params"]
    s = side["focus_distance_m"]
    assert abs(s / FOCUS_M - 1.0) <= 0.05, s
    scale = SIZE / 500  # cover-crop of 741 x 500 to SIZE x SIZE
    k_thin = optics.coc_gain_px_m(F_MM, N, s, moto["sensor_width_mm"], 741) * scale
    assert side["k_px_m"] == pytest.approx(k_thin, rel=1e-12)
    assert moto["sensor_width_mm"] == pytest.approx(36.0, rel=0.01)  # full frame from the 35 mm equivalent
    assert row["route"] == "exif" and side["mode"] == "physical" and side["f_number"] == N
    assert side["focus_method"] == "mask-median"
    depth = torch.tensor(np.asarray(row["depth_m"]))[None, None]
    defocus = optics.genrefocus_defocus_map(depth.double(), side["k_px_m"], s).float()
    assert torch.allclose(torch.tensor(np.asarray(row["target_defocus"], dtype=np.float32)), defocus[0, 0], atol=1e-6)
    prov = json.loads(row["provenance_json"])
    assert prov["file"]["sha256"] == moto["sha256"] and prov["deblur_model"] == "genrefocus.tiny"
    assert prov["confidence_terms"]["confidence"] == row["confidence"] and 0 < row["confidence"] <= 1
    assert prov["mask"] == "sharpness" and 0 < prov["mask_facts"]["area_fraction"] < 1


def test_photos_without_usable_exif_are_skipped_with_the_reason(made):
    lines = [json.loads(x) for x in (made / "manifest.jsonl").read_text().splitlines()]
    assert [m["name"] for m in lines] == ["moto.jpg", "zero_f.jpg"]
    zero = lines[1]
    assert zero["status"] == "skipped" and zero["reason"] == "implausible_exif"
    assert "f_number" in zero["detail"] and "FNumber=0" in zero["detail"]
    summary = json.loads((made / "summary.json").read_text())
    assert summary["counts"] == {"kept": 1, "skipped": 1}


def test_rerun_resumes_and_output_is_deterministic(harvest, made, tmp_path, capsys):
    capsys.readouterr()
    assert _run(harvest, made) == 0
    assert "0 shards made, 1 already done" in capsys.readouterr().out
    other = tmp_path / "again"
    assert _run(harvest, other) == 0
    a = sorted((made / "data").rglob("*.parquet"))
    b = sorted((other / "data").rglob("*.parquet"))
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


def test_mask_folder_and_bad_inputs(harvest, tmp_path, capsys):
    from PIL import Image

    masks = tmp_path / "masks"
    masks.mkdir()
    Image.fromarray(np.zeros((250, 370), np.uint8)).save(masks / "moto.png")  # wrong size
    out = tmp_path / "out"
    assert _run(harvest, out, "--mask-dir", str(masks)) == 0
    moto = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    assert moto["status"] == "skipped" and "masks/moto.png" in moto["detail"] and "same size" in moto["detail"]
    capsys.readouterr()
    assert main(["make-real-pairs", str(harvest / "photos"), "-o", str(tmp_path / "x"), "--depth-dir", "."]) == 2
    err = capsys.readouterr().err
    assert "is not a harvest folder" in err and "photos" in err
    assert not (tmp_path / "x").exists()


def test_depth_of_the_wrong_size_names_the_file(harvest):
    from refocus_bench.io import read_image
    from refocus_bench.simulators.pairs.real_inputs import depth_for

    photo = read_image(harvest / "photos" / "moto.jpg")
    with pytest.raises(InvalidInputError, match=r"small\.exr is 371x250 px but moto\.jpg is 741x500 px"):
        depth_for(photo, "moto.jpg", depth_file=harvest / "depth" / "small.exr")
