"""Thin-lens optics in physical units: the single home of the defocus formulas.

Conventions (used by the simulator, the EXIF harvester, the benchmarks and the models):

* focal length ``f`` in millimetres, f-number ``N`` (unitless), focus distance ``s`` and object
  depth ``z`` in metres measured from the lens, sensor width in millimetres, image width in pixels;
* the circle of confusion (CoC) is a **signed radius in pixels**, positive for points behind the
  focus plane (``z > s``) and negative in front of it. Its magnitude is half the blur-disc diameter.

For a thin lens with aperture diameter ``A = f / N`` the blur-disc diameter on the sensor is
``c = A * f * |z - s| / (z * (s - f))``. Written with inverse depth this is linear::

    r_px(z) = K * (1/s - 1/z),        K = f**2 * s / (2 * N * (s - f)) * px_per_m

where ``K`` (pixel-metres) is the *blur gain on an inverse-depth difference*: the convention of
GenRefocus and BokehMe, whose ``K`` multiplies ``(1/z - 1/z_focus)`` with ``z`` in metres. GenRefocus
derives it from EXIF as ``f^2 D / (2 F (D - f)) x (longest edge px / sensor width mm)`` (all lengths
in mm, which gives px*mm; divide by 1000 for px*m). Here the image width in pixels spans the sensor
width, so pass the longest edge and the matching sensor dimension.

Every function accepts Python floats or tensors. Depth may be a (B, 1, H, W) tensor with ``inf`` for
sky; lens parameters may then be scalars or (B,) tensors (one value per sample).

Example (50 mm f/1.8 focused at 2 m, 36 mm sensor, 6000 px wide):
    >>> round(coc_radius_px(float("inf"), 50.0, 1.8, 2.0, 36.0, 6000), 2)
    59.35
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import check, check_tensor
from .errors import check_positive as _check_positive_any

if TYPE_CHECKING:
    import torch

Scalar = Any
"""A Python float or a ``torch.Tensor`` (torch is imported only by callers that pass tensors)."""

__all__ = [
    "ThinLens",
    "aperture_diameter_mm",
    "pixels_per_mm",
    "coc_gain_px_m",
    "coc_radius_px",
    "coc_radius_from_k",
    "depth_from_coc_px",
    "hyperfocal_distance_m",
    "depth_of_field_m",
    "coc_limit_mm_for_sensor",
    "f_number_from_k",
    "blur_gain_ratio",
    "genrefocus_defocus_map",
    "FULL_FRAME_WIDTH_MM",
    "GENREFOCUS_DEFOCUS_SCALE_PX",
]

FULL_FRAME_WIDTH_MM = 36.0
"""Width of a 35 mm ("full-frame") sensor in millimetres."""

GENREFOCUS_DEFOCUS_SCALE_PX = 100.0
"""GenRefocus divides ``|K (1/z - 1/z_focus)|`` (pixels) by this before clipping to [0, 1]."""


def _is_tensor(x: Any) -> bool:
    """Whether ``x`` is a torch tensor; never imports torch (no tensor exists before torch is imported)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def check_positive(value: Scalar, name: str, *, strict: bool = True, unit: str = "") -> None:
    """:func:`refocus_bench.errors.check_positive`, without importing torch for Python numbers."""
    if _is_tensor(value):
        _check_positive_any(value, name, strict=strict, unit=unit)
        return
    suffix = f" {unit}" if unit else ""
    op = ">" if strict else ">="
    check(
        isinstance(value, (int, float)) and not isinstance(value, bool),
        lambda: f"{name} must be a number or a tensor, got {type(value).__name__}",
    )
    check(math.isfinite(value), lambda: f"{name} must be finite, got {value}")
    check(value > 0 if strict else value >= 0, lambda: f"{name} must be {op} 0{suffix}, got {value}")


def _like(p: Scalar, ref: Scalar, name: str = "per-sample parameters") -> Scalar:
    """Broadcast a per-sample (B,) tensor parameter against a (B, ...) reference tensor."""
    if _is_tensor(p) and _is_tensor(ref):
        p = p.to(device=ref.device, dtype=ref.dtype if ref.is_floating_point() else p.dtype)
        if p.ndim == 1 and ref.ndim > 1:
            check(
                p.shape[0] in (1, ref.shape[0]),
                lambda: f"{name} must be a scalar or have shape ({ref.shape[0]},) (one value per sample), "
                f"got {tuple(p.shape)}",
            )
            return p.reshape(-1, *([1] * (ref.ndim - 1)))
    return p


def _check_per_sample(ref: Scalar, **params: Scalar) -> None:
    """Check (B,) tensor parameters against the batch of ``ref`` before they are combined."""
    for name, p in params.items():
        _like(p, ref, name)


def _check_lens(focal_length_mm: Scalar, f_number: Scalar, focus_distance_m: Scalar | None = None) -> None:
    check_positive(focal_length_mm, "focal_length_mm", unit="mm")
    check_positive(f_number, "f_number")
    if focus_distance_m is not None:
        check_positive(focus_distance_m, "focus_distance_m", unit="m")
        s_mm = focus_distance_m * 1000.0
        if _is_tensor(s_mm) or _is_tensor(focal_length_mm):
            import torch

            ok = bool(torch.all(torch.as_tensor(s_mm) > torch.as_tensor(focal_length_mm)))
        else:
            ok = s_mm > focal_length_mm
        check(
            ok,
            lambda: "focus_distance_m must be greater than the focal length "
            f"(a thin lens cannot focus closer than f); got focus_distance_m={_fmt(focus_distance_m)} m, "
            f"focal_length_mm={_fmt(focal_length_mm)} mm",
        )


def _fmt(x: Scalar) -> str:
    return str(x.tolist()) if _is_tensor(x) else f"{x:g}"


def _check_depth(depth_m: Scalar, name: str = "depth_m") -> None:
    if _is_tensor(depth_m):
        check_tensor(depth_m, name, allow_inf=True)
        check(
            bool((depth_m > 0).all()),
            lambda: f"{name} must be > 0 m (inf allowed for sky), got minimum {float(depth_m.min()):g}",
        )
    else:
        check(isinstance(depth_m, (int, float)), lambda: f"{name} must be a number or tensor")
        check(not math.isnan(depth_m) and depth_m > 0, lambda: f"{name} must be > 0 m (inf allowed), got {depth_m}")


def aperture_diameter_mm(focal_length_mm: Scalar, f_number: Scalar) -> Scalar:
    """Entrance-pupil diameter ``A = f / N`` in millimetres."""
    _check_lens(focal_length_mm, f_number)
    return focal_length_mm / f_number


def pixels_per_mm(image_width_px: Scalar, sensor_width_mm: Scalar) -> Scalar:
    """Sampling density on the sensor: pixels per millimetre along the image width."""
    check_positive(image_width_px, "image_width_px", unit="px")
    check_positive(sensor_width_mm, "sensor_width_mm", unit="mm")
    return image_width_px / sensor_width_mm


def coc_gain_px_m(
    focal_length_mm: Scalar,
    f_number: Scalar,
    focus_distance_m: Scalar,
    sensor_width_mm: Scalar,
    image_width_px: Scalar,
) -> Scalar:
    """Blur gain ``K`` in pixel-metres: CoC radius (px) per unit of inverse-depth difference (1/m).

    ``coc_radius_px = K * (1/focus_distance_m - 1/depth_m)``. This is GenRefocus's ``K`` for depth
    in metres (its EXIF formula in mm gives ``1000 * K``).
    """
    _check_lens(focal_length_mm, f_number, focus_distance_m)
    ppm = pixels_per_mm(image_width_px, sensor_width_mm) * 1000.0  # px per metre on the sensor
    f_m = focal_length_mm / 1000.0
    return f_m * f_m * focus_distance_m / (2.0 * f_number * (focus_distance_m - f_m)) * ppm


def coc_radius_from_k(depth_m: Scalar, k_px_m: Scalar, focus_distance_m: Scalar) -> Scalar:
    """Signed CoC radius (px) from the ``K`` convention: ``K * (1/s - 1/z)``; positive behind focus.

    Args:
        depth_m: depth in metres (> 0, ``inf`` allowed), scalar or (B, 1, H, W).
        k_px_m: blur gain in pixel-metres (>= 0), scalar or (B,).
        focus_distance_m: depth of the focus plane in metres (> 0), scalar or (B,).
    """
    _check_depth(depth_m)
    check_positive(k_px_m, "k_px_m", strict=False, unit="px*m")
    check_positive(focus_distance_m, "focus_distance_m", unit="m")
    k = _like(k_px_m, depth_m, "k_px_m")
    s = _like(focus_distance_m, depth_m, "focus_distance_m")
    return k * (1.0 / s - 1.0 / depth_m)


def coc_radius_px(
    depth_m: Scalar,
    focal_length_mm: Scalar,
    f_number: Scalar,
    focus_distance_m: Scalar,
    sensor_width_mm: Scalar,
    image_width_px: Scalar,
) -> Scalar:
    """Signed circle-of-confusion radius in pixels of a point at ``depth_m``.

    Args:
        depth_m: object depth in metres, > 0 (``inf`` allowed), float or (B, 1, H, W) tensor.
        focal_length_mm: focal length (mm), scalar or (B,).
        f_number: f-number N (> 0), scalar or (B,).
        focus_distance_m: focus distance (m, > focal length), scalar or (B,).
        sensor_width_mm: width of the sensor area imaged by the ``image_width_px`` pixels (mm).
        image_width_px: image width in pixels.

    Returns:
        Signed radius in pixels, positive behind the focus plane; same shape as ``depth_m``.

    Example:
        >>> round(coc_radius_px(1.0, 50.0, 1.8, 2.0, 36.0, 6000), 2)
        -59.35
    """
    _check_depth(depth_m)
    _check_per_sample(
        depth_m,
        focal_length_mm=focal_length_mm,
        f_number=f_number,
        focus_distance_m=focus_distance_m,
        sensor_width_mm=sensor_width_mm,
        image_width_px=image_width_px,
    )
    k = coc_gain_px_m(focal_length_mm, f_number, focus_distance_m, sensor_width_mm, image_width_px)
    return coc_radius_from_k(depth_m, k, focus_distance_m)


def depth_from_coc_px(
    coc_px: Scalar,
    focal_length_mm: Scalar,
    f_number: Scalar,
    focus_distance_m: Scalar,
    sensor_width_mm: Scalar,
    image_width_px: Scalar,
) -> Scalar:
    """Inverse of :func:`coc_radius_px`: the depth (m) whose signed CoC radius is ``coc_px``.

    The CoC is monotone in depth, so the inverse is unique. Radii at or beyond the value for a point
    at infinity (``K / s``) map to ``inf``; radii in front of the lens are rejected.
    """
    _check_per_sample(
        coc_px,
        focal_length_mm=focal_length_mm,
        f_number=f_number,
        focus_distance_m=focus_distance_m,
        sensor_width_mm=sensor_width_mm,
        image_width_px=image_width_px,
    )
    k = coc_gain_px_m(focal_length_mm, f_number, focus_distance_m, sensor_width_mm, image_width_px)
    k = _like(k, coc_px)
    s = _like(focus_distance_m, coc_px)
    inv = 1.0 / s - coc_px / k  # 1/z, in 1/m
    if _is_tensor(inv):
        import torch

        check(not bool(torch.isnan(inv).any()), "coc_px contains NaN values")
        inv = torch.clamp(inv, min=0.0)
        return torch.where(
            inv > 0, 1.0 / torch.where(inv > 0, inv, torch.ones_like(inv)), torch.full_like(inv, math.inf)
        )
    check(not math.isnan(inv), "coc_px must not be NaN")
    return math.inf if inv <= 0 else 1.0 / inv


def coc_limit_mm_for_sensor(sensor_width_mm: float, aspect_ratio: float = 1.5) -> float:
    """Acceptable blur-disc diameter (mm): sensor diagonal / 1442, i.e. 0.030 mm on full frame."""
    check_positive(sensor_width_mm, "sensor_width_mm", unit="mm")
    check_positive(aspect_ratio, "aspect_ratio")
    height = sensor_width_mm / aspect_ratio
    return math.hypot(sensor_width_mm, height) / 1442.0


def hyperfocal_distance_m(focal_length_mm: Scalar, f_number: Scalar, coc_limit_mm: Scalar = 0.03) -> Scalar:
    """Hyperfocal distance ``H = f^2 / (N c) + f`` in metres (``c``: acceptable blur diameter, mm)."""
    _check_lens(focal_length_mm, f_number)
    check_positive(coc_limit_mm, "coc_limit_mm", unit="mm")
    return (focal_length_mm * focal_length_mm / (f_number * coc_limit_mm) + focal_length_mm) / 1000.0


def depth_of_field_m(
    focal_length_mm: Scalar, f_number: Scalar, focus_distance_m: Scalar, coc_limit_mm: Scalar = 0.03
) -> tuple[Scalar, Scalar]:
    """Near and far limits (m) of acceptable sharpness; far is ``inf`` at or beyond the hyperfocal.

    At both limits the blur-disc diameter equals ``coc_limit_mm`` exactly (thin lens).

    Example:
        >>> near, far = depth_of_field_m(50.0, 1.8, 2.0)
        >>> round(near, 3), round(far, 3)
        (1.919, 2.088)
    """
    _check_lens(focal_length_mm, f_number, focus_distance_m)
    h = hyperfocal_distance_m(focal_length_mm, f_number, coc_limit_mm)
    f = focal_length_mm / 1000.0
    s = focus_distance_m
    near = s * (h - f) / (h + s - 2.0 * f)
    if _is_tensor(h) or _is_tensor(s):
        import torch

        h_t, s_t = torch.as_tensor(h, dtype=torch.float64), torch.as_tensor(s, dtype=torch.float64)
        denom = h_t - s_t
        far = torch.where(
            denom > 0,
            s_t * (h_t - f) / torch.where(denom > 0, denom, torch.ones_like(denom)),
            torch.full_like(denom, math.inf),
        )
        return near, far
    far = s * (h - f) / (h - s) if h > s else math.inf
    return near, far


def f_number_from_k(
    k_px_m: Scalar, focal_length_mm: Scalar, focus_distance_m: Scalar, sensor_width_mm: Scalar, image_width_px: Scalar
) -> Scalar:
    """The f-number that gives blur gain ``k_px_m`` (pixel-metres) for the other lens parameters.

    Inverse of :func:`coc_gain_px_m` in the f-number; ``k_px_m`` must be > 0.
    """
    check_positive(k_px_m, "k_px_m", unit="px*m")
    k_at_f1 = coc_gain_px_m(focal_length_mm, 1.0, focus_distance_m, sensor_width_mm, image_width_px)
    return k_at_f1 / k_px_m


def blur_gain_ratio(
    src_focal_mm: Scalar,
    src_f_number: Scalar,
    tgt_focal_mm: Scalar,
    tgt_f_number: Scalar,
    focus_distance_m: Scalar = math.inf,
) -> Scalar:
    """How much more blur the target lens gives than the source lens: ``K_tgt / K_src``.

    Both lenses on the same camera (sensor, image width), focused at the same distance ``s``: from
    :func:`coc_gain_px_m`, ``K_tgt / K_src = (f_t^2 / N_t) / (f_s^2 / N_s) * (s - f_s) / (s - f_t)``,
    which tends to ``(f_t^2 / N_t) / (f_s^2 / N_s)`` for ``s >> f`` (the default ``s = inf``), so every
    CoC of the scene scales by this ratio. For equal focal lengths it is ``N_src / N_tgt``.

    Example (50 mm f/16 -> 50 mm f/1.8: 8.9x the blur):
        >>> round(blur_gain_ratio(50.0, 16.0, 50.0, 1.8), 3)
        8.889
    """
    _check_lens(src_focal_mm, src_f_number)
    _check_lens(tgt_focal_mm, tgt_f_number)
    ratio = (tgt_focal_mm * tgt_focal_mm / tgt_f_number) / (src_focal_mm * src_focal_mm / src_f_number)
    if not _is_tensor(focus_distance_m) and math.isinf(focus_distance_m):
        return ratio
    _check_lens(src_focal_mm, src_f_number, focus_distance_m)
    _check_lens(tgt_focal_mm, tgt_f_number, focus_distance_m)
    return ratio * (focus_distance_m - src_focal_mm / 1000.0) / (focus_distance_m - tgt_focal_mm / 1000.0)


def genrefocus_defocus_map(depth_m: torch.Tensor, k_px_m: Scalar, focus_distance_m: Scalar) -> torch.Tensor:
    """GenRefocus's BokehNet condition ``clip(|K (1/z - 1/z_focus)| / 100, 0, 1)``.

    Args:
        depth_m: (B, 1, H, W) metres, > 0, ``inf`` allowed.
        k_px_m: blur gain (pixel-metres), scalar or (B,).
        focus_distance_m: focus depth (m), scalar or (B,).

    Returns:
        (B, 1, H, W) in [0, 1]; 1 means a CoC radius of 100 px or more.
    """
    check_tensor(depth_m, "depth_m", ["B", 1, "H", "W"], allow_inf=True)
    r = coc_radius_from_k(depth_m, k_px_m, focus_distance_m)
    return (r.abs() / GENREFOCUS_DEFOCUS_SCALE_PX).clamp(0.0, 1.0)


@dataclass(frozen=True)
class ThinLens:
    """Physical lens parameters; each a float or a (B,) tensor (one value per sample).

    Attributes:
        focal_length_mm: focal length in millimetres (> 0).
        f_number: f-number N (> 0).
        focus_distance_m: focus distance in metres (> focal length).
        sensor_width_mm: sensor width in millimetres spanned by the image width (default 36).

    Example:
        >>> lens = ThinLens(50.0, 1.8, 2.0)
        >>> round(lens.coc_radius_px(float("inf"), image_width_px=6000), 2)
        59.35
    """

    focal_length_mm: Scalar
    f_number: Scalar
    focus_distance_m: Scalar
    sensor_width_mm: Scalar = FULL_FRAME_WIDTH_MM

    def __post_init__(self) -> None:
        _check_lens(self.focal_length_mm, self.f_number, self.focus_distance_m)
        check_positive(self.sensor_width_mm, "sensor_width_mm", unit="mm")

    @property
    def aperture_diameter_mm(self) -> Scalar:
        return aperture_diameter_mm(self.focal_length_mm, self.f_number)

    def k_px_m(self, image_width_px: Scalar) -> Scalar:
        """Blur gain ``K`` (pixel-metres) for an image ``image_width_px`` wide."""
        return coc_gain_px_m(
            self.focal_length_mm, self.f_number, self.focus_distance_m, self.sensor_width_mm, image_width_px
        )

    def coc_radius_px(self, depth_m: Scalar, image_width_px: Scalar) -> Scalar:
        """Signed CoC radius (px) of points at ``depth_m``; see :func:`coc_radius_px`."""
        return coc_radius_px(
            depth_m, self.focal_length_mm, self.f_number, self.focus_distance_m, self.sensor_width_mm, image_width_px
        )

    def depth_of_field_m(self, coc_limit_mm: Scalar = 0.03) -> tuple[Scalar, Scalar]:
        return depth_of_field_m(self.focal_length_mm, self.f_number, self.focus_distance_m, coc_limit_mm)

    def hyperfocal_distance_m(self, coc_limit_mm: Scalar = 0.03) -> Scalar:
        return hyperfocal_distance_m(self.focal_length_mm, self.f_number, coc_limit_mm)
