"""Model cards, the bokeh request and the base class every refocusing model derives from.

The bokeh request (:class:`BokehRequest`, :func:`make_bokeh_request`) is defined with the blur
specification in :mod:`refocus_bench.simulators.render.blur_spec` and re-exported here.

Four tasks (a model declares the ones it supports in its card; :mod:`refocus_bench.tasks` defines them):

* ``deblur``  - blurry sRGB image -> all-in-focus (AIF) sRGB image;
* ``bokeh``   - AIF image + depth + focus + blur strength (``K`` or a :class:`ThinLens`) + aperture
  -> an image with defocus blur;
* ``refocus`` - a defocused image + depth -> the same scene with a new focus plane / aperture;
* ``lens-to-lens`` (method ``lens_to_lens``) - a photo of one lens + both lenses + the dataset's
  ``disparity`` + the foreground matte -> the photo of the other lens
  (:class:`~refocus_bench.tasks.LensToLensCondition`).

Contracts at every public boundary: images are float (B, 3, H, W) sRGB in [0, 1]; depth is
(B, 1, H, W) metres (> 0, ``inf`` allowed); a signed circle-of-confusion radius is in pixels,
positive behind the focus plane; ``K`` (``k_px_m``) is the blur gain in pixel-metres of
:mod:`refocus_bench.optics` (``coc = K (1/s - 1/z)``); ``focus_distance_m`` and ``k_px_m`` are
scalars or (B,) tensors. Subclasses implement ``_deblur`` / ``_bokeh`` / ``_refocus`` / ``_lens_to_lens`` on inputs
that were already checked; the public methods validate first and raise typed errors.

Example:
    >>> import torch
    >>> from refocus_bench.models import create_model
    >>> m = create_model("identity")
    >>> m.deblur(torch.rand(1, 3, 8, 8)).shape
    torch.Size([1, 3, 8, 8])
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import check, check_tensor
from ..optics import ThinLens
from ..simulators.render.apertures import Aperture
from ..simulators.render.blur_spec import BokehRequest, make_bokeh_request
from ..tasks import LensToLensCondition, NamedLens, task_method
from .card import LOCATIONS, ModelCard, WeightsFile  # noqa: F401  (LOCATIONS: re-exported)

__all__ = [
    "WeightsFile",
    "ModelCard",
    "BokehRequest",
    "make_bokeh_request",
    "check_image",
    "make_lens_condition",
    "RefocusModel",
]


def check_image(image: Any, name: str = "image") -> dict[str, int]:
    """Check an sRGB float image (B, 3, H, W) in [0, 1]; returns the bound sizes."""
    return check_tensor(image, name, ["B", 3, "H", "W"], min_value=0.0, max_value=1.0)


def make_lens_condition(image: Any, *, src_lens: Any, tgt_lens: Any, disparity: Any, alpha: Any) -> LensToLensCondition:
    """Checked :class:`~refocus_bench.tasks.LensToLensCondition` for ``image`` (B, 3, H, W).

    ``disparity`` becomes a float64 (B,) tensor on the image's device; ``alpha`` must be (B, 1, H, W)
    in [0, 1] with the image's B, H and W.

    Raises:
        InvalidInputError: an unparsable lens name, a negative or non-finite disparity, a matte of
            another size or range; the message names the argument.
    """
    sizes = check_image(image)
    src = NamedLens.parse(src_lens, where="src_lens")
    tgt = NamedLens.parse(tgt_lens, where="tgt_lens")
    check_tensor(alpha, "alpha", [sizes["B"], 1, sizes["H"], sizes["W"]], min_value=0.0, max_value=1.0)
    d = torch.as_tensor(disparity, dtype=torch.float64, device=image.device).reshape(-1)
    check(
        d.numel() in (1, sizes["B"]) and bool(torch.isfinite(d).all()) and bool((d >= 0).all()),
        lambda: f"disparity must be a finite value >= 0 or one per sample ({sizes['B']}), got {disparity!r}",
    )
    return LensToLensCondition(src, tgt, d.expand(sizes["B"]), alpha)


# -- base class -----------------------------------------------------------------------------------
class RefocusModel(nn.Module):
    """Base class: validation, task dispatch, configuration for save/load.

    Subclasses set ``card`` and implement the ``_task`` methods they support. ``config()``
    returns the JSON-serialisable constructor arguments that re-create the model (weights are
    restored from ``state_to_save()``); ``dummy_kwargs()`` builds a tiny offline instance for the
    registry-driven conformance tests.
    """

    card: ClassVar[ModelCard]
    registry_name: str | None = None

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.card.tasks

    @property
    def name(self) -> str:
        return self.registry_name or self.card.name

    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-serialisable) that re-create this model."""
        return {}

    @classmethod
    def dummy_kwargs(cls) -> dict[str, Any]:
        """Constructor arguments of a tiny, offline, randomly initialised instance (for tests)."""
        return {}

    def state_to_save(self) -> dict[str, torch.Tensor]:
        """Tensors written by :func:`~refocus_bench.models.save_model` (default: the state dict)."""
        return {k: v.detach().contiguous() for k, v in self.state_dict().items()}

    def load_saved_state(self, tensors: dict[str, torch.Tensor]) -> None:
        """Inverse of :meth:`state_to_save`."""
        self.load_state_dict(tensors, strict=True)

    def _require(self, task: str) -> None:
        check(
            task in self.tasks,
            lambda: f"model {self.name!r} does not support task {task!r}; it supports {list(self.tasks)}",
        )

    # -- public, checked entry points --------------------------------------------------------------
    @torch.no_grad()
    def deblur(self, image: torch.Tensor, *, coc_px: torch.Tensor | None = None) -> torch.Tensor:
        """All-in-focus estimate of a blurry sRGB image (B, 3, H, W) in [0, 1].

        ``coc_px`` (B, 1, H, W), the signed CoC of the input in pixels, is an optional oracle hint;
        models that do not use it ignore it.
        """
        self._require("deblur")
        sizes = check_image(image)
        if coc_px is not None:
            check_tensor(coc_px, "coc_px", [sizes["B"], 1, sizes["H"], sizes["W"]])
        return self._finish(self._deblur(image, coc_px), image)

    @torch.no_grad()
    def bokeh(
        self,
        image: torch.Tensor,
        depth_m: torch.Tensor,
        *,
        focus_distance_m: float | torch.Tensor | None = None,
        k_px_m: float | torch.Tensor | None = None,
        lens: ThinLens | None = None,
        aperture: str | Aperture | torch.Tensor = "disk",
    ) -> torch.Tensor:
        """Render defocus blur on an all-in-focus sRGB image; see :func:`make_bokeh_request`."""
        self._require("bokeh")
        req = make_bokeh_request(
            image, depth_m, focus_distance_m=focus_distance_m, k_px_m=k_px_m, lens=lens, aperture=aperture
        )
        return self._finish(self._bokeh(image, req), image)

    @torch.no_grad()
    def refocus(
        self,
        image: torch.Tensor,
        depth_m: torch.Tensor,
        *,
        focus_distance_m: float | torch.Tensor | None = None,
        k_px_m: float | torch.Tensor | None = None,
        lens: ThinLens | None = None,
        aperture: str | Aperture | torch.Tensor = "disk",
        input_coc_px: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Re-render a defocused sRGB image with a new focus plane, blur strength and aperture.

        ``input_coc_px`` (B, 1, H, W) is an optional oracle of the input's own signed CoC (px).
        """
        self._require("refocus")
        req = make_bokeh_request(
            image, depth_m, focus_distance_m=focus_distance_m, k_px_m=k_px_m, lens=lens, aperture=aperture
        )
        if input_coc_px is not None:
            check_tensor(input_coc_px, "input_coc_px", [image.shape[0], 1, *image.shape[-2:]])
        return self._finish(self._refocus(image, req, input_coc_px), image)

    @torch.no_grad()
    def lens_to_lens(
        self,
        image: torch.Tensor,
        *,
        src_lens: str | NamedLens,
        tgt_lens: str | NamedLens,
        disparity: float | torch.Tensor,
        alpha: torch.Tensor,
    ) -> torch.Tensor:
        """The source-lens photo (B, 3, H, W) sRGB as the target lens would render it.

        Args:
            image: the source photo, sRGB in [0, 1], (B, 3, H, W).
            src_lens, tgt_lens: lens names (``"Sony50mmf1.8BS"``) or :class:`~refocus_bench.tasks.NamedLens`.
            disparity: the dataset's blur-strength indicator (>= 0, finite), a float or a (B,) tensor.
            alpha: foreground matte (B, 1, H, W) in [0, 1], 1 = the in-focus subject.
        """
        self._require("lens-to-lens")
        cond = make_lens_condition(image, src_lens=src_lens, tgt_lens=tgt_lens, disparity=disparity, alpha=alpha)
        return self._finish(self._lens_to_lens(image, cond), image)

    def forward(self, image: torch.Tensor, task: str | None = None, **kwargs: Any) -> torch.Tensor:
        """Dispatch to ``task`` (default: the model's first task)."""
        return getattr(self, task_method(task or self.tasks[0]))(image, **kwargs)

    # -- to implement ------------------------------------------------------------------------------
    def _deblur(self, image: torch.Tensor, coc_px: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def _bokeh(self, image: torch.Tensor, req: BokehRequest) -> torch.Tensor:
        raise NotImplementedError

    def _refocus(self, image: torch.Tensor, req: BokehRequest, input_coc_px: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def _lens_to_lens(self, image: torch.Tensor, cond: LensToLensCondition) -> torch.Tensor:
        raise NotImplementedError

    @staticmethod
    def _finish(out: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        check(
            out.shape == image.shape, lambda: f"model returned shape {tuple(out.shape)} for input {tuple(image.shape)}"
        )
        return out.to(image.dtype).clamp(0.0, 1.0)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, tasks={list(self.tasks)}"
