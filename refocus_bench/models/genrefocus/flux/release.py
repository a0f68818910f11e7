"""The released GenRefocus entry points on a :class:`~.pipeline.FluxSampler`: deblur, deblur with a
pre-deblurred image, bokeh, and the demo's refocus chain.

What each does, as ``rayray9999/Genfocus`` (``54752a1``) does it (facts re-implemented):

* inputs are 8-bit RGB, resized with LANCZOS to the next multiples of 16 px (:mod:`.inputs`);
* ``deblur``: DeblurNet with one condition, the input at (0, 0) (``Inference_deblurNet.py``);
  with ``pre_deblur``, the pre-deblur adapter and two conditions, the pre-deblurred image at
  (0, +32) and the input at (0, 0) (``Inference_deblurNet_with_pre_deblur.py``);
* ``bokeh``: BokehNet on the AIF image and the defocus map of the disparity, the focus disparity
  and ``K`` (``Inference_bokehNet.py``);
* ``refocus``: DeblurNet, then BokehNet on its *8-bit* output (``demo.py``); ``K = 0`` returns the
  DeblurNet result.

The output is the 8-bit image at the processed size, resized back to the input size with LANCZOS
when the input was not a multiple of 16 px (the release keeps the processed size).

Random draws follow ``sampling`` (:mod:`.sampling`): ``"release"`` runs a batch one image at a time,
each with the release's seeds; ``"deterministic"`` runs it at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .inputs import defocus_condition, from_uint8, grid_size, resize_image
from .pipeline import BOKEH, DEBLUR, PRE_DEBLUR, Condition, FluxSampler, StageOutput, StageSettings
from .sampling import StageRandomness

__all__ = ["FluxResult", "from_uint8_batch", "prepare", "run_stage", "deblur", "bokeh", "finish"]

PRE_DEBLUR_OFFSET = (0, 32)
"""Position offset (tokens) of the pre-deblurred condition, as released."""


@dataclass(frozen=True)
class FluxResult:
    """What a GenRefocus run returns.

    Attributes:
        image: (B, 3, H, W) float32 sRGB in [0, 1] at the input size: the 8-bit output / 255.
        output_uint8: (B, h, w, 3) uint8 at the processed size h x w (multiples of 16): the image the
            released scripts save.
        decoded: (B, 3, h, w) float32 VAE decoder output, nominally [-1, 1], before post-processing.
        latents: (B, h/16 * w/16, 64 on FLUX) float32 final packed latents.
        defocus_map: (B, 3, h, w) float32 BokehNet condition in [0, 1] (bokeh and refocus), else None.
        disp_focus: (B,) float32 focus disparities in 1/m (bokeh and refocus), else None.
        stage1: the DeblurNet result of a refocus chain, else None.
    """

    image: torch.Tensor
    output_uint8: torch.Tensor
    decoded: torch.Tensor
    latents: torch.Tensor
    defocus_map: torch.Tensor | None = None
    disp_focus: torch.Tensor | None = None
    stage1: FluxResult | None = None


def prepare(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> 8-bit values / 255 at ``size`` (LANCZOS on the 8-bit image), float32, CPU."""
    return torch.cat([resize_image(from_uint8(_u8(x)), size, eight_bit=True) for x in image.detach().cpu()])


def from_uint8_batch(u8: torch.Tensor) -> torch.Tensor:
    """(B, h, w, 3) uint8 -> (B, 3, h, w) float32 ``u8 / 255`` (the 8-bit hand-off between stages)."""
    return u8.permute(0, 3, 1, 2).float() / 255.0


def _u8(x: torch.Tensor) -> np.ndarray:
    """(3, H, W) float in [0, 1] -> (H, W, 3) uint8, round half to even."""
    return (x.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def run_stage(
    sampler: FluxSampler,
    stage: StageSettings,
    conditions: list[Condition],
    size: tuple[int, int],
    sampling: str,
    steps: int | None,
) -> StageOutput:
    """One stage on a batch: at once (``"deterministic"``) or one image at a time, fresh seeds each."""
    h, w = size

    def one(conds: list[Condition]) -> StageOutput:
        rng = StageRandomness(sampling, stage.seed, stage.generator_seed, sampler.device)
        return sampler.run(stage, conds, h, w, rng, steps)

    if StageRandomness(sampling, stage.seed, stage.generator_seed, "cpu").batched:
        return one(conditions)
    outs = [
        one([Condition(c.image[i : i + 1], c.offset, c.normalize) for c in conditions])
        for i in range(conditions[0].image.shape[0])
    ]
    return StageOutput(*(torch.cat(parts) for parts in zip(*[(o.decoded, o.latents, o.output_uint8) for o in outs])))


def finish(out: StageOutput, input_size: tuple[int, int], **extra) -> FluxResult:
    """The :class:`FluxResult` of a stage: 8-bit output resized back to ``input_size`` (LANCZOS) / 255."""
    u8 = out.output_uint8
    image = torch.cat([resize_image(from_uint8(a.numpy()), input_size, eight_bit=True) for a in u8])
    return FluxResult(image, u8, out.decoded, out.latents, **extra)


def deblur(
    sampler: FluxSampler,
    image: torch.Tensor,
    pre_deblur: torch.Tensor | None = None,
    *,
    sampling: str = "release",
    steps: int | None = None,
) -> FluxResult:
    """DeblurNet on (B, 3, H, W) sRGB in [0, 1]; ``pre_deblur`` (B, 3, H', W') any size, resized to the input's."""
    input_size = tuple(image.shape[-2:])
    size = grid_size(*input_size, sampler.multiple)
    x = prepare(image, size)
    if pre_deblur is None:
        stage, conds = DEBLUR, [Condition(x, (0, 0))]
    else:
        stage, conds = PRE_DEBLUR, [Condition(prepare(pre_deblur, size), PRE_DEBLUR_OFFSET), Condition(x, (0, 0))]
    return finish(run_stage(sampler, stage, conds, size, sampling, steps), input_size)


def bokeh(
    sampler: FluxSampler,
    aif: torch.Tensor,
    disparity: np.ndarray,
    disp_focus: list[float],
    k: list[float],
    *,
    input_size: tuple[int, int] | None = None,
    sampling: str = "release",
    steps: int | None = None,
) -> FluxResult:
    """BokehNet on an AIF image (B, 3, H, W) in [0, 1].

    Args:
        disparity: (B, h, w) float32 1/m at the processed size (:func:`.inputs.release_disparity`).
        disp_focus, k: per sample, the focus disparity (1/m) and ``K`` (px m).
        input_size: the size to return (default: the AIF's).
    """
    size = tuple(disparity.shape[-2:])
    x = prepare(aif, size)
    dmap = torch.cat([defocus_condition(d, f, kk) for d, f, kk in zip(disparity, disp_focus, k)])
    conds = [Condition(x, (0, 0)), Condition(dmap, (0, 0), normalize=False)]
    out = run_stage(sampler, BOKEH, conds, size, sampling, steps)
    focus = torch.tensor([np.float32(f) for f in disp_focus], dtype=torch.float32)
    return finish(out, input_size or tuple(aif.shape[-2:]), defocus_map=dmap, disp_focus=focus)
