"""The disocclusion fill: how far behind a front layer it reaches, by the CoC gap (independent geometry)."""

from __future__ import annotations

import pytest
import torch

from refocus_bench.simulators.render.disocclusion import CocExtremes, box_sums, fill_hidden


def half_hidden_layer(size: int = 96, edge: int = 48, colour: float = 0.5) -> torch.Tensor:
    """A layer seen right of ``edge`` (colour, weight 1) and hidden left of it by a nearer layer."""
    stack = torch.zeros(6, size, size, dtype=torch.float64)
    stack[:3, :, edge:] = colour
    stack[3, :, edge:] = 1.0  # weight
    stack[4, :, edge:] = 1.0  # coverage at or behind the layer
    stack[5, :, :edge] = 1.0  # coverage clearly in front of it (hidden)
    return stack


def filled_alpha(out: torch.Tensor, row: int = 48) -> torch.Tensor:
    return out[3, row]


def test_no_gap_no_fill_and_a_large_gap_fills_up_to_the_reach():
    stack = half_hidden_layer()
    none = fill_hidden(stack, reach=16.0, gap=torch.zeros(96, 96, dtype=torch.float64))
    torch.testing.assert_close(none, stack[:4], atol=0, rtol=0)
    wide = filled_alpha(fill_hidden(stack, reach=16.0, gap=torch.full((96, 96), 40.0, dtype=torch.float64)))
    assert float(wide[44:48].min()) > 0.99  # just behind the edge: the only layer there, fully
    assert float(wide[:20].max()) == 0.0  # farther than the reach (+ one grid cell): nothing
    # the colour of the fill is the layer's own (premultiplied by the fill's alpha)
    out = fill_hidden(stack, reach=16.0, gap=torch.full((96, 96), 40.0, dtype=torch.float64))
    torch.testing.assert_close(out[0, 48, 44:48], 0.5 * out[3, 48, 44:48], atol=1e-12, rtol=0)


def test_the_fill_reaches_about_as_far_as_the_gap():
    stack = half_hidden_layer()
    reach = {}
    for gap in (2.0, 8.0, 16.0):  # one per radius level: 4, 8 and 16 px (grid of 4 px)
        alpha = filled_alpha(fill_hidden(stack, reach=16.0, gap=torch.full((96, 96), gap, dtype=torch.float64)))
        reach[gap] = 48 - int(torch.nonzero(alpha[:48] > 0.5).min())  # px behind the edge with alpha > 1/2
    assert reach[2.0] < reach[8.0] < reach[16.0]
    for gap, r in reach.items():
        assert 0.5 * gap <= r <= 2.0 * gap + 4, reach


def test_without_gap_every_hidden_pixel_looks_the_whole_reach():
    stack = half_hidden_layer()
    torch.testing.assert_close(
        fill_hidden(stack, reach=16.0),
        fill_hidden(stack, reach=16.0, gap=torch.full((96, 96), 1e9, dtype=torch.float64)),
        atol=0,
        rtol=0,
    )


def test_box_sum_and_coc_extremes_against_direct_loops():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 9, 11, generator=g, dtype=torch.float64)
    sums = box_sums(x, 3)
    for r in range(4):
        for y, xx in ((0, 0), (4, 5), (8, 10), (2, 9)):
            want = x[:, max(0, y - r) : y + r + 1, max(0, xx - r) : xx + r + 1].sum((-2, -1))
            torch.testing.assert_close(sums(r)[:, y, xx], want, atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="radius"):
        sums(4)
    coc = torch.randn(16, 24, generator=g, dtype=torch.float64) * 10
    ext = CocExtremes(coc, 8)
    gap = ext.gap_px(1.5, 4, (4, 16, 8, 24))  # blocks of 4 px inside rows 4-16, columns 8-24
    assert gap.shape == (3, 4)
    block = coc[8:12, 12:16]  # block (1, 1) of the box
    torch.testing.assert_close(gap[1, 1], (block - 1.5).abs().max() / 4, atol=1e-12, rtol=0)
    torch.testing.assert_close(ext.gap_px(-2.0, 1, (0, 16, 0, 24)), (coc + 2.0).abs(), atol=0, rtol=0)
