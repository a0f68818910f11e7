"""Inputs of the route-mix study: "real" photos with EXIF (route b) and (AIF, bokeh) pairs (route c).

No library of real bokeh photos is available offline, and the bundled Middlebury Motorcycle scene is
the evaluation scene, so the inputs are made the way issue 16's own must-show makes its route-(b)
photo: procedural layered scenes (dead leaves, with and without point lights, and two-plane scenes;
textures from scikit-image's photographs, :mod:`refocus_bench.simulators.render.scenes`) rendered
exactly (:func:`~refocus_bench.simulators.render.layered.render_layered`, hidden content included)
through a known physical thin lens of a full-frame camera (crop factor 1; the square image spans
:data:`SENSOR_MM` of the sensor, the 35 mm diagonal rule that the harvest applies). Scene seeds start at
:data:`SEED_BASE`, away from the seed ranges of :mod:`refocus_bench.models.genrefocus.synthetic`.

Per input ``i`` (deterministic by ``i``):

* the focus distance is, with even odds, the depth of a random pixel of the all-in-focus view or of
  a random visible plane (a subject);
* a largest |CoC| ``c`` is drawn uniformly in [2, 16] px; the focal length is the first of a
  shuffled (35, 50, 85, 105, 135) mm whose f-number for ``c`` lies in [1.4, 16] (else 135 mm at
  f/1.4); the f-number is rounded to 0.1 and the image is rendered with the rounded value;
* route b (``photos/<stem>.jpg``): disk aperture, JPEG quality 95 with EXIF Make/Model (Canon EOS R5),
  FNumber, FocalLength and FocalLengthIn35mmFormat; true depth in ``depth/<stem>.exr``;
* route c (``pairs/{aif,bokeh,depth,meta}/<stem>``): the all-in-focus view and the render as 8-bit
  PNG, depth as EXR, ``meta/<stem>.json`` naming the aperture (disk or hexagon); the focus distance
  is NOT given (fit-blur estimates it from the pair, as for a real pair);
* ``truth.jsonl``: the true K (px*m at the stored size), focus, lens and aperture of every input.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from refocus_bench import optics  # noqa: E402
from refocus_bench.datasets.sensors import FULL_FRAME_DIAGONAL_MM  # noqa: E402
from refocus_bench.io import write_depth, write_image  # noqa: E402
from refocus_bench.simulators.render.layered import render_layered  # noqa: E402
from refocus_bench.simulators.render.scenes import dead_leaves_scene, two_plane_scene  # noqa: E402

SEED_BASE = 90_000_000
FOCALS_MM = (35.0, 50.0, 85.0, 105.0, 135.0)
SENSOR_MM = FULL_FRAME_DIAGONAL_MM / math.sqrt(2.0)
"""Long side (mm) of a square image from a full-frame camera by the 35 mm diagonal rule (30.59 mm): what
``refocus-bench harvest`` reads from FocalLengthIn35mmFormat = FocalLength for a square photo."""


def _scene(rng: np.random.Generator, seed: int, size: int):
    if rng.random() < 0.8:
        near, far = float(rng.uniform(0.6, 1.5)), float(rng.uniform(4.0, 15.0))
        return dead_leaves_scene(
            (size, size),
            n_leaves=int(rng.integers(6, 31)),
            depth_range_m=(near, far),
            seed=seed,
            point_lights=int(rng.integers(0, 5)),
        )
    return two_plane_scene(
        (size, size), fg_depth_m=float(rng.uniform(0.8, 2.0)), bg_depth_m=float(rng.uniform(3.0, 10.0)), seed=seed
    )


def _lens(rng: np.random.Generator, s: float, spread: float, width: int) -> optics.ThinLens:
    """A full-frame lens focused at ``s`` whose largest |CoC| is about a drawn c in [2, 16] px."""
    c = float(rng.uniform(2.0, 16.0))
    k_target = c / max(spread, 1e-6)
    for f in rng.permutation(FOCALS_MM):
        if s * 1000.0 <= 2 * f:
            continue
        n = float(optics.f_number_from_k(k_target, float(f), s, SENSOR_MM, width))
        if 1.4 <= n <= 16.0:
            return optics.ThinLens(float(f), round(n, 1), s, SENSOR_MM)
    return optics.ThinLens(135.0, 1.4, s, SENSOR_MM)


def make_input(i: int, size: int, aperture: str | None = None) -> dict:
    """Input ``i``: all-in-focus image, depth, render and its truth (see the module docstring)."""
    seed = SEED_BASE + i
    rng = np.random.default_rng(np.random.SeedSequence([16_2026, seed]))
    scene = _scene(rng, seed, size)
    aif, depth, front = scene.flatten()
    visible = scene.depth_m[torch.unique(front)].double()
    if rng.random() < 0.5:  # a random pixel (mostly the background) or a random visible plane (a subject)
        flat = depth.flatten()
        s = float(flat[int(rng.integers(flat.numel()))])
    else:
        s = float(visible[int(rng.integers(visible.numel()))])
    spread = float((1.0 / s - 1.0 / visible).abs().max())
    lens = _lens(rng, s, spread, size)
    ap = aperture or ("disk", "hexagon")[int(rng.integers(2))]
    photo = render_layered(scene.layers[None], scene.depth_m[None], lens, aperture=ap)
    k = float(optics.coc_gain_px_m(lens.focal_length_mm, lens.f_number, s, SENSOR_MM, size))
    truth = {
        "seed": seed,
        "k_px_m": k,
        "focus_distance_m": s,
        "focal_length_mm": lens.focal_length_mm,
        "f_number": lens.f_number,
        "aperture": ap,
        "max_abs_coc_px": k * spread,
    }
    return {"aif": aif, "depth": depth, "photo": photo.clamp(0, 1), "truth": truth}


def save_jpeg(image: torch.Tensor, path: Path, f_number: float, focal_mm: float) -> None:
    """8-bit JPEG (quality 95) with EXIF Make, Model, FNumber, FocalLength, FocalLengthIn35mmFormat."""
    from PIL import Image

    arr = (image[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS R5"
    ifd = exif.get_ifd(0x8769)
    ifd[0x829D], ifd[0x920A], ifd[0xA405] = f_number, focal_mm, int(round(focal_mm))
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(arr).save(tmp, format="JPEG", quality=95, exif=exif)
    tmp.replace(path)


def build(out: Path, n_b: int, n_c: int, size: int) -> dict:
    """Write ``n_b`` route-b photos and ``n_c`` route-c pairs under ``out``; inputs already there are kept."""
    for d in ("photos", "depth", "pairs/aif", "pairs/bokeh", "pairs/depth", "pairs/meta"):
        (out / d).mkdir(parents=True, exist_ok=True)
    truth = {}
    for i in range(n_b + n_c):
        route_b = i < n_b
        stem = f"b{i:04d}" if route_b else f"c{i - n_b:04d}"
        done = out / ("photos" if route_b else "pairs/meta") / (f"{stem}.jpg" if route_b else f"{stem}.json")
        tfile = out / "truth" / f"{stem}.json"
        if done.is_file() and tfile.is_file():
            truth[stem] = json.loads(tfile.read_text())
            continue
        x = make_input(i, size, "disk" if route_b else None)
        t = x["truth"]
        if route_b:
            write_depth(out / "depth" / f"{stem}.exr", x["depth"])
            save_jpeg(x["photo"], done, t["f_number"], t["focal_length_mm"])
        else:
            write_image(out / "pairs" / "aif" / f"{stem}.png", x["aif"])
            write_image(out / "pairs" / "bokeh" / f"{stem}.png", x["photo"])
            write_depth(out / "pairs" / "depth" / f"{stem}.exr", x["depth"])
            done.write_text(json.dumps({"aperture": t["aperture"]}) + "\n")
        tfile.parent.mkdir(exist_ok=True)
        tfile.write_text(json.dumps(t, sort_keys=True) + "\n")
        truth[stem] = t
    (out / "truth.jsonl").write_text("".join(json.dumps({"stem": k, **v}) + "\n" for k, v in sorted(truth.items())))
    return truth


if __name__ == "__main__":
    torch.set_num_threads(1)
    o, nb, nc, sz = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    t = build(o, nb, nc, sz)
    print(f"{len(t)} inputs under {o}")
