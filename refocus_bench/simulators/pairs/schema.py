"""The record schema of a pair dataset: explicit Hugging Face ``Features`` and the meaning of every field.

One record is one (sample, task): the input and target images, the all-in-focus image, the depth, the
CoC and defocus maps of both sides and the parameters of both sides (:data:`SIDE_DOCS`). The three
routes of GenRefocus's training data write the same record, told apart by ``route`` (:data:`ROUTES`):
simulator pairs (``make-pairs``), real photos with EXIF (``make-real-pairs``) and real pairs with a
fitted blur (``fit-blur``). The dataset
card (:mod:`refocus_bench.simulators.pairs.card`) prints :data:`FIELD_DOCS` and :data:`SIDE_DOCS`;
the Parquet writer (:mod:`refocus_bench.simulators.pairs.records`) follows :func:`pair_features`.

>>> MAP_FIELDS
('depth_m', 'source_coc_px', 'target_coc_px', 'source_defocus', 'target_defocus')
>>> list(SIDE_DOCS)[:3]
['kind', 'mode', 'k_px_m']
>>> sorted(ROUTES)
['exif', 'fit-blur', 'simulator']
"""

from __future__ import annotations

__all__ = ["FIELD_DOCS", "SIDE_DOCS", "MAP_FIELDS", "ROUTES", "pair_features"]

ROUTES = {
    "simulator": "(a) rendered from a sharp image with sampled K and focus (make-pairs)",
    "exif": "(b) a real bokeh photo: AIF from a deblur model, K from its EXIF, focus = median depth in focus",
    "fit-blur": "(c) a real (AIF, bokeh) pair: K* = argmax_K SSIM(render(AIF, D; focus, K), bokeh)",
}
"""The routes a record can come from (the ``route`` field)."""

FIELD_DOCS = {
    "id": "record id: <sample_id>-<task>",
    "sample_id": "<scene_index:06d>-<pair_index:02d>; the three tasks of one sample share it",
    "task": "deblur, bokeh or refocus",
    "scene_index": "index of the scene in the run",
    "pair_index": "index of the blur setting within the scene",
    "seed": "run seed; sample RNG = SeedSequence([tag, seed, scene_index, pair_index + 1])",
    "scene": "name, source, licence and scene parameters (JSON) of the scene",
    "input": "model input, sRGB 8-bit PNG",
    "target": "model target, sRGB 8-bit PNG",
    "aif": "all-in-focus (pinhole) image, sRGB 8-bit PNG",
    "depth_m": "depth in metres, float32 (H, W); inf = sky / infinitely far",
    "source_coc_px": (
        "signed CoC radius (px) of the input's setting, float32 (H, W); positive behind focus; zeros for a pinhole"
    ),
    "target_coc_px": "signed CoC radius (px) of the target's setting (as above)",
    "source_defocus": (
        "GenRefocus defocus map clip(|K (1/z - 1/s)| / 100, 0, 1) of the input's setting, float32 (H, W)"
    ),
    "target_defocus": "GenRefocus defocus map of the target's setting",
    "source": "parameters of the input's setting (see the side fields)",
    "target_params": "parameters of the target's setting (see the side fields)",
    "route": "where the record comes from: simulator, exif or fit-blur (schema.ROUTES)",
    "confidence": "real-photo routes: confidence in [0, 1] of K and focus (see provenance_json); null: simulator",
    "provenance_json": (
        "real-photo routes: JSON of the source files (sha256), models, mask, fit and confidence terms; null: simulator"
    ),
}
"""Meaning of every top-level field of a record, in column order."""

SIDE_DOCS = {
    "kind": "all-in-focus (pinhole, K = 0) or defocused",
    "mode": "physical or k",
    "k_px_m": "blur gain K in pixel-metres: CoC = K (1/s - 1/z)",
    "focus_distance_m": "focus distance s in metres",
    "focal_length_mm": "focal length (physical mode)",
    "f_number": "f-number (physical mode)",
    "sensor_format": "sensor format name (physical mode)",
    "sensor_width_mm": "long-side sensor width in mm spanned by the image's longest edge (physical mode)",
    "aperture": "aperture shape name (refocus_bench.simulators.render.apertures)",
    "focus_method": "depth-histogram, point or mask-median; real routes: mask-median, given or pair-mask",
    "focus_x": "pixel (x right) the focus came from (mask centre for mask-median)",
    "focus_y": "pixel (y down) the focus came from",
    "focus_mask_box": "mask-median: bounding box [x0, y0, x1, y1) of the mask",
    "max_abs_coc_px": "largest |CoC| over the image (px)",
}
"""Meaning of every field of a side (``source``, ``target_params``), in column order."""

MAP_FIELDS = ("depth_m", "source_coc_px", "target_coc_px", "source_defocus", "target_defocus")
"""The float32 (H, W) map fields (``Array2D`` columns)."""

_SIDE_STRINGS = ("kind", "mode", "sensor_format", "aperture", "focus_method")
_SIDE_FLOATS = ("k_px_m", "focus_distance_m", "focal_length_mm", "f_number", "sensor_width_mm", "max_abs_coc_px")


def pair_features(size: tuple[int, int]):  # noqa: ANN201 - datasets.Features (imported lazily)
    """The explicit ``datasets.Features`` of a pair record at image size ``size`` = (H, W) pixels."""
    from datasets import Array2D, Features, Image, List, Value

    side = {name: Value("string") for name in _SIDE_STRINGS}
    side.update({name: Value("float64") for name in _SIDE_FLOATS})
    side.update(focus_x=Value("int32"), focus_y=Value("int32"), focus_mask_box=List(Value("int32")))
    side = {k: side[k] for k in SIDE_DOCS}
    h, w = size
    return Features(
        {
            "id": Value("string"),
            "sample_id": Value("string"),
            "task": Value("string"),
            "scene_index": Value("int32"),
            "pair_index": Value("int32"),
            "seed": Value("int64"),
            "scene": {
                "name": Value("string"),
                "source": Value("string"),
                "licence": Value("string"),
                "params_json": Value("string"),
            },
            "input": Image(),
            "target": Image(),
            "aif": Image(),
            **{m: Array2D((h, w), "float32") for m in MAP_FIELDS},
            "source": side,
            "target_params": side,
            "route": Value("string"),
            "confidence": Value("float64"),
            "provenance_json": Value("string"),
        }
    )
