"""NTIRE 2023 Bokeh Effect Transformation as the challenge posed it: the ``lens-to-lens`` task.

Each sample of a local copy (loader ``ntire23_bokeh``: ``{id}.src.jpg``, ``{id}.tgt.jpg``,
``{id}.alpha.png``, ``meta.txt`` lines ``id, src_lens, tgt_lens, disparity``) becomes:

* ``image`` = the source-lens photo (``.src.jpg``), ``target`` = the target-lens photo (``.tgt.jpg``);
* ``condition`` (:class:`~refocus_bench.tasks.LensToLensCondition`): ``src_lens`` and ``tgt_lens``
  (the names of ``meta.txt``, parsed by :meth:`~refocus_bench.tasks.NamedLens.parse` when the benchmark
  is built), ``disparity`` (float, as given) and ``alpha`` (1, 1, H, W) in [0, 1] from ``{id}.alpha.png``;
* protocol ``direct``: ``model.lens_to_lens(image, **condition)``, nothing searched or fitted;
* metrics: the challenge's three scores (its starter code: PSNR, SSIM, LPIPS with AlexNet), here at the
  toolkit's definitions ``psnr.rgb``, ``ssim.rgb`` and ``lpips.alex`` (the starter code's PSNR takes
  the first image's maximum as the peak, and its SSIM is scikit-image's 7x7 window: scores are
  comparable between models here, not digit for digit with the challenge's table); headline LPIPS.

Sizes are cropped to a multiple of 8 (centred) like the other dataset benchmarks. Bad input is refused
when the benchmark is built: a lens name that is not ``<Maker><f>mmf<N>[tag]`` or a negative
disparity names ``meta.txt`` and its line; a copy without mattes names the folder.
"""

from __future__ import annotations

import math
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from ..errors import InvalidInputError
from ..tasks import NamedLens
from .base import BenchmarkSpec
from .from_datasets import CROP_MULTIPLE
from .ntire23 import NTIRE23Benchmark, load_matte, open_ntire23

__all__ = ["LENS_TO_LENS_METRICS", "lens_condition", "NTIRE23LensBenchmark", "ntire23_lens_to_lens"]

LENS_TO_LENS_METRICS = ("lpips.alex", "psnr.rgb", "ssim.rgb")
"""The challenge's scores (PSNR, SSIM, LPIPS-alex); LPIPS first, the headline."""

_DESCRIPTION = (
    "NTIRE 2023 Bokeh Effect Transformation (Conde et al. 2023), the challenge's lens-to-lens task: source-lens "
    "render + both lens names (maker, focal length, f-number) + meta.txt 'disparity' + foreground alpha -> "
    "target-lens render; scored with the challenge's PSNR, SSIM and LPIPS (alex)."
)


def lens_condition(loaded: Any, crop: Any) -> dict[str, Any]:
    """The ``lens-to-lens`` condition of an NTIRE sample (see the module docstring).

    Returns:
        ``src_lens``, ``tgt_lens`` (names), ``disparity`` (float), ``alpha`` (1, 1, H, W) in [0, 1], cropped.
    """
    p = loaded.sample.params
    return {
        "src_lens": p["src_lens"],
        "tgt_lens": p["tgt_lens"],
        "disparity": float(p["disparity"]),
        "alpha": crop(load_matte(loaded)).contiguous(),
    }


class NTIRE23LensBenchmark(NTIRE23Benchmark):
    """:class:`NTIRE23Benchmark` with the ``lens-to-lens`` condition (``"ntire23_lens"``, :func:`lens_condition`)."""

    conditions = MappingProxyType({**NTIRE23Benchmark.conditions, "ntire23_lens": lens_condition})


def _spec() -> BenchmarkSpec:
    from ..datasets.loaders import dataset_card

    card = dataset_card("ntire23_bokeh")
    return BenchmarkSpec(
        name="ntire23-lens-to-lens",
        version="1",
        task="lens-to-lens",
        description=_DESCRIPTION,
        headline_metric="lpips.alex",
        metrics=LENS_TO_LENS_METRICS,
        source={
            "kind": "dataset",
            "dataset": "ntire23_bokeh",
            "split": "auto",
            "layout": "auto",
            "homepage": card.homepage,
            "condition": "ntire23_lens",
            "samples": "all",
            "inputs": "src_lens, tgt_lens (meta.txt names), disparity (meta.txt, as given), alpha ({id}.alpha.png)",
        },
        preprocessing={
            "color": "sRGB",
            "data_range": 1.0,
            "bit_depth": 8,
            "resize": "none",
            "crop_multiple": CROP_MULTIPLE,
            "crop": "centred crop of source, target and matte to the largest multiple of 8 in each side",
            "border_crop_px": 0,
        },
        protocol={"name": "direct"},
        subsets=("src_lens", "tgt_lens"),
        licence=card.licence,
        citation=card.citation,
    )


def _check_samples(ds: Any, root: Any) -> None:
    """Every lens name parses and every disparity is finite and >= 0 (naming meta.txt and the line);
    the copy has mattes and targets."""
    for s in ds:
        where = f"{ds.relpath(s.input_path.parent / 'meta.txt')} line {s.params.get('meta_line', '?')}"
        for role in ("src_lens", "tgt_lens"):
            NamedLens.parse(s.params[role], where=f"{where} ({role} of sample {s.id!r})")
        d = float(s.params["disparity"])
        if not (math.isfinite(d) and d >= 0):
            raise InvalidInputError(f"{where}: disparity of sample {s.id!r} must be a finite number >= 0, got {d}")
        if "alpha" not in s.aux_paths:
            raise InvalidInputError(
                f"NTIRE 2023 copy at {str(root)!r}, split {ds.split!r}: no {{id}}.alpha.png next to "
                f"{ds.relpath(s.input_path)!r}; the lens-to-lens task needs the foreground matte"
            )
        if s.target_path is None:
            raise InvalidInputError(
                f"NTIRE 2023 copy at {str(root)!r}, split {ds.split!r}: no {{id}}.tgt.jpg; "
                "the lens-to-lens scores need targets"
            )


def ntire23_lens_to_lens(
    root: Any = None,
    *,
    split: str | None = None,
    layout: str = "auto",
    check: bool = True,
    strict: bool = False,
) -> NTIRE23LensBenchmark:
    """NTIRE 2023 bokeh transformation, the challenge's lens-to-lens task; needs root=.

    Args:
        root: the local copy (flat ``meta.txt`` + ``{id}.src.jpg`` ... or ``{train,validation,test}/``).
        split: the loader's split (default: ``default`` for the flat layout, ``validation`` for split folders).
        layout, check, strict: as for the other dataset benchmarks.

    Raises:
        InvalidInputError: no root; an unknown lens name or a bad disparity (naming ``meta.txt`` and its
            line); no mattes or no targets in the split.
    """
    ds = open_ntire23("ntire23-lens-to-lens", root, split=split, layout=layout, check=check, strict=strict)
    _check_samples(ds, root)
    spec = _spec()
    return NTIRE23LensBenchmark(replace(spec, source={**spec.source, "split": ds.split, "layout": ds.layout.name}), ds)
