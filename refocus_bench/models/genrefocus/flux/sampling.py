"""Where the random numbers of a GenRefocus stage come from: the setting ``sampling``.

Two values (:data:`SAMPLING`):

* ``"release"`` (default) - the released scripts' draws. ``seed_everything(42)`` before each call
  seeds the global RNG; the initial noise comes from the stage's generator when the script passes
  one (BokehNet: ``torch.Generator(device).manual_seed(1234)``) and from the global RNG otherwise
  (DeblurNet); then every condition's VAE posterior is *sampled*, one draw per condition in
  condition order, from the global RNG. Here the global RNG is a private generator on the execution
  device seeded the same way, so the caller's own RNG state is left alone. One image per run: a
  batch runs as its images one by one, each with fresh seeds, exactly as the release would.
* ``"deterministic"`` - no posterior sampling (the posterior *mean* encodes conditions) and the
  initial noise of each sample from its own CPU generator seeded with the stage's seed (DeblurNet
  42, BokehNet 1234), so a batch runs at once and equals its samples one by one.

Example:
    >>> sorted(SAMPLING)
    ['deterministic', 'release']
"""

from __future__ import annotations

import torch

from ....errors import check
from .packing import pack

__all__ = ["SAMPLING", "StageRandomness"]

SAMPLING = {
    "release": "the release's draws: sampled VAE posteriors, its seeds and RNG order, one image per run",
    "deterministic": "posterior means, one seeded noise generator per sample, batches at once",
}


class StageRandomness:
    """The random draws of one stage run.

    Args:
        mode: a key of :data:`SAMPLING`.
        seed: the ``seed_everything`` seed of the stage.
        generator_seed: the seed of the generator the release passes to the stage, or ``None``.
        device: the execution device (the release's generators live there).
    """

    def __init__(self, mode: str, seed: int, generator_seed: int | None, device: torch.device | str) -> None:
        check(mode in SAMPLING, lambda: f"sampling must be one of {sorted(SAMPLING)}, got {mode!r}")
        self.mode, self.seed, self.generator_seed = mode, int(seed), generator_seed
        if mode == "release":
            self.global_rng = torch.Generator(device=device).manual_seed(self.seed)
            self.noise_rng = (
                self.global_rng
                if generator_seed is None
                else torch.Generator(device=device).manual_seed(int(generator_seed))
            )

    @property
    def batched(self) -> bool:
        """Whether a batch may run at once (``False``: one image per run, as released)."""
        return self.mode == "deterministic"

    def initial_noise(self, pipe, b: int, h: int, w: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """Packed initial latents (b, h/16 * w/16, 64 on FLUX) for an h x w px image."""
        c = pipe.transformer.config.in_channels // 4
        if self.mode == "release":
            latents, _ = pipe.prepare_latents(b, c, h, w, dtype, device, self.noise_rng)
            return latents
        lh, lw = 2 * (h // (pipe.vae_scale_factor * 2)), 2 * (w // (pipe.vae_scale_factor * 2))
        seed = self.seed if self.generator_seed is None else self.generator_seed
        noise = [torch.randn(1, c, lh, lw, generator=torch.Generator().manual_seed(seed)) for _ in range(b)]
        return pack(torch.cat(noise).to(device=device, dtype=dtype))

    def condition_latent(self, dist) -> torch.Tensor:
        """A condition's latent from its VAE posterior (diffusers ``DiagonalGaussianDistribution``)."""
        return dist.sample(generator=self.global_rng) if self.mode == "release" else dist.mode()
