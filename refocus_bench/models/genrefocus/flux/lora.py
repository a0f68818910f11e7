"""LoRA adapters that act on *condition tokens only* (OminiControl style), and their safetensors I/O.

A :class:`GatedLoRALinear` wraps one ``nn.Linear`` of the FLUX transformer and holds any number of
named adapters (``deblur``, ``bokeh``); one is active at a time. Its output is
``base(x) + gate * scale * B(A(x))`` where ``gate`` is set by the caller before each use: a scalar
(0 or 1) for per-branch calls such as the AdaLN modulation, or a per-token tensor (1, N, 1) that is 1
on condition tokens and 0 on text and image tokens. So the released adapters change how conditions
are encoded while the generated image branch runs the untouched base model.

Released GenRefocus LoRAs (``deblurNet.safetensors``, ``deblurNet_with_pre_deblur.safetensors``,
``bokehNet.safetensors``) use the diffusers/PEFT key layout ``transformer.<module>.lora_A.weight`` /
``.lora_B.weight``. The release switches adapters with OminiControl's ``specify_lora``, which sets the
PEFT scaling of the active adapter to exactly 1 on condition tokens: whatever ``alpha`` or rank a file
states (``<module>.alpha`` tensors, ``lora_adapter_metadata``), the scale is 1. Files may carry those
keys; they are read and ignored.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import torch
from torch import nn

from ....errors import InvalidInputError, check

__all__ = [
    "GatedLoRALinear",
    "DEFAULT_TARGETS",
    "inject_lora",
    "install_adapter",
    "lora_modules",
    "set_gate",
    "set_active",
    "parse_lora_state",
    "read_lora_file",
    "adapter_state",
]

DEFAULT_TARGETS = (
    "x_embedder",
    "norm1.linear",
    "attn.to_q",
    "attn.to_k",
    "attn.to_v",
    "attn.to_out.0",
    "ff.net.2",  # double-stream blocks
    "norm.linear",
    "proj_mlp",
    "proj_out",  # single-stream blocks (proj_out of a block, not the final one)
)
"""Module-name suffixes that carry LoRA in OminiControl-style adapters."""


class GatedLoRALinear(nn.Module):
    """``nn.Linear`` plus named low-rank adapters, gated per token.

    Args:
        base: the wrapped linear layer (kept frozen).
    """

    def __init__(self, base: nn.Linear) -> None:
        super().__init__()
        self.base = base
        # low-rank factors as nn.Linear modules (PEFT layout), so that per-module hooks (diffusers'
        # sequential CPU offload) see them
        self.lora_A = nn.ModuleDict()
        self.lora_B = nn.ModuleDict()
        self.scales: dict[str, float] = {}
        self.active: str | None = None
        self.gate: float | torch.Tensor = 0.0

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    @property
    def weight(self) -> torch.Tensor:
        return self.base.weight

    @property
    def bias(self) -> torch.Tensor | None:
        return self.base.bias

    def add_adapter(self, name: str, a: torch.Tensor, b: torch.Tensor, scale: float = 1.0) -> None:
        """Add adapter ``name`` with down-projection ``a`` (r, in) and up-projection ``b`` (out, r)."""
        check(
            a.ndim == 2 and b.ndim == 2 and a.shape[0] == b.shape[1],
            lambda: f"LoRA {name}: shapes {tuple(a.shape)} and {tuple(b.shape)} do not chain",
        )
        check(
            a.shape[1] == self.in_features and b.shape[0] == self.out_features,
            lambda: f"LoRA {name}: shapes {tuple(a.shape)}, {tuple(b.shape)} "
            f"do not fit a {self.in_features}->{self.out_features} layer",
        )
        w = self.base.weight
        down, up = nn.Linear(a.shape[1], a.shape[0], bias=False), nn.Linear(b.shape[1], b.shape[0], bias=False)
        down.weight = nn.Parameter(a.to(device=w.device, dtype=w.dtype), requires_grad=False)
        up.weight = nn.Parameter(b.to(device=w.device, dtype=w.dtype), requires_grad=False)
        self.lora_A[name], self.lora_B[name] = down, up
        self.scales[name] = float(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        name, gate = self.active, self.gate
        if name is None or name not in self.lora_A or (not isinstance(gate, torch.Tensor) and gate == 0):
            return y
        delta = self.lora_B[name](self.lora_A[name](x))
        return y + delta * (self.scales[name] * gate)


def _matches(name: str, targets: tuple[str, ...]) -> bool:
    if name in ("proj_out", "norm_out.linear"):  # the final projection belongs to the image branch only
        return False
    return any(name == t or name.endswith("." + t) for t in targets)


def inject_lora(
    transformer: nn.Module, module_names: list[str] | None = None, targets: tuple[str, ...] = DEFAULT_TARGETS
) -> list[str]:
    """Wrap the named linear layers (default: every ``targets`` match) in :class:`GatedLoRALinear`.

    Returns the wrapped module names. Layers already wrapped are left as they are.
    """
    names = (
        module_names
        if module_names is not None
        else [n for n, m in transformer.named_modules() if isinstance(m, nn.Linear) and _matches(n, targets)]
    )
    wrapped = []
    for name in names:
        parent_name, _, attr = name.rpartition(".")
        parent = transformer.get_submodule(parent_name) if parent_name else transformer
        child = getattr(parent, attr) if not attr.isdigit() else parent[int(attr)]
        if isinstance(child, GatedLoRALinear):
            wrapped.append(name)
            continue
        check(isinstance(child, nn.Linear), lambda: f"LoRA target {name!r} is a {type(child).__name__}, not nn.Linear")
        new = GatedLoRALinear(child)
        if attr.isdigit():
            parent[int(attr)] = new
        else:
            setattr(parent, attr, new)
        wrapped.append(name)
    return wrapped


def install_adapter(
    transformer: nn.Module, stage: str, adapter: dict[str, tuple[torch.Tensor, torch.Tensor, float]], source: str
) -> None:
    """Check adapter ``stage`` against ``transformer`` (clear errors naming ``source``), then install it.

    Nothing is changed when a check fails: unknown target modules, targets that are not linear
    layers, or factors whose sizes do not fit the layer (a LoRA made for another base model).
    """
    known = dict(transformer.named_modules())
    unknown = [m for m in adapter if m not in known]
    check(
        not unknown,
        lambda: f"{source}: LoRA targets {unknown[:4]} are not modules of this FLUX transformer "
        f"({len(unknown)} of {len(adapter)} unknown); is the file for another base model?",
    )
    for name, (a, b, _) in adapter.items():
        mod = known[name]
        base = mod.base if isinstance(mod, GatedLoRALinear) else mod
        check(
            isinstance(base, nn.Linear),
            lambda: f"{source}: LoRA target {name!r} is a {type(base).__name__}, not a linear layer",
        )
        check(
            a.ndim == 2
            and b.ndim == 2
            and a.shape[0] == b.shape[1]
            and a.shape[1] == base.in_features
            and b.shape[0] == base.out_features,
            lambda: f"{source}: LoRA factors {tuple(a.shape)} x {tuple(b.shape)} for {name!r} do not fit its "
            f"{base.in_features}->{base.out_features} layer; the file was made for a base model of another size",
        )
    inject_lora(transformer, list(adapter))
    for name, (a, b, scale) in adapter.items():
        transformer.get_submodule(name).add_adapter(stage, a, b, scale)


def lora_modules(module: nn.Module) -> Iterator[GatedLoRALinear]:
    for m in module.modules():
        if isinstance(m, GatedLoRALinear):
            yield m


def set_gate(module: nn.Module, gate: float | torch.Tensor) -> None:
    """Set the gate of every LoRA layer inside ``module`` (scalar, or a (1, N, 1) token mask)."""
    for m in lora_modules(module):
        m.gate = gate


def set_active(module: nn.Module, name: str | None) -> None:
    """Activate adapter ``name`` (or none) in every LoRA layer inside ``module``."""
    for m in lora_modules(module):
        m.active = name


def parse_lora_state(
    tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None, source: str = "LoRA file"
) -> dict[str, tuple[torch.Tensor, torch.Tensor, float]]:
    """Map ``{module: (A, B, 1.0)}`` from diffusers/PEFT (``lora_A``/``lora_B``) or kohya-style keys.

    The scale is 1 for every module, as the release applies it (module docstring); ``.alpha`` keys
    and ``metadata`` are accepted and ignored. ``source`` names the file in error messages.
    """
    del metadata  # alpha / rank never changes the release's scale
    down, up = {}, {}
    for key, t in tensors.items():
        k = key
        for prefix in ("transformer.", "base_model.model.", "diffusion_model."):
            if k.startswith(prefix):
                k = k[len(prefix) :]
        for tag, store in (
            (".lora_A.weight", down),
            (".lora_down.weight", down),
            (".lora_B.weight", up),
            (".lora_up.weight", up),
        ):
            if k.endswith(tag):
                store[k[: -len(tag)]] = t
                break
        else:
            if not k.endswith(".alpha"):
                raise InvalidInputError(
                    f"{source}: unrecognised LoRA key {key!r}: expected "
                    "'transformer.<module>.lora_A.weight' / '.lora_B.weight' (diffusers/PEFT layout)"
                )
    check(
        down.keys() == up.keys(),
        lambda: f"{source}: LoRA file is incomplete: A without B for {sorted(set(down) ^ set(up))[:5]}",
    )
    check(bool(down), lambda: f"{source}: LoRA file holds no adapters")
    return {m: (down[m], up[m], 1.0) for m in sorted(down)}


def read_lora_file(path: str | os.PathLike[str]) -> dict[str, tuple[torch.Tensor, torch.Tensor, float]]:
    """Read a LoRA safetensors file (never pickle) and parse it with :func:`parse_lora_state`."""
    from safetensors import safe_open

    from ...weights import load_safetensors

    tensors = load_safetensors(path, model="genrefocus.flux")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    return parse_lora_state(tensors, meta, source=str(path))


def adapter_state(transformer: nn.Module, name: str) -> dict[str, torch.Tensor]:
    """Adapter ``name`` in diffusers/PEFT layout (``<module>.lora_A.weight``, ``.lora_B.weight``)."""
    out = {}
    for mod_name, m in transformer.named_modules():
        if isinstance(m, GatedLoRALinear) and name in m.lora_A:
            out[f"{mod_name}.lora_A.weight"] = m.lora_A[name].weight.detach().contiguous()
            out[f"{mod_name}.lora_B.weight"] = m.lora_B[name].weight.detach().contiguous()
    return out
