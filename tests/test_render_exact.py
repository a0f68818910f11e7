"""The opt-in exact mode of the layered renderer (``LAYERED_EXACT``: footprint-integrated aperture cells)."""

from __future__ import annotations

import math

import pytest
import torch
from kornia.color import rgb_to_linear_rgb

from refocus_bench.errors import InvalidInputError
from refocus_bench.simulators.render.apertures import make_aperture, signed_kernel
from refocus_bench.simulators.render.config import LAYERED_EXACT, RenderConfig
from refocus_bench.simulators.render.fidelity import occlusion_band, psnr_linear
from refocus_bench.simulators.render.layered import render_layered
from refocus_bench.simulators.render.reference import margin_px, render_reference
from refocus_bench.simulators.render.scenes import dead_leaves_scene
from refocus_bench.simulators.render.subaperture import aperture_cells, footprint_cells


@pytest.mark.parametrize("aperture", ["disk", "hexagon", "heart"])
@pytest.mark.parametrize("n", [4, 6])
@pytest.mark.parametrize("radius", [-7.3, 0.0, 0.4, 11.5])
def test_footprint_cells_sum_to_the_whole_kernel(aperture, n, radius):
    ap = make_aperture(aperture)
    cells = aperture_cells(ap, n)
    assert cells == list(footprint_cells(ap, n)) and all(c.footprint for c in cells)
    whole = signed_kernel(ap, radius, dtype=torch.float64)
    total = sum(cell.weight * cell.kernel(ap, radius) for cell in cells)
    torch.testing.assert_close(total, whole, atol=1e-14, rtol=0)
    assert math.isclose(sum(cell.weight for cell in cells), 1.0, abs_tol=1e-12)


def test_an_in_focus_plane_is_opaque_in_every_cell():
    # pixel-centre cells give a zero-radius kernel to one cell only, so a sharp plane vanishes from the
    # others; footprint cells give every cell the whole one-pixel kernel
    ap = make_aperture("disk")
    for cell in aperture_cells(ap, 6):
        torch.testing.assert_close(cell.kernel(ap, 0.0), torch.ones(1, 1, dtype=torch.float64))


def test_uniform_depth_is_one_convolution_in_exact_mode():
    torch.manual_seed(0)
    img = torch.rand(1, 3, 40, 40, dtype=torch.float64)
    layers = torch.cat([img, torch.ones(1, 1, 40, 40, dtype=torch.float64)], 1)[:, None]
    coc = torch.tensor([[-4.5]], dtype=torch.float64)
    plain = render_layered(layers, coc_px=coc, config=RenderConfig(coarse_radius_px=math.inf, aperture_splits=1))
    exact = render_layered(layers, coc_px=coc, config=LAYERED_EXACT)
    torch.testing.assert_close(exact, plain, atol=1e-12, rtol=0)


def test_exact_mode_converges_to_the_reference_on_dead_leaves():
    scene = dead_leaves_scene((96, 96), n_leaves=10, seed=3)
    layers = scene.layers[None].double()
    coc = torch.tensor([[14.0 * (0.5 - 1.0 / float(z)) for z in scene.depth_m]], dtype=torch.float64)
    ref = render_reference(layers, coc_px=coc, samples=2048, linear=True)[0]
    m = margin_px(coc)
    valid = torch.zeros(96, 96, dtype=torch.bool)
    valid[m : 96 - m, m : 96 - m] = True
    band = occlusion_band(scene.flatten()[2], 10) & valid
    assert band.sum() > 500
    psnr = {}
    for name, cfg in {"default": RenderConfig(), "exact": LAYERED_EXACT}.items():
        lin = rgb_to_linear_rgb(render_layered(layers, coc_px=coc, config=cfg))[0]
        psnr[name] = (psnr_linear(lin, ref, valid), psnr_linear(lin, ref, band))
    assert psnr["exact"][0] >= 55.0 and psnr["exact"][1] >= 50.0, psnr
    assert psnr["exact"][1] > psnr["default"][1] + 5.0, psnr


def test_exact_split_counts():
    for n in (4, 6, 8):
        assert RenderConfig(aperture_splits=n).aperture_splits == n
    for bad in (3, 5, 16, True):
        with pytest.raises(InvalidInputError, match="aperture_splits"):
            RenderConfig(aperture_splits=bad)
