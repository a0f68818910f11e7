"""NTIRE 2023 Bokeh Effect Transformation as a refocus benchmark with an oracle blur strength.

The challenge asks for a lens-to-lens transfer: the photo rendered with a source lens (``{id}.src.jpg``)
-> the same scene with a target lens (``{id}.tgt.jpg``), given both lens names, a blur-strength
indicator ("disparity") and the foreground matte (``{id}.alpha.png``). That task is
``ntire23-lens-to-lens`` (:mod:`refocus_bench.benchmarks.ntire23_lens`, task ``lens-to-lens``). This
module keeps a second, narrower view of the same data: the metadata give no depth and no published
conversion of "disparity" and lens to a blur radius, so ``ntire23-refocus-oracle-k`` measures only what
the ``refocus`` task can express when the blur strength is an oracle:

* ``image`` = the source-lens photo, ``target`` = the target-lens photo;
* ``condition``: a two-plane depth from the matte (``alpha >= 0.5``: the subject at
  :data:`SUBJECT_DEPTH_M`; elsewhere the background at infinity), the focus on the subject, a disk
  aperture; so the background's CoC radius is ``k_px_m / SUBJECT_DEPTH_M`` = ``k_px_m`` pixels;
* protocol ``oracle_blur_strength``: K is searched per sample (SSIM against the target, log scale over
  :data:`K_RANGE_PX_M`); the ``k_px_m`` in the condition is only a starting value the search replaces;
* the lens names and "disparity" are labels (subsets ``src_lens``, ``tgt_lens``), not model inputs.

So a score says how well a model turns the source render into the target render when it is told the
subject's matte and the best uniform background blur, not how well it infers the target lens (that
is ``ntire23-lens-to-lens``). Source and target are the loader's roles (input = ``.src.jpg``); sizes are
cropped to a multiple of 8 like the other dataset benchmarks.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType
from typing import Any

from ..errors import InvalidInputError, check
from ..models.baselines.lens_cascade import SUBJECT_DEPTH_M, two_plane_depth
from .base import BenchmarkSpec
from .builtin_specs import BOKEH_METRICS
from .from_datasets import _CONDITIONS, CROP_MULTIPLE, DatasetBenchmark

__all__ = [
    "open_ntire23",
    "SUBJECT_DEPTH_M",
    "K_RANGE_PX_M",
    "NTIRE23Benchmark",
    "load_matte",
    "alpha_condition",
    "ntire23_refocus_oracle_k",
]

K_RANGE_PX_M = (0.25, 128.0)
"""Oracle search interval of K, pixel-metres (= the background's CoC radius in px)."""

_DESCRIPTION = (
    "NTIRE 2023 Bokeh Effect Transformation (Conde et al. 2023) as refocus with an oracle blur strength: "
    "source-lens render + foreground alpha as a two-plane depth (subject at 1 m, in focus; background at "
    "infinity) -> target-lens render; K searched per sample by SSIM over 0.25-128 px*m, disk aperture. Not the "
    "challenge's lens-to-lens task (that is ntire23-lens-to-lens): the lens names and 'disparity' are labels, "
    "not model inputs."
)


def load_matte(loaded: Any) -> Any:
    """The foreground matte of an NTIRE sample, (1, 1, H, W) in [0, 1] (1 = subject), uncropped.

    Args:
        loaded: a :class:`~refocus_bench.datasets.loaders.sample.LoadedSample` with ``aux_paths["alpha"]``.

    Raises:
        InvalidInputError: the sample has no ``{id}.alpha.png``, or the matte's (H, W) differs from the
            source photo's; the message names the sample or the file.
    """
    from ..datasets.loaders.sample import load_image

    path = loaded.sample.aux_paths.get("alpha")
    check(path is not None, lambda: f"NTIRE sample {loaded.id!r} has no {loaded.id}.alpha.png matte")
    alpha, _ = load_image(path, name=f"sample {loaded.id!r} alpha")
    check(
        tuple(alpha.shape[-2:]) == tuple(loaded.input.shape[-2:]),
        lambda: f"{path}: the matte is {tuple(alpha.shape[-2:])} (H, W), "
        f"the source photo {tuple(loaded.input.shape[-2:])}",
    )
    return alpha[:, :1]


def alpha_condition(loaded: Any, crop: Any) -> dict[str, Any]:
    """The refocus condition of an NTIRE sample from its matte (see the module docstring).

    Args:
        loaded: a :class:`~refocus_bench.datasets.loaders.sample.LoadedSample` with ``aux_paths["alpha"]``.
        crop: the benchmark's crop of (..., H, W) tensors.

    Returns:
        ``depth_m`` (1, 1, H, W) metres (``SUBJECT_DEPTH_M`` or ``inf``), ``focus_distance_m``,
        ``k_px_m`` (the search's start), ``aperture``.
    """
    depth = two_plane_depth(load_matte(loaded))
    lo, hi = K_RANGE_PX_M
    return {
        "depth_m": crop(depth).contiguous(),
        "focus_distance_m": SUBJECT_DEPTH_M,
        "k_px_m": (lo * hi) ** 0.5,
        "aperture": "disk",
    }


class NTIRE23Benchmark(DatasetBenchmark):
    """:class:`DatasetBenchmark` with the matte condition (``"ntire23_alpha"``, :func:`alpha_condition`);
    its hash also covers each sample's matte (``{id}.alpha.png``)."""

    conditions = MappingProxyType({**_CONDITIONS, "ntire23_alpha": alpha_condition})

    def files(self) -> dict[str, list[str]]:
        out = super().files()
        for sid in self._ids:
            alpha = self._samples[sid].aux_paths.get("alpha")
            if alpha is not None:
                out[sid].append(self.dataset.relpath(alpha))
        return out


def _spec() -> BenchmarkSpec:
    from ..datasets.loaders import dataset_card

    card = dataset_card("ntire23_bokeh")
    lo, hi = K_RANGE_PX_M
    return BenchmarkSpec(
        name="ntire23-refocus-oracle-k",
        version="1",
        task="refocus",
        description=_DESCRIPTION,
        headline_metric="lpips.alex",
        metrics=BOKEH_METRICS,
        source={
            "kind": "dataset",
            "dataset": "ntire23_bokeh",
            "split": "auto",
            "layout": "auto",
            "homepage": card.homepage,
            "condition": "ntire23_alpha",
            "samples": "all",
            "depth": f"two planes from {{id}}.alpha.png >= 0.5: subject {SUBJECT_DEPTH_M} m (focus), background inf",
            "not_used": "src_lens, tgt_lens, disparity (subset labels / params only); no lens-specific aperture",
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
        protocol={"name": "oracle_blur_strength", "objective": "ssim.rgb", "k_range_px_m": [lo, hi], "iterations": 12},
        subsets=("src_lens", "tgt_lens"),
        licence=card.licence,
        citation=card.citation,
    )


def open_ntire23(benchmark: str, root: Any, **kwargs: Any) -> Any:
    """The NTIRE 2023 loader on ``root`` for ``benchmark``; without a root, an error saying where to get the data.

    ``kwargs`` (split, layout, check, strict) go to :func:`~refocus_bench.datasets.loaders.open_dataset`.
    """
    from ..datasets.loaders import dataset_card, open_dataset

    if root is None:
        card = dataset_card("ntire23_bokeh")
        raise InvalidInputError(
            f"benchmark {benchmark!r} needs root=<folder of your local NTIRE 2023 bokeh copy> (CLI: "
            f"--benchmark-arg root=/path/to/NTIRE23); refocus-bench does not download it: get it from {card.homepage} "
            "and see docs/datasets.md for the accepted layouts"
        )
    return open_dataset("ntire23_bokeh", root, **kwargs)


def ntire23_refocus_oracle_k(
    root: Any = None,
    *,
    split: str | None = None,
    layout: str = "auto",
    check: bool = True,
    strict: bool = False,
) -> NTIRE23Benchmark:
    """NTIRE 2023 bokeh transformation as refocus with matte depth and oracle K (not lens-to-lens); needs root=.

    Args:
        root: the local copy (flat ``meta.txt`` + ``{id}.src.jpg`` ... or ``{train,validation,test}/``).
        split: the loader's split (default: ``default`` for the flat layout, ``validation`` for split folders).
        layout, check, strict: as for the other dataset benchmarks.
    """
    ds = open_ntire23("ntire23-refocus-oracle-k", root, split=split, layout=layout, check=check, strict=strict)
    spec = _spec()
    if not any(s.target_path is not None for s in ds):
        raise InvalidInputError(
            f"NTIRE 2023 copy at {str(root)!r}, split {ds.split!r}: no {{id}}.tgt.jpg; "
            "the oracle K search needs targets"
        )
    return NTIRE23Benchmark(replace(spec, source={**spec.source, "split": ds.split, "layout": ds.layout.name}), ds)
