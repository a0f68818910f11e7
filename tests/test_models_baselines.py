"""Baselines against independent known answers (exact inverses, physics identities, compositions)."""

from __future__ import annotations

import pytest
import torch
from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb
from kornia.filters import gaussian_blur2d

from refocus_bench.errors import InvalidInputError
from refocus_bench.models import create_model
from refocus_bench.models.baselines.bokeh import gaussian_bokeh
from refocus_bench.models.baselines.deconvolution import (
    deconvolve_layered,
    estimate_coc_px,
    fft_convolve,
    richardson_lucy,
    unsharp_mask,
    wiener_deconvolve,
)
from refocus_bench.optics import ThinLens
from refocus_bench.simulators.render.apertures import Disk, make_aperture
from refocus_bench.simulators.render.rgbd import render_bokeh
from refocus_bench.simulators.render.scenes import dead_leaves_scene


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean()))


@pytest.fixture(scope="module")
def scene_aif() -> torch.Tensor:
    aif, _, _ = dead_leaves_scene((96, 96), seed=5).flatten()
    return aif


def test_wiener_inverts_a_noise_free_circular_blur():
    img = torch.rand(1, 3, 48, 48, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    for r in (1.5, 3.0):
        k = Disk().kernel(r, dtype=torch.float64)
        blurred = fft_convolve(img, k, boundary="periodic")
        assert psnr(blurred, img) < 25
        assert psnr(wiener_deconvolve(blurred, k, nsr=1e-14, boundary="periodic"), img) > 60


def test_fft_convolve_matches_direct_convolution():
    img = torch.rand(1, 1, 20, 20, dtype=torch.float64)
    k = make_aperture("heart").kernel(2.5, dtype=torch.float64)
    direct = torch.nn.functional.conv2d(
        torch.nn.functional.pad(img, (k.shape[1] // 2,) * 2 + (k.shape[0] // 2,) * 2, mode="circular"),
        torch.flip(k, (0, 1))[None, None],
    )
    torch.testing.assert_close(fft_convolve(img, k, boundary="periodic"), direct)


def test_richardson_lucy_preserves_flux_and_sharpens(scene_aif):
    img = rgb_to_linear_rgb(scene_aif.double())
    k = Disk().kernel(2.0, dtype=torch.float64)
    blurred = fft_convolve(img, k, boundary="periodic")
    out = richardson_lucy(blurred, k, iterations=50, boundary="periodic")
    torch.testing.assert_close(out.sum(dim=(-2, -1)), blurred.sum(dim=(-2, -1)), rtol=1e-9, atol=0)
    assert psnr(out, img) > psnr(blurred, img) + 3


def test_layered_deconvolution_with_oracle_coc_beats_the_blurry_input(scene_aif):
    coc = torch.full((1, 1, 96, 96), 4.0)
    blurry = render_bokeh(scene_aif, coc_px=coc)
    restored = deconvolve_layered(blurry, coc, lambda x, k: wiener_deconvolve(x, k, nsr=1e-3))
    assert psnr(restored, scene_aif) > psnr(blurry, scene_aif) + 3
    model = create_model("deblur.wiener", nsr=1e-3)
    torch.testing.assert_close(model.deblur(blurry, coc_px=coc), restored)


def test_zero_coc_deconvolution_is_the_identity(scene_aif):
    out = deconvolve_layered(scene_aif, torch.zeros(1, 1, 96, 96), lambda x, k: wiener_deconvolve(x, k))
    torch.testing.assert_close(out, scene_aif, atol=2e-6, rtol=0)


def test_two_layer_oracle_restores_both_regions(scene_aif):
    # left half blurred at radius 3, right half sharp: per-layer deconvolution must treat them differently
    lin = rgb_to_linear_rgb(scene_aif)
    blurred = linear_rgb_to_rgb(fft_convolve(lin, Disk().kernel(3.0)).clamp(0, 1))
    mix = scene_aif.clone()
    mix[..., :48] = blurred[..., :48]
    coc = torch.zeros(1, 1, 96, 96)
    coc[..., :48] = 3.0
    out = create_model("deblur.wiener", nsr=1e-2).deblur(mix, coc_px=coc)
    assert psnr(out[..., 8:40], scene_aif[..., 8:40]) > psnr(mix[..., 8:40], scene_aif[..., 8:40]) + 2
    assert psnr(out[..., 60:], scene_aif[..., 60:]) > 40  # the sharp layer is untouched away from the seam


@pytest.mark.parametrize("radius", [2.0, 4.0])
def test_blind_estimate_finds_a_uniform_blur(radius):
    aif, _, _ = dead_leaves_scene((128, 128), seed=7).flatten()
    blurry = render_bokeh(aif, coc_px=torch.full((1, 1, 128, 128), radius))
    est = estimate_coc_px(blurry)
    assert abs(float(est.median()) - radius) < 0.35 * radius


def test_unsharp_mask_properties(scene_aif):
    torch.testing.assert_close(unsharp_mask(scene_aif, amount=0.0), scene_aif)
    flat = torch.full((1, 3, 16, 16), 0.4)
    torch.testing.assert_close(unsharp_mask(flat), flat)
    blurry = gaussian_blur2d(scene_aif, (9, 9), (1.5, 1.5))
    assert psnr(unsharp_mask(blurry), scene_aif) > psnr(blurry, scene_aif)


def test_gaussian_bokeh_uniform_coc_is_one_gaussian(scene_aif):
    r = 3.0
    out = gaussian_bokeh(scene_aif, torch.full((1, 1, 96, 96), r))
    ref = gaussian_blur2d(scene_aif, (11, 11), (r / 2, r / 2), border_type="reflect")
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=0)
    torch.testing.assert_close(gaussian_bokeh(scene_aif, torch.zeros(1, 1, 96, 96)), scene_aif)


@pytest.mark.parametrize("name", ["bokeh.layered", "bokeh.scatter", "bokeh.gaussian"])
def test_zero_blur_gain_returns_the_input(name, scene_aif):
    depth = torch.linspace(1.0, 8.0, 96).expand(1, 1, 96, 96).contiguous()
    out = create_model(name).bokeh(scene_aif, depth, focus_distance_m=2.0, k_px_m=0.0)
    torch.testing.assert_close(out, scene_aif, atol=1e-5, rtol=0)


def test_lens_and_k_give_the_same_bokeh(scene_aif):
    depth = torch.linspace(1.0, 8.0, 96).expand(1, 1, 96, 96).contiguous()
    lens = ThinLens(50.0, 8.0, 2.0, 36.0)
    m = create_model("bokeh.gaussian")
    a = m.bokeh(scene_aif, depth, lens=lens)
    b = m.bokeh(scene_aif, depth, focus_distance_m=2.0, k_px_m=float(lens.k_px_m(96)))
    torch.testing.assert_close(a, b)


def test_scatter_rejects_shaped_apertures(scene_aif):
    depth = torch.full((1, 1, 96, 96), 3.0)
    with pytest.raises(InvalidInputError, match="disk"):
        create_model("bokeh.scatter").bokeh(scene_aif, depth, focus_distance_m=2.0, k_px_m=5.0, aperture="heart")


def test_cascade_equals_composition(scene_aif):
    depth = torch.linspace(1.0, 6.0, 96).expand(1, 1, 96, 96).contiguous()
    cascade = create_model("refocus.cascade", deblur="deblur.unsharp", bokeh="bokeh.layered")
    spec = {"focus_distance_m": 1.5, "k_px_m": 6.0, "aperture": "hexagon"}
    expected = create_model("bokeh.layered").bokeh(create_model("deblur.unsharp").deblur(scene_aif), depth, **spec)
    torch.testing.assert_close(cascade.refocus(scene_aif, depth, **spec), expected)
    with pytest.raises(InvalidInputError, match="does not support 'deblur'"):
        create_model("refocus.cascade", deblur="bokeh.gaussian")
