"""Render the bundled real RGB-D scene with several apertures (the first step of the demo).

Renders the bundled real RGB-D scene (Middlebury 2014 "Motorcycle", metric ground-truth depth)
through a physical 85 mm f/1.4 full-frame lens, focused near and far, with several aperture shapes,
and writes the images, a contact sheet and a JSON record of every parameter (with each render's CoC
range). A run that fails leaves no output folder behind; files are written atomically.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .version import __version__

if TYPE_CHECKING:
    import torch

__all__ = ["render_showcase", "add_parser"]

DEMO_APERTURES = ("disk", "hexagon", "nonagon-rounded", "heart", "star", "anamorphic", "cats-eye")
DEMO_FOCUS_M = (2.3, 4.2)
DEMO_LENS = {"focal_length_mm": 85.0, "f_number": 1.4, "sensor_width_mm": 36.0}


def render_showcase(
    out_dir: str | Path,
    apertures: tuple[str, ...] = DEMO_APERTURES,
    highlight_gain: float = 1.0,
    progress: bool | None = None,
) -> dict:
    """Render the demo set into ``out_dir`` and return the JSON-able record of what was made.

    ``progress``: a tqdm bar on stderr; None = only when stderr is a terminal.
    """
    import torch
    from tqdm import tqdm

    from .io import atomic_write_json, write_image
    from .optics import ThinLens
    from .simulators.render.blur_spec import resolve_coc
    from .simulators.render.config import RenderConfig
    from .simulators.render.rgbd import render_bokeh
    from .simulators.render.scenes import middlebury_motorcycle

    out = Path(out_dir)
    scene = middlebury_motorcycle()
    config = RenderConfig(highlight_gain=highlight_gain)
    write_image(out / "all_in_focus.png", scene.image)
    record: dict = {
        "toolkit_version": __version__,
        "scene": {"name": scene.name, "licence": scene.licence, "citation": scene.citation},
        "lens": DEMO_LENS,
        "renders": [],
    }
    tiles = []
    jobs = [(f, a) for f in DEMO_FOCUS_M for a in apertures]
    with torch.no_grad():
        show = sys.stderr.isatty() if progress is None else progress
        for focus, aperture in tqdm(jobs, desc="rendering", unit="image", disable=not show):
            if aperture == apertures[0]:
                tiles.append(scene.image)  # each row of the contact sheet starts with the input
            lens = ThinLens(DEMO_LENS["focal_length_mm"], DEMO_LENS["f_number"], focus, DEMO_LENS["sensor_width_mm"])
            coc = resolve_coc(scene.image, scene.depth_m, lens)
            start = time.perf_counter()
            img = render_bokeh(scene.image, coc_px=coc, aperture=aperture, config=config)
            seconds = time.perf_counter() - start
            name = f"focus{focus:.1f}m_{aperture}.png"
            write_image(out / name, img)
            tiles.append(img)
            record["renders"].append(
                {
                    "file": name,
                    "focus_distance_m": focus,
                    "aperture": aperture,
                    "coc_px_min": round(float(coc.min()), 3),
                    "coc_px_max": round(float(coc.max()), 3),
                    "seconds": round(seconds, 3),
                }
            )
    sheet = _contact_sheet(tiles, columns=len(apertures) + 1)
    write_image(out / "contact_sheet.png", sheet)
    atomic_write_json(out / "showcase.json", record)
    return record


def _contact_sheet(images: list[torch.Tensor], columns: int, width: int = 320) -> torch.Tensor:
    """Tile (1, 3, H, W) images, each resized to ``width`` px wide, ``columns`` per row."""
    import torch
    import torch.nn.functional as F

    h, w = images[0].shape[-2:]
    th = round(h * width / w)
    small = [F.interpolate(i, size=(th, width), mode="bilinear", antialias=True, align_corners=False) for i in images]
    while len(small) % columns:
        small.append(torch.zeros_like(small[0]))
    rows = [torch.cat(small[r : r + columns], dim=-1) for r in range(0, len(small), columns)]
    return torch.cat(rows, dim=-2).clamp(0, 1)


def _run(args: argparse.Namespace) -> int:
    from .errors import check
    from .paths import check_output_dir, removed_on_failure

    check(args.highlight_gain >= 1, lambda: f"--highlight-gain must be >= 1 (1 = off), got {args.highlight_gain}")
    check_output_dir(args.output, "-o")
    start = time.perf_counter()
    with removed_on_failure(args.output):
        record = render_showcase(
            args.output, highlight_gain=args.highlight_gain, progress=False if args.quiet else None
        )
    out = Path(args.output)
    print(
        f"\nRendered {len(record['renders'])} images of {record['scene']['name']} "
        f"in {time.perf_counter() - start:.1f} s"
    )
    print("| focus (m) | aperture | CoC range (px) | seconds |\n|---:|---|---|---:|")
    for r in record["renders"]:
        print(
            f"| {r['focus_distance_m']} | {r['aperture']} | {r['coc_px_min']:.1f} .. {r['coc_px_max']:.1f} "
            f"| {r['seconds']:.2f} |"
        )
    print(f"\nContact sheet: {out / 'contact_sheet.png'}\nRecord: {out / 'showcase.json'}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "showcase",
        help="render the bundled real RGB-D scene with several apertures",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-o", "--output", default="out/showcase", help="output folder (default out/showcase)")
    p.add_argument("--highlight-gain", type=float, default=1.0, help="boost clipped highlights (1 = off)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)
