"""Colours guessed inside a hole from the pixels around it: the harmonic extension.

The RGB-D planes (:mod:`~refocus_bench.simulators.render.rgbd_planes`) must guess a surface's colour where
the camera did not see it, behind a nearer one. Photographs have a power spectrum close to ``1 / f^2``, the
spectrum of a Gaussian free field, and for such a field the least-squares guess of unseen pixels from the
seen ones is their harmonic extension: every unseen pixel is the mean of its 4-neighbours, the seen pixels
stay fixed. It continues colour ramps and edges' colours, blends the sides of a hole that is seen on several
sides, and flattens into the mean of the surrounding colours far from them.

:func:`harmonic_fill` solves ``(n + s) x_i - sum_{j in hole} x_j = sum_{j seen} c_j + s * m_i`` for the hole's
pixels ``i`` (``n`` the number of 4-neighbours in the hole or seen). The screening ``s`` (:data:`SCREENING`) is
a tie to ``m``, a pull-push (multi-scale mean) estimate of the seen colours (:func:`pull_push`), so weak that
it only settles the parts of a hole that touch no seen pixel, and the result does not depend on the crop it is
computed on beyond the solver's tolerance (a tiled render of the RGB-D planes equals the whole image to 2e-4 at
most, 1e-6 on average). The solve is Jacobi-preconditioned conjugate gradients from ``m`` over the hole's pixels
only, on any device; its gradient solves the same (symmetric) system again.

Example (a hole between a dark and a bright side fills with a ramp):
    >>> colour = torch.zeros(1, 1, 7, dtype=torch.float64)
    >>> colour[..., -1] = 1.0
    >>> seen = torch.zeros(1, 7, dtype=torch.bool)
    >>> seen[0, 0] = seen[0, -1] = True
    >>> [round(v, 2) for v in harmonic_fill(colour, seen, ~seen)[0, 0].tolist()]
    [0.0, 0.17, 0.33, 0.5, 0.67, 0.83, 1.0]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...errors import check

__all__ = ["SCREENING", "TOLERANCE", "harmonic_fill", "pull_push"]

SCREENING = 1e-6
"""Weight ``s`` of the tie of every hole pixel to the multi-scale mean (per pixel, against 1 per neighbour)."""

TOLERANCE = 1e-4
"""The solve stops when the residual of every channel is below this fraction of its right-hand side."""

_MAX_ITER = 2000


def _neighbour_sum(x: torch.Tensor) -> torch.Tensor:
    """Sum of the 4-neighbours of every pixel of (C, h, w) ``x`` (zero outside the frame)."""
    p = F.pad(x, (1, 1, 1, 1))
    return p[:, :-2, 1:-1] + p[:, 2:, 1:-1] + p[:, 1:-1, :-2] + p[:, 1:-1, 2:]


def pull_push(colour: torch.Tensor, seen: torch.Tensor) -> torch.Tensor:
    """(C, h, w): the colours of (C, h, w) ``colour`` where (h, w) bool ``seen``, and elsewhere the mean of the
    seen pixels of the finest 2^l x 2^l block that has any, interpolated bilinearly between blocks (the mean of
    every seen pixel where a level has a single block)."""
    w = seen.to(colour.dtype)[None]
    sums, weights = [colour * w], [w]
    while min(sums[-1].shape[-2:]) > 1:
        sums.append(F.avg_pool2d(sums[-1][None], 2, ceil_mode=True)[0])
        weights.append(F.avg_pool2d(weights[-1][None], 2, ceil_mode=True)[0])
    out = (colour * w).sum((-2, -1), keepdim=True) / w.sum().clamp(min=1e-30)  # the mean of every seen pixel
    out = out.expand_as(sums[-1])
    for s, wt in zip(reversed(sums), reversed(weights)):
        up = F.interpolate(out[None], size=s.shape[-2:], mode="bilinear", align_corners=False)[0]
        out = torch.where(wt > 0, s / wt.clamp(min=1e-30), up)
    return out


def _hole_neighbours(hole: torch.Tensor) -> torch.Tensor:
    """(4, n) int64: for each of the n pixels of (h, w) bool ``hole`` (row-major order), the position of each
    4-neighbour among them, or n where the neighbour is not in the hole."""
    n = int(hole.sum())
    index = torch.full(hole.shape, n, dtype=torch.int64, device=hole.device)
    index[hole] = torch.arange(n, device=hole.device)
    p = F.pad(index, (1, 1, 1, 1), value=n)
    return torch.stack([q[hole] for q in (p[:-2, 1:-1], p[2:, 1:-1], p[1:-1, :-2], p[1:-1, 2:])])


class _Solve(torch.autograd.Function):
    """x = A^-1 (N_seen c + s m) on the hole, A = diag(n + s) - N_hole; the gradient solves with A again. The
    unknowns are the hole's pixels only, (C, n)."""

    @staticmethod
    def forward(ctx, colour, anchor, seen, hole, s, tol):  # noqa: D102 (see the class)
        diag = (_neighbour_sum((seen | hole).to(colour.dtype)[None])[0] + s)[hole]
        rhs = (_neighbour_sum(colour * seen) + s * anchor)[:, hole]
        neighbours = _hole_neighbours(hole)
        x = torch.zeros_like(colour)
        x[:, hole] = _cg(rhs, anchor[:, hole], diag, neighbours, tol)
        ctx.save_for_backward(diag, neighbours, seen, hole)
        ctx.s, ctx.tol = s, tol
        return x

    @staticmethod
    def backward(ctx, grad):  # noqa: D102
        diag, neighbours, seen, hole = ctx.saved_tensors
        g = grad[:, hole]
        y = torch.zeros_like(grad)
        y[:, hole] = _cg(g, g / diag, diag, neighbours, ctx.tol)
        return _neighbour_sum(y) * seen, ctx.s * y, None, None, None, None


def _cg(rhs: torch.Tensor, x: torch.Tensor, diag: torch.Tensor, neighbours: torch.Tensor, tol: float) -> torch.Tensor:
    """Jacobi-preconditioned conjugate gradients for ``diag * x - sum of x's hole neighbours = rhs``, (C, n)."""

    def apply(v: torch.Tensor) -> torch.Tensor:
        ext = F.pad(v, (0, 1))
        return diag * v - sum(ext.index_select(1, nb) for nb in neighbours)

    def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * b).sum(-1, keepdim=True)

    r = rhs - apply(x)
    z = r / diag
    p, rz = z, dot(r, z)
    limit = (tol * tol) * dot(rhs, rhs).clamp(min=1e-30)
    for it in range(_MAX_ITER):
        if it % 8 == 0 and bool((dot(r, r) <= limit).all()):
            break
        q = apply(p)
        alpha = rz / dot(p, q).clamp(min=1e-30)
        x = x + alpha * p
        r = r - alpha * q
        z = r / diag
        rz_next = dot(r, z)
        p = z + (rz_next / rz.clamp(min=1e-30)) * p
        rz = rz_next
    return x


def harmonic_fill(
    colour: torch.Tensor, seen: torch.Tensor, hole: torch.Tensor, screening: float = SCREENING, tol: float = TOLERANCE
) -> torch.Tensor:
    """The harmonic extension of the seen colours into a hole (module docstring).

    Args:
        colour: (C, h, w) colours (any units; linear light for the renderer), read where ``seen``.
        seen: (h, w) bool, the pixels whose colour is known.
        hole: (h, w) bool, the pixels to fill (disjoint from ``seen``); pixels in neither take no part.
        screening: ``s`` > 0, the tie to the multi-scale mean.
        tol: relative residual at which the solve stops.

    Returns:
        (C, h, w): ``colour`` where ``seen``, the fill in ``hole``, 0 elsewhere. Differentiable w.r.t. ``colour``.
    """
    check(colour.dim() == 3, lambda: f"colour must be (C, h, w), got shape {tuple(colour.shape)}")
    check(
        seen.shape == hole.shape == colour.shape[-2:] and seen.dtype == hole.dtype == torch.bool,
        "seen and hole must be (h, w) bool masks of colour's size",
    )
    check(not bool((seen & hole).any()), "seen and hole must not overlap")
    check(screening > 0 and tol > 0, lambda: f"screening and tol must be > 0, got {screening}, {tol}")
    anchor = pull_push(colour, seen)
    x = _Solve.apply(colour, anchor, seen, hole, screening, tol)
    return torch.where(seen, colour, x)
