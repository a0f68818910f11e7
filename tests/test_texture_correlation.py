"""Texture correlation with distance (the disocclusion fill's predictor weight)."""

from __future__ import annotations

import math

import torch

from refocus_bench.simulators.render.texture_correlation import LAGS_PX, correlation_at, texture_correlation


def test_a_smooth_texture_stays_correlated_and_decorrelates_with_distance():
    y, x = torch.meshgrid(torch.arange(96.0), torch.arange(96.0), indexing="ij")
    wave = 0.5 + 0.4 * torch.sin(2 * math.pi * x / 48.0) * torch.cos(2 * math.pi * y / 48.0)  # period 48 px
    colour = wave.expand(3, 96, 96).double()
    rho = texture_correlation(colour, torch.ones(96, 96))
    assert float(rho[0]) > 0.97  # 1 px: nearly the same colour
    assert bool((rho[1:] <= rho[:-1] + 1e-12).all())  # falls with distance up to half a period
    assert float(rho[LAGS_PX.index(16)]) < 0.6


def test_only_pairs_of_seen_pixels_count():
    torch.manual_seed(0)
    colour = torch.rand(3, 40, 40, dtype=torch.float64)
    colour[:, :, :20] = 0.3  # the seen half is flat; the unseen half is noise
    seen = torch.zeros(40, 40)
    seen[:, :20] = 1.0
    assert texture_correlation(colour, seen).tolist() == [1.0] * len(LAGS_PX)


def test_correlation_is_interpolated_in_log_distance():
    table = torch.tensor([0.9, 0.8, 0.6, 0.3, 0.1, 0.0], dtype=torch.float64)
    d = torch.tensor([0.2, 1.0, 2.0, 3.0, 32.0, 500.0, math.inf], dtype=torch.float64)
    want = [0.9, 0.9, 0.8, 0.8 + (math.log2(3.0) - 1.0) * (0.6 - 0.8), 0.0, 0.0, 0.9]
    torch.testing.assert_close(correlation_at(table, d), torch.tensor(want, dtype=torch.float64))
