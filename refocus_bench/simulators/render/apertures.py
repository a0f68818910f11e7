"""Aperture shapes and their anti-aliased blur kernels.

An aperture is a transmittance function ``T(u, v)`` in [0, 1] over *unit-radius* pupil coordinates:
``u`` points right and ``v`` points down in the image, and the shape fits inside the unit disk, so
at CoC radius ``r`` pixels the aperture spans ``r`` pixels from the centre. The same function drives

* :meth:`Aperture.kernel` - the point-spread function at a fractional radius, integrated against
  the pixel footprint (a separable tent, the pixel box convolved with itself, which is exact for a
  piecewise-constant scene seen by area-integrating pixels) and normalised to unit sum;
* :meth:`Aperture.sample_points` - weighted quasi-random points over the pupil, used by the
  ground-truth shift-and-add renderer in :mod:`refocus_bench.simulators.render.reference`.

Orientation: a point *behind* the focus plane (positive signed CoC) draws the aperture as given;
a point in front of it (negative CoC) draws it rotated by 180 degrees, as a thin lens does
(see :func:`signed_kernel`).

Example:
    >>> k = Disk().kernel(3.0)
    >>> tuple(k.shape), round(float(k.sum()), 6)
    ((9, 9), 1.0)
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from ...errors import InvalidInputError, check, check_tensor
from ...registry import Registry

__all__ = [
    "Aperture",
    "Disk",
    "Polygon",
    "Annulus",
    "Anamorphic",
    "Raster",
    "CatsEye",
    "APERTURES",
    "list_apertures",
    "make_aperture",
    "signed_kernel",
    "MAX_RADIUS_PX",
]

MAX_RADIUS_PX = 512.0
"""Largest kernel radius (px) accepted; kernels are (2*ceil(r+1)+1)^2 large."""

_DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "apertures"


class Aperture:
    """Base class: subclasses implement :meth:`transmittance` and are frozen dataclasses."""

    name = "aperture"

    coarse_floor_px: float = 0.0
    """Smallest reduced-resolution kernel radius (px) the automatic ``coarse_radius_px`` of
    :meth:`~refocus_bench.simulators.render.config.RenderConfig.for_input` may use for this shape. Shapes
    with thin parts (the star's points) lose them below it: a point light drawn at a reduced radius of
    3 px comes out up to 1.2 px short of its radius at 5.5 to 20 px (docs/performance.md)."""

    def transmittance(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Transmittance in [0, 1] at unit-radius pupil coordinates ``u`` (right), ``v`` (down)."""
        raise NotImplementedError

    def cache_key(self) -> tuple:
        """A hashable identity of the shape (for kernel caches)."""
        return (type(self).__name__, repr(self))

    # -- kernels ------------------------------------------------------------------------------
    def kernel(
        self,
        radius_px: float,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> torch.Tensor:
        """Anti-aliased PSF at CoC radius ``radius_px`` (>= 0, fractional), unit sum.

        Returns:
            (K, K) tensor with ``K = 2 * ceil(radius_px + 1) + 1`` (1x1 for radius 0), on
            ``device`` in ``dtype``. Computed once per (shape, radius) and cached.
        """
        check(
            isinstance(radius_px, (int, float)) and math.isfinite(radius_px) and 0 <= radius_px <= MAX_RADIUS_PX,
            lambda: f"radius_px must be a finite number in [0, {MAX_RADIUS_PX:g}] px, got {radius_px!r}",
        )
        k = _cached_kernel(self, round(float(radius_px), 6))
        return k.to(device=device, dtype=dtype)

    def sample_points(
        self, n: int, *, seed: int = 0, dtype: torch.dtype = torch.float64
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` weighted pupil points for shift-and-add rendering.

        Points come from a scrambled Sobol sequence over [-1, 1]^2; those with zero transmittance
        are dropped. Returns ``(points (n, 2) as (u, v), weights (n,))`` with weights summing to 1.
        """
        check(isinstance(n, int) and n > 0, lambda: f"n must be a positive int, got {n!r}")
        engine = torch.quasirandom.SobolEngine(2, scramble=True, seed=seed)
        pts, wts = [], []
        have = 0
        for _ in range(64):
            p = engine.draw(max(2 * n, 256), dtype=torch.float64) * 2.0 - 1.0
            w = self.transmittance(p[:, 0], p[:, 1]).to(torch.float64)
            keep = w > 0
            pts.append(p[keep])
            wts.append(w[keep])
            have += int(keep.sum())
            if have >= n:
                break
        check(have >= n, lambda: f"aperture {self!r} has (almost) no open area", exc=InvalidInputError)
        points = torch.cat(pts)[:n].to(dtype)
        weights = torch.cat(wts)[:n].to(dtype)
        return points, weights / weights.sum()

    def area(self, samples: int = 512) -> float:
        """Open area of the unit-radius aperture (for a disk: pi), by midpoint quadrature."""
        t = (torch.arange(samples, dtype=torch.float64) + 0.5) / samples * 2.0 - 1.0
        v, u = torch.meshgrid(t, t, indexing="ij")
        return float(self.transmittance(u, v).sum()) * (2.0 / samples) ** 2


def _tent_weights(centres: torch.Tensor, fine: torch.Tensor, step: float) -> torch.Tensor:
    """(len(centres), len(fine)) matrix of tent(fine - centre) * step (rows integrate to ~1)."""
    return (1.0 - (fine[None, :] - centres[:, None]).abs()).clamp(min=0.0) * step


@functools.lru_cache(maxsize=512)
def _cached_kernel(aperture: Aperture, radius_px: float) -> torch.Tensor:
    if radius_px == 0.0:
        return torch.ones(1, 1, dtype=torch.float64)
    half = math.ceil(radius_px + 1.0)
    sub = int(min(64, max(4, 256 / max(radius_px, 0.25))))  # fine samples per pixel
    n_fine = 2 * (half + 1) * sub
    fine = (torch.arange(n_fine, dtype=torch.float64) + 0.5) / sub - (half + 1)  # pixel units
    v, u = torch.meshgrid(fine / radius_px, fine / radius_px, indexing="ij")
    t = aperture.transmittance(u, v).to(torch.float64)
    centres = torch.arange(-half, half + 1, dtype=torch.float64)
    w = _tent_weights(centres, fine, 1.0 / sub)
    k = w @ t @ w.T  # separable tent integration: rows = v (down), cols = u (right)
    total = k.sum()
    if not bool(total > 0):
        # the shape is smaller than the fine sampling: it lies within the centre pixel's footprint
        check(radius_px < 1.0, lambda: f"aperture {aperture!r} is closed at radius {radius_px} px")
        k = torch.zeros_like(k)
        k[half, half] = 1.0
        return k
    return k / total


def signed_kernel(
    aperture: Aperture, coc_px: float, *, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Kernel for a signed CoC radius: the aperture as given behind focus, rotated 180 deg in front."""
    k = aperture.kernel(abs(float(coc_px)), device=device, dtype=dtype)
    return torch.flip(k, dims=(-2, -1)) if coc_px < 0 else k


# -- shapes -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Disk(Aperture):
    """Circular aperture (a lens wide open)."""

    name = "disk"

    def transmittance(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return (u * u + v * v <= 1.0).to(u.dtype)


@dataclass(frozen=True)
class Polygon(Aperture):
    """Regular polygon of ``blades`` diaphragm blades, vertices on the unit circle.

    Args:
        blades: number of blades (>= 3).
        rotation_deg: rotation of the polygon, degrees clockwise in the image.
        curvature: 0 = straight blades, 1 = a circle; in between, the boundary radius in each
            direction is interpolated linearly between the polygon's and the circle's.
    """

    blades: int = 6
    rotation_deg: float = 0.0
    curvature: float = 0.0
    name = "polygon"

    def __post_init__(self) -> None:
        check(
            isinstance(self.blades, int) and self.blades >= 3,
            lambda: f"blades must be an int >= 3, got {self.blades!r}",
        )
        check(0.0 <= self.curvature <= 1.0, lambda: f"curvature must be in [0, 1], got {self.curvature}")
        check(math.isfinite(self.rotation_deg), "rotation_deg must be finite")

    def transmittance(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        n = self.blades
        rho = torch.sqrt(u * u + v * v)
        theta = torch.atan2(v, u) - math.radians(self.rotation_deg) + math.pi / 2  # a vertex points up
        sector = 2.0 * math.pi / n
        rel = torch.remainder(theta, sector) - sector / 2.0  # angle from the edge normal
        boundary = math.cos(math.pi / n) / torch.cos(rel)
        boundary = (1.0 - self.curvature) * boundary + self.curvature
        return (rho <= boundary).to(u.dtype)


@dataclass(frozen=True)
class Annulus(Aperture):
    """Ring-shaped pupil of a catadioptric (mirror) lens: open between ``inner`` and 1."""

    inner: float = 0.5
    name = "annulus"

    def __post_init__(self) -> None:
        check(0.0 <= self.inner < 1.0, lambda: f"inner must be in [0, 1), got {self.inner}")

    def transmittance(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        r2 = u * u + v * v
        return ((r2 <= 1.0) & (r2 >= self.inner**2)).to(u.dtype)


@dataclass(frozen=True)
class Anamorphic(Aperture):
    """A base aperture squeezed horizontally by ``squeeze`` (>= 1): oval bokeh ``1/squeeze`` as wide."""

    base: Aperture = field(default_factory=Disk)
    squeeze: float = 1.33
    name = "anamorphic"

    def __post_init__(self) -> None:
        check(isinstance(self.base, Aperture), lambda: f"base must be an Aperture, got {type(self.base).__name__}")
        check(1.0 <= self.squeeze <= 10.0, lambda: f"squeeze must be in [1, 10], got {self.squeeze}")

    @property
    def coarse_floor_px(self) -> float:  # type: ignore[override]
        return self.base.coarse_floor_px

    def transmittance(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return self.base.transmittance(u * self.squeeze, v)


@dataclass(frozen=True, eq=False)
class Raster(Aperture):
    """Any shape given as a transmittance image, fitted into the unit disk.

    Args:
        mask: (H, W) tensor in [0, 1] (1 = open), or a path to a grey/RGB image file (its
            luminance is used). The image's centre is the pupil centre and its longer side spans
            [-1, 1], so the CoC radius is half the longer side; keep the shape inside the
            inscribed circle.
        label: a name for messages and caches.
        coarse_floor_px: see :attr:`Aperture.coarse_floor_px` (the bundled star: 6 px).
    """

    mask: torch.Tensor | str | os.PathLike = None  # type: ignore[assignment]
    label: str = "raster"
    coarse_floor_px: float = 0.0
    name = "raster"

    def __post_init__(self) -> None:
        mask = self.mask
        if isinstance(mask, (str, os.PathLike)):
            from ...io import read_image

            mask = read_image(mask, name="mask")[0].mean(0)
        check_tensor(mask, "mask", ["H", "W"], min_value=0.0, max_value=1.0)
        check(bool(mask.sum() > 0), "mask must have an open (non-zero) area")
        check(
            isinstance(self.coarse_floor_px, (int, float)) and 0 <= self.coarse_floor_px < math.inf,
            lambda: f"coarse_floor_px must be a finite number >= 0 (px), got {self.coarse_floor_px!r}",
        )
        mask = mask.detach().to(torch.float64).cpu().contiguous()
        object.__setattr__(self, "mask", mask)
        digest = hashlib.sha256(mask.numpy().tobytes() + str(tuple(mask.shape)).encode()).hexdigest()[:16]
        object.__setattr__(self, "_digest", digest)

    def __hash__(self) -> int:
        return hash(("Raster", self._digest))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Raster) and other._digest == self._digest

    def __repr__(self) -> str:
        return f"Raster(label={self.label!r}, shape={tuple(self.mask.shape)}, sha={self._digest})"

    def transmittance(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        h, w = self.mask.shape
        half = max(h, w) / 2.0
        # unit coords -> normalised grid coords of grid_sample (align_corners=False)
        gx = u * half / (w / 2.0)
        gy = v * half / (h / 2.0)
        grid = torch.stack([gx, gy], dim=-1).reshape(1, -1, 1, 2).to(torch.float64)
        out = F.grid_sample(self.mask[None, None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return out.reshape(u.shape).to(u.dtype).clamp(0.0, 1.0)


@dataclass(frozen=True)
class CatsEye(Aperture):
    """Mechanical vignetting: ``base`` intersected with a unit disk shifted toward the frame centre.

    The shift is ``strength * (x, y)`` where ``(x, y)`` is the pixel position relative to the image
    centre, normalised by the half-diagonal (so 1 at the corners). Bokeh discs narrow radially and
    turn into "cat's eyes" toward the edges. Use :meth:`at` to get the aperture at one position;
    the renderer evaluates it on a coarse grid of positions and blends.
    """

    base: Aperture = field(default_factory=Disk)
    strength: float = 0.5
    offset: tuple[float, float] = (0.0, 0.0)
    name = "cats-eye"

    def __post_init__(self) -> None:
        check(isinstance(self.base, Aperture), lambda: f"base must be an Aperture, got {type(self.base).__name__}")
        check(0.0 <= self.strength <= 2.0, lambda: f"strength must be in [0, 2], got {self.strength}")

    @property
    def coarse_floor_px(self) -> float:  # type: ignore[override]
        return self.base.coarse_floor_px

    def at(self, x: float, y: float) -> CatsEye:
        """The aperture seen from normalised image position ``(x, y)`` in [-1, 1]."""
        return CatsEye(self.base, self.strength, (float(x), float(y)))

    def transmittance(self, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        dx, dy = self.offset[0] * self.strength, self.offset[1] * self.strength
        vignette = ((u + dx) ** 2 + (v + dy) ** 2 <= 1.0).to(u.dtype)
        return self.base.transmittance(u, v) * vignette


# -- registry ---------------------------------------------------------------------------------
APERTURES = Registry("aperture")
for _name, _factory, _doc in [
    ("disk", Disk, "circular aperture"),
    ("triangle-blades", functools.partial(Polygon, blades=3), "3-blade diaphragm"),
    ("pentagon", functools.partial(Polygon, blades=5), "5-blade diaphragm"),
    ("hexagon", functools.partial(Polygon, blades=6), "6-blade diaphragm"),
    ("heptagon", functools.partial(Polygon, blades=7), "7-blade diaphragm"),
    ("octagon", functools.partial(Polygon, blades=8), "8-blade diaphragm"),
    ("nonagon-rounded", functools.partial(Polygon, blades=9, curvature=0.6), "9 rounded blades"),
    ("annulus", Annulus, "mirror-lens donut (inner radius 0.5)"),
    ("anamorphic", Anamorphic, "disk squeezed 1.33x (oval bokeh)"),
    ("cats-eye", CatsEye, "disk with mechanical vignetting toward the frame edges"),
]:
    APERTURES.register(_name, _factory, description=_doc)
for _shape, _floor in (("heart", 0.0), ("star", 6.0), ("triangle", 0.0)):
    APERTURES.register(
        _shape,
        functools.partial(lambda s, f: Raster(_DATA_DIR / f"{s}.png", label=s, coarse_floor_px=f), _shape, _floor),
        description=f"raster {_shape} (bundled image)",
    )


def list_apertures(pattern: str = "*") -> list[str]:
    """Names of the built-in apertures matching ``pattern``."""
    return APERTURES.list(pattern)


def make_aperture(spec: str | Aperture | torch.Tensor | os.PathLike, **kwargs) -> Aperture:
    """An :class:`Aperture` from a registered name, an image path, a (H, W) mask or an instance."""
    if isinstance(spec, Aperture):
        return spec
    if isinstance(spec, torch.Tensor):
        return Raster(spec, **kwargs)
    if isinstance(spec, os.PathLike) or (isinstance(spec, str) and spec not in APERTURES and Path(spec).suffix):
        return Raster(spec, label=Path(spec).stem, **kwargs)
    check(
        isinstance(spec, str),
        lambda: f"aperture must be a name, a path, a mask tensor or an Aperture, got {type(spec).__name__}",
    )
    return APERTURES.create(spec, **kwargs)
