"""The refocusing tasks and the interfaces a model implements for each: defined here, once.

* ``deblur``  - a blurry sRGB image (B, 3, H, W) in [0, 1] -> its all-in-focus (AIF) sRGB image;
* ``bokeh``   - an AIF sRGB image + depth (B, 1, H, W) in metres + a focus plane + a blur strength
  (GenRefocus's ``K`` in pixel-metres, or a thin lens) + an aperture -> an image with defocus blur;
* ``refocus`` - a defocused sRGB image + depth -> the same scene with a new focus plane / aperture.

Models declare the tasks they support (:class:`refocus_bench.models.ModelCard`), benchmarks the one
they score, training pairs the ones they serve and result records the one they were scored on; all
of them check against :data:`TASKS`.

Example:
    >>> from refocus_bench.tasks import TASKS, check_task
    >>> TASKS
    ('deblur', 'bokeh', 'refocus')
    >>> check_task("bokeh")
    'bokeh'
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from .errors import check

__all__ = ["TASKS", "check_task", "Deblurrer", "BokehRenderer", "Refocuser"]

TASKS = ("deblur", "bokeh", "refocus")
"""Every task name, in the order of the flow (deblur, then re-render bokeh, both at once)."""


def check_task(task: str, name: str = "task") -> str:
    """``task`` if it is one of :data:`TASKS`; else ``InvalidInputError`` naming ``name``."""
    check(task in TASKS, lambda: f"{name} must be one of {', '.join(TASKS)}, got {task!r}")
    return task


# Structural interfaces (typing Protocols) of the three tasks: ``isinstance(model, Deblurrer)``.
@runtime_checkable
class Deblurrer(Protocol):
    """``deblur(image, coc_px=None) -> image``: (B, 3, H, W) sRGB -> (B, 3, H, W) sRGB (AIF)."""

    def deblur(self, image: Any, *, coc_px: Any = None) -> Any: ...


@runtime_checkable
class BokehRenderer(Protocol):
    """``bokeh(aif, depth_m, focus_distance_m=, k_px_m= | lens=, aperture=) -> image``."""

    def bokeh(self, image: Any, depth_m: Any, **spec: Any) -> Any: ...


@runtime_checkable
class Refocuser(Protocol):
    """``refocus(defocused, depth_m, focus_distance_m=, k_px_m= | lens=, aperture=) -> image``."""

    def refocus(self, image: Any, depth_m: Any, **spec: Any) -> Any: ...
