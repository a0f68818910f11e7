"""Multi-branch forward of a diffusers ``FluxTransformer2DModel`` with OminiControl-style conditions.

The token sequence is ``[text, image, condition_1, ..., condition_n]``:

* condition images are VAE-encoded and packed like the image latents; each branch has its own
  position ids (normally the output's ids, optionally shifted by a ``position_delta``);
* condition branches run at timestep 0 (guidance 1): every branch gets its own AdaLN modulation;
* attention is blocked between *different* condition branches (each still sees text, image and
  itself; text and image see everything) - a boolean mask on the joint attention;
* LoRA (:mod:`.lora`) is active on condition tokens only: a per-token gate.

The blocks' own modules are reused (norms, projections, attention processors, feed-forwards); only
the wiring between them is re-written here. With no conditions this is exactly the base model's
forward (tested against ``FluxTransformer2DModel.forward``).

Shapes: image/condition tokens (B, N, C_in) packed latents; ids (N, 3); text (B, N_t, D_t);
pooled (B, D_p); timestep (B,) in [0, 1], already in the transformer's dtype (the release casts the
scheduler's timestep, then divides by 1000); guidance (B,) or None, float32 (cast here, as released).
Output (B, N, C_out).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .lora import set_gate

__all__ = ["Branch", "branch_mask", "multi_branch_forward", "latent_ids"]


@dataclass
class Branch:
    """One condition branch: packed tokens (B, N_c, C_in) and position ids (N_c, 3)."""

    tokens: torch.Tensor
    ids: torch.Tensor


def latent_ids(
    h: int, w: int, delta: tuple[float, float] = (0.0, 0.0), *, device=None, dtype=torch.float32
) -> torch.Tensor:
    """Position ids (h*w, 3) of a packed latent grid: ``[0, row + dy, col + dx]`` in row-major order."""
    rows = torch.arange(h, device=device, dtype=dtype)[:, None].expand(h, w) + delta[0]
    cols = torch.arange(w, device=device, dtype=dtype)[None, :].expand(h, w) + delta[1]
    return torch.stack([torch.zeros_like(rows), rows, cols], dim=-1).reshape(h * w, 3)


def branch_mask(n_text: int, n_image: int, n_conds: list[int], device=None) -> torch.Tensor:
    """Boolean (N, N) attention mask (True = may attend) over ``[text, image, cond_1..]``."""
    total = n_text + n_image + sum(n_conds)
    group = torch.zeros(total, dtype=torch.long, device=device)  # 0 = text or image
    start = n_text + n_image
    for i, n in enumerate(n_conds):
        group[start : start + n] = i + 1
        start += n
    gq, gk = group[:, None], group[None, :]
    return (gq == 0) | (gk == 0) | (gq == gk)


def _tokens_gate(sizes: list[int], gates: list[float], ref: torch.Tensor) -> torch.Tensor:
    return torch.cat(
        [torch.full((1, n, 1), g, dtype=ref.dtype, device=ref.device) for n, g in zip(sizes, gates)], dim=1
    )


def _per_token(vectors: list[torch.Tensor], sizes: list[int]) -> torch.Tensor:
    """Concatenate per-branch (B, D) modulation vectors expanded to their tokens: (B, N, D)."""
    return torch.cat([v[:, None, :].expand(v.shape[0], n, v.shape[-1]) for v, n in zip(vectors, sizes)], dim=1)


def _double_block(
    block: nn.Module,
    parts: list[torch.Tensor],
    txt: torch.Tensor,
    tembs: list[torch.Tensor],
    temb_txt: torch.Tensor,
    gates: list[float],
    rope,
    mask,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    sizes = [p.shape[1] for p in parts]
    normed, g_msa, sh_mlp, sc_mlp, g_mlp = [], [], [], [], []
    for x, t, g in zip(parts, tembs, gates):
        set_gate(block.norm1, g)
        n, a, b, c, d = block.norm1(x, emb=t)
        normed.append(n), g_msa.append(a), sh_mlp.append(b), sc_mlp.append(c), g_mlp.append(d)
    set_gate(block.norm1, 0.0)
    txt_n, c_msa, c_sh, c_sc, c_g = block.norm1_context(txt, emb=temb_txt)
    gate = _tokens_gate(sizes, gates, txt)
    set_gate(block.attn, gate)
    attn_out, ctx_out = block.attn(
        hidden_states=torch.cat(normed, 1), encoder_hidden_states=txt_n, attention_mask=mask, image_rotary_emb=rope
    )
    x = torch.cat(parts, 1) + _per_token(g_msa, sizes) * attn_out
    nx = block.norm2(x) * (1 + _per_token(sc_mlp, sizes)) + _per_token(sh_mlp, sizes)
    set_gate(block.ff, gate)
    x = x + _per_token(g_mlp, sizes) * block.ff(nx)
    set_gate(block, 0.0)
    txt = txt + c_msa[:, None] * ctx_out
    ntxt = block.norm2_context(txt) * (1 + c_sc[:, None]) + c_sh[:, None]
    txt = txt + c_g[:, None] * block.ff_context(ntxt)
    return list(torch.split(x, sizes, dim=1)), txt


def _single_block(
    block: nn.Module, parts: list[torch.Tensor], tembs: list[torch.Tensor], gates: list[float], rope, mask
) -> list[torch.Tensor]:
    sizes = [p.shape[1] for p in parts]
    normed, gs = [], []
    for x, t, g in zip(parts, tembs, gates):
        set_gate(block.norm, g)
        n, gt = block.norm(x, emb=t)
        normed.append(n), gs.append(gt)
    hs = torch.cat(normed, 1)
    set_gate(block, _tokens_gate(sizes, gates, hs))
    mlp = block.act_mlp(block.proj_mlp(hs))
    attn = block.attn(hidden_states=hs, attention_mask=mask, image_rotary_emb=rope)
    out = torch.cat(parts, 1) + _per_token(gs, sizes) * block.proj_out(torch.cat([attn, mlp], dim=2))
    set_gate(block, 0.0)
    return list(torch.split(out, sizes, dim=1))


def multi_branch_forward(
    transformer: nn.Module,
    latents: torch.Tensor,
    img_ids: torch.Tensor,
    conditions: list[Branch],
    text: torch.Tensor,
    txt_ids: torch.Tensor,
    pooled: torch.Tensor,
    timestep: torch.Tensor,
    guidance: torch.Tensor | None,
) -> torch.Tensor:
    """Velocity prediction for ``latents`` (B, N, C) given condition branches; see the module docstring."""
    tr = transformer
    b = latents.shape[0]
    gates = [0.0] + [1.0] * len(conditions)
    parts = []
    for x, g in zip([latents] + [c.tokens for c in conditions], gates):
        set_gate(tr.x_embedder, g)
        parts.append(tr.x_embedder(x))
    set_gate(tr.x_embedder, 0.0)
    txt = tr.context_embedder(text)
    dtype = parts[0].dtype

    def temb(t: torch.Tensor, gd: torch.Tensor | None) -> torch.Tensor:
        t = t.to(dtype) * 1000
        if gd is None or not tr.config.guidance_embeds:
            return tr.time_text_embed(t, pooled)
        return tr.time_text_embed(t, gd.to(dtype) * 1000, pooled)

    t_img = temb(timestep.expand(b), guidance.expand(b) if guidance is not None else None)
    t_cond = temb(
        torch.zeros(b, device=latents.device), torch.ones(b, device=latents.device) if guidance is not None else None
    )
    tembs = [t_img] + [t_cond] * len(conditions)
    ids = torch.cat([txt_ids, img_ids] + [c.ids for c in conditions], dim=0)
    rope = tr.pos_embed(ids)
    n_txt = txt.shape[1]
    mask = (
        branch_mask(n_txt, parts[0].shape[1], [p.shape[1] for p in parts[1:]], latents.device) if conditions else None
    )

    for block in tr.transformer_blocks:
        parts, txt = _double_block(block, parts, txt, tembs, t_img, gates, rope, mask)
    seq = [txt] + parts
    for block in tr.single_transformer_blocks:
        seq = _single_block(block, seq, [t_img] + tembs, [0.0] + gates, rope, mask)
    return tr.proj_out(tr.norm_out(seq[1], t_img))
