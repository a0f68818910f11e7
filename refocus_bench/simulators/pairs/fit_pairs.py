"""Route (c) over a folder: ``refocus-bench fit-blur PAIRS -o OUT`` turns real pairs into BokehNet samples.

Layout of ``PAIRS`` (files matched by stem, any image format :func:`refocus_bench.io.read_image` reads)::

    aif/<stem>.png      all-in-focus (or narrow-aperture) view, sRGB
    bokeh/<stem>.png    the real defocused photo of the same view, same size
    depth/<stem>.exr    depth in metres (.exr / .npy; 16-bit .png in millimetres); or --depth-model
    meta/<stem>.json    optional: {"focus_distance_m": s, "aperture": "hexagon"}

Each pair is brought to the output size (:func:`~refocus_bench.simulators.pairs.real_inputs.cover_crop`),
fitted (:func:`~refocus_bench.simulators.pairs.fit_blur.fit_blur`; the focus from ``meta`` or from the
pair's in-focus mask) and written when kept (:mod:`~refocus_bench.simulators.pairs.real_writer`).
Pairs of different sizes, depth of the wrong size and missing files are recorded in ``manifest.jsonl``
as skipped with a reason and the file names; fits below ``min_ssim`` as rejected.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ...errors import InvalidInputError, check
from ...hashing import file_sha256
from ...io import IMAGE_SUFFIXES, read_image
from .fit_blur import FitSettings, fit_blur, fit_renderer
from .real_inputs import check_same_size, cover_crop, depth_for, find_depth_file
from .real_writer import Outcome, RealRunResult, RealSample, side_fields, write_real_run

__all__ = ["PairEntry", "find_pairs", "fit_pairs"]


@dataclass(frozen=True)
class PairEntry:
    """The files of one pair (``depth`` / ``meta`` None when absent)."""

    stem: str
    aif: Path | None
    bokeh: Path
    depth: Path | None
    meta: Path | None


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
        return p.relative_to(self.root).as_posix()

    def __call__(self, i: int) -> Outcome:
        e = self.entries[i]
        if e.aif is None:
            return Outcome(e.stem, "skipped", "missing_aif", f"no aif/{e.stem}.* for {self.rel(e.bokeh)}")
        if e.depth is None and self.depth_model is None:
            return Outcome(e.stem, "skipped", "missing_depth", f"no depth/{e.stem}.exr|.npy|.png and no --depth-model")
        try:
            return self._fit(e)
        except InvalidInputError as err:
            return Outcome(e.stem, "skipped", "bad_input", str(err))

    def _fit(self, e: PairEntry) -> Outcome:
        aif, bokeh = read_image(e.aif, self.rel(e.aif)), read_image(e.bokeh, self.rel(e.bokeh))
        check_same_size(aif, self.rel(e.aif), bokeh, self.rel(e.bokeh))
        depth = depth_for(aif, self.rel(e.aif), depth_file=e.depth, estimator=self.depth_model)
        meta = _read_meta(e.meta)
        aif, depth, _ = cover_crop(aif, depth, self.size)
        bokeh, _, _ = cover_crop(bokeh, None, self.size)
        settings = self.settings
        if meta.get("aperture"):
            settings = FitSettings(**{**settings.__dict__, "aperture": str(meta["aperture"])})
        fit = fit_blur(aif, bokeh, depth, focus_distance_m=meta.get("focus_distance_m"), settings=settings)
        files = {k: self.rel(p) for k, p in (("aif", e.aif), ("bokeh", e.bokeh), ("depth", e.depth)) if p is not None}
        provenance = {
            "files": {k: {"path": v, "sha256": file_sha256(self.root / v)} for k, v in files.items()},
            "depth": "file" if e.depth is not None else f"model:{self.depth_model.card.name}",
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
) -> RealRunResult:
    """Fit every pair of ``pairs_dir`` and write the kept ones to ``out_dir`` (resumable).

    Args:
        pairs_dir: folder laid out as in the module docstring.
        out_dir: output folder (:mod:`~refocus_bench.simulators.pairs.real_writer`).
        settings: :class:`FitSettings`.
        size: (H, W) of the output samples in pixels.
        depth_model: a depth estimator (:func:`refocus_bench.models.depth.create_depth_estimator`) used
            for pairs without a depth file.
    """
    settings = settings or FitSettings()
    root = Path(pairs_dir).absolute()
    entries = find_pairs(root)
    job = _PairJob(root, entries, settings, size, depth_model)
    run_settings = {
        "route": "fit-blur",
        "fit": {**settings.__dict__, "k_bounds_px_m": list(settings.k_bounds_px_m)},
        "renderer": {"name": "bokeh.layered", **job.renderer.config()},
        "depth_model": None if depth_model is None else depth_model.card.name,
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
            source=f"pairs:{root.name}",
            licence="the pairs' own licence (see the source dataset)",
            per_shard=per_shard,
            overwrite=overwrite,
            command=command,
        )
