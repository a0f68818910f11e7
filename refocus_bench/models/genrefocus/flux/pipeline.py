"""GenRefocus sampling on FLUX components: prompts, condition encoding, flow-matching loop, tiling.

Settings of the released demo (``rayray9999/Genfocus``, facts re-implemented here):

* DeblurNet: prompt ``"a sharp photo with everything in focus"``, 28 steps, guidance 3.5, noise
  seed 42; conditions: a black image placed at position offset (0, +32) tokens and the blurry
  input at (0, 0).
* BokehNet: prompt ``"an excellent photo with a large aperture"``, 28 steps, guidance 1.0, noise
  seed 1234; conditions: the AIF image and the defocus map ``clip(|K (1/z - 1/z_f)| / 100, 0, 1)``
  repeated to 3 channels, both at (0, 0). The map is VAE-encoded as is, *without* the [-1, 1]
  rescaling images get.
* Sigmas ``linspace(1, 1/steps, steps)`` with FLUX's resolution-dependent shift.
* Tiled denoising when the latent grid has at least ``tile`` x ``tile`` tokens (32 = 512 px for
  FLUX): tiles of ``tile`` tokens with ``tile // 8`` overlap, each denoised with the ids of a single
  tile (as released, condition offsets are not applied inside tiles), blended with Gaussian weights.

Differences, on purpose: the VAE posterior *mean* encodes conditions (the release samples it) so
results are deterministic; the initial noise is drawn per sample from its own seeded generator so a
batch gives the same result as its samples one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ....errors import check
from .lora import set_active, set_gate
from .transformer import Branch, latent_ids, multi_branch_forward

__all__ = ["StageSettings", "DEBLUR", "BOKEH", "pack", "unpack", "FluxSampler"]


@dataclass(frozen=True)
class StageSettings:
    """Prompt, steps, guidance, seed and condition offsets of one GenRefocus stage."""

    adapter: str
    prompt: str
    steps: int = 28
    guidance: float = 3.5
    seed: int = 42


DEBLUR = StageSettings("deblur", "a sharp photo with everything in focus", 28, 3.5, 42)
BOKEH = StageSettings("bokeh", "an excellent photo with a large aperture", 28, 1.0, 1234)


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


class FluxSampler(nn.Module):
    """Runs one GenRefocus stage on FLUX components held by a diffusers ``FluxPipeline``.

    Args:
        pipe: a ``FluxPipeline`` (transformer with :mod:`.lora` layers injected, VAE, text encoders,
            tokenizers, flow-matching scheduler).
        tile: tile size in latent tokens for tiled denoising (32 for FLUX = 512 px).
        max_sequence_length: T5 tokens.
        black_offset: position offset (tokens) of DeblurNet's black condition.
    """

    def __init__(
        self, pipe, tile: int = 32, max_sequence_length: int = 512, black_offset: tuple[int, int] = (0, 32)
    ) -> None:
        super().__init__()
        self.pipe = pipe
        self.transformer, self.vae = pipe.transformer, pipe.vae
        # registered as submodules so that ``.to(device)`` moves them with the rest (the pipeline
        # holds the same objects)
        self.text_encoder, self.text_encoder_2 = pipe.text_encoder, pipe.text_encoder_2
        self.tile, self.max_sequence_length, self.black_offset = (
            int(tile),
            int(max_sequence_length),
            tuple(black_offset),
        )
        self.vae_scale = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self._prompt_cache: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    @property
    def multiple(self) -> int:
        """Image sizes must be multiples of this (VAE downscale x 2x2 packing)."""
        return self.vae_scale * 2

    @property
    def device(self) -> torch.device:
        return next(self.transformer.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.transformer.parameters()).dtype

    def encode_prompt(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(T5 embeddings, pooled CLIP embedding, text ids) on the sampler's current device and dtype."""
        if prompt not in self._prompt_cache:
            with torch.no_grad():
                emb, pooled, ids = self.pipe.encode_prompt(
                    prompt=prompt,
                    prompt_2=None,
                    device=self.device,
                    num_images_per_prompt=1,
                    max_sequence_length=self.max_sequence_length,
                )
            self._prompt_cache[prompt] = (emb, pooled, ids)
        # the cache may predate a move of the model to another device
        return tuple(t.to(device=self.device, dtype=self.dtype) for t in self._prompt_cache[prompt])

    def encode_image(self, x: torch.Tensor, rescale: bool = True) -> torch.Tensor:
        """Packed latent tokens of (B, 3, H, W) in [0, 1] (rescaled to [-1, 1] unless ``rescale=False``)."""
        x = x.to(device=self.device, dtype=self.vae.dtype)
        lat = self.vae.encode(x * 2.0 - 1.0 if rescale else x).latent_dist.mode()
        cfg = self.vae.config
        lat = (lat - (cfg.shift_factor or 0.0)) * cfg.scaling_factor
        return pack(lat.to(self.dtype))

    def decode(self, tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
        cfg = self.vae.config
        lat = unpack(tokens, h // self.vae_scale, w // self.vae_scale)
        lat = lat.to(self.vae.dtype) / cfg.scaling_factor + (cfg.shift_factor or 0.0)
        return ((self.vae.decode(lat).sample.float() + 1.0) / 2.0).clamp(0.0, 1.0)

    def _noise(self, b: int, h: int, w: int, seed: int) -> torch.Tensor:
        c = self.transformer.config.in_channels // 4
        lh, lw = h // self.vae_scale, w // self.vae_scale
        out = []
        for _ in range(b):  # one generator per sample: a batch equals its samples run one by one
            g = torch.Generator(device="cpu").manual_seed(seed)
            out.append(torch.randn(1, c, lh, lw, generator=g))
        return pack(torch.cat(out).to(device=self.device, dtype=self.dtype))

    def _predict(self, latents, grid, conds, text, t, guidance) -> torch.Tensor:
        gh, gw = grid
        emb, pooled, txt_ids = text
        b = latents.shape[0]
        emb, pooled = emb.expand(b, -1, -1), pooled.expand(b, -1)
        th, tw = min(self.tile, gh), min(self.tile, gw)
        if gh * gw < self.tile * self.tile:
            branches = [Branch(tok, ids) for tok, ids in conds]
            return multi_branch_forward(
                self.transformer,
                latents,
                latent_ids(gh, gw, device=self.device, dtype=self.dtype),
                branches,
                emb,
                txt_ids,
                pooled,
                t,
                guidance,
            )
        stride_h, stride_w = th - self.tile // 8, tw - self.tile // 8
        ys = list(range(0, max(1, gh - th + 1), stride_h))
        xs = list(range(0, max(1, gw - tw + 1), stride_w))
        ys += [gh - th] if ys[-1] + th < gh else []
        xs += [gw - tw] if xs[-1] + tw < gw else []
        ramp_h = torch.linspace(-2, 2, th, device=self.device, dtype=self.dtype)
        ramp_w = torch.linspace(-2, 2, tw, device=self.device, dtype=self.dtype)
        weight = torch.exp(-(ramp_h[:, None] ** 2 + ramp_w[None, :] ** 2)).reshape(-1)
        tile_ids = latent_ids(th, tw, device=self.device, dtype=self.dtype)
        index = torch.arange(gh * gw, device=self.device).reshape(gh, gw)
        acc = torch.zeros_like(latents)
        wsum = torch.zeros(gh * gw, device=self.device, dtype=self.dtype)
        for y in ys:
            for x in xs:
                idx = index[y : y + th, x : x + tw].reshape(-1)
                branches = [Branch(tok[:, idx], tile_ids) for tok, _ in conds]
                v = multi_branch_forward(
                    self.transformer, latents[:, idx], tile_ids, branches, emb, txt_ids, pooled, t, guidance
                )
                acc[:, idx] += v * weight[None, :, None]
                wsum[idx] += weight
        return acc / wsum[None, :, None]

    @torch.no_grad()
    def run(
        self,
        stage: StageSettings,
        conditions: list[tuple[torch.Tensor, bool, tuple[int, int]]],
        h: int,
        w: int,
        steps: int | None = None,
    ) -> torch.Tensor:
        """Generate (B, 3, h, w) sRGB in [0, 1] for one stage.

        Args:
            conditions: ``(image (B, 3, h, w) in [0, 1], rescale_to_[-1,1], position offset in tokens)``.
        """
        from diffusers.pipelines.flux.pipeline_flux import calculate_shift

        check(
            h % self.multiple == 0 and w % self.multiple == 0,
            lambda: f"size {h}x{w} must be a multiple of {self.multiple}",
        )
        b = conditions[0][0].shape[0]
        gh, gw = h // self.multiple, w // self.multiple
        conds = [
            (self.encode_image(img, rescale), latent_ids(gh, gw, off, device=self.device, dtype=self.dtype))
            for img, rescale, off in conditions
        ]
        text = self.encode_prompt(stage.prompt)
        n = int(steps or stage.steps)
        sched = self.pipe.scheduler
        cfg = sched.config
        mu = calculate_shift(
            gh * gw,
            cfg.get("base_image_seq_len", 256),
            cfg.get("max_image_seq_len", 4096),
            cfg.get("base_shift", 0.5),
            cfg.get("max_shift", 1.15),
        )
        sched.set_timesteps(sigmas=np.linspace(1.0, 1.0 / n, n).tolist(), mu=mu, device=self.device)
        latents = self._noise(b, h, w, stage.seed)
        guidance = torch.full((1,), float(stage.guidance), device=self.device, dtype=self.dtype)
        set_active(self.transformer, stage.adapter)
        try:
            for t in sched.timesteps:
                v = self._predict(latents, (gh, gw), conds, text, (t / 1000).to(self.dtype).reshape(1), guidance)
                latents = sched.step(v, t, latents, return_dict=False)[0]
        finally:
            set_active(self.transformer, None)
            set_gate(self.transformer, 0.0)
        return self.decode(latents, h, w)

    def deblur(self, blurry: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """DeblurNet: (B, 3, h, w) blurry sRGB -> AIF sRGB."""
        h, w = blurry.shape[-2:]
        black = torch.zeros_like(blurry)
        return self.run(DEBLUR, [(black, True, self.black_offset), (blurry, True, (0, 0))], h, w, steps)

    def bokeh(self, aif: torch.Tensor, defocus_map: torch.Tensor, steps: int | None = None) -> torch.Tensor:
        """BokehNet: AIF sRGB (B, 3, h, w) + defocus map (B, 1, h, w) in [0, 1] -> bokeh sRGB."""
        h, w = aif.shape[-2:]
        return self.run(BOKEH, [(aif, True, (0, 0)), (defocus_map.expand(-1, 3, -1, -1), False, (0, 0))], h, w, steps)
