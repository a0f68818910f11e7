"""Registry-driven conformance: every registered model gets card, smoke, shape, batch and save/load checks.

Each model is built from its ``dummy_kwargs()`` (tiny, offline, randomly initialised where it has
weights), so a third-party model registered through the entry-point group is tested the same way.
"""

from __future__ import annotations

import pytest
import torch

from refocus_bench.errors import InvalidInputError
from refocus_bench.models import MODELS, TASKS, create_model, list_models, load_model, model_card, save_model

NAMES = list_models()
SIZE = 32


def build(name: str):
    torch.manual_seed(0)
    return create_model(name, **MODELS.get(name).dummy_kwargs())


@pytest.fixture(scope="module")
def models():
    cache: dict = {}

    def get(name: str):
        if name not in cache:
            cache[name] = build(name)
        return cache[name]

    return get


def inputs(batch: int = 2) -> dict:
    g = torch.Generator().manual_seed(1)
    image = torch.rand(batch, 3, SIZE, SIZE, generator=g)
    depth = 1.0 + 4.0 * torch.rand(batch, 1, SIZE, SIZE, generator=g)
    depth[:, :, :4, :4] = float("inf")  # sky
    alpha = torch.zeros(batch, 1, SIZE, SIZE)
    alpha[:, :, 8:24, 10:22] = 1.0  # the subject of lens-to-lens
    return {
        "image": image,
        "depth": depth,
        "focus": torch.tensor([2.0, 3.0])[:batch],
        "k": torch.tensor([5.0, 2.5])[:batch],
        "alpha": alpha,
        "disparity": torch.tensor([3.0, 4.5])[:batch],  # background CoC 3.2 px at f/1.4
    }


def run(model, task: str, x: dict, sl: slice = slice(None)) -> torch.Tensor:
    if task == "deblur":
        return model.deblur(x["image"][sl])
    if task == "lens-to-lens":
        lenses = {"src_lens": "Sony50mmf16.0BS", "tgt_lens": "Canon50mmf1.4BS"}
        return model.lens_to_lens(x["image"][sl], **lenses, disparity=x["disparity"][sl], alpha=x["alpha"][sl])
    kw = {"focus_distance_m": x["focus"][sl], "k_px_m": x["k"][sl]}
    return getattr(model, task)(x["image"][sl], x["depth"][sl], **kw)


def test_registry_lists_every_kind_of_model():
    for expected in (
        "identity",
        "deblur.wiener",
        "deblur.richardson_lucy",
        "deblur.unsharp",
        "bokeh.layered",
        "bokeh.scatter",
        "bokeh.gaussian",
        "refocus.cascade",
        "genrefocus.tiny",
    ):
        assert expected in NAMES
    assert set(list_models(task="deblur")) >= {"deblur.wiener", "genrefocus.tiny", "identity"}
    assert "deblur.wiener" not in list_models(task="bokeh")


@pytest.mark.parametrize("name", NAMES)
def test_card(name):
    card = model_card(name)
    assert card.name == name
    assert card.tasks and set(card.tasks) <= set(TASKS)
    assert card.summary and card.source and card.licence and card.input_contract
    for w in card.weights:
        assert w.filename.endswith(".safetensors")
        assert w.sha256 is None or len(w.sha256) == 64


@pytest.mark.parametrize("name", NAMES)
def test_smoke_and_shapes(name, models):
    model = models(name)
    x = inputs()
    for task in model.tasks:
        out = run(model, task, x)
        assert out.shape == x["image"].shape and out.dtype == torch.float32, task
        assert bool(torch.isfinite(out).all()) and float(out.min()) >= 0.0 and float(out.max()) <= 1.0, task
    for task in set(TASKS) - set(model.tasks):
        with pytest.raises(InvalidInputError, match="does not support"):
            run(model, task, x)


@pytest.mark.parametrize("name", NAMES)
def test_batch_equals_single(name, models):
    model = models(name)
    x = inputs()
    for task in model.tasks:
        batch = run(model, task, x)
        for i in range(2):
            single = run(model, task, x, slice(i, i + 1))
            torch.testing.assert_close(batch[i : i + 1], single, atol=2e-4, rtol=0, msg=f"{name} {task} sample {i}")


@pytest.mark.parametrize("name", NAMES)
def test_save_load_roundtrip(name, models, tmp_path):
    model = models(name)
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert type(loaded) is type(model) and loaded.config() == model.config()
    x = inputs()
    for task in model.tasks:
        torch.testing.assert_close(run(loaded, task, x), run(model, task, x), atol=1e-6, rtol=0)
