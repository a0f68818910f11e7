"""Sub-aperture splitting: cells partition the kernel exactly, uniform depth stays one convolution,
and occlusion between two defocused layers gets closer to the exact reference as cells shrink."""

from __future__ import annotations

import math

import pytest
import torch
from kornia.color import rgb_to_linear_rgb

from refocus_bench.errors import InvalidInputError
from refocus_bench.simulators.render.apertures import make_aperture, signed_kernel
from refocus_bench.simulators.render.config import RenderConfig
from refocus_bench.simulators.render.fidelity import psnr_linear
from refocus_bench.simulators.render.layered import render_layered
from refocus_bench.simulators.render.reference import margin_px, render_reference
from refocus_bench.simulators.render.rgbd import render_bokeh
from refocus_bench.simulators.render.scenes import dead_leaves_scene
from refocus_bench.simulators.render.subaperture import WHOLE_APERTURE, aperture_cells, cell_mask, cell_weights


@pytest.mark.parametrize("aperture", ["disk", "hexagon", "heart"])
@pytest.mark.parametrize("n", [2, 3])
@pytest.mark.parametrize("radius", [-7.3, 0.0, 4.0, 11.5])
def test_cells_sum_to_the_whole_kernel(aperture, n, radius):
    ap = make_aperture(aperture)
    cells = aperture_cells(ap, n)
    whole = signed_kernel(ap, radius, dtype=torch.float64)
    total = sum(cell.weight * cell.kernel(ap, radius) for cell in cells)
    torch.testing.assert_close(total, whole, atol=1e-15, rtol=0)
    assert math.isclose(sum(cell.weight for cell in cells), 1.0, abs_tol=1e-12)
    assert torch.equal(WHOLE_APERTURE.kernel(ap, radius), whole) and aperture_cells(ap, 1) == [WHOLE_APERTURE]


def test_cell_weights_follow_the_aperture_symmetry():
    # a disk is symmetric under both flips: the four quadrants weigh 1/4; the 3x3 corners weigh less
    assert cell_weights(make_aperture("disk"), 2) == pytest.approx((0.25,) * 4, abs=1e-12)
    w3 = cell_weights(make_aperture("disk"), 3)
    assert (
        w3[0] == pytest.approx(w3[2], abs=1e-12)
        and w3[0] == pytest.approx(w3[6], abs=1e-12)
        and w3[0] == pytest.approx(w3[8], abs=1e-12)
    )
    assert w3[0] < w3[1] < w3[4]
    # masks of all cells sum to one at every pixel, for any radius sign
    for r in (-5.0, 5.0):
        total = sum(cell_mask(11, r, 3, i, j) for i in range(3) for j in range(3))
        torch.testing.assert_close(total, torch.ones(11, 11, dtype=torch.float64))


def test_negative_radius_turns_the_cells_with_the_kernel():
    # a layer in front of focus sees the aperture rotated 180 deg, so cell (0, 0) becomes cell (1, 1)
    torch.testing.assert_close(cell_mask(9, -4.0, 2, 0, 0), torch.flip(cell_mask(9, 4.0, 2, 0, 0), dims=(0, 1)))


@pytest.mark.parametrize("n", [1, 2])
def test_uniform_depth_is_one_convolution_whatever_the_split(n):
    torch.manual_seed(0)
    img = torch.rand(1, 3, 48, 48, dtype=torch.float64)
    cfg = RenderConfig(coarse_radius_px=math.inf, aperture_splits=n)
    ref = render_bokeh(
        img,
        coc_px=torch.full((1, 1, 48, 48), 5.0, dtype=torch.float64),
        config=RenderConfig(coarse_radius_px=math.inf, aperture_splits=1),
    )
    out = render_bokeh(img, coc_px=torch.full((1, 1, 48, 48), 5.0, dtype=torch.float64), config=cfg)
    torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)
    layers = torch.cat([img, torch.ones(1, 1, 48, 48, dtype=torch.float64)], 1)[:, None]
    lin_in = rgb_to_linear_rgb(img)
    out_l = rgb_to_linear_rgb(render_layered(layers, coc_px=torch.tensor([[5.0]], dtype=torch.float64), config=cfg))
    # energy: the mean of linear light is kept (reflect borders keep the frame's total)
    assert float(out_l.mean()) == pytest.approx(float(lin_in.mean()), rel=2e-3)


def test_splitting_brings_two_defocused_layers_closer_to_the_exact_reference():
    scene = dead_leaves_scene((96, 96), n_leaves=10, seed=3)
    layers = scene.layers[None].double()
    coc = torch.tensor([[12.0 * (0.5 - 1.0 / float(z)) for z in scene.depth_m]], dtype=torch.float64)
    ref = render_reference(layers, coc_px=coc, samples=1024, linear=True)[0]
    m = margin_px(coc)
    valid = torch.zeros(96, 96, dtype=torch.bool)
    valid[m : 96 - m, m : 96 - m] = True
    psnr = {}
    for n in (1, 2):
        out = render_layered(layers, coc_px=coc, config=RenderConfig(coarse_radius_px=math.inf, aperture_splits=n))
        psnr[n] = psnr_linear(rgb_to_linear_rgb(out)[0], ref, valid)
    assert psnr[2] > psnr[1] + 2.0, psnr
    # the automatic choice for layered scenes is the 2x2 split
    auto = render_layered(layers, coc_px=coc, config=RenderConfig(coarse_radius_px=math.inf))
    assert psnr_linear(rgb_to_linear_rgb(auto)[0], ref, valid) == pytest.approx(psnr[2], abs=1e-9)


def test_bad_split_settings_are_rejected():
    with pytest.raises(InvalidInputError, match="aperture_splits"):
        RenderConfig(aperture_splits=0)
    with pytest.raises(InvalidInputError, match="aperture_splits"):
        RenderConfig(aperture_splits=3)
    layers = torch.rand(1, 2, 4, 16, 16)
    with pytest.raises(InvalidInputError, match="cat's-eye"):
        render_layered(
            layers, coc_px=torch.tensor([[1.0, 2.0]]), aperture="cats-eye", config=RenderConfig(aperture_splits=2)
        )


@pytest.mark.slow
def test_dead_leaves_fidelity_target_with_the_default_layered_renderer():
    """The README's dead-leaves row: >= 40 dB whole image and >= 30 dB in the occlusion band."""
    from refocus_bench.simulators.render.fidelity import default_cases, evaluate_case

    case = next(c for c in default_cases(256) if c.name.startswith("dead leaves"))
    rows = {r["renderer"]: r for r in evaluate_case(case, samples=1024)}
    full = rows["layered, full layers"]
    assert full["psnr_whole_db"] >= 40.0 and full["psnr_band_db"] >= 30.0, full
