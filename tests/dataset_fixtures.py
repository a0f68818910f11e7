"""Builders of small benchmark-dataset trees in a temporary folder, one per accepted layout.

Every image is a flat colour that encodes (sample, role), so a test can read it back and know
both that the value survived and that nothing was swapped. PNGs are exact; 16-bit PNGs use codes
that are not multiples of 257, so an 8-bit read would be caught; JPEGs are flat colours at
quality 100 (within 2 codes after decoding). Nothing here is the official data: counts are tiny.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

H, W = 6, 8  # not square, so height / width mix-ups show
ROLES = {"input": 0, "target": 1, "dp_left": 2, "dp_right": 3, "alpha": 4, "aux": 5}


@dataclass
class Tree:
    """A fixture tree: its root, the sample ids it should yield, and the colour of every file.

    ``colours[(id, role)]`` is the RGB value in [0, 1] written for that file; ``tol`` the decoding
    tolerance (0 for PNG, about 2/255 for JPEG).
    """

    root: Path
    ids: list[str]
    colours: dict[tuple[str, str], tuple[float, float, float]] = field(default_factory=dict)
    tol: float = 1e-6
    extra: dict = field(default_factory=dict)


def code8(index: int, role: str) -> tuple[int, int, int]:
    """A distinct 8-bit colour per (sample index, role)."""
    k = ROLES[role]
    return ((20 + 37 * index) % 200 + 20, (60 + 53 * k) % 220 + 10, (200 - 29 * index - 11 * k) % 230 + 10)


def _encode(path: Path, arr: np.ndarray, quality: int = 100) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = arr[..., ::-1] if arr.ndim == 3 else arr
    suffix = ".jpg" if path.suffix.lower() in (".jpg", ".jpeg") else path.suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix == ".jpg" else []
    ok, buf = cv2.imencode(suffix, np.ascontiguousarray(bgr), params)
    assert ok, path
    path.write_bytes(buf.tobytes())


def write_png8(path: Path, rgb: tuple[int, int, int], size: tuple[int, int] = (H, W)) -> tuple[float, float, float]:
    _encode(path, np.broadcast_to(np.array(rgb, np.uint8), (*size, 3)).copy())
    return tuple(c / 255.0 for c in rgb)


def write_png16(path: Path, rgb8: tuple[int, int, int], size: tuple[int, int] = (H, W)) -> tuple[float, float, float]:
    codes = tuple(257 * c + 3 for c in rgb8)  # not representable in 8 bits
    _encode(path, np.broadcast_to(np.array(codes, np.uint16), (*size, 3)).copy())
    return tuple(c / 65535.0 for c in codes)


def write_jpg(path: Path, rgb: tuple[int, int, int], size: tuple[int, int] = (H, W)) -> tuple[float, float, float]:
    _encode(path, np.broadcast_to(np.array(rgb, np.uint8), (*size, 3)).copy())
    return tuple(c / 255.0 for c in rgb)


def write_grey_png(path: Path, value: int, size: tuple[int, int] = (H, W), bits: int = 8) -> None:
    dtype = np.uint16 if bits == 16 else np.uint8
    _encode(path, np.full(size, value, dtype))


JPEG_TOL = 2.5 / 255.0


# -- deblurring ---------------------------------------------------------------------------------
DPDD_STEMS = ["1P0A1001", "1P0A1002", "1P0A1010"]


def build_dpdd(tmp: Path, layout: str = "a", split: str = "test", views: bool = True, labels: bool = True) -> Tree:
    """DPDD in layout ``a``, ``b`` or ``c``; 16-bit PNGs; labels: sample 1 and 3 indoor, 2 outdoor."""
    root = tmp / f"DPDD_{layout}"
    tree = Tree(root, list(DPDD_STEMS))
    if layout == "b":
        folders = {
            "input": root / "inputC",
            "target": root / "target",
            "dp_left": root / "inputL",
            "dp_right": root / "inputR",
        }
        tags = {"dp_left": "_L", "dp_right": "_R"}  # views tagged in their names
    else:
        base = root / "dd_dp_dataset_canon" if layout == "a" else root
        folders = {
            "input": base / f"{split}_c/source",
            "target": base / f"{split}_c/target",
            "dp_left": base / f"{split}_l/source",
            "dp_right": base / f"{split}_r/source",
        }
        tags = {"dp_left": "", "dp_right": ""}
    for i, stem in enumerate(DPDD_STEMS):
        for role, folder in folders.items():
            if role.startswith("dp_") and not views:
                continue
            name = stem + tags.get(role, "") + ".png"
            tree.colours[(stem, role)] = write_png16(folder / name, code8(i, role))
    if labels:
        (root / "indoor_labels.txt").write_text("1\n3\n")  # 1-based positions
        (root / "outdoor_labels.txt").write_text(f"{DPDD_STEMS[1]}.png\n")  # a file name
        tree.extra["scene"] = {DPDD_STEMS[0]: "indoor", DPDD_STEMS[1]: "outdoor", DPDD_STEMS[2]: "indoor"}
    tree.extra["folders"] = folders
    return tree


def build_pairs(tmp: Path, name: str, inp: str, tgt: str, stems: list[str]) -> Tree:
    """A flat paired layout ``<root>/<inp>/*.png`` + ``<root>/<tgt>/*.png`` (8-bit)."""
    root = tmp / name
    tree = Tree(root, list(stems))
    for i, stem in enumerate(stems):
        tree.colours[(stem, "input")] = write_png8(root / inp / f"{stem}.png", code8(i, "input"))
        tree.colours[(stem, "target")] = write_png8(root / tgt / f"{stem}.png", code8(i, "target"))
    return tree


def build_realdof(tmp: Path) -> Tree:
    return build_pairs(tmp, "RealDOF", "source", "target", ["0001", "0002", "0010"])


def build_lfdof(tmp: Path) -> Tree:
    return build_pairs(tmp, "LFDOF", "input", "ground_truth", ["IMG_0003", "IMG_0021", "IMG_0100"])


def build_cuhk(tmp: Path, layout: str = "detection") -> Tree:
    """CUHK blur detection: defocus JPEGs (+ masks and motion-blur images in ``detection``)."""
    root = tmp / f"CUHK_{layout}"
    stems = ["out_of_focus0001", "out_of_focus0002", "out_of_focus0013"]
    tree = Tree(root, list(stems), tol=JPEG_TOL)
    folder = root / "images" if layout == "detection" else root
    for i, stem in enumerate(stems):
        tree.colours[(stem, "input")] = write_jpg(folder / f"{stem}.jpg", code8(i, "input"))
        if layout == "detection":
            write_grey_png(root / "gt" / f"{stem}.png", 255 if i % 2 else 0)
    if layout == "detection":
        write_jpg(folder / "motion0001.jpg", (9, 9, 9))  # part of the official set, not defocus
        write_grey_png(root / "gt" / "motion0001.png", 0)
    return tree


# -- bokeh ---------------------------------------------------------------------------------------
def build_ebb(tmp: Path, split: str = "train", with_bokeh: bool = True, depth: bool = True) -> Tree:
    """EBB! ``{split}/{original,bokeh,original_depth}/{i}.jpg|png`` with ids 0, 2, 10 (natural order)."""
    root = tmp / "EBB"
    ids = ["0", "2", "10"]
    tree = Tree(root, ids, tol=JPEG_TOL)
    for i, sid in enumerate(ids):
        tree.colours[(sid, "input")] = write_jpg(root / split / "original" / f"{sid}.jpg", code8(i, "input"))
        if with_bokeh:
            tree.colours[(sid, "target")] = write_jpg(root / split / "bokeh" / f"{sid}.jpg", code8(i, "target"))
        if depth:
            write_grey_png(root / split / "original_depth" / f"{sid}.png", 40 + 50 * i)
    return tree


def build_ebb_subset(tmp: Path, kind: str = "ebb400") -> Tree:
    """EBB400 (with ``disparity`` and ``disparity_dpt``) or Val294 in ``validation/{in,gt}``."""
    root = tmp / kind
    ids = ["1", "4", "12"]
    tree = Tree(root, ids, tol=JPEG_TOL)
    for i, sid in enumerate(ids):
        tree.colours[(sid, "input")] = write_jpg(root / "validation" / "in" / f"{sid}.jpg", code8(i, "input"))
        tree.colours[(sid, "target")] = write_jpg(root / "validation" / "gt" / f"{sid}.jpg", code8(i, "target"))
        if kind == "ebb400":
            write_grey_png(root / "validation" / "disparity" / f"{sid}.png", 10 + i)
            write_grey_png(root / "validation" / "disparity_dpt" / f"{sid}.png", 100 + i)
    return tree


def _write_exr(path: Path, depth: np.ndarray) -> None:
    import OpenEXR

    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, {"Y": depth}) as f:
        f.write(str(path))


def build_blb(
    tmp: Path,
    scenes: tuple[str, ...] = ("277", "280"),
    blur: tuple[float, ...] = (0.0, 10.0),
    focus: tuple[float, ...] = (1.5, 3.0, 6.0),
    depth_format: str = "exr",
) -> Tree:
    """BLB ``data/<id>/{image.jpg, depth.exr|npy, info.json, bokeh_KK_FF.jpg}``.

    Depth: the top half 2.5 (metres), the bottom half 65504 (float16 max = infinity), stored as
    half floats in the EXR, like Blender's output.
    """
    root = tmp / "BLB"
    tree = Tree(root, [], tol=JPEG_TOL)
    for s, scene in enumerate(scenes):
        d = root / "data" / scene
        d.mkdir(parents=True)
        tree.colours[(scene, "input")] = write_jpg(d / "image.jpg", code8(s, "input"))
        depth = np.full((H, W), 2.5, np.float32)
        depth[H // 2 :] = 65504.0
        if depth_format == "exr":
            _write_exr(d / "depth.exr", depth.astype(np.float16))
        else:
            np.save(d / "depth.npy", depth)
        (d / "info.json").write_text(json.dumps({"blur_parameters": list(blur), "focus_distances": list(focus)}))
        for k in range(len(blur)):
            for f in range(len(focus)):
                sid = f"{scene}/bokeh_{k:02d}_{f:02d}"
                tree.ids.append(sid)
                rgb = ((10 + 40 * k) % 250, (20 + 30 * f) % 250, 50 + 60 * s)
                tree.colours[(sid, "target")] = write_jpg(d / f"bokeh_{k:02d}_{f:02d}.jpg", rgb)
    return tree


def build_realbokeh(
    tmp: Path,
    split: str = "test",
    f_numbers: tuple[str, ...] = ("2.0", "5.6", "16"),
    scenes: tuple[str, ...] = ("0007", "0012"),
) -> Tree:
    """RealBokeh ``{split}/{in/<id>.JPG, gt/<id>/<id>_f<N>.JPG, metadata/<id>.json}``."""
    root = tmp / "RealBokeh"
    tree = Tree(root, [], tol=JPEG_TOL)
    base = root / split
    for s, scene in enumerate(scenes):
        tree.colours[(scene, "input")] = write_jpg(base / "in" / f"{scene}.JPG", code8(s, "input"))
        names = []
        for j, fn in enumerate(f_numbers):
            name = f"{scene}_f{fn}.JPG"
            names.append(name)
            sid = f"{scene}_f{float(fn):.1f}"
            tree.ids.append(sid)
            tree.colours[(sid, "target")] = write_jpg(
                base / "gt" / scene / name, ((30 + 70 * j) % 250, 90 + 40 * s, 200 - 30 * j)
            )
        meta = {
            "id": scene,
            "source_image": f"{scene}.JPG",
            "target_images": names,
            "target_avs": [float(f) for f in f_numbers],
            "focus_plane_distance": 1.25 + s,
            "focus_plane_uncertainty": 0.1,
        }
        (base / "metadata").mkdir(parents=True, exist_ok=True)
        (base / "metadata" / f"{scene}.json").write_text(json.dumps(meta))
    return tree


NTIRE_META = [
    ("00000", "Sony50mmf16.0BS", "Sony50mmf1.8BS", 22),
    ("00001", "Canon50mmf1.4BS", "Sony50mmf16.0BS", 35),
    ("00010", "Sony50mmf1.8BS", "Canon50mmf1.8BS", 7),
]


def build_ntire23(tmp: Path, layout: str = "flat", split: str = "train", with_target: bool = True) -> Tree:
    """NTIRE 2023 bokeh transformation: flat ``{id}.src.jpg``, ``{id}.tgt.jpg``, ``{id}.alpha.png``, ``meta.txt``."""
    root = tmp / "NTIRE23"
    folder = root if layout == "flat" else root / split
    tree = Tree(root, [m[0] for m in NTIRE_META], tol=JPEG_TOL)
    lines = []
    for i, (sid, src, tgt, disp) in enumerate(NTIRE_META):
        tree.colours[(sid, "input")] = write_jpg(folder / f"{sid}.src.jpg", code8(i, "input"))
        if with_target:
            tree.colours[(sid, "target")] = write_jpg(folder / f"{sid}.tgt.jpg", code8(i, "target"))
        write_grey_png(folder / f"{sid}.alpha.png", 128 + i)
        lines.append(f"{sid}, {src}, {tgt}, {disp}")
    (folder / "meta.txt").write_text("\n".join(lines) + "\n")
    return tree
