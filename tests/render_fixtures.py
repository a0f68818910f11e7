"""Helpers for the renderer tests: small RGB-D scenes with a known answer."""

from __future__ import annotations

import torch


def disc_over_two_tones(size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """A grey disc (radius 14 px, CoC -10 px) over a sharp background, dark (0.1) on the left half and bright
    (0.9) on the right: ``(image (1, 3, size, size) sRGB, coc (1, 1, size, size) px)``, float64. What the disc's
    blur uncovers just inside its top edge is the half next to it."""
    image = torch.full((1, 3, size, size), 0.1, dtype=torch.float64)
    image[..., size // 2 :] = 0.9
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disc = ((yy - size // 2) ** 2 + (xx - size // 2) ** 2) <= 14**2
    image[..., disc] = 0.5
    return image, torch.where(disc, -10.0, 0.0)[None, None].double()
