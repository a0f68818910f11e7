"""FLUX's latent packing: 2x2 latent patches as tokens (the layout of ``FluxPipeline._pack_latents``).

Shapes: latents (B, C, h, w) with even h, w (VAE latent grid); tokens (B, h/2 * w/2, 4C), row-major
over the (h/2, w/2) token grid.

Example:
    >>> import torch
    >>> x = torch.arange(32.0).reshape(1, 2, 4, 4)
    >>> torch.equal(unpack(pack(x), 4, 4), x)
    True
"""

from __future__ import annotations

import torch

__all__ = ["pack", "unpack"]


def pack(latents: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) -> (B, h/2 * w/2, 4C): 2x2 patches as tokens, row-major (FLUX layout)."""
    b, c, h, w = latents.shape
    x = latents.reshape(b, c, h // 2, 2, w // 2, 2).permute(0, 2, 4, 1, 3, 5)
    return x.reshape(b, (h // 2) * (w // 2), c * 4)


def unpack(tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`pack` for a latent of size (h, w)."""
    b, _, d = tokens.shape
    c = d // 4
    x = tokens.reshape(b, h // 2, w // 2, c, 2, 2).permute(0, 3, 1, 4, 2, 5)
    return x.reshape(b, c, h, w)
