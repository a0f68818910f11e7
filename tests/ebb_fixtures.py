"""A small EBB400 (or Val294) copy whose f/1.8 targets are renders with a known focus and K, plus one unrelated pair.

Pair ``1`` and ``4``: a textured f/16 image (a crop of skimage's ``astronaut``), a MiDaS-like disparity
map of a slanted plane (near on the left, far on the right) behind a block (a depth edge), and the
target rendered from them by the fit's renderer
(:func:`refocus_bench.simulators.pairs.fit_blur.fit_renderer`) through the same depth the benchmark
reads (:func:`~refocus_bench.simulators.pairs.fit_pairs.disparity_as_depth`). Pair ``12``: its target
is another, unrelated image, so its fit falls below the SSIM threshold and is excluded.
Images are JPEG at quality 100 (the loader reads ``.jpg`` only), disparity maps 8-bit PNG.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from tests.dataset_fixtures import Tree, _encode

SIZE = (48, 64)  # (H, W)
TRUTH = {"1": (1 / 0.75, 10.0), "4": (1 / 0.35, 14.0)}  # id -> (focus distance, K px*m) on normalised disparity
UNRELATED = "12"


def _texture(offset: int) -> np.ndarray:
    from skimage import data, transform

    img = data.astronaut()[60 + offset : 60 + offset + 192, 120 : 120 + 256]
    small = transform.resize(img, SIZE, anti_aliasing=True)
    return (small * 255).round().astype(np.uint8)


def _disparity() -> np.ndarray:
    """A slanted plane (disparity 200 on the left to 30 on the right) behind a block at 250, 8-bit."""
    row = np.linspace(200, 30, SIZE[1]).round().astype(np.uint8)
    d = np.ascontiguousarray(np.broadcast_to(row, SIZE))
    d[12:36, 24:44] = 250
    return d


def build_ebb400_renderable(tmp: Path, kind: str = "ebb400") -> Tree:
    """``validation/{in,gt}/<id>.jpg`` with ids 1, 4, 12, and the depth the fit reads.

    ``kind="ebb400"``: ``validation/disparity/<id>.png`` (the loader's MiDaS folder). ``kind="ebb_val294"``:
    no depth in the copy; ``tree.extra["depth_dir"]`` holds ``<id>.npy`` depth in metres (the disparity
    above through ``disparity_as_depth``, ``inf`` included) for ``fit-blur --depth-dir``.
    """
    from refocus_bench.io import read_image
    from refocus_bench.simulators.pairs.fit_blur import fit_renderer
    from refocus_bench.simulators.pairs.fit_pairs import disparity_as_depth

    assert kind in ("ebb400", "ebb_val294"), kind
    root = tmp / kind
    val = root / "validation"
    tree = Tree(root, ["1", "4", UNRELATED], tol=1 / 255)
    renderer = fit_renderer()
    depth = disparity_as_depth(torch.from_numpy(_disparity().astype(np.float32) / 255.0)[None, None])
    if kind == "ebb_val294":
        tree.extra["depth_dir"] = tmp / "depth"
        tree.extra["depth_dir"].mkdir(parents=True)
    for i, sid in enumerate(tree.ids):
        _encode(val / "in" / f"{sid}.jpg", _texture(40 * i), quality=100)
        if kind == "ebb400":
            _encode(val / "disparity" / f"{sid}.png", _disparity())
        else:
            np.save(tree.extra["depth_dir"] / f"{sid}.npy", depth[0, 0].numpy())
        if sid == UNRELATED:
            _encode(val / "gt" / f"{sid}.jpg", _texture(300)[::-1, ::-1].copy(), quality=100)
            continue
        aif = read_image(val / "in" / f"{sid}.jpg")
        focus, k = TRUTH[sid]
        with torch.no_grad():
            out = renderer.bokeh(aif, depth, focus_distance_m=focus, k_px_m=k, aperture="disk")
        arr = (out[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
        _encode(val / "gt" / f"{sid}.jpg", arr, quality=100)
    tree.extra["truth"] = dict(TRUTH)
    return tree


def fitted_args(tmp: Path, kind: str = "ebb400") -> dict:
    """``create_benchmark(<kind's benchmark>, **args)`` arguments: the copy above and a fit-blur run over it."""
    from refocus_bench.simulators.pairs.fit_pairs import fit_pairs

    tree = build_ebb400_renderable(tmp, kind)
    depth_dir = tree.extra.get("depth_dir")
    fit_pairs(tree.root, tmp / "fits", dataset=kind, size=SIZE, depth_dir=depth_dir)
    return {"root": tree.root, "fits": tmp / "fits", **({"depth_dir": depth_dir} if depth_dir else {})}


def ebb400_benchmark_args(tmp: Path) -> dict:
    """:func:`fitted_args` for ``ebb400-bokeh``."""
    return fitted_args(tmp, "ebb400")


def ebb_val294_benchmark_args(tmp: Path) -> dict:
    """:func:`fitted_args` for ``ebb-val294-bokeh``."""
    return fitted_args(tmp, "ebb_val294")


NTIRE_TRUTH = {"00000": 6.0, "00001": 12.0}  # id -> background CoC radius in px of the target lens (K at 1 m)


def _matte() -> np.ndarray:
    m = np.zeros(SIZE, np.uint8)
    m[10:40, 18:42] = 255  # the subject
    return m


def build_ntire23_renderable(tmp: Path) -> Tree:
    """NTIRE 2023 flat layout: ``{id}.src.jpg`` (sharp texture), ``{id}.alpha.png`` (a block), ``{id}.tgt.jpg``.

    The target is the source rendered by ``bokeh.layered`` with the subject (alpha 255) at 1 m in focus
    and the background at infinity, background CoC radius :data:`NTIRE_TRUTH` px.
    """
    from refocus_bench.io import read_image
    from refocus_bench.simulators.pairs.fit_blur import fit_renderer

    root = tmp / "NTIRE23"
    tree = Tree(root, list(NTIRE_TRUTH), tol=1 / 255)
    renderer = fit_renderer()
    subject = torch.from_numpy(_matte() > 127)[None, None]
    depth = torch.where(subject, torch.tensor(1.0), torch.tensor(float("inf")))
    lines = []
    for i, (sid, k) in enumerate(NTIRE_TRUTH.items()):
        _encode(root / f"{sid}.src.jpg", _texture(50 * i), quality=100)
        _encode(root / f"{sid}.alpha.png", _matte())
        src = read_image(root / f"{sid}.src.jpg")
        with torch.no_grad():
            out = renderer.bokeh(src, depth, focus_distance_m=1.0, k_px_m=k, aperture="disk")
        _encode(root / f"{sid}.tgt.jpg", (out[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8))
        lines.append(f"{sid}, Sony50mmf16.0BS, Sony50mmf1.8BS, {20 + 10 * i}")
    (root / "meta.txt").write_text("\n".join(lines) + "\n")
    return tree


def ntire23_benchmark_args(tmp: Path) -> dict:
    """``create_benchmark("ntire23-refocus-oracle-k", **args)`` arguments for :func:`build_ntire23_renderable`."""
    return {"root": build_ntire23_renderable(tmp).root}
