"""``middlebury-bokeh``: bokeh synthesis on the real Middlebury 2014 Motorcycle RGB-D scene.

Scene: :func:`~refocus_bench.simulators.render.scenes.middlebury_motorcycle` (left view, depth from the
calibrated disparity, 2.1-5.0 m; the 7% of pixels without ground truth take their nearest valid
neighbour's depth), downscaled 0.5x (bilinear, antialiased; depth nearest) to 250x370 and centre-cropped
to 248x368.

Ground truth: the RGB-D image is cut into fronto-parallel layers by its signed CoC for each setting
(:func:`rgbd_layers`) and rendered by :func:`~refocus_bench.benchmarks.ground_truth.render_truth` (the
layered renderer's exact mode where its cells have converged, else the exact shift-and-add reference). A
real RGB-D image does not record what lies behind its foreground objects, so each layer's hidden part
(behind nearer layers) is filled with the colour of the nearest pixel at or behind that layer (nearest-neighbour
extension); the ground truth is exact for that layered proxy, not for the real optics. Layers sit on a
CoC grid with the in-focus layer at exactly 0 px and a spacing of at most 0.5 px (coarser only when
a setting would need more than 17 layers), so a model given the true depth map sees CoC radii within
half a spacing of the ground truth's.

Plan (12 samples): focus on the 10%, 50% and 90% depth quantiles (near: the motorcycle's front,
mid, far: the back wall) x apertures disk / hexagon / heart x the three blur levels of
:data:`~refocus_bench.benchmarks.synthetic_scenes.BLUR_LEVELS` in a Latin design.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import check
from .builtin_specs import SPECS
from .generated import DataSource, GeneratedBenchmark, GeneratedSample, source_options
from .ground_truth import convergence, render_exact, render_truth
from .synthetic_scenes import APERTURES, BLUR_LEVELS, blur_level, coc_map_px, k_for_max_coc

__all__ = [
    "DATA_VERSION",
    "DEFAULT_CONFIG",
    "FOCUS_QUANTILES",
    "motorcycle_rgbd",
    "rgbd_layers",
    "middlebury_source",
    "middlebury_bokeh",
]

DATA_VERSION = "3"  # 2: targets from the exact mode where it has converged (render_truth); 3: its one-pass engine
DEFAULT_CONFIG = {
    "num_samples": 12,
    "scale": 0.5,
    "crop": [248, 368],
    "seed": 0,
    "aperture_samples": 64,
    "max_layer_step_px": 0.5,
    "max_layers": 17,
}
FOCUS_QUANTILES = {"near": 0.1, "mid": 0.5, "far": 0.9}
_SEED_TAG = 7_2025_11_27


@functools.lru_cache(maxsize=4)
def motorcycle_rgbd(scale: float = 0.5, crop: tuple[int, int] = (248, 368)) -> tuple[torch.Tensor, torch.Tensor]:
    """The Motorcycle scene resized by ``scale`` and centre-cropped to ``crop`` (H, W).

    Returns:
        image (1, 3, H, W) sRGB in [0, 1] float32; depth (1, 1, H, W) metres float32.
    """
    from ..simulators.render.scenes import middlebury_motorcycle

    mb = middlebury_motorcycle()
    h, w = (int(math.floor(s * scale)) for s in mb.image.shape[-2:])
    image = F.interpolate(mb.image, size=(h, w), mode="bilinear", align_corners=False, antialias=True).clamp(0.0, 1.0)
    depth = F.interpolate(mb.depth_m, size=(h, w), mode="nearest-exact")
    ch, cw = crop
    check(ch <= h and cw <= w, lambda: f"crop {crop} exceeds the resized scene {(h, w)}")
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return image[..., y0 : y0 + ch, x0 : x0 + cw].contiguous(), depth[..., y0 : y0 + ch, x0 : x0 + cw].contiguous()


def rgbd_layers(image: torch.Tensor, coc_px: torch.Tensor, step_px: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Slice an RGB-D image into RGBA layers on a CoC grid, hidden parts filled.

    Args:
        image: (1, 3, H, W) sRGB in [0, 1].
        coc_px: (1, 1, H, W) signed CoC radius (px) of every pixel.
        step_px: grid spacing (px); layer ``j`` has radius ``j * step_px`` (0 = in focus).

    Returns:
        layers (L, 4, H, W) near -> far (straight sRGB + alpha; layer ``k`` is opaque over every pixel
        whose own layer is ``k`` or nearer, its colour there the nearest pixel at or behind ``k``),
        radii (L,) float32 px ascending.
    """
    from scipy import ndimage

    j = torch.round(coc_px[0, 0].double() / step_px).to(torch.int64)
    ids = torch.unique(j)  # ascending radius = near -> far
    img = image[0].numpy()
    jn = j.numpy()
    layers = []
    for jk in ids.tolist():
        at_or_behind = jn >= jk
        _, (iy, ix) = ndimage.distance_transform_edt(~at_or_behind, return_indices=True)
        colour = img[:, iy, ix]
        colour = np.where((jn == jk)[None], img, colour)
        alpha = (jn <= jk).astype(np.float32)[None]
        layers.append(torch.from_numpy(np.concatenate([colour, alpha]).astype(np.float32)))
    return torch.stack(layers), (ids.double() * step_px).to(torch.float32)


def _generate(config: Mapping[str, Any], report: dict[str, Any]) -> Iterator[GeneratedSample]:
    image, depth = motorcycle_rgbd(float(config["scale"]), tuple(config["crop"]))
    focus_names = tuple(FOCUS_QUANTILES)
    levels = tuple(BLUR_LEVELS)
    worst: dict[str, Any] | None = None
    for i in range(int(config["num_samples"])):
        rng = np.random.default_rng(np.random.SeedSequence([_SEED_TAG, int(config["seed"]), i]))
        fname = focus_names[i % 3]
        aperture = APERTURES[(i // 3) % 3]
        level = levels[(i + i // 3) % 3]
        s = float(np.quantile(depth.double().numpy(), FOCUS_QUANTILES[fname]))
        s = float(np.float32(s))
        lo, hi = BLUR_LEVELS[level]
        k = k_for_max_coc(depth, s, float(rng.uniform(lo, hi)))
        coc = coc_map_px(depth, k, s)
        m = float(coc.abs().max())
        span = float(coc.max() - coc.min())
        step = max(float(config["max_layer_step_px"]), span / (int(config["max_layers"]) - 1))
        layers, radii = rgbd_layers(image, coc, step)
        n_ap = int(config["aperture_samples"]) * (1 if m < BLUR_LEVELS["low"][1] else 2)
        target, truth = render_truth(layers, radii, aperture, n_ap)
        if worst is None or m > worst["m"]:
            worst = {
                "m": m,
                "id": f"{i:04d}",
                "layers": layers,
                "radii": radii,
                "aperture": aperture,
                "n": n_ap,
                "image": target,
                "method": truth["method"],
            }
        cond = {"depth_m": depth, "focus_distance_m": s, "k_px_m": k, "aperture": aperture}
        meta = {
            "max_abs_coc_px": m,
            "layers": int(layers.shape[0]),
            "layer_step_px": step,
            "ground_truth": truth,
            "focus_quantile": FOCUS_QUANTILES[fname],
        }
        yield GeneratedSample(
            f"{i:04d}",
            image,
            target,
            cond,
            {"coc": coc},
            {"aperture": aperture, "blur": blur_level(m), "focus": fname},
            meta,
        )
    if worst is not None:
        twice = render_exact(worst["layers"], worst["radii"], worst["aperture"], 2 * worst["n"])
        report["convergence"] = {
            "sample": worst["id"],
            "max_abs_coc_px": worst["m"],
            "method": worst["method"],
            "aperture_samples": worst["n"],
            "against": 2 * worst["n"],
            **convergence(worst["image"], twice),
        }


def middlebury_source(
    *,
    num_samples: int | None = None,
    crop: tuple[int, int] | None = None,
    scale: float | None = None,
    seed: int = 0,
    aperture_samples: int | None = None,
) -> DataSource:
    """The :class:`DataSource` of ``middlebury-bokeh`` (defaults in :data:`DEFAULT_CONFIG`)."""
    cfg = dict(DEFAULT_CONFIG)
    if num_samples is not None:
        check(
            isinstance(num_samples, int) and num_samples >= 1,
            lambda: f"num_samples must be an int >= 1, got {num_samples!r}",
        )
        cfg["num_samples"] = num_samples
    if scale is not None:
        check(0.05 <= float(scale) <= 1.0, lambda: f"scale must be in [0.05, 1], got {scale!r}")
        cfg["scale"] = float(scale)
    if crop is not None:
        check(
            len(crop) == 2 and all(isinstance(v, int) and v >= 16 for v in crop),
            lambda: f"crop must be (H, W) ints >= 16, got {crop!r}",
        )
        cfg["crop"] = [int(crop[0]), int(crop[1])]
    source_options(cfg, seed=seed, aperture_samples=aperture_samples)
    return DataSource("middlebury-bokeh", DATA_VERSION, "bokeh", cfg, dict(DEFAULT_CONFIG), _generate)


def middlebury_bokeh(
    *,
    cache_dir: str | Path | None = None,
    num_samples: int | None = None,
    crop: tuple[int, int] | None = None,
    scale: float | None = None,
    seed: int = 0,
    aperture_samples: int | None = None,
    on_corrupt: str = "rebuild",
    progress: bool = True,
) -> GeneratedBenchmark:
    """Bokeh synthesis on the Middlebury 2014 Motorcycle RGB-D scene (reference render of its depth layering)."""
    src = middlebury_source(
        num_samples=num_samples, crop=crop, scale=scale, seed=seed, aperture_samples=aperture_samples
    )
    return GeneratedBenchmark(
        SPECS["middlebury-bokeh"], src, cache_dir=cache_dir, on_corrupt=on_corrupt, progress=progress
    )
