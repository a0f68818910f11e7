"""Memory options for smaller GPUs: keep the weights in CPU memory and bring them to the GPU in pieces.

``offload`` (:data:`OFFLOADS`), the two memory modes of diffusers' ``enable_model_cpu_offload`` /
``enable_sequential_cpu_offload``, implemented here with plain torch hooks (no ``accelerate``):

* ``None`` - everything on ``device`` (fastest; FLUX.1-dev in bfloat16 holds about 33 GB);
* ``"model"`` - one component at a time on ``device`` (text encoders while the prompt is encoded, the
  VAE while it encodes or decodes, the transformer during denoising); the rest waits in CPU memory;
* ``"sequential"`` - one layer at a time: every module's own weights move to ``device`` just before
  it runs and back right after (least memory, slowest).

The numbers do not change: the same layers run in the same order on the same device.

Example:
    >>> OFFLOADS
    (None, 'model', 'sequential')
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["OFFLOADS", "Offloader", "apply_offload"]

OFFLOADS = (None, "model", "sequential")


def _to(x, device: torch.device):
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, (list, tuple)):
        return type(x)(_to(v, device) for v in x)
    if isinstance(x, dict):
        return {k: _to(v, device) for k, v in x.items()}
    return x


class Offloader:
    """Where a sampler's components live while they run (``mode`` in :data:`OFFLOADS`)."""

    def __init__(self, mode: str | None = None, device: torch.device | None = None) -> None:
        self.mode, self.device = mode, device

    @contextmanager
    def using(self, *modules: nn.Module) -> Iterator[None]:
        """Run a block with ``modules`` on the execution device (``"model"``: moved there, then back)."""
        if self.mode != "model":
            yield
            return
        for m in modules:
            m.to(self.device)
        try:
            yield
        finally:
            for m in modules:
                m.to("cpu")


def _sequential_hooks(module: nn.Module, device: torch.device) -> None:
    """Every module that owns weights or buffers brings them (and its inputs) to ``device`` while it runs."""
    for m in module.modules():
        if not any(t is not None for t in (*m._parameters.values(), *m._buffers.values())):
            continue

        def pre(mod, args, kwargs):
            for p in mod._parameters.values():
                if p is not None:
                    p.data = p.data.to(device)
            for name, b in mod._buffers.items():
                if b is not None:
                    mod._buffers[name] = b.to(device)
            return _to(args, device), _to(kwargs, device)

        def post(mod, args, kwargs, output):
            for p in mod._parameters.values():
                if p is not None:
                    p.data = p.data.to("cpu")
            for name, b in mod._buffers.items():
                if b is not None:
                    mod._buffers[name] = b.to("cpu")
            return output

        m.register_forward_pre_hook(pre, with_kwargs=True)
        m.register_forward_hook(post, with_kwargs=True)


def apply_offload(sampler, offload: str | None, device: torch.device) -> None:
    """Place ``sampler``'s components on ``device`` (``offload=None``) or offload them to the CPU."""
    if offload is None:
        sampler.pipe.to(device)
        return
    sampler.pipe.to("cpu")
    sampler.execution_device = device
    sampler.offloader = Offloader(offload, device)
    if offload == "sequential":
        for module in (sampler.transformer, sampler.vae, sampler.text_encoder, sampler.text_encoder_2):
            _sequential_hooks(module, device)
