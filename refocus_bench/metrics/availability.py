"""Which metrics can run on this machine, and why the others cannot: for the demo and the runner to report.

A metric is *unavailable* when its weights are not on disk (LPIPS/DISTS before ``refocus-bench
weights fetch``; CLIP-IQA, CLIP-I, MUSIQ, MANIQA before ``refocus-bench weights import``) or when its
code is an optional extra that is not installed (MUSIQ and MANIQA need pyiqa). Only file existence
is checked: nothing is hashed, imported or built, so asking is cheap.

    >>> from refocus_bench.metrics.availability import unavailable_metrics
    >>> "psnr.rgb" in unavailable_metrics(["psnr.rgb", "ssim.rgb"])
    False
"""

from __future__ import annotations

import os
from collections.abc import Iterable

__all__ = ["unavailable_metrics", "WEIGHT_CARDS_OF"]

# metric -> the weight cards (metrics/weights.py) it loads
WEIGHT_CARDS_OF = {
    "lpips.alex": ("alexnet.features", "lpips.alex.linear"),
    "lpips.vgg": ("vgg16.features", "lpips.vgg.linear"),
    "dists.vgg16": ("vgg16.features", "dists.alpha_beta"),
}


def unavailable_metrics(
    names: Iterable[str] | None = None, home: str | os.PathLike[str] | None = None
) -> dict[str, str]:
    """``{metric: reason}`` for each of ``names`` (default: every registered or optional metric) that cannot run.

    The reason names the missing file or package and the command that provides it.
    """
    from ..home import metric_weights_dir
    from . import _PYIQA, list_metrics
    from .extras import PYIQA_INSTALL, pyiqa_installed
    from .weights import get_card
    from .weights_import import IMPORTABLE, import_status

    wanted = list(names) if names is not None else sorted({*list_metrics(), *_PYIQA})
    folder = metric_weights_dir(home)
    imported = {row["name"]: row for row in import_status(home)}
    out: dict[str, str] = {}
    for name in wanted:
        if name in _PYIQA and not pyiqa_installed():
            out[name] = f"needs pyiqa: {PYIQA_INSTALL}"
        elif name in WEIGHT_CARDS_OF:
            gone = [folder / get_card(c).filename for c in WEIGHT_CARDS_OF[name]]
            gone = [p for p in gone if not p.is_file()]
            if gone:
                out[name] = f"weights missing: {gone[0]}; run 'refocus-bench weights fetch'"
        elif name in IMPORTABLE and imported[name]["state"] != "ok":
            row = imported[name]
            out[name] = (
                f"weights missing: {row['folder']}; get {row['source']}, "
                f"then run 'refocus-bench weights import {name} PATH'"
            )
    return out
