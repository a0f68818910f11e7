"""Route (c) over a folder: ``refocus-bench fit-blur PAIRS -o OUT`` turns real pairs into BokehNet samples.

Layout of ``PAIRS`` (files matched by stem, any image format :func:`refocus_bench.io.read_image` reads)::

    aif/<stem>.png      all-in-focus (or narrow-aperture) view, sRGB
    bokeh/<stem>.png    the real defocused photo of the same view, same size
    depth/<stem>.exr    depth in metres (.exr / .npy; 16-bit .png in millimetres); or --depth-model
    meta/<stem>.json    optional: {"focus_distance_m": s, "aperture": "hexagon"}

A dataset loader's pairs work too (``--dataset NAME``, :func:`find_dataset_pairs`): the loader's input
is taken as the all-in-focus view and its target as the bokeh photo (EBB! and EBB400: f/16 -> f/1.8;
LFDOF, RealBokeh ...). Its depth is used when metric; a relative disparity map (EBB400's MiDaS / DPT
maps) is normalised to [0, 1] and read as inverse depth in 1/m (``z = 1 / d``, ``inf`` where d = 0),
so K* is then the blur radius per unit of normalised disparity, ``CoC = K* (d_focus - d)``; other
depth comes from ``depth_dir`` (by sample id) or a depth estimator. ``params["focus_distance_m"]``
of a sample is used as its focus distance.

Each pair is brought to the output size (:func:`~refocus_bench.simulators.pairs.real_inputs.cover_crop`),
fitted (:func:`~refocus_bench.simulators.pairs.fit_blur.fit_blur`; the focus from ``meta`` or from the
pair's in-focus mask) and written when kept (:mod:`~refocus_bench.simulators.pairs.real_writer`).
Pairs of different sizes, depth of the wrong size and missing files are recorded in ``manifest.jsonl``
as skipped with a reason and the file names; fits below ``min_ssim`` as rejected.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from ...errors import InvalidInputError, check
from ...hashing import file_sha256
from ...io import IMAGE_SUFFIXES, read_image
from .fit_blur import FitSettings, fit_blur, fit_renderer
from .real_inputs import check_same_size, cover_crop, depth_for, find_depth_file
from .real_writer import Outcome, RealRunResult, RealSample, side_fields, write_real_run

__all__ = ["PairEntry", "find_pairs", "find_dataset_pairs", "fit_pairs", "disparity_as_depth"]


@dataclass(frozen=True)
class PairEntry:
    """The files of one pair (``depth`` / ``meta`` None when absent).

    ``depth_kind`` is a key of ``refocus_bench.datasets.loaders.sample.DEPTH_KINDS`` (``metres`` for a
    pairs folder); ``params`` the loader's sample parameters.
    """

    stem: str
    aif: Path | None
    bokeh: Path
    depth: Path | None
    meta: Path | None
    depth_kind: str | None = "metres"
    params: dict[str, Any] | None = None


def _by_stem(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES}


def find_pairs(root: str | os.PathLike[str]) -> list[PairEntry]:
    """The pairs of ``root`` in stem order; one entry per file of ``bokeh/``.

    Raises:
        InvalidInputError: ``root`` is not a folder with ``aif/`` and ``bokeh/`` sub-folders.
    """
    root = Path(root)
    check(root.is_dir(), lambda: f"PAIRS {str(root)!r} is not a folder")
    missing = [d for d in ("aif", "bokeh") if not (root / d).is_dir()]
    check(
        not missing,
        lambda: f"PAIRS {str(root)!r} is not a pairs folder: it lacks {', '.join(m + '/' for m in missing)} "
        "(expected aif/<stem>.png, bokeh/<stem>.png, depth/<stem>.exr|.npy|.png, optional meta/<stem>.json)",
    )
    aifs, bokehs = _by_stem(root / "aif"), _by_stem(root / "bokeh")
    check(bool(bokehs), lambda: f"PAIRS {str(root)!r}: bokeh/ holds no image")
    out = []
    for stem, b in bokehs.items():
        meta = root / "meta" / f"{stem}.json"
        depth = find_depth_file(root / "depth", stem)
        out.append(PairEntry(stem, aifs.get(stem), b, depth, meta if meta.is_file() else None))
    return out


def find_dataset_pairs(
    name: str, root: str | os.PathLike[str], split: str | None = None, depth_dir: str | os.PathLike[str] | None = None
) -> list[PairEntry]:
    """Pairs of a registered dataset copy (input = all-in-focus view, target = bokeh photo), in sample order.

    Samples without a target are skipped later (``missing_bokeh`` in the manifest would need a file:
    they are left out here and counted by the loader). ``depth_dir`` overrides the loader's depth.
    """
    from ...datasets.loaders import open_dataset

    ds = open_dataset(name, root, split=split)
    out = []
    for sample in ds:
        if sample.target_path is None:
            continue
        depth, kind = sample.depth_path, sample.depth_kind
        if depth_dir is not None:
            depth, kind = find_depth_file(depth_dir, sample.id), "metres"
        out.append(PairEntry(sample.id, sample.input_path, sample.target_path, depth, None, kind, dict(sample.params)))
    check(bool(out), lambda: f"--dataset {name}: the copy at {str(root)!r} has no sample with a bokeh target")
    return out


def disparity_as_depth(disparity: torch.Tensor) -> torch.Tensor:
    """Relative disparity (any scale and shift) -> pseudo-depth ``1 / d`` with d normalised to [0, 1] (metres)."""
    d = disparity.double()
    lo, hi = float(d.min()), float(d.max())
    check(hi > lo, "a constant disparity map carries no depth")
    d = (d - lo) / (hi - lo)
    return torch.where(d > 0, 1.0 / d.clamp_min(1e-12), torch.full_like(d, float("inf"))).float()


def _read_meta(p: Path | None) -> dict[str, Any]:
    if p is None:
        return {}
    try:
        meta = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InvalidInputError(f"{p}: not a JSON object ({err})") from err
    check(isinstance(meta, dict), lambda: f"{p}: not a JSON object")
    s = meta.get("focus_distance_m")
    check(
        s is None or (isinstance(s, (int, float)) and 0 < s < float("inf")),
        lambda: f"{p}: focus_distance_m must be a finite number > 0, got {s!r}",
    )
    return meta


class _PairJob:
    """Fits pair ``i`` of ``entries`` (the ``process`` of :func:`write_real_run`)."""

    def __init__(self, root: Path, entries: list[PairEntry], settings: FitSettings, size: tuple[int, int], depth_model):
        self.root, self.entries, self.settings, self.size = root, entries, settings, size
        self.depth_model = depth_model
        self.renderer = fit_renderer()

    def rel(self, p: Path) -> str:
        """``p`` relative to the pairs folder (absolute when it lies outside, e.g. in a depth folder)."""
        p = Path(p).absolute()
        return p.relative_to(self.root).as_posix() if p.is_relative_to(self.root) else p.as_posix()

    def __call__(self, i: int) -> Outcome:
        e = self.entries[i]
        if e.aif is None:
            return Outcome(e.stem, "skipped", "missing_aif", f"no aif/{e.stem}.* for {self.rel(e.bokeh)}")
        if (e.depth is None or e.depth_kind == "relative_depth") and self.depth_model is None:
            why = "relative depth of unknown scale" if e.depth is not None else f"no depth file for {e.stem}"
            return Outcome(e.stem, "skipped", "missing_depth", f"{why} and no --depth-model")
        try:
            return self._fit(e)
        except InvalidInputError as err:
            return Outcome(e.stem, "skipped", "bad_input", str(err))

    @staticmethod
    def _usable(e: PairEntry) -> bool:
        return e.depth is not None and e.depth_kind in ("metres", "metres_f16_inf", "relative_disparity")

    def _depth(self, e: PairEntry, aif: torch.Tensor) -> torch.Tensor:
        """Depth (1, 1, H, W) metres of a pair at the AIF's size (see the module docstring)."""
        if not self._usable(e):
            return depth_for(aif, self.rel(e.aif), estimator=self.depth_model)
        if e.depth_kind == "relative_disparity":
            from ...datasets.loaders.sample import DatasetSample

            raw = DatasetSample(e.stem, e.aif, depth_path=e.depth, depth_kind=e.depth_kind).load_depth_map()
            check_same_size(aif, self.rel(e.aif), raw, self.rel(e.depth))
            return disparity_as_depth(raw)
        depth = depth_for(aif, self.rel(e.aif), depth_file=e.depth)
        if e.depth_kind == "metres_f16_inf":
            depth = torch.where(depth >= 65504.0, torch.full_like(depth, float("inf")), depth)
        return depth

    def _fit(self, e: PairEntry) -> Outcome:
        aif, bokeh = read_image(e.aif, self.rel(e.aif)), read_image(e.bokeh, self.rel(e.bokeh))
        check_same_size(aif, self.rel(e.aif), bokeh, self.rel(e.bokeh))
        depth = self._depth(e, aif)
        meta = {**(e.params or {}), **_read_meta(e.meta)}
        aif, depth, _ = cover_crop(aif, depth, self.size)
        bokeh, _, _ = cover_crop(bokeh, None, self.size)
        settings = self.settings
        if meta.get("aperture"):
            settings = FitSettings(**{**settings.__dict__, "aperture": str(meta["aperture"])})
        fit = fit_blur(aif, bokeh, depth, focus_distance_m=meta.get("focus_distance_m"), settings=settings)
        files = {k: self.rel(p) for k, p in (("aif", e.aif), ("bokeh", e.bokeh), ("depth", e.depth)) if p is not None}
        provenance = {
            "files": {k: {"path": v, "sha256": file_sha256(self.root / v)} for k, v in files.items()},
            "depth": f"file:{e.depth_kind}" if self._usable(e) else f"model:{self.depth_model.card.name}",
            "fit": fit.to_dict(),
            "k_note": "K* in pixel-metres at the output size, relative to the depth given",
        }
        facts = {"fit": fit.to_dict()}
        if not fit.kept:
            return Outcome(e.stem, "rejected", fit.reason, f"SSIM {fit.ssim:.4f} at K* {fit.k_px_m:.3g}", facts)
        side = side_fields(kind="defocused", mode="k", aperture=settings.aperture, focus_method=fit.focus_source)
        sample = RealSample(aif, bokeh, depth, fit.k_px_m, fit.focus_distance_m, side, fit.confidence, provenance)
        return Outcome(e.stem, "kept", None, None, facts, sample)


def fit_pairs(
    pairs_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    settings: FitSettings | None = None,
    size: tuple[int, int] = (512, 512),
    depth_model: Any = None,
    per_shard: int = 16,
    overwrite: bool = False,
    command: str = "",
    dataset: str | None = None,
    split: str | None = None,
    depth_dir: str | os.PathLike[str] | None = None,
) -> RealRunResult:
    """Fit every pair of ``pairs_dir`` and write the kept ones to ``out_dir`` (resumable).

    Args:
        pairs_dir: folder laid out as in the module docstring.
        out_dir: output folder (:mod:`~refocus_bench.simulators.pairs.real_writer`).
        settings: :class:`FitSettings`.
        size: (H, W) of the output samples in pixels.
        depth_model: a depth estimator (:func:`refocus_bench.models.depth.create_depth_estimator`) used
            for pairs without a depth file.
        dataset, split: read ``pairs_dir`` as a copy of this registered dataset (:func:`find_dataset_pairs`).
        depth_dir: depth files (metres) by stem or sample id, instead of the pairs' own.
    """
    settings = settings or FitSettings()
    root = Path(pairs_dir).absolute()
    if dataset is not None:
        entries = find_dataset_pairs(dataset, root, split, depth_dir)
    else:
        entries = find_pairs(root)
        if depth_dir is not None:
            entries = [replace(e, depth=find_depth_file(depth_dir, e.stem)) for e in entries]
    job = _PairJob(root, entries, settings, size, depth_model)
    run_settings = {
        "route": "fit-blur",
        "fit": {**settings.__dict__, "k_bounds_px_m": list(settings.k_bounds_px_m)},
        "renderer": {"name": "bokeh.layered", **job.renderer.config()},
        "depth_model": None if depth_model is None else depth_model.card.name,
        "dataset": dataset,
        "split": split,
        "inputs_sha256": {e.stem: file_sha256(e.bokeh) for e in entries},
    }
    with torch.no_grad():
        return write_real_run(
            out_dir,
            [e.stem for e in entries],
            job,
            route="fit-blur",
            size=size,
            settings=run_settings,
            source=f"dataset:{dataset}" if dataset else f"pairs:{root.name}",
            licence="the pairs' own licence (see the source dataset)",
            per_shard=per_shard,
            overwrite=overwrite,
            command=command,
        )
