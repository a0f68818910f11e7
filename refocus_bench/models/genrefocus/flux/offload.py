"""Memory options for smaller GPUs: keep the weights in CPU memory and bring them to the GPU in pieces.

``offload`` (:data:`OFFLOADS`), applied to every component of the pipeline (transformer, VAE, both
text encoders) with diffusers' group offloading (``diffusers.hooks.apply_group_offloading``, no
``accelerate`` needed):

* ``None`` - everything on ``device`` (fastest; FLUX.1-dev in bfloat16 needs about 33 GB);
* ``"model"`` - block-level groups: one top-level block of a component on the GPU at a time;
* ``"sequential"`` - leaf-level groups: one layer at a time (least memory, slowest).

The numbers do not change: the same layers run in the same order on the same device. The sampler
computes on ``device`` (its ``execution_device``) while the weights live on the CPU.

Example:
    >>> OFFLOADS
    (None, 'model', 'sequential')
"""

from __future__ import annotations

import torch

__all__ = ["OFFLOADS", "apply_offload"]

OFFLOADS = (None, "model", "sequential")
_TYPES = {"model": "block_level", "sequential": "leaf_level"}


def apply_offload(sampler, offload: str | None, device: torch.device) -> None:
    """Place ``sampler``'s components on ``device`` (``offload=None``) or offload them to the CPU."""
    if offload is None:
        sampler.pipe.to(device)
        return
    from diffusers.hooks import apply_group_offloading

    for module in (sampler.transformer, sampler.vae, sampler.text_encoder, sampler.text_encoder_2):
        module.to("cpu")
        kw = {"num_blocks_per_group": 1} if offload == "model" else {}
        apply_group_offloading(module, onload_device=device, offload_device="cpu", offload_type=_TYPES[offload], **kw)
    sampler.execution_device = device
