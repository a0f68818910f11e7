"""The simulator on a CUDA device: the same physics as on the CPU, and CPU results to rounding.

These tests run only where ``torch.cuda.is_available()`` (they are skipped on CPU-only machines,
where every property below is already tested on the CPU). Known answers: the CPU renderer (itself
tested against physics and the reference elsewhere), energy conservation, the identity at zero CoC,
the aperture's area for a point light's radius, float64 ``gradcheck``.
"""

from __future__ import annotations

import math

import pytest
import torch
from kornia.color import rgb_to_linear_rgb

from refocus_bench.errors import InvalidInputError
from refocus_bench.models import MODELS, create_model, list_models
from refocus_bench.optics import ThinLens
from refocus_bench.simulators.render import DefocusRenderer, RenderConfig, render_bokeh, render_layered
from refocus_bench.simulators.render.apertures import list_apertures, make_aperture
from refocus_bench.simulators.render.config import LAYERED_EXACT, RGBD_PLANES
from refocus_bench.simulators.render.reference import render_reference
from refocus_bench.simulators.render.scatter import render_scatter
from refocus_bench.simulators.render.scenes import dead_leaves_scene, two_plane_scene

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

FULL_RES = RenderConfig(coarse_radius_px=float("inf"))
CUDA = torch.device("cuda")


def rand_image(b=1, h=48, w=56, seed=0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.05 + 0.9 * torch.rand(b, 3, h, w, generator=g, dtype=dtype)


def coc_ramp(b=1, h=48, w=56, lo=-14.0, hi=11.0, dtype=torch.float64) -> torch.Tensor:
    return torch.linspace(lo, hi, w, dtype=dtype).expand(b, 1, h, w).contiguous()


@pytest.mark.parametrize("name", list_apertures())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_kernels_are_built_on_the_device(name, dtype):
    ap = make_aperture(name)
    for r in (0.0, 0.7, 5.5, 33.3, 100.0):
        k = ap.kernel(r, dtype=dtype, device=CUDA)
        assert k.device.type == CUDA.type and k.dtype == dtype
        torch.testing.assert_close(
            k.cpu(), ap.kernel(r, dtype=dtype, device="cpu"), atol=1e-6 if dtype == torch.float32 else 1e-12, rtol=0
        )


CONFIGS = {
    "default": RenderConfig(),
    "full-res": FULL_RES,
    "fft": RenderConfig(backend="fft"),
    "spatial": RenderConfig(backend="spatial"),
    "direct": RenderConfig(backend="direct"),
    "chromatic": RenderConfig(chromatic_scale=(1.04, 1.0, 0.96)),
    "highlights": RenderConfig(highlight_gain=4.0),
    "tiled": RenderConfig(tile_px=64),
    "split-2": RenderConfig(aperture_splits=2),
    "planes": RGBD_PLANES,
    "planes-tiled": RenderConfig(rgbd_planes=True, tile_px=64),
}


# every config with every aperture, except splitting with a cat's-eye (rejected; tested on CPU)
RENDER_CASES = [
    (a, c) for a in ("disk", "hexagon", "heart", "cats-eye") for c in CONFIGS if (a, c) != ("cats-eye", "split-2")
]


@pytest.mark.parametrize("aperture, config", RENDER_CASES, ids=[f"{a}-{c}" for a, c in RENDER_CASES])
def test_rgbd_render_matches_cpu_float64(aperture, config):
    image, coc = rand_image(h=150, w=170), coc_ramp(h=150, w=170)
    cpu = render_bokeh(image, coc_px=coc, aperture=aperture, config=CONFIGS[config])
    gpu = render_bokeh(image.to(CUDA), coc_px=coc.to(CUDA), aperture=aperture, config=CONFIGS[config])
    assert gpu.device.type == CUDA.type and gpu.dtype == torch.float64
    # the planes' hidden colours come from an iterative solve that stops at a relative residual of 1e-4, maybe
    # one check later on one device than on the other
    atol = 1e-3 if CONFIGS[config].rgbd_planes else 1e-10
    torch.testing.assert_close(gpu.cpu(), cpu, atol=atol, rtol=0)


def test_rgbd_render_float32_matches_cpu_to_rounding():
    """float32: no TF32 in the convolutions (cuDNN would use it by default: ~1e-3 relative error)."""
    image, coc = (
        rand_image(h=160, w=160, dtype=torch.float32),
        coc_ramp(h=160, w=160, lo=-6.0, hi=5.0, dtype=torch.float32),
    )
    want = render_bokeh(image.double(), coc_px=coc.double(), config=FULL_RES)
    gpu = render_bokeh(image.to(CUDA), coc_px=coc.to(CUDA), config=FULL_RES)
    assert gpu.dtype == torch.float32
    assert float((gpu.cpu().double() - want).abs().max()) < 2e-5


@pytest.mark.parametrize("aperture, radius", [("disk", 2.5), ("disk", 7.3), ("hexagon", -11.6), ("heart", 14.0)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_energy_is_conserved_at_uniform_depth(aperture, radius, dtype):
    size, pad = 80, 20  # content 20 px away from the borders, farther than any blur reaches
    image = torch.zeros(1, 3, size, size, dtype=dtype)
    image[:, :, pad:-pad, pad:-pad] = 0.6 * rand_image(h=size - 2 * pad, w=size - 2 * pad, seed=3, dtype=dtype)
    image = image.to(CUDA)
    coc = torch.full((1, 1, size, size), radius, dtype=dtype, device=CUDA)
    before = float(rgb_to_linear_rgb(image).double().sum())
    for config in (FULL_RES, RenderConfig()):
        out = render_bokeh(image, coc_px=coc, aperture=aperture, config=config)
        assert float(out.max()) < 1.0  # no clamping
        after = float(rgb_to_linear_rgb(out).double().sum())
        assert abs(after - before) / before <= 1e-4, config


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_zero_coc_is_identity(dtype):
    image = rand_image(h=40, w=52, seed=4, dtype=dtype).to(CUDA)
    for render in (render_bokeh, render_scatter):
        out = render(image, coc_px=torch.zeros(1, 1, 40, 52, dtype=dtype, device=CUDA))
        assert float((out - image).abs().max()) < 1e-6


@pytest.mark.parametrize("name", ["disk", "hexagon", "heart", "star", "annulus"])
@pytest.mark.parametrize("radius", [5.5, 20.0])
def test_point_light_radius(name, radius):
    ap = make_aperture(name)
    size = 2 * math.ceil(radius) + 25
    image = torch.zeros(1, 3, size, size, dtype=torch.float64, device=CUDA)
    image[0, :, size // 2, size // 2] = 1.0
    coc = torch.full((1, 1, size, size), radius, dtype=torch.float64, device=CUDA)
    blob = rgb_to_linear_rgb(render_bokeh(image, coc_px=coc, aperture=ap, config=FULL_RES))[0, 1].cpu()
    unit_area = ap.area(2048)
    assert float(blob.sum()) == pytest.approx(1.0, abs=1e-6)
    plateau = 1.0 / (unit_area * radius * radius)
    assert math.sqrt(float((blob > 0.5 * plateau).sum()) / unit_area) == pytest.approx(radius, abs=0.5)


def test_batch_with_per_sample_cpu_lens_tensors():
    """Lens parameters given as CPU tensors follow the image to the device."""
    image = rand_image(b=3, h=40, w=40, seed=6)
    g = torch.Generator().manual_seed(7)
    depth = 0.8 + 4.0 * torch.rand(3, 1, 40, 40, generator=g, dtype=torch.float64)
    lens = ThinLens(
        torch.tensor([35.0, 50.0, 85.0], dtype=torch.float64),
        torch.tensor([1.4, 2.0, 4.0], dtype=torch.float64),
        torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64),
        36.0,
    )
    cpu = render_bokeh(image, depth, lens)
    gpu = render_bokeh(image.to(CUDA), depth.to(CUDA), lens)
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-10, rtol=0)


def test_layered_and_reference_match_cpu():
    scene = dead_leaves_scene((96, 96), seed=2)
    layers = scene.layers[None].double()
    coc = torch.linspace(-9.0, 7.0, layers.shape[1], dtype=torch.float64)[None]
    for aperture in ("disk", "hexagon"):
        cpu = render_layered(layers, coc_px=coc, aperture=aperture)
        gpu = render_layered(layers.to(CUDA), coc_px=coc.to(CUDA), aperture=aperture)
        torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-10, rtol=0)
        exact_cpu = render_layered(layers, coc_px=coc, aperture=aperture, config=LAYERED_EXACT)
        exact_gpu = render_layered(layers.to(CUDA), coc_px=coc.to(CUDA), aperture=aperture, config=LAYERED_EXACT)
        torch.testing.assert_close(exact_gpu.cpu(), exact_cpu, atol=1e-10, rtol=0)
        ref_cpu = render_reference(layers, coc_px=coc, aperture=aperture, samples=64, linear=True)
        ref_gpu = render_reference(layers.to(CUDA), coc_px=coc.to(CUDA), aperture=aperture, samples=64, linear=True)
        torch.testing.assert_close(ref_gpu.cpu(), ref_cpu, atol=1e-10, rtol=0)


def test_scatter_matches_cpu():
    image, coc = rand_image(h=64, w=64, seed=8), coc_ramp(h=64, w=64, lo=-6.0, hi=6.0)
    torch.testing.assert_close(
        render_scatter(image.to(CUDA), coc_px=coc.to(CUDA)).cpu(), render_scatter(image, coc_px=coc), atol=1e-10, rtol=0
    )


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")
def test_gradients_match_cpu_and_gradcheck():
    image = rand_image(h=24, w=24, seed=9)
    coc = coc_ramp(h=24, w=24, lo=-7.0, hi=7.0)
    weights = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(10), dtype=torch.float64)
    grads = []
    for device in ("cpu", CUDA):
        x = image.to(device).clone().requires_grad_(True)  # a leaf on each device
        (render_bokeh(x, coc_px=coc.to(device)) * weights.to(device)).sum().backward()
        grads.append(x.grad.cpu())
    torch.testing.assert_close(grads[1], grads[0], atol=1e-10, rtol=0)
    small = rand_image(h=8, w=8, seed=11).to(CUDA).requires_grad_(True)
    ramp = torch.linspace(-2.0, 2.0, 8, dtype=torch.float64, device=CUDA).expand(8, 8)[None, None].contiguous()
    # CUDA backward kernels of padding/indexing accumulate with atomics: repeated backward passes
    # may differ in the last bits, hence a non-zero nondet_tol
    assert torch.autograd.gradcheck(
        lambda x: render_bokeh(x, coc_px=ramp, config=FULL_RES),
        (small,),
        eps=1e-6,
        atol=1e-5,
        rtol=1e-4,
        nondet_tol=1e-12,
    )


def test_module_on_cuda_equals_function():
    image, coc = rand_image(b=2, h=40, w=40, seed=12).to(CUDA), coc_ramp(b=2, h=40, w=40).to(CUDA)
    module = DefocusRenderer("hexagon").to(CUDA)
    want = render_bokeh(image, coc_px=coc, aperture="hexagon")
    torch.testing.assert_close(module(image, coc_px=coc), want, atol=1e-12, rtol=0)
    torch.testing.assert_close(module(image, coc_px=coc), want, atol=1e-12, rtol=0)  # cached kernels
    kernels = list(module.kernels._kernels.values())
    assert kernels and all(k.device.type == "cuda" and k.dtype == torch.float64 for k in kernels)  # kept on the device


def test_two_plane_scene_on_cuda_matches_cpu():
    scene = two_plane_scene((96, 96), seed=1)
    layers = scene.layers[None].double()
    coc = torch.tensor([[-6.0, 9.0]], dtype=torch.float64)
    cpu = render_layered(layers, coc_px=coc)
    gpu = render_layered(layers.to(CUDA), coc_px=coc.to(CUDA))
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-10, rtol=0)


def test_blur_map_on_another_device_is_rejected():
    image = rand_image(h=16, w=16).to(CUDA)
    with pytest.raises(InvalidInputError, match="coc_px"):
        render_bokeh(image, coc_px=torch.zeros(1, 1, 16, 16, dtype=torch.float64))
    with pytest.raises(InvalidInputError, match="depth_m"):
        render_bokeh(image, torch.ones(1, 1, 16, 16, dtype=torch.float64), ThinLens(50.0, 2.0, 2.0))


@pytest.mark.parametrize("name", list_models())
def test_models_run_on_cuda_like_on_cpu(name):
    """Every registered model (tiny random configurations, as in the conformance tests) on CUDA."""
    torch.manual_seed(0)
    model = create_model(name, **MODELS.get(name).dummy_kwargs()).eval()
    g = torch.Generator().manual_seed(1)
    image = torch.rand(2, 3, 32, 32, generator=g)
    depth = 1.0 + 4.0 * torch.rand(2, 1, 32, 32, generator=g)
    kw = {"focus_distance_m": torch.tensor([2.0, 3.0]), "k_px_m": torch.tensor([5.0, 2.5])}
    for task in model.tasks:
        args = (image,) if task == "deblur" else (image, depth)
        kwargs = {} if task == "deblur" else kw
        with torch.no_grad():
            cpu = getattr(model.to("cpu"), task)(*args, **kwargs)
            gpu = getattr(model.to(CUDA), task)(*(a.to(CUDA) for a in args), **kwargs)
        assert gpu.device.type == CUDA.type and gpu.shape == cpu.shape, task
        # neural models may use TF32 matrix products on the GPU: agreement to ~1e-3, not to rounding
        assert float((gpu.cpu() - cpu).abs().max()) < 2e-2, task
