"""genrefocus.flux reproduces the released GenRefocus: known answers of the release on a tiny random FLUX.

The release (``rayray9999/Genfocus`` 54752a1) was run on a tiny random FLUX.1-style pipeline with random
LoRA files (CPU, float32, one thread, 3 steps); ``tests/data/genrefocus-official-tiny/README.md`` says
what is stored. Here the same weights load through the public API (``create_model`` with ``base`` and
the three LoRA paths) and every scenario must give the release's final latents and decoded image within
1e-4 and its 8-bit output within +-1 on at least 99.9 % of the values. The 128-px scenarios are in
``tests/data``; the 512x640 (tiled) ones are read from ``../shared/reference-data`` and skip without it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from refocus_bench.models import create_model
from refocus_bench.models.genrefocus.flux.lora import lora_modules
from refocus_bench.models.genrefocus.flux.sampling import StageRandomness

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LOCAL = Path(__file__).parent / "data" / "genrefocus-official-tiny"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference-data" / "genrefocus-official-tiny"
MANIFEST = json.loads((LOCAL / "manifest.json").read_text())
SMALL = ["deblur_128", "deblur_pre_deblur_128", "bokeh_128", "demo_chain_128"]
LARGE = ["deblur_512x640", "deblur_pre_deblur_512x640", "bokeh_512x640"]
LATENT_TOL = DECODED_TOL = 1e-4
UINT8_AGREEMENT = 0.999


@pytest.fixture(scope="module")
def model():
    w = LOCAL / "weights"
    return create_model(
        "genrefocus.flux",
        base=str(w / "tiny_flux"),
        deblur_lora=str(w / "lora" / "deblurNet.safetensors"),
        pre_deblur_lora=str(w / "lora" / "deblurNet_with_pre_deblur.safetensors"),
        bokeh_lora=str(w / "lora" / "bokehNet.safetensors"),
        steps=3,
    )


def _root(scenario: str) -> Path:
    if scenario in SMALL:
        return LOCAL
    if not (SHARED / "outputs" / scenario).is_dir():
        pytest.skip(f"the 512x640 reference outputs live in {SHARED} (35 MB, not in the repository); absent here")
    return SHARED


def _image(root: Path, name: str) -> torch.Tensor:
    return torch.from_numpy(np.load(root / "inputs" / f"{name}.npy")).permute(2, 0, 1)[None].float() / 255


def _run(model, scenario: str):
    """The scenario's call through the public API, as the manifest records it."""
    root, size = _root(scenario), scenario.rsplit("_", 1)[-1]
    if scenario.startswith("deblur_pre_deblur"):
        return model.run("deblur", _image(root, f"blurry_{size}"), pre_deblur=_image(root, f"pre_deblur_{size}"))
    if scenario.startswith("deblur"):
        return model.run("deblur", _image(root, f"blurry_{size}"))
    depth = np.load(root / "inputs" / f"depth_{size}.npy")
    if scenario.startswith("bokeh"):
        mask = np.load(root / "inputs" / f"mask_{size}.npy")
        return model.run("bokeh", _image(root, f"aif_{size}"), depth_m=depth, k_px_m=15.0, focus_mask=mask)
    call = MANIFEST["scenarios"][scenario]
    return model.run(
        "refocus", _image(root, "blurry_128"), depth_m=depth, k_px_m=call["k_value"], focus_point=tuple(call["click"])
    )


def _agreement(mine: torch.Tensor, ref: np.ndarray) -> float:
    return float((np.abs(mine.numpy().astype(int) - ref.astype(int)) <= 1).mean())


def _check(result, root: Path, scenario: str) -> None:
    out = root / "outputs" / scenario
    latents, decoded = np.load(out / "final_latents_packed.npy"), np.load(out / "decoded_float.npy")
    ref_u8 = np.load(out / "output_uint8.npy")
    assert result.latents.shape == latents.shape and result.decoded.shape == decoded.shape
    d_lat = float(np.abs(result.latents.numpy() - latents).max())
    d_dec = float(np.abs(result.decoded.numpy() - decoded).max())
    agree = _agreement(result.output_uint8[0], ref_u8)
    assert d_lat <= LATENT_TOL, f"{scenario}: final latents differ by {d_lat:.3g}"
    assert d_dec <= DECODED_TOL, f"{scenario}: decoded image differs by {d_dec:.3g}"
    assert agree >= UINT8_AGREEMENT, f"{scenario}: only {agree:.2%} of the 8-bit values within +-1"


@pytest.mark.parametrize("scenario", SMALL + LARGE)
def test_release_known_answers(model, scenario):
    result = _run(model, scenario)
    root = _root(scenario)
    _check(result, root, scenario)
    out = root / "outputs" / scenario
    if (out / "disp_focus.npy").is_file():  # the release's focus selection, to the bit
        assert float(result.disp_focus[0]) == float(np.load(out / "disp_focus.npy"))
        dmap = np.load(out / "defocus_map.npy")
        np.testing.assert_array_equal(result.defocus_map.numpy().reshape(dmap.shape), dmap)
    if scenario == "demo_chain_128":  # the first stage is DeblurNet on the same input
        s1 = np.load(out / "stage1_deblurred_uint8.npy")
        assert _agreement(result.stage1.output_uint8[0], s1) >= UINT8_AGREEMENT
    expected_tiled = MANIFEST["scenarios"][scenario]["tiled_denoise_active"]
    assert model.sampler.tiled(*result.output_uint8.shape[1:3]) == expected_tiled


def test_a_lora_scale_of_1_01_is_caught(model, monkeypatch):
    """The known answers pin the release's LoRA scale of exactly 1: 1.01 must break them."""
    for m in lora_modules(model.transformer):
        monkeypatch.setitem(m.scales, "deblur", 1.01)
    result = _run(model, "deblur_128")
    with pytest.raises(AssertionError, match="final latents differ"):
        _check(result, LOCAL, "deblur_128")


def test_deterministic_sampling_is_not_the_release(model, monkeypatch):
    monkeypatch.setitem(model.settings, "sampling", "deterministic")
    result = _run(model, "deblur_128")
    with pytest.raises(AssertionError, match="differ"):
        _check(result, LOCAL, "deblur_128")


def test_demo_fixed_latents_are_the_bokeh_initial_noise(model):
    """The demo's cached latents (generator 1234) are the noise BokehNet draws itself, so passing them changes
    nothing."""
    fixed = np.load(LOCAL / "outputs" / "demo_chain_128" / "fixed_latents.npy")
    rng = StageRandomness("release", 42, 1234, "cpu")
    noise = rng.initial_noise(model.sampler.pipe, 1, 128, 128, torch.float32, torch.device("cpu"))
    np.testing.assert_array_equal(noise.numpy(), fixed)


@pytest.mark.parametrize("scenario", SMALL)
def test_fixture_files_are_the_ones_the_manifest_describes(scenario):
    outputs = MANIFEST["scenarios"][scenario]["outputs"]
    for name, info in outputs.items():
        arr = np.load(LOCAL / "outputs" / scenario / f"{name}.npy")
        assert hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest() == info["sha256"], name
