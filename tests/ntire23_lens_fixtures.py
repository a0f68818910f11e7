"""A small NTIRE 2023 copy (flat layout) whose source and target photos are renders of one sharp scene.

Each tuple: a textured all-in-focus image (a crop of skimage's ``astronaut``, 48x64) and a block matte;
the source is that image with the background blurred by the source lens's CoC, the target the same
with the target lens's CoC, both by ``bokeh.layered`` with the subject in focus at 1 m and the
background at infinity, the subject composited back from the sharp image. The CoC radius of a lens is
the one the lens cascade assumes (``disparity * 1 px * (f / 50 mm)^2 / N``), so the files are what the
cascade's model of the data says, and the scores measure how well each baseline inverts and re-applies it.
Images are JPEG at quality 100, mattes 8-bit PNG, ``meta.txt`` spelled as the challenge's files are.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tests.dataset_fixtures import Tree, _encode
from tests.ebb_fixtures import _matte, _texture

SAMPLES = {  # id -> (src_lens, tgt_lens, disparity)
    "00000": ("Sony50mmf16.0BS", "Sony50mmf1.8BS", 8.0),
    "00001": ("Canon50mmf16BS", "Canon50mmf1.4BS", 6.0),
    "00002": ("Sony50mmf1.8BS", "Sony50mmf16.0BS", 8.0),
}
WIDER_TARGET = ("00000", "00001")  # the target lens blurs more: the cascade only adds blur


def render(aif: torch.Tensor, alpha: torch.Tensor, radius_px: float) -> torch.Tensor:
    """``aif`` (1, 3, H, W) with the background blurred by a disk of ``radius_px``, the subject kept sharp."""
    from refocus_bench.models import create_model
    from refocus_bench.models.baselines.lens_cascade import SUBJECT_DEPTH_M, two_plane_depth

    with torch.no_grad():
        out = create_model("bokeh.layered").bokeh(
            aif, two_plane_depth(alpha), focus_distance_m=SUBJECT_DEPTH_M, k_px_m=radius_px * SUBJECT_DEPTH_M
        )
    return alpha * aif + (1 - alpha) * out


def _write(path: Path, image: torch.Tensor) -> None:
    _encode(path, (image[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8), quality=100)


def build_ntire23_lens(tmp: Path, samples: dict | None = None) -> Tree:
    """Flat ``NTIRE23/{meta.txt, <id>.src.jpg, <id>.tgt.jpg, <id>.alpha.png}`` for :data:`SAMPLES`."""
    from refocus_bench.models.baselines.lens_cascade import background_coc_px
    from refocus_bench.tasks import NamedLens

    samples = samples or SAMPLES
    root = tmp / "NTIRE23"
    tree = Tree(root, list(samples), tol=1 / 255)
    alpha = torch.from_numpy(_matte().astype(np.float32) / 255.0)[None, None]
    lines = []
    for i, (sid, (src, tgt, disparity)) in enumerate(samples.items()):
        aif = torch.from_numpy(_texture(50 * i).astype(np.float32) / 255.0).permute(2, 0, 1)[None]
        for suffix, lens in (("src", src), ("tgt", tgt)):
            _write(
                root / f"{sid}.{suffix}.jpg",
                render(aif, alpha, float(background_coc_px(NamedLens.parse(lens), disparity))),
            )
        _encode(root / f"{sid}.alpha.png", _matte())
        lines.append(f"{sid}, {src}, {tgt}, {disparity:g}")
    (root / "meta.txt").write_text("\n".join(lines) + "\n")
    return tree


def ntire23_lens_benchmark_args(tmp: Path) -> dict:
    """``create_benchmark("ntire23-lens-to-lens", **args)`` arguments for :func:`build_ntire23_lens`."""
    return {"root": build_ntire23_lens(tmp).root}
