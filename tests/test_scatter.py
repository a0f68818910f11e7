"""The scatter baseline (BokehMe's classical renderer): identity, flat fields, its kernel, no occlusion."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from kornia.color import rgb_to_linear_rgb
from scipy import signal

from refocus_bench.errors import InvalidInputError
from refocus_bench.optics import ThinLens
from refocus_bench.simulators.render.rgbd import render_bokeh
from refocus_bench.simulators.render.scatter import render_scatter

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def rand_image(h=24, w=24, seed=0, lo=0.0, hi=1.0):
    g = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(1, 3, h, w, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_zero_coc_is_identity(dtype):
    image = rand_image(20, 28).to(dtype)
    out = render_scatter(image, coc_px=torch.zeros(1, 1, 20, 28, dtype=dtype))
    assert out.dtype == dtype and out.shape == image.shape
    assert float((out - image).abs().max()) < 1e-6


def test_uniform_colour_stays_uniform_under_any_coc():
    image = torch.empty(1, 3, 24, 24, dtype=torch.float64)
    image[0, 0], image[0, 1], image[0, 2] = 0.2, 0.5, 0.9
    g = torch.Generator().manual_seed(1)
    coc = 8.0 * torch.rand(1, 1, 24, 24, generator=g, dtype=torch.float64) - 4.0
    out = render_scatter(image, coc_px=coc)
    torch.testing.assert_close(out, image, atol=1e-9, rtol=0)


def test_uniform_coc_is_the_soft_disk_convolution():
    """Away from the borders, each pixel spreads over clamp(r + 0.5 - d, 0, 1), normalised."""
    r = 3.6
    image = rand_image(32, 32, seed=2)
    out = rgb_to_linear_rgb(render_scatter(image, coc_px=torch.full((1, 1, 32, 32), r, dtype=torch.float64)))[0]
    reach = math.ceil(r + 0.5)
    d = np.hypot(*np.meshgrid(np.arange(-reach, reach + 1), np.arange(-reach, reach + 1)))
    k = np.clip(r + 0.5 - d, 0.0, 1.0)
    k /= k.sum()
    lin = rgb_to_linear_rgb(image)[0].numpy()
    ref = np.stack([signal.convolve2d(c, k, mode="same") for c in lin])
    m = reach
    np.testing.assert_allclose(out[:, m:-m, m:-m].numpy(), ref[:, m:-m, m:-m], atol=1e-9)


def test_no_occlusion_blurred_background_bleeds_over_sharp_foreground():
    """The documented weakness: a sharp foreground is overrun, which the layered renderer avoids."""
    size, r = 48, 8.0
    image = torch.full((1, 3, size, size), 0.1, dtype=torch.float64)
    inside = torch.zeros(size, size, dtype=torch.bool)
    inside[16:32, 16:32] = True
    image[..., inside] = 0.9
    coc = torch.where(inside, 0.0, r)[None, None].double()
    scatter = render_scatter(image, coc_px=coc)
    layered = render_bokeh(image, coc_px=coc)
    edge_band = inside.clone()
    edge_band[19:29, 19:29] = False  # foreground pixels within 3 px of its edge
    assert float((image - scatter)[..., edge_band].mean()) > 0.05  # darkened by the background
    assert float((layered - image)[..., inside].abs().max()) < 1e-9


def test_lens_path_and_bad_input():
    image = rand_image(16, 16, seed=3)
    depth = torch.full((1, 1, 16, 16), 2.5, dtype=torch.float64)
    lens = ThinLens(50.0, 2.0, 2.0)
    coc = lens.coc_radius_px(depth, image_width_px=16)
    torch.testing.assert_close(render_scatter(image, depth, lens), render_scatter(image, coc_px=coc), atol=0, rtol=0)
    with pytest.raises(InvalidInputError, match="coc_px"):
        render_scatter(image, coc_px=torch.full((1, 1, 16, 16), math.nan))
    with pytest.raises(InvalidInputError, match="image"):
        render_scatter(image + 1.0, coc_px=coc)
