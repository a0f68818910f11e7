"""Depth-estimator registry (tiny offline models, exact unit conversions) and focus selection."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from refocus_bench.errors import InvalidInputError, MissingFileError, UnknownNameError
from refocus_bench.models.depth import (
    DEPTH_ESTIMATORS,
    DepthAnythingAdapter,
    DepthProAdapter,
    create_depth_estimator,
    list_depth_estimators,
)
from refocus_bench.models.focus import GROUNDERS, focus_from_mask, focus_from_point, select_focus


class Stub(nn.Module):
    """Returns fixed outputs whatever the input; mimics a transformers depth model."""

    def __init__(self, pred: torch.Tensor, fov: torch.Tensor | None = None, **config):
        super().__init__()
        self.pred, self.fov = pred, fov
        self.config = SimpleNamespace(**config)

    def forward(self, pixel_values):
        return SimpleNamespace(
            predicted_depth=self.pred.expand(pixel_values.shape[0], *self.pred.shape[1:]), field_of_view=self.fov
        )


@pytest.mark.parametrize("name", list_depth_estimators())
def test_every_estimator_gives_metric_depth_of_the_image_size(name):
    est = create_depth_estimator(name, **DEPTH_ESTIMATORS.get(name).dummy_kwargs())
    image = torch.rand(2, 3, 32, 32)
    depth = est.estimate(image)
    assert depth.shape == (2, 1, 32, 32) and bool((depth > 0).all())


def test_depth_pro_converts_canonical_inverse_depth_to_metres():
    cfg = {"patch_size": 32, "scaled_images_ratios": [0.5, 1]}
    inv = torch.full((1, 16, 16), 0.5)
    est = DepthProAdapter(model=Stub(inv, **cfg), f_px=64.0)
    torch.testing.assert_close(est.estimate(torch.rand(1, 3, 20, 64)), torch.full((1, 1, 20, 64), 2.0))  # f / (W inv)
    est = DepthProAdapter(model=Stub(inv, fov=torch.tensor([90.0]), **cfg))  # f = W / 2 at 90 degrees
    torch.testing.assert_close(est.estimate(torch.rand(1, 3, 20, 64)), torch.full((1, 1, 20, 64), 1.0))
    with pytest.raises(InvalidInputError, match="needs f_px"):
        DepthProAdapter(model=Stub(inv, **cfg)).estimate(torch.rand(1, 3, 8, 8))


def test_depth_anything_maps_relative_disparity_between_near_and_far():
    ramp = torch.linspace(0.0, 3.0, 16).expand(1, 16, 16).contiguous()
    est = DepthAnythingAdapter(
        model=Stub(ramp, patch_size=14, depth_estimation_type="relative"), input_size=28, near_m=1.0, far_m=10.0
    )
    d = est.estimate(torch.rand(1, 3, 16, 16))
    assert abs(float(d.min()) - 1.0) < 1e-4 and abs(float(d.max()) - 10.0) < 1e-3
    metric = DepthAnythingAdapter(
        model=Stub(torch.full((1, 16, 16), 7.5), patch_size=14, depth_estimation_type="metric")
    )
    torch.testing.assert_close(metric.estimate(torch.rand(1, 3, 16, 16)), torch.full((1, 1, 16, 16), 7.5))


def test_adapters_load_local_folders_offline(tmp_path):
    dummy = DepthAnythingAdapter.dummy_kwargs()
    dummy["model"].save_pretrained(tmp_path / "da")
    image = torch.rand(1, 3, 28, 28)
    a = DepthAnythingAdapter(model=dummy["model"], input_size=56).estimate(image)
    b = create_depth_estimator("depth_anything", weights=tmp_path / "da", input_size=56).estimate(image)
    torch.testing.assert_close(a, b)
    with pytest.raises(MissingFileError, match="no Hugging Face model folder"):
        create_depth_estimator("depth_pro", weights=tmp_path / "missing")


def test_user_depth_checks_its_size():
    est = create_depth_estimator("user", depth=torch.full((1, 1, 8, 8), 3.0))
    assert est.estimate(torch.rand(2, 3, 8, 8)).shape == (2, 1, 8, 8)
    with pytest.raises(InvalidInputError, match="must match"):
        est.estimate(torch.rand(1, 3, 9, 8))
    with pytest.raises(UnknownNameError, match="did you mean 'depth_pro'"):
        create_depth_estimator("depthpro")


@pytest.fixture
def two_planes():
    depth = torch.full((2, 1, 16, 16), 4.0)
    depth[:, :, :, :8] = 2.0
    depth[1, :, :4, :] = float("inf")
    return depth


def test_focus_by_point_and_mask(two_planes):
    torch.testing.assert_close(focus_from_point(two_planes, (3, 10)), torch.tensor([2.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(focus_from_point(two_planes, (12, 10)), torch.tensor([4.0, 4.0], dtype=torch.float64))
    # windows straddling the edge: columns 5-9 hold 15 pixels at 2 m and 10 at 4 m, columns 6-10 the reverse
    torch.testing.assert_close(focus_from_point(two_planes, (7, 10))[0], torch.tensor(2.0, dtype=torch.float64))
    torch.testing.assert_close(focus_from_point(two_planes, (8, 10))[0], torch.tensor(4.0, dtype=torch.float64))
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 8:, 9:] = 1.0
    torch.testing.assert_close(focus_from_mask(two_planes, mask), torch.tensor([4.0, 4.0], dtype=torch.float64))


def test_focus_errors_are_clear(two_planes):
    with pytest.raises(InvalidInputError, match="without finite depth"):
        focus_from_point(two_planes, (12, 1))
    with pytest.raises(InvalidInputError, match="outside the 16x16 image"):
        focus_from_point(two_planes, (16, 0))
    with pytest.raises(InvalidInputError, match="mask is empty"):
        focus_from_mask(two_planes, torch.zeros(1, 1, 16, 16))
    with pytest.raises(InvalidInputError, match="exactly one focus option"):
        select_focus(two_planes, point=(1, 1), mask=torch.ones(1, 1, 16, 16))
    with pytest.raises(InvalidInputError, match="exactly one focus option"):
        select_focus(two_planes)
    with pytest.raises(InvalidInputError, match="needs the image and a grounder"):
        select_focus(two_planes, text="the cat")
    with pytest.raises(InvalidInputError, match="only used with a focus text"):
        select_focus(two_planes, point=(1, 1), grounder=lambda i, t: i)


def test_focus_by_text_uses_a_pluggable_grounder(two_planes, monkeypatch):
    def right_half(image, text):
        m = torch.zeros(image.shape[0], 1, *image.shape[-2:])
        m[..., 8:, 9:] = 1.0 if text == "the far wall" else 0.0
        return m

    image = torch.rand(2, 3, 16, 16)
    torch.testing.assert_close(
        select_focus(two_planes, text="the far wall", image=image, grounder=right_half),
        torch.tensor([4.0, 4.0], dtype=torch.float64),
    )
    monkeypatch.setitem(GROUNDERS._entries, "test.right_half", lambda: right_half)
    torch.testing.assert_close(
        select_focus(two_planes, text="the far wall", image=image, grounder="test.right_half"),
        torch.tensor([4.0, 4.0], dtype=torch.float64),
    )
    with pytest.raises(InvalidInputError, match="mask is empty"):
        select_focus(two_planes, text="a unicorn", image=image, grounder=right_half)


def _word_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "the": 2, "far": 3, "wall": 4}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", model_max_length=8)


def test_owlv2_grounder_maps_its_best_box_to_a_mask(two_planes):
    from refocus_bench.models.focus import create_grounder, list_grounders

    assert "owlv2" in list_grounders()
    # a stub detector: patch 1 scores highest, its box (cx, cy, w, h) covers the right half of the padded square
    boxes = torch.tensor([[[0.1, 0.1, 0.1, 0.1], [0.75, 0.5, 0.5, 1.0], [0.2, 0.2, 0.1, 0.1]]])
    logits = torch.tensor([[[-3.0], [4.0], [0.0]]])
    stub = Stub(logits, vision_config=SimpleNamespace(image_size=32))
    stub.forward = lambda input_ids, attention_mask, pixel_values: SimpleNamespace(
        logits=logits.expand(pixel_values.shape[0], -1, -1), pred_boxes=boxes.expand(pixel_values.shape[0], -1, -1)
    )
    g = create_grounder("owlv2", model=stub, tokenizer=_word_tokenizer())
    mask = g(torch.rand(2, 3, 16, 16), "the far wall")
    expected = torch.zeros(2, 1, 16, 16)
    expected[..., 8:] = 1.0
    torch.testing.assert_close(mask, expected)
    torch.testing.assert_close(
        select_focus(two_planes, text="the far wall", image=torch.rand(2, 3, 16, 16), grounder=g),
        torch.tensor([4.0, 4.0], dtype=torch.float64),
    )
    # a non-square image: boxes are relative to the square padded at the bottom/right
    assert g(torch.rand(1, 3, 8, 16), "the far wall")[..., :, 8:].all()
    with pytest.raises(InvalidInputError, match="mask is empty"):  # below the score threshold
        select_focus(
            two_planes,
            text="the far wall",
            image=torch.rand(2, 3, 16, 16),
            grounder=create_grounder("owlv2", model=stub, tokenizer=_word_tokenizer(), threshold=0.999),
        )


def test_owlv2_grounder_runs_a_tiny_random_model():
    from transformers import Owlv2Config, Owlv2ForObjectDetection

    from refocus_bench.models.focus import create_grounder

    torch.manual_seed(0)
    cfg = Owlv2Config(
        text_config={
            "vocab_size": 8,
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 8,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 0,
        },
        vision_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=16,
    )
    g = create_grounder("owlv2", model=Owlv2ForObjectDetection(cfg), tokenizer=_word_tokenizer(), threshold=0.0)
    mask = g(torch.rand(2, 3, 24, 20), "the wall")
    assert mask.shape == (2, 1, 24, 20) and set(mask.unique().tolist()) <= {0.0, 1.0}
