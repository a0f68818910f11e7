"""Synthetic training pairs (deblur, bokeh, refocus), deterministic by seed, sharded and resumable.

Python API::

    from refocus_bench.simulators.pairs import PairConfig, make_pairs
    result = make_pairs(PairConfig(size=(256, 256), num_scenes=8), "pairs/", workers=2)
    print(result.records, result.failures)

Modules, low to high: ``params`` (distributions, lens and focus draws), ``user_scenes`` (folders of
image + depth files), ``generate`` (:class:`PairConfig`, scenes, rendered samples), ``schema`` (the
record's ``datasets.Features`` and field meanings), ``records`` (records of a sample, Parquet and
folder shard writers), ``card`` (the generated dataset card), ``shards`` (:func:`make_pairs` /
``run``: shards, resume, parallel workers), ``cli`` (``refocus-bench make-pairs``). Pairs from real
photos: ``fit_blur`` (route c: K* through the renderer), ``fit_pairs`` (``refocus-bench fit-blur``),
``real`` (route b, ``refocus-bench make-real-pairs``), ``focus_mask``, ``real_inputs``,
``real_writer``, ``real_cli``. Names resolve lazily: importing the package imports none of these modules.
"""

from __future__ import annotations

from ...lazy import lazy_exports

_EXPORTS = {
    "PairConfig": "generate",
    "Sample": "generate",
    "SampleFailure": "generate",
    "PreparedScene": "generate",
    "prepare_scene": "generate",
    "make_sample": "generate",
    "scene_samples": "generate",
    "Dist": "params",
    "LensDraw": "params",
    "ParameterError": "params",
    "UserScene": "user_scenes",
    "SceneLoadError": "user_scenes",
    "find_user_scenes": "user_scenes",
    "load_user_scene": "user_scenes",
    "FIELD_DOCS": "schema",
    "SIDE_DOCS": "schema",
    "pair_features": "schema",
    "dataset_card": "card",
    "make_pairs": "shards",
    "FitSettings": "fit_blur",
    "BlurFit": "fit_blur",
    "make_real_pairs": "real",
    "sharpness_mask": "focus_mask",
    "ROUTES": "schema",
    "PairRunResult": "shards",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
