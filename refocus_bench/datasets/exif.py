"""Photo metadata from ExifTool, normalised to physical units, with the blur strength it implies.

Input: the tags that :class:`~refocus_bench.datasets.exiftool.ExifToolReader` reads, keyed
``"Group0:Group1:Tag"`` with numeric values (``"EXIF:ExifIFD:FNumber"``,
``"MakerNotes:Canon:FocusDistanceUpper"``). ExifTool's Composite ``ImageSize`` and
``ScaleFactor35efl`` are taken as ExifTool reports them; without them (tags from elsewhere) the
image size is found by ExifTool's rules (:func:`_coded_size`).

Which files are photos (:func:`classify_tags`): a file whose metadata ExifTool reads is kept when it
has camera metadata (make, model, f-number, focal length, ...) in any group (EXIF, maker notes, XMP,
QuickTime, the Lytro, RED or MIE records, ...) and is visual: an image or video MIME type, an image
size, or lens values. So camera RAW, video, light-field (LFP), sidecar (XMP, MIE), PSD, EPS and PDF
files keep their metadata row; whether pixels come with it is recorded in ``pixel_decoder`` and
``no_pixels_reason`` (decided by the decoder itself, see
:func:`refocus_bench.datasets.curation.probe_pixels`).

Normalising (:func:`normalize_tags`): the fields of :data:`PHOTO_FIELDS` (name, Arrow type, unit and
meaning), the sensor size from :mod:`.sensors` and the optics derived through
:mod:`refocus_bench.optics` (never re-derived here). Invalid values (0/0 rationals, negative or zero
f-numbers, focus closer than the focal length) become nulls with an explanation in ``notes``.

Focus distance: ``focus_distance_tags`` keeps every focus-distance tag ExifTool reports (each kind of
:data:`FOCUS_DISTANCE_TAGS`, keyed by its source ``Group0:Group1:Tag``, with ExifTool's ``-n`` value).
``focus_distance_m`` is the first usable of ``FocusDistance``, ``SubjectDistance``,
``ApproximateFocusDistance`` and the maker-note bounds ``FocusDistanceLower``/``FocusDistanceUpper``
(bounds give their harmonic mean, the middle in inverse depth, which is what defocus is linear in).
``focus_distance_reliable`` is True only for a lens-reported maker-note ``FocusDistance``, for bounds
no wider than a factor :data:`RELIABLE_BOUNDS_RATIO`, or for another value that lies inside the
maker-note bounds. Values of :data:`FOCUS_INFINITY_M` metres or more mean "focused at infinity" and
are stored as ``inf``.

Blur strength: ``k_px_m`` is GenRefocus's ``K`` in pixel-metres (``optics.coc_gain_px_m``; GenRefocus's
millimetre form is ``1000 * k_px_m``), computed with the image's longest edge in pixels and the
sensor's long side in millimetres. When the focus distance is unknown, ``k_inf_px_m`` still gives it
for any focus distance ``s`` (metres): ``K(s) = k_inf_px_m * s / (s - focal_length_mm / 1000)``, the only
way ``coc_gain_px_m`` depends on ``s``; :func:`k_at_focus_distance` evaluates it through ``optics``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from .. import optics
from ..errors import InvalidInputError, check
from .sensors import sensor_estimates

__all__ = [
    "PHOTO_FIELDS",
    "FOCUS_INFINITY_M",
    "RELIABLE_BOUNDS_RATIO",
    "FOCUS_DISTANCE_TAGS",
    "TagIndex",
    "classify_tags",
    "normalize_tags",
    "k_at_focus_distance",
]

FOCUS_INFINITY_M = 600.0
"""Focus distances at or beyond this (metres) mean infinity (Canon writes 655.35 m, EXIF 2^32-1)."""

RELIABLE_BOUNDS_RATIO = 1.5
"""Maker-note focus bounds count as reliable when upper / lower is at most this."""

FOCUS_DISTANCE_TAGS = (
    "FocusDistance",
    "SubjectDistance",
    "ApproximateFocusDistance",
    "FocusDistanceUpper",
    "FocusDistanceLower",
    "FocusDistanceRange",
    "ObjectDistance",
    "ManualFocusDistance",
)
"""ExifTool tags that state a focus distance (of any kind); all of them land in ``focus_distance_tags``."""

_CAMERA_TAGS = ("Make", "Model", "FNumber", "FocalLength", "ExposureTime", "ISO", "DateTimeOriginal", "LensModel")
_LENS_TAGS = ("FNumber", "ApertureValue", "FocalLength", "FocalLengthIn35mmFormat")
_NOT_METADATA_GROUPS = ("File", "ExifTool", "Composite", "System")

PHOTO_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("file_type", "string", "ExifTool FileType (JPEG, HEIC, NEF, DNG, ...)"),
    ("mime_type", "string", "MIME type reported by ExifTool"),
    ("make", "string", "camera maker (EXIF Make)"),
    ("model", "string", "camera model (EXIF Model)"),
    ("lens_model", "string", "lens model (LensModel, else Lens)"),
    ("f_number", "float64", "f-number N (unitless; ExifTool's Composite Aperture, else FNumber, else ApertureValue)"),
    ("focal_length_mm", "float64", "focal length in millimetres"),
    ("focal_length_35mm_mm", "float64", "35 mm-equivalent focal length in millimetres (FocalLengthIn35mmFormat)"),
    ("crop_factor", "float64", "35 mm diagonal / sensor diagonal (unitless)"),
    (
        "sensor_width_mm",
        "float64",
        "long side of the imaged sensor area in millimetres (pairs with the longest image edge)",
    ),
    ("sensor_height_mm", "float64", "short side of the imaged sensor area in millimetres"),
    (
        "sensor_source",
        "string",
        "where the crop factor came from: 35mm_equivalent, exiftool_scale_factor, lensfun, focal_plane_resolution",
    ),
    ("exiftool_scale_factor_35efl", "float64", "ExifTool's Composite:ScaleFactor35efl as it reports it (unitless)"),
    (
        "own_crop_factor",
        "float64",
        "the harvest's own crop factor (35 mm equivalent, lensfun, focal-plane resolution), whether used or not",
    ),
    ("own_crop_factor_source", "string", "where own_crop_factor came from (a value of sensor_source)"),
    ("focus_distance_m", "float64", "focus distance in metres (inf: focused at infinity)"),
    ("focus_distance_tag", "string", "tag the focus distance came from, e.g. MakerNotes:FocusDistance"),
    ("focus_distance_reliable", "bool", "True for lens-reported or bound-corroborated focus distances"),
    ("focus_distance_lower_m", "float64", "maker-note lower bound of the focus distance in metres"),
    ("focus_distance_upper_m", "float64", "maker-note upper bound of the focus distance in metres (inf allowed)"),
    (
        "focus_distance_tags",
        "string",
        "JSON object: every focus-distance tag ExifTool reports, 'Group0:Group1:Tag' -> its -n value (metres)",
    ),
    ("orientation", "int32", "EXIF orientation 1-8 (5-8 swap width and height)"),
    ("image_width_px", "int32", "image width in pixels after orientation"),
    ("image_height_px", "int32", "image height in pixels after orientation"),
    ("exposure_time_s", "float64", "exposure time in seconds"),
    ("iso", "int32", "ISO sensitivity"),
    ("capture_time", "string", "capture time, ISO 8601 local time with UTC offset when recorded"),
    ("aperture_diameter_mm", "float64", "entrance-pupil diameter f / N in millimetres"),
    ("pixels_per_mm", "float64", "pixels per millimetre of sensor (longest edge px / sensor_width_mm)"),
    ("coc_limit_mm", "float64", "acceptable blur-disc diameter in millimetres (sensor diagonal / 1442)"),
    ("hyperfocal_distance_m", "float64", "hyperfocal distance in metres for coc_limit_mm"),
    ("dof_near_m", "float64", "near limit of the depth of field in metres"),
    ("dof_far_m", "float64", "far limit of the depth of field in metres (inf beyond the hyperfocal)"),
    ("coc_inf_px", "float64", "CoC radius in pixels of a point at infinity (0 when focused at infinity)"),
    ("k_px_m", "float64", "GenRefocus blur gain K in pixel-metres (GenRefocus's mm form = 1000 x)"),
    (
        "k_inf_px_m",
        "float64",
        "K as focus -> infinity, pixel-metres; K(s) = k_inf_px_m * s / (s - f), s and f in metres",
    ),
    ("pixel_decoder", "string", "decoder that reads this file's full image here (Pillow format name), or null"),
    ("no_pixels_reason", "string", "why no pixel data comes with this row (camera RAW, video, light field, ...)"),
    ("exif_warning", "string", "ExifTool warnings"),
    ("notes", "string", "why fields are null or were rejected (semicolon-separated)"),
)
"""Normalised fields: (name, Arrow/HF dtype, unit and meaning)."""


_RANKS: dict[tuple[str, ...], dict[str, int]] = {}


class TagIndex:
    """Tags of one file, looked up by name with a preferred group order.

    ``index.get("FNumber")`` returns the value from the first group in ``prefer`` that has it
    (EXIF before maker notes, XMP, QuickTime, the file itself and ExifTool's composites by default).
    """

    DEFAULT_PREFER = ("EXIF", "MakerNotes", "XMP", "QuickTime", "File", "PNG", "Composite")

    @classmethod
    def of(cls, raw: Mapping[str, Any] | TagIndex) -> TagIndex:
        """``raw`` itself if it is already an index, else a new index of it."""
        return raw if isinstance(raw, TagIndex) else cls(raw)

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._by_tag: dict[str, list[tuple[str, str, Any]]] = {}
        for key, value in raw.items():
            parts = key.split(":")
            if len(parts) < 2:
                continue
            g0, tag = parts[0], parts[-1]
            g1 = parts[1] if len(parts) > 2 else g0
            self._by_tag.setdefault(tag, []).append((g0, g1, value))

    def all(self, tag: str) -> list[tuple[str, str, Any]]:
        """Every (group0, group1, value) of ``tag``, in ExifTool's order."""
        return self._by_tag.get(tag, [])

    def find(self, tag: str, prefer: Sequence[str] = DEFAULT_PREFER) -> tuple[str, Any] | None:
        """``(group0, value)`` of ``tag`` from the most preferred group, or None."""
        items = self._by_tag.get(tag)
        if not items:
            return None
        if len(items) == 1:
            return items[0][0], items[0][2]
        rank = _RANKS.get(prefer) or _RANKS.setdefault(tuple(prefer), {g: i for i, g in enumerate(prefer)})
        g0, _, value = min(items, key=lambda it: rank.get(it[0], len(rank)))
        return g0, value

    def get(self, tag: str, prefer: Sequence[str] = DEFAULT_PREFER) -> Any:
        found = self.find(tag, prefer)
        return None if found is None else found[1]


def _num(value: Any) -> float | None:
    """A number from an ExifTool ``-n`` value (``"undef"`` for 0/0 -> None; ``"inf"`` -> inf)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return None if math.isnan(value) else float(value)
    tokens = str(value).replace("x", " ").split()
    if not tokens:
        return None
    try:
        out = float(tokens[0])
    except ValueError:
        return None
    return None if math.isnan(out) else out


def _text(value: Any) -> str | None:
    if value is None:
        return None
    s = str(value).replace("\x00", "").strip()
    return s or None


def _positive(idx: TagIndex, tags: Sequence[str], what: str, notes: list[str], upper: float = math.inf) -> float | None:
    """First tag value that is finite and in (0, upper); invalid ones are noted."""
    for tag in tags:
        raw = idx.get(tag)
        if raw is None:
            continue
        v = _num(raw)
        if v is not None and math.isfinite(v) and 0 < v < upper:
            return v
        notes.append(f"{tag}={raw!r} is not a valid {what}")
    return None


def classify_tags(raw: Mapping[str, Any] | TagIndex) -> tuple[str | None, str]:
    """Skip reason for a file from its ExifTool answer, or ``(None, "")`` for a usable photo.

    Returns ``("unreadable" | "corrupt" | "not_image" | "no_exif", detail)``.
    """
    idx = TagIndex.of(raw)
    error = _text(idx.get("Error"))
    if error:
        low = error.lower()
        if "could not open" in low or "not found" in low or "error opening" in low:
            return "unreadable", f"ExifTool: {error}"
        if "unknown file type" in low:
            return "not_image", f"ExifTool: {error}"
        if "file is empty" in low:
            return "corrupt", "empty file (0 bytes)"
        return "corrupt", f"ExifTool: {error}"
    mime = _text(idx.get("MIMEType")) or ""
    ftype = _text(idx.get("FileType")) or "unknown"
    has_camera = any(g0 not in _NOT_METADATA_GROUPS for t in _CAMERA_TAGS for g0, _, _ in idx.all(t))
    has_lens = any(g0 not in _NOT_METADATA_GROUPS for t in _LENS_TAGS for g0, _, _ in idx.all(t))
    visual = mime.startswith(("image/", "video/")) or _has_image_size(idx) or has_lens
    if not visual:
        return "not_image", f"file type {ftype} ({mime or 'no MIME type'}) without image data or lens metadata"
    for _, _, warning in idx.all("Warning"):
        w = str(warning)
        if not w.startswith("[minor]") and re.search(r"bad ifd|truncat|corrupt|format error|unexpected end", w, re.I):
            return "corrupt", f"ExifTool warning: {w}"
    if not has_camera:
        return "no_exif", f"{ftype} without camera metadata (none of {', '.join(_CAMERA_TAGS)})"
    return None, ""


def _has_image_size(idx: TagIndex) -> bool:
    return any(g0 not in ("File", "ExifTool") for g0, _, _ in idx.all("ImageSize")) or bool(
        idx.all("ImageWidth") and idx.all("ImageHeight")
    )


def _pair(value: Any) -> tuple[float | None, float | None]:
    parts = str(value).replace("x", " ").split() if value is not None else []
    return (_num(parts[0]), _num(parts[1])) if len(parts) == 2 else (None, None)


def _coded_size(idx: TagIndex) -> tuple[float | None, float | None]:
    """Stored image size (before orientation): ExifTool's Composite ``ImageSize``, else by its rules.

    Without the Composite tag (tags from elsewhere): DNG ``DefaultCropSize``; for CR2
    ``ExifImageWidth/Height``; the coded size of JPEG/PNG/HEIC (``File``/``PNG`` ``ImageWidth``,
    ``ImageSpatialExtent``); for TIFF-based files the largest image of any IFD (IFD0 of a RAW is
    often a thumbnail); ``ExifImageWidth/Height`` last.
    """
    for g0, _, v in sorted(idx.all("ImageSize"), key=lambda item: item[0] != "Composite"):
        w, h = _pair(v)  # Composite first; then a file's own ImageSize (MIE); "1280-960" (APP12) does not parse
        if w and h and g0 not in ("File", "ExifTool"):
            return w, h
    w, h = _pair(idx.get("DefaultCropSize", ("EXIF",)))
    if w and h:
        return w, h
    if _text(idx.get("FileType")) == "CR2":
        w, h = _num(idx.get("ExifImageWidth")), _num(idx.get("ExifImageHeight"))
        if w and h:
            return w, h
    for group in ("File", "PNG"):
        ws = [v for g0, _, v in idx.all("ImageWidth") if g0 == group]
        hs = [v for g0, _, v in idx.all("ImageHeight") if g0 == group]
        if ws and hs and _num(ws[0]) and _num(hs[0]):
            return _num(ws[0]), _num(hs[0])
    w, h = _pair(idx.get("ImageSpatialExtent"))
    if w and h:
        return w, h
    heights = {(g0, g1): _num(v) for g0, g1, v in idx.all("ImageHeight")}
    best = (0.0, None, None)
    for g0, g1, v in idx.all("ImageWidth"):
        w, h = _num(v), heights.get((g0, g1))
        if w and h and w > 0 and h > 0 and w * h > best[0]:
            best = (w * h, w, h)
    if best[1]:
        return best[1], best[2]
    return _num(idx.get("ExifImageWidth")), _num(idx.get("ExifImageHeight"))


def _image_size(idx: TagIndex, notes: list[str]) -> tuple[int | None, int | None, int]:
    w, h = _coded_size(idx)
    orientation = 1
    o = _num(idx.get("Orientation"))
    if o is not None:
        if o in (1, 2, 3, 4, 5, 6, 7, 8):
            orientation = int(o)
        else:
            notes.append(f"Orientation={idx.get('Orientation')!r} is not 1-8; assumed 1")
    if not (w and h and w > 0 and h > 0 and math.isfinite(w) and math.isfinite(h)):
        notes.append("image size unknown")
        return None, None, orientation
    w, h = int(w), int(h)
    if orientation >= 5:
        w, h = h, w
    return w, h, orientation


def _capture_time(idx: TagIndex) -> str | None:
    raw = _text(idx.get("DateTimeOriginal")) or _text(idx.get("CreateDate"))
    if not raw:
        return None
    m = re.match(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d+)?([+-]\d{2}:?\d{2}|Z)?", raw)
    if not m:
        return None
    try:
        dt = datetime(*(int(g) for g in m.groups()[:6]))
    except ValueError:  # 0000:00:00 00:00:00 and friends
        return None
    out = dt.isoformat()
    sub = m.group(7) or (f".{_text(idx.get('SubSecTimeOriginal'))}" if _text(idx.get("SubSecTimeOriginal")) else "")
    if re.fullmatch(r"\.\d+", sub or ""):
        out += sub
    tz = m.group(8) or _text(idx.get("OffsetTimeOriginal"))
    if tz and re.fullmatch(r"[+-]\d{2}:\d{2}|Z", tz):
        out += tz
    return out


def _distance(raw: Any) -> float | None:
    """Metres from a ``-n`` distance value; >= FOCUS_INFINITY_M or ``inf`` -> inf; <= 0 -> None."""
    v = _num(raw)
    if v is None or v <= 0:
        return None
    return math.inf if v >= FOCUS_INFINITY_M else v


def _focus_distance(idx: TagIndex, focal_length_mm: float | None, notes: list[str]) -> dict[str, Any]:
    lower = _distance(idx.get("FocusDistanceLower", ("MakerNotes",)))
    upper = _distance(idx.get("FocusDistanceUpper", ("MakerNotes",)))
    if lower is not None and upper is not None and upper < lower:
        notes.append(f"focus bounds reversed ({lower:g} > {upper:g} m); ignored")
        lower = upper = None
    out: dict[str, Any] = {
        "focus_distance_m": None,
        "focus_distance_tag": None,
        "focus_distance_reliable": None,
        "focus_distance_lower_m": lower,
        "focus_distance_upper_m": upper,
    }
    candidates: list[tuple[str, float | None, bool]] = []
    for tag in ("FocusDistance", "SubjectDistance", "ApproximateFocusDistance"):
        found = idx.find(tag, ("MakerNotes", "EXIF", "XMP", "QuickTime", "Composite"))
        if found is None:
            continue
        g0, raw = found
        d = _distance(raw)
        if d is None:
            notes.append(f"{g0}:{tag}={raw!r} is not a usable distance (0 or less means unknown)")
            continue
        in_bounds = lower is not None and upper is not None and lower / 1.1 <= d <= upper * 1.1
        reliable = (tag == "FocusDistance" and g0 == "MakerNotes") or in_bounds
        candidates.append((f"{g0}:{tag}", d, reliable))
    if lower is not None and upper is not None:
        d = 2.0 / (1.0 / lower + 1.0 / upper) if math.isfinite(lower) else math.inf
        reliable = math.isfinite(upper) and upper / lower <= RELIABLE_BOUNDS_RATIO
        candidates.append(("MakerNotes:FocusDistanceLower/Upper", d, reliable))
    f_m = (focal_length_mm or 0.0) / 1000.0
    for tag, d, reliable in candidates:
        if d <= f_m:
            notes.append(f"{tag}={d:g} m is not beyond the focal length; ignored")
            continue
        out.update(focus_distance_m=d, focus_distance_tag=tag, focus_distance_reliable=bool(reliable))
        break
    return out


def _f_number(idx: TagIndex, notes: list[str]) -> float | None:
    """ExifTool's Composite ``Aperture`` (the FNumber it shows, else ApertureValue), else those tags."""
    aperture = _composite(idx, "Aperture")
    if aperture is not None:
        v = _num(aperture)
        if v is not None and math.isfinite(v) and 0 < v < 1000.0:
            return v
        notes.append(f"FNumber={aperture!r} is not a valid f-number")
        return None
    return _positive(idx, ("FNumber", "ApertureValue"), "f-number", notes, upper=1000.0)


def _composite(idx: TagIndex, tag: str) -> Any:
    """ExifTool's Composite value of ``tag``, or None."""
    return next((v for g0, _, v in idx.all(tag) if g0 == "Composite"), None)


def _json_value(value: Any) -> Any:
    """An ExifTool ``-n`` value as JSON can hold it (numbers stay numbers; inf and NaN become strings)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def focus_distance_tags(raw: Mapping[str, Any] | TagIndex) -> str | None:
    """JSON of every focus-distance tag (:data:`FOCUS_DISTANCE_TAGS`) ExifTool reported, by source.

    Keys are ``"Group0:Group1:Tag"`` (``"MakerNotes:Canon:FocusDistanceUpper"``), values ExifTool's
    ``-n`` values unchanged; None when there is none.

    >>> focus_distance_tags({"EXIF:ExifIFD:SubjectDistance": 1.5, "MakerNotes:Nikon:FocusDistance": 1.41})
    '{"EXIF:ExifIFD:SubjectDistance": 1.5, "MakerNotes:Nikon:FocusDistance": 1.41}'
    """
    idx = TagIndex.of(raw)
    found = {
        (f"{g0}:{g1}:{tag}" if g1 != g0 else f"{g0}:{tag}"): _json_value(v)
        for tag in FOCUS_DISTANCE_TAGS
        for g0, g1, v in idx.all(tag)
    }
    return json.dumps(dict(sorted(found.items())), ensure_ascii=False) if found else None


def _call(notes: list[str], what: str, fn: Any, *args: Any) -> Any:
    """Run an optics function; on InvalidInputError record why and return None (never crash)."""
    try:
        return float(fn(*args))
    except InvalidInputError as err:
        notes.append(f"{what}: {err}")
        return None


def normalize_tags(raw: Mapping[str, Any] | TagIndex, *, use_lensfun: bool = True) -> dict[str, Any]:
    """Normalised and derived fields (:data:`PHOTO_FIELDS`) of one ExifTool answer.

    Args:
        raw: one dict from :meth:`ExifToolReader.read` (``-n -a -G0:1`` keys), or its TagIndex.
        use_lensfun: look the camera up in the lensfun database when the 35 mm equivalent is missing.

    Returns:
        A dict with every name of :data:`PHOTO_FIELDS`; unknown values are None.
    """
    idx = TagIndex.of(raw)
    notes: list[str] = []
    rec: dict[str, Any] = {name: None for name, _, _ in PHOTO_FIELDS}
    rec["file_type"] = _text(idx.get("FileType"))
    rec["mime_type"] = _text(idx.get("MIMEType"))
    rec["make"] = _text(idx.get("Make"))
    rec["model"] = _text(idx.get("Model"))
    rec["lens_model"] = _text(idx.get("LensModel")) or _text(idx.get("Lens"))
    n = rec["f_number"] = _f_number(idx, notes)
    f = rec["focal_length_mm"] = _positive(idx, ("FocalLength",), "focal length (mm)", notes, upper=1e5)
    rec["focal_length_35mm_mm"] = _positive(
        idx, ("FocalLengthIn35mmFormat",), "35mm-equivalent focal length", notes, 1e5
    )
    w, h, rec["orientation"] = _image_size(idx, notes)
    rec["image_width_px"], rec["image_height_px"] = w, h
    rec["exposure_time_s"] = _positive(idx, ("ExposureTime", "ShutterSpeedValue"), "exposure time (s)", notes, 1e6)
    iso = _positive(idx, ("ISO",), "ISO", notes, upper=1e7)
    rec["iso"] = None if iso is None else int(round(iso))
    rec["capture_time"] = _capture_time(idx)
    warnings = [str(v) for _, _, v in idx.all("Warning")]
    rec["exif_warning"] = "; ".join(warnings) or None

    scale_factor = _num(_composite(idx, "ScaleFactor35efl"))
    rec["exiftool_scale_factor_35efl"] = scale_factor
    sensor, own, sensor_notes = sensor_estimates(
        width_px=w,
        height_px=h,
        focal_length_mm=f,
        focal_length_35mm_mm=rec["focal_length_35mm_mm"],
        make=rec["make"],
        model=rec["model"],
        focal_plane_x_resolution=_num(idx.get("FocalPlaneXResolution")),
        focal_plane_y_resolution=_num(idx.get("FocalPlaneYResolution")),
        exiftool_scale_factor=scale_factor,
        focal_plane_resolution_unit=_num(idx.get("FocalPlaneResolutionUnit")),
        exif_width_px=_num(idx.get("ExifImageWidth")),
        exif_height_px=_num(idx.get("ExifImageHeight")),
        use_lensfun=use_lensfun,
    )
    notes.extend(sensor_notes)
    if sensor is not None:
        rec.update(
            crop_factor=sensor.crop_factor,
            sensor_width_mm=sensor.sensor_width_mm,
            sensor_height_mm=sensor.sensor_height_mm,
            sensor_source=sensor.source,
        )
    if own is not None:
        rec.update(own_crop_factor=own.crop_factor, own_crop_factor_source=own.source)
    rec.update(_focus_distance(idx, f, notes))
    rec["focus_distance_tags"] = focus_distance_tags(idx)
    s = rec["focus_distance_m"]
    _derive(rec, f, n, s, sensor, w, h, notes)
    rec["notes"] = "; ".join(notes) or None
    return rec


def _derive(
    rec: dict[str, Any],
    f: float | None,
    n: float | None,
    s: float | None,
    sensor: Any,
    w: int | None,
    h: int | None,
    notes: list[str],
) -> None:
    """Optics fields through :mod:`refocus_bench.optics`; each failure is a null plus a note."""
    long_px = max(w, h) if w and h else None
    sw = sensor.sensor_width_mm if sensor is not None else None
    lens = f is not None and n is not None
    if lens:
        rec["aperture_diameter_mm"] = _call(notes, "aperture_diameter_mm", optics.aperture_diameter_mm, f, n)
    else:
        notes.append("optics not derived: f-number or focal length unknown")
    if sw is not None and long_px is not None:
        rec["pixels_per_mm"] = _call(notes, "pixels_per_mm", optics.pixels_per_mm, long_px, sw)
        aspect = long_px / min(w, h)
        rec["coc_limit_mm"] = _call(notes, "coc_limit_mm", optics.coc_limit_mm_for_sensor, sw, aspect)
    c = rec["coc_limit_mm"]
    if lens and c is not None:
        rec["hyperfocal_distance_m"] = _call(notes, "hyperfocal", optics.hyperfocal_distance_m, f, n, c)
        if s is not None and math.isfinite(s):
            try:
                near, far = optics.depth_of_field_m(f, n, s, c)
                rec["dof_near_m"], rec["dof_far_m"] = float(near), float(far)
            except InvalidInputError as err:
                notes.append(f"depth of field: {err}")
    if not (lens and sw is not None and long_px is not None):
        return
    f_m = f / 1000.0
    s_ref = max(1.0, 10.0 * f_m)  # any distance beyond f works; K(s_ref) * (s_ref - f) / s_ref = K(inf)
    k_ref = _call(notes, "k_inf_px_m", optics.coc_gain_px_m, f, n, s_ref, sw, long_px)
    if k_ref is not None:
        rec["k_inf_px_m"] = k_ref * (s_ref - f_m) / s_ref
    if s is None:
        return
    if math.isinf(s):  # a point at infinity is in focus; K tends to its limit
        rec["coc_inf_px"], rec["k_px_m"] = 0.0, rec["k_inf_px_m"]
        notes.append("focused at infinity: depth of field not derived")
        return
    rec["k_px_m"] = _call(notes, "k_px_m", optics.coc_gain_px_m, f, n, s, sw, long_px)
    if rec["k_px_m"] is not None:
        rec["coc_inf_px"] = _call(notes, "coc_inf_px", optics.coc_radius_from_k, math.inf, rec["k_px_m"], s)


def k_at_focus_distance(record: Mapping[str, Any], focus_distance_m: float) -> float:
    """GenRefocus ``K`` (pixel-metres) of a harvested photo if it were focused at ``focus_distance_m``.

    Uses the record's focal length, f-number, sensor width and longest image edge through
    :func:`refocus_bench.optics.coc_gain_px_m`. Raises InvalidInputError when a field is missing or
    the distance is not beyond the focal length.
    """
    need = ("focal_length_mm", "f_number", "sensor_width_mm", "image_width_px", "image_height_px")
    missing = [k for k in need if record.get(k) is None]
    check(not missing, lambda: f"record lacks {missing} needed for K")
    long_px = max(record["image_width_px"], record["image_height_px"])
    return float(
        optics.coc_gain_px_m(
            record["focal_length_mm"], record["f_number"], focus_distance_m, record["sensor_width_mm"], long_px
        )
    )
