"""Light fields: loading sub-aperture views, and synthetic-aperture bokeh by shift-and-add.

A light field is a grid of sub-aperture views, ``views[j, i]`` for row ``j`` (``v``, down) and
column ``i`` (``u``, right), the layout of decoded Lytro datasets (LiFF, EPFL; one image per view).
View positions are measured in view-index units from the grid centre: ``(u, v) = (i - (U-1)/2,
j - (V-1)/2)``.

Conventions:

* **disparity** ``d`` (px per view step) of a scene plane: its content in view ``(u, v)`` appears
  displaced by ``d * (u, v)`` pixels from where the centre view shows it;
* **focus plane**: a disparity ``d_f``; view ``(u, v)`` is resampled at ``x + d_f * (u, v)`` so that
  plane lines up, and the views are averaged in linear light;
* **aperture**: a shape (any :mod:`~refocus_bench.simulators.render.apertures` name) and a radius ``R`` in
  view units; view ``(u, v)`` gets the weight ``transmittance(u / R, v / R)``, so the shape is
  sampled at the view positions (a 9x9 grid samples a disk of radius 4 at 49 points). A shape that
  would reach view positions beyond the grid is refused rather than silently cut off.

With these, a plane of disparity ``d`` is blurred exactly as a thin lens blurs a plane of signed CoC
radius ``r = R * (d - d_f)`` pixels (positive for planes with a larger disparity than the focus plane),
the aperture being sampled at the view positions: :func:`refocus` equals
:func:`~refocus_bench.simulators.render.reference.render_reference` with that aperture sampling (see
:func:`grid_aperture`), which the tests check on :func:`synthetic_lightfield`\\ s.

:func:`make_lf_benchmark` (in :mod:`refocus_bench.benchmarks.lightfield`, CLI
``refocus-bench make-lf-benchmark``) builds, per light field, an LF-Bokeh set (centre view =
all-in-focus input -> bokeh at every focus plane and aperture) and an LF-Refocus set (refocused at
plane A -> refocused at plane B, same aperture).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb

from ...errors import InvalidInputError, MissingFileError, check, check_tensor
from ...io import IMAGE_SUFFIXES, read_image
from ..render.apertures import Aperture, make_aperture

__all__ = [
    "LightField",
    "load_lightfield",
    "view_weights",
    "refocus",
    "refocus_linear",
    "grid_aperture",
    "synthetic_lightfield",
    "GridAperture",
    "synthetic_dead_leaves_lightfield",
]


@dataclass
class LightField:
    """A grid of sub-aperture views.

    Attributes:
        views: (V, U, 3, H, W) float32 sRGB in [0, 1]; ``views[j, i]``: row ``j`` (v), column ``i`` (u).
        name: identifier used in benchmark records.
        licence: licence of the source light field.
        disparity: optional (1, 1, H, W) disparity (px per view step) of the centre view (synthetic).
    """

    views: torch.Tensor
    name: str = "lightfield"
    licence: str = "unknown"
    disparity: torch.Tensor | None = None

    def __post_init__(self) -> None:
        check_tensor(self.views, "views", ["V", "U", 3, "H", "W"], min_value=0.0, max_value=1.0)

    @property
    def grid(self) -> tuple[int, int]:
        """(V, U): rows and columns of views."""
        return int(self.views.shape[0]), int(self.views.shape[1])

    def positions(self) -> torch.Tensor:
        """(V, U, 2) view positions (u, v) in view units relative to the grid centre."""
        nv, nu = self.grid
        v = torch.arange(nv, dtype=torch.float64) - (nv - 1) / 2.0
        u = torch.arange(nu, dtype=torch.float64) - (nu - 1) / 2.0
        gv, gu = torch.meshgrid(v, u, indexing="ij")
        return torch.stack([gu, gv], dim=-1)

    def max_radius(self) -> float:
        """Largest aperture radius (view units) whose disk fits inside the grid."""
        nv, nu = self.grid
        return (min(nv, nu) - 1) / 2.0

    def centre_view(self) -> torch.Tensor:
        """(1, 3, H, W) centre view: the all-in-focus (pinhole) image. Needs odd grid sizes."""
        nv, nu = self.grid
        check(
            nv % 2 == 1 and nu % 2 == 1,
            lambda: f"the light field's grid {nv}x{nu} has no centre view (needs odd sizes)",
        )
        return self.views[nv // 2, nu // 2][None].clone()


# ------------------------------------------------------------------------------------- loading
_TWO_INDICES = re.compile(r"(\d+)\D+(\d+)\D*$")
_ONE_INDEX = re.compile(r"(\d+)\D*$")


def _load_npy(p: Path, label: str, licence: str) -> LightField:
    """A light field from a ``.npy`` array (V, U, H, W, 3) of uint8, uint16 or floats in [0, 1]."""
    check(p.suffix.lower() == ".npy", lambda: f"a light-field file must be .npy (V, U, H, W, 3), got {str(p)!r}")
    try:
        arr = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InvalidInputError(f"cannot read light field {str(p)!r}: {err}") from err
    check(arr.ndim == 5 and arr.shape[-1] == 3, lambda: f"{str(p)!r}: expected shape (V, U, H, W, 3), got {arr.shape}")
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(arr.dtype, 1.0)
    views = torch.from_numpy(arr.astype(np.float32) / np.float32(scale)).permute(0, 1, 4, 2, 3).contiguous()
    check(bool(torch.isfinite(views).all()), lambda: f"{str(p)!r} contains non-finite values")
    return LightField(views.clamp(0, 1), label, licence)


def _index_views(p: Path, files: list[Path], order: str) -> dict[tuple[int, int], Path]:
    """{(row, col): file} from names ending in two indices, or in one row-major index of a square grid."""
    index: dict[tuple[int, int], Path] = {}
    two = [_TWO_INDICES.search(f.stem) for f in files]
    if all(two):
        for f, m in zip(files, two):
            a, b = int(m.group(1)), int(m.group(2))
            key = (a, b) if order == "row-col" else (b, a)
            check(
                key not in index, lambda: f"views {str(index.get(key))!r} and {str(f)!r} have the same (row, col) {key}"
            )
            index[key] = f
        return index
    one = [_ONE_INDEX.search(f.stem) for f in files]
    check(all(one), lambda: f"view names in {str(p)!r} must end in 'row_col' or one index, e.g. {files[0].name!r}")
    n = len(files)
    side = int(round(math.sqrt(n)))
    check(
        side * side == n,
        lambda: f"{n} single-index views in {str(p)!r} do not form a square grid; name them row_col",
    )
    base = min(int(m.group(1)) for m in one)
    for f, m in zip(files, one):
        k = int(m.group(1)) - base
        index[(k // side, k % side)] = f
    return index


def _read_grid(p: Path, index: dict[tuple[int, int], Path]) -> torch.Tensor:
    """(V, U, 3, H, W) views of a complete grid of indexed files, all of one size."""
    rows = sorted({r for r, _ in index})
    cols = sorted({c for _, c in index})
    missing = [
        (r, c) for r in range(rows[0], rows[-1] + 1) for c in range(cols[0], cols[-1] + 1) if (r, c) not in index
    ]
    check(
        not missing,
        lambda: f"light field {str(p)!r} misses views (row, col) {missing[:8]}{' ...' if len(missing) > 8 else ''}",
    )
    grid = []
    shape = None
    for r in range(rows[0], rows[-1] + 1):
        line = []
        for c in range(cols[0], cols[-1] + 1):
            img = read_image(index[(r, c)], name=f"view ({r}, {c})")[0]
            shape = shape or tuple(img.shape)
            check(
                tuple(img.shape) == shape,
                lambda: f"view {str(index[(r, c)])!r} is {tuple(img.shape)[1:]} px, others {shape[1:]}",
            )
            line.append(img)
        grid.append(torch.stack(line))
    return torch.stack(grid)


def load_lightfield(
    path: str | os.PathLike[str], *, order: str = "row-col", name: str | None = None, licence: str = "unknown"
) -> LightField:
    """Load a light field from a folder of view images or a ``.npy`` array.

    Args:
        path: a folder of images whose names end in two indices (``view_03_05.png``,
            ``img-3-5.png``: the last two digit groups are row, column with ``order="row-col"``)
            or in one row-major index for a square grid (``input_Cam000.png`` ... ``Cam080``: 9x9);
            or a ``.npy`` array (V, U, H, W, 3) of uint8, uint16 or floats in [0, 1].
        order: ``row-col`` or ``col-row``: which index of a two-index name is the row.
        name, licence: recorded with the benchmark records (name defaults to the file/folder name).

    Raises:
        MissingFileError, InvalidInputError: naming the missing view, the corrupt file or the size clash.
    """
    p = Path(path)
    check(order in ("row-col", "col-row"), lambda: f"order must be 'row-col' or 'col-row', got {order!r}")
    check(p.exists(), lambda: f"light field not found: {str(p)!r}", exc=MissingFileError)
    label = name or p.stem
    if p.is_file():
        return _load_npy(p, label, licence)
    files = sorted(
        f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith(".")
    )
    check(len(files) > 0, lambda: f"no view images in {str(p)!r}", exc=MissingFileError)
    return LightField(_read_grid(p, _index_views(p, files, order)), label, licence)


# ---------------------------------------------------------------------------- shift-and-add
def view_weights(lf: LightField, aperture: str | Aperture = "disk", radius: float | None = None) -> torch.Tensor:
    """(V, U) aperture weights of the views, summing to 1 (``radius`` in view units, default: fits the grid).

    Raises:
        InvalidInputError: the shape at this radius reaches view positions outside the grid (it would
            be cut off), or covers no view.
    """
    r = lf.max_radius() if radius is None else float(radius)
    check(math.isfinite(r) and r > 0, lambda: f"radius must be > 0 view units, got {radius}")
    ap = make_aperture(aperture)
    nv, nu = lf.grid
    k = int(math.ceil(r)) + 1  # the shape lies in the unit disk: no open position beyond r views
    v = torch.arange(-k, nv + k, dtype=torch.float64) - (nv - 1) / 2.0
    u = torch.arange(-k, nu + k, dtype=torch.float64) - (nu - 1) / 2.0
    gv, gu = torch.meshgrid(v, u, indexing="ij")
    full = ap.transmittance(gu / r, gv / r).to(torch.float64)
    w = full[k : k + nv, k : k + nu].clone()
    outside = float(full.sum() - w.sum())
    check(
        outside == 0.0,
        lambda: f"aperture {ap!r} of radius {r:g} views extends beyond the {nv}x{nu} grid "
        f"(largest disk radius {lf.max_radius():g}); use a smaller radius",
    )
    check(float(w.sum()) > 0, lambda: f"aperture {ap!r} of radius {r:g} views covers no view of the {nv}x{nu} grid")
    return w / w.sum()


_VIEWS_PER_STEP = 16  # views resampled together: bounds the memory of one step to 16 float64 views


def refocus_linear(lf: LightField, focus_disparity: float, weights: torch.Tensor) -> torch.Tensor:
    """Shift-and-add in linear light: (3, H, W) float64 = sum of weights[j, i] * view[j, i](x + d_f * (u, v)).

    Views of zero weight are skipped; the others are resampled (bilinear, reflected at the borders)
    :data:`_VIEWS_PER_STEP` at a time and summed in float64.
    """
    check(math.isfinite(focus_disparity), lambda: f"focus_disparity must be finite, got {focus_disparity}")
    nv, nu = lf.grid
    check(tuple(weights.shape) == (nv, nu), lambda: f"weights must have shape ({nv}, {nu}), got {tuple(weights.shape)}")
    h, w = lf.views.shape[-2:]
    dtype = torch.float64
    pos = lf.positions().reshape(-1, 2)
    wts = weights.reshape(-1).to(dtype)
    keep = torch.nonzero(wts > 0).flatten()
    views = lf.views.reshape(nv * nu, 3, h, w)
    gy, gx = torch.meshgrid(torch.arange(h, dtype=dtype), torch.arange(w, dtype=dtype), indexing="ij")
    out = torch.zeros(3, h, w, dtype=dtype)
    for start in range(0, len(keep), _VIEWS_PER_STEP):
        ids = keep[start : start + _VIEWS_PER_STEP]
        shift = pos[ids] * focus_disparity  # (n, 2): sample each view at x + shift
        sx = gx[None] + shift[:, 0, None, None]
        sy = gy[None] + shift[:, 1, None, None]
        grid = torch.stack([(2 * sx + 1) / w - 1, (2 * sy + 1) / h - 1], dim=-1)
        lin = rgb_to_linear_rgb(views[ids].to(dtype))
        sampled = F.grid_sample(lin, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        out += (wts[ids][:, None, None, None] * sampled).sum(0)
    return out


def refocus(
    lf: LightField, focus_disparity: float, aperture: str | Aperture = "disk", radius: float | None = None
) -> torch.Tensor:
    """Synthetic-aperture image (1, 3, H, W) sRGB focused at disparity ``focus_disparity`` (px/view).

    Example:
        >>> lf = LightField(torch.rand(5, 5, 3, 16, 16).clamp(0, 1) * 0 + 0.5)
        >>> bool((refocus(lf, 0.7, "hexagon", 2.0) - 0.5).abs().max() < 1e-5)
        True
    """
    lin = refocus_linear(lf, float(focus_disparity), view_weights(lf, aperture, radius))
    return linear_rgb_to_rgb(lin.clamp(0, 1))[None].to(torch.float32)


# ----------------------------------------------------------------------- synthetic light fields
class GridAperture(Aperture):
    """An aperture whose 'samples' are given points and weights (the views of a grid).

    :func:`~refocus_bench.simulators.render.reference.render_reference` with this aperture averages pinhole
    views at exactly these pupil points, which is what shift-and-add over a light field does.
    """

    name = "grid"

    def __init__(self, points: torch.Tensor, weights: torch.Tensor) -> None:
        self.points = points.to(torch.float64).reshape(-1, 2)
        self.weights = weights.to(torch.float64).reshape(-1)
        check(
            len(self.points) == len(self.weights) and float(self.weights.sum()) > 0,
            "need one weight per point, positive sum",
        )

    def transmittance(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:  # pragma: no cover - not a shape
        raise InvalidInputError(
            "a GridAperture is a set of sample points, not a shape; use it with render_reference only"
        )

    def sample_points(
        self, n: int, *, seed: int = 0, dtype: torch.dtype = torch.float64
    ) -> tuple[torch.Tensor, torch.Tensor]:
        keep = self.weights > 0
        w = self.weights[keep]
        return self.points[keep].to(dtype), (w / w.sum()).to(dtype)

    def cache_key(self) -> tuple:
        return ("GridAperture", self.points.numpy().tobytes(), self.weights.numpy().tobytes())


def grid_aperture(lf: LightField, aperture: str | Aperture = "disk", radius: float | None = None) -> GridAperture:
    """The aperture of :func:`refocus` as pupil points: view position / radius, with the view weights."""
    r = lf.max_radius() if radius is None else float(radius)
    return GridAperture(lf.positions().reshape(-1, 2) / r, view_weights(lf, aperture, r).reshape(-1))


def synthetic_lightfield(
    layers: torch.Tensor, disparities: torch.Tensor, grid: tuple[int, int] = (9, 9), name: str = "synthetic"
) -> LightField:
    """Pinhole views of a layered scene: layer ``l`` moves by ``disparities[l] * (u, v)`` in view (u, v).

    Args:
        layers: (L, 4, H, W) sRGB straight colour + alpha (a :class:`~.scenes.LayeredScene`'s layers).
        disparities: (L,) disparity of each layer (px per view step).
        grid: (V, U) views.

    Layers are composited in the given order (near -> far, as in a LayeredScene) with the reference
    renderer's per-view occlusion (:func:`~refocus_bench.simulators.render.reference.reference_linear` with
    one pupil point). For a physical light field, give each layer ``coc_px / R`` for a lens whose
    aperture spans ``R`` view steps: then far planes have larger disparities, as CoCs grow behind focus.
    """
    from ..render.reference import reference_linear

    check_tensor(layers, "layers", ["L", 4, "H", "W"], min_value=0.0, max_value=1.0)
    check_tensor(disparities, "disparities", [layers.shape[0]])
    nv, nu = grid
    check(nv >= 1 and nu >= 1, lambda: f"grid must be positive, got {grid}")
    lin = rgb_to_linear_rgb(layers[:, :3].double())
    alpha = layers[:, 3:4].double()
    premult = lin * alpha
    d = disparities.double()
    probe = LightField(torch.zeros(nv, nu, 3, 1, 1))
    pos = probe.positions()
    views = torch.empty(nv, nu, 3, *layers.shape[-2:], dtype=torch.float32)
    for j in range(nv):
        for i in range(nu):
            one = GridAperture(pos[j, i][None], torch.ones(1))
            view = reference_linear(premult, alpha, d, one, samples=1)
            views[j, i] = linear_rgb_to_rgb(view.clamp(0, 1)).to(torch.float32)
    return LightField(
        views, name, "procedural (refocus-bench); textures: scikit-image sample photographs (public domain / CC0)"
    )


def synthetic_dead_leaves_lightfield(
    seed: int = 0,
    size: tuple[int, int] = (128, 128),
    grid: tuple[int, int] = (9, 9),
    max_disparity: float = 1.0,
    **scene_kw,
) -> LightField:
    """A :func:`synthetic_lightfield` of a dead-leaves scene; disparities are linear in inverse depth.

    The layer at the middle inverse depth has disparity 0 and the extremes ``+-max_disparity``
    (px per view step, far positive). The centre view's disparity map is kept in ``disparity``.
    """
    from ..render.scenes import dead_leaves_scene

    check(
        math.isfinite(max_disparity) and max_disparity >= 0, lambda: f"max_disparity must be >= 0, got {max_disparity}"
    )
    scene = dead_leaves_scene(size, seed=seed, **scene_kw)
    inv = 1.0 / scene.depth_m.double()
    mid = 0.5 * (inv.min() + inv.max())
    span = float((inv.max() - inv.min()) / 2) or 1.0
    disp = (mid - inv) / span * max_disparity
    lf = synthetic_lightfield(scene.layers, disp, grid, name=f"synthetic-dead-leaves-{seed}")
    _, _, front = scene.flatten()
    lf.disparity = disp[front][None, None].to(torch.float32)
    return lf
