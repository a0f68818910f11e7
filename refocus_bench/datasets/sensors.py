"""Sensor size of the camera that took a photo: crop factor and sensor width in millimetres.

The blur strength of a photo in pixels needs the pixel pitch, i.e. how many millimetres of sensor
the image's pixels span. EXIF rarely states the sensor size directly, so it is estimated from the
first source that gives a plausible answer, in this order:

1. ``35mm_equivalent``: the crop factor is ``FocalLengthIn35mmFormat / FocalLength`` (EXIF 0xA405
   over 0x920A). This is the camera's own statement for the very image, so it follows in-camera
   crops and digital zoom. It is rounded to whole millimetres by the format (about 1-3 % error on
   phones).
2. ``lensfun``: the camera's crop factor in the lensfun database shipped with the ``lensfunpy``
   wheel, found by make and model. Accepted only for an unambiguous match.
3. ``focal_plane_resolution``: ``FocalPlaneXResolution`` and ``FocalPlaneYResolution`` (pixels per
   inch, cm or mm of sensor) give the pixel pitch along each axis; they refer to
   ``ExifImageWidth``/``ExifImageHeight`` (the image the camera wrote, which may be larger than a
   later resized copy). Both are used: some cameras (thermal ones among them) have non-square pixels.

That is the harvest's *own* estimate. ExifTool computes a crop factor too, ``ScaleFactor35efl``,
from the same 35 mm ratio first and otherwise from this very file's metadata (maker-note sensor
sizes, focal-plane resolution, digital zoom). :func:`sensor_estimates` uses, in order: the own
``35mm_equivalent`` estimate (ExifTool's first rule is the same ratio), ExifTool's scale factor when
it is plausible (source ``exiftool_scale_factor``: it describes this file, where lensfun describes
the camera model), then the other own sources. When the own estimate and ExifTool's differ by more
than :data:`CROSS_CHECK_TOLERANCE`, both are kept and a note says which was used and why.

Crop factors are diagonal ratios (a 36 x 24 mm frame has crop factor 1). The sensor is assumed to
have the image's aspect ratio, so for crop factor ``c`` and an image of ``L x S`` pixels (long x short
edge) the imaged sensor area is ``diag = 43.27 mm / c`` across and ``diag * L / hypot(L, S)`` mm along
its long side. ``sensor_width_mm`` in this package always means that **long side**, and pairs with
the image's **longest edge in pixels** (GenRefocus's convention for ``K``).

Data attribution: the camera crop factors come from the lensfun database
(https://lensfun.github.io), licensed under CC BY-SA 3.0
(https://creativecommons.org/licenses/by-sa/3.0/); the database itself is not copied here, it is read
at run time from the ``lensfunpy`` installation. Datasets produced by ``refocus-bench harvest`` carry
this attribution in their dataset card.

Example:
    >>> est = sensor_from_35mm_equivalent(50.0, 75.0, 6000, 4000)
    >>> est.source, round(est.crop_factor, 2), round(est.sensor_width_mm, 2)
    ('35mm_equivalent', 1.5, 24.0)
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path

from ..optics import FULL_FRAME_WIDTH_MM, check_positive

__all__ = [
    "SensorEstimate",
    "SENSOR_SOURCES",
    "FULL_FRAME_HEIGHT_MM",
    "FULL_FRAME_DIAGONAL_MM",
    "CROP_FACTOR_RANGE",
    "sensor_from_crop_factor",
    "sensor_from_35mm_equivalent",
    "sensor_from_lensfun",
    "lensfun_crop_factor",
    "load_lensfun",
    "lensfun_cameras_xml",
    "sensor_from_focal_plane_resolution",
    "estimate_sensor",
    "sensor_estimates",
    "CROSS_CHECK_TOLERANCE",
    "LENSFUN_ATTRIBUTION",
]

FULL_FRAME_HEIGHT_MM = FULL_FRAME_WIDTH_MM / 1.5
"""Height of a 35 mm ("full-frame", 36 x 24 mm) sensor in millimetres."""

FULL_FRAME_DIAGONAL_MM = math.hypot(FULL_FRAME_WIDTH_MM, FULL_FRAME_HEIGHT_MM)
"""Diagonal of a 35 mm sensor, 43.27 mm: the reference of every crop factor."""

CROP_FACTOR_RANGE = (0.25, 20.0)
"""Plausible crop factors (large format ~0.3, 1/3.2" phone sensors ~11); others are rejected as noise."""

SENSOR_SOURCES = ("35mm_equivalent", "exiftool_scale_factor", "lensfun", "focal_plane_resolution")
"""Values of ``SensorEstimate.source``, in the order they are tried."""

CROSS_CHECK_TOLERANCE = 0.05
"""Relative difference between the own crop factor and ExifTool's above which both are noted."""

LENSFUN_ATTRIBUTION = (
    "Camera crop factors from the lensfun database (https://lensfun.github.io), "
    "CC BY-SA 3.0 (https://creativecommons.org/licenses/by-sa/3.0/), read through lensfunpy."
)

# FocalPlaneResolutionUnit (EXIF 0xA210) -> millimetres per unit. 1 means "no unit"; ExifTool also
# knows 4 (mm) and 5 (um) from some cameras.
_FOCAL_PLANE_UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}


@dataclass(frozen=True)
class SensorEstimate:
    """Size of the sensor area imaged by a photo.

    Attributes:
        crop_factor: 35 mm diagonal / sensor diagonal (unitless, 1.0 = full frame).
        sensor_width_mm: long side of the imaged sensor area in millimetres (pairs with the image's
            longest edge in pixels).
        sensor_height_mm: short side in millimetres.
        source: one of :data:`SENSOR_SOURCES`.
    """

    crop_factor: float
    sensor_width_mm: float
    sensor_height_mm: float
    source: str


def _plausible(crop: float) -> bool:
    return math.isfinite(crop) and CROP_FACTOR_RANGE[0] <= crop <= CROP_FACTOR_RANGE[1]


def _long_short(width_px: float, height_px: float) -> tuple[float, float]:
    check_positive(width_px, "width_px", unit="px")
    check_positive(height_px, "height_px", unit="px")
    return float(max(width_px, height_px)), float(min(width_px, height_px))


def sensor_from_crop_factor(crop_factor: float, width_px: float, height_px: float, source: str) -> SensorEstimate:
    """Sensor long/short side (mm) for a crop factor, assuming the image's aspect ratio.

    Args:
        crop_factor: 35 mm diagonal / sensor diagonal (> 0).
        width_px, height_px: image size in pixels (any orientation).
        source: provenance label stored in the result.
    """
    check_positive(crop_factor, "crop_factor")
    long_px, short_px = _long_short(width_px, height_px)
    diag_mm = FULL_FRAME_DIAGONAL_MM / crop_factor
    scale = diag_mm / math.hypot(long_px, short_px)  # mm per pixel
    return SensorEstimate(float(crop_factor), long_px * scale, short_px * scale, source)


def sensor_from_35mm_equivalent(
    focal_length_mm: float | None, focal_length_35mm_mm: float | None, width_px: float, height_px: float
) -> SensorEstimate | None:
    """Sensor from the 35 mm-equivalent focal length; ``None`` when missing or implausible."""
    if not focal_length_mm or not focal_length_35mm_mm or focal_length_mm <= 0 or focal_length_35mm_mm <= 0:
        return None
    crop = focal_length_35mm_mm / focal_length_mm
    if not _plausible(crop):
        return None
    return sensor_from_crop_factor(crop, width_px, height_px, "35mm_equivalent")


def lensfun_cameras_xml() -> str | None:
    """The ``<camera>`` elements of lensfunpy's bundled database as one XML document, or None.

    Only cameras are looked up here; parsing the 1300 lenses as well takes most of the database's
    load time (about 0.13 s of 0.15 s). None when the bundled files are not where lensfunpy 1.x
    keeps them.
    """
    import lensfunpy

    files = sorted((Path(lensfunpy.__file__).parent / "db_files").glob("*.xml"))
    cameras, header = [], None
    for f in files:
        text = re.sub(r"<!--.*?-->", "", f.read_text(encoding="utf-8"), flags=re.S)
        header = header or re.search(r"<lensdatabase\b[^>]*>", text)
        cameras += re.findall(r"<camera>.*?</camera>", text, flags=re.S)
    if not cameras or header is None:
        return None
    return header.group(0) + "".join(cameras) + "</lensdatabase>"


@functools.lru_cache(maxsize=1)
def _lensfun_db():  # noqa: ANN202 - lensfunpy.Database
    """lensfun's cameras: the bundled ones (:func:`lensfun_cameras_xml`) and any system-wide database."""
    import lensfunpy

    xml = lensfun_cameras_xml()
    if xml is None:
        return lensfunpy.Database()
    return lensfunpy.Database(xml=xml, load_common=True, load_bundled=False)


def load_lensfun() -> None:
    """Load the lensfun database now (0.1-0.3 s), e.g. while waiting for something else; later lookups reuse it."""
    _lensfun_db()


@functools.lru_cache(maxsize=4096)
def lensfun_crop_factor(make: str | None, model: str | None) -> float | None:
    """Crop factor of a camera in the lensfun database, or ``None`` when absent or ambiguous.

    Make and model are matched the way lensfun does (case-insensitive, maker aliases such as
    "NIKON CORPORATION" -> "Nikon Corporation"). Both must be non-empty: lensfun returns every
    camera of a maker for an empty model. When several cameras match, the one whose model equals
    ``model`` (ignoring case) is taken; otherwise all matches must agree on the crop factor.
    """
    make = (make or "").strip()
    model = (model or "").strip()
    if not make or not model:
        return None
    try:
        cams = _lensfun_db().find_cameras(make, model)
    except Exception:  # noqa: BLE001 - lensfun raises on odd strings; treat as "not found"
        return None
    if not cams:
        return None
    exact = [c for c in cams if c.model.casefold() == model.casefold()]
    pool = exact or cams
    crops = {round(float(c.crop_factor), 4) for c in pool}
    if len(crops) != 1:
        return None
    crop = crops.pop()
    return crop if _plausible(crop) else None


def sensor_from_lensfun(
    make: str | None, model: str | None, width_px: float, height_px: float
) -> SensorEstimate | None:
    """Sensor from the lensfun camera database; ``None`` when the camera is unknown or ambiguous."""
    crop = lensfun_crop_factor(make, model)
    if crop is None:
        return None
    return sensor_from_crop_factor(crop, width_px, height_px, "lensfun")


def sensor_from_focal_plane_resolution(
    x_resolution: float | None,
    unit: int | None,
    width_px: float,
    height_px: float,
    exif_width_px: float | None = None,
    exif_height_px: float | None = None,
    y_resolution: float | None = None,
) -> SensorEstimate | None:
    """Sensor from ``FocalPlaneXResolution``/``FocalPlaneYResolution`` (pixels per unit of sensor).

    Args:
        x_resolution: pixels per ``unit`` along the image width (> 0).
        y_resolution: pixels per ``unit`` along the image height (None or invalid: ``x_resolution``).
        unit: ``FocalPlaneResolutionUnit``: 2 inch, 3 cm, 4 mm, 5 um (1 "none" is rejected).
        width_px, height_px: image size in pixels.
        exif_width_px, exif_height_px: ``ExifImageWidth``/``ExifImageHeight``, the size the
            resolution refers to (used when given, else ``width_px``/``height_px``).
    """
    if not x_resolution or x_resolution <= 0 or not math.isfinite(x_resolution):
        return None
    unit_mm = _FOCAL_PLANE_UNIT_MM.get(int(unit)) if unit is not None else None
    if unit_mm is None:
        return None
    if not y_resolution or y_resolution <= 0 or not math.isfinite(y_resolution):
        y_resolution = x_resolution
    ref_w, ref_h = (exif_width_px, exif_height_px) if exif_width_px and exif_height_px else (width_px, height_px)
    _long_short(ref_w, ref_h)
    w_mm, h_mm = ref_w * unit_mm / x_resolution, ref_h * unit_mm / y_resolution
    crop = FULL_FRAME_DIAGONAL_MM / math.hypot(w_mm, h_mm)
    if not _plausible(crop):
        return None
    return sensor_from_crop_factor(crop, width_px, height_px, "focal_plane_resolution")


def _own_estimate(
    width_px: float,
    height_px: float,
    focal_length_mm: float | None,
    focal_length_35mm_mm: float | None,
    make: str | None,
    model: str | None,
    focal_plane: tuple[float | None, float | None, int | None, float | None, float | None],
    use_lensfun: bool,
    notes: list[str],
) -> SensorEstimate | None:
    """The first of the 35 mm equivalent, lensfun and the focal-plane resolution that gives an answer."""
    est = sensor_from_35mm_equivalent(focal_length_mm, focal_length_35mm_mm, width_px, height_px)
    if est is not None:
        return est
    if focal_length_35mm_mm and focal_length_mm and focal_length_mm > 0:
        notes.append(
            f"implausible 35mm-equivalent crop factor {focal_length_35mm_mm:g}/{focal_length_mm:g} mm "
            f"outside {CROP_FACTOR_RANGE}"
        )
    if use_lensfun:
        est = sensor_from_lensfun(make, model, width_px, height_px)
        if est is not None:
            return est
    x_res, y_res, unit, exif_w, exif_h = focal_plane
    return sensor_from_focal_plane_resolution(x_res, unit, width_px, height_px, exif_w, exif_h, y_res)


def sensor_estimates(
    *,
    width_px: float | None,
    height_px: float | None,
    focal_length_mm: float | None = None,
    focal_length_35mm_mm: float | None = None,
    make: str | None = None,
    model: str | None = None,
    focal_plane_x_resolution: float | None = None,
    focal_plane_y_resolution: float | None = None,
    focal_plane_resolution_unit: int | None = None,
    exif_width_px: float | None = None,
    exif_height_px: float | None = None,
    exiftool_scale_factor: float | None = None,
    use_lensfun: bool = True,
) -> tuple[SensorEstimate | None, SensorEstimate | None, list[str]]:
    """The sensor estimate used, the harvest's own estimate, and notes (see the module docstring).

    Returns:
        ``(used or None, own or None, notes)``. ``used`` is the own ``35mm_equivalent`` estimate,
        else ExifTool's ``ScaleFactor35efl`` (``exiftool_scale_factor``) when plausible, else the
        own estimate (lensfun, then the focal-plane resolution). Notes explain rejected sources and,
        when own and ExifTool's crop factors differ by more than :data:`CROSS_CHECK_TOLERANCE`,
        both values and which was used.

    Example:
        >>> used, own, notes = sensor_estimates(width_px=240, height_px=240, make="Canon",
        ...     model="Canon EOS 5D Mark II", exiftool_scale_factor=1.05)
        >>> used.source, own.source, round(used.crop_factor, 2)
        ('exiftool_scale_factor', 'lensfun', 1.05)
    """
    notes: list[str] = []
    if not width_px or not height_px or width_px <= 0 or height_px <= 0:
        return None, None, ["sensor size unknown: image size unknown"]
    focal_plane = (
        focal_plane_x_resolution,
        focal_plane_y_resolution,
        focal_plane_resolution_unit,
        exif_width_px,
        exif_height_px,
    )
    args = (width_px, height_px, focal_length_mm, focal_length_35mm_mm, make, model, focal_plane)
    own = _own_estimate(*args, use_lensfun, notes)
    et = None
    if exiftool_scale_factor is not None:
        if _plausible(exiftool_scale_factor) and exiftool_scale_factor > 0:
            et = sensor_from_crop_factor(exiftool_scale_factor, width_px, height_px, "exiftool_scale_factor")
        else:
            notes.append(f"ExifTool ScaleFactor35efl={exiftool_scale_factor:g} outside {CROP_FACTOR_RANGE}; not used")
    used = own if own is not None and (own.source == "35mm_equivalent" or et is None) else et
    if own is not None and et is not None:
        gap = abs(own.crop_factor / et.crop_factor - 1.0)
        if gap > CROSS_CHECK_TOLERANCE:
            why = (
                "both come from FocalLengthIn35mmFormat / FocalLength, the camera's statement for this image"
                if used is own
                else "ExifTool's is computed from this file's own metadata (maker-note sensor size, "
                "focal-plane resolution, digital zoom)"
            )
            notes.append(
                f"crop factor: own {own.source} estimate {own.crop_factor:.4g} and ExifTool's ScaleFactor35efl "
                f"{et.crop_factor:.4g} differ by {100 * gap:.1f}%; used {used.source}: {why}"
            )
    if used is None:
        notes.append(
            "sensor size unknown: no 35mm-equivalent focal length, no ExifTool scale factor, camera not in "
            "lensfun, no focal-plane resolution"
        )
    return used, own, notes


def estimate_sensor(**kwargs: object) -> tuple[SensorEstimate | None, list[str]]:
    """The estimate used and the notes of :func:`sensor_estimates` (same keyword arguments).

    Example:
        >>> est, notes = estimate_sensor(width_px=6000, height_px=4000, make="Canon", model="Canon EOS 5D Mark II")
        >>> est.source, est.crop_factor, round(est.sensor_width_mm, 1)
        ('lensfun', 1.0, 36.0)
    """
    used, _, notes = sensor_estimates(**kwargs)  # type: ignore[arg-type]
    return used, notes
