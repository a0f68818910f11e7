"""An RGB-D image as opaque fronto-parallel planes: the ``RenderConfig(rgbd_planes=True)`` path of ``render_bokeh``.

The default RGB-D path (:mod:`~refocus_bench.simulators.render.rgbd`) shares every pixel between two soft
layers and fills hidden content with local means. This path instead cuts the image into hard planes and
renders them with the layered-scene engine
(:func:`~refocus_bench.simulators.render.layered.render_planes_linear`), which makes it exact for scenes of
opaque surfaces at a few depths, and guesses hidden content from the visible pixels around it:

1. **Planes.** Every pixel goes to the nearest radius of
   :func:`~refocus_bench.simulators.render.rgbd.layer_centres`; each used radius is replaced by the mean
   CoC of its pixels (:func:`plane_radii`, exact for a surface at one depth), and every pixel then
   belongs to the plane of the nearest such radius (:func:`plane_labels`). Without an occlusion gap the
   engine groups planes of nearly equal radius (the strips of a receding surface), composited sharp and
   blurred together; with one (:data:`~refocus_bench.simulators.render.config.RGBD_PLANES`) planes within
   the gap add up (point 3).
2. **Edge mattes.** A pixel on a depth edge (a 4-neighbour's CoC differs by more than :data:`EDGE_PX`)
   mixes the colours of both surfaces (anti-aliasing, a soft matte). It is read as ``a * own + (1 - a) *
   other`` with both colours from the nearest interior pixels of its own plane and of the others (within
   :data:`INTERIOR_REACH_PX`; :func:`edge_mattes`), and becomes a matte of both planes: the nearer one covers
   its share of the pixel with its own colour, the farther one the whole pixel behind it (where the two
   planes do not occlude each other, their shares add up). In focus the composite is the pixel as recorded;
   blurred, each part spreads at its own radius. Thin structures with no interior keep their colours.
3. **Hidden content.** Plane ``k`` is extended behind the planes in front of it, as far as their blur can
   uncover it (``reach_k``, its largest CoC difference to a plane in front of it): a hidden pixel joins
   plane ``k`` when the nearest pixel not hidden by an occluder of plane ``k`` belongs to plane ``k``. The
   hidden area behind an occluder is thus split among the farther planes by proximity (a Voronoi
   partition). Its colours are the harmonic extension of the plane's visible colours
   (:func:`~refocus_bench.simulators.render.harmonic_fill.harmonic_fill`: each hidden pixel the mean of its
   neighbours), the least-squares guess for textures with a photograph's ``1 / f^2`` spectrum: it continues
   the colours along the edge, blends the sides of an occluder seen on several sides and flattens away from
   them. The farther plane behind an edge matte (point 2) takes the same colours. With an occlusion gap
   (``RenderConfig.occlusion_gap_px`` / ``_rel``) planes close in CoC add up as one surface instead of
   occluding each other, and are not filled behind each other.

Measured against the aperture-sampled reference in docs/performance.md ("Fidelity").

Example (two planes at -4 and +6 px; the pixels hidden behind the near square join the far plane):
    >>> lin = torch.tensor([0.2, 0.5, 0.8], dtype=torch.float64)[:, None, None].repeat(1, 32, 32)
    >>> lin[:, 8:24, 8:24] = 0.6  # a flat square with sharp edges: no pixel mixes the two
    >>> coc = torch.full((32, 32), 6.0, dtype=torch.float64)
    >>> coc[8:24, 8:24] = -4.0
    >>> radii = plane_radii(coc, [-4.5, 0.0, 5.0])
    >>> planes = rgbd_planes(lin, coc, radii, RenderConfig())
    >>> radii, tuple(planes.shape), float(planes[0, 3].sum()), float(planes[1, 3].sum()) == 32 * 32
    ([-4.0, 6.0], (2, 4, 32, 32), 256.0, True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch

from .compositing import mask_box
from .config import RenderConfig
from .harmonic_fill import harmonic_fill
from .nearest import nearest_seed

__all__ = [
    "EDGE_PX",
    "INTERIOR_REACH_PX",
    "plane_radii",
    "plane_labels",
    "depth_edges",
    "edge_colours",
    "edge_mattes",
    "EdgeMattes",
    "rgbd_planes",
]

EDGE_PX = 1.0
"""A pixel is on a depth edge when the CoC of one of its 4-neighbours differs from its own by more than this (px)."""

INTERIOR_REACH_PX = 8.0
"""How far (px) an edge pixel looks for an interior pixel of its own plane to take the colour of."""


def plane_radii(coc_px: torch.Tensor, centres: list[float]) -> list[float]:
    """Radii (px, ascending) of the planes of an (H, W) signed CoC map: the mean CoC of the pixels nearest each
    of ``centres`` (ascending), for the centres that have pixels."""
    c = torch.tensor(centres, dtype=coc_px.dtype, device=coc_px.device)
    nearest = _nearest_index(coc_px.detach(), c)
    sums = torch.zeros(len(centres), dtype=torch.float64, device=coc_px.device).index_add_(
        0, nearest.flatten(), coc_px.detach().flatten().double()
    )
    counts = torch.bincount(nearest.flatten(), minlength=len(centres))
    used = counts > 0
    return sorted((sums[used] / counts[used]).tolist())


def plane_labels(coc_px: torch.Tensor, radii: list[float]) -> torch.Tensor:
    """(H, W) int64: the index of the nearest of ``radii`` (ascending) for every pixel of an (H, W) CoC map."""
    return _nearest_index(coc_px.detach(), torch.tensor(radii, dtype=coc_px.dtype, device=coc_px.device))


def _nearest_index(x: torch.Tensor, sorted_values: torch.Tensor) -> torch.Tensor:
    """Index of the nearest of ascending ``sorted_values`` for every element of ``x`` (ties: the lower)."""
    hi = torch.bucketize(x.contiguous(), sorted_values).clamp(1, max(1, len(sorted_values) - 1))
    if len(sorted_values) == 1:
        return torch.zeros_like(hi)
    lo = hi - 1
    return torch.where((x - sorted_values[lo]).abs() <= (sorted_values[hi] - x).abs(), lo, hi)


def depth_edges(coc_px: torch.Tensor, edge_px: float = EDGE_PX) -> torch.Tensor:
    """(H, W) bool: pixels one of whose 4-neighbours has a CoC more than ``edge_px`` away from their own."""
    c = coc_px.detach()
    diff = torch.zeros_like(c)
    vertical = (c[1:] - c[:-1]).abs()
    horizontal = (c[:, 1:] - c[:, :-1]).abs()
    diff[1:] = torch.maximum(diff[1:], vertical)
    diff[:-1] = torch.maximum(diff[:-1], vertical)
    diff[:, 1:] = torch.maximum(diff[:, 1:], horizontal)
    diff[:, :-1] = torch.maximum(diff[:, :-1], horizontal)
    return diff > edge_px


def _unmix(
    seen: torch.Tensor, pure: torch.Tensor, other: torch.Tensor, known: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """This plane's colour in (3, h, w) pixels ``seen = a * own + (1 - a) * other``, and ``a`` (h, w): ``a`` is the
    position of ``seen`` on the line from ``other`` to ``pure`` (this plane's nearest interior colour), in [0.5, 1]
    (a pixel belongs to the plane that covers at least half of it); 1 where the two colours are too close to tell or
    ``known`` is False. Removing only the other side's share keeps the pixel's own texture."""
    d = pure - other
    den = (d * d).sum(0)
    a = (((seen - other) * d).sum(0) / den.clamp(min=1e-12)).clamp(0.5, 1.0)
    a = torch.where((den > 1e-6) & known, a, torch.ones_like(a))
    return ((seen - (1.0 - a) * other) / a).clamp(min=0.0), a


def edge_colours(lin: torch.Tensor, labels: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """(3, H, W) linear colours with the other surface's share removed from every edge pixel (:func:`_unmix`), the
    two surfaces' colours taken from the nearest interior pixels of its own plane and of the others within
    :data:`INTERIOR_REACH_PX` (unchanged where its own plane has none); differentiable w.r.t. ``lin``."""
    return edge_mattes(lin, labels, edges).clean


class EdgeMattes(NamedTuple):
    """What :func:`edge_mattes` reads from the edge pixels of an (H, W) image.

    Attributes:
        clean: (3, H, W) linear colours, each edge pixel's own surface only (:func:`edge_colours`).
        own_share: (H, W) the share ``a`` in [0.5, 1] of each pixel that its own plane covers (1 off the edges,
            where the two colours are too close to tell, and where no other surface is within reach).
        other: (H, W) int64 plane label of the surface mixed into the pixel, -1 where none is.
        other_colour: (3, H, W) that surface's colour (its nearest interior pixel), 0 where none is.
    """

    clean: torch.Tensor
    own_share: torch.Tensor
    other: torch.Tensor
    other_colour: torch.Tensor


def edge_mattes(lin: torch.Tensor, labels: torch.Tensor, edges: torch.Tensor) -> EdgeMattes:
    """The colours and shares of the two surfaces that each edge pixel mixes (:class:`EdgeMattes`): the pixel is
    read as ``a * own + (1 - a) * other`` with both colours from the nearest interior pixels of its own plane and
    of the others within :data:`INTERIOR_REACH_PX`; differentiable w.r.t. ``lin``."""
    out = lin
    own_share = torch.ones_like(labels, dtype=lin.dtype)
    other_label = torch.full_like(labels, -1)
    other_colour = torch.zeros_like(lin)
    reach = int(INTERIOR_REACH_PX)
    for k in torch.unique(labels[edges]).tolist():
        own = labels == k
        box = mask_box(edges & own, reach)
        y0, y1, x0, x1 = box
        own_b, edge_b = own[y0:y1, x0:x1], edges[y0:y1, x0:x1]
        flat, _ = nearest_seed(own_b & ~edge_b, INTERIOR_REACH_PX)
        take = edge_b & own_b & (flat >= 0)
        if not bool(take.any()):
            continue
        seen = lin[:, y0:y1, x0:x1]
        pure = seen.flatten(1)[:, flat.clamp(min=0).flatten()].view_as(seen)  # this plane's nearest interior
        flat_other, _ = nearest_seed(~own_b & ~edges[y0:y1, x0:x1], INTERIOR_REACH_PX)
        other = seen.flatten(1)[:, flat_other.clamp(min=0).flatten()].view_as(seen)  # the other side's
        unmixed, a = _unmix(seen, pure, other, flat_other >= 0)
        out = out.clone() if out is lin else out
        out[:, y0:y1, x0:x1] = torch.where(take, unmixed, out[:, y0:y1, x0:x1])
        mixed = take & (flat_other >= 0) & (a < 1.0)
        lab_other = labels[y0:y1, x0:x1].flatten()[flat_other.clamp(min=0).flatten()].view_as(flat_other)
        own_share[y0:y1, x0:x1] = torch.where(mixed, a, own_share[y0:y1, x0:x1])
        other_label[y0:y1, x0:x1] = torch.where(mixed, lab_other, other_label[y0:y1, x0:x1])
        other_colour[:, y0:y1, x0:x1] = torch.where(mixed, other, other_colour[:, y0:y1, x0:x1])
    return EdgeMattes(out, own_share, other_label, other_colour)


def rgbd_planes(
    lin: torch.Tensor,
    coc_px: torch.Tensor,
    radii: list[float],
    config: RenderConfig,
    occludes: Callable[[float, float], bool] | None = None,
) -> torch.Tensor:
    """Cut a linear RGB-D image into opaque planes, extended behind nearer planes (see the module docstring).

    Args:
        lin: (3, H, W) linear RGB.
        coc_px: (H, W) signed CoC radius in px.
        radii: the planes' radii (px, ascending), from :func:`plane_radii` (of the whole image when it is
            rendered in tiles).
        config: its ``fill_disocclusions`` (False: no hidden content).
        occludes: ``occludes(r_front, r_back)``, which planes hide which (default: every nearer plane hides every
            farther one); a plane is extended only behind the planes that hide it.

    Returns:
        (L, 4, H, W): premultiplied linear colour and coverage (0 or 1) of the planes of ``radii``, near to far.
        The visible pixels of every plane have coverage 1, so the planes cover the frame. About 16 bytes per
        plane and pixel in float32. Differentiable w.r.t. ``lin`` (the cut itself is not).
    """
    labels = plane_labels(coc_px, radii)
    mattes = edge_mattes(lin, labels, depth_edges(coc_px))
    clean = mattes.clean
    n = len(radii)
    planes = torch.zeros((n, 4) + labels.shape, dtype=lin.dtype, device=lin.device)
    for k in range(n):
        own = (labels == k).to(lin.dtype)
        planes[k, :3] = clean * own
        planes[k, 3] = own
    for k in range(1, n):
        last = max((j for j in range(k) if occludes is None or occludes(radii[j], radii[k])), default=-1)
        reach = radii[k] - radii[0]  # the CoC difference to the nearest plane, an occluder when any is
        if not config.fill_disocclusions or last < 0 or reach < 1.0:
            continue
        box = mask_box(labels == k, int(2 * reach) + 1)
        if box is None:
            continue
        y0, y1, x0, x1 = box
        lab = labels[y0:y1, x0:x1]
        flat, _ = nearest_seed(lab > last, reach)  # the nearest pixel not hidden by an occluder of plane k
        owner = lab.flatten()[flat.clamp(min=0)].view_as(lab)
        fill = (lab <= last) & (flat >= 0) & (owner == k)
        if not bool(fill.any()):
            continue
        around = fill.clone()  # the hole, the pixels around it and every hole pixel's nearest visible pixel
        around.view(-1)[flat[fill]] = True
        fy0, fy1, fx0, fx1 = mask_box(around, 1)
        hole, seen = fill[fy0:fy1, fx0:fx1], lab[fy0:fy1, fx0:fx1] == k
        ys, xs = slice(y0 + fy0, y0 + fy1), slice(x0 + fx0, x0 + fx1)
        filled = harmonic_fill(clean[:, ys, xs], seen, hole)
        planes[k, :, ys, xs] = torch.where(hole, torch.cat([filled, torch.ones_like(filled[:1])]), planes[k, :, ys, xs])
    _apply_mattes(planes, labels, radii, mattes, occludes)
    return planes


def _apply_mattes(
    planes: torch.Tensor,
    labels: torch.Tensor,
    radii: list[float],
    mattes: EdgeMattes,
    occludes: Callable[[float, float], bool] | None,
) -> None:
    """Make every edge pixel that mixes two surfaces a matte of both, in place in (L, 4, H, W) ``planes``: the
    nearer surface covers its share, the farther one the whole pixel behind it, so the composite in focus is the
    pixel as recorded and each part blurs at its own radius; behind a nearer surface the farther one keeps the
    colour of its fill where it has one. Where the two planes do not occlude each other (``occludes``) their shares
    add up to the pixel instead."""
    for k in torch.unique(labels[mattes.other >= 0]).tolist():
        on_k = (labels == k) & (mattes.other >= 0)
        for o in torch.unique(mattes.other[on_k]).tolist():
            px = on_k & (mattes.other == o)
            a = mattes.own_share
            k_nearer = radii[k] < radii[o]
            hides = occludes is None or (occludes(radii[k], radii[o]) if k_nearer else occludes(radii[o], radii[k]))
            near_share = a if k_nearer else 1.0 - a
            far_share = torch.ones_like(a) if hides else 1.0 - near_share
            k_share, o_share = (near_share, far_share) if k_nearer else (far_share, near_share)
            other_colour = mattes.other_colour
            if k_nearer and hides:  # the farther plane behind the matte: its fill where it has one
                other_colour = torch.where(planes[o, 3] > 0, planes[o, :3], other_colour)
            for plane, share, colour in ((k, k_share, mattes.clean), (o, o_share, other_colour)):
                planes[plane, :3] = torch.where(px, colour * share, planes[plane, :3])
                planes[plane, 3] = torch.where(px, share, planes[plane, 3])
