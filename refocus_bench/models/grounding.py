"""Grounding models for focus-by-text: ``(image, text) -> mask`` of the named object.

:mod:`refocus_bench.models.focus` takes any callable with that signature; this module registers the
built-in ones, registered lazily in :data:`~refocus_bench.models.focus.GROUNDERS`:

* ``owlv2``: OWLv2 open-vocabulary detection through ``transformers`` (``Owlv2ForObjectDetection``)
  from a local model folder (``config.json``, ``*.safetensors`` and the CLIP tokenizer files), by
  default ``$REFOCUS_BENCH_HOME/weights/models/owlv2-base-patch16-ensemble``. The image is padded to a
  square at the bottom/right with black, resized to the model's input size and normalised with the
  CLIP mean/std (the ``transformers`` processor's steps); the highest-scoring box for the text
  becomes the mask. Below ``threshold`` the mask is empty, which focus selection reports clearly.

Masks are (B, 1, H, W) float in {0, 1} at the image's size.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import check
from .base import check_image
from .depth import load_hf_folder

__all__ = ["OwlV2Grounder", "boxes_to_mask"]

_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def boxes_to_mask(boxes: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """(B, 4) boxes ``(x0, y0, x1, y1)`` in pixels -> (B, 1, H, W) masks of the pixels whose centres are inside."""
    ys = torch.arange(h, dtype=boxes.dtype, device=boxes.device)[:, None] + 0.5
    xs = torch.arange(w, dtype=boxes.dtype, device=boxes.device)[None, :] + 0.5
    x0, y0, x1, y1 = (boxes[:, i, None, None] for i in range(4))
    return ((xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)).float()[:, None]


class OwlV2Grounder(nn.Module):
    """OWLv2 text-conditioned detector -> box mask.

    Args:
        weights: local model folder (default ``$REFOCUS_BENCH_HOME/weights/models/owlv2-base-patch16-ensemble``).
        model, tokenizer: already built objects (override ``weights``; tests use tiny random ones).
        threshold: minimum sigmoid score of the best box; below it the mask is empty.
    """

    folder = "owlv2-base-patch16-ensemble"

    def __init__(
        self,
        weights: str | os.PathLike[str] | None = None,
        model: nn.Module | None = None,
        tokenizer: Any = None,
        threshold: float = 0.1,
    ) -> None:
        super().__init__()
        check(0.0 <= threshold <= 1.0, lambda: f"threshold must be in [0, 1], got {threshold}")
        if model is None:
            import transformers

            model = load_hf_folder(transformers.Owlv2ForObjectDetection, weights, self.folder, "owlv2")
            if tokenizer is None:
                tokenizer = transformers.AutoTokenizer.from_pretrained(model.name_or_path, local_files_only=True)
        check(tokenizer is not None, "owlv2 needs a tokenizer when a model object is passed")
        self.net, self.tokenizer, self.threshold = model.eval(), tokenizer, float(threshold)
        self.size = int(model.config.vision_config.image_size)

    @torch.no_grad()
    def forward(self, image: torch.Tensor, text: str) -> torch.Tensor:
        sizes = check_image(image)
        check(isinstance(text, str) and text.strip(), "text must be a non-empty string")
        b, h, w = sizes["B"], sizes["H"], sizes["W"]
        s = max(h, w)
        x = F.pad(image.float(), (0, s - w, 0, s - h), value=0.0)
        x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        mean = torch.tensor(_CLIP_MEAN, device=x.device)[:, None, None]
        std = torch.tensor(_CLIP_STD, device=x.device)[:, None, None]
        tokens = self.tokenizer(
            [text] * b,
            padding="max_length",
            truncation=True,
            max_length=min(16, getattr(self.tokenizer, "model_max_length", 16)),
            return_tensors="pt",
        )
        out = self.net(
            input_ids=tokens["input_ids"], attention_mask=tokens.get("attention_mask"), pixel_values=(x - mean) / std
        )
        scores = torch.sigmoid(out.logits[..., 0])  # (B, patches): one text query per image
        best = scores.argmax(dim=1)
        box = out.pred_boxes[torch.arange(b), best] * s  # (cx, cy, w, h) in padded-square pixels
        xyxy = torch.stack(
            [
                box[:, 0] - box[:, 2] / 2,
                box[:, 1] - box[:, 3] / 2,
                box[:, 0] + box[:, 2] / 2,
                box[:, 1] + box[:, 3] / 2,
            ],
            1,
        )
        mask = boxes_to_mask(xyxy, h, w)
        keep = (scores[torch.arange(b), best] >= self.threshold).float()[:, None, None, None]
        return mask * keep
