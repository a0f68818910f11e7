"""The refocusing tasks and the interfaces a model implements for each: defined here, once.

* ``deblur``  - a blurry sRGB image (B, 3, H, W) in [0, 1] -> its all-in-focus (AIF) sRGB image;
* ``bokeh``   - an AIF sRGB image + depth (B, 1, H, W) in metres + a focus plane + a blur strength
  (GenRefocus's ``K`` in pixel-metres, or a thin lens) + an aperture -> an image with defocus blur;
* ``refocus`` - a defocused sRGB image + depth -> the same scene with a new focus plane / aperture;
* ``lens-to-lens`` - a photo rendered with one lens -> the same scene with another lens (NTIRE 2023
  Bokeh Effect Transformation), given the :class:`LensToLensCondition`: both lenses (:class:`NamedLens`,
  names like ``Sony50mmf1.8BS``), the dataset's blur-strength indicator ``disparity`` and the
  foreground alpha matte. No depth: the matte separates the in-focus subject from the background.

Models declare the tasks they support (:class:`refocus_bench.models.ModelCard`), benchmarks the one
they score, training pairs the ones they serve and result records the one they were scored on; all
of them check against :data:`TASKS`.

Example:
    >>> from refocus_bench.tasks import TASKS, check_task
    >>> TASKS
    ('deblur', 'bokeh', 'refocus', 'lens-to-lens')
    >>> check_task("bokeh")
    'bokeh'
    >>> task_method("lens-to-lens")
    'lens_to_lens'
    >>> NamedLens.parse("Canon50mmf16BS")
    NamedLens(name='Canon50mmf16BS', maker='Canon', focal_mm=50.0, f_number=16.0, tag='BS')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .errors import InvalidInputError, check

__all__ = [
    "TASKS",
    "PAIR_TASKS",
    "check_task",
    "task_method",
    "NamedLens",
    "LensToLensCondition",
    "Deblurrer",
    "BokehRenderer",
    "Refocuser",
    "LensTransformer",
]

TASKS = ("deblur", "bokeh", "refocus", "lens-to-lens")
"""Every task name, in the order of the flow (deblur, then re-render bokeh, both at once, lens to lens)."""

PAIR_TASKS = ("deblur", "bokeh", "refocus")
"""The tasks the simulator's training pairs serve (``make-pairs``): a lens-to-lens tuple needs two named
lenses and a matte, which the pair generator does not draw."""


def check_task(task: str, name: str = "task") -> str:
    """``task`` if it is one of :data:`TASKS`; else ``InvalidInputError`` naming ``name``."""
    check(task in TASKS, lambda: f"{name} must be one of {', '.join(TASKS)}, got {task!r}")
    return task


def task_method(task: str) -> str:
    """The model method that runs ``task``: the name with ``-`` as ``_`` (``lens-to-lens`` -> ``lens_to_lens``)."""
    return check_task(task).replace("-", "_")


_LENS_NAME = re.compile(r"^(?P<maker>[A-Za-z]+)(?P<focal>\d+(?:\.\d+)?)mmf(?P<fnum>\d+(?:\.\d+)?)(?P<tag>[A-Za-z]*)$")


@dataclass(frozen=True)
class NamedLens:
    """A lens as the NTIRE 2023 Bokeh Effect Transformation data name it: ``<Maker><f>mmf<N>[tag]``.

    Spellings seen in the challenge's ``meta.txt`` files: ``Sony50mmf1.8BS``, ``Sony50mmf16.0BS``,
    ``Canon50mmf16BS``, ``Canon50mmf1.4BS`` (so ``f16`` and ``f16.0`` are the same f-number).

    Attributes:
        name: the name as written.
        maker: ``"Sony"``, ``"Canon"`` ... (the lens type; SBTNet, a challenge entry, feeds it as a flag).
        focal_mm: focal length, millimetres.
        f_number: f-number N.
        tag: the letters after N; every published name ends in ``"BS"``, read as *bokeh simulated*
            (the starter code does not define it; the real captures of the test phase carry it too).
    """

    name: str
    maker: str
    focal_mm: float
    f_number: float
    tag: str = ""

    @property
    def bokeh_simulated(self) -> bool:
        """Whether the name carries the ``BS`` tag."""
        return self.tag == "BS"

    @classmethod
    def parse(cls, name: Any, *, where: str = "lens") -> NamedLens:
        """``NamedLens`` of ``name`` (a :class:`NamedLens` passes through).

        Raises:
            InvalidInputError: ``name`` does not read ``<Maker><f>mmf<N>[tag]`` with f, N > 0; the message
                starts with ``where`` (a file and line, or an argument name).
        """
        if isinstance(name, NamedLens):
            return name
        m = _LENS_NAME.match(name) if isinstance(name, str) else None
        if m is None or float(m["focal"]) <= 0 or float(m["fnum"]) <= 0:
            raise InvalidInputError(
                f"{where}: lens name {name!r} is not <Maker><focal>mmf<f-number>[tag] with focal length and "
                "f-number > 0 (e.g. 'Sony50mmf1.8BS', 'Canon50mmf16BS')"
            )
        return cls(name, m["maker"], float(m["focal"]), float(m["fnum"]), m["tag"])

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "maker": self.maker,
            "focal_mm": self.focal_mm,
            "f_number": self.f_number,
            "tag": self.tag,
            "bokeh_simulated": self.bokeh_simulated,
        }


@dataclass(frozen=True)
class LensToLensCondition:
    """What a ``lens-to-lens`` model is told besides the source image (sRGB [0, 1], (B, 3, H, W)).

    Attributes:
        src_lens: the lens the source image was rendered or shot with.
        tgt_lens: the lens whose rendering of the same scene is wanted.
        disparity: the dataset's blur-strength indicator, as given in ``meta.txt`` (unitless; the
            challenge's starter code calls it "disparity (as an indicator for blur strength)" and
            publishes no conversion to pixels), a float or a (B,) tensor.
        alpha: the foreground matte, (B, 1, H, W) in [0, 1] (1 = the in-focus subject).
    """

    src_lens: NamedLens
    tgt_lens: NamedLens
    disparity: Any
    alpha: Any


# Structural interfaces (typing Protocols) of the tasks: ``isinstance(model, Deblurrer)``.
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


@runtime_checkable
class LensTransformer(Protocol):
    """``lens_to_lens(image, src_lens=, tgt_lens=, disparity=, alpha=) -> image`` (see :class:`LensToLensCondition`)."""

    def lens_to_lens(self, image: Any, **condition: Any) -> Any: ...
