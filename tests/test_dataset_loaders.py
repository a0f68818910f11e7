"""Benchmark dataset loaders accept every fixture layout and yield correctly paired, typed samples."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from refocus_bench.datasets.loaders import (
    DATASETS,
    dataset_card,
    list_datasets,
    open_dataset,
    validate_dataset,
)
from refocus_bench.errors import InvalidInputError, UnknownNameError
from tests.dataset_fixtures import (
    DPDD_STEMS,
    H,
    Tree,
    W,
    build_blb,
    build_cuhk,
    build_dpdd,
    build_ebb,
    build_ebb_subset,
    build_lfdof,
    build_ntire23,
    build_realbokeh,
    build_realdof,
)

ALL = [
    "blb",
    "cuhk_blur",
    "dpdd",
    "ebb",
    "ebb400",
    "ebb_val294",
    "lfdof",
    "ntire23_bokeh",
    "realbokeh",
    "realbokeh_3mp",
    "realdof",
]


def assert_colour(image: torch.Tensor, rgb: tuple[float, float, float], tol: float) -> None:
    assert image.dtype == torch.float32 and tuple(image.shape) == (1, 3, H, W)
    want = torch.tensor(rgb, dtype=torch.float32).view(1, 3, 1, 1).expand_as(image)
    err = float((image - want).abs().max())
    assert err <= tol, f"max error {err} > {tol}: got {image[0, :, 0, 0].tolist()}, want {list(rgb)}"


def check_values(ds, tree: Tree) -> None:
    """Every sample's input and target hold the colours written for them, in the expected order."""
    assert ds.ids() == tree.ids
    assert [s.id for s in ds] == tree.ids  # iteration = ids() order, re-iterable
    assert len(ds) == len(tree.ids)
    for s in ds:
        loaded = s.load()
        key = s.id if (s.id, "input") in tree.colours else s.subset.get("scene", s.id)
        assert_colour(loaded.input, tree.colours[(key, "input")], tree.tol)
        if (s.id, "target") in tree.colours:
            assert_colour(loaded.target, tree.colours[(s.id, "target")], tree.tol)
        else:
            assert s.target_path is None and loaded.target is None


# -- registry ------------------------------------------------------------------------------------
def test_registry_lists_every_dataset_and_cards_carry_licence_and_citation():
    assert list_datasets() == ALL
    assert list_datasets("ebb*") == ["ebb", "ebb400", "ebb_val294"]
    for name in ALL:
        card = dataset_card(name)
        assert card.name == name
        assert card.task in ("deblur", "bokeh", "refocus")
        assert card.licence and card.citation.lstrip().startswith("@") and card.citation.rstrip().endswith("}")
        assert card.layout is None and card.split is None
    assert dataset_card("ebb").licence == "CC BY-NC-SA 4.0"
    assert dataset_card("realbokeh").licence == "CC BY-NC-SA 4.0"
    assert dataset_card("realdof").licence.startswith("see source")
    assert dataset_card("cuhk_blur").has_target is False


def test_unknown_dataset_name_suggests_close_matches(tmp_path):
    with pytest.raises(UnknownNameError) as err:
        open_dataset("ebb_val249", tmp_path)
    msg = str(err.value)
    assert "unknown dataset 'ebb_val249'" in msg and "'ebb_val294'" in msg and "list_datasets()" in msg
    with pytest.raises(UnknownNameError, match="'realbokeh'"):
        DATASETS.get("realbokhe")


# -- DPDD ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["a", "b", "c"])
def test_dpdd_layouts_pair_16bit_images_views_and_labels(tmp_path, layout):
    tree = build_dpdd(tmp_path, layout)
    ds = open_dataset("dpdd", tree.root)
    info = ds.info
    assert (info.layout, info.split, info.task, info.root) == (layout, "test", "deblur", str(tree.root))
    check_values(ds, tree)
    for s in ds:
        loaded = s.load()
        assert loaded.input_bit_depth == 16 and loaded.target_bit_depth == 16
        # 16-bit precision survived: codes 257*c + 3 are not 8-bit values
        assert not torch.allclose(loaded.input * 255, (loaded.input * 255).round(), atol=1e-3)
        assert set(s.aux_paths) == {"dp_left", "dp_right"}
        from refocus_bench.datasets.loaders import load_image

        for role in ("dp_left", "dp_right"):
            view, bits = load_image(s.aux_paths[role])
            assert bits == 16
            assert_colour(view, tree.colours[(s.id, role)], 1e-6)
    assert {s.id: s.subset["scene"] for s in ds} == tree.extra["scene"]
    assert ds.subsets("scene") == {"indoor": [DPDD_STEMS[0], DPDD_STEMS[2]], "outdoor": [DPDD_STEMS[1]]}
    assert ds.validate().ok


def test_dpdd_explicit_layout_split_and_missing_views(tmp_path):
    tree = build_dpdd(tmp_path, "a", split="val", views=False, labels=False)
    ds = open_dataset("dpdd", tree.root, split="val", layout="a")
    assert ds.split == "val" and all(not s.aux_paths and not s.subset for s in ds)
    check_values(ds, tree)
    with pytest.raises(InvalidInputError, match=r"split 'test'.*missing 'dd_dp_dataset_canon/test_c/source'"):
        open_dataset("dpdd", tree.root, split="test", layout="a")


def test_dpdd_labels_from_npy_positions(tmp_path):
    import numpy as np

    tree = build_dpdd(tmp_path, "b", labels=False)
    np.save(tree.root / "indoor_labels.npy", np.array([2]))
    np.save(tree.root / "outdoor_labels.npy", np.array([1, 3]))
    ds = open_dataset("dpdd", tree.root)
    assert [s.subset["scene"] for s in ds] == ["outdoor", "indoor", "outdoor"]


# -- other deblurring sets -----------------------------------------------------------------------
@pytest.mark.parametrize("name,builder", [("realdof", build_realdof), ("lfdof", build_lfdof)])
def test_paired_deblur_sets(tmp_path, name, builder):
    tree = builder(tmp_path)
    ds = open_dataset(name, tree.root)
    check_values(ds, tree)
    assert ds.info.task == "deblur" and ds.split == "test"
    assert all(s.load().input_bit_depth == 8 for s in ds)


@pytest.mark.parametrize("layout", ["detection", "flat"])
def test_cuhk_has_no_targets_and_skips_motion_blur(tmp_path, layout):
    tree = build_cuhk(tmp_path, layout)
    ds = open_dataset("cuhk_blur", tree.root)
    assert ds.info.layout == layout and ds.info.has_target is False
    check_values(ds, tree)  # targets None, motion0001 not among the ids
    if layout == "detection":
        assert all(s.aux_paths["blur_mask"].name == f"{s.id}.png" for s in ds)
    assert validate_dataset("cuhk_blur", tree.root).ok


# -- EBB family ----------------------------------------------------------------------------------
def test_ebb_train_pairs_with_relative_depth_in_numeric_order(tmp_path):
    tree = build_ebb(tmp_path, "train")
    ds = open_dataset("ebb", tree.root, split="train")
    assert ds.ids() == ["0", "2", "10"]  # numeric, not lexicographic ("10" < "2")
    check_values(ds, tree)
    s = ds["2"]
    assert s.depth_kind == "relative_depth" and s.depth_path.name == "2.png"
    assert s.load().depth is None  # relative depth is never passed off as metres
    raw = s.load_depth_map()
    assert raw.shape == (1, 1, H, W) and abs(float(raw[0, 0, 0, 0]) - 90 / 255) < 1e-6
    with pytest.raises(InvalidInputError, match="relative depth .* cannot be returned in metres"):
        s.load_depth()


def test_ebb_test_split_without_targets(tmp_path):
    tree = build_ebb(tmp_path, "test", with_bokeh=False, depth=False)
    ds = open_dataset("ebb", tree.root)  # default split: test
    assert ds.split == "test"
    check_values(ds, tree)
    report = ds.validate()
    assert report.ok and any("no ground truth" in w.message for w in report.warnings)


@pytest.mark.parametrize(
    "disparity,folder,other", [("midas", "disparity", "disparity_dpt"), ("dpt", "disparity_dpt", "disparity")]
)
def test_ebb400_disparity_choice(tmp_path, disparity, folder, other):
    tree = build_ebb_subset(tmp_path, "ebb400")
    ds = open_dataset("ebb400", tree.root, disparity=disparity)
    check_values(ds, tree)
    s = ds[0]
    assert s.depth_kind == "relative_disparity" and s.depth_path.parent.name == folder
    assert s.aux_paths[f"disparity_{'dpt' if disparity == 'midas' else 'midas'}"].parent.name == other
    assert "BokehMe" in ds.info.citation and "Ignatov" in ds.info.citation


def test_ebb_val294(tmp_path):
    tree = build_ebb_subset(tmp_path, "val294")
    ds = open_dataset("ebb_val294", tree.root)
    check_values(ds, tree)
    assert ds.split == "validation" and ds.manifest.counts == {"validation": 294}


# -- BLB -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("depth_format", ["exr", "npy"])
def test_blb_samples_params_and_float16_max_depth_is_infinity(tmp_path, depth_format):
    tree = build_blb(tmp_path, depth_format=depth_format)
    ds = open_dataset("blb", tree.root)
    check_values(ds, tree)
    s = ds["280/bokeh_01_02"]
    assert s.params == {"bokehme_k": 10.0, "focus_distance_m": 6.0, "blur_index": 1, "focus_index": 2}
    assert dict(s.subset) == {"scene": "280", "blur_level": "01"}
    depth = s.load().depth
    assert depth.shape == (1, 1, H, W) and depth.dtype == torch.float32
    assert torch.all(depth[..., : H // 2, :] == 2.5)
    assert torch.isinf(depth[..., H // 2 :, :]).all() and (depth[..., H // 2 :, :] > 0).all()


def test_blb_data_folder_as_root(tmp_path):
    tree = build_blb(tmp_path)
    ds = open_dataset("blb", tree.root / "data")
    assert ds.info.layout == "data" and ds.ids() == tree.ids


def test_blb_normalized_disparity_inverts_depth_before_normalising():
    from refocus_bench.datasets.loaders.blb import blb_normalized_disparity

    depth = torch.tensor([1.0, 2.0, 4.0, math.inf]).view(1, 1, 1, 4)
    disp, focus = blb_normalized_disparity(depth, 2.0)
    assert torch.allclose(disp.flatten(), torch.tensor([1.0, 0.5, 0.25, 0.0]))  # 1/d over max 1/d
    assert focus == pytest.approx(0.5)
    assert not torch.isnan(disp).any()


# -- RealBokeh -----------------------------------------------------------------------------------
def test_realbokeh_one_sample_per_f_number(tmp_path):
    tree = build_realbokeh(tmp_path)
    ds = open_dataset("realbokeh", tree.root)
    assert ds.ids() == ["0007_f2.0", "0007_f5.6", "0007_f16.0", "0012_f2.0", "0012_f5.6", "0012_f16.0"]
    check_values(ds, tree)
    s = ds["0012_f5.6"]
    assert dict(s.subset) == {"scene": "0012", "f_number": "5.6"}
    assert s.params["target_f_number"] == 5.6 and s.params["focus_distance_unit"] == "unknown"
    assert s.params["focus_plane_distance_raw"] == 2.25 and "focus_distance_m" not in s.params
    assert s.target_path.name == "0012_f5.6.JPG" and s.input_path.name == "0012.JPG"
    assert ds.subsets("f_number")["16.0"] == ["0007_f16.0", "0012_f16.0"]


def test_realbokeh_reverse_swaps_roles_for_deblurring(tmp_path):
    tree = build_realbokeh(tmp_path, split="validation")
    fwd = open_dataset("realbokeh", tree.root, split="validation")
    rev = open_dataset("realbokeh_3mp", tree.root, split="validation", reverse=True)
    assert rev.info.task == "deblur" and fwd.info.task == "bokeh"
    for a, b in zip(fwd, rev):
        assert (a.id, a.input_path, a.target_path) == (b.id, b.target_path, b.input_path)
    loaded = rev["0007_f2.0"].load()
    assert_colour(loaded.input, tree.colours[("0007_f2.0", "target")], tree.tol)
    assert_colour(loaded.target, tree.colours[("0007", "input")], tree.tol)


# -- NTIRE 2023 ----------------------------------------------------------------------------------
@pytest.mark.parametrize("layout,split", [("flat", "default"), ("splits", "train")])
def test_ntire23_source_is_input_and_target_is_target(tmp_path, layout, split):
    tree = build_ntire23(tmp_path, layout, split)
    ds = open_dataset("ntire23_bokeh", tree.root)
    assert (ds.info.layout, ds.split) == (layout, split)
    check_values(ds, tree)  # input colour = the .src.jpg colour, target = the .tgt.jpg colour
    s = ds["00001"]
    assert s.input_path.name == "00001.src.jpg" and s.target_path.name == "00001.tgt.jpg"
    assert s.params["src_lens"] == "Canon50mmf1.4BS" and s.params["tgt_lens"] == "Sony50mmf16.0BS"
    assert (s.params["src_f_number"], s.params["tgt_f_number"], s.params["disparity"]) == (1.4, 16.0, 35.0)
    assert s.aux_paths["alpha"].name == "00001.alpha.png"


def test_ntire23_hidden_test_split_has_no_targets(tmp_path):
    tree = build_ntire23(tmp_path, "splits", "test", with_target=False)
    ds = open_dataset("ntire23_bokeh", tree.root, split="test")
    assert all(s.target_path is None for s in ds)
    check_values(ds, tree)


# -- the sample contract -------------------------------------------------------------------------
def test_sample_is_frozen_typed_and_reports_paths(tmp_path):
    tree = build_realdof(tmp_path)
    s = open_dataset("realdof", tree.root)[0]
    assert isinstance(s.input_path, Path) and s.dataset == "realdof" and s.split == "test"
    with pytest.raises(AttributeError):
        s.id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.subset["x"] = "y"  # type: ignore[index]
    assert set(s.paths()) == {"input", "target"}
    with pytest.raises(InvalidInputError, match="has no depth map"):
        s.load_depth()


def test_checksums_pin_a_copy(tmp_path):
    tree = build_realdof(tmp_path)
    ds = open_dataset("realdof", tree.root)
    sums = ds.checksums()
    assert sorted(sums) == sorted(f"{d}/{i}.png" for d in ("source", "target") for i in tree.ids)
    assert ds.validate(checksums=sums).ok
