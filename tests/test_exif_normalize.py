"""Normalising ExifTool answers: focus distance and its reliability, sensor size, image size, optics.

The inputs are ExifTool ``-n -a -G0:1`` dicts written out by hand (maker-note tags cannot be written
into test files), and every expected number is computed here by hand from the values written.
"""

from __future__ import annotations

import math

import pytest

from refocus_bench.datasets import exif, exiftool, sensors
from refocus_bench.datasets.exif import classify_tags, k_at_focus_distance, normalize_tags
from refocus_bench.errors import InvalidInputError, MissingFileError

FF_DIAG = math.hypot(36.0, 24.0)


def canon(**extra):
    """A Canon CR2-like answer: 50 mm f/2 on a full-frame 6000 x 4000 image."""
    raw = {
        "SourceFile": "/x/IMG_0001.CR2",
        "File:FileType": "JPEG",
        "File:MIMEType": "image/jpeg",
        "File:ImageWidth": 6000,
        "File:ImageHeight": 4000,
        "EXIF:IFD0:Make": "Canon",
        "EXIF:IFD0:Model": "Canon EOS 5D Mark II",
        "EXIF:ExifIFD:FNumber": 2.0,
        "EXIF:ExifIFD:FocalLength": 50.0,
        "EXIF:ExifIFD:FocalLengthIn35mmFormat": 50,
    }
    raw.update(extra)
    return raw


def genrefocus_k_px_mm(f_mm, n, d_mm, long_px, sensor_mm):
    """GenRefocus's published EXIF formula, all lengths in millimetres (gives px*mm)."""
    return f_mm**2 * d_mm / (2 * n * (d_mm - f_mm)) * (long_px / sensor_mm)


# ------------------------------------------------------------------------------ focus distance
def test_makernote_bounds_give_harmonic_mean_and_are_reliable_when_narrow():
    rec = normalize_tags(
        canon(**{"MakerNotes:Canon:FocusDistanceLower": 1.9, "MakerNotes:Canon:FocusDistanceUpper": 2.1})
    )
    assert rec["focus_distance_m"] == pytest.approx(2.0 / (1 / 1.9 + 1 / 2.1))
    assert rec["focus_distance_tag"] == "MakerNotes:FocusDistanceLower/Upper"
    assert rec["focus_distance_reliable"] is True
    assert (rec["focus_distance_lower_m"], rec["focus_distance_upper_m"]) == (1.9, 2.1)


def test_wide_or_open_bounds_are_unreliable():
    wide = normalize_tags(
        canon(**{"MakerNotes:Canon:FocusDistanceLower": 1.0, "MakerNotes:Canon:FocusDistanceUpper": 3.0})
    )
    assert wide["focus_distance_reliable"] is False
    assert wide["focus_distance_m"] == pytest.approx(1.5)  # 2 / (1/1 + 1/3)
    # Canon writes 655.35 m for an open upper bound: infinity, so the harmonic mean is 2 x lower
    open_ = normalize_tags(
        canon(**{"MakerNotes:Canon:FocusDistanceLower": 5.0, "MakerNotes:Canon:FocusDistanceUpper": 655.35})
    )
    assert math.isinf(open_["focus_distance_upper_m"])
    assert open_["focus_distance_m"] == pytest.approx(10.0)
    assert open_["focus_distance_reliable"] is False


def test_makernote_focus_distance_wins_and_is_reliable():
    rec = normalize_tags(canon(**{"MakerNotes:Nikon:FocusDistance": 3.2, "EXIF:ExifIFD:SubjectDistance": 9.0}))
    assert (rec["focus_distance_m"], rec["focus_distance_tag"], rec["focus_distance_reliable"]) == (
        3.2,
        "MakerNotes:FocusDistance",
        True,
    )


@pytest.mark.parametrize("subject, reliable", [(2.0, True), (5.0, False)])
def test_subject_distance_is_reliable_only_inside_the_bounds(subject, reliable):
    rec = normalize_tags(
        canon(
            **{
                "EXIF:ExifIFD:SubjectDistance": subject,
                "MakerNotes:Canon:FocusDistanceLower": 1.9,
                "MakerNotes:Canon:FocusDistanceUpper": 2.1,
            }
        )
    )
    assert rec["focus_distance_m"] == subject
    assert rec["focus_distance_tag"] == "EXIF:SubjectDistance"
    assert rec["focus_distance_reliable"] is reliable


def test_unknown_subject_distance_falls_through_to_approximate_focus_distance():
    rec = normalize_tags(canon(**{"EXIF:ExifIFD:SubjectDistance": 0, "XMP:XMP-aux:ApproximateFocusDistance": 4.0}))
    assert (rec["focus_distance_m"], rec["focus_distance_tag"], rec["focus_distance_reliable"]) == (
        4.0,
        "XMP:ApproximateFocusDistance",
        False,
    )
    assert "SubjectDistance=0" in rec["notes"]


def test_focus_at_infinity_has_no_blur_at_infinity_and_the_limiting_k():
    rec = normalize_tags(canon(**{"EXIF:ExifIFD:SubjectDistance": 4294967295}))
    assert math.isinf(rec["focus_distance_m"])
    assert rec["coc_inf_px"] == 0.0
    ppm = 6000 / 36.0 * 1000  # px per metre of sensor
    assert rec["k_px_m"] == pytest.approx(0.05**2 / (2 * 2.0) * ppm)
    assert rec["dof_near_m"] is None and "infinity" in rec["notes"]


def test_reversed_bounds_are_ignored():
    rec = normalize_tags(
        canon(**{"MakerNotes:Canon:FocusDistanceLower": 3.0, "MakerNotes:Canon:FocusDistanceUpper": 2.0})
    )
    assert rec["focus_distance_m"] is None and rec["focus_distance_lower_m"] is None
    assert "reversed" in rec["notes"]


def test_focus_closer_than_focal_length_is_null_with_a_reason_not_a_crash():
    rec = normalize_tags(
        canon(
            **{
                "EXIF:ExifIFD:FocalLength": 200.0,
                "EXIF:ExifIFD:FocalLengthIn35mmFormat": 200,
                "EXIF:ExifIFD:SubjectDistance": 0.15,
            }
        )
    )
    assert rec["focus_distance_m"] is None and rec["k_px_m"] is None and rec["coc_inf_px"] is None
    assert "not beyond the focal length" in rec["notes"]
    assert rec["k_inf_px_m"] is not None  # K as a function of the focus distance is still known


# ----------------------------------------------------------------------------------- optics
def test_k_matches_genrefocus_formula_and_optics_fields_match_hand_computation():
    s, f, n = 2.0, 50.0, 2.0
    rec = normalize_tags(canon(**{"EXIF:ExifIFD:SubjectDistance": s}))
    assert rec["crop_factor"] == 1.0 and rec["sensor_width_mm"] == pytest.approx(36.0)
    assert 1000 * rec["k_px_m"] == pytest.approx(genrefocus_k_px_mm(f, n, s * 1000, 6000, 36.0))
    assert rec["coc_inf_px"] == pytest.approx(rec["k_px_m"] / s)
    # independent check of the CoC at infinity: blur-disc diameter A f / (s - f) on the sensor, halved
    a_mm = f / n
    assert rec["coc_inf_px"] == pytest.approx(a_mm * f / (s * 1000 - f) / 2 * (6000 / 36.0))
    assert rec["aperture_diameter_mm"] == pytest.approx(25.0)
    assert rec["pixels_per_mm"] == pytest.approx(6000 / 36.0)
    c = FF_DIAG / 1442
    assert rec["coc_limit_mm"] == pytest.approx(c)
    h_m = (f * f / (n * c) + f) / 1000
    assert rec["hyperfocal_distance_m"] == pytest.approx(h_m)
    # at both DoF limits the thin-lens blur-disc diameter A f |z - s| / (z (s - f)) equals c
    for z in (rec["dof_near_m"], rec["dof_far_m"]):
        z_mm = z * 1000
        assert a_mm * f * abs(z_mm - s * 1000) / (z_mm * (s * 1000 - f)) == pytest.approx(c, rel=1e-9)
    assert rec["dof_near_m"] < s < rec["dof_far_m"]


def test_k_inf_coefficient_gives_k_at_any_focus_distance():
    rec = normalize_tags(canon())  # no focus distance at all
    assert rec["focus_distance_m"] is None and rec["k_px_m"] is None
    f_m, ppm = 0.05, 6000 / 36.0 * 1000
    assert rec["k_inf_px_m"] == pytest.approx(f_m**2 / (2 * 2.0) * ppm)
    for s in (0.5, 2.0, 30.0):
        expected = genrefocus_k_px_mm(50.0, 2.0, s * 1000, 6000, 36.0) / 1000
        assert rec["k_inf_px_m"] * s / (s - f_m) == pytest.approx(expected)
        assert k_at_focus_distance(rec, s) == pytest.approx(expected)
    with pytest.raises(InvalidInputError, match="focal length"):
        k_at_focus_distance(rec, 0.04)
    with pytest.raises(InvalidInputError, match="sensor_width_mm"):
        k_at_focus_distance({**rec, "sensor_width_mm": None}, 2.0)


# --------------------------------------------------------------------------------- odd values
def test_odd_rationals_and_negative_values_become_nulls_with_notes():
    rec = normalize_tags(
        canon(
            **{
                "EXIF:ExifIFD:FNumber": "undef",  # 0/0
                "EXIF:ExifIFD:FocalLength": -50,
                "EXIF:ExifIFD:ExposureTime": "inf",  # 1/0
                "EXIF:ExifIFD:ISO": "100 0",
                "EXIF:IFD0:Orientation": 9,
            }
        )
    )
    assert rec["f_number"] is None and rec["focal_length_mm"] is None and rec["exposure_time_s"] is None
    assert rec["iso"] == 100
    assert rec["orientation"] == 1 and "Orientation=9" in rec["notes"]
    assert "FNumber='undef'" in rec["notes"] and "FocalLength=-50" in rec["notes"]
    assert rec["aperture_diameter_mm"] is None and rec["k_inf_px_m"] is None
    # the 35 mm equivalent alone cannot give a crop factor without the focal length
    assert rec["crop_factor"] == 1.0 and rec["sensor_source"] == "lensfun"


def test_aperture_value_is_the_fallback_for_f_number():
    raw = canon()
    del raw["EXIF:ExifIFD:FNumber"]
    raw["EXIF:ExifIFD:ApertureValue"] = 2.8
    assert normalize_tags(raw)["f_number"] == 2.8


def test_orientation_swaps_width_and_height():
    rec = normalize_tags(canon(**{"EXIF:IFD0:Orientation": 8}))
    assert (rec["image_width_px"], rec["image_height_px"], rec["orientation"]) == (4000, 6000, 8)
    assert rec["pixels_per_mm"] == pytest.approx(6000 / 36.0)  # the long edge pairs with the long side


@pytest.mark.parametrize(
    "extra, expected",
    [
        (
            {
                "EXIF:ExifIFD:DateTimeOriginal": "2024:05:01 12:34:56",
                "EXIF:ExifIFD:SubSecTimeOriginal": "07",
                "EXIF:ExifIFD:OffsetTimeOriginal": "-05:00",
            },
            "2024-05-01T12:34:56.07-05:00",
        ),
        ({"EXIF:ExifIFD:DateTimeOriginal": "0000:00:00 00:00:00"}, None),
        ({"EXIF:ExifIFD:CreateDate": "2020:02:29 23:59:59"}, "2020-02-29T23:59:59"),
        ({"XMP:XMP-exif:DateTimeOriginal": "2021:01:02 03:04:05.5+09:00"}, "2021-01-02T03:04:05.5+09:00"),
    ],
)
def test_capture_time_is_iso_8601(extra, expected):
    assert normalize_tags(canon(**extra))["capture_time"] == expected


# --------------------------------------------------------------------------------- image size
def test_raw_image_size_uses_the_largest_ifd_not_the_thumbnail():
    raw = {
        "File:FileType": "NEF",
        "File:MIMEType": "image/x-nikon-nef",
        "EXIF:IFD0:Make": "NIKON CORPORATION",
        "EXIF:IFD0:ImageWidth": 160,
        "EXIF:IFD0:ImageHeight": 120,
        "EXIF:SubIFD:ImageWidth": 4950,
        "EXIF:SubIFD:ImageHeight": 3280,
    }
    rec = normalize_tags(raw)
    assert (rec["image_width_px"], rec["image_height_px"]) == (4950, 3280)


def test_dng_default_crop_size_and_cr2_exif_size_win():
    dng = {
        "File:FileType": "DNG",
        "File:MIMEType": "image/x-adobe-dng",
        "EXIF:IFD0:Make": "Leica",
        "EXIF:SubIFD:ImageWidth": 6080,
        "EXIF:SubIFD:ImageHeight": 4044,
        "EXIF:SubIFD:DefaultCropSize": "6000 4000",
    }
    assert (normalize_tags(dng)["image_width_px"], normalize_tags(dng)["image_height_px"]) == (6000, 4000)
    cr2 = {
        "File:FileType": "CR2",
        "File:MIMEType": "image/x-canon-cr2",
        "EXIF:IFD0:Make": "Canon",
        "EXIF:IFD0:ImageWidth": 5184,
        "EXIF:IFD0:ImageHeight": 3456,
        "EXIF:ExifIFD:ExifImageWidth": 5472,
        "EXIF:ExifIFD:ExifImageHeight": 3648,
    }
    assert (normalize_tags(cr2)["image_width_px"], normalize_tags(cr2)["image_height_px"]) == (5472, 3648)


# ----------------------------------------------------------------------------------- sensors
def test_sensor_from_35mm_equivalent_follows_the_image_aspect():
    est = sensors.sensor_from_35mm_equivalent(4.25, 26.0, 4032, 3024)
    crop = 26.0 / 4.25
    assert est.crop_factor == pytest.approx(crop)
    assert est.sensor_width_mm == pytest.approx(FF_DIAG / crop * 4032 / math.hypot(4032, 3024))
    assert est.sensor_height_mm == pytest.approx(FF_DIAG / crop * 3024 / math.hypot(4032, 3024))
    assert sensors.sensor_from_35mm_equivalent(5.0, 1000.0, 4000, 3000) is None  # crop 200: noise


def test_lensfun_lookup_known_unknown_and_ambiguous():
    assert sensors.lensfun_crop_factor("NIKON CORPORATION", "NIKON D7000") == pytest.approx(1.523, abs=1e-3)
    assert sensors.lensfun_crop_factor("Canon", "Canon EOS 5D Mark II") == 1.0
    assert sensors.lensfun_crop_factor("Acme", "Model X") is None
    assert sensors.lensfun_crop_factor("Canon", "") is None  # lensfun would list every Canon
    assert sensors.lensfun_crop_factor(None, None) is None


def test_focal_plane_resolution_in_inches_cm_and_mm():
    for res, unit in ((2540.0, 2), (1000.0, 3), (100.0, 4)):  # all 100 px per mm
        est = sensors.sensor_from_focal_plane_resolution(res, unit, 2400, 1600)
        assert est.sensor_width_mm == pytest.approx(24.0) and est.sensor_height_mm == pytest.approx(16.0)
        assert est.crop_factor == pytest.approx(FF_DIAG / math.hypot(24, 16))
    assert sensors.sensor_from_focal_plane_resolution(100.0, 1, 2400, 1600) is None  # unit "none"
    # the resolution refers to the camera's own image size; a resized copy keeps the sensor size
    est = sensors.sensor_from_focal_plane_resolution(100.0, 4, 1200, 800, exif_width_px=2400, exif_height_px=1600)
    assert est.sensor_width_mm == pytest.approx(24.0)


def test_estimate_sensor_order_and_notes():
    est, notes = sensors.estimate_sensor(
        width_px=6000,
        height_px=4000,
        focal_length_mm=10.0,
        focal_length_35mm_mm=9999.0,
        make="NIKON CORPORATION",
        model="NIKON D7000",
    )
    assert est.source == "lensfun" and "implausible" in notes[0]
    est, _ = sensors.estimate_sensor(
        width_px=6000,
        height_px=4000,
        make="Acme",
        model="X",
        focal_plane_x_resolution=250.0,
        focal_plane_resolution_unit=4,
    )
    assert est.source == "focal_plane_resolution" and est.sensor_width_mm == pytest.approx(24.0)
    est, _ = sensors.estimate_sensor(
        width_px=6000, height_px=4000, make="Canon", model="Canon EOS 5D Mark II", use_lensfun=False
    )
    assert est is None
    assert "lensfun" in sensors.LENSFUN_ATTRIBUTION and "CC BY-SA 3.0" in sensors.LENSFUN_ATTRIBUTION


# ---------------------------------------------------------------------------------- classify
@pytest.mark.parametrize(
    "raw, reason",
    [
        ({"ExifTool:Error": "Unknown file type"}, "not_image"),
        ({"ExifTool:Error": "File is empty"}, "corrupt"),
        ({"ExifTool:Error": "ExifTool could not open the file"}, "unreadable"),
        ({"File:FileType": "TXT", "File:MIMEType": "text/plain"}, "not_image"),
        ({"File:FileType": "MP4", "File:MIMEType": "video/mp4", "QuickTime:Make": "Apple"}, None),  # video: a row
        ({"File:FileType": "M4A", "File:MIMEType": "audio/mp4", "QuickTime:Make": "Apple"}, "not_image"),
        ({"File:FileType": "XMP", "File:MIMEType": "application/rdf+xml", "XMP:XMP-exif:FNumber": 2.8}, None),
        (
            {"File:FileType": "PSD", "File:MIMEType": "application/vnd.adobe.photoshop", "Composite:ImageSize": "8 8"},
            "no_exif",
        ),
        ({"File:FileType": "LFP", "File:MIMEType": "image/x-lytro-lfp", "Lytro:Model": "F01"}, None),
        ({"File:FileType": "PNG", "File:MIMEType": "image/png", "PNG:ImageWidth": 4}, "no_exif"),
        ({"File:FileType": "TIFF", "File:MIMEType": "image/tiff", "ExifTool:Warning": "Bad IFD0 directory"}, "corrupt"),
        (
            {
                "File:FileType": "JPEG",
                "File:MIMEType": "image/jpeg",
                "EXIF:IFD0:Make": "Canon",
                "ExifTool:Warning": "[minor] Bad MakerNotes offset",
            },
            None,
        ),
    ],
)
def test_classify(raw, reason):
    assert classify_tags(raw)[0] == reason


def test_missing_exiftool_says_how_to_install_it():
    with pytest.raises(MissingFileError, match="sudo apt-get install libimage-exiftool-perl"):
        exiftool.find_exiftool("/nonexistent/exiftool")


def test_photo_fields_document_units():
    names = [n for n, _, _ in exif.PHOTO_FIELDS]
    assert len(names) == len(set(names))
    unit_words = {"_mm": "millimetre", "_m": "metres", "_px": "pixels", "_s": "seconds"}
    for name, dtype, doc in exif.PHOTO_FIELDS:
        assert dtype in {"string", "float64", "int32", "bool"}
        for suffix, word in unit_words.items():
            if name.endswith(suffix):
                assert word in doc, f"{name}: the doc must state the unit ({word})"
