"""``refocus-bench render``: defocus an image with a depth map, in physical or K units.

Example::

    refocus-bench render photo.png --depth depth.npy --focal-length 50 --f-number 1.8 \\
        --focus-distance 2 --sensor-width 36 --aperture hexagon -o out.png --save-coc coc.npy

Depth files: ``.npy`` (metres), 16-bit ``.png`` (millimetres, 0 = no value -> infinity) or ``.exr``
(metres). With ``--k`` the blur gain is given in pixel-metres (GenRefocus/BokehMe convention) and the
focus plane by ``--focus-distance`` or ``--focus-point x,y`` (the depth at that pixel). Outputs are
written atomically: a failed run leaves no partial file.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from ...errors import InvalidInputError, check
from ...io import read_depth, read_image, write_depth, write_image
from ...optics import ThinLens
from .apertures import list_apertures, make_aperture
from .blur_spec import resolve_blur_spec
from .config import RenderConfig

__all__ = ["add_parser", "parse_point", "focus_from_point"]


def parse_point(text: str, name: str = "--focus-point") -> tuple[int, int]:
    """Parse ``"x,y"`` (pixels) into integers."""
    try:
        x, y = (int(round(float(v))) for v in text.split(","))
    except ValueError as err:
        raise InvalidInputError(f"{name} must be 'x,y' in pixels, got {text!r}") from err
    return x, y


def focus_from_point(depth_m: torch.Tensor, point: tuple[int, int], name: str = "--focus-point") -> float:
    """Depth (m) under pixel ``(x, y)`` of a (1, 1, H, W) depth map: median of its 5x5 neighbourhood."""
    h, w = depth_m.shape[-2:]
    x, y = point
    check(0 <= x < w and 0 <= y < h, lambda: f"{name} {x},{y} is outside the {w}x{h} image")
    patch = depth_m[0, 0, max(0, y - 2) : y + 3, max(0, x - 2) : x + 3].flatten()
    z = float(patch.median())
    check(math.isfinite(z) and z > 0, lambda: f"{name} {x},{y} falls on a pixel without finite depth ({z})")
    return z


def _run(args: argparse.Namespace) -> int:
    from .rgbd import render_bokeh

    image = read_image(args.image)
    depth = read_depth(args.depth, png_scale_m=args.png_depth_scale)
    check(
        depth.shape[-2:] == image.shape[-2:],
        lambda: f"--depth has size {tuple(depth.shape[-2:])} but IMAGE has {tuple(image.shape[-2:])}; they must match",
    )
    suffix = Path(args.output).suffix.lower()
    check(
        suffix in (".png", ".jpg", ".jpeg", ".tif", ".tiff"),
        lambda: f"-o must end in .png, .jpg or .tif, got {args.output!r}",
    )
    if args.save_coc:  # checked before anything is written, so a bad path leaves no output behind
        coc_suffix = Path(args.save_coc).suffix.lower()
        check(coc_suffix in (".npy", ".exr"), lambda: f"--save-coc must end in .npy or .exr, got {args.save_coc!r}")
    if args.focus_point is not None:
        check(args.focus_distance is None, "give --focus-distance or --focus-point, not both")
        focus = focus_from_point(depth, parse_point(args.focus_point))
    else:
        check(args.focus_distance is not None, "give --focus-distance (metres) or --focus-point x,y")
        focus = args.focus_distance
    config = RenderConfig(highlight_gain=args.highlight_gain)
    aperture = make_aperture(args.aperture)
    if args.k is not None:
        check(args.k >= 0, lambda: f"--k must be >= 0 pixel-metres, got {args.k}")
        spec = resolve_blur_spec(image, depth, k_px_m=args.k, focus_distance_m=focus)
    else:
        check(args.f_number is not None, "give --f-number (with --focal-length) or --k")
        spec = resolve_blur_spec(image, depth, ThinLens(args.focal_length, args.f_number, focus, args.sensor_width))
    coc = spec.coc_map(image.dtype)  # resolved once: rendered, saved and reported
    with torch.no_grad():
        out = render_bokeh(image, coc_px=coc, aperture=aperture, config=config)
    write_image(args.output, out, bit_depth=16 if args.bit_depth == 16 else 8)
    if args.save_coc:
        write_depth(args.save_coc, coc)
    print(f"wrote {args.output} (CoC radius {float(coc.min()):.1f} to {float(coc.max()):.1f} px, focus {focus:.3f} m)")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "render",
        help="render defocus blur (bokeh) from an image and a depth map",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("image", help="sRGB image (PNG/JPEG/TIFF, 8 or 16 bit)")
    p.add_argument("--depth", required=True, help="depth map: .npy / .exr metres, or 16-bit .png millimetres")
    p.add_argument(
        "--png-depth-scale", type=float, default=1e-3, help="metres per code value of a PNG depth map (default 0.001)"
    )
    p.add_argument("--focal-length", type=float, default=50.0, help="focal length in mm (default 50)")
    p.add_argument("--f-number", type=float, help="f-number N, e.g. 1.8")
    p.add_argument("--focus-distance", type=float, help="focus distance in metres")
    p.add_argument("--focus-point", help="focus on the depth at pixel 'x,y' instead of --focus-distance")
    p.add_argument(
        "--sensor-width", type=float, default=36.0, help="sensor width in mm spanned by the image width (default 36)"
    )
    p.add_argument("--k", type=float, help="blur gain K in pixel-metres (GenRefocus convention) instead of --f-number")
    p.add_argument(
        "--aperture", default="disk", help=f"aperture: one of {', '.join(list_apertures())}, or a mask image path"
    )
    p.add_argument(
        "--highlight-gain", type=float, default=1.0, help="boost clipped highlights in linear light (1 = off)"
    )
    p.add_argument("--bit-depth", type=int, choices=(8, 16), default=8, help="output bit depth (16 needs .png/.tif)")
    p.add_argument("--save-coc", help="also write the signed CoC map (px) as .npy or .exr")
    p.add_argument("-o", "--output", required=True, help="output image path")
    p.set_defaults(func=_run)
