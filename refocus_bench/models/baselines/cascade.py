"""Refocusing by cascade: any deblur model from the registry, then any bokeh model.

``refocus(x, depth, ...) = bokeh_model.bokeh(deblur_model.deblur(x), depth, ...)``: GenRefocus's
two-stage structure with interchangeable stages. The cascade also exposes its stages' own tasks,
so ``cascade.deblur`` is the deblur stage and ``cascade.bokeh`` the bokeh stage, and runs
``lens-to-lens`` through the same stages (:func:`~refocus_bench.models.baselines.lens_cascade.lens_cascade`:
the matte as a two-plane scene, each lens's blur from its f-number).

Example:
    >>> import torch
    >>> m = Cascade(deblur="identity", bokeh="bokeh.gaussian")
    >>> x, z = torch.rand(1, 3, 16, 16), torch.full((1, 1, 16, 16), 3.0)
    >>> out = m.refocus(x, z, focus_distance_m=1.0, k_px_m=2.0)
    >>> bool(torch.allclose(out, m.bokeh_model.bokeh(x, z, focus_distance_m=1.0, k_px_m=2.0)))
    True
"""

from __future__ import annotations

from typing import Any

import torch

from ...errors import check
from ...tasks import LensToLensCondition
from ..base import BokehRequest, ModelCard, RefocusModel
from .lens_cascade import lens_cascade

__all__ = ["Cascade"]


class Cascade(RefocusModel):
    """Deblur stage + bokeh stage, each any registered model supporting that task.

    Args:
        deblur: registry name of the deblur stage (default ``deblur.wiener``).
        bokeh: registry name of the bokeh stage (default ``bokeh.layered``).
        deblur_kwargs, bokeh_kwargs: constructor arguments of the stages.
    """

    card = ModelCard(
        name="refocus.cascade",
        tasks=("deblur", "bokeh", "refocus", "lens-to-lens"),
        summary="deblur model -> bokeh model, any pair from the registry (lens-to-lens: matte as two planes)",
        source="refocus-bench",
        licence="Apache-2.0",
        paper="two-stage design of GenRefocus (arXiv 2512.16923)",
        input_contract="defocused sRGB (B, 3, H, W) + depth + new focus/K/aperture, or + lenses, disparity and "
        "matte (lens-to-lens); the stages' contracts apply",
    )

    def __init__(
        self,
        deblur: str = "deblur.wiener",
        bokeh: str = "bokeh.layered",
        deblur_kwargs: dict[str, Any] | None = None,
        bokeh_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        from .. import create_model

        check(deblur != "refocus.cascade" and bokeh != "refocus.cascade", "a cascade cannot contain itself")
        self.deblur_model = create_model(deblur, **(deblur_kwargs or {}))
        self.bokeh_model = create_model(bokeh, **(bokeh_kwargs or {}))
        check(
            "deblur" in self.deblur_model.tasks,
            lambda: f"deblur stage {deblur!r} does not support 'deblur' (tasks {list(self.deblur_model.tasks)})",
        )
        check(
            "bokeh" in self.bokeh_model.tasks,
            lambda: f"bokeh stage {bokeh!r} does not support 'bokeh' (tasks {list(self.bokeh_model.tasks)})",
        )

    @property
    def name(self) -> str:
        return self.registry_name or f"{self.card.name}({self.deblur_model.name}->{self.bokeh_model.name})"

    def config(self) -> dict:
        return {
            "deblur": self.deblur_model.name,
            "bokeh": self.bokeh_model.name,
            "deblur_kwargs": self.deblur_model.config(),
            "bokeh_kwargs": self.bokeh_model.config(),
        }

    @classmethod
    def dummy_kwargs(cls) -> dict:
        return {"deblur": "deblur.unsharp", "bokeh": "bokeh.gaussian"}

    def _deblur(self, image: torch.Tensor, coc_px: torch.Tensor | None) -> torch.Tensor:
        return self.deblur_model.deblur(image, coc_px=coc_px)

    def _bokeh(self, image: torch.Tensor, req: BokehRequest) -> torch.Tensor:
        return self.bokeh_model.bokeh(
            image, req.depth_m, focus_distance_m=req.focus_distance_m, k_px_m=req.k_px_m, aperture=req.aperture
        )

    def _refocus(self, image: torch.Tensor, req: BokehRequest, input_coc_px: torch.Tensor | None) -> torch.Tensor:
        return self._bokeh(self._deblur(image, input_coc_px), req)

    def _lens_to_lens(self, image: torch.Tensor, cond: LensToLensCondition) -> torch.Tensor:
        return lens_cascade(image, cond, deblur=self._deblur, bokeh=self._bokeh)
