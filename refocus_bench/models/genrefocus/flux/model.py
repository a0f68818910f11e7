"""``genrefocus.flux``: the released GenRefocus (FLUX.1-dev + DeblurNet/BokehNet LoRAs), release-exact.

Weights load from local paths only (:mod:`.loading`): ``base`` is a diffusers FLUX.1-dev folder;
``deblur_lora``, ``pre_deblur_lora`` and ``bokeh_lora`` are the released ``deblurNet.safetensors``,
``deblurNet_with_pre_deblur.safetensors`` and ``bokehNet.safetensors``. FLUX.1-dev needs a large GPU
(about 24 GB of weights in bfloat16; ``offload`` trades speed for memory); ``tiny={...}`` builds
toy-sized random components (:mod:`.tiny_components`) so the whole path runs in tests on a CPU.

By default every number is the release's (:mod:`.release`, :mod:`.sampling`): on the same weights,
device and dtype the outputs are those of the released scripts. ``sampling="deterministic"`` takes
posterior means and per-sample noise generators instead, so a batch runs at once and equals its
samples one by one.

Besides the package-wide ``deblur`` / ``bokeh`` / ``refocus`` (depth at the image size, focus as a
distance), :meth:`GenRefocusFlux.run` reaches every released entry point with the release's own
inputs: a depth map of any size (invalid depth <= 0 becomes the far plane), focus by point, mask or
the image centre, ``K``, a pre-deblurred image; it returns the 8-bit output, decoded image and latents.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ....errors import check, check_tensor
from ....simulators.render.apertures import Disk
from ...base import BokehRequest, ModelCard, RefocusModel, check_image
from ...weights import resolve_weights
from . import release
from .inputs import focus_disparity, grid_size, release_disparity
from .loading import LORA_FILES, load_base
from .lora import adapter_state, inject_lora, install_adapter, parse_lora_state, read_lora_file
from .offload import OFFLOADS, apply_offload
from .pipeline import TILINGS, FluxSampler
from .sampling import SAMPLING

__all__ = ["GenRefocusFlux", "LORA_FILES"]

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_STAGES = ("deblur", "pre_deblur", "bokeh")
_RUN_TASKS = ("deblur", "bokeh", "refocus")


class GenRefocusFlux(RefocusModel):
    """GenRefocus on diffusers FLUX components, DeblurNet and BokehNet as condition-token LoRAs.

    Args:
        base: diffusers folder of FLUX.1-dev (ignored with ``tiny``).
        deblur_lora, pre_deblur_lora, bokeh_lora: ``"default"`` (the released file in the cache
            folder), a path, ``"random"`` (random adapter, for tests) or ``None`` (no adapter; the
            pre-deblur adapter is optional and ``None`` by default).
        tiny: build toy random components with these overrides (see :mod:`.tiny_components`).
        steps: sampling steps for both stages (default: the released 28).
        tile: tile size in latent tokens for tiled denoising (released: 32 = 512 px on FLUX).
        tiling: ``"auto"`` (as released: tiles only when the shorter side is >= 512 px), ``"on"``, ``"off"``.
        sampling: ``"release"`` (default) or ``"deterministic"`` (:mod:`.sampling`).
        max_sequence_length: T5 tokens (512 on FLUX.1-dev, as released).
        device, dtype: where to run ("cpu", "cuda") and in which precision (the release: bfloat16 on CUDA).
        offload: ``None``, ``"model"`` or ``"sequential"`` (:mod:`.offload`; ``device`` is where it computes).
        lora_rank: rank of ``"random"`` adapters.
    """

    card = ModelCard(
        name="genrefocus.flux",
        tasks=("deblur", "bokeh", "refocus"),
        summary="released GenRefocus, release-exact: FLUX.1-dev + DeblurNet/BokehNet LoRAs (OminiControl "
        "conditions); needs a large GPU",
        source="architecture of https://github.com/rayray9999/Genfocus (54752a1), re-implemented on diffusers",
        licence="Apache-2.0 (code); FLUX.1 [dev] Non-Commercial License (base weights)",
        paper="Generative Refocusing: Flexible Defocus Control from a Single Image, arXiv 2512.16923",
        input_contract="sRGB (B, 3, H, W), read as 8-bit, resized with LANCZOS to multiples of 16 px "
        "(tiled when the shorter side is >= 512 px); disk aperture only",
        weights=tuple(LORA_FILES.values()),
    )

    def __init__(
        self,
        base: str | os.PathLike[str] | None = None,
        deblur_lora: str | None = "default",
        bokeh_lora: str | None = "default",
        pre_deblur_lora: str | None = None,
        tiny: dict[str, Any] | None = None,
        steps: int | None = None,
        tile: int = 32,
        tiling: str = "auto",
        sampling: str = "release",
        max_sequence_length: int = 512,
        device: str = "cpu",
        dtype: str = "float32",
        offload: str | None = None,
        lora_rank: int = 4,
    ) -> None:
        super().__init__()
        check(dtype in _DTYPES, lambda: f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        check(sampling in SAMPLING, lambda: f"sampling must be one of {sorted(SAMPLING)}, got {sampling!r}")
        check(tiling in TILINGS, lambda: f"tiling must be one of {list(TILINGS)}, got {tiling!r}")
        check(offload in OFFLOADS, lambda: f"offload must be one of {list(OFFLOADS)}, got {offload!r}")
        check(
            steps is None or (isinstance(steps, int) and steps >= 1),
            lambda: f"steps must be an int >= 1, got {steps!r}",
        )
        self.settings = {
            "base": None if base is None else str(base),
            "tiny": tiny,
            "steps": steps,
            "tile": int(tile),
            "tiling": tiling,
            "sampling": sampling,
            "max_sequence_length": int(max_sequence_length),
            "device": device,
            "dtype": dtype,
            "offload": offload,
            "lora_rank": int(lora_rank),
        }
        if tiny is not None:
            from .tiny_components import build_tiny_pipeline

            pipe = build_tiny_pipeline(**tiny).to(dtype=_DTYPES[dtype])
            max_sequence_length = pipe.tokenizer.model_max_length
            self.settings["max_sequence_length"] = int(max_sequence_length)
        else:
            pipe = load_base(base, _DTYPES[dtype])
        self.sampler = FluxSampler(pipe, tile=int(tile), max_sequence_length=max_sequence_length, tiling=tiling)
        self.transformer = pipe.transformer
        self.lora_files: dict[str, str] = {}
        sources = {"deblur": deblur_lora, "pre_deblur": pre_deblur_lora, "bokeh": bokeh_lora}
        for stage, source in sources.items():
            if source == "random":
                self._random_adapter(stage, int(lora_rank), seed=_STAGES.index(stage) + 1)
            elif source is not None:
                path = resolve_weights(LORA_FILES[stage], None if source == "default" else source, model=self.card.name)
                self.add_adapter(stage, read_lora_file(path), source=str(path))
                self.lora_files[stage] = str(path)
        apply_offload(self.sampler, offload, torch.device(device))

    # -- adapters -----------------------------------------------------------------------------------
    def add_adapter(
        self, stage: str, adapter: dict[str, tuple[torch.Tensor, torch.Tensor, float]], source: str = "LoRA"
    ) -> None:
        """Install adapter ``stage`` ({module: (A, B, scale)}) on condition tokens (checked first)."""
        check(stage in _STAGES, lambda: f"stage must be one of {list(_STAGES)}, got {stage!r}")
        install_adapter(self.transformer, stage, adapter, source)

    def _random_adapter(self, stage: str, rank: int, seed: int) -> None:
        g = torch.Generator().manual_seed(1000 + seed)
        adapter = {}
        for name in inject_lora(self.transformer):
            m = self.transformer.get_submodule(name)
            a = torch.randn(rank, m.in_features, generator=g) / m.in_features**0.5
            b = torch.randn(m.out_features, rank, generator=g) * (0.5 / rank**0.5)
            adapter[name] = (a, b, 1.0)
        self.add_adapter(stage, adapter, source=f"random {stage} adapter")

    def config(self) -> dict:
        return {**self.settings, "deblur_lora": None, "pre_deblur_lora": None, "bokeh_lora": None}

    @classmethod
    def dummy_kwargs(cls) -> dict:
        return {"tiny": {}, "deblur_lora": "random", "bokeh_lora": "random", "steps": 2}

    def state_to_save(self) -> dict[str, torch.Tensor]:
        out = {}
        for stage in _STAGES:
            out.update({f"{stage}.{k}": v.float().cpu() for k, v in adapter_state(self.transformer, stage).items()})
        return out

    def load_saved_state(self, tensors: dict[str, torch.Tensor]) -> None:
        for stage in _STAGES:
            part = {k[len(stage) + 1 :]: v for k, v in tensors.items() if k.startswith(stage + ".")}
            if part:
                self.add_adapter(stage, parse_lora_state(part, source=f"saved {stage} adapter"))

    def _has_adapter(self, stage: str, hint: str) -> None:
        check(
            bool(adapter_state(self.transformer, stage)),
            lambda: f"genrefocus.flux has no {stage} adapter loaded; {hint}",
        )

    # -- the release's entry points -----------------------------------------------------------------
    @torch.no_grad()
    def run(
        self,
        task: str,
        image: torch.Tensor,
        *,
        depth_m: torch.Tensor | np.ndarray | Callable[[torch.Tensor], torch.Tensor] | None = None,
        k_px_m: float | None = None,
        focus_point: tuple[float, float] | None = None,
        focus_mask: torch.Tensor | np.ndarray | None = None,
        focus_distance_m: float | None = None,
        pre_deblur: torch.Tensor | None = None,
    ) -> release.FluxResult:
        """Run a released entry point on one image (1, 3, H, W) sRGB in [0, 1] (read as 8-bit).

        Args:
            task: ``"deblur"``, ``"bokeh"`` (``image`` is all-in-focus) or ``"refocus"`` (the demo's chain).
            depth_m: metres, (h, w) or (1, 1, h, w), any size (resized with bilinear interpolation
                as released); depth <= 0 or NaN is invalid and becomes the far plane (disparity 0). Or a
                depth estimator ``image (1, 3, h, w) -> depth``, run as the demo runs Depth Pro: on the
                DeblurNet output in ``refocus``, on ``image`` in ``bokeh``.
            k_px_m: the blur strength ``K`` (>= 0; 0 in ``refocus`` returns the DeblurNet result).
            focus_point: ``(x, y)`` in pixels of ``image``; focus_mask: (hm, wm) any size, > 0 = inside
                (median disparity inside); focus_distance_m: metres; none: the image centre.
            pre_deblur: (1, 3, h, w) a pre-deblurred image (``deblur`` only; needs ``pre_deblur_lora``).
        """
        check(task in _RUN_TASKS, lambda: f"task must be one of {list(_RUN_TASKS)}, got {task!r}")
        sizes = check_image(image)
        check(sizes["B"] == 1, lambda: f"run() takes one image (1, 3, H, W), got a batch of {sizes['B']}")
        opts = {"sampling": self.settings["sampling"], "steps": self.settings["steps"]}
        if task == "deblur":
            check(depth_m is None and k_px_m is None, "deblur takes no depth_m or k_px_m")
            if pre_deblur is not None:
                check_image(pre_deblur, "pre_deblur")
                self._has_adapter("pre_deblur", "pass pre_deblur_lora='default' or a path")
            return release.deblur(self.sampler, image, pre_deblur, **opts)
        check(pre_deblur is None, "pre_deblur is only used by task 'deblur'")
        check(depth_m is not None and k_px_m is not None, lambda: f"{task} needs depth_m and k_px_m")
        k = float(k_px_m)
        check(np.isfinite(k) and k >= 0, lambda: f"k_px_m must be a finite number >= 0, got {k_px_m!r}")
        depth = None if callable(depth_m) else _depth_array(depth_m)
        input_size = (sizes["H"], sizes["W"])
        mask = _check_focus(input_size, focus_point, focus_mask, focus_distance_m)
        size = grid_size(*input_size, self.sampler.multiple)
        stage1 = None
        if task == "refocus":
            stage1 = release.deblur(self.sampler, image, **opts)
            if k == 0:
                return stage1
            image = release.from_uint8_batch(stage1.output_uint8)  # the 8-bit hand-off at the processed size
        if depth is None:  # an estimator, run on the image BokehNet sees (the demo: on the DeblurNet output)
            depth = _depth_array(depth_m(image))
        disp = release_disparity(depth, size, order="disparity" if task == "refocus" else "depth")
        focus = _focus(disp, input_size, focus_point, mask, focus_distance_m)
        out = release.bokeh(self.sampler, image, disp[None], [focus], [k], input_size=input_size, **opts)
        return release.FluxResult(**{**out.__dict__, "stage1": stage1})

    @torch.no_grad()
    def deblur(
        self, image: torch.Tensor, *, coc_px: torch.Tensor | None = None, pre_deblur: torch.Tensor | None = None
    ) -> torch.Tensor:
        """All-in-focus estimate (B, 3, H, W); ``pre_deblur`` (B, 3, H', W') selects the pre-deblur variant."""
        if pre_deblur is None:
            return super().deblur(image, coc_px=coc_px)
        sizes = check_image(image)
        check_tensor(pre_deblur, "pre_deblur", [sizes["B"], 3, "H'", "W'"], min_value=0.0, max_value=1.0)
        self._has_adapter("pre_deblur", "pass pre_deblur_lora='default' or a path")
        out = release.deblur(
            self.sampler, image, pre_deblur, sampling=self.settings["sampling"], steps=self.settings["steps"]
        )
        return self._finish(out.image.to(image.device), image)

    # -- package-wide tasks -------------------------------------------------------------------------
    def _deblur(self, image: torch.Tensor, coc_px: torch.Tensor | None) -> torch.Tensor:
        out = release.deblur(self.sampler, image, sampling=self.settings["sampling"], steps=self.settings["steps"])
        return out.image.to(image.device)

    def _bokeh_from(self, aif: torch.Tensor, req: BokehRequest, order: str, input_size) -> torch.Tensor:
        size = grid_size(*input_size, self.sampler.multiple)
        depth = req.depth_m[:, 0].detach().cpu().float().numpy()
        disp = np.stack([release_disparity(d, size, order=order) for d in depth])
        focus = [0.0 if np.isinf(f) else 1.0 / f for f in req.focus_distance_m.double().tolist()]
        out = release.bokeh(
            self.sampler,
            aif,
            disp,
            focus,
            req.k_px_m.double().tolist(),
            input_size=input_size,
            sampling=self.settings["sampling"],
            steps=self.settings["steps"],
        )
        return out.image

    def _check_disk(self, req: BokehRequest) -> None:
        check(
            isinstance(req.aperture, Disk),
            lambda: f"genrefocus.flux renders the round aperture only (the released BokehNet "
            f"has no aperture input), got {req.aperture!r}; use genrefocus.tiny or bokeh.layered for shaped bokeh",
        )

    def _bokeh(self, image: torch.Tensor, req: BokehRequest) -> torch.Tensor:
        self._check_disk(req)
        out = self._bokeh_from(image, req, "depth", tuple(image.shape[-2:]))
        return out.to(image.device)

    def _refocus(self, image: torch.Tensor, req: BokehRequest, input_coc_px: torch.Tensor | None) -> torch.Tensor:
        self._check_disk(req)
        stage1 = release.deblur(self.sampler, image, sampling=self.settings["sampling"], steps=self.settings["steps"])
        sharp = req.k_px_m == 0
        if bool(sharp.all()):
            return stage1.image.to(image.device)
        aif = release.from_uint8_batch(stage1.output_uint8)  # the 8-bit hand-off, at the processed size
        out = self._bokeh_from(aif, req, "disparity", tuple(image.shape[-2:]))
        return torch.where(sharp[:, None, None, None].cpu(), stage1.image, out).to(image.device)


def _depth_array(depth_m: torch.Tensor | np.ndarray) -> np.ndarray:
    """(h, w) float32 metres from (h, w), (1, h, w) or (1, 1, h, w), tensor or array."""
    arr = depth_m.detach().cpu().float().numpy() if isinstance(depth_m, torch.Tensor) else np.asarray(depth_m)
    check(arr.dtype.kind in "fiu", lambda: f"depth_m must be numeric (metres), got {arr.dtype}")
    arr = np.squeeze(arr) if arr.ndim > 2 else arr
    check(arr.ndim == 2 and arr.size > 0, lambda: f"depth_m must be one (h, w) map, got shape {np.shape(depth_m)}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _check_focus(input_size, point, mask, distance_m) -> np.ndarray | None:
    """Check the focus options (at most one); returns the mask as an (h, w) uint8 array (255 = inside)."""
    options = (("focus_point", point), ("focus_mask", mask), ("focus_distance_m", distance_m))
    given = [n for n, v in options if v is not None]
    check(len(given) <= 1, lambda: f"give at most one of focus_point, focus_mask, focus_distance_m; got {given}")
    if distance_m is not None:
        check(float(distance_m) > 0, lambda: f"focus_distance_m must be > 0 metres, got {distance_m!r}")
    if point is not None:
        check(
            len(point) == 2 and all(np.isfinite(float(v)) for v in point),
            lambda: f"focus_point must be (x, y) in pixels, got {point!r}",
        )
        h0, w0 = input_size
        check(
            0 <= point[0] < w0 and 0 <= point[1] < h0,
            lambda: f"focus_point {tuple(point)} is outside the {w0}x{h0} image",
        )
    if mask is None:
        return None
    m = mask.detach().cpu().float().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    m = np.squeeze(m) if m.ndim > 2 else m
    check(m.ndim == 2 and m.size > 0, lambda: f"focus_mask must be one (h, w) mask, got shape {np.shape(mask)}")
    return (m > 0).astype(np.uint8) * 255


def _focus(disp: np.ndarray, input_size, point, mask: np.ndarray | None, distance_m) -> float:
    """The focus disparity (1/m) from the checked options (:func:`_check_focus`); the centre without any."""
    if distance_m is not None:
        d = float(distance_m)
        return 0.0 if np.isinf(d) else 1.0 / d
    if mask is not None:
        return focus_disparity(disp, mask=mask)
    return focus_disparity(disp, point=point, input_size=input_size)
