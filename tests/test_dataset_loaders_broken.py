"""Broken dataset copies are rejected with messages that name the file and what was expected."""

from __future__ import annotations

import json

import pytest

from refocus_bench.datasets.loaders import open_dataset, validate_dataset
from refocus_bench.errors import InvalidInputError, MissingFileError
from tests.dataset_fixtures import (
    DPDD_STEMS,
    build_blb,
    build_cuhk,
    build_dpdd,
    build_ebb,
    build_ebb_subset,
    build_lfdof,
    build_ntire23,
    build_realbokeh,
    build_realdof,
    code8,
    write_jpg,
    write_png8,
)


def rejected(name: str, root, **kw) -> str:
    with pytest.raises(InvalidInputError) as err:
        open_dataset(name, root, **kw)
    return str(err.value)


# -- no known layout -----------------------------------------------------------------------------
def test_unrecognised_root_lists_every_layout_and_what_was_found(tmp_path):
    root = tmp_path / "DPDD"
    (root / "foo").mkdir(parents=True)
    (root / "bar").mkdir()
    msg = rejected("dpdd", root)
    assert f"root {str(root)!r}: not a DPDD layout" in msg
    assert "(a) dd_dp_dataset_canon/test_c/{source,target}" in msg
    assert "(b) inputC/, target/" in msg and "(c) test_c/{source,target}" in msg
    assert "missing 'dd_dp_dataset_canon/test_c/source'" in msg and "missing 'inputC', 'target'" in msg
    assert msg.endswith("found: bar, foo")


@pytest.mark.parametrize(
    "name", ["realdof", "lfdof", "cuhk_blur", "ebb", "ebb400", "ebb_val294", "blb", "realbokeh", "ntire23_bokeh"]
)
def test_every_loader_rejects_an_empty_folder(tmp_path, name):
    msg = rejected(name, tmp_path)
    assert "root" in msg and "Expected one of:" in msg and "missing" in msg and "(empty folder)" in msg


def test_missing_root_and_bad_arguments(tmp_path):
    with pytest.raises(MissingFileError, match="folder not found"):
        open_dataset("realdof", tmp_path / "nope")
    tree = build_realdof(tmp_path)
    assert "layout must be 'auto' or one of ['flat']" in rejected("realdof", tree.root, layout="zzz")
    assert "split of realdof must be one of ['test'], got 'train'" in rejected("realdof", tree.root, split="train")
    with pytest.raises(InvalidInputError, match="disparity must be one of"):
        open_dataset("ebb400", tree.root, disparity="depth_anything")


def test_explicit_layout_that_does_not_match(tmp_path):
    tree = build_dpdd(tmp_path, "b")
    msg = rejected("dpdd", tree.root, layout="a")
    assert "not layout 'a' of the DPDD layout" in msg and "missing 'dd_dp_dataset_canon/test_c/source'" in msg


# -- pairing -------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["a", "b", "c"])
def test_dpdd_input_without_target(tmp_path, layout):
    tree = build_dpdd(tmp_path, layout)
    target = tree.extra["folders"]["target"] / f"{DPDD_STEMS[1]}.png"
    target.unlink()
    msg = rejected("dpdd", tree.root)
    rel = target.relative_to(tree.root).as_posix()
    assert f"sample '{DPDD_STEMS[1]}': target file missing: '{rel}'" in msg
    assert "has no target" in msg


def test_dpdd_unpaired_extra_file_and_stray_folder(tmp_path):
    tree = build_dpdd(tmp_path, "a")
    folders = tree.extra["folders"]
    write_png8(folders["target"] / "1P0A9999.png", (1, 2, 3))
    (folders["input"] / "old").mkdir()
    report = validate_dataset("dpdd", tree.root)
    assert not report.ok
    msgs = [str(i) for i in report.errors]
    assert any(
        "[extra_file] extra file 'dd_dp_dataset_canon/test_c/target/1P0A9999.png': no sample uses it" in m for m in msgs
    )
    assert any("unexpected folder 'dd_dp_dataset_canon/test_c/source/old'" in m for m in msgs)
    # also on open
    assert "1P0A9999.png" in rejected("dpdd", tree.root)


def test_dpdd_missing_dual_pixel_view(tmp_path):
    tree = build_dpdd(tmp_path, "b")
    (tree.root / "inputR" / f"{DPDD_STEMS[2]}_R.png").unlink()
    msg = rejected("dpdd", tree.root)
    assert f"sample '{DPDD_STEMS[2]}': dp_right file missing: 'inputR/{DPDD_STEMS[2]}.png'" in msg


@pytest.mark.parametrize(
    "name,builder,folder", [("realdof", build_realdof, "target"), ("lfdof", build_lfdof, "ground_truth")]
)
def test_paired_sets_reject_missing_and_unpaired(tmp_path, name, builder, folder):
    tree = builder(tmp_path)
    (tree.root / folder / f"{tree.ids[0]}.png").unlink()
    write_png8(tree.root / folder / "orphan.png", (5, 5, 5))
    msg = rejected(name, tree.root)
    assert f"sample '{tree.ids[0]}': target file missing: '{folder}/{tree.ids[0]}.png'" in msg
    assert f"extra file '{folder}/orphan.png'" in msg


def test_ebb_train_missing_bokeh_and_depth(tmp_path):
    tree = build_ebb(tmp_path, "train")
    (tree.root / "train" / "bokeh" / "10.jpg").unlink()
    (tree.root / "train" / "original_depth" / "2.png").unlink()
    msg = rejected("ebb", tree.root, split="train")
    assert "sample '10': target file missing: 'train/bokeh/10.jpg'" in msg
    assert "sample '2': depth file missing: 'train/original_depth/2.png'" in msg


def test_ebb400_missing_disparity(tmp_path):
    tree = build_ebb_subset(tmp_path, "ebb400")
    (tree.root / "validation" / "disparity" / "4.png").unlink()
    assert "sample '4': depth file missing: 'validation/disparity/4.png'" in rejected("ebb400", tree.root)


def test_ebb_val294_extra_input(tmp_path):
    tree = build_ebb_subset(tmp_path, "val294")
    write_jpg(tree.root / "validation" / "in" / "999.jpg", (1, 1, 1))
    msg = rejected("ebb_val294", tree.root)
    assert (
        "sample '999': target file missing: 'validation/gt/999.jpg' (input 'validation/in/999.jpg' has no target)"
        in msg
    )


def test_cuhk_missing_mask(tmp_path):
    tree = build_cuhk(tmp_path, "detection")
    (tree.root / "gt" / "out_of_focus0002.png").unlink()
    assert "sample 'out_of_focus0002': blur_mask file missing: 'gt/out_of_focus0002.png'" in rejected(
        "cuhk_blur", tree.root
    )


# -- formats -------------------------------------------------------------------------------------
def test_dpdd_8bit_png_where_16bit_expected(tmp_path):
    tree = build_dpdd(tmp_path, "c")
    bad = tree.root / "test_c" / "source" / f"{DPDD_STEMS[0]}.png"
    write_png8(bad, code8(0, "input"))
    msg = rejected("dpdd", tree.root)
    assert (
        f"sample '{DPDD_STEMS[0]}': input 'test_c/source/{DPDD_STEMS[0]}.png' is 8-bit; "
        "DPDD input images are 16-bit PNG" in msg
    )


def test_wrong_extension_for_role(tmp_path):
    tree = build_blb(tmp_path, scenes=("277",), blur=(1.0,), focus=(2.0,))
    scene = tree.root / "data" / "277"
    (scene / "depth.exr").rename(scene / "depth.png")
    msg = rejected("blb", tree.root)
    assert "sample '277/bokeh_00_00': depth file missing: 'data/277/depth.exr'" in msg
    assert "extra file 'data/277/depth.png'" in msg


def test_corrupt_header_on_open_and_truncated_pixels_on_decode(tmp_path):
    tree = build_realdof(tmp_path)
    (tree.root / "source" / "0002.png").write_bytes(b"not a png at all")
    msg = rejected("realdof", tree.root)
    assert "sample '0002': input 'source/0002.png' is unreadable: not a PNG file" in msg

    tree = build_ntire23(tmp_path / "n")
    tgt = tree.root / "00001.tgt.jpg"
    tgt.write_bytes(tgt.read_bytes()[: len(tgt.read_bytes()) // 2])  # header intact, pixels cut
    ds = open_dataset("ntire23_bokeh", tree.root)  # the quick check reads headers only
    report = ds.validate(decode=True)
    assert [i.kind for i in report.errors] == ["corrupt"]
    assert "sample '00001': target '00001.tgt.jpg' cannot be decoded" in report.errors[0].message
    assert "decode" in report.checked


def test_corrupt_depth_found_by_decode(tmp_path):
    tree = build_blb(tmp_path, scenes=("277",), blur=(1.0,), focus=(2.0,))
    (tree.root / "data" / "277" / "depth.exr").write_bytes(b"\x00" * 64)
    report = validate_dataset("blb", tree.root)
    assert any(i.kind == "corrupt" and i.path == "data/277/depth.exr" for i in report.errors)


def test_pair_size_mismatch(tmp_path):
    tree = build_lfdof(tmp_path)
    write_png8(tree.root / "ground_truth" / "IMG_0021.png", (1, 2, 3), size=(6, 9))
    msg = rejected("lfdof", tree.root)
    assert (
        "sample 'IMG_0021': images differ in size (W x H): input 'input/IMG_0021.png' is 8x6, "
        "target 'ground_truth/IMG_0021.png' is 9x6" in msg
    )


# -- counts and checksums ------------------------------------------------------------------------
def test_strict_requires_official_counts_non_strict_accepts_subsets(tmp_path):
    tree = build_dpdd(tmp_path, "a")
    ds = open_dataset("dpdd", tree.root)  # a 3-pair subset opens
    assert any("3 of the official 76" in w.message for w in ds.validate(decode=False).warnings)
    msg = rejected("dpdd", tree.root, strict=True)
    assert "DPDD split 'test' has 3 samples; the official split has 76 (strict=True)" in msg
    tree = build_blb(tmp_path / "b")
    report = validate_dataset("blb", tree.root, strict=True)
    assert [i.kind for i in report.errors] == ["count"] and "official split has 500" in report.errors[0].message


def test_checksum_mismatch_names_the_file(tmp_path):
    tree = build_realdof(tmp_path)
    ds = open_dataset("realdof", tree.root)
    sums = ds.checksums()
    path = tmp_path / "sums.json"
    path.write_text(json.dumps(sums))
    write_png8(tree.root / "target" / "0010.png", (0, 0, 0))
    report = ds.validate(checksums=path)
    assert [i.path for i in report.errors] == ["target/0010.png"]
    assert "sha256 differs" in report.errors[0].message


# -- metadata ------------------------------------------------------------------------------------
def test_dpdd_label_errors(tmp_path):
    tree = build_dpdd(tmp_path, "b")
    (tree.root / "indoor_labels.txt").write_text("1\n7\n1P0A1002\n")
    msg = rejected("dpdd", tree.root)
    assert "'indoor_labels.txt' line 2: position 7 (there are 3 inputs) matches no input image" in msg
    assert "'outdoor_labels.txt' line 1: '1P0A1002' is labelled both indoor and outdoor" in msg


def test_blb_bad_info_json(tmp_path):
    tree = build_blb(tmp_path)
    (tree.root / "data" / "280" / "info.json").write_text(json.dumps({"blur_parameters": [1.0]}))
    msg = rejected("blb", tree.root)
    assert "'data/280/info.json': 'focus_distances' must be a non-empty list of numbers, got None" in msg
    (tree.root / "data" / "280" / "info.json").write_text("{oops")
    assert "'data/280/info.json' is not valid JSON" in rejected("blb", tree.root)


def test_blb_missing_bokeh_target(tmp_path):
    tree = build_blb(tmp_path)
    (tree.root / "data" / "277" / "bokeh_01_02.jpg").unlink()
    assert "sample '277/bokeh_01_02': target file missing: 'data/277/bokeh_01_02.jpg'" in rejected("blb", tree.root)


def test_realbokeh_f_number_mismatch_and_missing_keys(tmp_path):
    tree = build_realbokeh(tmp_path)
    meta = tree.root / "test" / "metadata" / "0007.json"
    rec = json.loads(meta.read_text())
    rec["target_avs"] = [2.0, 4.0, 16.0]
    meta.write_text(json.dumps(rec))
    msg = rejected("realbokeh", tree.root)
    assert "target '0007_f5.6.JPG' says f/5.6 but target_avs says f/4" in msg
    del rec["target_avs"]
    meta.write_text(json.dumps(rec))
    msg = rejected("realbokeh", tree.root)
    assert "'test/metadata/0007.json': missing key(s) ['target_avs']" in msg
    assert "extra file 'test/in/0007.JPG'" in msg  # its metadata is unusable, so the input is unpaired


def test_realbokeh_target_not_in_metadata(tmp_path):
    tree = build_realbokeh(tmp_path)
    write_jpg(tree.root / "test" / "gt" / "0012" / "0012_f8.0.JPG", (1, 1, 1))
    (tree.root / "test" / "gt" / "9999").mkdir()
    msg = rejected("realbokeh", tree.root)
    assert "extra file 'test/gt/0012/0012_f8.0.JPG'" in msg and "unexpected folder 'test/gt/9999'" in msg


def test_ntire23_meta_errors_and_unlisted_tuple(tmp_path):
    tree = build_ntire23(tmp_path)
    meta = tree.root / "meta.txt"
    meta.write_text(meta.read_text() + "00011, Sony50mmf1.8BS\n00012, A, B, far\n00000, A, B, 1\n")
    write_jpg(tree.root / "00099.src.jpg", (1, 1, 1))
    msg = rejected("ntire23_bokeh", tree.root)
    assert "'meta.txt' line 4: expected 'id, src_lens, tgt_lens, disparity', got '00011, Sony50mmf1.8BS'" in msg
    assert "'meta.txt' line 5: disparity 'far' is not a number" in msg
    assert "'meta.txt' line 6: id '00000' already on line 1" in msg
    assert "extra file '00099.src.jpg'" in msg


def test_ntire23_missing_source(tmp_path):
    tree = build_ntire23(tmp_path)
    (tree.root / "00010.src.jpg").unlink()
    msg = rejected("ntire23_bokeh", tree.root)
    assert "sample '00010': input file missing: '00010.src.jpg'" in msg
    assert "extra file" not in msg  # the target and alpha are still claimed by their sample


def test_check_false_opens_and_validate_reports_everything(tmp_path):
    tree = build_realdof(tmp_path)
    for stem in tree.ids:
        (tree.root / "target" / f"{stem}.png").unlink()
    ds = open_dataset("realdof", tree.root, check=False)
    report = ds.validate(decode=False)
    assert len(report.errors) == 3 and {i.kind for i in report.errors} == {"missing_file"}
    summary = report.summary(limit=2)
    assert "3 error(s)" in summary and "... and 1 more error(s)" in summary
