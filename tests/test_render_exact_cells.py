"""The exact mode's engine (``exact_cells``): every footprint cell at once, against compositing cell by cell."""

from __future__ import annotations

import math

import pytest
import torch

from refocus_bench.simulators.render.apertures import make_aperture
from refocus_bench.simulators.render.colour import to_linear
from refocus_bench.simulators.render.compositing import composite_layers
from refocus_bench.simulators.render.config import LAYERED_EXACT
from refocus_bench.simulators.render.exact_cells import blur_cells, cell_windows, composite_cells
from refocus_bench.simulators.render.kernels import KernelCache
from refocus_bench.simulators.render.layered import _group_box, _group_maker, render_layered
from refocus_bench.simulators.render.scenes import dead_leaves_scene, slanted_plane_scene
from refocus_bench.simulators.render.subaperture import footprint_cells


def _linear_planes(layers: torch.Tensor) -> torch.Tensor:
    alpha = layers[:, 3:4]
    return torch.cat([to_linear(layers[:, :3], LAYERED_EXACT) * alpha, alpha], 1)


def _cell_by_cell(planes, radii, ap, n):
    """The exact mode as the general compositor runs it: one whole "over" pass per cell, each with the cell's
    whole (centred, zero-padded) kernel, summed with the cells' weights."""
    config = LAYERED_EXACT.for_input(layered=True, aperture=ap)
    order = sorted(range(planes.shape[0]), key=lambda j: radii[j])
    makers = [_group_maker(planes, [j]) for j in order]
    boxes = [_group_box(planes, [j]) for j in order]
    color = cover = 0.0
    for cell in footprint_cells(ap, n):
        part, cov = composite_layers(
            makers,
            [radii[j] for j in order],
            boxes,
            ap,
            tuple(planes.shape[-2:]),
            config,
            KernelCache(),
            cell=cell,
            alpha_channels=1,
        )
        color, cover = color + cell.weight * part, cover + cell.weight * cov
    return color, cover


@pytest.mark.parametrize("aperture", ["disk", "hexagon", "heart"])
def test_all_cells_at_once_equal_the_cell_by_cell_composite(aperture):
    scene = dead_leaves_scene((48, 48), n_leaves=8, seed=4)
    planes = _linear_planes(scene.layers.double())
    radii = [9.0 * (0.5 - 1.0 / float(z)) * 2 for z in scene.depth_m]  # about -9..+7 px, some near the border
    ap = make_aperture(aperture)
    want_c, want_a = _cell_by_cell(planes, radii, ap, 6)
    got_c, got_a = composite_cells(planes, radii, ap, footprint_cells(ap, 6), KernelCache())
    torch.testing.assert_close(got_c, want_c, atol=1e-13, rtol=0)
    torch.testing.assert_close(got_a, want_a, atol=1e-13, rtol=0)


def test_passes_over_fewer_cells_give_the_same_image():
    scene = slanted_plane_scene((32, 40), strips=12)
    planes = _linear_planes(scene.layers.double())
    radii = [-5.0 + 0.8 * k for k in range(planes.shape[0])]
    ap = make_aperture("disk")
    cells = footprint_cells(ap, 4)
    one = composite_cells(planes, radii, ap, cells, KernelCache())
    many = composite_cells(planes, radii, ap, cells, KernelCache(), max_elements=5 * 32 * 40 * 3)  # 3 cells a pass
    for a, b in zip(one, many):
        torch.testing.assert_close(a, b, atol=1e-14, rtol=0)


@pytest.mark.parametrize("aperture", ["disk", "star"])
@pytest.mark.parametrize("radius", [-20.0, -3.3, 0.0, 0.6, 7.0, 13.5])
def test_windows_hold_every_cell_kernel_exactly_and_stay_small(aperture, radius):
    ap, n = make_aperture(aperture), 6
    cells = footprint_cells(ap, n)
    win = cell_windows(ap, radius, cells, KernelCache(), "cpu", torch.float64)
    size = 2 * win.pad + 1
    wy, wx = win.weight.shape[-2:]
    for cell, weight, (sy, sx) in zip(cells, win.weight[:, 0], win.starts):
        full = torch.zeros(size, size, dtype=torch.float64)  # the window put back where it came from
        full[size - sy - wy : size - sy, size - sx - wx : size - sx] = weight.flip(-2, -1)
        torch.testing.assert_close(full, cell.kernel(ap, radius), atol=0, rtol=0)
    # a cell spans 2 |r| / n px of the aperture, plus the pixel footprint and the bilinear spread at each side
    assert max(wy, wx) <= math.ceil(2 * abs(radius) / n) + 3, (wy, wx)


def test_blur_cells_is_each_cells_convolution_with_reflect_borders():
    torch.manual_seed(1)
    x = torch.rand(4, 9, 11, dtype=torch.float64)  # smaller than the kernel: the reflection repeats
    ap = make_aperture("hexagon")
    cells = footprint_cells(ap, 4)
    win = cell_windows(ap, -6.2, cells, KernelCache(), "cpu", torch.float64)
    out = blur_cells(x, win)
    from refocus_bench.simulators.render.convolution import run_convolution

    for i, cell in enumerate(cells):
        k = cell.kernel(ap, -6.2)
        want = run_convolution("spatial", x, k.expand(4, *k.shape))
        torch.testing.assert_close(out[i], want, atol=1e-14, rtol=0)


def test_exact_mode_gradcheck():
    torch.manual_seed(2)
    layers = torch.rand(1, 2, 4, 6, 6, dtype=torch.float64) * 0.6 + 0.2
    layers[:, 1, 3] = 0.95  # nearly opaque (gradcheck steps past 1 would be rejected)
    coc = torch.tensor([[-2.2, 1.5]], dtype=torch.float64)
    layers.requires_grad_(True)
    fn = lambda x: render_layered(x, coc_px=coc, config=LAYERED_EXACT)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (layers,), eps=1e-6, atol=1e-5, rtol=1e-4)
