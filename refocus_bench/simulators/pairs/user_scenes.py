"""Real RGB-D scenes from any folder of image + depth files.

Two layouts are accepted (both may be nested in sub-folders):

* **paired folders** - a folder holding ``depth/`` (or ``depths/``) beside one of ``images/``,
  ``image/``, ``rgb/``, ``color/``; files are paired by their path below those folders without
  the suffix: ``images/a/x.jpg`` + ``depth/a/x.npy``;
* **flat** - ``<stem>.<image suffix>`` beside ``<stem>_depth.<depth suffix>`` or
  ``<stem>.depth.<depth suffix>``: ``x.png`` + ``x_depth.exr``.

Images: PNG/JPEG/TIFF/BMP/WebP, 8 or 16 bit, read as sRGB in [0, 1]. Depth: ``.npy`` (float,
metres), ``.exr`` (first channel, metres) or 16-bit ``.png`` (millimetres by default, see
``png_scale_m``); ``depth_scale`` multiplies the values (e.g. 0.01 for centimetres). ``inf`` means
sky (in ``.npy``/``.exr``); NaN, zero and negative values, and PNG codes 0 and 65535, mean "no
measurement" and are filled from the nearest measured pixel (flagged in :attr:`RGBDScene.valid`),
as for Middlebury.

Problems are reported per scene, never for the whole folder: :func:`find_user_scenes` lists every
image and every orphan depth file, each with a ``problem`` code from :data:`SCENE_PROBLEMS` when it
cannot be used, and :func:`load_user_scene` raises :class:`SceneLoadError` (an
:class:`~refocus_bench.errors.InvalidInputError`) with such a code and a sentence for a missing or
mismatched depth, a corrupt image or a depth without any measured pixel.

A ``LICENSE``/``LICENCE``/``COPYING`` file in the folder (first non-empty line) names the licence of
the scenes; it is recorded in every record and in the dataset card.

Example:
    >>> import tempfile, numpy as np, torch
    >>> from refocus_bench.io import write_image
    >>> d = tempfile.mkdtemp()
    >>> write_image(f"{d}/room.png", torch.rand(1, 3, 8, 8)); np.save(f"{d}/room_depth.npy", np.full((8, 8), 2.0))
    >>> [e.name for e in find_user_scenes(d)]
    ['room']
    >>> float(load_user_scene(find_user_scenes(d)[0]).depth_m.max())
    2.0
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ...errors import InvalidInputError, MissingFileError, check
from ...io import DEPTH_SUFFIXES, IMAGE_SUFFIXES, read_depth, read_image
from ..render.scenes import RGBDScene

__all__ = [
    "UserScene",
    "SceneLoadError",
    "SCENE_PROBLEMS",
    "find_user_scenes",
    "load_user_scene",
    "folder_licence",
    "folder_fingerprint",
]

IMAGE_DIRS = ("images", "image", "rgb", "color")
DEPTH_DIRS = ("depth", "depths")
DEPTH_MARKERS = ("_depth", ".depth")
LICENCE_FILES = ("LICENSE", "LICENCE", "COPYING")

SCENE_PROBLEMS = {
    "missing_depth": "an image without a depth file",
    "orphan_depth": "a depth file without an image",
    "ambiguous": "several images or depth files share one scene name",
    "size_mismatch": "the depth map and the image differ in size",
    "corrupt_image": "the image cannot be decoded",
    "bad_depth": "the depth file cannot be read (corrupt, wrong format or bit depth)",
    "no_valid_depth": "the depth map has no measured pixel (all NaN, zero or negative)",
}


class SceneLoadError(InvalidInputError):
    """A user scene cannot be used; ``reason`` is a key of :data:`SCENE_PROBLEMS`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class UserScene:
    """One entry of a user folder: a scene name with its files, or a problem found while pairing."""

    name: str
    image: Path | None
    depth: Path | None
    problem: str | None = None
    detail: str = ""


def _visible_files(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
    return out


def _depth_stem(path: Path) -> str | None:
    """``x`` for ``x_depth.npy`` / ``x.depth.exr``; None when the name is not a depth file name."""
    if path.suffix.lower() not in DEPTH_SUFFIXES:
        return None
    stem = path.name[: -len(path.suffix)]
    for marker in DEPTH_MARKERS:
        if stem.endswith(marker) and len(stem) > len(marker):
            return stem[: -len(marker)]
    return None


def _pairs_from(images: dict[str, list[Path]], depths: dict[str, list[Path]]) -> list[UserScene]:
    out = []
    for name in sorted(set(images) | set(depths)):
        imgs, deps = images.get(name, []), depths.get(name, [])
        if len(imgs) > 1 or len(deps) > 1:
            files = ", ".join(str(p) for p in imgs + deps)
            out.append(UserScene(name, imgs[0] if imgs else None, deps[0] if deps else None, "ambiguous", files))
        elif not deps:
            out.append(UserScene(name, imgs[0], None, "missing_depth", f"no depth file for image {str(imgs[0])!r}"))
        elif not imgs:
            out.append(UserScene(name, None, deps[0], "orphan_depth", f"no image for depth file {str(deps[0])!r}"))
        else:
            out.append(UserScene(name, imgs[0], deps[0]))
    return out


def find_user_scenes(folder: str | os.PathLike[str]) -> list[UserScene]:
    """Pair the images and depth files under ``folder`` (see the module docstring for the layouts).

    Returns:
        Entries sorted by name; usable ones have ``problem is None``. Names are paths relative to
        the folder without suffix (and without the ``images/``/``depth/`` level).
    """
    root = Path(folder)
    check(root.is_dir(), lambda: f"scene folder not found: {str(root)!r}", exc=MissingFileError)
    images: dict[str, list[Path]] = {}
    depths: dict[str, list[Path]] = {}
    paired_roots = set()
    for dirpath, dirnames, _ in os.walk(root):
        names = set(dirnames)
        if names & set(DEPTH_DIRS) and names & set(IMAGE_DIRS):
            paired_roots.add(Path(dirpath))
    files = _visible_files(root)
    for p in files:
        owners = [r for r in paired_roots if r in p.parents and p.relative_to(r).parts[0] in IMAGE_DIRS + DEPTH_DIRS]
        owner = max(owners, key=lambda r: len(r.parts)) if owners else None
        suffix = p.suffix.lower()
        if owner is not None:
            rel = p.relative_to(owner)
            key = str((owner.relative_to(root) / Path(*rel.parts[1:])).with_suffix("")).replace(os.sep, "/")
            if rel.parts[0] in DEPTH_DIRS and suffix in DEPTH_SUFFIXES:
                depths.setdefault(key, []).append(p)
            elif rel.parts[0] in IMAGE_DIRS and suffix in IMAGE_SUFFIXES:
                images.setdefault(key, []).append(p)
            continue
        stem = _depth_stem(p)
        if stem is not None:
            key = str(p.relative_to(root).with_name(stem)).replace(os.sep, "/")
            depths.setdefault(key, []).append(p)
        elif suffix in IMAGE_SUFFIXES:
            key = str(p.relative_to(root).with_suffix("")).replace(os.sep, "/")
            images.setdefault(key, []).append(p)
    return _pairs_from(images, depths)


def folder_licence(folder: str | os.PathLike[str]) -> str:
    """First non-empty line of the folder's LICENSE/LICENCE/COPYING file, or an 'unknown' note."""
    root = Path(folder)
    for p in sorted(root.iterdir()) if root.is_dir() else []:
        if p.is_file() and p.stem.upper() in LICENCE_FILES:
            try:
                for line in p.read_text(encoding="utf-8", errors="replace").splitlines():
                    if line.strip():
                        return line.strip()[:200]
            except OSError:
                break
    return "unknown (user-supplied folder without a LICENSE file)"


def folder_fingerprint(folder: str | os.PathLike[str]) -> list[list]:
    """``[[relative path, size in bytes], ...]`` of the folder's files: changes when the data does."""
    root = Path(folder)
    return [[str(p.relative_to(root)).replace(os.sep, "/"), p.stat().st_size] for p in _visible_files(root)]


def _fill_invalid(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from scipy import ndimage

    valid = ~np.isnan(z) & (z > 0)  # +inf (sky) is a valid measurement
    if valid.all():
        return z, valid
    _, (iy, ix) = ndimage.distance_transform_edt(~valid, return_indices=True)
    return z[iy, ix], valid


def load_user_scene(
    entry: UserScene,
    *,
    png_scale_m: float = 1e-3,
    depth_scale: float = 1.0,
    licence: str | None = None,
) -> RGBDScene:
    """Load one paired entry as an :class:`RGBDScene` (image (1, 3, H, W) sRGB, depth (1, 1, H, W) m).

    Raises:
        SceneLoadError: with ``reason`` in :data:`SCENE_PROBLEMS` for an unusable entry.
    """
    check(
        depth_scale > 0 and np.isfinite(depth_scale),
        lambda: f"depth_scale must be a finite number > 0, got {depth_scale}",
    )
    if entry.problem is not None:
        raise SceneLoadError(entry.problem, entry.detail)
    try:
        image = read_image(entry.image, name=f"image of scene {entry.name!r}")
    except (InvalidInputError, MissingFileError) as err:
        raise SceneLoadError("corrupt_image", str(err)) from err
    try:
        depth = read_depth(entry.depth, png_scale_m=png_scale_m, name=f"depth of scene {entry.name!r}")
    except (InvalidInputError, MissingFileError) as err:
        raise SceneLoadError("bad_depth", str(err)) from err
    ih, iw = image.shape[-2:]
    dh, dw = depth.shape[-2:]
    if (ih, iw) != (dh, dw):
        raise SceneLoadError(
            "size_mismatch",
            f"scene {entry.name!r}: image {str(entry.image)!r} is {iw}x{ih} px "
            f"but depth {str(entry.depth)!r} is {dw}x{dh} px",
        )
    z = depth[0, 0].double().numpy() * depth_scale
    if entry.depth.suffix.lower() == ".png":
        z[np.isinf(z)] = np.nan  # a PNG cannot encode sky: its 0 / 65535 codes mean "no measurement"
    z, valid = _fill_invalid(z)
    if not valid.any():
        raise SceneLoadError("no_valid_depth", f"scene {entry.name!r}: depth {str(entry.depth)!r} has no value > 0")
    return RGBDScene(
        image=image.contiguous(),
        depth_m=torch.from_numpy(z.astype(np.float32))[None, None],
        valid=torch.from_numpy(valid)[None, None],
        name=entry.name,
        licence=licence if licence is not None else folder_licence(entry.image.parent),
        citation="",
    )
