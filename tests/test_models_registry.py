"""Registry verbs, entry-point discovery, protocols, and clear errors for bad input."""

from __future__ import annotations

from importlib import metadata

import pytest
import torch

from refocus_bench.errors import InvalidInputError, MissingFileError, UnknownNameError
from refocus_bench.models import create_model, list_models, model_card
from refocus_bench.models import weights as model_weights
from refocus_bench.models.base import ModelCard, RefocusModel, WeightsFile
from refocus_bench.optics import ThinLens
from refocus_bench.registry import Registry
from refocus_bench.tasks import BokehRenderer, Deblurrer, Refocuser


class EchoModel(RefocusModel):
    """A third-party model: returns its input (used through a fake entry point)."""

    card = ModelCard(
        name="thirdparty.echo",
        tasks=("deblur",),
        summary="echo",
        source="tests",
        licence="MIT",
        paper="",
        input_contract="any",
    )

    def _deblur(self, image, coc_px):
        return image


def test_unknown_name_lists_close_matches():
    with pytest.raises(UnknownNameError, match="did you mean 'deblur.wiener'"):
        create_model("deblur.wienr")
    with pytest.raises(UnknownNameError, match="list_models"):
        model_card("no-such-model-at-all")


def test_list_models_filters():
    assert list_models("bokeh.*") == ["bokeh.gaussian", "bokeh.layered", "bokeh.scatter"]
    assert "genrefocus.tiny" in list_models(task="refocus")
    with pytest.raises(InvalidInputError, match="task must be one of"):
        list_models(task="denoise")


def test_third_party_models_register_through_entry_points(monkeypatch):
    ep = metadata.EntryPoint(
        name="thirdparty.echo", value="tests.test_models_registry:EchoModel", group="refocus_bench.models"
    )
    real = metadata.entry_points

    def fake(**kw):
        return [ep] if kw.get("group") == "refocus_bench.models" else real(**kw)

    monkeypatch.setattr("refocus_bench.registry.metadata.entry_points", fake)
    reg = Registry("model", "refocus_bench.models")
    assert reg.list("thirdparty.*") == ["thirdparty.echo"]
    model = reg.create("thirdparty.echo")
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(model.deblur(x), x)


def test_models_satisfy_their_task_protocols():
    assert isinstance(create_model("identity"), Deblurrer)
    assert isinstance(create_model("bokeh.gaussian"), BokehRenderer)
    assert isinstance(create_model("refocus.cascade"), Refocuser)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m, x, z: m.deblur(x[0]), r"image must have shape \(B, 3, H, W\)"),
        (lambda m, x, z: m.deblur(x[:, :1]), r"image must have shape"),
        (lambda m, x, z: m.deblur(x * 2), r"image must be <= 1"),
        (lambda m, x, z: m.bokeh(x, z[..., :8], focus_distance_m=2.0, k_px_m=3.0), r"depth_m must have shape"),
        (lambda m, x, z: m.bokeh(x, z, k_px_m=3.0), "k_px_m needs focus_distance_m"),
        (lambda m, x, z: m.bokeh(x, z, focus_distance_m=2.0), "exactly one of k_px_m"),
        (
            lambda m, x, z: m.bokeh(x, z, focus_distance_m=2.0, k_px_m=3.0, lens=ThinLens(50, 2, 2)),
            "exactly one of k_px_m",
        ),
        (lambda m, x, z: m.bokeh(x, z, focus_distance_m=2.0, lens=ThinLens(50, 2, 2)), "do not pass focus_distance_m"),
        (lambda m, x, z: m.bokeh(x, z, focus_distance_m=2.0, k_px_m=-1.0), "k_px_m must be finite and >= 0"),
        (lambda m, x, z: m.bokeh(x, -z, focus_distance_m=2.0, k_px_m=1.0), "depth_m must be > 0"),
        (
            lambda m, x, z: m.bokeh(x, z, focus_distance_m=torch.ones(3), k_px_m=1.0),
            r"focus_distance_m must be a scalar or a tensor of shape \(2,\)",
        ),
        (lambda m, x, z: m.bokeh(x, z, focus_distance_m=2.0, k_px_m=1.0, aperture="hexagn"), "did you mean 'hexagon'"),
    ],
)
def test_bad_input_gets_a_clear_error(call, message):
    model = create_model("refocus.cascade", deblur="identity", bokeh="bokeh.gaussian")
    x, z = torch.rand(2, 3, 16, 16), torch.full((2, 1, 16, 16), 3.0)
    with pytest.raises((InvalidInputError, UnknownNameError), match=message):
        call(model, x, z)


def test_missing_weights_say_where_to_put_them(tmp_path, monkeypatch):
    with pytest.raises(MissingFileError, match="weight file not found"):
        create_model("genrefocus.tiny", weights=tmp_path / "nope.safetensors")
    monkeypatch.setattr(model_weights, "PACKAGE_DIR", tmp_path)
    with pytest.raises(MissingFileError, match="ships with the package"):
        create_model("genrefocus.tiny")
    entry = WeightsFile("x.safetensors", None, "cache", "https://example.org/x", "MIT")
    monkeypatch.setenv("REFOCUS_BENCH_HOME", str(tmp_path / "home"))
    with pytest.raises(MissingFileError, match=str(tmp_path / "home" / "weights" / "models" / "x.safetensors")):
        model_weights.resolve_weights(entry)


def test_corrupt_weights_are_rejected_by_sha256(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    monkeypatch.setattr(model_weights, "PACKAGE_DIR", tmp_path)
    from refocus_bench.models.genrefocus.tiny import WEIGHTS

    save_file({"deblur.x": torch.zeros(1)}, str(tmp_path / WEIGHTS.filename))
    with pytest.raises(model_weights.WeightsMismatchError, match="sha256"):
        create_model("genrefocus.tiny")


def test_model_constructor_arguments_are_checked():
    with pytest.raises(InvalidInputError, match="coc_source must be one of"):
        create_model("deblur.wiener", coc_source="guess")
    with pytest.raises(InvalidInputError, match="unknown arch keys"):
        create_model("genrefocus.tiny", weights=None, arch={"depth": 3})


def test_card_table_is_generated_from_the_cards():
    from refocus_bench.models import cards_markdown

    table = cards_markdown()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    assert len(rows) == len(list_models())
    assert all(line.count(" | ") == 5 for line in rows)  # pipes inside cells are escaped
