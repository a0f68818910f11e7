"""EBB! bokeh synthesis on a local EBB400 or Val294 copy, with the focus plane and K fitted by route (c).

EBB! pairs are f/16 (nearly all in focus) and f/1.8 photos of one view, without a recorded focus
plane or blur strength. ``ebb400-bokeh`` and ``ebb-val294-bokeh`` take both from a ``fit-blur`` run
over the copy (:func:`refocus_bench.simulators.pairs.fit_pairs.fit_pairs`, GenRefocus's Eq. 5)::

    refocus-bench fit-blur /data/EBB400 --dataset ebb400 -o /data/ebb400-fits
    refocus-bench evaluate --model bokeh.layered --benchmark ebb400-bokeh \\
        --benchmark-arg root=/data/EBB400 --benchmark-arg fits=/data/ebb400-fits -o results

A sample is one pair the fit **kept** (SSIM(K*) >= the run's ``min_ssim`` and K* not on a search
bound): ``image`` = the f/16 photo, ``target`` = the f/1.8 photo, ``condition`` = the depth the fit
used, the fitted focus distance and K* and the fit's aperture. Depth: for EBB400 the loader's MiDaS
disparity normalised to [0, 1] and read as inverse depth
(:func:`~refocus_bench.simulators.pairs.fit_pairs.disparity_as_depth`); Val294 ships no depth, so its
fit and its benchmark read the user's depth maps (``fit-blur --depth-dir DEPTH`` and ``depth_dir=``).
All images and depth maps are brought to the fit's output size exactly as the fit did
(:func:`~refocus_bench.simulators.pairs.real_inputs.cover_crop`: scale to cover, centre crop), so K*
applies unchanged. Every fit (K*, focus, SSIM, confidence) is stored in ``spec.source["fits"]``,
every excluded pair with its reason in ``spec.source["excluded"]``; the counts are in the
description, so they reach the results record and the leaderboard.

The fits must come from the same files: the factory checks that the run was made on the same dataset
with depth files (no ``--depth-model``) and that the sha256 of each pair's f/1.8 file equals the one
the run recorded. The run does not record its ``--depth-dir``: ``depth_dir=`` must name the same
folder (its files are part of the content hash).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, check
from ..hashing import file_sha256
from .base import BenchmarkSample, BenchmarkSpec
from .builtin_specs import BOKEH_METRICS
from .from_datasets import DatasetBenchmark

__all__ = ["FittedBlurBenchmark", "ebb400_bokeh", "ebb_val294_bokeh", "read_fit_run"]

_FIT_KEYS = ("k_px_m", "focus_distance_m", "focus_source", "ssim", "ssim_unblurred", "confidence", "renders")


def read_fit_run(fits: Any, dataset: str) -> dict[str, Any]:
    """The settings and manifest of a finished ``fit-blur --dataset DATASET`` run in the folder ``fits``.

    Returns:
        ``{"settings": dict, "lines": [manifest line, ...]}`` (lines in input order).

    Raises:
        InvalidInputError: naming the file, when ``fits`` is not a finished fit-blur run on ``dataset``
            with the loader's depth.
    """
    folder = Path(fits)
    progress, manifest = folder / "state" / "progress.json", folder / "manifest.jsonl"
    hint = f"run 'refocus-bench fit-blur ROOT --dataset {dataset} -o {folder}' first"
    check(progress.is_file() and manifest.is_file(), lambda: f"fits={str(folder)!r} is not a fit-blur run: {hint}")
    try:
        settings = json.loads(progress.read_text(encoding="utf-8"))["settings"]
        lines = [json.loads(ln) for ln in manifest.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise InvalidInputError(f"{progress} / {manifest}: unreadable fit-blur run ({err})") from err
    check(
        settings.get("route") == "fit-blur" and settings.get("dataset") == dataset,
        lambda: f"{progress}: a run of route {settings.get('route')!r} on dataset {settings.get('dataset')!r}, "
        f"not fit-blur on {dataset!r}: {hint}",
    )
    check(
        settings.get("depth_model") is None,
        lambda: f"{progress}: the run used --depth-model {settings.get('depth_model')!r}; this benchmark needs a fit "
        "made with depth files (the loader's disparity maps or --depth-dir)",
    )
    names = settings.get("names") or []
    check(
        [ln.get("name") for ln in lines] == list(names),
        lambda: f"{manifest}: {len(lines)} of {len(names)} pairs done; rerun the same fit-blur command to finish",
    )
    return {"settings": settings, "lines": lines}


def _fit_facts(line: dict[str, Any]) -> dict[str, Any]:
    fit = line.get("fit") or {}
    return {k: fit[k] for k in _FIT_KEYS if k in fit}


def _excluded(line: dict[str, Any]) -> str:
    why = f"{line['status']}:{line.get('reason')}"
    fit = line.get("fit")
    return f"{why} (SSIM {fit['ssim']:.4f}, K* {fit['k_px_m']:.4g} px*m)" if fit else why


def _fitted_source(spec: BenchmarkSpec, ds: Any, run: dict[str, Any]) -> dict[str, Any]:
    """``spec.source`` with the fits, the exclusions and the counts of ``run`` on the copy ``ds``."""
    settings, lines = run["settings"], run["lines"]
    targets = {s.id: s.target_path for s in ds}
    recorded = settings.get("inputs_sha256") or {}
    fits, excluded = {}, {}
    for line in lines:
        sid = line["name"]
        if line["status"] != "kept":
            excluded[sid] = _excluded(line)
            continue
        check(
            sid in targets and targets[sid] is not None,
            lambda sid=sid: f"fits: pair {sid!r} is not in the {ds.card.title} copy at {str(ds.root)!r}",
        )
        check(
            recorded.get(sid) == file_sha256(targets[sid]),
            lambda sid=sid: f"fits: {ds.relpath(targets[sid])} differs from the file the fit-blur run read "
            "(sha256); refit this copy",
        )
        fits[sid] = _fit_facts(line)
    fit = settings.get("fit") or {}
    counts = {"pairs": len(lines), "kept": len(fits), "excluded": len(excluded)}
    counts.update({f"excluded_{k}": n for k, n in sorted(Counter(v.split(" ")[0] for v in excluded.values()).items())})
    return {
        **spec.source,
        "split": ds.split,
        "layout": ds.layout.name,
        "fit": {
            "route": "fit-blur (route c): K* = argmax_K SSIM(render(f/16, D; focus, K), f/1.8)",
            "size_hw": list(settings.get("size") or []),
            "min_ssim": fit.get("min_ssim"),
            "k_bounds_px_m": fit.get("k_bounds_px_m"),
            "aperture": fit.get("aperture", "disk"),
            "renderer": settings.get("renderer"),
        },
        "counts": counts,
        "fits": fits,
        "excluded": excluded,
    }


def _describe(base: str, source: dict[str, Any]) -> str:
    c, fit = source["counts"], source["fit"]
    reasons = ", ".join(f"{n} {k[len('excluded_') :]}" for k, n in c.items() if k.startswith("excluded_"))
    return (
        f"{base} {c['kept']} of {c['pairs']} pairs kept; {c['excluded']} excluded by the fit "
        f"(SSIM < {fit['min_ssim']} or K* on a search bound, or skipped){': ' + reasons if reasons else ''}."
    )


class FittedBlurBenchmark(DatasetBenchmark):
    """A bokeh benchmark on dataset pairs whose focus and K come from a fit-blur run (module docstring).

    ``spec.source["fits"]`` ({id: fit facts}) selects the samples and gives each its condition;
    ``spec.source["fit"]["size_hw"]`` is the (H, W) every image and depth map is brought to. Depth: the
    loader's relative disparity, or with ``depth_dir`` the depth file (metres) of each sample id there,
    as ``fit-blur --depth-dir`` reads it; those files are hashed as ``depth_dir/<file name>``.
    """

    def __init__(self, spec: BenchmarkSpec, dataset: Any, loader_kwargs: Any = None, depth_dir: Any = None) -> None:
        self.spec = spec
        self.dataset = dataset
        self.loader_kwargs = dict(loader_kwargs or {})
        self.depth_dir = None if depth_dir is None else Path(depth_dir).absolute()
        self._hash: str | None = None
        self._select()

    def __getstate__(self) -> dict[str, Any]:
        return {**super().__getstate__(), "depth_dir": None if self.depth_dir is None else str(self.depth_dir)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        depth_dir = state.pop("depth_dir")
        self.depth_dir = None if depth_dir is None else Path(depth_dir)
        super().__setstate__(state)

    def _select(self) -> None:
        from ..simulators.pairs.real_inputs import find_depth_file

        fits = self.spec.source["fits"]
        self._samples = {s.id: s for s in self.dataset if s.id in fits}
        self._ids = list(self._samples)
        check(
            len(self._ids) > 0,
            lambda: f"{self.spec.name}: no pair of the copy at {str(self.dataset.root)!r} was kept by the fit "
            f"({self.spec.source['counts']})",
        )
        self._depth_files: dict[str, Path] = {}
        for sid in self._ids if self.depth_dir is not None else ():
            found = find_depth_file(self.depth_dir, sid)
            check(found is not None, lambda sid=sid: f"depth_dir {str(self.depth_dir)!r} has no depth file for {sid!r}")
            self._depth_files[sid] = found

    def _resolve(self, rel: str) -> Path:
        if self.depth_dir is not None and rel.startswith("depth_dir/"):
            return self.depth_dir / rel[len("depth_dir/") :]
        return super()._resolve(rel)

    def files(self) -> dict[str, list[str]]:
        out = super().files()
        for sid, p in self._depth_files.items():
            out[sid].append(f"depth_dir/{p.name}")
        return out

    def _depth(self, s: Any, aif: Any) -> Any:
        """Depth (1, 1, H, W) of sample ``s`` at the image's full size, as the fit read it."""
        from ..simulators.pairs.fit_pairs import disparity_as_depth
        from ..simulators.pairs.real_inputs import check_same_size, depth_for

        name = self.dataset.relpath(s.input_path)
        if self.depth_dir is not None:
            return depth_for(aif, name, depth_file=self._depth_files[s.id])
        check(s.depth_path is not None, lambda: f"sample {s.id!r} has no disparity map; give depth_dir=")
        raw = s.load_depth_map()
        check_same_size(aif, name, raw, self.dataset.relpath(s.depth_path))
        return disparity_as_depth(raw)

    def load(self, sample_id: str) -> BenchmarkSample:
        from ..io import read_image
        from ..simulators.pairs.real_inputs import check_same_size, cover_crop

        s = self.dataset_sample(sample_id)
        fit = self.spec.source["fits"][sample_id]
        size = tuple(int(v) for v in self.spec.source["fit"]["size_hw"])
        aif = read_image(s.input_path, self.dataset.relpath(s.input_path))
        bokeh = read_image(s.target_path, self.dataset.relpath(s.target_path))
        check_same_size(aif, self.dataset.relpath(s.input_path), bokeh, self.dataset.relpath(s.target_path))
        aif, depth, _ = cover_crop(aif, self._depth(s, aif), size)
        bokeh, _, _ = cover_crop(bokeh, None, size)
        condition = {
            "depth_m": depth,
            "focus_distance_m": float(fit["focus_distance_m"]),
            "k_px_m": float(fit["k_px_m"]),
            "aperture": str(self.spec.source["fit"]["aperture"]),
        }
        return BenchmarkSample(id=s.id, image=aif, target=bokeh, condition=condition, subset=dict(s.subset))


_BASES = {
    "ebb400-bokeh": "EBB400 (EBB! subset of BokehMe, Ignatov et al. 2020): f/16 photo + MiDaS disparity (normalised, "
    "read as inverse depth) + focus distance and K* fitted against the f/1.8 photo -> the f/1.8 photo, at the fit's "
    "size.",
    "ebb-val294-bokeh": "EBB! Val294 (294 held-out EBB! pairs): f/16 photo + the user's depth maps (depth_dir, "
    "metres) + focus distance and K* fitted against the f/1.8 photo -> the f/1.8 photo, at the fit's size.",
}
_DATASET = {"ebb400-bokeh": "ebb400", "ebb-val294-bokeh": "ebb_val294"}
_DEPTH = {
    "ebb400-bokeh": "disparity/ (MiDaS) normalised to [0, 1] per image, z = 1 / d (inf where d = 0); K* is then px "
    "per unit of normalised disparity",
    "ebb-val294-bokeh": "depth_dir/<id>.exr|.npy|.png (metres; 16-bit PNG in mm), the folder given to fit-blur "
    "--depth-dir; hashed with the samples",
}


def _fitted_spec(name: str) -> BenchmarkSpec:
    from ..datasets.loaders import dataset_card

    card = dataset_card(_DATASET[name])
    return BenchmarkSpec(
        name=name,
        version="1",
        task="bokeh",
        description=_BASES[name],
        headline_metric="lpips.alex",
        metrics=BOKEH_METRICS,
        source={
            "kind": "dataset",
            "dataset": _DATASET[name],
            "split": "validation",
            "layout": "auto",
            "homepage": card.homepage,
            "condition": "fitted_blur",
            "samples": "kept by the fit",
            "depth": _DEPTH[name],
        },
        preprocessing={
            "color": "sRGB",
            "data_range": 1.0,
            "bit_depth": 8,
            "resize": "cover_crop to the fit's size: scale to cover (bilinear, antialiased; depth nearest), "
            "centre crop",
            "border_crop_px": 0,
        },
        licence=card.licence,
        citation=card.citation,
    )


def _needs(name: str, what: str, how: str) -> InvalidInputError:
    return InvalidInputError(f"benchmark {name!r} needs {what} (CLI: --benchmark-arg {how}); see docs/benchmarks.md")


def _open_fitted(name: str, root: Any, fits: Any, depth_dir: Any, **open_kw: Any) -> FittedBlurBenchmark:
    from ..datasets.loaders import dataset_card, open_dataset

    dataset = _DATASET[name]
    if root is None:
        card = dataset_card(dataset)
        raise _needs(
            name,
            f"root=<folder of your local {card.title} copy>; refocus-bench does not download it: get it from "
            f"{card.homepage} and see docs/datasets.md for the accepted layouts",
            f"root=/path/to/{dataset}",
        )
    extra = " --depth-dir DEPTH" if name == "ebb-val294-bokeh" else ""
    if fits is None:
        raise _needs(
            name,
            f"fits=<folder of a fit-blur run>: run 'refocus-bench fit-blur {root} --dataset {dataset}{extra} "
            "-o FITS' first",
            "fits=/path/to/FITS",
        )
    if name == "ebb-val294-bokeh" and depth_dir is None:
        raise _needs(name, "depth_dir=<the depth maps given to fit-blur --depth-dir>", "depth_dir=/path/to/DEPTH")
    spec = _fitted_spec(name)
    ds = open_dataset(dataset, root, split="validation", **open_kw)
    source = _fitted_source(spec, ds, read_fit_run(fits, dataset))
    spec = replace(spec, source=source, description=_describe(_BASES[name], source))
    return FittedBlurBenchmark(spec, ds, depth_dir=depth_dir)


def ebb400_bokeh(
    root: Any = None, *, fits: Any = None, layout: str = "auto", check: bool = True, strict: bool = False
) -> FittedBlurBenchmark:
    """EBB400: f/16 -> f/1.8 bokeh with focus and K from a fit-blur run; needs root= and fits=.

    Args:
        root: the local EBB400 copy (``validation/{in,gt}``, ``disparity/``).
        fits: the output folder of ``refocus-bench fit-blur ROOT --dataset ebb400 -o FITS`` on that copy.
        layout, check, strict: as for the other dataset benchmarks.
    """
    return _open_fitted("ebb400-bokeh", root, fits, None, layout=layout, check=check, strict=strict)


def ebb_val294_bokeh(
    root: Any = None,
    *,
    fits: Any = None,
    depth_dir: Any = None,
    layout: str = "auto",
    check: bool = True,
    strict: bool = False,
) -> FittedBlurBenchmark:
    """EBB! Val294: f/16 -> f/1.8 bokeh, your depth maps, focus and K from fit-blur; needs root=, fits=, depth_dir=.

    Args:
        root: the local Val294 copy (``validation/{in,gt}``).
        fits: the output folder of ``refocus-bench fit-blur ROOT --dataset ebb_val294 --depth-dir DEPTH -o FITS``.
        depth_dir: ``DEPTH`` of that run: one depth map per sample id, metres.
        layout, check, strict: as for the other dataset benchmarks.
    """
    return _open_fitted("ebb-val294-bokeh", root, fits, depth_dir, layout=layout, check=check, strict=strict)
