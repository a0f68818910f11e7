"""Definitions (:class:`BenchmarkSpec`) of the built-in, generated benchmarks: data, not logic.

Metrics follow GenRefocus: deblurring is ranked by LPIPS (AlexNet, v0.1) with DISTS and, as extras it
does not report, PSNR and SSIM on sRGB; bokeh and refocusing by LPIPS with DISTS, PSNR, SSIM and the
bokeh-aware PSNR of the occlusion edge band (which needs the target's CoC map: samples carry it in
``metric_inputs["coc"]``). GenRefocus also reports CLIP-IQA, MUSIQ, MANIQA (deblur) and CLIP-I
(bokeh/refocus); their weights cannot be obtained offline, so they are not in the defaults (the
adapters exist in :mod:`refocus_bench.metrics.no_reference` for users who have the weights).

Protocols (executed by the evaluation runner):

* ``{"name": "direct"}``: the model gets the condition without oracle keys;
* ``{"name": "oracle_coc"}``: also the ground-truth CoC of the input (``coc_px`` / ``input_coc_px``);
* ``{"name": "oracle_blur_strength", "objective": "ssim.rgb", "k_range_px_m": [lo, hi], "iterations": N}``:
  GenRefocus's per-image blur-strength search: ``k_px_m`` is replaced by the value in the range that
  maximises SSIM to the target (N model calls per sample at most);
* ``{"name": "lvcorr_sweep", "k_values_px_m": [...], "metric": "lvcorr.genphoto"}``: controllability:
  the model renders each sample (one scene) at every ``K`` of the sweep (increasing blur); the
  per-sample score is LVCorr as Generative Photography computes it: the Pearson correlation of the
  consecutive changes of the renderings' Laplacian variance with those of the exact reference sweep
  (``metric_inputs["target_sweep"]``); see :mod:`refocus_bench.benchmarks.synthetic_sweep`.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from .base import BenchmarkSpec

__all__ = ["SPECS", "DATA_OF", "DEBLUR_METRICS", "BOKEH_METRICS", "LVCORR_METRICS", "SWEEP_K_PX_M", "spec"]

DEBLUR_METRICS = ("lpips.alex", "dists.vgg16", "psnr.rgb", "ssim.rgb")
BOKEH_METRICS = ("lpips.alex", "dists.vgg16", "psnr.rgb", "ssim.rgb", "bokeh.psnr_edge_band")
LVCORR_METRICS = ("lvcorr.genphoto",)
SWEEP_K_PX_M = (2.0, 4.0, 6.0, 8.0, 12.0, 16.0, 20.0, 24.0)
"""K (px*m) of the sweep benchmarks; every sweep scene's largest |1/z - 1/z_focus| is 0.5 1/m, so the largest
CoC of the steps is 1, 2, 3, 4, 6, 8, 10, 12 px (:mod:`refocus_bench.benchmarks.synthetic_sweep`)."""

_NOT_OFFLINE = (
    "CLIP-IQA/MUSIQ/MANIQA/CLIP-I (GenRefocus's no-reference and CLIP metrics) are left out: no weights offline."
)
_SYN_PRE = {
    "color": "sRGB",
    "data_range": 1.0,
    "bit_depth": 16,
    "resize": "none",
    "crop_multiple": 8,
    "border_crop_px": 16,
    "border_note": "the reference renderer reflects at the frame edge; scores "
    "skip a 16 px border (the largest CoC radius)",
}
_SYN_SOURCE = {
    "kind": "generated",
    "generator": "refocus_bench.benchmarks.synthetic",
    "scenes": ["dead-leaves", "planes", "lights"],
    "apertures": ["disk", "hexagon", "heart"],
    "blur_levels_max_abs_coc_px": {"low": [1.5, 4.0], "mid": [4.0, 9.0], "high": [9.0, 16.0]},
    "ground_truth": "refocus_bench.simulators.render.reference (shift-and-add over the aperture, "
    "exact occlusion with hidden content)",
}
_SYN_LICENCE = "generated; textures: scikit-image sample photographs (public domain / CC0)"
_MB_LICENCE = "Middlebury stereo datasets: free for research use, cite the paper (redistributed in scikit-image)"
_MB_CITATION = (
    "D. Scharstein, H. Hirschmüller, Y. Kitajima, G. Krathwohl, N. Nesic, X. Wang, P. Westling. "
    "High-resolution stereo datasets with subpixel-accurate ground truth. GCPR 2014."
)
_SUBSETS = ("aperture", "blur", "scene")
_ORACLE_K = {"name": "oracle_blur_strength", "objective": "ssim.rgb", "k_range_px_m": [0.5, 80.0], "iterations": 10}
_LVCORR = {"name": "lvcorr_sweep", "k_values_px_m": list(SWEEP_K_PX_M), "metric": "lvcorr.genphoto"}
_SWEEP_SOURCE = {
    "kind": "generated",
    "generator": "refocus_bench.benchmarks.synthetic_sweep",
    "scenes": ["dead-leaves", "planes", "lights"],
    "apertures": ["disk", "hexagon", "heart"],
    "k_values_px_m": list(SWEEP_K_PX_M),
    "max_abs_coc_px": [1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 12.0],
    "scene_spread_per_m": 0.5,
    "focus": "a visible layer covering at most half of the frame",
    "scene_rule": "the defocused part (farther than the largest CoC from the in-focus region) carries at least "
    "half of the reference's Laplacian-variance change over the sweep",
    "ground_truth": "refocus_bench.simulators.render.reference at every K (metric_inputs target_sweep)",
}


def _syn(
    name: str,
    task: str,
    desc: str,
    metrics: tuple[str, ...],
    protocol: dict[str, Any],
    data: str,
    headline: str = "lpips.alex",
) -> BenchmarkSpec:
    return BenchmarkSpec(
        name=name,
        version="1",
        task=task,
        description=f"{desc} {_NOT_OFFLINE}",
        headline_metric=headline,
        metrics=metrics,
        source={**_SYN_SOURCE, "data": data},
        preprocessing=dict(_SYN_PRE),
        protocol=protocol,
        subsets=_SUBSETS,
        licence=_SYN_LICENCE,
        citation="refocus-bench built-in synthetic benchmark (this toolkit); "
        "protocols after GenRefocus, arXiv 2512.16923",
    )


_ALL = [
    _syn(
        "synthetic-deblur",
        "deblur",
        "Defocus deblurring of procedural layered scenes: reference-rendered "
        "defocused input -> all-in-focus target; 16 samples, 256x256.",
        DEBLUR_METRICS,
        {"name": "direct"},
        "synthetic-deblur",
    ),
    _syn(
        "synthetic-deblur-oracle-coc",
        "deblur",
        "synthetic-deblur with the ground-truth signed CoC map of the input passed to the model (coc_px).",
        DEBLUR_METRICS,
        {"name": "oracle_coc"},
        "synthetic-deblur",
    ),
    _syn(
        "synthetic-bokeh",
        "bokeh",
        "Bokeh synthesis on procedural layered scenes: all-in-focus + depth (m) + "
        "focus distance (m) + K (px*m) + aperture -> reference bokeh; 16 samples, 256x256.",
        BOKEH_METRICS,
        {"name": "direct"},
        "synthetic-bokeh",
    ),
    _syn(
        "synthetic-bokeh-oracle",
        "bokeh",
        "synthetic-bokeh scored after GenRefocus's per-image blur-strength search (K maximising SSIM to the target).",
        BOKEH_METRICS,
        dict(_ORACLE_K),
        "synthetic-bokeh",
    ),
    _syn(
        "synthetic-refocus",
        "refocus",
        "Refocusing procedural layered scenes: input defocused with one "
        "focus/K/aperture -> reference with another; condition depth (m) + the new focus, K, aperture "
        "(+ input_coc_px oracle); 12 samples, 256x256.",
        BOKEH_METRICS,
        {"name": "direct"},
        "synthetic-refocus",
    ),
    *(
        BenchmarkSpec(
            name=f"synthetic-{task}-sweep",
            version="1",
            task=task,
            description=f"Blur controllability (LVCorr, Generative Photography's definition) of {what}: each of "
            "12 procedural scenes (128x128) rendered at 8 blur strengths K with the same image, depth, focus "
            "and aperture, scored against the exact reference sweep (higher is better).",
            headline_metric="lvcorr.genphoto",
            metrics=LVCORR_METRICS,
            source={**_SWEEP_SOURCE, "data": f"synthetic-{task}-sweep"},
            preprocessing={
                **_SYN_PRE,
                "border_crop_px": 12,
                "border_note": "the reference renderer reflects at "
                "the frame edge; scores skip a 12 px border (the largest CoC radius)",
            },
            protocol=dict(_LVCORR),
            subsets=("aperture", "scene"),
            licence=_SYN_LICENCE,
            citation="refocus-bench built-in synthetic benchmark (this toolkit); LVCorr after Generative "
            "Photography (Yuan et al., CVPR 2025), as reported by GenRefocus, arXiv 2512.16923",
        )
        for task, what in (
            ("bokeh", "bokeh rendering from the all-in-focus image and depth"),
            ("refocus", "refocusing a defocused image (another focus plane, blur and aperture)"),
        )
    ),
    BenchmarkSpec(
        name="middlebury-bokeh",
        version="1",
        task="bokeh",
        description="Bokeh synthesis on the real Middlebury 2014 Motorcycle RGB-D scene (calibrated stereo depth, "
        "2.1-5 m), 248x368, 12 focus/aperture/blur settings; ground truth is the exact reference render "
        "of the RGB-D image sliced into depth layers - content hidden behind foreground objects is not "
        f"known for a real scene and is filled from its nearest visible neighbours. {_NOT_OFFLINE}",
        headline_metric="lpips.alex",
        metrics=BOKEH_METRICS,
        source={
            "kind": "generated",
            "generator": "refocus_bench.benchmarks.middlebury",
            "data": "middlebury-bokeh",
            "scene": "skimage.data.stereo_motorcycle (Middlebury 2014 Motorcycle, left view + disparity)",
            "depth": "Z = f B / (d + doffs), f=994.978 px, B=193.001 mm, doffs=31.086 px; 7% missing pixels "
            "filled from the nearest valid pixel",
            "apertures": ["disk", "hexagon", "heart"],
            "ground_truth": "refocus_bench.simulators.render.reference on a depth-sliced layering with "
            "nearest-neighbour fill of hidden content",
        },
        preprocessing={
            "color": "sRGB",
            "data_range": 1.0,
            "bit_depth": 16,
            "resize": "0.5x bilinear antialiased (500x741 -> 250x370), centre crop 248x368",
            "crop_multiple": 8,
            "border_crop_px": 16,
        },
        protocol={"name": "direct"},
        subsets=("aperture", "blur", "focus"),
        licence=_MB_LICENCE,
        citation=_MB_CITATION,
    ),
]

SPECS = MappingProxyType({s.name: s for s in _ALL})
"""name -> spec of every built-in generated benchmark."""

DATA_OF = MappingProxyType({s.name: s.source["data"] for s in _ALL})
"""name -> the data source (cache folder) it evaluates; protocol variants share their base's data."""


def spec(name: str) -> BenchmarkSpec:
    return SPECS[name]
