"""Focus selection: where the new focus plane goes, by point, by mask or by a text prompt.

All selectors work on a metric depth map (B, 1, H, W) in metres (``inf`` = sky) and return the focus
distance per sample, a (B,) float64 tensor in metres. Statistics are taken in *disparity* (1 / depth,
``inf`` -> 0), where defocus is linear and sky does not dominate a median:

* :func:`focus_from_point` - the median disparity in a small window around pixel ``(x, y)``;
* :func:`focus_from_mask` - the median disparity inside a mask (B or 1, 1, H, W);
* :func:`focus_from_text` - a pluggable *grounding model* turns ``(image, text)`` into a mask, then
  :func:`focus_from_mask`. Grounders implement :class:`Grounder` and register in :data:`GROUNDERS`
  (entry-point group ``refocus_bench.grounders``).

:func:`select_focus` takes exactly one of the options and rejects inconsistent combinations.

``genrefocus.flux`` selects its focus as the released GenRefocus does instead - the disparity at one
pixel, or numpy's median (mean of the two middle values) inside a mask - in
:func:`refocus_bench.models.genrefocus.flux.inputs.focus_disparity`, so that it reproduces the release.

Example:
    >>> depth = torch.full((1, 1, 8, 8), 4.0); depth[..., :4] = 2.0
    >>> focus_from_point(depth, (1, 5)).tolist()
    [2.0]
"""

from __future__ import annotations

import math
from typing import Any, Protocol, runtime_checkable

import torch

from ..errors import check, check_tensor
from ..registry import Registry

__all__ = [
    "GROUNDERS",
    "Grounder",
    "list_grounders",
    "create_grounder",
    "disparity",
    "focus_from_point",
    "focus_from_mask",
    "focus_from_text",
    "select_focus",
]

GROUNDERS = Registry("grounder", "refocus_bench.grounders")
GROUNDERS.register(
    "owlv2",
    "refocus_bench.models.grounding:OwlV2Grounder",
    description="OWLv2 open-vocabulary detector (transformers, local weights) -> box mask",
)


@runtime_checkable
class Grounder(Protocol):
    """``grounder(image (B, 3, H, W) sRGB, text) -> mask (B, 1, H, W)`` in [0, 1] (1 = the object)."""

    def __call__(self, image: torch.Tensor, text: str) -> torch.Tensor: ...


def list_grounders(pattern: str = "*") -> list[str]:
    """Registered grounding models (third-party ones come from the entry-point group)."""
    return GROUNDERS.list(pattern)


def create_grounder(name: str, **kwargs: Any) -> Grounder:
    """Instantiate grounding model ``name`` (unknown names list close matches)."""
    return GROUNDERS.create(name, **kwargs)


def disparity(depth_m: torch.Tensor) -> torch.Tensor:
    """``1 / depth`` in 1/m, with ``inf`` depth -> 0 (float64)."""
    d = depth_m.double()
    return torch.where(torch.isinf(d), torch.zeros_like(d), 1.0 / d)


def _to_focus(median_disp: torch.Tensor, what: str) -> torch.Tensor:
    bad = [i for i, v in enumerate(median_disp.tolist()) if not (math.isfinite(v) and v > 0)]
    check(
        not bad,
        lambda: f"{what} falls on pixels without finite depth (sky / infinity) in sample(s) {bad}; "
        "choose another point or mask, or give the focus distance in metres",
    )
    return 1.0 / median_disp


def focus_from_point(depth_m: torch.Tensor, point: tuple[int, int], window: int = 5) -> torch.Tensor:
    """Focus distance (B,) metres at pixel ``point = (x, y)``: median disparity in a ``window`` box."""
    sizes = check_tensor(depth_m, "depth_m", ["B", 1, "H", "W"], allow_inf=True)
    h, w = sizes["H"], sizes["W"]
    check(
        isinstance(point, (tuple, list)) and len(point) == 2, lambda: f"point must be (x, y) in pixels, got {point!r}"
    )
    x, y = int(point[0]), int(point[1])
    check(0 <= x < w and 0 <= y < h, lambda: f"focus point ({x}, {y}) is outside the {w}x{h} image")
    check(
        isinstance(window, int) and window >= 1 and window % 2 == 1,
        lambda: f"window must be an odd int >= 1, got {window!r}",
    )
    r = window // 2
    patch = disparity(depth_m[:, 0, max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1]).flatten(1)
    return _to_focus(patch.median(dim=1).values, f"focus point ({x}, {y})")


def focus_from_mask(depth_m: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Focus distance (B,) metres: the median disparity inside ``mask`` (> 0.5 = inside)."""
    sizes = check_tensor(depth_m, "depth_m", ["B", 1, "H", "W"], allow_inf=True)
    check(isinstance(mask, torch.Tensor), lambda: f"mask must be a tensor, got {type(mask).__name__}")
    check_tensor(mask.float(), "mask", ["MB", 1, sizes["H"], sizes["W"]], min_value=0.0, max_value=1.0)
    check(mask.shape[0] in (1, sizes["B"]), lambda: f"mask must have batch 1 or {sizes['B']}, got {mask.shape[0]}")
    inside = (mask.float() > 0.5).expand(sizes["B"], 1, sizes["H"], sizes["W"])
    empty = [i for i in range(sizes["B"]) if not bool(inside[i].any())]
    check(not empty, lambda: f"focus mask is empty in sample(s) {empty}")
    disp = disparity(depth_m)
    med = torch.stack([disp[i][inside[i]].median() for i in range(sizes["B"])])
    return _to_focus(med, "focus mask")


def focus_from_text(
    image: torch.Tensor, depth_m: torch.Tensor, text: str, grounder: str | Grounder, **kwargs: Any
) -> torch.Tensor:
    """Focus distance (B,) metres on the object a grounding model finds for ``text``."""
    check(isinstance(text, str) and text.strip(), "focus text must be a non-empty string")
    g = create_grounder(grounder, **kwargs) if isinstance(grounder, str) else grounder
    check(
        callable(g),
        lambda: f"grounder must be a registered name or a callable (image, text) -> mask, got {type(g).__name__}",
    )
    mask = g(image, text)
    check(isinstance(mask, torch.Tensor), "the grounder must return a (B, 1, H, W) mask tensor")
    return focus_from_mask(depth_m, mask.float().clamp(0.0, 1.0))


def select_focus(
    depth_m: torch.Tensor,
    *,
    point: tuple[int, int] | None = None,
    mask: torch.Tensor | None = None,
    text: str | None = None,
    image: torch.Tensor | None = None,
    grounder: str | Grounder | None = None,
    distance_m: float | None = None,
) -> torch.Tensor:
    """Focus distance (B,) metres from exactly one of ``point``, ``mask``, ``text`` or ``distance_m``.

    ``text`` needs ``image`` and ``grounder``; ``grounder`` without ``text`` is an error, so is any
    combination of two options.
    """
    given = [
        n for n, v in (("point", point), ("mask", mask), ("text", text), ("distance_m", distance_m)) if v is not None
    ]
    check(
        len(given) == 1,
        lambda: f"give exactly one focus option: point, mask, text or distance_m; got {given or 'none'}",
    )
    check(grounder is None or text is not None, "a grounder is only used with a focus text")
    b = depth_m.shape[0] if isinstance(depth_m, torch.Tensor) and depth_m.ndim == 4 else 1
    if point is not None:
        return focus_from_point(depth_m, point)
    if mask is not None:
        return focus_from_mask(depth_m, mask)
    if text is not None:
        check(
            image is not None and grounder is not None,
            "focusing by text needs the image and a grounder (name or callable)",
        )
        return focus_from_text(image, depth_m, text, grounder)
    check(
        isinstance(distance_m, (int, float)) and math.isfinite(distance_m) and distance_m > 0,
        lambda: f"distance_m must be a finite number > 0 metres, got {distance_m!r}",
    )
    return torch.full((b,), float(distance_m), dtype=torch.float64)
