"""LF-Bokeh and LF-Refocus style benchmarks from light fields (GenRefocus's unreleased benchmarks).

``make_lf_benchmark(["lf1/", "lf2.npy"], "out/", focus_disparities=[-1, 0, 1],
apertures=[("disk", None), ("hexagon", 3)])`` (CLI ``refocus-bench make-lf-benchmark``) writes::

    scenes/<name>/aif.png                     centre view: the all-in-focus input of LF-Bokeh
    scenes/<name>/bokeh/f<k>-<aperture>-r<R>.png   synthetic-aperture image at focus plane k
    scenes/<name>/disparity.exr               centre-view disparity (synthetic light fields only)
    scenes/<name>/records.json                this light field's records
    manifest.json                             all records, every file's sha256, failures
    README.md                                 benchmark card: conventions, sources, licences

* **LF-Bokeh** record: ``aif.png`` -> the image at focus disparity ``d_f`` with an aperture of shape
  ``aperture`` and radius ``radius_views``, for every focus plane and aperture;
* **LF-Refocus** record: the image at plane A -> the image at plane B (A != B, same aperture): every
  ordered pair, or ``refocus_pairs`` of them per light field drawn with ``seed``.

A plane of disparity ``d`` has signed CoC radius ``radius_views * (d - d_f)`` pixels in a target
(see :mod:`refocus_bench.simulators.lightfield.field`); records carry ``coc_px_per_disparity`` for that.
Images are 8-bit sRGB PNG computed in linear light. Each light field is written to a temporary
folder and renamed into place, so a rerun skips finished light fields and a killed run leaves no
partial one. A light field that cannot be loaded, or an aperture whose shape at that radius would be
cut off by the grid edge (or covers no view), is reported in ``manifest.json`` (``failures``) and the rest is built.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InvalidInputError, MissingFileError, check
from ..hashing import file_sha256
from ..io import atomic_write_bytes, atomic_write_json, write_depth, write_image
from ..simulators.lightfield.field import LightField, load_lightfield, refocus, view_weights
from ..simulators.render.apertures import list_apertures
from ..version import __version__

__all__ = ["make_lf_benchmark", "LFBenchmarkResult", "DEFAULT_FOCUS_DISPARITIES"]

DEFAULT_FOCUS_DISPARITIES = (-1.0, -0.5, 0.0, 0.5, 1.0)
MANIFEST_VERSION = 1


@dataclass
class LFBenchmarkResult:
    out_dir: Path
    bokeh_records: int
    refocus_records: int
    built: list[str]
    skipped: list[str]
    failures: list[dict[str, Any]]


def _safe(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")
    return s or "lightfield"


def _options(
    focus: Sequence[float], apertures: Sequence[tuple[str, float | None]], refocus_pairs: int | None, seed: int
) -> dict:
    return {
        "focus_disparities": [float(f) for f in focus],
        "apertures": [[a, r] for a, r in apertures],
        "refocus_pairs": refocus_pairs,
        "seed": seed,
        "version": MANIFEST_VERSION,
    }


def _build_one(lf: LightField, index: int, name: str, folder: Path, opts: dict) -> tuple[list[dict], list[dict]]:
    """Render one light field into ``folder`` (a fresh temporary folder); returns (records, failures)."""
    records, failures = [], []
    write_image(folder / "aif.png", lf.centre_view())
    if lf.disparity is not None:
        write_depth(folder / "disparity.exr", lf.disparity)
    focus = opts["focus_disparities"]
    rel = f"scenes/{name}"
    for ap, radius in opts["apertures"]:
        r = lf.max_radius() if radius is None else float(radius)
        try:
            view_weights(lf, ap, r)
        except InvalidInputError as err:
            failures.append({"lightfield": name, "reason": "aperture_does_not_fit", "detail": str(err)})
            continue
        paths = []
        for k, d in enumerate(focus):
            fname = f"bokeh/f{k}-{ap}-r{r:g}.png"
            write_image(folder / fname, refocus(lf, d, ap, r))
            paths.append(f"{rel}/{fname}")
            records.append(
                {
                    "id": f"{name}/bokeh/f{k}-{ap}-r{r:g}",
                    "task": "lf-bokeh",
                    "lightfield": name,
                    "input": f"{rel}/aif.png",
                    "target": paths[-1],
                    "focus_disparity_px": d,
                    "aperture": ap,
                    "radius_views": r,
                    "coc_px_per_disparity": r,
                    "grid": list(lf.grid),
                }
            )
        pairs = [(a, b) for a, b in itertools.permutations(range(len(focus)), 2)]
        if opts["refocus_pairs"] is not None and opts["refocus_pairs"] < len(pairs):
            rng = np.random.default_rng(np.random.SeedSequence([opts["seed"], index, len(records)]))
            pairs = [pairs[i] for i in sorted(rng.choice(len(pairs), opts["refocus_pairs"], replace=False))]
        for a, b in pairs:
            records.append(
                {
                    "id": f"{name}/refocus/f{a}-f{b}-{ap}-r{r:g}",
                    "task": "lf-refocus",
                    "lightfield": name,
                    "input": paths[a],
                    "target": paths[b],
                    "source_focus_disparity_px": focus[a],
                    "focus_disparity_px": focus[b],
                    "aperture": ap,
                    "radius_views": r,
                    "coc_px_per_disparity": r,
                    "grid": list(lf.grid),
                }
            )
    return records, failures


def _check_options(
    focus_disparities: Sequence[float],
    apertures: Sequence[tuple[str, float | None]],
    refocus_pairs: int | None,
    seed: int,
) -> dict[str, Any]:
    """Check :func:`make_lf_benchmark`'s options; returns them as the JSON of ``state.json``."""
    focus = [float(f) for f in focus_disparities]
    check(
        len(focus) > 0 and all(math.isfinite(f) for f in focus),
        lambda: f"focus_disparities must be finite numbers, got {focus}",
    )
    check(len(set(focus)) == len(focus), lambda: f"focus_disparities must be distinct, got {focus}")
    check(len(apertures) > 0, "give at least one aperture")
    for ap, r in apertures:
        check(ap in list_apertures(), lambda: f"unknown aperture {ap!r}; choose from {list_apertures()}")
        check(r is None or (math.isfinite(r) and r > 0), lambda: f"aperture radius must be > 0 views, got {r}")
    check(
        refocus_pairs is None or (isinstance(refocus_pairs, int) and refocus_pairs >= 0),
        lambda: f"refocus_pairs must be an int >= 0 or None, got {refocus_pairs!r}",
    )
    return _options(focus, [(a, None if r is None else float(r)) for a, r in apertures], refocus_pairs, seed)


def _prepare_out(out: Path, opts: dict[str, Any], overwrite: bool) -> None:
    """Record ``opts`` in ``out/state.json``; refuse (or, with ``overwrite``, empty) a folder built with others."""
    state = out / "state.json"
    if state.is_file():
        old = json.loads(state.read_text(encoding="utf-8"))
        if old != opts:
            check(
                overwrite,
                lambda: f"{str(out)!r} was built with other options {old}; use a new folder or overwrite=True",
            )
            shutil.rmtree(out / "scenes", ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(state, opts)
    (out / "scenes").mkdir(exist_ok=True)
    for p in (out / "scenes").glob(".*.tmp-*"):  # left by a killed run
        shutil.rmtree(p, ignore_errors=True)


def _write_lightfield(out: Path, lf: LightField, index: int, name: str, origin: str | None, opts: dict) -> dict:
    """Build light field ``index`` into ``out/scenes/<name>`` through a temporary folder; returns its source info."""
    final = out / "scenes" / name
    tmp = out / "scenes" / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        records, fails = _build_one(lf, index, name, tmp, opts)
        info = {
            "name": name,
            "licence": lf.licence,
            "grid": list(lf.grid),
            "size_hw": list(lf.views.shape[-2:]),
            "origin": origin,
        }
        atomic_write_json(tmp / "records.json", {"source": info, "records": records, "failures": fails})
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return info


def _manifest(out: Path, opts: dict, names: set[str], sources_info: list[dict], failures: list[dict]) -> dict:
    """All records of the finished light fields (by name), their failures and every file's sha256."""
    manifest = {
        "options": opts,
        "lf-bokeh": [],
        "lf-refocus": [],
        "lightfields": sources_info,
        "failures": list(failures),
        "files": {},
    }
    for name in sorted(names):
        rec_path = out / "scenes" / name / "records.json"
        if not rec_path.is_file():
            continue
        data = json.loads(rec_path.read_text(encoding="utf-8"))
        for r in data["records"]:
            manifest[r["task"]].append(r)
        manifest["failures"] += data["failures"]
        for p in sorted((out / "scenes" / name).rglob("*")):
            if p.is_file() and p.name != "records.json":
                manifest["files"][p.relative_to(out).as_posix()] = file_sha256(p)
    return manifest


def make_lf_benchmark(
    sources: Sequence[LightField | str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    focus_disparities: Sequence[float] = DEFAULT_FOCUS_DISPARITIES,
    apertures: Sequence[tuple[str, float | None]] = (("disk", None),),
    refocus_pairs: int | None = None,
    seed: int = 0,
    order: str = "row-col",
    licence: str = "unknown",
    overwrite: bool = False,
    command: str | None = None,
) -> LFBenchmarkResult:
    """Build LF-Bokeh and LF-Refocus records from light fields (see the module docstring).

    Args:
        sources: :class:`LightField` objects or paths for :func:`load_lightfield`.
        out_dir: output folder; rerunning with the same options skips finished light fields.
        focus_disparities: focus planes (px per view step), at least one (two for LF-Refocus).
        apertures: (shape name, radius in view units or None = the largest that fits the grid).
        refocus_pairs: LF-Refocus pairs per light field and aperture (None = every ordered pair).
        seed: picks the LF-Refocus pairs when ``refocus_pairs`` is set.
        order, licence: passed to :func:`load_lightfield` for paths.
        overwrite: rebuild an ``out_dir`` made with other options instead of refusing.
        command: the command line recorded in the card (default: the Python call).
    """
    check(len(sources) > 0, "give at least one light field")
    opts = _check_options(focus_disparities, apertures, refocus_pairs, seed)
    out = Path(out_dir).absolute()
    _prepare_out(out, opts, overwrite)
    built, skipped, failures, names, sources_info = [], [], [], set(), []
    for i, src in enumerate(sources):
        name = _safe(src.name if isinstance(src, LightField) else Path(src).stem)
        check(name not in names, lambda: f"two light fields are named {name!r}; rename one")
        names.add(name)
        done = out / "scenes" / name / "records.json"
        if done.is_file():
            skipped.append(name)
            sources_info.append(json.loads(done.read_text(encoding="utf-8"))["source"])
            continue
        try:
            lf = src if isinstance(src, LightField) else load_lightfield(src, order=order, name=name, licence=licence)
            lf.centre_view()
        except (InvalidInputError, MissingFileError) as err:
            failures.append({"lightfield": name, "reason": "unreadable", "detail": str(err)})
            continue
        origin = None if isinstance(src, LightField) else os.fspath(src)
        sources_info.append(_write_lightfield(out, lf, i, name, origin, opts))
        built.append(name)
    manifest = _manifest(out, opts, names, sources_info, failures)
    atomic_write_json(out / "manifest.json", manifest)
    atomic_write_bytes(out / "README.md", _card(manifest, command).encode("utf-8"))
    return LFBenchmarkResult(
        out, len(manifest["lf-bokeh"]), len(manifest["lf-refocus"]), built, skipped, manifest["failures"]
    )


def _card(manifest: dict, command: str | None) -> str:
    o = manifest["options"]
    lines = [
        "# Light-field bokeh / refocus benchmark (refocus-bench)",
        "",
        f"{len(manifest['lf-bokeh'])} LF-Bokeh records (all-in-focus centre view -> synthetic-aperture bokeh) and "
        f"{len(manifest['lf-refocus'])} LF-Refocus records (focus plane A -> B) "
        f"from {len(manifest['lightfields'])} light fields; "
        f"{len(manifest['failures'])} problems listed in `manifest.json` (`failures`).",
        "",
        "Made by:",
        "",
        "```",
        command or "refocus_bench.benchmarks.lightfield.make_lf_benchmark(...)",
        "```",
        "",
        f"refocus-bench {__version__}. Options: `{json.dumps(o, sort_keys=True)}`.",
        "",
        "## Conventions",
        "",
        "- Views: `views[j, i]`, row j (v, down), column i (u, right); positions in view steps from the grid centre.",
        "- Focus plane: a disparity d_f (px per view step); view (u, v) is sampled at x + d_f (u, v) (bilinear) "
        "and the views are averaged in linear light with weights transmittance(u / R, v / R) of the aperture "
        "shape at radius R (view steps).",
        "- A plane of disparity d gets the signed CoC radius R (d - d_f) px (`coc_px_per_disparity` = R).",
        "- Images: 8-bit sRGB PNG; `disparity.exr` (synthetic light fields) is the centre view's disparity.",
        "",
        "## Light fields and licences",
        "",
        "| light field | grid | size (H, W) | licence | origin |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {s['name']} | {s['grid'][0]}x{s['grid'][1]} | {s['size_hw'][0]}x{s['size_hw'][1]} | {s['licence']} | "
        f"{s['origin'] or 'in memory'} |"
        for s in manifest["lightfields"]
    ]
    return "\n".join(lines) + "\n"
