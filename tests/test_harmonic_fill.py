"""The harmonic extension of seen colours into a hole (the RGB-D planes' disocclusion fill).

Known answers: a discrete harmonic function (``x^2 - y^2 + x y``, a plane) is its own extension; the solve equals
a direct sparse solve of the same screened system (SciPy); gradients check; and on a Gaussian free field (the
``1 / f^2`` spectrum of photographs) the fill's error is below the nearest seen pixel's and the mean's.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from scipy import ndimage

from refocus_bench.errors import InvalidInputError
from refocus_bench.simulators.render.harmonic_fill import harmonic_fill, pull_push


def _disc(n: int, cy: float, cx: float, r: float) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(n, dtype=torch.float64), torch.arange(n, dtype=torch.float64), indexing="ij")
    return (y - cy) ** 2 + (x - cx) ** 2 <= r * r


def test_a_harmonic_function_is_its_own_extension():
    n = 40
    y, x = torch.meshgrid(torch.arange(n, dtype=torch.float64), torch.arange(n, dtype=torch.float64), indexing="ij")
    u, v = x / n, y / n
    colour = torch.stack([u * u - v * v + u * v, 0.3 + 0.5 * u - 0.2 * v, torch.full_like(u, 0.7)])
    hole = _disc(n, 18.0, 21.0, 11.0) | (_disc(n, 30.0, 10.0, 5.0))
    got = harmonic_fill(colour, ~hole, hole, screening=1e-10, tol=1e-12)
    torch.testing.assert_close(got, colour, atol=1e-8, rtol=0)


def test_equals_a_direct_sparse_solve_of_the_screened_system():
    g = torch.Generator().manual_seed(3)
    n, s = 24, 1e-3
    colour = torch.rand(2, n, n, generator=g, dtype=torch.float64)
    hole = _disc(n, 11.0, 12.0, 7.0)
    seen = ~hole & (torch.rand(n, n, generator=g) < 0.7)  # some pixels take no part
    anchor = pull_push(colour, seen)
    # the system, written out: (n_i + s) x_i - sum_{j in hole} x_j = sum_{j seen} c_j + s m_i
    idx = -np.ones((n, n), dtype=np.int64)
    hy, hx = np.nonzero(hole.numpy())
    idx[hy, hx] = np.arange(len(hy))
    rows, cols, vals = [], [], []
    rhs = np.zeros((len(hy), 2))
    for i, (yy, xx) in enumerate(zip(hy, hx)):
        count = 0
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            y2, x2 = yy + dy, xx + dx
            if not (0 <= y2 < n and 0 <= x2 < n):
                continue
            if hole[y2, x2]:
                rows.append(i), cols.append(idx[y2, x2]), vals.append(-1.0)
                count += 1
            elif seen[y2, x2]:
                rhs[i] += colour[:, y2, x2].numpy()
                count += 1
        rows.append(i), cols.append(i), vals.append(count + s)
        rhs[i] += s * anchor[:, yy, xx].numpy()
    a = sp.csr_matrix((vals, (rows, cols)), shape=(len(hy), len(hy)))
    want = spla.spsolve(a, rhs)
    got = harmonic_fill(colour, seen, hole, screening=s, tol=1e-12)
    np.testing.assert_allclose(got[:, hy, hx].numpy().T, want, atol=1e-9)
    assert bool((got[:, ~(seen | hole)] == 0).all()) and torch.equal(got[:, seen], colour[:, seen])


def test_a_hole_that_touches_no_seen_pixel_takes_the_multi_scale_mean():
    colour = torch.zeros(1, 16, 16, dtype=torch.float64)
    colour[:, :, :4] = 0.8
    seen = torch.zeros(16, 16, dtype=torch.bool)
    seen[:, :4] = True
    hole = torch.zeros(16, 16, dtype=torch.bool)
    hole[4:12, 10:14] = True  # cut off from the seen columns by pixels that take no part
    got = harmonic_fill(colour, seen, hole)
    torch.testing.assert_close(got[:, hole], torch.full((1, int(hole.sum())), 0.8, dtype=torch.float64))


def test_gradcheck():
    g = torch.Generator().manual_seed(1)
    colour = torch.rand(2, 9, 9, generator=g, dtype=torch.float64).requires_grad_(True)
    hole = _disc(9, 4.0, 4.0, 2.5)
    seen = ~hole
    seen[0, 0] = False
    fn = lambda c: harmonic_fill(c, seen, hole, tol=1e-13)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (colour,), eps=1e-6, atol=1e-7, rtol=1e-5)


def _free_field(n: int, seed: int) -> torch.Tensor:
    """A Gaussian free field on an n x n torus: white noise shaped to a 1/|k|^2 power spectrum."""
    rng = np.random.default_rng(seed)
    k = np.fft.fftfreq(n)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    k2[0, 0] = np.inf
    field = np.fft.ifft2(np.fft.fft2(rng.standard_normal((n, n))) / np.sqrt(k2)).real
    return torch.from_numpy(field / field.std())[None]


def test_on_a_free_field_it_beats_the_nearest_seen_pixel_and_the_mean():
    errors = {"harmonic": 0.0, "nearest": 0.0, "mean": 0.0}
    for seed in range(4):
        field = _free_field(96, seed)
        hole = _disc(96, 48.0, 48.0, 14.0)
        seen = ~hole
        _, (iy, ix) = ndimage.distance_transform_edt(hole.numpy(), return_indices=True)
        guesses = {
            "harmonic": harmonic_fill(field, seen, hole),
            "nearest": field[:, torch.from_numpy(iy), torch.from_numpy(ix)],
            "mean": torch.full_like(field, float(field[:, seen & _disc(96, 48.0, 48.0, 24.0)].mean())),
        }
        for name, guess in guesses.items():
            errors[name] += float(((guess - field)[:, hole] ** 2).mean())
    assert errors["harmonic"] < 0.9 * min(errors["nearest"], errors["mean"]), errors
    assert math.isfinite(errors["harmonic"])


@pytest.mark.parametrize(
    ("shape", "overlap", "match"),
    [((8, 8), False, "colour must be"), ((1, 8, 8), True, "must not overlap"), ((1, 8, 7), False, "masks of")],
)
def test_bad_input_names_the_argument(shape, overlap, match):
    seen = torch.zeros(8, 8, dtype=torch.bool)
    seen[:, :3] = True
    hole = seen.clone() if overlap else ~seen
    with pytest.raises(InvalidInputError, match=match):
        harmonic_fill(torch.zeros(shape), seen, hole)
