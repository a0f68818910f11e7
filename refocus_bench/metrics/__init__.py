"""Metrics with a declared meaning: full-reference, perceptual, no-reference, bokeh-aware.

The registry verbs are the public API::

    >>> from refocus_bench.metrics import list_metrics, create_metric
    >>> "psnr.rgb" in list_metrics("psnr.*")
    True
    >>> m = create_metric("psnr.y", crop_border=4)
    >>> m.spec.higher_is_better, m.spec.conventions["crop_border"]
    (True, 4)

Entries are lazy ``"module:Class"`` placeholders, so importing this package imports neither the
networks (LPIPS, DISTS, CLIP ...) nor their weights; :func:`metric_spec` reads a metric's declared
meaning without instantiating it. Third-party packages register metrics through the
``refocus_bench.metrics`` entry-point group.
"""

from __future__ import annotations

from typing import Any

from ..lazy import lazy_exports
from ..registry import Registry
from .extras import pyiqa_installed

__all__ = [
    "METRICS",
    "list_metrics",
    "create_metric",
    "metric_spec",
    "MetricSpec",
    "RefocusMetric",
    "NetworkMetric",
    "MetricSuite",
]

METRICS = Registry("metric", "refocus_bench.metrics")

_LAZY = {
    # full reference (full_reference.py)
    "psnr.rgb": "refocus_bench.metrics.full_reference:PSNR",
    "psnr.y": "refocus_bench.metrics.full_reference:PSNRY",
    "ssim.rgb": "refocus_bench.metrics.full_reference:SSIM",
    "ssim.y": "refocus_bench.metrics.full_reference:SSIMY",
    "ms_ssim.rgb": "refocus_bench.metrics.full_reference:MSSSIM",
    "mae.rgb": "refocus_bench.metrics.full_reference:MAE",
    # perceptual with real weights (perceptual.py)
    "lpips.alex": "refocus_bench.metrics.perceptual:LPIPSAlex",
    "lpips.vgg": "refocus_bench.metrics.perceptual:LPIPSVGG",
    "dists.vgg16": "refocus_bench.metrics.perceptual:DISTS",
    # CLIP-based, through torchmetrics / transformers from a local folder (clip.py)
    "clipiqa.vit": "refocus_bench.metrics.clip:CLIPIQA",
    "clip_i.vit": "refocus_bench.metrics.clip:CLIPImageSimilarity",
    # blind quality from natural scene statistics, packaged constants (blind_iqa.py)
    "niqe.live": "refocus_bench.metrics.blind_iqa:NIQE",
    "brisque.live": "refocus_bench.metrics.blind_iqa:BRISQUE",
    # bokeh-aware (bokeh.py)
    "bokeh.psnr_in_focus": "refocus_bench.metrics.bokeh:PSNRInFocus",
    "bokeh.psnr_out_of_focus": "refocus_bench.metrics.bokeh:PSNROutOfFocus",
    "bokeh.psnr_edge_band": "refocus_bench.metrics.bokeh:PSNREdgeBand",
    "bokeh.ssim_in_focus": "refocus_bench.metrics.bokeh:SSIMInFocus",
    "bokeh.ssim_out_of_focus": "refocus_bench.metrics.bokeh:SSIMOutOfFocus",
    "bokeh.ssim_edge_band": "refocus_bench.metrics.bokeh:SSIMEdgeBand",
    "bokeh.blur_size_error": "refocus_bench.metrics.bokeh:BlurSizeError",
    "bokeh.aperture_iou": "refocus_bench.metrics.bokeh:ApertureIoU",
    "bokeh.aperture_ncc": "refocus_bench.metrics.bokeh:ApertureNCC",
    "lvcorr.pearson": "refocus_bench.metrics.bokeh:LVCorrPearson",
    "lvcorr.spearman": "refocus_bench.metrics.bokeh:LVCorrSpearman",
    "lvcorr.genphoto": "refocus_bench.metrics.bokeh:LVCorrGenPhoto",
}
# MUSIQ and MANIQA through pyiqa: registered only when the non-commercial extra is installed
_PYIQA = {
    "musiq.koniq": "refocus_bench.metrics.iqa_noncommercial:MUSIQ",
    "maniqa.koniq": "refocus_bench.metrics.iqa_noncommercial:MANIQA",
}
if pyiqa_installed():
    _LAZY.update(_PYIQA)
for _name, _ref in _LAZY.items():
    METRICS.register(_name, _ref)


def list_metrics(pattern: str = "*") -> list[str]:
    """Registered metric names matching a shell-style ``pattern`` (e.g. ``"bokeh.*"``), sorted."""
    return METRICS.list(pattern)


def create_metric(name: str, **kwargs: Any) -> Any:
    """Instantiate metric ``name``; ``kwargs`` override its pinned conventions (recorded in its spec).

    Raises:
        UnknownNameError: ``name`` is not registered (the message lists close matches).
        MissingFileError: the metric needs weights that are not on disk (the message names the path).
    """
    return METRICS.create(name, **kwargs)


def metric_spec(name: str) -> Any:
    """The declared :class:`MetricSpec` of ``name`` (imports its module, builds no network)."""
    return METRICS.get(name).spec


# lazy re-exports of the base types
__getattr__, __dir__ = lazy_exports(
    __name__, {n: "base" for n in ("MetricSpec", "RefocusMetric", "NetworkMetric", "MetricSuite")}
)
