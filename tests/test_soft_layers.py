"""Soft depth layers: the tile-by-tile construction equals the plain whole-box formulas bit for bit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from refocus_bench.simulators.render.soft_layers import SoftLayers


def layers_of(h: int, w: int, n: int, seed: int, dtype=torch.float32) -> SoftLayers:
    """A depth ramp with a noisy patch and a hard-edged block: smooth, cluttered and constant tiles."""
    g = torch.Generator().manual_seed(seed)
    pos = torch.linspace(0, n - 1.001, w, dtype=torch.float64).expand(h, w).clone()
    pos[h // 4 : h // 2, w // 4 : w // 2] = (n - 1.001) * torch.rand(
        h // 2 - h // 4, w // 2 - w // 4, generator=g, dtype=torch.float64
    )
    pos[h // 2 :, : w // 3] = 1.0  # exactly on a layer: frac 0
    idx = pos.floor().clamp(max=n - 2).to(torch.int32)
    frac = (pos - idx).to(dtype)
    lin = torch.rand(3, h, w, generator=g, dtype=dtype)
    return SoftLayers(lin, idx, frac, n)


def plain(layers: SoftLayers, layer: int, scale: int, box, coverage: bool) -> torch.Tensor:
    """The formulas of the module docstring over the whole box, then area-downsampling."""
    y0, y1, x0, x1 = box
    pos = layers.idx[y0:y1, x0:x1].to(layers.frac.dtype) + layers.frac[y0:y1, x0:x1]
    wgt = (1.0 - (pos - layer).abs()).clamp(min=0.0)
    parts = [layers.lin[:, y0:y1, x0:x1] * wgt, wgt[None]]
    if coverage:
        parts += [(pos - layer + 1.0).clamp(0.0, 1.0)[None], (-1.0 - (pos - layer)).clamp(0.0, 1.0)[None]]
    out = torch.cat(parts)
    return F.avg_pool2d(out[None], scale)[0] if scale > 1 else out


def test_hat_weights_are_frac_and_one_minus_frac():
    """Independent of the hat formula: layer idx gets 1 - frac, layer idx + 1 gets frac, others 0."""
    for dtype, tol in ((torch.float32, 2e-6), (torch.float64, 1e-14)):
        layers = layers_of(64, 96, 7, seed=6, dtype=dtype)
        full = (0, 64, 0, 96)
        idx, frac = layers.idx.long(), layers.frac
        for k in range(7):
            want = torch.where(idx == k, 1.0 - frac, torch.where(idx == k - 1, frac, torch.zeros_like(frac)))
            torch.testing.assert_close(layers.stack(k, 1, full, False)[3], want, atol=tol, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("scale", [1, 2, 4, 8, 64])
def test_tiles_equal_the_plain_formulas(scale, dtype):
    h, w, n = 200, 264, 9  # not multiples of the 32 px tiles
    layers = layers_of(h, w, n, seed=scale, dtype=dtype)
    hp, wp = h // scale * scale, w // scale * scale
    boxes = [
        (0, hp, 0, wp),
        (scale * 3, hp - scale * 5, scale * 7, wp - scale),
        (scale * 9, scale * 20, scale, scale * 30),
    ]
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


@pytest.mark.parametrize("size", [(192, 256), (200, 264)])  # whole tiles, and a frame cutting tiles and cells
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_filled_by_tiles_equals_the_whole_region_fill(size, dtype):
    """The tile-sparse fill equals fill_hidden over the whole region (the autograd path) to rounding."""
    from refocus_bench.simulators.render.disocclusion import CocExtremes

    h, w = size
    layers = layers_of(h, w, 9, seed=1, dtype=dtype)
    coc = ((layers.idx.double() + layers.frac.double()) * 3.0 - 10.0).to(dtype)
    extremes = CocExtremes(coc, 8)
    tol = 1e-12 if dtype == torch.float64 else 1e-6
    filled_somewhere = 0
    for layer in range(2, 9):
        centre = layer * 3.0 - 10.0
        for scale in (1, 2, 4, 8):
            hp, wp = h // scale * scale, w // scale * scale
            for box in ((0, hp, 0, wp), (scale * 3, hp - scale * 5, scale * 7, wp - scale)):
                for reach in (1.0, 3.0, 9.0, 20.0, 40.0):
                    with torch.no_grad():
                        tiles = layers.filled(layer, scale, box, reach, extremes, centre)
                    grad_layers = SoftLayers(layers.lin.clone().requires_grad_(True), layers.idx, layers.frac, 9)
                    whole = grad_layers.filled(layer, scale, box, reach, extremes, centre)
                    assert whole.requires_grad and tiles.shape == whole.shape
                    torch.testing.assert_close(tiles, whole.detach(), atol=tol, rtol=0)
                    plain_stack = layers.stack(layer, scale, box, False)
                    filled_somewhere += int(bool((tiles[3] > plain_stack[3] + 1e-3).any()))
    assert filled_somewhere > 50  # the fill is at work in most configurations


def test_upsample_cell_tiles_equals_whole_grid_interpolation():
    from refocus_bench.simulators.render.disocclusion import upsample_cell_tiles

    g = torch.Generator().manual_seed(0)
    for cells, down in ((4, 8), (2, 2), (8, 4), (4, 1)):
        ty, tx = 3, 5
        grid = torch.rand(4, ty * cells, tx * cells, generator=g, dtype=torch.float64)
        whole = (
            F.interpolate(grid[None], scale_factor=down, mode="bilinear", align_corners=False)[0] if down > 1 else grid
        )
        padded = F.pad(grid[None], (1, 1, 1, 1), mode="replicate")[0]
        ys, xs = torch.tensor([0, 2, 1, 2]), torch.tensor([0, 4, 2, 0])
        got = upsample_cell_tiles(padded, ys, xs, cells, down)
        q = cells * down
        for k, (y, x) in enumerate(zip(ys.tolist(), xs.tolist())):
            torch.testing.assert_close(got[k], whole[:, y * q : (y + 1) * q, x * q : (x + 1) * q], atol=1e-14, rtol=0)
