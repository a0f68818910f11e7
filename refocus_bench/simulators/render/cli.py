"""Render defocus blur (bokeh) from an sRGB image and a metric depth map, in lens or K units.

Depth files: .npy (float metres; an integer array is read as millimetres, with a warning), 16-bit
.png (millimetres, 0 = no value = infinity) or .exr (metres); one channel, the size of IMAGE.

The blur comes from a lens (--f-number with --focal-length and --sensor-width, the sensor width
spanning the image width) or from the GenRefocus/BokehMe blur gain --k in pixel-metres
(CoC radius = K (1/s - 1/z)); give one of the two. The focus plane is --focus-distance in metres
('inf' focuses at infinity) or --focus-point x,y (the depth under that pixel).

Before anything is computed the inputs and outputs are checked: the largest blur radius must not
exceed the image's larger side, and the memory the render needs (estimated from the image size and
the blur) must fit in --max-memory. Outputs are written atomically, both or neither; -o may not
replace IMAGE or --depth unless --overwrite is given.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import TYPE_CHECKING, Any

from ...errors import InvalidInputError, check
from ...paths import check_input_file, check_output_file, parents_removed_on_failure, same_file

if TYPE_CHECKING:
    import torch

    from .config import RenderConfig

__all__ = ["add_parser", "parse_point", "focus_from_point", "estimate_render_bytes", "default_memory_cap"]

IMAGE_OUTPUTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
COC_OUTPUTS = (".npy", ".exr")
GIB = 1024**3

# Peak-memory model of render_bokeh on CPU (float32), measured with ru_maxrss from 256^2 to 2048^2
# pixels and CoC radii 4 to 1000 px (measured peaks were 60-90 % of this): per image pixel (input,
# linear copy, CoC, output), per pixel of the padded tile being rendered (soft layers, their blurs
# and the composite), and a fixed part.
_BYTES_PER_IMAGE_PX = 48
_BYTES_PER_TILE_PX = 160
_FIXED_BYTES = 64 * 1024**2


def parse_point(text: str, name: str = "--focus-point") -> tuple[int, int]:
    """Parse ``"x,y"`` (pixels) into integers."""
    try:
        x, y = (int(round(float(v))) for v in text.split(","))
    except (ValueError, OverflowError) as err:
        raise InvalidInputError(f"{name} must be 'x,y' in pixels, got {text!r}") from err
    return x, y


def focus_from_point(depth_m: torch.Tensor, point: tuple[int, int], name: str = "--focus-point") -> float:
    """Depth (m) under pixel ``(x, y)`` of a (1, 1, H, W) depth map: median of its 5x5 neighbourhood."""
    h, w = depth_m.shape[-2:]
    x, y = point
    check(0 <= x < w and 0 <= y < h, lambda: f"{name} {x},{y} is outside the {w}x{h} image")
    patch = depth_m[0, 0, max(0, y - 2) : y + 3, max(0, x - 2) : x + 3].flatten()
    z = float(patch.median())
    check(z > 0 and not math.isnan(z), lambda: f"{name} {x},{y} falls on a pixel without valid depth ({z})")
    return z


def default_memory_cap() -> float:
    """Default of ``--max-memory`` in GiB: half the machine's physical memory (8 GiB if unknown)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2 / GIB
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8.0


def estimate_render_bytes(h: int, w: int, coc_min: float, coc_max: float, config: RenderConfig) -> int:
    """About how many bytes :func:`~refocus_bench.simulators.render.rgbd.render_bokeh` needs at peak
    for one (1, 3, h, w) float32 image whose signed CoC (px) spans [coc_min, coc_max].

    The renderer works on tiles of ``config.tile_px`` plus a halo that covers every blur, padded to a
    multiple of the coarsest layer's downsampling factor; the padding is what explodes for absurd
    blurs (a 1e5 px radius pads the tile to 131072 px a side).
    """
    from .config import layer_scale
    from .rgbd import layer_centres

    config = config.for_input(layered=False)
    centres = layer_centres(coc_min, coc_max, config)
    scale = max(layer_scale(c, config.coarse_radius_px) for c in centres)
    spread = centres[-1] - centres[0]
    halo = math.ceil(max(abs(centres[0]), abs(centres[-1])) + 2 * spread) + 4 * scale + 8
    tile_h, tile_w = min(h, config.tile_px + 2 * halo), min(w, config.tile_px + 2 * halo)
    padded = math.ceil(tile_h / scale) * scale * math.ceil(tile_w / scale) * scale
    return int(_BYTES_PER_IMAGE_PX * h * w + _BYTES_PER_TILE_PX * padded + _FIXED_BYTES)


def _check_numbers(args: argparse.Namespace) -> None:
    """Option values and combinations, before any file is opened."""
    check(
        args.k is None or args.f_number is None,
        "--k and --f-number conflict: give the blur as --k (pixel-metres) or as --f-number (with --focal-length)",
    )
    check(args.k is not None or args.f_number is not None, "give --f-number (with --focal-length) or --k")
    check(args.focus_point is None or args.focus_distance is None, "give --focus-distance or --focus-point, not both")
    check(
        args.focus_point is not None or args.focus_distance is not None,
        "give --focus-distance (metres, or inf) or --focus-point x,y",
    )
    if args.k is not None:
        check(
            math.isfinite(args.k) and args.k >= 0,
            lambda: f"--k must be a finite number >= 0 pixel-metres, got {args.k}",
        )
    else:
        for flag, value in (("--f-number", args.f_number), ("--focal-length", args.focal_length)):
            check(math.isfinite(value) and value > 0, lambda: f"{flag} must be > 0, got {value}")
        check(
            math.isfinite(args.sensor_width) and args.sensor_width > 0,
            lambda: f"--sensor-width must be > 0 mm, got {args.sensor_width}",
        )
    if args.focus_distance is not None:
        s = args.focus_distance
        check(s > 0 and not math.isnan(s), lambda: f"--focus-distance must be > 0 metres (or inf), got {s}")
        if args.f_number is not None:
            check(
                s * 1000.0 > args.focal_length,
                lambda: f"--focus-distance {s:g} m must be beyond the focal length "
                f"({args.focal_length:g} mm): a lens cannot focus closer than f",
            )
    check(
        args.bit_depth == 8 or args.output.lower().endswith((".png", ".tif", ".tiff")),
        "--bit-depth 16 needs a .png or .tif path for -o",
    )
    for flag, value in (("--png-depth-scale", args.png_depth_scale), ("--max-memory", args.max_memory)):
        check(math.isfinite(value) and value > 0, lambda: f"{flag} must be > 0, got {value}")
    check(
        math.isfinite(args.highlight_gain) and args.highlight_gain >= 1,
        lambda: f"--highlight-gain must be >= 1 (1 = off), got {args.highlight_gain}",
    )


def _check_paths(args: argparse.Namespace) -> None:
    """Inputs readable, outputs writable and distinct from the inputs (or --overwrite)."""
    check_input_file(args.image, "IMAGE")
    check_input_file(args.depth, "--depth")
    inputs = [("IMAGE", args.image), ("--depth", args.depth)]
    check_output_file(args.output, "-o", suffixes=IMAGE_OUTPUTS, inputs=inputs, overwrite=args.overwrite)
    if args.save_coc:
        check_output_file(args.save_coc, "--save-coc", suffixes=COC_OUTPUTS, inputs=inputs, overwrite=args.overwrite)
        check(not same_file(args.save_coc, args.output), "--save-coc and -o name the same file; give two paths")


def _read_inputs(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    from ...io import read_depth, read_image

    image = read_image(args.image, name="IMAGE")
    depth = read_depth(args.depth, png_scale_m=args.png_depth_scale, name="--depth")
    check(
        depth.shape[-2:] == image.shape[-2:],
        lambda: f"--depth is {depth.shape[-1]}x{depth.shape[-2]} px but IMAGE is "
        f"{image.shape[-1]}x{image.shape[-2]}; they must match",
    )
    check(not bool(torch.isnan(depth).any()), "--depth contains NaN values (use inf for sky or no value)")
    check(bool((depth > 0).all()), lambda: f"--depth must be > 0 m (inf for sky), got minimum {float(depth.min()):g}")
    return image, depth


def _coc_map(args: argparse.Namespace, image: torch.Tensor, depth: torch.Tensor, focus: float) -> torch.Tensor:
    """The signed CoC map (1, 1, H, W) px of the blur the options give, focus at infinity included."""
    from ...optics import ThinLens
    from .blur_spec import resolve_blur_spec

    width = image.shape[-1]
    if math.isinf(focus):  # K (1/s - 1/z) with 1/s = 0; a lens's K tends to f^2 ppm / 2N there
        if args.k is not None:
            gain = args.k
        else:
            s_ref = 2.0 * args.focal_length / 1000.0  # any distance beyond f: K(s) (s - f) / s is constant
            lens = ThinLens(args.focal_length, args.f_number, s_ref, args.sensor_width)
            gain = lens.k_px_m(width) * (s_ref - args.focal_length / 1000.0) / s_ref
        return (-gain / depth.double()).to(image.dtype)
    if args.k is not None:
        spec = resolve_blur_spec(image, depth, k_px_m=args.k, focus_distance_m=focus)
    else:
        spec = resolve_blur_spec(image, depth, ThinLens(args.focal_length, args.f_number, focus, args.sensor_width))
    return spec.coc_map(image.dtype)


def _check_blur_size(args: argparse.Namespace, coc: torch.Tensor, config: RenderConfig) -> None:
    """The largest CoC radius within the image's larger side; the estimated memory within --max-memory."""
    h, w = coc.shape[-2:]
    lo, hi = float(coc.min()), float(coc.max())
    flag = "--k" if args.k is not None else "--f-number"
    largest = max(abs(lo), abs(hi))
    check(
        largest <= max(h, w),
        lambda: f"{flag}: the blur is too large: CoC radius up to {largest:.4g} px on a {w}x{h} image "
        f"(at most {max(h, w)} px, its larger side); "
        + ("lower --k" if args.k is not None else "raise --f-number or lower --focal-length"),
    )
    need = estimate_render_bytes(h, w, lo, hi, config) / GIB
    check(
        need <= args.max_memory,
        lambda: f"--max-memory: this render needs about {need:.1f} GiB (image {w}x{h}, CoC radius {lo:.1f} to "
        f"{hi:.1f} px), more than the limit of {args.max_memory:.1f} GiB; use a smaller image or blur, "
        "or raise --max-memory",
    )


def _run(args: argparse.Namespace) -> int:
    import torch

    from ...io import atomic_path, write_depth, write_image
    from .apertures import make_aperture
    from .config import RenderConfig
    from .rgbd import render_bokeh

    _check_numbers(args)
    _check_paths(args)
    config = RenderConfig(highlight_gain=args.highlight_gain)
    aperture = make_aperture(args.aperture)
    image, depth = _read_inputs(args)
    focus = focus_from_point(depth, parse_point(args.focus_point)) if args.focus_point else args.focus_distance
    coc = _coc_map(args, image, depth, focus)
    _check_blur_size(args, coc, config)
    if sys.stderr.isatty():
        print(f"rendering {image.shape[-1]}x{image.shape[-2]} px ...", file=sys.stderr, end="\r", flush=True)
    with torch.no_grad():
        out = render_bokeh(image, coc_px=coc, aperture=aperture, config=config)
    with parents_removed_on_failure(args.output, args.save_coc), atomic_path(args.output) as out_tmp:  # both or neither
        if args.save_coc:
            with atomic_path(args.save_coc) as coc_tmp:
                write_depth(coc_tmp, coc)
                write_image(out_tmp, out, bit_depth=args.bit_depth)
        else:
            write_image(out_tmp, out, bit_depth=args.bit_depth)
    shown = "inf" if math.isinf(focus) else f"{focus:.3f}"
    print(f"wrote {args.output} (CoC radius {float(coc.min()):.1f} to {float(coc.max()):.1f} px, focus {shown} m)")
    return 0


def add_parser(subparsers: Any) -> None:
    """Add the ``render`` sub-command."""
    p = subparsers.add_parser(
        "render",
        help="render defocus blur (bokeh) from an image and a depth map",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("image", metavar="IMAGE", help="sRGB image (PNG/JPEG/TIFF, 8 or 16 bit)")
    p.add_argument("--depth", required=True, help="depth map: .npy / .exr metres, or 16-bit .png millimetres")
    p.add_argument(
        "--png-depth-scale",
        type=float,
        default=1e-3,
        help="metres per code value of a 16-bit PNG or integer .npy depth map (default 0.001)",
    )
    p.add_argument("--focal-length", type=float, default=50.0, help="focal length in mm (default 50)")
    p.add_argument("--f-number", type=float, help="f-number N, e.g. 1.8 (or give --k)")
    p.add_argument("--focus-distance", type=float, help="focus distance in metres; 'inf' focuses at infinity")
    p.add_argument("--focus-point", help="focus on the depth at pixel 'x,y' instead of --focus-distance")
    p.add_argument(
        "--sensor-width", type=float, default=36.0, help="sensor width in mm spanned by the image width (default 36)"
    )
    p.add_argument("--k", type=float, help="blur gain K in pixel-metres (GenRefocus convention) instead of --f-number")
    p.add_argument(
        "--aperture", default="disk", help="aperture shape (see 'refocus-bench list apertures') or a mask image path"
    )
    p.add_argument(
        "--highlight-gain", type=float, default=1.0, help="boost clipped highlights in linear light (1 = off)"
    )
    p.add_argument("--bit-depth", type=int, choices=(8, 16), default=8, help="output bit depth (16 needs .png/.tif)")
    p.add_argument("--save-coc", help="also write the signed CoC map (px) as .npy or .exr")
    p.add_argument(
        "--max-memory",
        type=float,
        default=default_memory_cap(),
        metavar="GIB",
        help="refuse renders estimated to need more memory than this, in GiB (default: half the RAM)",
    )
    p.add_argument("-o", "--output", required=True, help="output image path (.png, .jpg or .tif)")
    p.add_argument("--overwrite", action="store_true", help="allow -o to replace IMAGE or --depth")
    p.set_defaults(func=_run)
