"""``refocus-bench refocus --model genrefocus.flux``: the released scripts' inputs, release-exact.

The generic ``refocus`` command resizes nothing and focuses with the package's selectors; for
``genrefocus.flux`` this module reads the inputs the way the released scripts do and calls
:meth:`~.model.GenRefocusFlux.run`:

* ``--depth FILE`` may have another size than IMAGE (resized with bilinear interpolation) and may hold
  invalid values (<= 0, NaN: the far plane); ``--depth-model`` estimates depth, in the refocus chain on
  the DeblurNet output as the demo does;
* ``--focus-point x,y`` takes the disparity at that pixel, ``--focus-mask M`` the median disparity where
  the mask (read as 8-bit grey, any size, resized with NEAREST) is > 0, ``--focus-distance`` a distance;
  without any, the image centre;
* ``--k`` is the release's ``K``; ``--pre-deblur IMAGE`` selects the pre-deblur DeblurNet (``--task deblur``).

No torch is imported until a command runs.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from ....errors import check

__all__ = ["run_flux"]


def _mask(path: str):
    import numpy as np
    from PIL import Image

    from ....errors import InvalidInputError

    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("L"))
    except OSError as err:
        raise InvalidInputError(f"--focus-mask: cannot read {path!r} as an image: {err}") from err


def _point(text: str) -> tuple[int, int]:
    from ....errors import InvalidInputError

    try:
        x, y = (int(v) for v in text.split(","))
    except ValueError as err:
        raise InvalidInputError(f"--focus-point must be 'x,y' in whole pixels, got {text!r}") from err
    return x, y


def _focus(args: argparse.Namespace) -> dict[str, Any]:
    check(args.focus_text is None, "genrefocus.flux focuses by --focus-point, --focus-mask or --focus-distance")
    if args.focus_point is not None:
        return {"focus_point": _point(args.focus_point)}
    if args.focus_mask is not None:
        return {"focus_mask": _mask(args.focus_mask)}
    return {"focus_distance_m": args.focus_distance} if args.focus_distance is not None else {}


def _depth(args: argparse.Namespace, estimate: Callable[[Any], Any]):
    from ....io import read_depth

    check(
        (args.depth is None) != (args.depth_model is None),
        "give the scene depth as exactly one of --depth FILE or --depth-model NAME",
    )
    if args.depth is None:
        return estimate  # run by the model on the image BokehNet sees (refocus: the DeblurNet output)
    return read_depth(args.depth, png_scale_m=args.png_depth_scale, name="--depth")


def run_flux(args: argparse.Namespace, model, task: str, image, estimate_depth: Callable[[Any], Any]) -> int:
    """Run ``task`` on IMAGE with the release's input handling; write ``-o``.

    ``estimate_depth(image (1, 3, h, w)) -> depth`` serves ``--depth-model``; as in the demo, the refocus
    chain runs it on the DeblurNet output.
    """
    import torch

    from ....io import read_image, write_image

    if task == "deblur":
        used = [f for f, v in (("--depth", args.depth), ("--k", args.k), ("--focus-point", args.focus_point)) if v]
        check(not used, lambda: f"{', '.join(used)} not used by --task deblur (it only removes blur)")
        pre = None if args.pre_deblur is None else read_image(args.pre_deblur, name="--pre-deblur")
        with torch.no_grad():
            out = model.run("deblur", image, pre_deblur=pre)
    else:
        check(args.pre_deblur is None, "--pre-deblur is used by --task deblur only")
        check(args.k is not None, "genrefocus.flux takes the blur strength as --k (the release's K, pixel-metres)")
        check(args.aperture == "disk", "genrefocus.flux renders the round aperture only (--aperture disk)")
        depth = _depth(args, estimate_depth)
        with torch.no_grad():
            out = model.run(task, image, depth_m=depth, k_px_m=args.k, **_focus(args))
    write_image(args.output, out.image, bit_depth=args.bit_depth)
    focus = "" if out.disp_focus is None else f", focus disparity {float(out.disp_focus[0]):.4f} 1/m"
    print(f"wrote {args.output} (genrefocus.flux, {task}{focus})")
    return 0
