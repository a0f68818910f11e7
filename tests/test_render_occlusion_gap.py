"""RGB-D soft layers that occlude only layers far enough behind them (``RenderConfig.occlusion_gap_*``), and the
disocclusion fill coloured from the nearest visible part of a layer (``RenderConfig.fill_nearest_colour``).

The deferred compositing groups must equal plain "over" compositing when every layer occludes every
farther one; with a gap, a smooth receding surface must come out closer to the exact reference than
with plain "over", while depth edges (a sharp foreground) stay occlusion-aware. The settings must keep
the renderer's guarantees: zero CoC is the identity, energy is conserved, gradients check, a batch
equals single renders, and the CPU's tile-sparse fill equals the whole-region fill.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from kornia.color import rgb_to_linear_rgb

from refocus_bench.errors import InvalidInputError
from refocus_bench.simulators.render import RenderConfig, render_bokeh
from refocus_bench.simulators.render.apertures import Disk
from refocus_bench.simulators.render.compositing import composite_layers, occlusion_gap
from refocus_bench.simulators.render.config import RGBD_FIDELITY, RGBD_PLANES
from refocus_bench.simulators.render.kernels import KernelCache
from refocus_bench.simulators.render.reference import margin_px, render_reference

pytestmark = pytest.mark.usefixtures("one_torch_thread")

GAP = RenderConfig(occlusion_gap_px=2.0, occlusion_gap_rel=0.5)


def psnr(a: torch.Tensor, b: torch.Tensor, mask: np.ndarray) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean(0).numpy()[mask].mean())
    return 10.0 * math.log10(1.0 / mse)


def test_occlusion_gap_rule():
    occludes = occlusion_gap(2.0, 0.5)
    assert not occludes(-1.0, 0.5)  # 1.5 px apart: within 2 px
    assert occludes(-1.0, 1.5)  # 2.5 px apart, > max(2, 0.75)
    assert not occludes(10.0, 14.0)  # 4 px apart, within 50% of 14 px
    assert occludes(10.0, 21.0)  # 11 px apart, > 10.5
    assert not occludes(3.0, 3.0) and not occludes(5.0, 1.0)  # never the same or a nearer layer


@pytest.mark.parametrize("radii", [[-6.0, -3.5, -1.0, 0.0, 2.0, 4.5, 9.0], [-9.0, -5.0], [1.0, 3.0, 8.0]])
def test_deferred_groups_equal_over_when_every_layer_occludes(radii):
    g = torch.Generator().manual_seed(3)
    h = w = 40
    stacks = []
    for _ in radii:
        alpha = (torch.rand(1, h, w, generator=g, dtype=torch.float64) > 0.6).double()
        stacks.append(torch.cat([torch.rand(3, h, w, generator=g, dtype=torch.float64) * alpha, alpha]))
    args = (
        [lambda s, box, st=st: F.avg_pool2d(st[None], s)[0] if s > 1 else st for st in stacks],
        radii,
        [(0, h, 0, w)] * len(radii),
        Disk(),
        (h, w),
        RenderConfig(coarse_radius_px=2.0),  # reduced resolution: pending layers are upsampled
        KernelCache(),
    )
    plain = composite_layers(*args, alpha_channels=1)
    deferred = composite_layers(*args, alpha_channels=1, occludes=lambda front, back: back > front)
    for a, b in zip(plain, deferred):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)
    if all(r > 0 for r in radii) or all(r < 0 for r in radii):  # one group (the merge of the two is "over")
        # no layer occludes another: colour and coverage are the sums of the layers blurred alone (at full
        # resolution, where the accumulators are never resampled)
        args = args[:5] + (RenderConfig(coarse_radius_px=math.inf), args[6])
        additive = composite_layers(*args, alpha_channels=1, occludes=lambda front, back: False)
        alone = [
            composite_layers(*(a[i : i + 1] for a in args[:3]), *args[3:], alpha_channels=1) for i in range(len(radii))
        ]
        for k in range(2):
            torch.testing.assert_close(additive[k], sum(a[k] for a in alone), atol=1e-12, rtol=0)


@pytest.mark.parametrize("config", [GAP, RGBD_FIDELITY, RGBD_PLANES], ids=["gap", "fidelity-preset", "planes-preset"])
def test_identity_energy_and_batch(config):
    g = torch.Generator().manual_seed(1)
    image = 0.05 + 0.9 * torch.rand(2, 3, 32, 32, generator=g, dtype=torch.float64)
    zero = torch.zeros(2, 1, 32, 32, dtype=torch.float64)
    assert float((render_bokeh(image, coc_px=zero, config=config) - image).abs().max()) < 1e-6
    framed = torch.zeros_like(image)  # content 12 px away from the borders, farther than the blur reaches
    framed[..., 12:-12, 12:-12] = image[..., 12:-12, 12:-12] * 0.6
    out = render_bokeh(framed, coc_px=zero + 4.5, config=config)
    energy_in = rgb_to_linear_rgb(framed).sum((-1, -2))
    assert float(((rgb_to_linear_rgb(out).sum((-1, -2)) - energy_in) / energy_in).abs().max()) < 1e-9
    ramp = torch.linspace(-7.0, 6.0, 32, dtype=torch.float64).expand(2, 1, 32, 32).contiguous()
    ramp[1] = ramp[1].flip(-1)
    batch = render_bokeh(image, coc_px=ramp, config=config)
    for i in range(2):
        single = render_bokeh(image[i : i + 1], coc_px=ramp[i : i + 1], config=config)
        torch.testing.assert_close(batch[i : i + 1], single)


@pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad")
def test_gradcheck_with_gap():
    g = torch.Generator().manual_seed(5)
    image = (0.2 + 0.6 * torch.rand(1, 3, 8, 8, generator=g, dtype=torch.float64)).requires_grad_(True)
    coc = torch.linspace(-6.0, 5.0, 8, dtype=torch.float64).expand(8, 8)[None, None].contiguous()
    config = RenderConfig(
        occlusion_gap_px=2.0, occlusion_gap_rel=0.5, fill_nearest_colour=True, coarse_radius_px=float("inf")
    )
    fn = lambda img: render_bokeh(img, coc_px=coc, config=config)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (image,), eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("config", [GAP, RenderConfig(fill_nearest_colour=True)], ids=["gap", "nearest-colour"])
def test_tile_sparse_fill_equals_whole_region_fill(monkeypatch, config):
    from refocus_bench.simulators.render import soft_layers
    from refocus_bench.simulators.render.scenes import dead_leaves_scene

    scene = dead_leaves_scene((96, 96), n_leaves=12, seed=7)
    image, _depth, front = scene.flatten()
    coc = torch.tensor([12.0 * (0.5 - 1.0 / float(z)) for z in scene.depth_m], dtype=torch.float64)[front][None, None]
    with torch.no_grad():
        sparse = render_bokeh(image.double(), coc_px=coc, config=config)
        monkeypatch.setattr(soft_layers, "_sparse_fill", lambda layers: False)
        whole = render_bokeh(image.double(), coc_px=coc, config=config)
    torch.testing.assert_close(sparse, whole, atol=1e-10, rtol=0)


def test_sharp_foreground_is_never_overrun_with_gap():
    size = 48
    g = torch.Generator().manual_seed(0)
    image = 0.15 + 0.1 * torch.rand(1, 3, size, size, generator=g, dtype=torch.float64)
    inside = torch.zeros(size, size, dtype=torch.bool)
    inside[16:32, 16:32] = True
    image[..., inside] += 0.6
    coc = torch.where(inside, 0.0, 10.0)[None, None].double()
    out = render_bokeh(image, coc_px=coc, config=GAP)
    interior = torch.zeros_like(inside)
    interior[18:30, 18:30] = True
    assert float((out - image)[..., interior].abs().max()) < 1e-9


def test_receding_surface_is_closer_to_the_reference_with_a_gap():
    """A plane receding in 32 strips (CoC -7.5..+5 px): plain "over" of the soft layers of one surface
    darkens and mixes it. Measured at 256 samples: 41.7 dB with RenderConfig(), 43.8 dB with the gap,
    48.6 dB with RGBD_FIDELITY; a two-plane scene is unchanged (depth edges keep their occlusion)."""
    from refocus_bench.simulators.render.scenes import slanted_plane_scene, two_plane_scene

    scene = slanted_plane_scene((128, 128), strips=32, seed=3)
    coc = torch.tensor([[15.0 * (0.5 - 1.0 / float(z)) for z in scene.depth_m]], dtype=torch.float64)
    ref = render_reference(scene.layers[None].double(), coc_px=coc, samples=256, linear=True)[0]
    image, _depth, front = scene.flatten()
    m = margin_px(coc)
    valid = np.zeros((128, 128), dtype=bool)
    valid[m:-m, m:-m] = True

    def score(config, img=image, c=coc[0][front][None, None], r=ref, mask=valid):
        return psnr(rgb_to_linear_rgb(render_bokeh(img.double(), coc_px=c, config=config))[0], r, mask)

    plain, gap, preset = score(RenderConfig()), score(GAP), score(RGBD_FIDELITY)
    assert gap >= plain + 1.5, (plain, gap)
    assert preset >= gap + 3.0, (gap, preset)
    two = two_plane_scene((96, 96), seed=1)
    c2 = torch.tensor([[-4.0, 8.0]], dtype=torch.float64)
    ref2 = render_reference(two.layers[None].double(), coc_px=c2, samples=256, linear=True)[0]
    image2, _d, front2 = two.flatten()
    valid2 = np.zeros((96, 96), dtype=bool)
    valid2[10:-10, 10:-10] = True
    kw = dict(img=image2, c=c2[0][front2][None, None], r=ref2, mask=valid2)
    assert score(GAP, **kw) >= score(RenderConfig(), **kw) - 0.1


@pytest.mark.parametrize("kw", [dict(occlusion_gap_px=-1.0), dict(occlusion_gap_rel=2.5)])
def test_bad_gap_raises_naming_it(kw):
    with pytest.raises(InvalidInputError, match="occlusion_gap"):
        RenderConfig(**kw)


def test_nearest_colour_fill_continues_the_texture_next_to_the_edge():
    """A background with a left (dark) and a right (bright) half behind a blurred foreground disc that
    covers the boundary: the hidden pixels next to the dark half are filled dark, not with the mean of
    both halves that a window of the whole reach averages."""
    from tests.render_fixtures import disc_over_two_tones

    image, coc = disc_over_two_tones()
    with torch.no_grad():
        mean = render_bokeh(image, coc_px=coc, config=GAP)
        near = render_bokeh(
            image,
            coc_px=coc,
            config=RenderConfig(occlusion_gap_px=2.0, occlusion_gap_rel=0.5, fill_nearest_colour=True),
        )
    # just inside the disc's top edge, left of the boundary, the revealed background is the dark half
    patch = (slice(None), slice(None), slice(19, 23), slice(24, 28))
    assert float(near[patch].mean()) < float(mean[patch].mean()) - 0.01, (near[patch].mean(), mean[patch].mean())
