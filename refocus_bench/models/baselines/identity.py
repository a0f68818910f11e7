"""The identity model: returns its input for every task (the floor every method must beat)."""

from __future__ import annotations

import torch

from ...tasks import LensToLensCondition
from ..base import BokehRequest, ModelCard, RefocusModel

__all__ = ["Identity"]


class Identity(RefocusModel):
    """Returns the input image unchanged: (B, 3, H, W) sRGB -> the same tensor values.

    Example:
        >>> x = torch.rand(2, 3, 8, 8)
        >>> bool(torch.equal(Identity().deblur(x), x))
        True
    """

    card = ModelCard(
        name="identity",
        tasks=("deblur", "bokeh", "refocus", "lens-to-lens"),
        summary="returns the input unchanged (lower bound)",
        source="refocus-bench",
        licence="Apache-2.0",
        paper="",
        input_contract="any size",
    )

    def _deblur(self, image: torch.Tensor, coc_px: torch.Tensor | None) -> torch.Tensor:
        return image.clone()

    def _bokeh(self, image: torch.Tensor, req: BokehRequest) -> torch.Tensor:
        return image.clone()

    def _refocus(self, image: torch.Tensor, req: BokehRequest, input_coc_px: torch.Tensor | None) -> torch.Tensor:
        return image.clone()

    def _lens_to_lens(self, image: torch.Tensor, cond: LensToLensCondition) -> torch.Tensor:
        return image.clone()
