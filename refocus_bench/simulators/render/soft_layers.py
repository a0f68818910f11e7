"""Soft depth layers of an RGB-D image: the per-layer inputs of the layered renderer, built tile by tile.

Each pixel's signed CoC lies between two adjacent layer radii (see
:func:`~refocus_bench.simulators.render.rgbd.layer_centres`): with ``idx`` the lower one and ``frac`` in
[0, 1] its position between them, the pixel belongs to layer ``idx`` with weight ``1 - frac`` and to
layer ``idx + 1`` with weight ``frac``, so radii are never rounded. With ``pos = idx + frac``, the
weight of layer ``k`` is the hat ``max(0, 1 - |pos - k|)``. A layer's stack holds, per pixel, its
premultiplied linear colour (3 channels) and weight, and for the disocclusion fill also the coverage
by layers at or behind it, ``clamp(pos - k + 1, 0, 1)``, and by layers clearly in front of it,
``clamp(k - 1 - pos, 0, 1)`` (6 channels; with ``occluders`` set, clearly in front means at or before the
last layer that occludes layer ``k``, see :meth:`SoftLayers.hidden_offset`).

Most of a layer's bounding box is far from its depth range: there its colour and weight are zero and
its two coverage channels are constant (all behind, or all clearly in front). :class:`SoftLayers`
keeps the range of layers found in each ``tile`` x ``tile`` tile, fills such tiles with their
constants at the layer's reduced resolution, and computes and area-downsamples only the tiles that
straddle the layer. The result equals the plain computation over the whole box bit for bit (same
formulas, same pooling blocks), at a cost that follows the layer's own area rather than its box.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .disocclusion import CocExtremes, fill_cell_px, fill_hidden, local_fill, upsample_cell_tiles
from .scratch import scratch

__all__ = ["SoftLayers", "TILE_PX"]

TILE_PX = 32
"""Side of the tiles over which layer ranges are tracked (px); a multiple of every pooling scale used."""

Box = tuple[int, int, int, int]


def _pad_to(x: torch.Tensor, tile: int) -> torch.Tensor:
    """Zero-pad the last two dims of ``x`` to multiples of ``tile``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % tile, (-w) % tile
    return F.pad(x, (0, pw, 0, ph)) if ph or pw else x


def _channels_last_tiles(c: int, nty: int, ntx: int, q: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Zeros viewed as (c, nty, q, ntx, q) tiles whose memory is (nty * q, ntx * q, c): reshaped to
    (c, H, W) it is channels-last, the layout the CPU convolution reads (no transposing copy)."""
    buf = scratch("layer_stack", c * nty * q * ntx * q, dtype, device).zero_()
    return buf.view(nty, q, ntx, q, c).permute(4, 0, 1, 2, 3)


def _put_tiles(dest: torch.Tensor, ty: torch.Tensor, tx: torch.Tensor, values: torch.Tensor) -> None:
    """``dest[:, ty, :, tx, :] = values`` for a :func:`_channels_last_tiles` ``dest`` and (N, C, q, q)
    ``values``: transposed to channels-last first, which makes the scattered writes whole rows (2x faster)."""
    dest[:, ty, :, tx, :] = values.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2)


def _sparse_fill(layers: SoftLayers) -> bool:
    """Whether :meth:`SoftLayers.filled` works tile by tile: without autograd, on the CPU (on a GPU
    the many small tile operations cost more than the whole-region computation saves)."""
    return not (layers.requires_grad and torch.is_grad_enabled()) and layers.lin.device.type == "cpu"


@dataclass
class SoftLayers:
    """The soft layers of one RGB-D image (or tile of one).

    Attributes:
        lin: linear RGB, (3, H, W), any float dtype.
        idx: lower layer index of every pixel, (H, W) int32, in [0, n - 2] (0 when ``n == 1``).
        frac: position between layer ``idx`` and ``idx + 1``, (H, W) in [0, 1], same dtype as ``lin``.
        n: number of layers.
        tile: tile side in pixels for the layer-range bookkeeping.
        occluders: per layer, the last layer in front of it that occludes it (None: two layers in front).
        fill_support: ``support`` of the disocclusion fill's colour (:func:`~refocus_bench.simulators.render.
            disocclusion.local_fill`); 0: the window's mean.
    """

    lin: torch.Tensor
    idx: torch.Tensor
    frac: torch.Tensor
    n: int
    tile: int = TILE_PX
    occluders: list[int] | None = None
    fill_support: float = 0.0
    _tmin: torch.Tensor = field(init=False, repr=False)
    _tmax: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.pos = self.idx.to(self.frac.dtype) + self.frac  # continuous layer coordinate of each pixel
        # per tile: the lowest layer index and the highest layer with a non-zero weight
        hi = (self.idx + (self.frac > 0).to(self.idx.dtype))[None, None].float()
        lo = self.idx[None, None].float()
        t = self.tile
        self._tmin = (-F.max_pool2d(-lo, t, ceil_mode=True))[0, 0].to(torch.int64).cpu()
        self._tmax = F.max_pool2d(hi, t, ceil_mode=True)[0, 0].to(torch.int64).cpu()
        self._tiles: torch.Tensor | None = None

    def hidden_offset(self, layer: int) -> float:
        """``o`` in the hidden coverage ``clamp(o - u, 0, 1)`` of ``layer``: -1 (pixels two layers or more in front
        are hidden) unless ``occluders`` names the last layer that occludes it (``o = last + 1 - layer``)."""
        if self.occluders is None:
            return -1.0
        return float(self.occluders[layer] + 1 - layer)

    @property
    def requires_grad(self) -> bool:
        return self.lin.requires_grad or self.frac.requires_grad

    def boxes(self) -> list[Box]:
        """Bounding box (y0, y1, x0, x1) of every layer's non-zero weight, from the tiles it touches."""
        h, w = self.idx.shape
        t = self.tile
        layers = torch.arange(self.n)[:, None, None]
        present = (self._tmin[None] <= layers) & (self._tmax[None] >= layers)  # (L, tiles_y, tiles_x)
        out = []
        for r, c in zip(present.any(2), present.any(1)):
            ys, xs = torch.nonzero(r).flatten(), torch.nonzero(c).flatten()
            if len(ys) == 0:
                out.append((0, 0, 0, 0))
            else:
                out.append(
                    (int(ys[0]) * t, min(h, (int(ys[-1]) + 1) * t), int(xs[0]) * t, min(w, (int(xs[-1]) + 1) * t))
                )
        return out

    def stack(self, layer: int, scale: int, box: Box, coverage: bool) -> torch.Tensor:
        """Layer ``layer`` inside the full-resolution ``box``, area-downsampled by ``scale``.

        Args:
            layer: layer index in [0, n).
            scale: downsampling factor; ``box`` is aligned to it.
            box: (y0, y1, x0, x1) in full-resolution pixels.
            coverage: also return the two coverage channels (for the disocclusion fill).

        Returns:
            (4 or 6, (y1 - y0) / scale, (x1 - x0) / scale): premultiplied linear RGB, weight
            [, coverage at or behind the layer, coverage clearly in front of it].
        """
        if self.requires_grad and torch.is_grad_enabled() or self.tile % scale:
            out = self._dense(layer, box, coverage)
            return F.avg_pool2d(out[None], scale)[0] if scale > 1 else out
        return self._by_tiles(layer, scale, box, coverage)

    def _fill(self, stack: torch.Tensor, lin: torch.Tensor, u: torch.Tensor, coverage: bool, off: float = -1.0) -> None:
        """Write a layer's channels (leading dim C) into ``stack`` (channels at dim -3) from inputs.

        ``u = pos - layer`` is each pixel's position relative to the layer (``pos = idx + frac``): the
        layer's share is the hat ``max(0, 1 - |u|)`` (``frac`` just above the previous layer, ``1 -
        frac`` just below the next), the coverage at or behind the layer ``clamp(u + 1, 0, 1)`` and
        the coverage clearly in front of it ``clamp(off - u, 0, 1)`` (``off`` = -1, or :meth:`hidden_offset`).
        """
        wgt = stack[..., 3, :, :]
        torch.abs(u, out=wgt).neg_().add_(1.0).clamp_(min=0.0)
        torch.mul(lin, wgt.unsqueeze(-3), out=stack[..., :3, :, :])
        if coverage:
            torch.add(u, 1.0, out=stack[..., 4, :, :]).clamp_(0.0, 1.0)
            if stack.shape[-3] > 5:
                torch.sub(off, u, out=stack[..., 5, :, :]).clamp_(0.0, 1.0)

    def _dense(self, layer: int, box: Box, coverage: bool) -> torch.Tensor:
        """The layer over the whole box at full resolution (also the autograd path)."""
        y0, y1, x0, x1 = box
        u = self.pos[y0:y1, x0:x1] - layer
        lin = self.lin[:, y0:y1, x0:x1]
        if self.requires_grad and torch.is_grad_enabled():  # autograd: no out= arguments
            wgt = (1.0 - u.abs()).clamp(min=0.0)
            parts = [lin * wgt, wgt[None]]
            if coverage:
                parts += [(u + 1.0).clamp(0.0, 1.0)[None], (self.hidden_offset(layer) - u).clamp(0.0, 1.0)[None]]
            return torch.cat(parts)
        stack = torch.empty((6 if coverage else 4, y1 - y0, x1 - x0), dtype=u.dtype, device=u.device)
        self._fill(stack, lin, u, coverage, self.hidden_offset(layer))
        return stack

    def _tile_major(self) -> torch.Tensor:
        """(tiles, 4, t, t): linear RGB and layer coordinate ``pos`` of every tile, contiguous per tile.

        Built once (zero-padded to whole tiles) so that gathering tiles copies whole blocks.
        """
        if self._tiles is None:
            t = self.tile
            h, w = self.idx.shape
            ty, tx = -(-h // t), -(-w // t)
            tiles = torch.empty((ty * tx, 4, t, t), dtype=self.frac.dtype, device=self.frac.device)
            by_tile = tiles.view(ty, tx, 4, t, t).permute(2, 0, 3, 1, 4)  # (4, ty, t, tx, t) view
            for channels, part in ((slice(0, 3), self.lin), (slice(3, 4), self.pos[None])):
                by_tile[channels] = _pad_to(part, t).reshape(part.shape[0], ty, t, tx, t)  # one copy per input
            self._tiles = tiles
        return self._tiles

    def _tiles_at(self, ty: torch.Tensor, tx: torch.Tensor) -> torch.Tensor:
        """(N, 4, t, t) inputs (linear RGB, ``pos``) of the tiles at rows ``ty``, columns ``tx`` (CPU int64)."""
        return self._tile_major().index_select(0, (ty * self._tmin.shape[1] + tx).to(self.frac.device))

    def _by_tiles(self, layer: int, scale: int, box: Box, coverage: bool) -> torch.Tensor:
        y0, y1, x0, x1 = box
        t, q = self.tile, self.tile // scale
        ty0, ty1, tx0, tx1 = y0 // t, -(-y1 // t), x0 // t, -(-x1 // t)
        tmin, tmax = self._tmin[ty0:ty1, tx0:tx1], self._tmax[ty0:ty1, tx0:tx1]
        behind = tmin >= layer + 1  # every pixel at least one layer behind: weight 0, at-or-behind 1
        if coverage:
            front = tmax <= layer - 1 + self.hidden_offset(layer)  # every pixel clearly in front: weight 0, in-front 1
            compute = ~(behind | front)
        else:
            compute = (tmin <= layer) & (tmax >= layer)
        c = 6 if coverage else 4
        nty, ntx = ty1 - ty0, tx1 - tx0
        dtype, device = self.frac.dtype, self.frac.device
        out = _channels_last_tiles(c, nty, ntx, q, dtype, device)
        if coverage:
            for ch, const in ((4, behind), (5, front)):
                if bool(const.any()):
                    out[ch] = const.to(device=device, dtype=dtype)[:, None, :, None]
        ky, kx = torch.nonzero(compute, as_tuple=True)
        if len(ky):
            tiles = self._tiles_at(ky + ty0, kx + tx0)
            lin, u = tiles[:, :3], tiles[:, 3] - layer  # (N, 3, t, t), (N, t, t)
            stack = torch.empty((len(ky), c, t, t), dtype=dtype, device=device)
            self._fill(stack, lin, u, coverage, self.hidden_offset(layer))
            if scale > 1:
                stack = F.avg_pool2d(stack, scale)
            _put_tiles(out, ky.to(device), kx.to(device), stack)
        out = out.reshape(c, nty * q, ntx * q)
        oy, ox = ty0 * t, tx0 * t
        return out[:, (y0 - oy) // scale : (y1 - oy) // scale, (x0 - ox) // scale : (x1 - ox) // scale]

    def filled(
        self, layer: int, scale: int, box: Box, reach: float, extremes: CocExtremes, centre_px: float
    ) -> torch.Tensor:
        """Layer ``layer`` inside ``box`` at ``scale``, extended behind nearer layers (disocclusion fill).

        The result of :func:`~refocus_bench.simulators.render.disocclusion.fill_hidden` on
        ``stack(layer, scale, region, coverage=True)`` with the gap ``|CoC - centre_px|`` from
        ``extremes``, where ``region`` is ``box`` grown to whole cells of the fill's grid, cropped to
        ``box``. Without autograd, on the CPU, the tiles are computed only where the layer has weight
        or hidden coverage, and the fill is upsampled and applied only on tiles it reaches: the cost
        follows the layer's own area rather than its box. Equal to the whole-region computation up to
        rounding (tested, frame edges cutting tiles and cells included).

        Args:
            layer, scale, box: as in :meth:`stack`.
            reach: how far the fill may look, in px of the layer's grid (full-resolution px / scale).
            extremes: CoC extremes of the image; ``centre_px``: the layer's CoC radius (px).

        Returns:
            (4, (y1 - y0) / scale, (x1 - x0) / scale): premultiplied linear RGB and weight, filled.
        """
        y0, y1, x0, x1 = box
        h, w = self.idx.shape
        down = fill_cell_px(reach)
        cell = scale * down  # full-resolution px per cell of the fill's grid
        region = (y0 // cell * cell, min(h, -(-y1 // cell) * cell), x0 // cell * cell, min(w, -(-x1 // cell) * cell))
        crop = (
            slice(None),
            slice((y0 - region[0]) // scale, (y1 - region[0]) // scale),
            slice((x0 - region[2]) // scale, (x1 - region[2]) // scale),
        )
        if not _sparse_fill(self) or self.tile % cell:
            stack = self.stack(layer, scale, region, coverage=True)
            return fill_hidden(stack, reach, extremes.gap_px(centre_px, scale, region), support=self.fill_support)[crop]
        return self._filled_by_tiles(
            layer, scale, region, reach, down, extremes.gap_px(centre_px, cell, region, unit=scale)
        )[crop]

    def _filled_by_tiles(
        self, layer: int, scale: int, region: Box, reach: float, down: int, gap: torch.Tensor
    ) -> torch.Tensor:
        """:meth:`filled` over ``region`` (aligned to ``scale * down``), tile by tile; ``gap`` is per cell."""
        y0, y1, x0, x1 = region
        t, q = self.tile, self.tile // scale
        m = q // down  # cells per tile side
        cell = scale * down
        ty0, ty1, tx0, tx1 = y0 // t, -(-y1 // t), x0 // t, -(-x1 // t)
        nty, ntx = ty1 - ty0, tx1 - tx0
        tmin, tmax = self._tmin[ty0:ty1, tx0:tx1], self._tmax[ty0:ty1, tx0:tx1]
        behind = tmin >= layer + 1  # weight 0, coverage at or behind 1, hidden 0
        off = self.hidden_offset(layer)
        front = tmax <= layer - 1 + off  # weight 0, coverage at or behind 0, hidden 1
        weighted = (tmin <= layer) & (tmax >= layer)  # all channels computed
        varying = (tmin <= layer - 1 + off) & ~front  # hidden coverage between 0 and 1
        dtype, device = self.frac.dtype, self.frac.device
        stack = _channels_last_tiles(4, nty, ntx, q, dtype, device)
        small = torch.zeros((5, nty, m, ntx, m), dtype=dtype, device=device)
        by, bx = torch.nonzero(behind, as_tuple=True)
        if len(by):
            small[4, by, :, bx, :] = float(down * down)  # cell sums of a coverage of 1

        ky, kx = torch.nonzero(weighted, as_tuple=True)
        if len(ky):  # colour, weight and coverage at or behind
            tiles = self._tiles_at(ky + ty0, kx + tx0)
            full = torch.empty((len(ky), 5, t, t), dtype=dtype, device=device)
            self._fill(full, tiles[:, :3], tiles[:, 3] - layer, coverage=True, off=off)
            full = F.avg_pool2d(full, scale) if scale > 1 else full
            _put_tiles(stack, ky.to(device), kx.to(device), full[:, :4])
            small[:, ky, :, kx, :] = F.avg_pool2d(full, down, divisor_override=1) if down > 1 else full

        # the fill on the cells of the region, then padded by replication to whole tiles plus one cell
        c0y, c0x = (y0 - ty0 * t) // cell, (x0 - tx0 * t) // cell
        hc, wc = gap.shape[-2:]
        small = small.reshape(5, nty * m, ntx * m)[:, c0y : c0y + hc, c0x : c0x + wc]
        fill = local_fill(small, reach, down, gap[None], self.fill_support)
        pad = (c0x + 1, ntx * m - c0x - wc + 1, c0y + 1, nty * m - c0y - hc + 1)
        fill = F.pad(fill[None], pad, mode="replicate")[0]
        # tiles that have hidden coverage and a fill reaching them: wholly hidden ones take the fill as
        # it is (their weight is 0), the others add it times their hidden coverage
        reached = (F.max_pool2d((fill[3:4] > 0).to(dtype)[None], m + 2, stride=m)[0, 0] > 0).cpu()
        for tiles_hidden, whole in ((front, True), (varying, False)):
            fy, fx = torch.nonzero(tiles_hidden & reached, as_tuple=True)
            if not len(fy):
                continue
            fyd, fxd = fy.to(device), fx.to(device)
            up = upsample_cell_tiles(fill, fyd, fxd, m, down)
            if whole:
                _put_tiles(stack, fyd, fxd, up)
                continue
            hidden = torch.sub(off, self._tiles_at(fy + ty0, fx + tx0)[:, 3:4] - layer).clamp_(0.0, 1.0)  # as in _fill
            hidden = F.avg_pool2d(hidden, scale) if scale > 1 else hidden
            _put_tiles(stack, fyd, fxd, torch.addcmul(stack[:, fyd, :, fxd, :], hidden, up))
        stack = stack.reshape(4, nty * q, ntx * q)
        oy, ox = (y0 - ty0 * t) // scale, (x0 - tx0 * t) // scale
        return stack[:, oy : oy + (y1 - y0) // scale, ox : ox + (x1 - x0) // scale]
