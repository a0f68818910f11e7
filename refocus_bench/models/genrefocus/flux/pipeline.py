"""GenRefocus sampling on FLUX components: prompts, condition encoding, flow-matching loop, tiling.

Settings of the released code (``rayray9999/Genfocus`` at ``54752a1``: ``Inference_*.py``, ``demo.py``
and ``Genfocus/pipeline/flux.py``; facts re-implemented here):

* DeblurNet: prompt ``"a sharp photo with everything in focus"``, 28 steps, guidance 3.5; one
  condition, the blurry input at position offset (0, 0).
* DeblurNet with pre-deblur (its own adapter): the same prompt and guidance; two conditions, the
  pre-deblurred image at (0, +32) tokens and the blurry input at (0, 0).
* BokehNet: prompt ``"an excellent photo with a large aperture"``, 28 steps, guidance 1.0; the AIF
  image and the defocus map (:mod:`.inputs`), both at (0, 0); the map is VAE-encoded as is,
  *without* the [-1, 1] rescaling images get.
* Conditions run at timestep 0 and guidance 1 (:mod:`.transformer`).
* Sigmas ``linspace(1, 1/steps, steps)`` with FLUX's resolution-dependent shift.
* Tiled denoising (``tiling``): ``"auto"`` tiles as released, only when the shorter image side is
  at least 512 px and the latent grid has at least ``tile`` x ``tile`` tokens; ``"on"`` tiles
  whenever the grid is that large; ``"off"`` never. Tiles of ``tile`` tokens overlap by ``tile // 8``,
  are visited column of tiles by column of tiles, each with the position ids of one tile (as released,
  condition offsets are not applied inside tiles), and are blended with Gaussian weights.

Random draws are the business of :mod:`.sampling` (``sampling="release"`` or ``"deterministic"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ....errors import check
from .lora import set_active, set_gate
from .offload import Offloader
from .packing import pack, unpack
from .sampling import StageRandomness
from .transformer import Branch, latent_ids, multi_branch_forward

__all__ = [
    "StageSettings",
    "DEBLUR",
    "PRE_DEBLUR",
    "BOKEH",
    "TILINGS",
    "RELEASE_TILING_MIN_SIDE_PX",
    "Condition",
    "StageOutput",
    "postprocess_uint8",
    "pack",
    "unpack",
    "FluxSampler",
]

TILINGS = ("auto", "on", "off")
RELEASE_TILING_MIN_SIDE_PX = 512
"""The released scripts never tile an image whose shorter side is below this many pixels."""


@dataclass(frozen=True)
class StageSettings:
    """One GenRefocus stage as released.

    Attributes:
        adapter: name of the LoRA adapter the stage activates.
        prompt, steps, guidance: the released call.
        seed: ``seed_everything`` seed before the call (the release's global RNG).
        generator_seed: seed of the generator passed to the call (BokehNet: 1234), or ``None`` when the
            initial noise comes from the global RNG (DeblurNet).
    """

    adapter: str
    prompt: str
    steps: int = 28
    guidance: float = 3.5
    seed: int = 42
    generator_seed: int | None = None


DEBLUR = StageSettings("deblur", "a sharp photo with everything in focus", 28, 3.5, 42, None)
PRE_DEBLUR = StageSettings("pre_deblur", DEBLUR.prompt, 28, 3.5, 42, None)
BOKEH = StageSettings("bokeh", "an excellent photo with a large aperture", 28, 1.0, 42, 1234)


@dataclass(frozen=True)
class Condition:
    """One condition image: (B, 3, H, W), ``normalize`` to [-1, 1] (images) or not (defocus map)."""

    image: torch.Tensor
    offset: tuple[int, int] = (0, 0)
    normalize: bool = True


@dataclass(frozen=True)
class StageOutput:
    """What one stage run returns.

    Attributes:
        decoded: VAE decoder output (B, 3, h, w), float32, nominally [-1, 1], before post-processing.
        latents: final packed latents (B, h/16 * w/16, 64 on FLUX), float32.
        output_uint8: the 8-bit output (B, h, w, 3) on the CPU (:func:`postprocess_uint8`).
    """

    decoded: torch.Tensor
    latents: torch.Tensor
    output_uint8: torch.Tensor


def postprocess_uint8(decoded: torch.Tensor) -> torch.Tensor:
    """(B, 3, h, w) decoder output -> (B, h, w, 3) uint8 as diffusers' ``postprocess(output_type="pil")``.

    ``(x * 0.5 + 0.5).clamp(0, 1)`` in the decoder's dtype (bfloat16 on CUDA in the release), then
    float32, ``round(255 v)`` half to even.
    """
    v = (decoded * 0.5 + 0.5).clamp(0, 1).float()
    return (v * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu()


class FluxSampler(nn.Module):
    """Runs one GenRefocus stage on FLUX components held by a diffusers ``FluxPipeline``.

    Args:
        pipe: a ``FluxPipeline`` (transformer with :mod:`.lora` layers injected, VAE, text encoders,
            tokenizers, flow-matching scheduler).
        tile: tile size in latent tokens for tiled denoising (released: 32 = 512 px on FLUX).
        max_sequence_length: T5 tokens.
        tiling: one of :data:`TILINGS`.
    """

    def __init__(self, pipe, tile: int = 32, max_sequence_length: int = 512, tiling: str = "auto") -> None:
        super().__init__()
        check(tiling in TILINGS, lambda: f"tiling must be one of {list(TILINGS)}, got {tiling!r}")
        check(isinstance(tile, int) and tile >= 2, lambda: f"tile must be an int >= 2 tokens, got {tile!r}")
        self.pipe = pipe
        self.transformer, self.vae = pipe.transformer, pipe.vae
        # registered as submodules so that ``.to(device)`` moves them with the rest (the pipeline
        # holds the same objects)
        self.text_encoder, self.text_encoder_2 = pipe.text_encoder, pipe.text_encoder_2
        self.tile, self.max_sequence_length, self.tiling = int(tile), int(max_sequence_length), tiling
        self.vae_scale = 2 ** (len(self.vae.config.block_out_channels) - 1)
        self.execution_device: torch.device | None = None  # set under CPU offload (weights live elsewhere)
        self.offloader = Offloader()  # where components live while they run (:mod:`.offload`)
        self._prompt_cache: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    @property
    def multiple(self) -> int:
        """Image sizes must be multiples of this (VAE downscale x 2x2 packing; 16 on FLUX)."""
        return self.vae_scale * 2

    @property
    def device(self) -> torch.device:
        if self.execution_device is not None:
            return self.execution_device
        return next(self.transformer.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return self.transformer.dtype

    def encode_prompt(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(T5 embeddings, pooled CLIP embedding, text ids) on the sampler's current device and dtype."""
        if prompt not in self._prompt_cache:
            with torch.no_grad(), self.offloader.using(self.text_encoder, self.text_encoder_2):
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

    def encode_image(self, x: torch.Tensor, normalize: bool = True, rng: StageRandomness | None = None):
        """Packed latent tokens of (B, 3, H, W) in [0, 1] (to [-1, 1] first unless ``normalize=False``).

        The VAE posterior is sampled or its mean taken as ``rng`` says (default: the mean).
        """
        x = x.to(device=self.device, dtype=torch.float32)
        if normalize:  # diffusers' VaeImageProcessor.normalize, in float32 as the release does
            x = 2.0 * x - 1.0
        with self.offloader.using(self.vae):
            dist = self.vae.encode(x.to(self.vae.dtype)).latent_dist
            lat = dist.mode() if rng is None else rng.condition_latent(dist)
        cfg = self.vae.config
        lat = (lat - (cfg.shift_factor or 0.0)) * cfg.scaling_factor
        return pack(lat.to(self.dtype))

    def decode(self, tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """VAE decoder output (B, 3, h, w) of packed latents, nominally [-1, 1] (not post-processed)."""
        cfg = self.vae.config
        lat = unpack(tokens, h // self.vae_scale, w // self.vae_scale)
        lat = lat.to(self.vae.dtype) / cfg.scaling_factor + (cfg.shift_factor or 0.0)
        with self.offloader.using(self.vae):
            return self.vae.decode(lat).sample

    def tiled(self, h: int, w: int) -> bool:
        """Whether an image of h x w px is denoised in tiles (see the module docstring)."""
        big = (h // self.multiple) * (w // self.multiple) >= self.tile * self.tile
        if self.tiling == "auto":
            return big and min(h, w) >= RELEASE_TILING_MIN_SIDE_PX
        return big and self.tiling == "on"

    def _predict(self, latents, grid, conds, text, t, guidance, tiled: bool) -> torch.Tensor:
        gh, gw = grid
        emb, pooled, txt_ids = text
        b = latents.shape[0]
        emb, pooled = emb.expand(b, -1, -1), pooled.expand(b, -1)
        if not tiled:
            ids = latent_ids(gh, gw, device=self.device, dtype=self.dtype)
            branches = [Branch(tok, cid) for tok, cid in conds]
            return multi_branch_forward(self.transformer, latents, ids, branches, emb, txt_ids, pooled, t, guidance)
        th, tw = min(self.tile, gh), min(self.tile, gw)
        stride = self.tile - self.tile // 8
        ys = list(range(0, max(1, gh - th + 1), stride))
        xs = list(range(0, max(1, gw - tw + 1), stride))
        ys += [gh - th] if ys[-1] + th < gh else []
        xs += [gw - tw] if xs[-1] + tw < gw else []
        ramp_h = torch.linspace(-2, 2, th, device=self.device, dtype=self.dtype)
        ramp_w = torch.linspace(-2, 2, tw, device=self.device, dtype=self.dtype)
        weight = torch.exp(-(ramp_h[:, None] ** 2 + ramp_w[None, :] ** 2)).reshape(-1)
        tile_ids = latent_ids(th, tw, device=self.device, dtype=self.dtype)
        index = torch.arange(gh * gw, device=self.device).reshape(gh, gw)
        acc = torch.zeros_like(latents)
        wsum = torch.zeros(b, gh * gw, device=self.device, dtype=self.dtype)
        for x in xs:  # the release's order: columns of tiles outside, rows inside
            for y in ys:
                idx = index[y : y + th, x : x + tw].reshape(-1)
                branches = [Branch(tok[:, idx], tile_ids) for tok, _ in conds]
                v = multi_branch_forward(
                    self.transformer, latents[:, idx], tile_ids, branches, emb, txt_ids, pooled, t, guidance
                )
                acc[:, idx] += v * weight[None, :, None]
                wsum[:, idx] += weight
        return acc / wsum[..., None]

    def _timesteps(self, n: int, image_seq_len: int) -> torch.Tensor:
        from diffusers.pipelines.flux.pipeline_flux import calculate_shift, retrieve_timesteps

        cfg = self.pipe.scheduler.config
        mu = calculate_shift(
            image_seq_len,
            cfg.get("base_image_seq_len", 256),
            cfg.get("max_image_seq_len", 4096),
            cfg.get("base_shift", 0.5),
            cfg.get("max_shift", 1.15),
        )
        sigmas = np.linspace(1.0, 1 / n, n)
        return retrieve_timesteps(self.pipe.scheduler, n, self.device, None, sigmas, mu=mu)[0]

    @torch.no_grad()
    def run(
        self,
        stage: StageSettings,
        conditions: list[Condition],
        h: int,
        w: int,
        rng: StageRandomness,
        steps: int | None = None,
        latents: torch.Tensor | None = None,
    ) -> StageOutput:
        """Generate one stage at h x w px (multiples of :attr:`multiple`).

        Order of the random draws, as released: the initial noise (unless ``latents`` are given),
        then one VAE posterior draw per condition, in condition order.
        """
        check(
            h % self.multiple == 0 and w % self.multiple == 0,
            lambda: f"size {h}x{w} must be a multiple of {self.multiple}",
        )
        b = conditions[0].image.shape[0]
        gh, gw = h // self.multiple, w // self.multiple
        text = self.encode_prompt(stage.prompt)
        if latents is None:
            latents = rng.initial_noise(self.pipe, b, h, w, text[0].dtype, self.device)
        latents = latents.to(device=self.device, dtype=text[0].dtype)
        conds = [
            (
                self.encode_image(c.image, c.normalize, rng),
                latent_ids(gh, gw, c.offset, device=self.device, dtype=self.dtype),
            )
            for c in conditions
        ]
        timesteps = self._timesteps(int(steps or stage.steps), gh * gw)
        guidance = torch.full((1,), float(stage.guidance), device=self.device).expand(b)
        tiled = self.tiled(h, w)
        set_active(self.transformer, stage.adapter)
        try:
            with self.offloader.using(self.transformer):
                for t in timesteps:
                    timestep = t.expand(b).to(latents.dtype) / 1000
                    v = self._predict(latents, (gh, gw), conds, text, timestep, guidance, tiled)
                    latents = self.pipe.scheduler.step(v, t, latents, return_dict=False)[0]
        finally:
            set_active(self.transformer, None)
            set_gate(self.transformer, 0.0)
        decoded = self.decode(latents, h, w)
        return StageOutput(decoded.float(), latents.float(), postprocess_uint8(decoded))
