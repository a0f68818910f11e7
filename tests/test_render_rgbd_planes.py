"""RGB-D input as opaque planes (``RenderConfig(rgbd_planes=True)``) and the jump-flooding nearest-seed search.

The planes keep the renderer's guarantees (zero CoC is the identity, energy is conserved, a uniform CoC is one
convolution, gradients check, a batch equals single renders), fill hidden content from the visible pixels
around it, and on a dead-leaves scene (many occlusions between defocused surfaces) come out closer to the
aperture-sampled reference than the soft layers.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from kornia.color import rgb_to_linear_rgb
from scipy import ndimage

from refocus_bench.simulators.render import RenderConfig, render_bokeh
from refocus_bench.simulators.render.config import RGBD_FIDELITY, RGBD_PLANES
from refocus_bench.simulators.render.nearest import nearest_seed
from refocus_bench.simulators.render.reference import margin_px, render_reference
from refocus_bench.simulators.render.rgbd_planes import depth_edges, edge_colours, plane_labels, plane_radii

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PLANES = RenderConfig(rgbd_planes=True)


@pytest.mark.parametrize("density, max_dist", [(0.0005, 40.0), (0.01, 16.0), (0.2, 3.0), (0.6, 1.5)])
def test_nearest_seed_matches_scipy_feature_transform(density, max_dist):
    g = torch.Generator().manual_seed(int(density * 1e4))
    seeds = torch.rand(70, 90, generator=g) < density
    seeds[5, 7] = True
    flat, dist = nearest_seed(seeds, max_dist)
    exact = torch.from_numpy(ndimage.distance_transform_edt(~seeds.numpy()))
    inside = exact <= max_dist
    assert bool(torch.isinf(dist[~inside]).all()) and bool((flat[~inside] == -1).all())
    err = (dist[inside] - exact[inside]).abs()
    assert float(err.max()) < 0.5 and float((err > 1e-9).double().mean()) < 1e-3
    ys, xs = flat[inside] // 90, flat[inside] % 90  # the index names a seed at that distance
    assert bool(seeds[ys, xs].all())
    yy, xx = torch.nonzero(inside, as_tuple=True)
    torch.testing.assert_close(((ys - yy) ** 2 + (xs - xx) ** 2).double().sqrt(), dist[inside])


def test_plane_radii_are_exact_for_surfaces_at_one_depth_and_labels_nearest():
    coc = torch.tensor([[-3.3, -3.3, 0.2], [7.9, 7.9, 8.4]], dtype=torch.float64)
    radii = plane_radii(coc, [-4.0, -2.0, 0.0, 2.0, 4.0, 6.0, 8.0])
    assert radii == pytest.approx([-3.3, 0.2, (7.9 + 7.9 + 8.4) / 3])
    assert plane_labels(coc, radii).tolist() == [[0, 0, 1], [2, 2, 2]]


def test_edge_pixels_lose_the_other_surfaces_share():
    lin = torch.full((3, 24, 24), 0.9, dtype=torch.float64)
    lin[:, 6:18, 6:18] = 0.1
    lin[:, 6:18, 6] = 0.5  # an anti-aliased column: half foreground, half background
    coc = torch.full((24, 24), 6.0, dtype=torch.float64)
    coc[6:18, 6:18] = -5.0
    labels = plane_labels(coc, [-5.0, 6.0])
    edges = depth_edges(coc)
    assert bool(edges[10, 6]) and bool(edges[10, 5]) and not bool(edges[10, 10])
    clean = edge_colours(lin, labels, edges)
    assert float(clean[0, 10, 6]) == pytest.approx(0.1)  # from the square's interior
    assert float(clean[0, 10, 5]) == pytest.approx(0.9)  # from the background's interior
    torch.testing.assert_close(clean[:, ~edges], lin[:, ~edges])


def test_uniform_coc_is_one_plane_and_one_convolution():
    """(Identity, energy and batch = single for RGBD_PLANES: tests/test_render_occlusion_gap.py.)"""
    image = 0.05 + 0.9 * torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    coc = torch.full((2, 1, 32, 32), -3.25, dtype=torch.float64)
    same = render_bokeh(image, coc_px=coc, config=RenderConfig(coarse_radius_px=float("inf")))
    torch.testing.assert_close(render_bokeh(image, coc_px=coc, config=PLANES), same, atol=1e-10, rtol=0)


@pytest.mark.parametrize("aperture", ["disk", "cats-eye"])
def test_tiles_equal_the_whole_image(aperture):
    from refocus_bench.simulators.render.scenes import dead_leaves_scene

    scene = dead_leaves_scene((150, 170), n_leaves=20, seed=3)
    image, _depth, front = scene.flatten()
    coc = torch.tensor([16.0 * (0.5 - 1.0 / float(z)) for z in scene.depth_m], dtype=torch.float64)[front]
    tiled = dataclasses.replace(RGBD_PLANES, tile_px=64)
    with torch.no_grad():
        whole = render_bokeh(image.double(), coc_px=coc[None, None], aperture=aperture, config=RGBD_PLANES)
        parts = render_bokeh(image.double(), coc_px=coc[None, None], aperture=aperture, config=tiled)
    torch.testing.assert_close(parts, whole, atol=1e-3, rtol=0)  # the hidden colours' solver stops at 1e-4


def test_a_flat_colour_stays_flat_at_any_depth():
    coc = torch.full((1, 1, 48, 48), 9.0, dtype=torch.float64)
    coc[..., 8:30, 10:36] = -7.0
    coc[..., 30:, :20] = 0.0
    image = torch.full((1, 3, 48, 48), 0.35, dtype=torch.float64)
    torch.testing.assert_close(render_bokeh(image, coc_px=coc, config=RGBD_PLANES), image, atol=1e-9, rtol=0)


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")
def test_gradcheck_wrt_image():
    g = torch.Generator().manual_seed(5)
    image = (0.2 + 0.6 * torch.rand(1, 3, 10, 10, generator=g, dtype=torch.float64)).requires_grad_(True)
    coc = torch.full((1, 1, 10, 10), 3.0, dtype=torch.float64)
    coc[..., 3:7, 2:6] = -2.5
    config = RenderConfig(rgbd_planes=True, coarse_radius_px=float("inf"))
    fn = lambda img: render_bokeh(img, coc_px=coc, config=config)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (image,), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_hidden_background_continues_the_side_next_to_it():
    """A blurred disc over a background whose left half is dark and right half bright: what the disc's blur
    uncovers just inside its edge is the half next to it, not a mix of both halves."""
    from tests.render_fixtures import disc_over_two_tones

    image, coc = disc_over_two_tones()
    with torch.no_grad():
        out = render_bokeh(image, coc_px=coc, config=RGBD_PLANES)
        mean = render_bokeh(image, coc_px=coc, config=RenderConfig())  # the window's mean colour
    left, right = (..., slice(19, 23), slice(24, 28)), (..., slice(19, 23), slice(36, 40))
    assert float(out[left].mean()) < float(mean[left].mean()) - 0.01
    assert float(out[right].mean()) > float(mean[right].mean()) + 0.01


def test_dead_leaves_closer_to_the_reference_than_soft_layers():
    """Defocused leaves in front of defocused leaves, 96 px, CoC -9..+6 px. Measured against the 256-sample
    reference (itself 52 dB from a 1024-sample one), whole image, linear light: RenderConfig() 33.1 dB,
    RGBD_FIDELITY 31.8 dB, the scatter baseline 33.2 dB, the share-fill anchor 32.2 dB, RGBD_PLANES 36.2 dB."""
    from refocus_bench.simulators.render.scenes import dead_leaves_scene

    scene = dead_leaves_scene((96, 96), n_leaves=14, seed=11)
    coc = torch.tensor([[18.0 * (0.5 - 1.0 / float(z)) for z in scene.depth_m]], dtype=torch.float64)
    ref = render_reference(scene.layers[None].double(), coc_px=coc, samples=256, linear=True)[0]
    image, _depth, front = scene.flatten()
    m = margin_px(coc)
    valid = np.zeros((96, 96), dtype=bool)
    valid[m:-m, m:-m] = True

    def score(config):
        out = rgb_to_linear_rgb(render_bokeh(image.double(), coc_px=coc[0][front][None, None], config=config))[0]
        return 10.0 * math.log10(1.0 / float(((out - ref) ** 2).mean(0).numpy()[valid].mean()))

    soft, fidelity, planes = score(RenderConfig()), score(RGBD_FIDELITY), score(RGBD_PLANES)
    assert planes >= max(soft, fidelity) + 2.5, (soft, fidelity, planes)


def test_an_anti_aliased_edge_renders_as_the_matte_of_both_planes():
    # a two-plane scene's edge pixels mix both planes (anti-aliasing); read as a matte, the RGB-D render of a sharp
    # foreground over a blurred background comes close to the render that knows both planes in full
    from refocus_bench.simulators.render import render_layered
    from refocus_bench.simulators.render.config import LAYERED_EXACT
    from refocus_bench.simulators.render.fidelity import occlusion_band, psnr_linear
    from refocus_bench.simulators.render.scenes import two_plane_scene

    scene = two_plane_scene((96, 96), seed=23)
    layers = scene.layers[None].double()
    coc = torch.tensor([[0.0, 6.0]], dtype=torch.float64)
    image, _depth, front = scene.flatten()
    truth = rgb_to_linear_rgb(render_layered(layers, coc_px=coc, config=LAYERED_EXACT))[0]
    got = rgb_to_linear_rgb(render_bokeh(image.double(), coc_px=coc[0][front][None, None], config=RGBD_PLANES))[0]
    valid = torch.zeros(96, 96, dtype=torch.bool)
    valid[8:-8, 8:-8] = True
    band = occlusion_band(front, 4) & valid
    assert psnr_linear(got, truth, band) >= 45.0, psnr_linear(got, truth, band)
