"""The share-fill anchor of the fidelity table: a plain layered RGB-D renderer with a visibility-share fill."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb

from refocus_bench.errors import InvalidInputError
from refocus_bench.simulators.render.apertures import make_aperture, signed_kernel
from refocus_bench.simulators.render.share_fill import render_share_fill, share_fill_linear


def _convolve_reflect(lin: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    p = kernel.shape[-1] // 2
    padded = F.pad(lin[None], (p,) * 4, mode="reflect")
    weight = torch.flip(kernel, (-2, -1))[None, None].expand(3, 1, -1, -1)
    return F.conv2d(padded, weight, groups=3)[0]


@pytest.mark.parametrize("radius", [-4.5, 3.0, 7.25])
def test_uniform_coc_is_one_convolution_with_the_signed_kernel(radius):
    torch.manual_seed(0)
    lin = torch.rand(3, 40, 40, dtype=torch.float64)
    ap = make_aperture("hexagon")
    out = share_fill_linear(lin, torch.full((40, 40), radius, dtype=torch.float64), ap)
    want = _convolve_reflect(lin, signed_kernel(ap, radius, dtype=torch.float64))
    torch.testing.assert_close(out, want, atol=1e-12, rtol=0)


def test_a_flat_colour_stays_flat_at_any_depth():
    """The fill takes the colour of the layer itself and the composite is divided by its alpha, so an image of one
    colour renders to that colour whatever the depth map: no dark or bright rims at occlusion edges."""
    torch.manual_seed(1)
    coc = torch.zeros(1, 1, 48, 48, dtype=torch.float64)
    coc[..., 10:30, 12:34] = -8.0
    coc[..., 30:, :] = 6.0
    coc += 0.3 * torch.rand_like(coc)
    image = torch.full((1, 3, 48, 48), 0.4, dtype=torch.float64)
    out = render_share_fill(image, coc_px=coc, n_layers=8)
    torch.testing.assert_close(out, image, atol=1e-9, rtol=0)


def test_hidden_background_is_filled_from_its_visible_neighbours():
    """A defocused dark foreground square over a sharp bright background: inside the foreground's blurred rim the
    background it uncovers is the visible background's colour, so the rim brightens towards it; without any
    hidden background (the fill switched off by one layer) the rim would stay the foreground's colour."""
    lin = torch.full((3, 64, 64), 0.8, dtype=torch.float64)
    lin[:, 20:44, 20:44] = 0.05
    coc = torch.zeros(64, 64, dtype=torch.float64)
    coc[20:44, 20:44] = -6.0
    out = share_fill_linear(lin, coc, make_aperture("disk"), n_layers=2)
    # just inside the foreground's edge: part background light (about half at the edge), not dark
    assert 0.3 < float(out[0, 32, 21]) < 0.6
    # deep inside: foreground only; far outside: background only
    assert abs(float(out[0, 32, 32]) - 0.05) < 1e-9
    assert abs(float(out[0, 32, 2]) - 0.8) < 1e-9


def test_srgb_round_trip_and_batch():
    torch.manual_seed(2)
    image = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    coc = 6 * torch.rand(2, 1, 32, 32, dtype=torch.float64) - 3
    both = render_share_fill(image, coc_px=coc)
    single = render_share_fill(image[1:], coc_px=coc[1:])
    torch.testing.assert_close(both[1:], single, atol=1e-12, rtol=0)
    flat = linear_rgb_to_rgb(
        share_fill_linear(rgb_to_linear_rgb(image[0]), coc[0, 0], make_aperture("disk")).clamp(0, 1)
    )
    torch.testing.assert_close(both[0], flat, atol=1e-12, rtol=0)


@pytest.mark.parametrize("kwargs, name", [({"n_layers": 0}, "n_layers"), ({"cell_px": 0}, "cell_px")])
def test_bad_settings_name_the_argument(kwargs, name):
    with pytest.raises(InvalidInputError, match=name):
        render_share_fill(torch.rand(1, 3, 16, 16), coc_px=torch.zeros(1, 1, 16, 16), **kwargs)
