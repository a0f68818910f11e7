"""The occlusion-aware renderer (render_bokeh, render_layered, DefocusRenderer) against known answers.

Independent references: kornia's ``filter2d`` (one convolution with the signed kernel, reflect
borders), NumPy/SciPy convolution of a reflect-padded image, kornia's sRGB transfer functions for
linear-light sums, thin-lens radii from ``optics`` (tested on their own in ``test_optics.py``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb
from kornia.filters import filter2d
from scipy import signal

from refocus_bench.errors import InvalidInputError
from refocus_bench.optics import ThinLens
from refocus_bench.simulators.render import DefocusRenderer, RenderConfig, render_bokeh, render_layered
from refocus_bench.simulators.render.apertures import make_aperture, signed_kernel

FULL_RES = RenderConfig(coarse_radius_px=float("inf"))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def rand_image(b=1, h=32, w=32, lo=0.05, hi=0.95, seed=0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return lo + (hi - lo) * torch.rand(b, 3, h, w, generator=g, dtype=dtype)


def uniform(image: torch.Tensor, value: float) -> torch.Tensor:
    b, _, h, w = image.shape
    return torch.full((b, 1, h, w), float(value), dtype=image.dtype)


def lin(x: torch.Tensor) -> torch.Tensor:
    return rgb_to_linear_rgb(x)


def one_convolution(image: torch.Tensor, aperture: str, coc: float) -> torch.Tensor:
    """Linear-light image convolved once with the signed kernel (kornia filter2d, reflect borders)."""
    k = signed_kernel(make_aperture(aperture), coc, dtype=image.dtype)
    return filter2d(lin(image), k[None], border_type="reflect", behaviour="conv")


def two_plane_rgbd(size=48, fg_value=0.85, bg_value=0.15, seed=0):
    """A hard-edged square foreground (textured) on a textured background, as an RGB-D view."""
    g = torch.Generator().manual_seed(seed)
    bg = bg_value + 0.1 * torch.rand(1, 3, size, size, generator=g, dtype=torch.float64)
    fg = fg_value + 0.1 * torch.rand(1, 3, size, size, generator=g, dtype=torch.float64)
    inside = torch.zeros(size, size, dtype=torch.bool)
    a, b = size // 3, size - size // 3
    inside[a:b, a:b] = True
    image = torch.where(inside, fg, bg)
    return image, inside, bg, fg


def distance_to(mask: torch.Tensor) -> torch.Tensor:
    """Distance (px) of every pixel to the nearest pixel of ``mask`` (scipy EDT)."""
    from scipy import ndimage

    return torch.from_numpy(ndimage.distance_transform_edt(~mask.numpy()))


# -- identity, energy, one convolution ------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_zero_coc_is_identity(dtype):
    image = rand_image(b=2, h=24, w=40, lo=0.0, hi=1.0, dtype=dtype)
    image[0, :, 0, 0] = 0.0
    image[1, :, 3, 3] = 1.0
    for config in (RenderConfig(), FULL_RES):
        out = render_bokeh(image, coc_px=uniform(image, 0.0), config=config)
        assert out.dtype == dtype and out.shape == image.shape
        assert float((out - image).abs().max()) < 1e-6
    assert float((DefocusRenderer("hexagon")(image, coc_px=uniform(image, 0.0)) - image).abs().max()) < 1e-6
    layers = torch.cat([image[:, None], torch.ones(2, 1, 1, 24, 40, dtype=dtype)], dim=2)
    out = render_layered(layers, coc_px=torch.zeros(2, 1, dtype=dtype))
    assert float((out - image).abs().max()) < 1e-6


@pytest.mark.parametrize("config", [FULL_RES, RenderConfig()], ids=["full-res", "default"])
@pytest.mark.parametrize("aperture, radius", [("disk", 2.5), ("disk", 7.3), ("hexagon", -11.6), ("heart", 14.0)])
def test_energy_is_conserved_in_linear_light(aperture, radius, config):
    size, pad = 80, 20  # content 20 px away from the borders, farther than any blur reaches
    image = torch.zeros(1, 3, size, size, dtype=torch.float64)
    image[:, :, pad:-pad, pad:-pad] = rand_image(h=size - 2 * pad, w=size - 2 * pad, lo=0.0, hi=0.6)
    out = render_bokeh(image, coc_px=uniform(image, radius), aperture=aperture, config=config)
    assert float(out.max()) < 1.0  # no clamping
    before, after = float(lin(image).sum()), float(lin(out).sum())
    assert abs(after - before) / before <= 1e-9  # required: 1e-4; float64 gives ~1e-16


@pytest.mark.parametrize(
    "aperture, radius", [("disk", 3.5), ("disk", 9.25), ("heart", -6.7), ("triangle-blades", 12.0), ("annulus", 5.0)]
)
def test_uniform_coc_equals_one_convolution(aperture, radius):
    image = rand_image(h=40, w=48, seed=1)
    out = render_bokeh(image, coc_px=uniform(image, radius), aperture=aperture, config=FULL_RES)
    torch.testing.assert_close(lin(out), one_convolution(image, aperture, radius), atol=1e-5, rtol=0)


@pytest.mark.parametrize("radius", [7.0, 13.5, -20.0])
def test_uniform_coc_default_config_is_close_to_one_convolution(radius):
    """Default config: radii >= 6 px go through the reduced-resolution path (smooth content only)."""
    image = rand_image(h=64, w=64, seed=2)
    image = linear_rgb_to_rgb(
        torch.nn.functional.avg_pool2d(lin(image), 5, stride=1, padding=2, count_include_pad=False)
    )
    out = render_bokeh(image, coc_px=uniform(image, radius), config=RenderConfig())
    ref = one_convolution(image, "disk", radius)
    err = (lin(out) - ref)[..., 8:-8, 8:-8].abs()
    assert float(err.mean()) < 3e-3 and float(err.max()) < 2e-2  # measured: mean <= 1.6e-3, max <= 8.5e-3


@pytest.mark.parametrize("h, w, radius", [(16, 16, 20.0), (9, 23, -13.3), (5, 5, 12.0), (1, 7, 3.0)])
@pytest.mark.parametrize("backend", ["spatial", "fft", "direct"])
def test_kernel_wider_than_the_frame(h, w, radius, backend):
    """A blur larger than the image reflects at the borders as often as needed (no crash)."""
    image = rand_image(h=h, w=w, seed=3)
    out = render_bokeh(
        image,
        coc_px=uniform(image, radius),
        aperture="heart",
        config=RenderConfig(coarse_radius_px=math.inf, backend=backend),
    )
    k = signed_kernel(make_aperture("heart"), radius, dtype=torch.float64).numpy()
    p = k.shape[0] // 2
    ref = np.stack([signal.convolve(np.pad(c, p, mode="reflect"), k, mode="valid") for c in lin(image)[0].numpy()])
    np.testing.assert_allclose(lin(out)[0].numpy(), ref, atol=1e-9)
    coarse = render_bokeh(image, coc_px=uniform(image, radius), config=RenderConfig(backend=backend))
    assert bool(torch.isfinite(coarse).all())


# -- occlusion ------------------------------------------------------------------------------------
@pytest.mark.parametrize("config", [FULL_RES, RenderConfig()], ids=["full-res", "default"])
def test_sharp_foreground_is_never_overrun(config):
    image, inside, _, _ = two_plane_rgbd()
    coc = torch.where(inside, 0.0, 10.0)[None, None].double()  # foreground in focus, background behind
    out = render_bokeh(image, coc_px=coc, config=config)
    interior = distance_to(~inside) > 1.0  # more than 1 px inside the foreground edge
    assert int(interior.sum()) > 100
    assert float((out - image)[..., interior].abs().max()) < 1e-9
    # and the background did get blurred
    far_bg = distance_to(inside) > 3
    assert float((out - image)[..., far_bg].abs().mean()) > 5e-3


def test_sharp_foreground_never_overrun_layered():
    from refocus_bench.simulators.render.scenes import two_plane_scene

    scene = two_plane_scene((64, 64), seed=4)
    layers = scene.layers[None].double()
    out = render_layered(layers, coc_px=torch.tensor([[0.0, 9.0]], dtype=torch.float64))
    alpha = scene.layers[0, 3]
    interior = distance_to(alpha < 1.0) > 1.0
    assert int(interior.sum()) > 100
    fg = scene.layers[0, :3].double()
    assert float((out[0] - fg)[:, interior].abs().max()) < 1e-9


@pytest.mark.parametrize("config", [FULL_RES, RenderConfig()], ids=["full-res", "default"])
def test_blurred_foreground_spreads_over_background(config):
    r = 8.0
    image, inside, _, _ = two_plane_rgbd()
    coc = torch.where(inside, -r, 0.0)[None, None].double()  # foreground in front, blurred; background sharp
    out = render_bokeh(image, coc_px=coc, config=config)
    d_out = distance_to(inside)
    just_outside = (d_out >= 1) & (d_out <= r / 2)
    far_outside = d_out > 1.5 * r + 3  # the reduced-resolution path reaches a little farther than r
    gain = (out - image)[0].mean(0)
    assert float(gain[just_outside].min()) > 0.05  # the bright foreground bleeds outward
    assert float(gain[far_outside].abs().max()) < 1e-9  # sharp background beyond the blur untouched


# -- fractional radii, gradients, batches ---------------------------------------------------------
@pytest.mark.parametrize("render", ["bokeh", "layered"])
def test_fractional_radii_are_not_rounded(render):
    size = 32
    x = torch.arange(size, dtype=torch.float64)
    edge = (x >= size // 2).double().expand(size, size)  # vertical step edge
    image = (0.1 + 0.8 * edge).expand(1, 3, size, size).contiguous()
    outs = []
    for r in (3.0, 3.25, 3.5):
        if render == "bokeh":
            outs.append(lin(render_bokeh(image, coc_px=uniform(image, r), config=FULL_RES))[0, 0])
        else:
            layers = torch.cat([image, torch.ones(1, 1, size, size, dtype=torch.float64)], dim=1)[:, None]
            outs.append(
                lin(render_layered(layers, coc_px=torch.tensor([[r]], dtype=torch.float64), config=FULL_RES))[0, 0]
            )
    a, b, c = outs
    for p, q in ((a, b), (b, c), (a, c)):
        assert float((p - q).abs().max()) > 1e-3
    lo, hi = torch.minimum(a, c), torch.maximum(a, c)
    assert bool(((b >= lo - 1e-12) & (b <= hi + 1e-12)).all())
    moving = (hi - lo) > 1e-6
    assert bool(((b > lo) & (b < hi))[moving].all())


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")
@pytest.mark.parametrize(
    "coc_range, config",
    [((-2.0, 2.0), FULL_RES), ((4.0, 5.0), RenderConfig(coarse_radius_px=2.0))],
    ids=["full-res", "reduced-resolution"],
)
def test_gradcheck_wrt_image(coc_range, config):
    image = rand_image(h=8, w=8, lo=0.2, hi=0.8, seed=5).requires_grad_(True)
    ramp = torch.linspace(*coc_range, 8, dtype=torch.float64)
    coc = ramp.expand(8, 8)[None, None].contiguous()
    fn = lambda img: render_bokeh(img, coc_px=coc, config=config)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (image,), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_batch_with_per_sample_lens_equals_single_renders():
    image = rand_image(b=3, h=32, w=32, seed=6)
    g = torch.Generator().manual_seed(7)
    depth = 0.8 + 4.0 * torch.rand(3, 1, 32, 32, generator=g, dtype=torch.float64)
    f = torch.tensor([35.0, 50.0, 85.0], dtype=torch.float64)
    n = torch.tensor([1.4, 2.0, 4.0], dtype=torch.float64)
    s = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    batch = render_bokeh(image, depth, ThinLens(f, n, s, 36.0))
    for i in range(3):
        single = render_bokeh(image[i : i + 1], depth[i : i + 1], ThinLens(float(f[i]), float(n[i]), float(s[i]), 36.0))
        torch.testing.assert_close(batch[i : i + 1], single, atol=1e-12, rtol=0)
    layers = torch.cat([image, torch.ones(3, 1, 32, 32, dtype=torch.float64)], dim=1)[:, None]
    layers = torch.cat([layers, layers.flip(-1)], dim=1)
    layers[:, 0, 3, :, :16] = 0.0  # the near plane covers the right half only
    coc = torch.tensor([[-3.0, 2.0], [0.0, 6.5], [-9.0, -1.0]], dtype=torch.float64)
    batch = render_layered(layers, coc_px=coc)
    for i in range(3):
        torch.testing.assert_close(
            batch[i : i + 1], render_layered(layers[i : i + 1], coc_px=coc[i : i + 1]), atol=1e-12, rtol=0
        )


def test_function_equals_module():
    image = rand_image(b=2, h=32, w=32, seed=8)
    coc = torch.linspace(-9.0, 9.0, 32, dtype=torch.float64).expand(2, 1, 32, 32).contiguous()
    config = RenderConfig(rel_layer_step=0.3)
    module = DefocusRenderer("hexagon", config)
    want = render_bokeh(image, coc_px=coc, aperture="hexagon", config=config)
    torch.testing.assert_close(module(image, coc_px=coc), want, atol=1e-12, rtol=0)
    torch.testing.assert_close(module(image, coc_px=coc), want, atol=1e-12, rtol=0)  # cached kernels
    layers = torch.cat([image, torch.ones(2, 1, 32, 32, dtype=torch.float64)], dim=1)[:, None]
    c = torch.tensor([[4.5], [-7.0]], dtype=torch.float64)
    torch.testing.assert_close(
        module.render_layered(layers, coc_px=c),
        render_layered(layers, coc_px=c, aperture="hexagon", config=config),
        atol=1e-12,
        rtol=0,
    )


def test_module_keeps_its_kernels_and_moving_it_empties_them():
    image = rand_image(h=24, w=24, seed=8)
    coc = torch.linspace(-6.0, 6.0, 24, dtype=torch.float64).expand(1, 1, 24, 24).contiguous()
    module = DefocusRenderer("pentagon")
    first = module(image, coc_px=coc)
    kept = len(module.kernels)
    assert kept > 0 and all(k.dtype == torch.float64 for k in module.kernels._kernels.values())
    assert torch.equal(module(image, coc_px=coc), first) and len(module.kernels) == kept  # reused, not rebuilt
    module.to(torch.float32)
    assert len(module.kernels) == 0


def test_kernel_cache_returns_the_trimmed_aperture_kernel_and_forgets_the_oldest():
    from refocus_bench.simulators.render.kernels import KernelCache, trim_zero_ring

    hexagon = make_aperture("hexagon")
    cache = KernelCache(max_elements=250)  # two 11x11 kernels fit
    k = cache.get(hexagon, -4.5, dtype=torch.float64)
    assert torch.equal(k, trim_zero_ring(signed_kernel(hexagon, -4.5, dtype=torch.float64)))
    assert cache.get(hexagon, -4.5, dtype=torch.float64) is k
    assert cache.get(hexagon, -4.5, dtype=torch.float32) is not k and len(cache) == 2
    cache.get(hexagon, 6.0, dtype=torch.float64)  # 13x13 = 169 values: the two older kernels go
    assert len(cache) == 1


def test_one_blur_spec_for_renderer_and_models():
    from refocus_bench.models import make_bokeh_request
    from refocus_bench.simulators.render.blur_spec import resolve_blur_spec, resolve_coc

    lens = ThinLens(50.0, 2.0, 2.0, 1.0)
    spec = resolve_blur_spec(IMG, DEPTH, lens)
    assert spec.form == "lens" and torch.equal(spec.coc_map(torch.float32), resolve_coc(IMG, DEPTH, lens))
    torch.testing.assert_close(spec.gain_px_m, torch.tensor([float(lens.k_px_m(16))], dtype=torch.float64))
    req = make_bokeh_request(IMG, DEPTH, k_px_m=spec.gain_px_m, focus_distance_m=2.0)
    torch.testing.assert_close(req.coc_px, spec.coc_map(torch.float32), atol=1e-5, rtol=0)
    with pytest.raises(InvalidInputError, match="exactly one of coc_px"):
        resolve_blur_spec(IMG, DEPTH)
    with pytest.raises(InvalidInputError, match="exactly one of k_px_m"):
        make_bokeh_request(IMG, DEPTH, focus_distance_m=2.0)
    with pytest.raises(InvalidInputError, match="depth_m is required"):
        render_bokeh(IMG, lens=lens)


def test_backends_agree():
    image = rand_image(h=48, w=48, seed=9)
    coc = torch.linspace(-14.0, 10.0, 48, dtype=torch.float64)[:, None].expand(48, 48)[None, None].contiguous()
    for base in (RenderConfig(), FULL_RES):
        outs = {}
        for backend in ("spatial", "fft", "direct"):
            config = RenderConfig(coarse_radius_px=base.coarse_radius_px, backend=backend)
            outs[backend] = render_bokeh(image, coc_px=coc, aperture="pentagon", config=config)
        torch.testing.assert_close(outs["fft"], outs["spatial"], atol=1e-5, rtol=0)
        torch.testing.assert_close(outs["direct"], outs["spatial"], atol=1e-5, rtol=0)


def test_lens_path_equals_coc_path_and_k_path():
    image = rand_image(h=32, w=48, seed=10)
    g = torch.Generator().manual_seed(11)
    depth = 0.6 + 5 * torch.rand(1, 1, 32, 48, generator=g, dtype=torch.float64)
    depth[..., :4, :4] = math.inf
    lens = ThinLens(50.0, 1.4, 1.5, 36.0)
    by_lens = render_bokeh(image, depth, lens)
    # independent CoC map: thin-lens blur diameter, half, in px (48 px span 36 mm)
    f, a, s = 50.0, 50.0 / 1.4, 1500.0
    z = depth * 1000.0
    coc = (
        torch.where(torch.isinf(z), torch.full_like(z, a * f / (s - f)), a * f * (z - s) / (z * (s - f)))
        / 2
        * (48 / 36.0)
    )
    torch.testing.assert_close(by_lens, render_bokeh(image, coc_px=coc), atol=1e-9, rtol=0)
    by_k = render_bokeh(image, depth, k_px_m=lens.k_px_m(48), focus_distance_m=1.5)
    torch.testing.assert_close(by_k, by_lens, atol=1e-9, rtol=0)


# -- highlights, chromatic aberration, cat's eye ---------------------------------------------------
def test_highlight_gain_brightens_clipped_highlight_bokeh():
    image = torch.full((1, 3, 41, 41), 0.2, dtype=torch.float64)
    image[..., 20, 20] = 1.0  # a clipped highlight
    coc = uniform(image, 6.0)
    plain = render_bokeh(image, coc_px=coc, config=FULL_RES)
    torch.testing.assert_close(
        render_bokeh(image, coc_px=coc, config=RenderConfig(coarse_radius_px=math.inf, highlight_gain=1.0)),
        plain,
        atol=0,
        rtol=0,
    )
    boosted = render_bokeh(image, coc_px=coc, config=RenderConfig(coarse_radius_px=math.inf, highlight_gain=8.0))
    disc = distance_to(torch.nn.functional.pad(torch.ones(1, 1, dtype=torch.bool), (20, 20, 20, 20))) <= 4
    extra = lin(boosted) - lin(plain)
    # the highlight carries 8x its linear energy: 7 extra units spread over the disc
    assert float(extra[0, 0].sum()) == pytest.approx(7.0, rel=1e-6)
    assert float(extra[0, 0][disc].min()) > 0.02
    # an image with no clipped pixels is unaffected
    dull = rand_image(h=24, w=24, lo=0.0, hi=0.9, seed=12)
    torch.testing.assert_close(
        render_bokeh(dull, coc_px=uniform(dull, 4.0), config=RenderConfig(highlight_gain=8.0)),
        render_bokeh(dull, coc_px=uniform(dull, 4.0)),
        atol=0,
        rtol=0,
    )


def test_chromatic_scale_red_disc_larger_than_blue():
    r = 10.0
    image = torch.zeros(1, 3, 41, 41, dtype=torch.float64)
    image[..., 20, 20] = 1.0
    config = RenderConfig(coarse_radius_px=math.inf, chromatic_scale=(1.1, 1.0, 0.9))
    out = lin(render_bokeh(image, coc_px=uniform(image, r), config=config))[0]
    radii = []
    for ch, scale in enumerate((1.1, 1.0, 0.9)):
        rc = r * scale
        radii.append(math.sqrt(float((out[ch] > 0.5 / (math.pi * rc * rc)).sum()) / math.pi))
    assert radii[0] > radii[1] > radii[2]
    assert radii == pytest.approx([11.0, 10.0, 9.0], abs=0.5)


def test_cats_eye_differs_from_disk_at_corners_not_centre():
    """The cat's-eye PSF is the disk at the centre and cut towards the corners. Each source spreads
    its own PSF (energy is conserved, see the point-light tests), so where the PSF changes across
    the frame the local sum of neighbouring PSFs is not exactly 1: near the centre the image then
    differs from the disk's by an amount that shrinks as the PSF varies more slowly per pixel
    (larger frames); at the corners the shape difference stays."""
    centre, corners = [], []
    for n in (65, 129):
        image = rand_image(h=n, w=n, seed=13)
        coc = uniform(image, 5.0)
        disk = render_bokeh(image, coc_px=coc, aperture="disk", config=FULL_RES)
        cats = render_bokeh(image, coc_px=coc, aperture="cats-eye", config=FULL_RES)
        assert bool(torch.isfinite(cats).all())
        diff = (cats - disk).abs()[0].mean(0)
        c = n // 2
        centre.append(float(diff[c - 2 : c + 3, c - 2 : c + 3].max()))
        corners += [
            float(x.mean()) for x in (diff[6:12, 6:12], diff[6:12, -12:-6], diff[-12:-6, 6:12], diff[-12:-6, -12:-6])
        ]
    assert centre[1] < 0.6 * centre[0]  # measured: 0.0110 -> 0.0053
    assert min(corners) > 1.5 * centre[1]  # measured: corners >= 0.010


# -- bad input ------------------------------------------------------------------------------------
IMG = rand_image(h=16, w=16, dtype=torch.float32)
COC = torch.zeros(1, 1, 16, 16)
DEPTH = torch.full((1, 1, 16, 16), 3.0)
LENS = ThinLens(50.0, 1.8, 2.0)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: render_bokeh(IMG, torch.full_like(DEPTH, math.nan), LENS), "depth_m"),
        (lambda: render_bokeh(IMG, -DEPTH, LENS), "depth_m"),
        (lambda: render_bokeh(IMG, 0 * DEPTH, LENS), "depth_m"),
        (lambda: render_bokeh((IMG * 255).to(torch.uint8), coc_px=COC), "image"),
        (lambda: render_bokeh(IMG, coc_px=COC.long()), "coc_px"),
        (lambda: render_bokeh(torch.zeros(0, 3, 16, 16), coc_px=torch.zeros(0, 1, 16, 16)), "image"),
        (lambda: render_bokeh(torch.zeros(1, 3, 0, 16), coc_px=torch.zeros(1, 1, 0, 16)), "image"),
        (lambda: render_bokeh(torch.rand(1, 4, 16, 16), coc_px=COC), "image"),
        (lambda: render_bokeh(IMG[0], coc_px=COC), "image"),
        (lambda: render_bokeh(IMG, coc_px=torch.zeros(1, 1, 8, 16)), "coc_px"),
        (lambda: render_bokeh(IMG, torch.full((1, 1, 8, 16), 3.0), LENS), "depth_m"),
        (lambda: render_bokeh(IMG, DEPTH, LENS, coc_px=COC), "coc_px"),
        (lambda: render_bokeh(IMG, DEPTH, coc_px=COC), "coc_px"),
        (lambda: render_bokeh(IMG), "coc_px"),
        (lambda: render_bokeh(IMG + 1.0, coc_px=COC), "image"),
        (lambda: render_bokeh(IMG - 1.0, coc_px=COC), "image"),
        (lambda: render_bokeh(IMG, coc_px=torch.full_like(COC, math.nan)), "coc_px"),
        (lambda: render_bokeh(IMG, coc_px=torch.full_like(COC, math.inf)), "coc_px"),
        (lambda: render_bokeh(IMG, DEPTH, k_px_m=10.0), "focus_distance_m"),
        (lambda: render_bokeh(IMG, DEPTH, (50.0, 1.8, 2.0)), "lens"),
        (lambda: render_layered(torch.rand(1, 2, 4, 8, 8), coc_px=torch.tensor([[math.nan, 1.0]])), "coc_px"),
        (lambda: render_layered(torch.rand(1, 2, 4, 8, 8), coc_px=torch.tensor([[0.0, 1.0, 2.0]])), "coc_px"),
        (lambda: render_layered(torch.rand(1, 2, 4, 8, 8) + 1.0, coc_px=torch.tensor([[0.0, 1.0]])), "layers"),
        (lambda: render_layered(torch.rand(1, 2, 3, 8, 8), coc_px=torch.tensor([[0.0, 1.0]])), "layers"),
        (lambda: RenderConfig(backend="cuda-magic"), "backend"),
        (lambda: RenderConfig(highlight_gain=0.5), "highlight_gain"),
        (lambda: RenderConfig(chromatic_scale=(1.0, 1.0)), "chromatic_scale"),
    ],
)
def test_bad_input_raises_naming_the_argument(call, name):
    with pytest.raises(InvalidInputError, match=name):
        call()


def test_colour_conversion_in_row_blocks_equals_whole(monkeypatch):
    """Large images are converted to and from linear light in row blocks (peak memory); same result."""
    from refocus_bench.simulators.render import colour

    image = rand_image(h=40, w=56, seed=14, dtype=torch.float32)
    coc = torch.linspace(-6.0, 6.0, 56).expand(1, 1, 40, 56).contiguous()
    config = RenderConfig(highlight_gain=3.0)
    whole = render_bokeh(image, coc_px=coc, config=config)
    monkeypatch.setattr(colour, "_CHUNK_PX", 7 * 56)  # blocks of 7 rows, the last one 5
    blocks = render_bokeh(image, coc_px=coc, config=config)
    torch.testing.assert_close(blocks, whole, atol=2e-7, rtol=0)  # vectorised pow: last-bit differences
    assert image.equal(rand_image(h=40, w=56, seed=14, dtype=torch.float32))  # the input is not modified


@pytest.mark.parametrize("c,h,w,pad", [(4, 10, 13, 3), (1, 5, 7, 4), (6, 40, 33, 0), (3, 9, 9, 8)])
def test_channels_last_reflect_padding_equals_f_pad(c, h, w, pad):
    from refocus_bench.simulators.render.convolution import _reflect_pad_channels_last

    x = torch.rand(c, h, w, dtype=torch.float64)
    got = _reflect_pad_channels_last(x, pad)
    assert got.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(got, F.pad(x[None], (pad,) * 4, mode="reflect"))


def test_scratch_buffers_are_reused_in_a_scope_and_dropped_after():
    from refocus_bench.simulators.render import scratch as module
    from refocus_bench.simulators.render.scratch import scratch, scratch_scope

    cpu = torch.device("cpu")
    held = scratch("t", 10, torch.float32, cpu)
    assert held.data_ptr() != scratch("t", 10, torch.float32, cpu).data_ptr()  # no scope: fresh
    with scratch_scope():
        a = scratch("t", 100, torch.float32, cpu)
        with scratch_scope():  # nested scopes share the outer one's buffers
            b = scratch("t", 50, torch.float32, cpu)
        assert b.data_ptr() == a.data_ptr() and b.numel() == 50
        c = scratch("t", 200, torch.float32, cpu)  # grows
        assert c.numel() == 200 and scratch("other", 10, torch.float32, cpu).data_ptr() != c.data_ptr()
        assert scratch("t", 10, torch.float64, cpu).dtype == torch.float64
        assert len(module._LOCAL.buffers) == 3
    assert module._LOCAL.buffers == {} and module._LOCAL.depth == 0  # dropped with the outer scope


def test_renders_with_and_without_scratch_reuse_agree(monkeypatch):
    """Reused scratch must not leak one layer's values into the next one's."""
    import contextlib

    import refocus_bench.simulators.render.rgbd as render_module

    g = torch.Generator().manual_seed(5)
    image = torch.rand(1, 3, 96, 128, generator=g)
    coc = (torch.rand(1, 1, 12, 16, generator=g) * 24 - 12).repeat_interleave(8, 2).repeat_interleave(8, 3)
    with torch.no_grad():
        reused = render_bokeh(image, coc_px=coc)
        monkeypatch.setattr(render_module, "scratch_scope", contextlib.nullcontext)  # every buffer fresh
        fresh = render_bokeh(image, coc_px=coc)
    torch.testing.assert_close(reused, fresh, atol=0, rtol=0)


@pytest.mark.parametrize("aperture", ["disk", "heart"])
def test_whole_region_fill_gives_the_same_render(monkeypatch, aperture):
    """The fill path a GPU takes (whole region: tiles with coverage, then fill_hidden) renders the
    same image as the CPU's tile-sparse path; checked here on the CPU by forcing it."""
    from refocus_bench.simulators.render import soft_layers
    from refocus_bench.simulators.render.scenes import middlebury_motorcycle

    scene = middlebury_motorcycle()
    size = (160, 240)
    image = (
        F.interpolate(scene.image, size=size, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1).double()
    )
    inv = 1.0 / F.interpolate(scene.depth_m, size=size, mode="nearest").double()
    focus = 0.5 * (inv.min() + inv.max())
    coc = (focus - inv) / (focus - inv).abs().max() * 12.0
    with torch.no_grad():
        sparse = render_bokeh(image, coc_px=coc, aperture=aperture)
        monkeypatch.setattr(soft_layers, "_sparse_fill", lambda layers: False)
        whole = render_bokeh(image, coc_px=coc, aperture=aperture)
    assert float((sparse - image).abs().max()) > 0.05  # the scene is visibly blurred
    torch.testing.assert_close(sparse, whole, atol=1e-10, rtol=0)
