"""Route (b): ``refocus-bench make-real-pairs HARVEST_DIR -o OUT``, BokehNet samples from single real photos.

GenRefocus's EXIF route. For each photo of a harvest (``refocus-bench harvest``), in relative-path order:

1. the EXIF fields K needs (focal length, f-number, sensor width, image size) are checked; a photo
   without them, or with an implausible value (:data:`PLAUSIBLE`; an f-number <= 0 included), is
   skipped with its reason in ``manifest.jsonl``;
2. the photo is brought to the output size (cover + centre crop, :mod:`.real_inputs`);
3. the all-in-focus image comes from a registered deblur model run on the photo (default
   ``genrefocus.tiny``);
4. depth comes from a folder of depth maps named by the photo's stem (metres, at the photo's size),
   or from a registered depth estimator run on the all-in-focus image;
5. the in-focus mask M comes from a folder of masks (by stem, white = in focus, photo size) or from
   the classical :func:`~refocus_bench.simulators.pairs.focus_mask.sharpness_mask`;
6. D_focus = median(D[M]) (GenRefocus's Eq. 4); the EXIF focus distance is not used for K, only to
   check D_focus when it is reliable;
7. K = f^2 D_focus / (2 N (D_focus - f)) x px/m (Eq. 3) through :func:`refocus_bench.optics.coc_gain_px_m`
   (:func:`refocus_bench.datasets.exif.k_at_focus_distance`), with the photo's longest edge in pixels,
   then scaled with the image to the output size.

Confidence in [0, 1] (:func:`confidence_terms`): the product of an area term (masks under 2 % of
the image, or over 60 % - a photo sharp almost everywhere - count less), a depth-spread term
``1 / (1 + (spread / 0.15)^2)`` with spread = (q90 - q10) / median of the depth in the mask, and a
focus term: ``exp(-|ln(D_focus / s_exif)|)`` when the EXIF focus distance is reliable, 0.8 when it
is not available or not reliable. All terms are stored in ``provenance_json``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch

from ...errors import InvalidInputError, check
from ...io import read_image
from .focus_mask import mask_facts, sharpness_mask
from .real_inputs import check_same_size, cover_crop, depth_for, find_depth_file
from .real_writer import Outcome, RealRunResult, RealSample, side_fields, write_real_run

__all__ = ["make_real_pairs", "read_harvest", "exif_problem", "confidence_terms", "PLAUSIBLE"]

PLAUSIBLE = {
    "f_number": (0.5, 64.0),
    "focal_length_mm": (1.0, 2000.0),
    "sensor_width_mm": (1.0, 100.0),
    "image_width_px": (16, 200_000),
    "image_height_px": (16, 200_000),
}
"""Accepted ranges of the EXIF fields that K needs (inclusive)."""

_UNRELIABLE_FOCUS = 0.8
_NOTE_WORDS = {
    "f_number": ("fnumber", "f-number", "aperture"),
    "focal_length_mm": ("focal",),
    "sensor_width_mm": ("sensor", "crop"),
    "image_width_px": ("image size", "width"),
    "image_height_px": ("image size", "height"),
}


def read_harvest(harvest_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The kept photos of a harvest folder, sorted by relative path.

    Raises:
        InvalidInputError: ``harvest_dir`` is not a folder made by ``refocus-bench harvest``.
    """
    import pyarrow.parquet as pq

    from ...datasets.harvest_schema import DATA_FILE

    root = Path(harvest_dir)
    check(root.is_dir(), lambda: f"HARVEST_DIR {str(root)!r} is not a folder")
    data = root / DATA_FILE
    check(
        data.is_file(),
        lambda: f"HARVEST_DIR {str(root)!r} is not a harvest folder: it has no {DATA_FILE} "
        "(make one with 'refocus-bench harvest PHOTOS -o HARVEST_DIR')",
    )
    try:
        table = pq.read_table(data)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types for a broken file
        raise InvalidInputError(f"{data}: not a readable Parquet file ({err})") from err
    need = {"path", "relative_path", "sha256", *PLAUSIBLE}
    missing = sorted(need - set(table.column_names))
    check(not missing, lambda: f"{data}: not a harvest table, it lacks the columns {missing}")
    return sorted(table.to_pylist(), key=lambda r: r["relative_path"])


def exif_problem(record: dict[str, Any]) -> tuple[str, str] | None:
    """(reason, detail) when a harvest record cannot give K, else None.

    ``missing_exif``: a field is absent; ``implausible_exif``: a value lies outside :data:`PLAUSIBLE`
    or the harvest rejected it (its ``notes`` say why, e.g. an f-number <= 0).
    """
    notes = record.get("notes") or ""
    for name, (lo, hi) in PLAUSIBLE.items():
        v = record.get(name)
        if v is None:
            rejected = [n for n in notes.split(";") if any(w in n.lower() for w in _NOTE_WORDS[name])]
            if rejected:
                return "implausible_exif", f"{name} rejected by the harvest: {'; '.join(s.strip() for s in rejected)}"
            return "missing_exif", f"no {name} in the EXIF"
        if not (isinstance(v, (int, float)) and math.isfinite(v) and lo <= v <= hi):
            return "implausible_exif", f"{name} = {v!r} is outside [{lo:g}, {hi:g}]"
    return None


def confidence_terms(facts: dict[str, Any], record: dict[str, Any]) -> dict[str, float]:
    """The terms of the confidence (see the module docstring) and their product ``confidence``."""
    area = float(facts["area_fraction"])
    area_term = min(1.0, area / 0.02) * (1.0 if area <= 0.6 else max(0.0, (0.9 - area) / 0.3))
    spread_term = 1.0 / (1.0 + (float(facts["depth_spread"]) / 0.15) ** 2)
    s_exif, reliable = record.get("focus_distance_m"), bool(record.get("focus_distance_reliable"))
    usable = reliable and s_exif is not None and math.isfinite(s_exif) and s_exif > 0
    focus_term = math.exp(-abs(math.log(facts["focus_distance_m"] / s_exif))) if usable else _UNRELIABLE_FOCUS
    return {
        "area_term": area_term,
        "spread_term": spread_term,
        "focus_term": focus_term,
        "focus_distance_reliable": usable,
        "confidence": area_term * spread_term * focus_term,
    }


class _PhotoJob:
    """Turns harvest record ``i`` into an :class:`Outcome` (the ``process`` of :func:`write_real_run`)."""

    def __init__(self, rows: list[dict], size: tuple[int, int], deblur: Any, depth_dir, depth_model, mask_dir):
        self.rows, self.size, self.deblur = rows, size, deblur
        self.depth_dir, self.depth_model, self.mask_dir = depth_dir, depth_model, mask_dir

    def __call__(self, i: int) -> Outcome:
        r = self.rows[i]
        name = r["relative_path"]
        why = exif_problem(r)
        if why is not None:
            return Outcome(name, "skipped", *why)
        if r.get("pixel_decoder") is None and "pixel_decoder" in r:
            return Outcome(name, "skipped", "no_pixels", r.get("no_pixels_reason") or "no decoder reads this file")
        if not Path(r["path"]).is_file():
            return Outcome(name, "skipped", "missing_file", f"{r['path']} is gone")
        stem = Path(name).stem
        depth_file = find_depth_file(self.depth_dir, stem) if self.depth_dir is not None else None
        if depth_file is None and self.depth_model is None:
            return Outcome(name, "skipped", "missing_depth", f"no {stem}.exr|.npy|.png in the depth folder")
        try:
            return self._make(r, name, depth_file)
        except InvalidInputError as err:
            return Outcome(name, "skipped", "bad_input", str(err))

    def _mask(self, stem: str, photo: torch.Tensor, name: str) -> tuple[torch.Tensor, str]:
        """The in-focus mask at the photo's size: from the mask folder or None (computed later)."""
        if self.mask_dir is None:
            return None, "sharpness"
        p = next((q for q in sorted(Path(self.mask_dir).glob(f"{stem}.*")) if q.is_file()), None)
        check(p is not None, lambda: f"no mask {stem}.* in the mask folder for {name}")
        m = read_image(p, str(p))
        check_same_size(photo, name, m, str(p))
        return (m.mean(1, keepdim=True) > 0.5).float(), f"file:{p.name}"

    def _make(self, r: dict, name: str, depth_file: Path | None) -> Outcome:
        photo = read_image(r["path"], name)
        depth = depth_for(photo, name, depth_file=depth_file) if depth_file is not None else None
        mask, mask_source = self._mask(Path(name).stem, photo, name)
        h0, w0 = photo.shape[-2:]
        photo_c, depth_c, scale = cover_crop(photo, depth, self.size)
        if mask is not None:
            mask = cover_crop(photo, mask, self.size)[1] > 0.5
        with torch.no_grad():
            aif = self.deblur.deblur(photo_c).clamp(0.0, 1.0)
            if depth_c is None:
                depth_c = self.depth_model.estimate(aif).float()
        if mask is None:
            mask = sharpness_mask(photo_c)
        facts = mask_facts(mask, depth_c)
        s = facts["focus_distance_m"]
        if s is None:
            return Outcome(name, "skipped", "no_focus_mask", f"the in-focus mask ({mask_source}) is empty")
        if not s * 1000.0 > r["focal_length_mm"]:
            return Outcome(name, "skipped", "implausible_focus", f"D_focus {s:g} m is not beyond the focal length")
        from ...datasets.exif import k_at_focus_distance

        k_photo = k_at_focus_distance({**r, "image_width_px": w0, "image_height_px": h0}, s)
        k = k_photo * scale
        terms = confidence_terms(facts, r)
        provenance = {
            "file": {"path": name, "sha256": r["sha256"]},
            "exif": {k_: r.get(k_) for k_ in ("make", "model", "lens_model", "sensor_source", *PLAUSIBLE)},
            "exif_focus_distance_m": r.get("focus_distance_m"),
            "deblur_model": self.deblur.card.name,
            "depth": f"file:{depth_file.name}" if depth_file is not None else f"model:{self.depth_model.card.name}",
            "mask": mask_source,
            "mask_facts": facts,
            "scale": scale,
            "k_px_m_at_photo_size": k_photo,
            "confidence_terms": terms,
        }
        side = side_fields(
            kind="defocused",
            mode="physical",
            focal_length_mm=r["focal_length_mm"],
            f_number=r["f_number"],
            sensor_width_mm=r["sensor_width_mm"],
            focus_method="mask-median",
            focus_x=facts["x"],
            focus_y=facts["y"],
            focus_mask_box=facts["box"],
        )
        sample = RealSample(aif, photo_c, depth_c, k, s, side, terms["confidence"], provenance)
        facts_line = {"k_px_m": k, "focus_distance_m": s, "confidence": terms["confidence"]}
        return Outcome(name, "kept", None, None, facts_line, sample)


def make_real_pairs(
    harvest_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    size: tuple[int, int] = (512, 512),
    deblur_model: str = "genrefocus.tiny",
    depth_dir: str | os.PathLike[str] | None = None,
    depth_model: Any = None,
    mask_dir: str | os.PathLike[str] | None = None,
    per_shard: int = 16,
    overwrite: bool = False,
    command: str = "",
) -> RealRunResult:
    """Make route (b) samples from every photo of ``harvest_dir`` into ``out_dir`` (resumable).

    Args:
        harvest_dir: a folder written by ``refocus-bench harvest``.
        out_dir: output folder (:mod:`~refocus_bench.simulators.pairs.real_writer`).
        size: (H, W) of the samples in pixels.
        deblur_model: registered model name with the ``deblur`` task.
        depth_dir: folder of depth maps named by photo stem (metres; photo size).
        depth_model: a depth estimator for photos without a depth file.
        mask_dir: folder of in-focus masks by photo stem (white = in focus); default: sharpness mask.
    """
    from ...models import create_model

    rows = read_harvest(harvest_dir)
    for flag, folder in (("depth_dir", depth_dir), ("mask_dir", mask_dir)):
        check(folder is None or Path(folder).is_dir(), lambda f=flag, d=folder: f"{f} {str(d)!r} is not a folder")
    check(depth_dir is not None or depth_model is not None, "give depth_dir or depth_model (the depth of each photo)")
    deblur = create_model(deblur_model)
    check("deblur" in deblur.card.tasks, lambda: f"{deblur_model} does not deblur (tasks {deblur.card.tasks})")
    job = _PhotoJob(rows, size, deblur, depth_dir, depth_model, mask_dir)
    settings = {
        "route": "exif",
        "deblur_model": deblur_model,
        "depth": "folder" if depth_dir is not None else None,
        "depth_model": None if depth_model is None else depth_model.card.name,
        "mask": "folder" if mask_dir is not None else "sharpness",
        "inputs_sha256": {r["relative_path"]: r["sha256"] for r in rows},
    }
    return write_real_run(
        out_dir,
        [r["relative_path"] for r in rows],
        job,
        route="exif",
        size=size,
        settings=settings,
        source=f"harvest:{Path(harvest_dir).absolute().name}",
        licence="the photos' own licences",
        per_shard=per_shard,
        overwrite=overwrite,
        command=command,
    )
