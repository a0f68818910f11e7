"""``scripts/tiny_route_pairs.py``: pair datasets of every route read as genrefocus.tiny BokehNet pairs.

Checked on outputs made here: ``make-pairs`` (route a, non-square, so the crop and the K scaling show),
``fit-blur`` (route c) and ``make-real-pairs`` (route b, a JPEG with EXIF harvested by ExifTool).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from refocus_bench.cli import main
from refocus_bench.errors import InvalidInputError
from refocus_bench.io import write_depth, write_image
from refocus_bench.models.genrefocus.synthetic import OUTPUT_APERTURES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pair_fixtures import read_records  # noqa: E402


def _load_script():
    path = Path(__file__).resolve().parent.parent / "scripts" / "tiny_route_pairs.py"
    spec = importlib.util.spec_from_file_location("tiny_route_pairs", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


trp = _load_script()
KEYS = {"aif": torch.float32, "depth": torch.float32, "k_out": torch.float64, "focus_out": torch.float64}
KEYS.update(aperture_out=torch.int64, bokeh=torch.float32)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _make_pairs(out: Path, aperture: str) -> None:
    args = ["make-pairs", "-o", str(out), "--size", "56x40", "--num-scenes", "2", "--pairs-per-scene", "2"]
    assert main([*args, "--tasks", "deblur,bokeh", "--aperture", aperture, "--seed", "3", "--workers", "1", "-q"]) == 0


@pytest.fixture(scope="module")
def route_a(tmp_path_factory):
    out = tmp_path_factory.mktemp("route_a") / "pairs"
    _make_pairs(out, "disk,hexagon,heart")
    return out


def _check_layout(p: dict, n: int, size: int) -> None:
    assert {k: v.dtype for k, v in p.items()} == KEYS
    assert p["aif"].shape == p["bokeh"].shape == (n, 3, size, size)
    assert p["depth"].shape == (n, 1, size, size)
    assert all(p[k].shape == (n,) for k in ("k_out", "focus_out", "aperture_out"))
    for k in ("aif", "bokeh"):
        assert 0.0 <= float(p[k].min()) and float(p[k].max()) <= 1.0


def test_route_a_keys_shapes_and_k_scaled_with_the_image(route_a):
    rows = read_records(route_a, "bokeh")
    p = trp.load_route_pairs(route_a, 32)
    _check_layout(p, len(rows), 32)
    ratio = 32 / 40  # stored 40 x 56: the centred 40 x 40 square, then 40 -> 32
    for i, r in enumerate(rows):
        tp = r["target_params"]
        assert float(p["k_out"][i]) == pytest.approx(tp["k_px_m"] * ratio, rel=1e-12)
        assert float(p["focus_out"][i]) == tp["focus_distance_m"]
        assert OUTPUT_APERTURES[int(p["aperture_out"][i])] == tp["aperture"]
        # nearest-exact depth: output pixel j takes stored pixel floor((j + 0.5) * 40 / 32) of the square
        src = np.floor((np.arange(32) + 0.5) * 40 / 32).astype(int)
        depth = r["depth_m"][:, 8:48][np.ix_(src, src)]
        assert np.array_equal(p["depth"][i, 0].numpy(), depth)
        # the CoC of the resized record is the stored target CoC scaled with the image
        coc = float(p["k_out"][i]) * (1 / float(p["focus_out"][i]) - 1 / p["depth"][i, 0].double().numpy())
        stored = r["target_coc_px"][:, 8:48][np.ix_(src, src)]
        assert np.allclose(coc, stored * ratio, atol=1e-4)
    assert p["k_out"].min() > 0 and not torch.equal(p["aif"], p["bokeh"])


def test_stored_size_is_returned_unresampled_and_deterministically(route_a):
    rows = read_records(route_a, "bokeh")
    a, b = trp.load_route_pairs(route_a, 40), trp.load_route_pairs(route_a, 40)
    assert all(torch.equal(a[k], b[k]) for k in a)
    for i, r in enumerate(rows):
        assert np.array_equal(a["aif"][i].permute(1, 2, 0).numpy(), r["aif"][:, 8:48])
        assert np.array_equal(a["bokeh"][i].permute(1, 2, 0).numpy(), r["target"][:, 8:48])
        assert float(a["k_out"][i]) == r["target_params"]["k_px_m"]


def test_an_aperture_bokehnet_does_not_know_names_file_and_record(tmp_path):
    out = tmp_path / "pairs"
    _make_pairs(out, "nonagon-rounded")
    with pytest.raises(InvalidInputError, match=r"train-00000-of-\d+\.parquet record '000000-00-bokeh'.*nonagon"):
        trp.load_route_pairs(out, 32)


def test_not_a_pair_dataset(tmp_path):
    with pytest.raises(InvalidInputError, match="is not a folder"):
        trp.load_route_pairs(tmp_path / "missing", 32)
    with pytest.raises(InvalidInputError, match="not a pair dataset with bokeh records"):
        trp.load_route_pairs(tmp_path, 32)
    (tmp_path / "data" / "bokeh").mkdir(parents=True)
    (tmp_path / "data" / "bokeh" / "train-00000-of-00001.parquet").write_bytes(b"not parquet")
    with pytest.raises(InvalidInputError, match="not a pair-record Parquet file"):
        trp.load_route_pairs(tmp_path, 32)
    with pytest.raises(InvalidInputError, match="size must be an int >= 16"):
        trp.load_route_pairs(tmp_path, 8)


def test_route_c_fit_blur_output(tmp_path):
    from refocus_bench.simulators.pairs.fit_blur_cases import known_answer_pairs

    root = tmp_path / "in"
    for d in ("aif", "bokeh", "depth", "meta"):
        (root / d).mkdir(parents=True)
    for i, kp in enumerate(known_answer_pairs(2, size=48, seed=2)):
        write_image(root / "aif" / f"p{i}.png", kp.aif, bit_depth=16)
        write_image(root / "bokeh" / f"p{i}.png", kp.bokeh, bit_depth=16)
        write_depth(root / "depth" / f"p{i}.exr", kp.depth_m)
        meta = {"focus_distance_m": kp.focus_distance_m, "aperture": kp.aperture}
        (root / "meta" / f"p{i}.json").write_text(json.dumps(meta))
    out = tmp_path / "out"
    assert main(["fit-blur", str(root), "-o", str(out), "--size", "48"]) == 0
    rows = read_records(out, "bokeh")
    assert rows and all(r["route"] == "fit-blur" for r in rows)
    p = trp.load_route_pairs(out, 32)
    _check_layout(p, len(rows), 32)
    for i, r in enumerate(rows):
        assert float(p["k_out"][i]) == pytest.approx(r["target_params"]["k_px_m"] * 32 / 48, rel=1e-12)
        assert OUTPUT_APERTURES[int(p["aperture_out"][i])] == r["target_params"]["aperture"]


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="harvest needs ExifTool")
def test_route_b_exif_output_has_no_aperture_and_reads_as_disk(tmp_path):
    from PIL import Image

    (tmp_path / "photos").mkdir()
    (tmp_path / "depth").mkdir()
    g = torch.Generator().manual_seed(0)
    img = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 12, generator=g), size=(48, 64), mode="bilinear")
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS R5"
    ifd = exif.get_ifd(0x8769)
    ifd[0x829D], ifd[0x920A], ifd[0xA405] = 2.0, 85.0, 85
    arr = (img[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(arr).save(tmp_path / "photos" / "p.jpg", quality=95, exif=exif)
    depth = torch.full((1, 1, 48, 64), 3.0)
    depth[..., :, 32:] = 6.0
    write_depth(tmp_path / "depth" / "p.exr", depth)
    assert main(["harvest", str(tmp_path / "photos"), "-o", str(tmp_path / "harvest"), "-q"]) == 0
    out = tmp_path / "out"
    args = ["make-real-pairs", str(tmp_path / "harvest"), "-o", str(out), "--depth-dir", str(tmp_path / "depth")]
    assert main([*args, "--size", "48x32"]) == 0
    rows = read_records(out, "bokeh")
    assert len(rows) == 1 and rows[0]["route"] == "exif" and rows[0]["target_params"]["aperture"] is None
    p = trp.load_route_pairs(out, 16)
    _check_layout(p, 1, 16)
    assert int(p["aperture_out"][0]) == OUTPUT_APERTURES.index(trp.DEFAULT_APERTURE)
    assert float(p["k_out"][0]) == pytest.approx(rows[0]["target_params"]["k_px_m"] * 16 / 32, rel=1e-12)
