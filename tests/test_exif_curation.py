"""Curation: Laplacian-variance sharpness (with masks), integrity checks, duplicates and filters."""

from __future__ import annotations

import hashlib
import io
import random

import numpy as np
import pytest
from PIL import Image, ImageFilter

from refocus_bench.datasets import curation
from refocus_bench.datasets.curation import Filter, duplicate_of, laplacian_variance
from refocus_bench.errors import InvalidInputError


def checkerboard(h: int, w: int) -> np.ndarray:
    return ((np.indices((h, w)).sum(axis=0) % 2) == 1).astype(np.float32)


def jpeg_bytes(arr: np.ndarray, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG", quality=95, **kw)
    return buf.getvalue()


# --------------------------------------------------------------------------------- sharpness
def test_laplacian_variance_known_answers():
    assert laplacian_variance(np.full((9, 9), 0.3, np.float32)) == 0.0
    impulse = np.zeros((8, 8), np.float32)
    impulse[4, 4] = 1.0  # Laplacian: -4 at the impulse, +1 at its 4 neighbours, over 6 x 6 interior pixels
    assert laplacian_variance(impulse) == pytest.approx((16 + 4) / 36 - (0 / 36) ** 2)
    # checkerboard: every interior Laplacian is +-4, half each -> variance 16
    assert laplacian_variance(checkerboard(10, 10)) == pytest.approx(16.0)
    # uint8 is scaled to [0, 1]
    assert laplacian_variance((checkerboard(10, 10) * 255).astype(np.uint8)) == pytest.approx(16.0)


def test_laplacian_variance_inside_a_mask():
    img = np.full((20, 20), 0.5, np.float32)
    img[:, 10:] = checkerboard(20, 10)
    left = np.zeros((20, 20), bool)
    left[2:18, 2:8] = True  # flat region, away from the border with the checkerboard
    right = np.zeros((20, 20), bool)
    right[2:18, 12:18] = True
    assert laplacian_variance(img, left) == pytest.approx(0.0)
    assert laplacian_variance(img, right) == pytest.approx(16.0)
    assert 0.0 < laplacian_variance(img) < 16.0
    with pytest.raises(InvalidInputError, match="mask must be a boolean array of shape"):
        laplacian_variance(img, np.ones((5, 5), bool))
    with pytest.raises(InvalidInputError, match="at least 2"):
        laplacian_variance(img, np.zeros((20, 20), bool))
    with pytest.raises(InvalidInputError, match="2-D"):
        laplacian_variance(np.zeros((4, 4, 3)))


def test_sharpness_from_bytes_reduces_large_images_and_ranks_blur():
    rng = np.random.default_rng(0)
    sharp = (rng.random((256, 384, 3)) * 255).astype(np.uint8)
    blurred = np.asarray(Image.fromarray(sharp).filter(ImageFilter.GaussianBlur(2)))
    v_sharp, scale = curation.sharpness_from_bytes(jpeg_bytes(sharp))
    v_blur, _ = curation.sharpness_from_bytes(jpeg_bytes(blurred))
    assert scale == 1 and v_sharp > 10 * v_blur
    # a 3000 px long edge is measured at 1/4 (750 px <= 1024)
    v, scale = curation.sharpness_from_bytes(jpeg_bytes(sharp), long_edge_px=3000)
    assert scale == 4 and v > 0
    assert curation.sharpness_from_bytes(b"not an image at all") is None
    assert curation.sharpness_from_bytes(b"") is None


# --------------------------------------------------------------------------------- integrity
def test_jpeg_truncation_is_detected_wherever_it_is_cut():
    data = jpeg_bytes((np.random.default_rng(1).random((64, 96, 3)) * 255).astype(np.uint8), exif=Image.Exif())
    assert curation.integrity_problem(data) is None
    for cut in (3, 20, len(data) // 2, len(data) - 1):
        assert "JPEG" in curation.integrity_problem(data[:cut]), cut
    # data appended after the end-of-image marker (motion photos, trailers) is fine
    assert curation.integrity_problem(data + b"\x00\x00\x00\x18ftypmp42" + bytes(100)) is None


def test_jpeg_thumbnail_eoi_does_not_hide_a_truncated_main_image():
    thumb = jpeg_bytes(np.zeros((8, 8, 3), np.uint8))  # a complete JPEG (with its own FF D9) inside APP1
    main = jpeg_bytes((np.random.default_rng(2).random((64, 64, 3)) * 255).astype(np.uint8))
    app1 = b"\xff\xe1" + (len(thumb) + 2).to_bytes(2, "big") + thumb
    full = main[:2] + app1 + main[2:]
    assert curation.integrity_problem(full) is None
    assert curation.integrity_problem(full[: len(main[:2] + app1) + 40]) is not None


def test_png_and_bmff_truncation():
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, format="PNG")
    png = buf.getvalue()
    assert curation.integrity_problem(png) is None
    assert "PNG" in curation.integrity_problem(png[:-12])

    def box(kind: bytes, payload: bytes) -> bytes:
        return (8 + len(payload)).to_bytes(4, "big") + kind + payload

    heic = box(b"ftyp", b"heic\x00\x00\x00\x00mif1heic") + box(b"meta", bytes(40)) + box(b"mdat", bytes(1000))
    assert curation.integrity_problem(heic) is None
    assert "truncated ISO-BMFF" in curation.integrity_problem(heic[:-10])
    to_end = box(b"ftyp", b"heic\x00\x00\x00\x00") + b"\x00\x00\x00\x00mdat" + bytes(50)  # size 0: to EOF
    assert curation.integrity_problem(to_end) is None
    bad = box(b"ftyp", b"heic\x00\x00\x00\x00") + b"\x00\x00\x00\x04mdat"
    assert "corrupt" in curation.integrity_problem(bad)


def test_tiff_extents():
    assert curation.tiff_extent_problem({"IFD0:StripOffsets": ("8 108", "100 100")}, 208) is None
    msg = curation.tiff_extent_problem(
        {"IFD0:StripOffsets": ("8", "100"), "SubIFD:StripOffsets": ("300", "5000")}, 1000
    )
    assert "SubIFD" in msg and "5300" in msg
    assert curation.tiff_extent_problem({"IFD0:StripOffsets": ("(Binary data 4 bytes)", "1")}, 10) is None


def test_inspect_file_hash_and_read_errors(tmp_path):
    p = tmp_path / "x.jpg"
    data = jpeg_bytes(np.full((16, 16, 3), 128, np.uint8))
    p.write_bytes(data)
    info = curation.inspect_file(p, sharpness=True)
    assert info.sha256 == hashlib.sha256(data).hexdigest() and info.size_bytes == len(data)
    assert info.problem is None and info.sharpness == pytest.approx(0.0, abs=1e-6) and info.sharpness_scale == 1
    p.write_bytes(data[:100])
    info = curation.inspect_file(p, sharpness=True)
    assert info.problem is not None and info.sharpness is None  # no sharpness on broken files
    with pytest.raises(OSError):
        curation.inspect_file(tmp_path)  # a folder


# -------------------------------------------------------------------------------- duplicates
def test_duplicates_keep_the_smallest_path_whatever_the_order():
    items = [("b.jpg", "h1"), ("a.jpg", "h1"), ("c.jpg", "h2"), ("z/a.jpg", "h1"), ("d.jpg", None), ("e.jpg", None)]
    expected = {"b.jpg": "a.jpg", "z/a.jpg": "a.jpg"}
    for seed in range(5):
        random.Random(seed).shuffle(items)
        assert duplicate_of(items) == expected


# ----------------------------------------------------------------------------------- filters
def test_filters_parse_compare_and_reject_nulls():
    f = Filter.parse("coc_inf_px >= 8", ["coc_inf_px", "make"])
    assert (f.column, f.op, f.value) == ("coc_inf_px", ">=", 8.0)
    assert f({"coc_inf_px": 8.0}) == (True, "")
    ok, why = f({"coc_inf_px": 3.5})
    assert not ok and "3.5" in why
    ok, why = f({"coc_inf_px": None})
    assert not ok and "null" in why
    assert Filter.parse("make==Canon")({"make": "Canon"})[0]
    assert not Filter.parse("make!='Canon'")({"make": "Canon"})[0]
    assert Filter.parse("focus_distance_reliable==true")({"focus_distance_reliable": True})[0]
    assert not Filter.parse("iso<100")({"iso": 100})[0]
    assert not Filter.parse("make>3")({"make": "Canon"})[0]  # incomparable: rejected, not a crash


def test_filter_errors_name_the_problem():
    with pytest.raises(InvalidInputError, match="did you mean coc_inf_px"):
        Filter.parse("coc_inf_pix>=8", ["coc_inf_px", "k_px_m"])
    with pytest.raises(InvalidInputError, match="COLUMN OP VALUE"):
        Filter.parse("coc_inf_px => 8")
    assert len(curation.parse_filters(["iso>=100", "f_number<=2"])) == 2
