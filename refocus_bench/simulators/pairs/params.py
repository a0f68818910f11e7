"""Parameter distributions of the training-pair generator, and the draw of one sample's parameters.

Every random quantity of :mod:`refocus_bench.simulators.pairs.generate` is a :class:`Dist`, written on the
command line as a short string:

=====================  ============================================  ===========================
text                   meaning                                       example
=====================  ============================================  ===========================
``x``                  the constant ``x``                            ``--f-number 1.8``
``lo:hi``              uniform on [lo, hi]                           ``--k 2:40``
``lo:hi:log``          log-uniform on [lo, hi] (uniform in log)      ``--f-number 1.2:8:log``
``lo:hi:int``          uniform integer in [lo, hi] (both included)   ``--leaves 12:40:int``
``a=w,b=w,...``        choice with weights (``a,b`` = equal)         ``--aperture disk=3,heart=1``
=====================  ============================================  ===========================

Two ways to set the blur (``mode``):

* ``physical``: sensor format (long-side width in mm, spanned by the image's longest edge, the
  convention of the EXIF harvester and of GenRefocus's ``K``), focal length (mm), f-number and a focus
  distance give a :class:`~refocus_bench.optics.ThinLens`; ``K`` follows from
  :func:`~refocus_bench.optics.coc_gain_px_m`.
* ``k``: GenRefocus's blur gain ``K`` (pixel-metres, for the output size) and a focus depth.

The focus depth comes from one of three ``focus_method``\\ s: ``depth-histogram`` (the depth of a
uniformly drawn pixel whose depth lies between the ``focus_quantiles`` of the scene's measured
depths: focus planes follow the scene's depth histogram), ``point`` (a random pixel, the median depth
of its 5x5 neighbourhood, GenRefocus's focus point) and ``mask-median`` (the median depth of a
region: the visible part of a random layer of a layered scene, or a random box covering 10-30 % of
the short side of a real RGB-D scene, GenRefocus's mask-median focus plane). Points and masks are drawn
among measured pixels only (real scenes flag filled-in depth).

A draw is accepted when the largest CoC radius over the image, ``max |r|``, lies in
``coc_range_px``; otherwise everything is drawn again, up to ``max_draws`` times, after which the
sample fails with the reason ``parameter_ranges``. The refocus target keeps the lens and aperture and
draws a new focus depth with the same method among the pixels at least ``refocus_min_diopter`` (1/m)
away from the first focus depth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ... import optics
from ...errors import InvalidInputError, check

__all__ = [
    "Dist",
    "SENSOR_FORMATS",
    "FOCUS_METHODS",
    "MODES",
    "LensDraw",
    "ParameterError",
    "draw_focus",
    "draw_lens",
    "coc_map",
]

SENSOR_FORMATS = {
    "full-frame": 36.0,
    "aps-c": 23.5,
    "aps-c-canon": 22.3,
    "micro-four-thirds": 17.3,
    "one-inch": 13.2,
}
"""Long-side sensor width (mm) of the named formats."""

FOCUS_METHODS = ("depth-histogram", "point", "mask-median")
MODES = ("physical", "k")
DIST_KINDS = ("const", "uniform", "log-uniform", "int", "choice")


class ParameterError(InvalidInputError):
    """No parameter draw satisfied the configured constraints for a sample."""


@dataclass(frozen=True)
class Dist:
    """A 1-D distribution: ``const``, ``uniform``, ``log-uniform``, ``int`` or weighted ``choice``.

    Example:
        >>> d = Dist.parse("1.2:8:log")
        >>> d.describe()
        'log-uniform on [1.2, 8]'
        >>> 1.2 <= d.sample(np.random.default_rng(0)) <= 8
        True
        >>> Dist.parse("disk=3,heart=1").describe()
        'choice of disk (p=0.75), heart (p=0.25)'
    """

    kind: str
    low: float | None = None
    high: float | None = None
    values: tuple = ()
    weights: tuple = ()

    def __post_init__(self) -> None:
        check(self.kind in DIST_KINDS, lambda: f"distribution kind must be one of {DIST_KINDS}, got {self.kind!r}")
        if self.kind == "choice":
            check(len(self.values) > 0, "a choice needs at least one value")
            check(len(self.weights) == len(self.values), "a choice needs one weight per value")
            check(
                all(math.isfinite(w) and w >= 0 for w in self.weights) and sum(self.weights) > 0,
                lambda: f"choice weights must be >= 0 with a positive sum, got {list(self.weights)}",
            )
        elif self.kind == "const":
            check(
                self.low is not None and math.isfinite(self.low), lambda: f"a constant must be finite, got {self.low}"
            )
        else:
            lo, hi = self.low, self.high
            check(
                lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi),
                lambda: f"{self.kind} bounds must be finite numbers, got {lo}:{hi}",
            )
            check(lo <= hi, lambda: f"{self.kind} range is empty: low {lo:g} > high {hi:g}")
            if self.kind == "log-uniform":
                check(lo > 0, lambda: f"log-uniform needs low > 0, got {lo:g}")
            if self.kind == "int":
                check(
                    float(lo).is_integer() and float(hi).is_integer(),
                    lambda: f"int bounds must be integers, got {lo}:{hi}",
                )

    @classmethod
    def parse(cls, text: str | float | int | Dist) -> Dist:
        """Parse the command-line syntax of the module docstring (numbers give constants)."""
        if isinstance(text, Dist):
            return text
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            return cls("const", float(text))
        check(
            isinstance(text, str) and text.strip() != "",
            lambda: f"a distribution must be a non-empty string, got {text!r}",
        )
        t = text.strip()
        try:
            if "," in t or "=" in t or not _is_number(t.split(":")[0]):
                items = [s.strip() for s in t.split(",") if s.strip()]
                vals, wts = [], []
                for it in items:
                    name, _, w = it.partition("=")
                    vals.append(_number_or_name(name.strip()))
                    wts.append(float(w) if w else 1.0)
                return cls("choice", values=tuple(vals), weights=tuple(wts))
            parts = t.split(":")
            if len(parts) == 1:
                return cls("const", float(parts[0]))
            if len(parts) == 2:
                return cls("uniform", float(parts[0]), float(parts[1]))
            if len(parts) == 3 and parts[2] in ("log", "int"):
                return cls("log-uniform" if parts[2] == "log" else "int", float(parts[0]), float(parts[1]))
        except ValueError as err:
            raise InvalidInputError(f"cannot parse distribution {text!r}: {err}") from err
        raise InvalidInputError(f"cannot parse distribution {text!r}; use x, lo:hi, lo:hi:log, lo:hi:int or a=w,b=w")

    def sample(self, rng: np.random.Generator) -> Any:
        """One value (float, int or a choice value)."""
        if self.kind == "const":
            return float(self.low)
        if self.kind == "uniform":
            return float(rng.uniform(self.low, self.high))
        if self.kind == "log-uniform":
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        if self.kind == "int":
            return int(rng.integers(int(self.low), int(self.high) + 1))
        p = np.asarray(self.weights, dtype=np.float64)
        return self.values[int(rng.choice(len(self.values), p=p / p.sum()))]

    def support(self) -> tuple:
        """(low, high) for numeric kinds, the values for a choice."""
        if self.kind == "choice":
            return tuple(self.values)
        return (self.low, self.low if self.kind == "const" else self.high)

    def describe(self) -> str:
        if self.kind == "const":
            return f"constant {self.low:g}"
        if self.kind == "choice":
            total = sum(self.weights)
            return "choice of " + ", ".join(f"{v} (p={w / total:.3g})" for v, w in zip(self.values, self.weights))
        name = {"uniform": "uniform", "log-uniform": "log-uniform", "int": "integer uniform"}[self.kind]
        return f"{name} on [{self.low:g}, {self.high:g}]"

    def to_text(self) -> str:
        """The command-line form (``Dist.parse(d.to_text()) == d``)."""
        if self.kind == "const":
            return repr(float(self.low))
        if self.kind == "choice":
            return ",".join(f"{v}={w!r}" for v, w in zip(self.values, self.weights))
        suffix = {"uniform": "", "log-uniform": ":log", "int": ":int"}[self.kind]
        return f"{float(self.low)!r}:{float(self.high)!r}{suffix}"


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


def _number_or_name(s: str) -> Any:
    check(s != "", "empty value in a choice")
    check(":" not in s, lambda: f"{s!r} is neither a number nor a name; ranges are lo:hi, lo:hi:log or lo:hi:int")
    return float(s) if _is_number(s) else s


# --------------------------------------------------------------------------------- focus planes
@dataclass(frozen=True)
class FocusDraw:
    """A focus depth and where it came from (pixel coordinates x right, y down)."""

    distance_m: float
    method: str
    x: int | None = None
    y: int | None = None
    box: tuple[int, int, int, int] | None = None  # mask bounding box (x0, y0, x1, y1), end exclusive


def _finite_valid(depth: torch.Tensor, valid: torch.Tensor | None) -> torch.Tensor:
    ok = torch.isfinite(depth)
    return ok & valid if valid is not None else ok


def draw_focus(
    method: str,
    depth: torch.Tensor,
    rng: np.random.Generator,
    *,
    valid: torch.Tensor | None = None,
    segments: torch.Tensor | None = None,
    quantiles: tuple[float, float] = (0.02, 0.98),
    away_from: tuple[float, float] | None = None,
) -> FocusDraw | None:
    """Draw a focus depth (m) from a (H, W) depth map; None when the method finds no finite depth.

    Args:
        method: one of :data:`FOCUS_METHODS`.
        depth: (H, W) metres (``inf`` = sky, never a focus depth).
        valid: (H, W) bool, measured pixels (real scenes); focus is drawn only there.
        segments: (H, W) long object labels (layered scenes) used by ``mask-median``.
        quantiles: depth-histogram range.
        away_from: ``(s, diopters)``: draw only from pixels whose depth ``z`` has
            ``|1/z - 1/s| >= diopters`` (refocus targets), so a scene dominated by one plane still
            yields a second focus plane when it has one.
    """
    check(method in FOCUS_METHODS, lambda: f"focus_method must be one of {FOCUS_METHODS}, got {method!r}")
    h, w = depth.shape
    finite = torch.isfinite(depth)
    ok = _finite_valid(depth, valid)
    if not bool(ok.any()):
        return None
    if method == "depth-histogram":
        lo, hi = (float(q) for q in np.quantile(depth[ok].double().numpy(), quantiles))
        ok = ok & (depth >= lo) & (depth <= hi)
    if away_from is not None:
        s0, dioptres = away_from
        ok = ok & ((1.0 / depth.double() - 1.0 / s0).abs() >= dioptres)
        if not bool(ok.any()):
            return None
    if method == "depth-histogram":
        cand = torch.nonzero(ok).numpy()
        if len(cand) == 0:
            return None
        y, x = cand[int(rng.integers(len(cand)))]
        return FocusDraw(float(depth[y, x]), method, int(x), int(y))
    if method == "point":
        cand = torch.nonzero(ok).numpy()
        y, x = cand[int(rng.integers(len(cand)))]
        patch = depth[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3]
        pok = finite[max(0, y - 2) : y + 3, max(0, x - 2) : x + 3]  # lower median of the finite 5x5 neighbours
        return FocusDraw(float(patch[pok].double().median()), method, int(x), int(y))
    # mask-median
    if segments is not None:
        labels, counts = torch.unique(segments[ok], return_counts=True)
        big = labels[counts >= max(1, int(0.005 * h * w))]
        if len(big) == 0:
            return None
        label = int(big[int(rng.integers(len(big)))])
        mask = (segments == label) & ok
    else:
        side = int(round(min(h, w) * rng.uniform(0.1, 0.3)))
        side = max(1, side)
        y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        mask = torch.zeros_like(ok)
        mask[y0 : y0 + side, x0 : x0 + side] = True
        mask &= ok
        if not bool(mask.any()):
            return None
    ys, xs = torch.nonzero(mask, as_tuple=True)
    box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return FocusDraw(
        float(depth[mask].double().median()),
        method,
        int(round(float(xs.double().mean()))),
        int(round(float(ys.double().mean()))),
        box,
    )


# ----------------------------------------------------------------------------------------- lens
@dataclass(frozen=True)
class LensDraw:
    """One blur setting: focus, ``K`` and (physical mode) the lens; all recorded with every pair."""

    mode: str
    k_px_m: float
    focus: FocusDraw
    aperture: str
    focal_length_mm: float | None = None
    f_number: float | None = None
    sensor_format: str | None = None
    sensor_width_mm: float | None = None

    @property
    def focus_distance_m(self) -> float:
        return self.focus.distance_m

    def lens(self) -> optics.ThinLens | None:
        if self.mode != "physical":
            return None
        return optics.ThinLens(self.focal_length_mm, self.f_number, self.focus.distance_m, self.sensor_width_mm)

    def with_focus(self, focus: FocusDraw, image_long_px: int) -> LensDraw:
        """The same lens and aperture refocused; ``K`` is recomputed in physical mode."""
        k = self.k_px_m
        if self.mode == "physical":
            k = float(
                optics.coc_gain_px_m(
                    self.focal_length_mm, self.f_number, focus.distance_m, self.sensor_width_mm, image_long_px
                )
            )
        return LensDraw(
            self.mode,
            k,
            focus,
            self.aperture,
            self.focal_length_mm,
            self.f_number,
            self.sensor_format,
            self.sensor_width_mm,
        )


def coc_map(depth_m: torch.Tensor, draw: LensDraw, image_long_px: int) -> torch.Tensor:
    """Signed CoC radius (px) of ``depth_m`` (any shape, metres) for a draw, via :mod:`optics`."""
    if draw.mode == "physical":
        return optics.coc_radius_px(
            depth_m, draw.focal_length_mm, draw.f_number, draw.focus_distance_m, draw.sensor_width_mm, image_long_px
        )
    return optics.coc_radius_from_k(depth_m, draw.k_px_m, draw.focus_distance_m)


def max_abs_coc(depth: torch.Tensor, draw: LensDraw, image_long_px: int) -> float:
    """Largest |CoC| (px) over the image; the extremes sit at the nearest and farthest depths."""
    ends = torch.stack([depth.min(), depth.max()]).double()
    return float(coc_map(ends, draw, image_long_px).abs().max())


def draw_lens(
    config: Any,
    depth: torch.Tensor,
    rng: np.random.Generator,
    *,
    valid: torch.Tensor | None = None,
    segments: torch.Tensor | None = None,
) -> LensDraw:
    """Draw one accepted blur setting for a (H, W) depth map (see the module docstring).

    ``config`` is a :class:`~refocus_bench.simulators.pairs.generate.PairConfig`. Raises
    :class:`ParameterError` after ``config.max_draws`` rejected draws.
    """
    h, w = depth.shape
    long_px = max(h, w)
    lo, hi = config.coc_range_px
    seen: list[float] = []
    why = "no finite depth to focus on"
    for _ in range(config.max_draws):
        method = config.focus_method_dist().sample(rng)
        aperture = config.aperture.sample(rng)
        focus = draw_focus(method, depth, rng, valid=valid, segments=segments, quantiles=config.focus_quantiles)
        if config.mode == "physical":
            fmt = config.sensor_format.sample(rng)
            f_mm = config.focal_length_mm.sample(rng)
            n = config.f_number.sample(rng)
            if focus is None:
                continue
            if focus.distance_m * 1000.0 <= 1.5 * f_mm:
                why = (
                    f"focus depths closer than 1.5 x the focal length (e.g. {focus.distance_m:.3g} m for {f_mm:.3g} mm)"
                )
                continue
            k = float(optics.coc_gain_px_m(f_mm, n, focus.distance_m, SENSOR_FORMATS[fmt], long_px))
            draw = LensDraw("physical", k, focus, str(aperture), f_mm, n, fmt, SENSOR_FORMATS[fmt])
        else:
            k = config.k_px_m.sample(rng)
            if focus is None:
                continue
            draw = LensDraw("k", float(k), focus, str(aperture))
        m = max_abs_coc(depth, draw, long_px)
        if lo <= m <= hi:
            return draw
        seen.append(m)
        why = (
            f"max |CoC| over the image was {min(seen):.3g} to {max(seen):.3g} px, outside coc_range_px [{lo:g}, {hi:g}]"
        )
    raise ParameterError(f"no accepted parameters after {config.max_draws} draws: {why}; widen the ranges")


def draw_refocus(
    config: Any,
    first: LensDraw,
    depth: torch.Tensor,
    rng: np.random.Generator,
    *,
    valid: torch.Tensor | None = None,
    segments: torch.Tensor | None = None,
) -> LensDraw:
    """A second focus for the same lens, ``>= refocus_min_diopter`` away; :class:`ParameterError` if none."""
    h, w = depth.shape
    long_px = max(h, w)
    lo, hi = config.coc_range_px
    why = "no finite depth to focus on"
    for _ in range(config.max_draws):
        focus = draw_focus(
            first.focus.method,
            depth,
            rng,
            valid=valid,
            segments=segments,
            quantiles=config.focus_quantiles,
            away_from=(first.focus_distance_m, config.refocus_min_diopter),
        )
        if focus is None:
            why = (
                f"no pixel with a depth {config.refocus_min_diopter:g} 1/m or more from the first focus "
                f"({first.focus_distance_m:.3g} m)"
            )
            continue
        if abs(1.0 / focus.distance_m - 1.0 / first.focus_distance_m) < config.refocus_min_diopter:
            why = (
                f"every other focus depth was within {config.refocus_min_diopter:g} 1/m of the first "
                f"({first.focus_distance_m:.3g} m)"
            )
            continue
        if first.mode == "physical" and focus.distance_m * 1000.0 <= 1.5 * first.focal_length_mm:
            why = "focus depths closer than 1.5 x the focal length"
            continue
        draw = first.with_focus(focus, long_px)
        m = max_abs_coc(depth, draw, long_px)
        if lo <= m <= hi:
            return draw
        why = f"max |CoC| {m:.3g} px outside coc_range_px [{lo:g}, {hi:g}]"
    raise ParameterError(f"no refocus target after {config.max_draws} draws: {why}")
