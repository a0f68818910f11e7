"""No-reference and CLIP adapters: the real code paths on tiny randomly initialised models."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from refocus_bench.errors import InvalidInputError, MissingFileError
from refocus_bench.metrics import create_metric
from refocus_bench.metrics.no_reference import CLIPModelIQA, MANIQAModel, MUSIQModel, ViTConfig

TINY = dict(image_size=32, patch_size=8, width=32, layers=3, heads=2, output_dim=16)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("nr")
    clip = CLIPModelIQA(ViTConfig(**TINY))
    clip.logit_scale.fill_(10.0)
    clip.save(root / "clip")
    MUSIQModel(ViTConfig(**TINY, extra={"scales": [32, 48], "hash_grid": 4})).save(root / "musiq")
    MANIQAModel(ViTConfig(**TINY, extra={"layers": [0, 1, 2]})).save(root / "maniqa")
    return root


def _images(b=3, h=40, w=56, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g)


@pytest.mark.parametrize(
    ("name", "folder"), [("clipiqa.vit", "clip"), ("musiq.vit", "musiq"), ("maniqa.vit", "maniqa")]
)
def test_no_reference_adapters_score_batches_consistently(tiny_models, name, folder):
    m = create_metric(name, weights_dir=tiny_models / folder)
    x = _images()
    s = m.score(x)
    assert s.shape == (3,) and torch.isfinite(s).all()
    single = torch.cat([m.score(x[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(s, single, atol=1e-5, rtol=1e-4)
    assert not torch.allclose(s, s[:1].expand(3))  # the images are told apart
    m.update(x)
    assert m.compute().item() == pytest.approx(s.double().mean().item(), abs=1e-6)
    assert m.definition()["conventions"]["weights_dir"] == str(tiny_models / folder)


def test_model_is_a_child_module(tiny_models):
    m = create_metric("musiq.vit", weights_dir=tiny_models / "musiq")
    assert isinstance(m.net, MUSIQModel) and not m.net.training
    saved = {k.removeprefix("net."): v for k, v in m.state_dict().items() if k.startswith("net.")}
    assert saved.keys() == MUSIQModel.load(tiny_models / "musiq").state_dict().keys()


def test_save_load_round_trip_reproduces_scores(tiny_models, tmp_path):
    model = MUSIQModel.load(tiny_models / "musiq")
    x = _images(b=2)
    model.save(tmp_path / "copy")
    again = MUSIQModel.load(tmp_path / "copy")
    torch.testing.assert_close(model.quality(x), again.quality(x))


def test_clipiqa_is_the_softmax_over_antonym_prompts(tiny_models):
    m = create_metric("clipiqa.vit", weights_dir=tiny_models / "clip")
    model = CLIPModelIQA.load(tiny_models / "clip")
    x = _images(b=2)
    e = model.embed(x)
    t = F.normalize(model.prompt_features, dim=-1)
    expected = torch.softmax(10.0 * e @ t.T, dim=-1)[:, 0]
    torch.testing.assert_close(m.score(x), expected)
    assert ((m.score(x) >= 0) & (m.score(x) <= 1)).all()


def test_clip_i_is_cosine_similarity(tiny_models):
    m = create_metric("clip_i.vit", weights_dir=tiny_models / "clip")
    x, y = _images(b=2, seed=2), _images(b=2, seed=3)
    torch.testing.assert_close(m.score(x, x), torch.ones(2), atol=1e-5, rtol=0)
    model = CLIPModelIQA.load(tiny_models / "clip")
    torch.testing.assert_close(
        m.score(x, y), F.cosine_similarity(model.embed(x), model.embed(y), dim=-1), atol=1e-5, rtol=0
    )


def test_adapters_are_differentiable(tiny_models):
    x = _images(b=1).requires_grad_(True)
    create_metric("maniqa.vit", weights_dir=tiny_models / "maniqa").score(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_missing_weights_name_the_expected_path(tmp_path, monkeypatch):
    monkeypatch.setenv("REFOCUS_BENCH_HOME", str(tmp_path / "home"))
    with pytest.raises(MissingFileError, match=str(tmp_path / "config.json")):
        create_metric("musiq.vit", weights_dir=tmp_path)
    with pytest.raises(
        MissingFileError, match=str(tmp_path / "home" / "weights" / "metrics" / "clipiqa.vit" / "config.json")
    ):
        create_metric("clipiqa.vit")  # default location under $REFOCUS_BENCH_HOME holds nothing


def test_wrong_model_kind_and_bad_input(tiny_models):
    with pytest.raises(InvalidInputError, match="another model"):
        create_metric("maniqa.vit", weights_dir=tiny_models / "clip")
    m = create_metric("clipiqa.vit", weights_dir=tiny_models / "clip")
    with pytest.raises(InvalidInputError, match="NaN"):
        m.score(torch.full((1, 3, 32, 32), float("nan")))
    with pytest.raises(InvalidInputError, match="at least 16"):
        m.score(torch.rand(1, 3, 8, 8))
