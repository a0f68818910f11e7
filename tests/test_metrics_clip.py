"""CLIP-IQA (torchmetrics) and CLIP-I against transformers' own CLIPModel forward, on tiny random models."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from refocus_bench.errors import InvalidInputError, MissingFileError
from refocus_bench.metrics import create_metric
from refocus_bench.metrics.weights_import import import_weights

from .clip_fixtures import tiny_clip

SIZES = [(32, 32), (40, 56), (56, 40), (33, 47), (64, 48), (48, 96), (90, 35), (71, 71)]


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip") / "tiny"
    tiny_clip(folder)
    return folder


def _images(seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(1, 3, h, w, generator=g) for h, w in SIZES]


def _reference_pixels(proc, x):
    """CLIP's processor on its documented input: values in [0, 255], rescaled by the processor."""
    return proc.image_processor([i * 255.0 for i in x], do_rescale=True, return_tensors="pt")["pixel_values"]


def test_clipiqa_equals_clipmodel_softmax_over_good_and_bad_photo(clip_dir):
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(str(clip_dir)).eval()
    proc = CLIPProcessor.from_pretrained(str(clip_dir))
    metric = create_metric("clipiqa.vit", weights_dir=clip_dir)
    text = proc.tokenizer(["Good photo.", "Bad photo."], padding=True, return_tensors="pt")
    worst = 0.0
    for x in _images():
        with torch.no_grad():
            out = model(
                input_ids=text["input_ids"],
                attention_mask=text["attention_mask"],
                pixel_values=_reference_pixels(proc, x),
            )
        want = out.logits_per_image.softmax(dim=-1)[:, 0]
        got = metric.score(x)
        assert got.shape == (1,)
        worst = max(worst, (got - want).abs().max().item())
    assert worst < 1e-5, worst
    scores = torch.cat([metric.score(x) for x in _images()])
    assert scores.std() > 1e-3 and 0.01 < scores.min() and scores.max() < 0.99  # told apart, not saturated


def test_clip_i_equals_cosine_of_clipmodel_image_embeddings(clip_dir):
    from transformers import CLIPModel, CLIPProcessor

    model = CLIPModel.from_pretrained(str(clip_dir)).eval()
    proc = CLIPProcessor.from_pretrained(str(clip_dir))
    metric = create_metric("clip_i.vit", weights_dir=clip_dir)
    worst = 0.0
    for x, y in zip(_images(1), _images(2), strict=True):
        with torch.no_grad():
            ex = model.get_image_features(pixel_values=_reference_pixels(proc, x)).pooler_output
            ey = model.get_image_features(pixel_values=_reference_pixels(proc, y)).pooler_output
        worst = max(worst, (metric.score(x, y) - F.cosine_similarity(ex, ey)).abs().max().item())
        assert metric.score(x, x).item() == pytest.approx(1.0, abs=1e-5)
    assert worst < 1e-5, worst


def test_batches_equal_single_images_and_accumulate(clip_dir):
    metric = create_metric("clipiqa.vit", weights_dir=clip_dir)
    x = torch.rand(3, 3, 40, 48, generator=torch.Generator().manual_seed(5))
    s = metric.score(x)
    torch.testing.assert_close(s, torch.cat([metric.score(x[i : i + 1]) for i in range(3)]), atol=1e-5, rtol=0)
    metric.update(x)
    assert metric.compute().item() == pytest.approx(s.double().mean().item(), abs=1e-6)
    assert metric.definition()["conventions"]["prompts"] == ("Good photo.", "Bad photo.")


def test_official_clip_layout_imports_without_missing_or_unexpected_keys(tmp_path):
    """openai/clip-vit-base-patch16's layout: 12 text and 12 vision layers (widths do not change key names),
    with the ``position_ids`` buffers that the released model.safetensors carries."""
    from safetensors.torch import load_file, save_file

    tiny_clip(tmp_path / "download", layers=12)
    sd = load_file(str(tmp_path / "download" / "model.safetensors"))
    sd["text_model.embeddings.position_ids"] = torch.arange(77)[None]
    sd["vision_model.embeddings.position_ids"] = torch.arange(17)[None]
    save_file(sd, str(tmp_path / "download" / "model.safetensors"), metadata={"format": "pt"})
    folder = import_weights("clipiqa.vit", tmp_path / "download", home=tmp_path / "home")
    assert (folder / "model.safetensors").is_file() and (folder / "card.json").is_file()
    m = create_metric("clipiqa.vit", weights_dir=folder)
    sha = m.definition()["conventions"]["weights_sha256"]
    assert isinstance(sha, str) and len(sha) == 64
    assert len(m.net.model.clip.vision_model.encoder.layers) == 12


def test_import_rejects_an_incomplete_checkpoint_naming_the_keys(tmp_path):
    from safetensors.torch import load_file, save_file

    tiny_clip(tmp_path / "dl")
    sd = load_file(str(tmp_path / "dl" / "model.safetensors"))
    sd.pop("visual_projection.weight")
    save_file(sd, str(tmp_path / "dl" / "model.safetensors"))
    with pytest.raises(InvalidInputError, match="visual_projection.weight"):
        import_weights("clip_i.vit", tmp_path / "dl", home=tmp_path / "home")
    assert not (tmp_path / "home" / "weights" / "metrics" / "clip_i.vit").exists()  # nothing partial


@pytest.mark.parametrize("name", ["clipiqa.vit", "clip_i.vit"])
def test_missing_weights_name_the_file_and_where_to_get_them(tmp_path, monkeypatch, name):
    monkeypatch.setenv("REFOCUS_BENCH_HOME", str(tmp_path))
    with pytest.raises(MissingFileError) as err:
        create_metric(name)
    msg = str(err.value)
    assert str(tmp_path / "weights" / "metrics" / name / "config.json") in msg
    assert "openai/clip-vit-base-patch16" in msg and f"weights import {name}" in msg


def test_bad_input_is_rejected(clip_dir):
    m = create_metric("clipiqa.vit", weights_dir=clip_dir)
    with pytest.raises(InvalidInputError, match="NaN"):
        m.score(torch.full((1, 3, 32, 32), float("nan")))
    with pytest.raises(InvalidInputError, match="at least 8"):
        m.score(torch.rand(1, 3, 4, 4))
