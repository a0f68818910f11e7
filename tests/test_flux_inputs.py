"""genrefocus.flux input handling: bad weights and bad input get clear errors and change nothing; the
release's handling of depth maps (another size, invalid values), focus selection, tiling and offload.

Uses the tiny release reference (``tests/data/genrefocus-official-tiny``) and the toy random pipeline.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from refocus_bench.errors import InvalidInputError, MissingFileError
from refocus_bench.models import create_model
from refocus_bench.models.genrefocus.flux.inputs import focus_disparity, release_disparity
from refocus_bench.models.genrefocus.flux.lora import adapter_state, lora_modules

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DATA = Path(__file__).parent / "data" / "genrefocus-official-tiny"
W = DATA / "weights"
LORA = W / "lora" / "deblurNet.safetensors"


def _model(**kw):
    args = {"base": str(W / "tiny_flux"), "deblur_lora": str(LORA), "bokeh_lora": None, "steps": 3, **kw}
    return create_model("genrefocus.flux", **args)


@pytest.fixture(scope="module")
def model():
    return _model(bokeh_lora=str(W / "lora" / "bokehNet.safetensors"))


def _image(name: str = "blurry_128") -> torch.Tensor:
    return torch.from_numpy(np.load(DATA / "inputs" / f"{name}.npy")).permute(2, 0, 1)[None].float() / 255


def test_lora_with_unknown_target_modules_is_refused_and_installs_nothing(model, tmp_path):
    state = load_file(str(LORA))
    bad = {k.replace("transformer_blocks.0.", "transformer_blocks.9."): v for k, v in state.items()}
    path = tmp_path / "other.safetensors"
    save_file(bad, str(path))
    before = {id(m) for m in lora_modules(model.transformer)}
    from refocus_bench.models.genrefocus.flux.lora import read_lora_file

    with pytest.raises(InvalidInputError, match=r"other.safetensors: LoRA targets .* are not modules"):
        model.add_adapter("pre_deblur", read_lora_file(path), source=str(path))
    assert {id(m) for m in lora_modules(model.transformer)} == before
    assert adapter_state(model.transformer, "pre_deblur") == {}
    junk = tmp_path / "junk.safetensors"
    save_file({"transformer.x_embedder.weight": torch.zeros(2, 2)}, str(junk))
    with pytest.raises(InvalidInputError, match="junk.safetensors: unrecognised LoRA key"):
        _model(deblur_lora=str(junk))


def test_lora_for_a_base_model_of_another_size_is_refused(model, tmp_path):
    state = load_file(str(LORA))
    bad = {k: torch.cat([v, v], dim=1) if k.endswith("lora_A.weight") else v for k, v in state.items()}
    path = tmp_path / "big.safetensors"
    save_file(bad, str(path))
    with pytest.raises(InvalidInputError, match="made for a base model of another size"):
        _model(deblur_lora=str(path))


def test_flux_folder_missing_a_component_names_it(tmp_path):
    folder = tmp_path / "FLUX.1-dev"
    shutil.copytree(W / "tiny_flux", folder)
    shutil.rmtree(folder / "vae")
    with pytest.raises(MissingFileError, match=r"lacks its 'vae' component: .*AutoencoderKL"):
        _model(base=str(folder))
    (folder / "model_index.json").unlink()
    with pytest.raises(MissingFileError, match="model_index.json missing"):
        _model(base=str(folder))
    with pytest.raises(MissingFileError, match="nowhere.safetensors"):
        _model(deblur_lora=str(tmp_path / "nowhere.safetensors"))


def test_depth_of_another_size_and_invalid_depth_as_released():
    depth = np.load(DATA / "inputs" / "depth_128.npy")  # 96 x 112 with a strip of zeros
    assert depth.shape != (128, 128) and (depth <= 0).any()
    depth = depth.copy()
    depth[0, :4] = [-1.0, np.nan, 0.0, np.inf]
    disp = release_disparity(depth, (128, 128), order="depth")
    assert disp.shape == (128, 128) and disp.dtype == np.float32 and np.isfinite(disp).all()
    assert disp.min() >= 0 and disp[0, 0] < 1e-30  # invalid depth is the far plane
    demo = release_disparity(depth, (128, 128), order="disparity")  # the demo resizes the disparity
    assert np.isfinite(demo).all() and np.abs(demo - disp).max() > 1e-3


def test_focus_selection_is_the_releases():
    disp = np.arange(16, dtype=np.float32).reshape(4, 4)
    assert focus_disparity(disp, point=(1, 2)) == 9.0  # one pixel, no window
    assert focus_disparity(disp, point=(3, 3), input_size=(8, 8)) == 5.0  # scaled to the size, truncated
    assert focus_disparity(disp) == 10.0  # the centre (W // 2, H // 2)
    mask = np.zeros((4, 4), np.uint8)
    mask[0, :2] = 255  # values 0, 1: numpy's median is their mean, not torch's lower median
    assert focus_disparity(disp, mask=mask) == 0.5
    assert focus_disparity(disp, mask=np.zeros((2, 2), np.uint8)) == 7.5  # empty mask: the whole image


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"task": "bokeh"}, "needs depth_m and k_px_m"),
        ({"task": "bokeh", "depth_m": np.ones((4, 4)), "k_px_m": -1.0}, "k_px_m must be a finite number >= 0"),
        ({"task": "bokeh", "depth_m": np.ones((2, 4, 4)), "k_px_m": 1.0}, "one \\(h, w\\) map"),
        (
            {"task": "bokeh", "depth_m": np.ones((4, 4)), "k_px_m": 1.0, "focus_point": (1, 1), "focus_distance_m": 2},
            "at most one of",
        ),
        ({"task": "bokeh", "depth_m": np.ones((4, 4)), "k_px_m": 1.0, "focus_point": (500, 1)}, "outside the"),
        ({"task": "deblur", "pre_deblur": torch.rand(1, 3, 64, 64)}, "no pre_deblur adapter"),
        ({"task": "bokeh", "depth_m": np.ones((4, 4)), "k_px_m": 1.0, "pre_deblur": torch.rand(1, 3, 8, 8)}, "only"),
        ({"task": "lens"}, "task must be one of"),
    ],
)
def test_bad_run_arguments(model, kwargs, message):
    kwargs = dict(kwargs)
    with pytest.raises(InvalidInputError, match=message):
        model.run(kwargs.pop("task"), _image(), **kwargs)


def test_package_api_refuses_invalid_depth(model):
    depth = torch.full((1, 1, 128, 128), 2.0)
    depth[..., 0, 0] = 0.0
    with pytest.raises(InvalidInputError, match="depth"):
        model.bokeh(_image("aif_128"), depth, focus_distance_m=2.0, k_px_m=10.0)


def test_tiling_setting():
    s = _model().sampler
    assert (s.tiled(480, 640), s.tiled(512, 640), s.tiled(512, 512)) == (False, True, True)
    s.tiling = "off"
    assert not s.tiled(1024, 1024)
    s.tiling = "on"
    assert s.tiled(480, 640) and not s.tiled(128, 128)  # 30 x 40 tokens >= 32 x 32; 8 x 8 is below a tile
    with pytest.raises(InvalidInputError, match="tiling must be one of"):
        _model(tiling="sometimes")


@pytest.mark.parametrize("offload", ["model", "sequential"])
def test_offload_gives_the_same_numbers_and_keeps_weights_on_the_cpu(model, offload):
    ref = model.run("deblur", _image())
    off = _model(offload=offload)
    out = off.run("deblur", _image())
    torch.testing.assert_close(out.latents, ref.latents, atol=0, rtol=0)
    assert {p.device.type for p in off.sampler.parameters()} == {"cpu"}
    with pytest.raises(InvalidInputError, match="offload must be one of"):
        _model(offload="disk")


def test_deterministic_sampling_runs_a_batch_at_once_and_equals_single_runs():
    m = _model(sampling="deterministic")
    x = torch.cat([_image(), _image("aif_128")])
    batch, single = m.deblur(x), m.deblur(x[1:])
    torch.testing.assert_close(batch[1:], single, atol=2 / 255, rtol=0)
    release = _model()
    torch.testing.assert_close(release.deblur(x)[1:], release.deblur(x[1:]), atol=0, rtol=0)


def test_a_depth_estimator_sees_the_deblurnet_output_in_the_refocus_chain(model):
    depth = np.load(DATA / "inputs" / "depth_128.npy")
    seen = []

    def estimator(image):
        seen.append(image.clone())
        return torch.from_numpy(depth)[None, None]

    out = model.run("refocus", _image(), depth_m=estimator, k_px_m=20.0, focus_point=(64, 64))
    s1 = np.load(DATA / "outputs" / "demo_chain_128" / "stage1_deblurred_uint8.npy")
    (x,) = seen
    assert x.shape == (1, 3, 128, 128)
    torch.testing.assert_close(x, out.stage1.output_uint8.permute(0, 3, 1, 2).float() / 255, atol=0, rtol=0)
    assert (np.abs(x[0].permute(1, 2, 0).numpy() * 255 - s1) <= 1).mean() >= 0.999
    ref = np.load(DATA / "outputs" / "demo_chain_128" / "final_latents_packed.npy")
    assert float(np.abs(out.latents.numpy() - ref).max()) <= 1e-4


def test_bad_focus_is_refused_before_any_stage_runs(model, monkeypatch):
    def no_stage(*args, **kwargs):
        raise AssertionError("a stage ran before the input was checked")

    monkeypatch.setattr(model.sampler, "run", no_stage)
    with pytest.raises(InvalidInputError, match="outside the 128x128 image"):
        model.run("refocus", _image(), depth_m=np.ones((4, 4)), k_px_m=5.0, focus_point=(128, 3))
    with pytest.raises(InvalidInputError, match="focus_mask must be one"):
        model.run("refocus", _image(), depth_m=np.ones((4, 4)), k_px_m=5.0, focus_mask=np.ones((2, 3, 3)))
