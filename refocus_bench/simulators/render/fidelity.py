"""Fidelity report: renderers measured against the shift-and-add ground truth.

For each case a layered scene is rendered exactly by :func:`~refocus_bench.simulators.render.reference.render_reference`
and approximately by

* the layered renderer on the full layers (hidden content known): :func:`render_layered` with the given
  settings (default ``RenderConfig()``) and, with ``exact``, the exact mode
  :data:`~refocus_bench.simulators.render.config.LAYERED_EXACT`;
* the layered renderer on the RGB-D view a camera records (visible surface only): :func:`render_bokeh`,
  with the given settings, with :data:`~refocus_bench.simulators.render.config.RGBD_FIDELITY` (soft layers)
  and with :data:`~refocus_bench.simulators.render.config.RGBD_PLANES` (opaque planes);
* two anchors on the same RGB-D view: the scatter baseline (BokehMe's classical algorithm, disk aperture
  only) and the share-fill renderer (:mod:`~refocus_bench.simulators.render.share_fill`).

A second reference with half the samples and another scrambling seed gives the reference's own convergence
(its row: the main reference is at least that close to the exact image). Errors are PSNR in linear light
(peak 1) over the whole image and over a band of ``band_px`` pixels around occlusion edges (where the
front-most layer changes), both excluding a border of ``margin_px`` where the reference reads reflected
content. References can be kept in a cache folder (keyed by the scene, radii, aperture, samples and seed).

Run: ``python -m refocus_bench.simulators.render.fidelity [--samples 2048] [--size 256] [--cases 0,3] [--cache DIR]``;
``--held-out`` measures :func:`held_out_cases` instead (scenes not used to choose any setting).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from kornia.color import rgb_to_linear_rgb

from ...io import atomic_path
from .config import LAYERED_EXACT, RGBD_FIDELITY, RGBD_PLANES, RenderConfig
from .layered import render_layered
from .reference import margin_px, render_reference
from .rgbd import render_bokeh
from .scatter import render_scatter
from .scenes import (
    LayeredScene,
    curved_surface_scene,
    dead_leaves_scene,
    slanted_plane_scene,
    thin_strands_scene,
    two_plane_scene,
)
from .share_fill import render_share_fill

__all__ = [
    "FidelityCase",
    "default_cases",
    "held_out_cases",
    "occlusion_band",
    "psnr_linear",
    "cached_reference",
    "evaluate_case",
    "main",
]


@dataclass
class FidelityCase:
    """A layered scene and the signed CoC radius (px) of each of its layers."""

    name: str
    scene: LayeredScene
    coc_px: list[float]
    aperture: str = "disk"


def occlusion_band(front: torch.Tensor, band_px: int = 10) -> torch.Tensor:
    """(H, W) bool: pixels within ``band_px`` of a change of the front-most layer index."""
    from scipy import ndimage

    f = front.cpu().numpy()
    edge = np.zeros_like(f, dtype=bool)
    edge[:, 1:] |= f[:, 1:] != f[:, :-1]
    edge[1:, :] |= f[1:, :] != f[:-1, :]
    if not edge.any():
        return torch.zeros_like(front, dtype=torch.bool)
    return torch.from_numpy(ndimage.distance_transform_edt(~edge) <= band_px)


def psnr_linear(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    """PSNR (dB, peak 1) between (3, H, W) linear images over the pixels of an (H, W) mask."""
    mse = float(((a.double() - b.double()) ** 2).mean(0)[mask].mean())
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def default_cases(size: int = 256, radius_px: float = 12.0) -> list[FidelityCase]:
    """Two-plane scenes (each plane in focus in turn, then both defocused), a dead-leaves scene, a
    plane receding across the frame, a curved surface (continuous depth in x and y) and hair-like
    strands in front of a far background (the last four with the same K and focus)."""
    two = two_plane_scene((size, size), seed=1)
    leaves = dead_leaves_scene((size, size), n_leaves=24, seed=2)
    # dead leaves: a 30 px*m blur gain (K), focused at 2 m, depths 1..6 m -> CoC -14..+10 px at 256 px
    k = 30.0 * size / 256.0
    leaves_coc = [k * (1.0 / 2.0 - 1.0 / float(z)) for z in leaves.depth_m]
    slanted = slanted_plane_scene((size, size), seed=3)
    slanted_coc = [k * (1.0 / 2.0 - 1.0 / float(z)) for z in slanted.depth_m]
    curved = curved_surface_scene((size, size), seed=4)
    strands = thin_strands_scene((size, size), seed=5)
    return [
        FidelityCase("sharp foreground, defocused background", two, [0.0, radius_px]),
        FidelityCase("defocused foreground, sharp background", two, [-radius_px, 0.0]),
        FidelityCase("both defocused", two, [-radius_px / 2, radius_px * 5 / 6]),
        FidelityCase("dead leaves (25 layers)", leaves, leaves_coc),
        FidelityCase("sharp foreground, hexagon aperture", two, [0.0, radius_px], "hexagon"),
        FidelityCase("slanted plane (64 strips)", slanted, slanted_coc),
        FidelityCase("curved surface (64 levels)", curved, [k * (0.5 - 1.0 / float(z)) for z in curved.depth_m]),
        FidelityCase("thin strands, far background", strands, [k * (0.5 - 1.0 / float(z)) for z in strands.depth_m]),
    ]


def held_out_cases(size: int = 128, k_px_m: float = 19.5) -> list[FidelityCase]:
    """Scenes of the same kinds as :func:`default_cases` with other seeds (21-26), a blur gain of ``k_px_m``
    (px*m, focused at 2 m) and two-plane radii of 8 px, to check settings chosen on the default cases on
    scenes that were not used to choose them."""
    two = two_plane_scene((size, size), seed=23)

    def coc(scene: LayeredScene) -> list[float]:
        return [k_px_m * (0.5 - 1.0 / float(z)) for z in scene.depth_m]

    leaves_a, leaves_b = dead_leaves_scene((size, size), seed=21), dead_leaves_scene((size, size), seed=22)
    slanted, curved = slanted_plane_scene((size, size), seed=24), curved_surface_scene((size, size), seed=26)
    strands = thin_strands_scene((size, size), seed=25)
    return [
        FidelityCase("dead leaves, seed 21", leaves_a, coc(leaves_a)),
        FidelityCase("two planes, sharp foreground (0, +8 px)", two, [0.0, 8.0]),
        FidelityCase("two planes, defocused foreground (-8, 0 px)", two, [-8.0, 0.0]),
        FidelityCase("two planes, both defocused (-4, +6 px)", two, [-4.0, 6.0]),
        FidelityCase("dead leaves, seed 22", leaves_b, coc(leaves_b)),
        FidelityCase("slanted plane, seed 24", slanted, coc(slanted)),
        FidelityCase("curved surface, seed 26", curved, coc(curved)),
        FidelityCase("thin strands, seed 25", strands, coc(strands)),
    ]


def cached_reference(
    layers: torch.Tensor, coc: torch.Tensor, aperture: str, samples: int, seed: int, cache: Path | None
) -> torch.Tensor:
    """:func:`render_reference` (linear, (3, H, W)) of (1, L, 4, H, W) float64 ``layers`` at (1, L) ``coc``, read
    from or written (atomically) to the folder ``cache`` when given, under a key of all its inputs."""
    key = hashlib.sha256()
    for part in (layers.contiguous().numpy().tobytes(), coc.contiguous().numpy().tobytes()):
        key.update(part)
    key.update(f"{aperture}|{samples}|{seed}".encode())
    path = None if cache is None else Path(cache) / f"reference-{key.hexdigest()[:24]}.pt"
    if path is not None and path.exists():
        return torch.load(path, weights_only=True)
    ref = render_reference(layers, coc_px=coc, aperture=aperture, samples=samples, seed=seed, linear=True)[0]
    if path is not None:
        with atomic_path(path) as tmp:
            torch.save(ref, tmp)
    return ref


def _renderers(
    layers: torch.Tensor, coc: torch.Tensor, rgbd: dict, ap: str, config: RenderConfig | None, exact: bool
) -> dict:
    """Row name -> zero-argument render (sRGB (1, 3, H, W)) of every renderer measured on a case: its full
    (1, L, 4, H, W) ``layers`` at (1, L) ``coc``, and ``rgbd``, the keyword arguments of its RGB-D view."""
    out = {"layered, full layers": lambda: render_layered(layers, coc_px=coc, aperture=ap, config=config)}
    if exact:
        out["layered, full layers, LAYERED_EXACT"] = lambda: render_layered(
            layers, coc_px=coc, aperture=ap, config=LAYERED_EXACT
        )
    out["layered, RGB-D"] = lambda: render_bokeh(**rgbd, aperture=ap, config=config)
    out["layered, RGB-D, RGBD_FIDELITY"] = lambda: render_bokeh(**rgbd, aperture=ap, config=RGBD_FIDELITY)
    out["layered, RGB-D, RGBD_PLANES"] = lambda: render_bokeh(**rgbd, aperture=ap, config=RGBD_PLANES)
    if ap == "disk":
        out["scatter baseline, RGB-D"] = lambda: render_scatter(**rgbd)
    out["share-fill anchor, RGB-D"] = lambda: render_share_fill(**rgbd, aperture=ap)
    return out


def evaluate_case(
    case: FidelityCase,
    samples: int = 2048,
    band_px: int = 10,
    config: RenderConfig | None = None,
    exact: bool = False,
    cache: Path | None = None,
) -> list[dict]:
    """PSNR rows (one per renderer, and one for the reference's convergence) for one case, with seconds."""
    layers = case.scene.layers[None].double()
    coc = torch.tensor([case.coc_px], dtype=torch.float64)
    image, _depth, front = case.scene.flatten()
    rgbd = dict(image=image.double(), coc_px=coc[0][front][None, None])
    h, w = front.shape
    m = margin_px(coc)
    valid = torch.zeros(h, w, dtype=torch.bool)
    valid[m : h - m, m : w - m] = True
    band = occlusion_band(front, band_px) & valid
    with torch.no_grad():
        ref = cached_reference(layers, coc, case.aperture, samples, 0, cache)
        half = cached_reference(layers, coc, case.aperture, max(1, samples // 2), 1, cache)
        rows = [_row(case, f"reference, {max(1, samples // 2)} samples, another seed", half, ref, valid, band, None)]
        for renderer, render in _renderers(layers, coc, rgbd, case.aperture, config, exact).items():
            start = time.perf_counter()
            out = render()
            seconds = time.perf_counter() - start
            rows.append(_row(case, renderer, rgb_to_linear_rgb(out)[0], ref, valid, band, seconds))
    return rows


def _row(
    case: FidelityCase,
    renderer: str,
    lin: torch.Tensor,
    ref: torch.Tensor,
    valid: torch.Tensor,
    band: torch.Tensor,
    seconds: float | None,
) -> dict:
    """One table row: PSNR of linear (3, H, W) ``lin`` against ``ref`` over the ``valid`` and ``band`` masks."""
    return {
        "case": case.name,
        "renderer": renderer,
        "psnr_whole_db": psnr_linear(lin, ref, valid),
        "psnr_band_db": psnr_linear(lin, ref, band) if bool(band.any()) else math.nan,
        "seconds": seconds,
    }


def to_markdown(rows: list[dict]) -> str:
    lines = ["| scene | renderer | PSNR whole (dB) | PSNR occlusion band (dB) | seconds |", "|---|---|---:|---:|---:|"]
    for r in rows:
        sec = "-" if r["seconds"] is None else f"{r['seconds']:.2f}"
        lines.append(f"| {r['case']} | {r['renderer']} | {r['psnr_whole_db']:.1f} | {r['psnr_band_db']:.1f} | {sec} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2048, help="aperture samples of the reference")
    parser.add_argument("--size", type=int, default=256, help="scene size in pixels (square)")
    parser.add_argument("--cases", default=None, help="comma-separated indices of the cases to run (default: all)")
    parser.add_argument("--cache", type=Path, default=None, help="folder to keep the references in (default: none)")
    parser.add_argument("--no-exact", action="store_true", help="leave out the exact mode (LAYERED_EXACT) rows")
    parser.add_argument(
        "--held-out", action="store_true", help="the held-out scenes (held_out_cases, 128 px) instead of the defaults"
    )
    args = parser.parse_args(argv)
    cases = held_out_cases() if args.held_out else default_cases(args.size)
    if args.cases is not None:
        try:
            chosen = [int(i) for i in args.cases.split(",")]
        except ValueError:
            parser.error(f"--cases must be comma-separated integers, got {args.cases!r}")
        bad = [i for i in chosen if not 0 <= i < len(cases)]
        if bad:
            parser.error(f"--cases must be in [0, {len(cases) - 1}], got {bad}")
        cases = [cases[i] for i in chosen]
    rows = []
    for case in cases:
        new = evaluate_case(case, samples=args.samples, exact=not args.no_exact, cache=args.cache)
        rows += new
        print(to_markdown(new).split("\n", 2)[2], flush=True)
    print()
    print(to_markdown(rows))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
