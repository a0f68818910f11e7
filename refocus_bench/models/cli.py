"""``refocus-bench refocus`` and ``refocus-bench models``: run any registered model on one image.

Examples::

    refocus-bench refocus photo.jpg --model genrefocus.tiny --depth depth.npy --focus-point 320,240 --k 20 -o out.png
    refocus-bench refocus photo.jpg --model refocus.cascade \\
        --model-arg deblur=deblur.wiener --model-arg bokeh=bokeh.layered \\
        --depth-model depth_pro --depth-weights ~/models/DepthPro-hf --focus-text "the dog" --grounder my.grounder \\
        --f-number 1.8 --focal-length 50 --aperture hexagon -o out.png
    refocus-bench refocus blurry.png --model deblur.wiener --task deblur -o sharp.png
    refocus-bench models list --task bokeh

The task defaults to ``refocus`` when the model supports it, else its first task (``bokeh`` treats
IMAGE as all-in-focus). Depth comes from ``--depth`` (``.npy``/``.exr`` metres, 16-bit ``.png``
millimetres) or a depth estimator (``--depth-model``). The focus plane comes from exactly one of
``--focus-point x,y``, ``--focus-mask M`` (median disparity inside the mask), ``--focus-text``
(with ``--grounder``) or ``--focus-distance`` metres; without any, the image centre is used. The blur
strength is ``--k`` (pixel-metres, GenRefocus's K; 0 = all-in-focus) or ``--f-number`` with
``--focal-length`` and ``--sensor-width`` (the sensor width spans the image width).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError, check
from ..tasks import TASKS

if TYPE_CHECKING:
    import torch

__all__ = ["add_parser", "parse_kv"]


def parse_kv(items: list[str] | None, flag: str) -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}`` (values parsed as JSON when they are JSON)."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        check(sep == "=" and key.strip(), lambda: f"{flag} must be KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _parse_point(text: str) -> tuple[int, int]:
    try:
        x, y = (int(round(float(v))) for v in text.split(","))
    except ValueError as err:
        raise InvalidInputError(f"--focus-point must be 'x,y' in pixels, got {text!r}") from err
    return x, y


def _read_mask(path: str, size: tuple[int, int]) -> torch.Tensor:
    from ..io import read_image

    m = read_image(path, name="--focus-mask")[:, :1]
    check(
        tuple(m.shape[-2:]) == size,
        lambda: f"--focus-mask has size {tuple(m.shape[-2:])} but IMAGE has {size}; they must match",
    )
    return (m > 0.5).float()


def _pick_task(model, requested: str) -> str:
    if requested != "auto":
        check(
            requested in model.tasks,
            lambda: f"model {model.name!r} does not support --task {requested}; it supports {list(model.tasks)}",
        )
        return requested
    return "refocus" if "refocus" in model.tasks else model.tasks[0]


def _run_refocus(args: argparse.Namespace) -> int:
    """``refocus-bench refocus``: check the output path, build the model, then deblur or render."""
    from ..io import read_image, write_image
    from . import create_model

    _check_paths(args)
    model = create_model(args.model, **_model_kwargs(args))
    task = _pick_task(model, args.task)
    image = read_image(args.image)
    check(args.grounder is None or args.focus_text is not None, "--grounder is only used with --focus-text")
    if model.name == "genrefocus.flux":  # the released scripts' input handling (depth of any size, focus, K)
        from .genrefocus.flux.command import run_flux

        return run_flux(args, model, task, image, lambda img: _scene_depth(args, img))
    check(args.pre_deblur is None, lambda: f"--pre-deblur is a genrefocus.flux option, not {args.model!r}'s")
    if task == "deblur":
        return _run_deblur(args, model, image)
    depth = _scene_depth(args, image)
    check(
        (args.k is None) != (args.f_number is None),
        "give the blur strength as exactly one of --k (pixel-metres) or --f-number",
    )
    focus = _focus_distance(args, depth, image)
    spec = _blur_spec(args, focus)
    import torch

    with torch.no_grad():
        out = getattr(model, task)(image, depth, aperture=args.aperture, **spec)
    write_image(args.output, out, bit_depth=args.bit_depth)
    print(f"wrote {args.output} ({args.model}, {task}, focus {float(focus[0]):.3f} m)")
    return 0


def _model_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """``--model-arg`` pairs, plus ``--tiling`` (a genrefocus.flux option)."""
    kw = parse_kv(args.model_arg, "--model-arg")
    if args.tiling is not None:
        check(args.model == "genrefocus.flux", lambda: f"--tiling is a genrefocus.flux option, not {args.model!r}'s")
        kw["tiling"] = args.tiling
    return kw


def _check_paths(args: argparse.Namespace) -> None:
    """Inputs readable; -o (and --save-depth) writable and distinct from every input (or --overwrite)."""
    from ..paths import check_input_file, check_output_file

    check_input_file(args.image, "IMAGE")
    inputs = [
        ("IMAGE", args.image),
        ("--depth", args.depth),
        ("--focus-mask", args.focus_mask),
        ("--pre-deblur", args.pre_deblur),
    ]
    for flag, path in inputs[1:]:
        if path is not None:
            check_input_file(path, flag)
    check_output_file(args.output, "-o", suffixes=_IMAGE_OUTPUTS, inputs=inputs, overwrite=args.overwrite)
    if args.save_depth:
        check_output_file(args.save_depth, "--save-depth", inputs=inputs, overwrite=args.overwrite)


_IMAGE_OUTPUTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff")


def _focus_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "--focus-point": args.focus_point,
        "--focus-mask": args.focus_mask,
        "--focus-text": args.focus_text,
        "--focus-distance": args.focus_distance,
    }


def _run_deblur(args: argparse.Namespace, model: Any, image: torch.Tensor) -> int:
    """``--task deblur``: refuse the options it would ignore, deblur, write the result."""
    from ..io import write_image

    given = {
        **_focus_options(args),
        "--k": args.k,
        "--f-number": args.f_number,
        "--depth": args.depth,
        "--depth-model": args.depth_model,
    }
    used = [k for k, v in given.items() if v is not None]
    check(not used, lambda: f"{', '.join(used)} not used by --task deblur (it only removes blur)")
    import torch

    with torch.no_grad():
        out = model.deblur(image)
    write_image(args.output, out, bit_depth=args.bit_depth)
    print(f"wrote {args.output} ({args.model}, deblur)")
    return 0


def _scene_depth(args: argparse.Namespace, image: torch.Tensor) -> torch.Tensor:
    """Depth in metres, (1, 1, H, W), from ``--depth`` or ``--depth-model``; written to ``--save-depth`` if given."""
    from ..io import write_depth
    from .depth import create_depth_estimator

    check(
        (args.depth is None) != (args.depth_model is None),
        "give the scene depth as exactly one of --depth FILE or --depth-model NAME",
    )
    if args.depth is not None:
        estimator = create_depth_estimator("user", depth=args.depth, png_scale_m=args.png_depth_scale)
    else:
        kw = parse_kv(args.depth_arg, "--depth-arg")
        if args.depth_weights:
            kw["weights"] = args.depth_weights
        estimator = create_depth_estimator(args.depth_model, **kw)
    depth = estimator.estimate(image)
    if args.save_depth:
        write_depth(args.save_depth, depth)
    return depth


def _focus_distance(args: argparse.Namespace, depth: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    """Focus distance in metres, (1,), from the one focus option given (the image centre without any)."""
    from .focus import select_focus

    h, w = image.shape[-2:]
    if all(v is None for v in _focus_options(args).values()):
        point = (w // 2, h // 2)
        print(f"no focus option given: focusing on the image centre {point[0]},{point[1]}")
        return select_focus(depth, point=point)
    return select_focus(
        depth,
        point=_parse_point(args.focus_point) if args.focus_point else None,
        mask=_read_mask(args.focus_mask, (h, w)) if args.focus_mask else None,
        text=args.focus_text,
        image=image if args.focus_text else None,
        grounder=args.grounder and _grounder(args),
        distance_m=args.focus_distance,
    )


def _blur_spec(args: argparse.Namespace, focus: torch.Tensor) -> dict[str, Any]:
    """The model's blur keywords: ``focus_distance_m`` + ``k_px_m`` (``--k``) or a ``lens`` (``--f-number``)."""
    from ..optics import ThinLens

    if args.k is not None:
        check(args.k >= 0, lambda: f"--k must be >= 0 pixel-metres, got {args.k}")
        return {"focus_distance_m": focus, "k_px_m": args.k}
    return {"lens": ThinLens(args.focal_length, args.f_number, float(focus[0]), args.sensor_width)}


def _grounder(args: argparse.Namespace):
    from .focus import create_grounder

    return create_grounder(args.grounder, **parse_kv(args.grounder_arg, "--grounder-arg"))


def _run_list(args: argparse.Namespace) -> int:
    from . import cards_markdown, list_models, model_card

    if args.markdown:
        print(cards_markdown(args.pattern), end="")
        return 0
    for name in list_models(args.pattern, task=args.task):
        card = model_card(name)
        print(f"{name:28s} {','.join(card.tasks):22s} {card.summary}")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "refocus",
        help="deblur, add bokeh or refocus one image with a registered model",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("image", help="sRGB image (PNG/JPEG/TIFF)")
    p.add_argument("--model", required=True, help="registered model name (see 'refocus-bench models list')")
    p.add_argument(
        "--model-arg", action="append", metavar="KEY=VALUE", help="model constructor argument (JSON value), repeatable"
    )
    p.add_argument(
        "--task", default="auto", choices=("auto", "refocus", "bokeh", "deblur"), help="task to run (default: auto)"
    )
    p.add_argument("--depth", help="depth map: .npy / .exr metres, or 16-bit .png millimetres")
    p.add_argument("--png-depth-scale", type=float, default=1e-3, help="metres per code value of a PNG depth map")
    p.add_argument("--depth-model", help="depth estimator name instead of --depth (e.g. depth_pro, depth_anything)")
    p.add_argument("--depth-weights", help="local weights folder of --depth-model")
    p.add_argument("--depth-arg", action="append", metavar="KEY=VALUE", help="depth estimator argument, repeatable")
    p.add_argument("--save-depth", help="also write the depth used (.npy or .exr)")
    focus = p.add_mutually_exclusive_group()
    focus.add_argument("--focus-point", help="focus on the depth at pixel 'x,y'")
    focus.add_argument("--focus-mask", help="focus on the median disparity inside a mask image (white = inside)")
    focus.add_argument("--focus-text", help="focus on the object a grounding model finds for this text")
    focus.add_argument("--focus-distance", type=float, help="focus distance in metres")
    p.add_argument("--grounder", help="grounding model for --focus-text (registered name)")
    p.add_argument("--grounder-arg", action="append", metavar="KEY=VALUE", help="grounder argument, repeatable")
    blur = p.add_mutually_exclusive_group()
    blur.add_argument("--k", type=float, help="blur gain K in pixel-metres (0 = all in focus)")
    blur.add_argument("--f-number", type=float, help="f-number N (with --focal-length and --sensor-width)")
    p.add_argument("--focal-length", type=float, default=50.0, help="focal length in mm (default 50)")
    p.add_argument(
        "--sensor-width", type=float, default=36.0, help="sensor width in mm spanned by the image width (default 36)"
    )
    p.add_argument(
        "--aperture", default="disk", help="aperture shape (see 'refocus-bench list apertures') or a mask image path"
    )
    p.add_argument("--pre-deblur", metavar="IMAGE", help="genrefocus.flux, --task deblur: a pre-deblurred IMAGE")
    p.add_argument(
        "--tiling", choices=("auto", "on", "off"), help="genrefocus.flux: tiled denoising (auto: as released)"
    )
    p.add_argument("--bit-depth", type=int, choices=(8, 16), default=8, help="output bit depth")
    p.add_argument("-o", "--output", required=True, help="output image path (.png, .jpg or .tif)")
    p.add_argument("--overwrite", action="store_true", help="allow -o or --save-depth to replace an input file")
    p.set_defaults(func=_run_refocus)

    m = subparsers.add_parser("models", help="list registered models")
    msub = m.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    ml = msub.add_parser("list", help="list models with their tasks")
    ml.add_argument("pattern", nargs="?", default="*", help="shell-style name pattern")
    ml.add_argument("--task", choices=TASKS, help="only models supporting this task")
    ml.add_argument("--markdown", action="store_true", help="print the model-card table (Markdown) instead")
    ml.set_defaults(func=_run_list)
