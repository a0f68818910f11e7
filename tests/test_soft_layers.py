"""Soft depth layers: the tile-by-tile construction equals the plain whole-box formulas bit for bit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from refocus_bench.simulators.soft_layers import SoftLayers


def layers_of(h: int, w: int, n: int, seed: int, dtype=torch.float32) -> SoftLayers:
    """A depth ramp with a noisy patch and a hard-edged block: smooth, cluttered and constant tiles."""
    g = torch.Generator().manual_seed(seed)
    pos = torch.linspace(0, n - 1.001, w, dtype=torch.float64).expand(h, w).clone()
    pos[h // 4 : h // 2, w // 4 : w // 2] = (n - 1.001) * torch.rand(h // 2 - h // 4, w // 2 - w // 4, generator=g, dtype=torch.float64)
    pos[h // 2 :, : w // 3] = 1.0  # exactly on a layer: frac 0
    idx = pos.floor().clamp(max=n - 2).to(torch.int32)
    frac = (pos - idx).to(dtype)
    lin = torch.rand(3, h, w, generator=g, dtype=dtype)
    return SoftLayers(lin, idx, frac, n)


def plain(layers: SoftLayers, layer: int, scale: int, box, coverage: bool) -> torch.Tensor:
    """The formulas of the module docstring over the whole box, then area-downsampling."""
    y0, y1, x0, x1 = box
    d = layers.idx[y0:y1, x0:x1].to(layers.frac.dtype) - (layer - 1)
    f = layers.frac[y0:y1, x0:x1]
    wgt = torch.where(d == 0, f, torch.where(d == 1, 1.0 - f, torch.zeros_like(f)))
    parts = [layers.lin[:, y0:y1, x0:x1] * wgt, wgt[None]]
    if coverage:
        v = d + f
        parts += [v.clamp(0.0, 1.0)[None], (-v).clamp(0.0, 1.0)[None]]
    out = torch.cat(parts)
    return F.avg_pool2d(out[None], scale)[0] if scale > 1 else out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [1, 2, 4, 8, 64])
def test_tiles_equal_the_plain_formulas(scale, dtype):
    h, w, n = 200, 264, 9  # not multiples of the 32 px tiles
    layers = layers_of(h, w, n, seed=scale, dtype=dtype)
    hp, wp = h // scale * scale, w // scale * scale
    boxes = [(0, hp, 0, wp), (scale * 3, hp - scale * 5, scale * 7, wp - scale), (scale * 9, scale * 20, scale, scale * 30)]
    for layer in range(n):
        for box in boxes:
            if not (0 <= box[0] < box[1] <= hp and 0 <= box[2] < box[3] <= wp):
                continue  # (large scales: only the whole frame fits)
            for coverage in (False, True):
                got = layers.stack(layer, scale, box, coverage)
                want = plain(layers, layer, scale, box, coverage)
                assert got.shape == want.shape
                assert torch.equal(got, want), (layer, box, coverage, float((got - want).abs().max()))


def test_weights_partition_every_pixel_and_boxes_hold_them():
    layers = layers_of(96, 128, 7, seed=3, dtype=torch.float64)
    full = (0, 96, 0, 128)
    total = sum(layers.stack(i, 1, full, False)[3] for i in range(7))
    torch.testing.assert_close(total, torch.ones(96, 128, dtype=torch.float64), atol=1e-15, rtol=0)
    for i, (y0, y1, x0, x1) in enumerate(layers.boxes()):
        wgt = layers.stack(i, 1, full, False)[3]
        inside = torch.zeros_like(wgt, dtype=torch.bool)
        inside[y0:y1, x0:x1] = True
        assert float(wgt[~inside].abs().sum()) == 0.0  # no weight outside the layer's box


def test_autograd_path_gives_the_same_values_and_gradients():
    layers = layers_of(64, 64, 5, seed=4, dtype=torch.float64)
    lin = layers.lin.clone().requires_grad_(True)
    grad_layers = SoftLayers(lin, layers.idx, layers.frac, 5)
    box = (0, 64, 0, 64)
    out = grad_layers.stack(2, 2, box, True)
    assert out.requires_grad
    torch.testing.assert_close(out.detach(), layers.stack(2, 2, box, True), atol=0, rtol=0)
    out[:3].sum().backward()
    # d(sum of pooled premultiplied colour)/d(lin) = the layer's weight / 4 per pixel
    wgt = layers.stack(2, 1, box, False)[3]
    torch.testing.assert_close(lin.grad, (wgt / 4).expand(3, 64, 64), atol=1e-15, rtol=0)
