"""Benchmarks on local copies of the field's datasets: the loaders of
:mod:`refocus_bench.datasets.loaders` behind the :class:`Benchmark` interface.

Nothing is downloaded. Every factory takes ``root=`` (the folder of the user's copy), opens the loader
(layout detection plus the quick validation of :func:`~refocus_bench.datasets.loaders.open_dataset`,
whose messages name the files) and wraps it in one generic :class:`DatasetBenchmark`::

    refocus-bench evaluate --model deblur.wiener --benchmark dpdd-test --benchmark-arg root=/data/DPDD -o results

Registered (spec version ``"1"``; see ``docs/benchmarks.md``, "Benchmarks on dataset copies"):

* ``dpdd-test``: DPDD test split, combined (``c``) view -> all-in-focus target, 16-bit PNG,
  ``subset["scene"]`` indoor/outdoor where the label lists exist;
* ``realdof``: RealDOF ``source`` -> ``target``;
* ``lfdof-test``: LFDOF ``input`` -> ``ground_truth``;
* ``cuhk-blur``: CUHK defocused photos without ground truth, scored only by no-reference metrics
  (CLIP-IQA, MUSIQ, MANIQA adapters: they need local weights; without them the runner stops before
  any sample with a :class:`~refocus_bench.errors.MissingFileError` naming the folder);
* ``realbokeh-deblur``: RealBokeh reversed (the loader's ``reverse=True``): the widest-aperture photo
  of each scene -> the scene's source photo ``in/<id>.JPG``;
* ``blb-bokeh``: BLB all-in-focus + depth + focus distance -> Blender bokeh, BokehMe's ``K``
  converted exactly to ``k_px_m`` (:func:`bokehme_k_to_k_px_m`).

Conventions pinned in every spec: sRGB in [0, 1] (8-bit files / 255, 16-bit / 65535), no resize,
a centred crop to a multiple of 8 when a side is not one (input, target and depth alike; a no-op
for DPDD's 1680x1120), no border skipped by the scores.

The content hash is the sha256 over the spec and, per sample, its id, subset labels and the sha256
of every file the benchmark reads (relative path + file hash, streamed in 1 MiB blocks), plus the
metadata files the loader used (label lists, ``info.json``, RealBokeh metadata). It needs no image
decoding, does not depend on where the copy lives, is computed once per instance and changes with
any byte of those files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import InvalidInputError, check
from ..hashing import bytes_sha256, file_sha256
from .base import Benchmark, BenchmarkSample, BenchmarkSpec
from .builtin_specs import BOKEH_METRICS, DEBLUR_METRICS

__all__ = [
    "DatasetBenchmark",
    "DATASET_SPECS",  # noqa: F822 - built on first use by the module __getattr__
    "NR_DEBLUR_METRICS",
    "CROP_MULTIPLE",
    "bokehme_k_to_k_px_m",
    "dpdd_test",
    "realdof",
    "lfdof_test",
    "cuhk_blur",
    "realbokeh_deblur",
    "blb_bokeh",
]

CROP_MULTIPLE = 8
NR_DEBLUR_METRICS = ("clipiqa.vit", "niqe.live", "brisque.live")
"""No-reference deblurring metrics: GenRefocus's CLIP-IQA (imported local weights), and NIQE and BRISQUE
(packaged constants). GenRefocus's MUSIQ and MANIQA (``musiq.koniq``, ``maniqa.koniq``) exist only with
the non-commercial pyiqa extra; add them with the evaluation's metric list."""

_PRE = {
    "color": "sRGB",
    "data_range": 1.0,
    "resize": "none",
    "crop_multiple": CROP_MULTIPLE,
    "crop": "centred crop of input, target and depth to the largest multiple of 8 in each side, only when "
    "a side is not one already",
    "border_crop_px": 0,
}
_EXTRAS = "PSNR/SSIM (sRGB, whole frame) are extras GenRefocus does not report."
_NR_NOTE = (
    "No ground truth: scored only by no-reference metrics. NIQE and BRISQUE run offline; the paper's "
    "CLIP-IQA (and MUSIQ, MANIQA with the non-commercial pyiqa extra) do not run without downloaded weights, "
    "imported once with 'refocus-bench weights import NAME PATH' (lvcorr.* needs a blur-strength sweep, "
    "i.e. a bokeh/refocus task); without the weights evaluation stops before any sample with an error naming "
    "the expected files."
)


def _spec(
    name: str,
    task: str,
    description: str,
    dataset: str,
    metrics: tuple[str, ...],
    *,
    subsets: tuple[str, ...] = (),
    headline: str = "lpips.alex",
    source: Mapping[str, Any] | None = None,
    preprocessing: Mapping[str, Any] | None = None,
) -> BenchmarkSpec:
    """A spec on the test split of ``dataset``: licence, citation and homepage from the dataset's card."""
    from ..datasets.loaders import dataset_card

    card = dataset_card(dataset)
    return BenchmarkSpec(
        name=name,
        version="1",
        task=task,
        description=description,
        headline_metric=headline,
        metrics=metrics,
        source={
            "kind": "dataset",
            "dataset": dataset,
            "split": "test",
            "layout": "auto",
            "homepage": card.homepage,
            "condition": "none",
            "samples": "all",
            **(source or {}),
        },
        preprocessing={**_PRE, **(preprocessing or {})},
        subsets=subsets,
        licence=card.licence,
        citation=card.citation,
    )


_AS_STORED = {"bit_depth": "as stored (8-bit / 255, 16-bit / 65535)"}

_SPEC_TABLE: tuple[dict[str, Any], ...] = (
    dict(
        name="dpdd-test",
        task="deblur",
        description="DPDD test split (Abuolaim & Brown 2020): 76 real Canon 5D IV defocused photos (combined "
        f"dual-pixel view) -> all-in-focus, 1680x1120 16-bit PNG; indoor/outdoor subsets. {_EXTRAS}",
        dataset="dpdd",
        metrics=DEBLUR_METRICS,
        subsets=("scene",),
        source={
            "view": "combined (c): inputC/ or test_c/source/; the dual-pixel views are not used",
            "labels": "indoor_labels / outdoor_labels (.txt or .npy) at root -> subset 'scene'; "
            "samples in neither list carry no scene label",
        },
        preprocessing={
            "bit_depth": 16,
            "bit_depth_note": "16-bit PNG read at 16 bits (/ 65535); the loader rejects 8-bit files",
        },
    ),
    dict(
        name="realdof",
        task="deblur",
        description="RealDOF (Lee et al. 2021): 50 real defocused / all-in-focus pairs from a beam-splitter "
        f"dual-camera rig. {_EXTRAS}",
        dataset="realdof",
        metrics=DEBLUR_METRICS,
        preprocessing=_AS_STORED,
    ),
    dict(
        name="lfdof-test",
        task="deblur",
        description="LFDOF test set (Ruan et al. 2021): light-field refocused inputs -> all-in-focus centre "
        f"views, 688x1008. {_EXTRAS}",
        dataset="lfdof",
        metrics=DEBLUR_METRICS,
        preprocessing=_AS_STORED,
    ),
    dict(
        name="cuhk-blur",
        task="deblur",
        description=f"CUHK blur detection (Shi et al. 2014): 704 real defocused photos, no ground truth. {_NR_NOTE}",
        dataset="cuhk_blur",
        metrics=NR_DEBLUR_METRICS,
        headline="clipiqa.vit",
        source={"files": "out_of_focus*.jpg only (motion*.jpg skipped by the loader)"},
        preprocessing={"bit_depth": 8},
    ),
    dict(
        name="realbokeh-deblur",
        task="deblur",
        description="RealBokeh reversed (Seizinger et al. 2025): each test scene's widest-aperture photo -> the "
        f"scene's source photo in/<id>.JPG (the loader's reverse=True). {_EXTRAS}",
        dataset="realbokeh",
        metrics=DEBLUR_METRICS,
        subsets=("scene", "f_number"),
        source={
            "reverse": True,
            "samples": "widest",
            "pairing": "input = gt/<id>/<id>_f<N>.JPG with the smallest N of the scene (samples='widest'; "
            "'all' keeps every f-number), target = in/<id>.JPG",
        },
        preprocessing={"bit_depth": 8, "exif_orientation": "not applied"},
    ),
    dict(
        name="blb-bokeh",
        task="bokeh",
        description="BLB (BokehMe, Peng et al. 2022): 10 Blender scenes x 5 blur strengths x 10 focus distances; "
        "all-in-focus + depth + focus distance -> rendered bokeh. BokehMe's K (px per unit of image-normalised "
        "disparity) is converted exactly to k_px_m = K / (max(1/z) - min(1/z)) per image; aperture disk.",
        dataset="blb",
        metrics=BOKEH_METRICS,
        subsets=("scene", "blur_level"),
        source={
            "condition": "blb_bokehme_k",
            "k_conversion": "BokehMe: r = K (d - d_f), d = (1/z - lo) / (hi - lo), lo/hi = min/max of 1/z over "
            "the full image (z = inf -> 1/z = 0), d_f the focus distance under the same map; "
            "so |r| = K / (hi - lo) |1/z - 1/s|, i.e. k_px_m = K / (hi - lo) in "
            "refocus_bench.optics' r = k_px_m (1/s - 1/z) (opposite sign convention: "
            "positive behind the focus plane). Scene units are taken as metres; the CoC "
            "does not depend on that choice. K is a radius in pixels of the distributed "
            "images (BokehMe's renderer scatters over |r|), so images are not resized.",
            "aperture": "disk",
        },
        preprocessing={
            "bit_depth": 8,
            "depth": "depth.exr half float (or .npy); 65504 = infinity, cropped "
            "like the images; the K conversion uses the uncropped map",
        },
    ),
)
"""Keyword arguments of :func:`_spec` for each registered dataset benchmark (spec version ``"1"``)."""


_SPECS: dict[str, BenchmarkSpec] | None = None


def _specs() -> dict[str, BenchmarkSpec]:
    global _SPECS
    if _SPECS is None:  # built on first use: the specs read the dataset cards
        _SPECS = {args["name"]: _spec(**args) for args in _SPEC_TABLE}
    return _SPECS


def __getattr__(attr: str) -> Any:  # DATASET_SPECS built on first use (reads the dataset cards)
    if attr == "DATASET_SPECS":
        return MappingProxyType(_specs())
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


# -- BokehMe's K ---------------------------------------------------------------------------------
def bokehme_k_to_k_px_m(k_bokehme: float, depth: Any) -> float:
    """BokehMe's blur parameter ``K`` on image-normalised disparity -> ``k_px_m`` of :mod:`refocus_bench.optics`.

    BokehMe renders a blur radius ``r = K (d - d_f)`` with ``d = (1/z - lo) / (hi - lo)`` (``lo``/``hi``
    the minimum/maximum of ``1/z`` over the image, ``inf`` depth -> ``1/z = 0``) and the focus disparity
    under the same map, so ``|r| = K / (hi - lo) * |1/z - 1/s|``: the same CoC as
    ``optics.coc_radius_from_k(z, K / (hi - lo), s)`` (whose sign is positive behind the focus plane,
    BokehMe's in front). Exact for any depth unit (``k_px_m`` then carries that unit).

    Args:
        k_bokehme: ``K`` (>= 0).
        depth: (1, 1, H, W) depth of the whole image, > 0, ``inf`` allowed.

    Raises:
        InvalidInputError: ``K`` < 0 or not finite, or a constant inverse depth (normalisation undefined).
    """
    import torch

    check(
        isinstance(k_bokehme, (int, float)) and math.isfinite(k_bokehme) and k_bokehme >= 0,
        lambda: f"BokehMe K must be a finite number >= 0, got {k_bokehme!r}",
    )
    check(bool((depth > 0).all()), "depth must be > 0 (inf allowed) to invert it to disparity")
    depth = depth.double()
    disp = torch.where(torch.isinf(depth), torch.zeros_like(depth), 1.0 / depth)
    lo, hi = float(disp.min()), float(disp.max())
    check(hi > lo, "depth is constant: BokehMe's normalised disparity (and so K) is undefined")
    return float(k_bokehme) / (hi - lo)


# -- sample adapters (by name, so a benchmark pickles to workers) ------------------------------------
def _condition_none(loaded: Any, crop: Callable[[Any], Any]) -> dict[str, Any]:
    return {}


def _condition_blb(loaded: Any, crop: Callable[[Any], Any]) -> dict[str, Any]:
    params = loaded.sample.params
    check(loaded.depth is not None, lambda: f"BLB sample {loaded.id!r} has no metric depth")
    k = bokehme_k_to_k_px_m(float(params["bokehme_k"]), loaded.depth)
    return {
        "depth_m": crop(loaded.depth).contiguous(),
        "focus_distance_m": float(params["focus_distance_m"]),
        "k_px_m": k,
        "aperture": "disk",
    }


_CONDITIONS: dict[str, Callable[[Any, Callable[[Any], Any]], dict[str, Any]]] = {
    "none": _condition_none,
    "blb_bokehme_k": _condition_blb,
}


def _select_all(samples: list[Any]) -> list[Any]:
    return samples


def _select_widest(samples: list[Any]) -> list[Any]:
    """One sample per scene: the smallest f-number (reversed RealBokeh: the input photo's aperture)."""
    best: dict[str, Any] = {}
    for s in samples:
        scene = s.subset.get("scene", s.id)
        if scene not in best or float(s.params["target_f_number"]) < float(best[scene].params["target_f_number"]):
            best[scene] = s
    keep = {s.id for s in best.values()}
    return [s for s in samples if s.id in keep]


_SELECTIONS: dict[str, Callable[[list[Any]], list[Any]]] = {"all": _select_all, "widest": _select_widest}


# -- the benchmark -----------------------------------------------------------------------------------
class DatasetBenchmark(Benchmark):
    """A :class:`Benchmark` over an opened dataset loader (see the module docstring).

    Args:
        spec: the definition; ``spec.source`` names the ``dataset``, ``split``, ``condition`` adapter
            (``"none"`` or ``"blb_bokehme_k"``) and ``samples`` selection (``"all"`` or ``"widest"``).
        dataset: the loader (:func:`~refocus_bench.datasets.loaders.open_dataset`).

    Samples: ``BenchmarkSample(id, image=input, target=target or None, condition, subset)`` with the
    loader's ids, order and subset labels, tensors cropped per ``spec.preprocessing["crop_multiple"]``.
    """

    conditions: Mapping[str, Callable[[Any, Callable[[Any], Any]], dict[str, Any]]] = MappingProxyType(_CONDITIONS)
    """Condition adapters by ``spec.source["condition"]`` name (a subclass may add its own)."""

    def __init__(self, spec: BenchmarkSpec, dataset: Any, loader_kwargs: Mapping[str, Any] | None = None) -> None:
        src = spec.source
        check(
            src.get("condition", "none") in self.conditions,
            lambda: f"{spec.name}: unknown condition adapter {src.get('condition')!r}; "
            f"known: {sorted(self.conditions)}",
        )
        check(
            src.get("samples", "all") in _SELECTIONS,
            lambda: f"{spec.name}: unknown sample selection {src.get('samples')!r}; known: {sorted(_SELECTIONS)}",
        )
        self.spec = spec
        self.dataset = dataset
        self.loader_kwargs = dict(loader_kwargs or {})
        self._hash: str | None = None
        self._select()

    def _select(self) -> None:
        self._samples = {s.id: s for s in _SELECTIONS[self.spec.source.get("samples", "all")](list(self.dataset))}
        self._ids = list(self._samples)
        check(
            len(self._ids) > 0,
            lambda: (
                f"{self.spec.name}: the {self.dataset.card.title} copy at {str(self.dataset.root)!r} has no samples"
            ),
        )

    # Loader samples hold read-only mappings that do not pickle: a pickled benchmark (process-pool and
    # Ray workers) carries how to reopen the copy instead, and reopens it without re-validating.
    def __getstate__(self) -> dict[str, Any]:
        ds = self.dataset
        return {
            "spec": self.spec,
            "hash": self._hash,
            "loader_kwargs": self.loader_kwargs,
            "open": {"name": ds.card.name, "root": str(ds.root), "split": ds.split, "layout": ds.layout.name},
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        from ..datasets.loaders import open_dataset

        o = state["open"]
        self.spec, self._hash, self.loader_kwargs = state["spec"], state["hash"], dict(state["loader_kwargs"])
        self.dataset = open_dataset(
            o["name"], o["root"], split=o["split"], layout=o["layout"], check=False, **self.loader_kwargs
        )
        self._select()

    @property
    def root(self) -> Path:
        return Path(self.dataset.root)

    def sample_ids(self) -> list[str]:
        return list(self._ids)

    def dataset_sample(self, sample_id: str) -> Any:
        """The loader's :class:`DatasetSample` (paths, params, labels) of ``sample_id``."""
        if sample_id not in self._samples:
            raise InvalidInputError(f"benchmark {self.spec.name!r} has no sample {sample_id!r}")
        return self._samples[sample_id]

    def load(self, sample_id: str) -> BenchmarkSample:
        ds_sample = self.dataset_sample(sample_id)
        loaded = ds_sample.load(depth=self.spec.source.get("condition", "none") != "none")
        h, w = loaded.input.shape[-2:]
        crop = _cropper(h, w, int(self.spec.preprocessing.get("crop_multiple", 1)), sample_id)
        condition = self.conditions[self.spec.source.get("condition", "none")](loaded, crop)
        return BenchmarkSample(
            id=ds_sample.id,
            image=crop(loaded.input).contiguous(),
            target=None if loaded.target is None else crop(loaded.target).contiguous(),
            condition=condition,
            subset=dict(ds_sample.subset),
        )

    def files(self) -> dict[str, list[str]]:
        """Relative paths of the files the benchmark reads: per sample id, and ``"_metadata"`` (labels, JSON)."""
        ds, src = self.dataset, self.spec.source
        depth = src.get("condition", "none") != "none"
        out: dict[str, list[str]] = {}
        for sid in self._ids:
            s = self._samples[sid]
            paths = (
                [s.input_path]
                + ([s.target_path] if s.target_path is not None else [])
                + ([s.depth_path] if depth and s.depth_path is not None else [])
            )
            out[sid] = [ds.relpath(p) for p in paths]
        out["_metadata"] = sorted(ds.relpath(p) for p in ds._scan_result.claimed if Path(p).is_file())
        return out

    def _resolve(self, rel: str) -> Path:
        """The file of a name listed by :meth:`files` (relative to the copy's root here)."""
        return self.root / rel

    def content_hash(self) -> str:
        """sha256 over the spec and the sha256 of every file read (see the module docstring); cached.

        The hashed text is the JSON of the definition and loader version, then one JSON line per
        sample (id, subset labels, [relative path, file sha256] of each file), then the metadata files.
        """
        if self._hash is None:
            file_sums: dict[str, str] = {}

            def digest(rel: str) -> str:
                if rel not in file_sums:
                    file_sums[rel] = file_sha256(self._resolve(rel))
                return file_sums[rel]

            head = {"definition": self.spec.as_dict(), "loader": self.dataset.card.version}
            parts = [json.dumps(head, sort_keys=True)]
            files = self.files()
            for sid in self._ids:
                entry = {
                    "id": sid,
                    "subset": dict(self._samples[sid].subset),
                    "files": [[rel, digest(rel)] for rel in files[sid]],
                }
                parts.append(json.dumps(entry, sort_keys=True))
            parts.append(json.dumps({"metadata": [[rel, digest(rel)] for rel in files["_metadata"]]}))
            self._hash = bytes_sha256("".join(parts).encode())
        return self._hash

    def __repr__(self) -> str:
        return (
            f"DatasetBenchmark({self.spec.name!r}, version={self.spec.version!r}, root={str(self.root)!r}, "
            f"layout={self.spec.source.get('layout')!r}, samples={len(self._ids)})"
        )


def _cropper(h: int, w: int, multiple: int, sample_id: str) -> Callable[[Any], Any]:
    if multiple <= 1 or (h % multiple == 0 and w % multiple == 0):
        return lambda x: x
    check(
        h >= multiple and w >= multiple,
        lambda: f"sample {sample_id!r}: {h}x{w} px is smaller than the pinned crop multiple {multiple}",
    )
    nh, nw = h - h % multiple, w - w % multiple
    top, left = (h - nh) // 2, (w - nw) // 2
    return lambda x: x[..., top : top + nh, left : left + nw]


# -- factories ---------------------------------------------------------------------------------------
def _open(
    name: str, root: Any, *, layout: str = "auto", check_copy: bool = True, strict: bool = False
) -> DatasetBenchmark:
    """Open the copy at ``root`` for the registered benchmark ``name`` (on its spec's split)."""
    from ..datasets.loaders import dataset_card, open_dataset

    spec = _specs()[name]
    dataset = spec.source["dataset"]
    if root is None:
        card = dataset_card(dataset)
        raise InvalidInputError(
            f"benchmark {name!r} needs root=<folder of your local {card.title} copy> (CLI: --benchmark-arg "
            f"root=/path/to/{card.title.split()[0]}); refocus-bench does not download it: get it from "
            f"{card.homepage} and see docs/datasets.md for the accepted layouts"
        )
    ds = open_dataset(dataset, root, split=spec.source["split"], layout=layout, check=check_copy, strict=strict)
    src = {**spec.source, "split": ds.split, "layout": ds.layout.name}
    return DatasetBenchmark(replace(spec, source=src), ds)


def dpdd_test(root: Any = None, *, layout: str = "auto", check: bool = True, strict: bool = False) -> DatasetBenchmark:
    """DPDD test split (76 pairs, 16-bit): combined dual-pixel view -> all-in-focus; needs root=."""
    return _open("dpdd-test", root, layout=layout, check_copy=check, strict=strict)


def realdof(root: Any = None, *, layout: str = "auto", check: bool = True, strict: bool = False) -> DatasetBenchmark:
    """RealDOF (50 real dual-camera pairs): defocused -> all-in-focus; needs root=."""
    return _open("realdof", root, layout=layout, check_copy=check, strict=strict)


def lfdof_test(root: Any = None, *, layout: str = "auto", check: bool = True, strict: bool = False) -> DatasetBenchmark:
    """LFDOF test set (light-field refocused -> all-in-focus centre view); needs root=."""
    return _open("lfdof-test", root, layout=layout, check_copy=check, strict=strict)


def cuhk_blur(root: Any = None, *, layout: str = "auto", check: bool = True, strict: bool = False) -> DatasetBenchmark:
    """CUHK defocused photos, no ground truth: no-reference metrics with local weights only; needs root=."""
    return _open("cuhk-blur", root, layout=layout, check_copy=check, strict=strict)


def realbokeh_deblur(
    root: Any = None,
    *,
    split: str = "test",
    samples: str = "widest",
    release: str = "realbokeh",
    layout: str = "auto",
    check: bool = True,
    strict: bool = False,
) -> DatasetBenchmark:
    """RealBokeh reversed: widest-aperture photo -> the scene's source photo (deblurring); needs root=.

    ``samples="all"`` keeps every f-number of a scene as its own sample; ``release="realbokeh_3mp"``
    records the 3 MP release's card (same layout). Both are written into ``spec.source``.
    """
    if samples not in ("all", "widest"):  # (the argument `check` shadows errors.check here)
        raise InvalidInputError(f"samples must be 'widest' or 'all', got {samples!r}")
    if release not in ("realbokeh", "realbokeh_3mp"):
        raise InvalidInputError(f"release must be 'realbokeh' or 'realbokeh_3mp', got {release!r}")
    extra = {"samples": samples, "dataset": release}
    if release != "realbokeh":
        from ..datasets.loaders import dataset_card

        extra["homepage"] = dataset_card(release).homepage
    return _open_realbokeh(root, split=split, layout=layout, check_copy=check, strict=strict, source=extra)


def _open_realbokeh(
    root: Any, *, split: str, layout: str, check_copy: bool, strict: bool, source: Mapping[str, Any]
) -> DatasetBenchmark:
    from ..datasets.loaders import dataset_card, open_dataset

    spec = _specs()["realbokeh-deblur"]
    if root is None:
        return _open("realbokeh-deblur", None)
    ds = open_dataset(
        source["dataset"], root, split=split, layout=layout, check=check_copy, strict=strict, reverse=True
    )
    card = dataset_card(source["dataset"])
    src = {**spec.source, **source, "split": ds.split, "layout": ds.layout.name}
    return DatasetBenchmark(
        replace(spec, source=src, licence=card.licence, citation=card.citation), ds, {"reverse": True}
    )


def blb_bokeh(root: Any = None, *, layout: str = "auto", check: bool = True, strict: bool = False) -> DatasetBenchmark:
    """BLB (BokehMe): AIF + depth + focus -> Blender bokeh, K converted exactly to k_px_m; needs root=."""
    return _open("blb-bokeh", root, layout=layout, check_copy=check, strict=strict)
