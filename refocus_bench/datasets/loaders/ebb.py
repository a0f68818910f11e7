"""EBB! (Everything is Better with Bokeh!) and its evaluation subsets EBB400 and EBB! Val294.

* **EBB!** (Ignatov, Patel & Timofte, CVPRW 2020): pairs shot with a Canon 7D and a 50 mm lens at
  f/16 (input, nearly all in focus) and f/1.8 (target, shallow depth of field);
  ``{train,test}/{original,bokeh,original_depth}/{i}.jpg`` (depth ``.png``), 4894 train / 200 test.
  The public test (and validation) images come without targets: such a split loads with
  ``target_path=None``. ``original_depth`` maps are monocular predictions of relative depth
  (``depth_kind="relative_depth"``), not metres.
* **EBB400** (the BokehMe evaluation subset): ``validation/{in,gt}/*.jpg`` plus relative disparity
  maps predicted by MiDaS in ``disparity/`` and by DPT in ``disparity_dpt/`` (either directly under
  ``root`` or under ``validation/``); ``disparity="midas"`` (default) or ``"dpt"`` picks
  ``depth_path``, the other one is an aux path.
* **EBB! Val294**: 294 held-out EBB! training pairs in ``validation/{in,gt}/*.jpg``.

Images: CC BY-NC-SA 4.0 (EBB!). Ids are the file stems, sorted numerically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from ...errors import check
from .base import DatasetInfo
from .blb import BOKEHME_CITATION
from .manifest import Issue, Layout, Manifest
from .paired import PairedFolderDataset
from .scan import ScanResult

__all__ = ["EBB", "EBB400", "EBBVal294"]

_JPG = (".jpg", ".jpeg")
_EBB_LICENCE = "CC BY-NC-SA 4.0"
_EBB_CITATION = """@inproceedings{ignatov2020rendering,
  title     = {Rendering Natural Camera Bokeh Effect with Deep Learning},
  author    = {Ignatov, Andrey and Patel, Jagruti and Timofte, Radu},
  booktitle = {IEEE/CVF Conference on Computer Vision and Pattern Recognition Workshops (CVPRW)},
  year      = {2020}
}"""
_HOMEPAGE = "https://people.ee.ethz.ch/~ihnatova/pynet-bokeh.html"


class EBB(PairedFolderDataset):
    """EBB! f/16 -> f/1.8 bokeh pairs; splits ``train`` and ``test`` (test without targets)."""

    card = DatasetInfo(
        name="ebb",
        title="EBB!",
        task="bokeh",
        has_target=True,
        licence=_EBB_LICENCE,
        citation=_EBB_CITATION,
        homepage=_HOMEPAGE,
        notes="Public test/validation images have no targets (no-reference only). Depth maps are relative predictions, "
        "not metric. Pairs are handheld captures: small misalignments between input and target.",
    )
    manifest = Manifest(
        layouts=(
            Layout(
                "ebb", ("{split}/original",), ("train", "test"), "{split}/{{original,bokeh,original_depth}}/<i>.jpg|png"
            ),
        ),
        default_split="test",
        counts={"train": 4894, "test": 200},
        extensions={"input": _JPG, "target": _JPG, "depth": (".png", ".jpg")},
        image_roles=("input", "target", "depth"),
    )
    input_dir = "{split}/original"
    target_dir = "{split}/bokeh"
    image_extensions = _JPG
    target_optional = True

    def _scan(self) -> ScanResult:
        result = super()._scan()
        depth_dir = self.root / self.split / "original_depth"
        if depth_dir.is_dir():
            result.watched.append(depth_dir)
        return result

    def _extras(self, stem: str, path: Path, result: ScanResult) -> dict[str, Any]:
        depth_dir = self.root / self.split / "original_depth"
        if not depth_dir.is_dir():
            return {}
        depth = next(
            (depth_dir / f"{stem}{s}" for s in (".png", ".jpg") if (depth_dir / f"{stem}{s}").is_file()),
            depth_dir / f"{stem}.png",
        )
        return {"depth_path": depth, "depth_kind": "relative_depth"}


class _EBBValidationSubset(PairedFolderDataset):
    """``validation/{in,gt}`` pairs of EBB! images."""

    input_dir = "validation/in"
    target_dir = "validation/gt"
    image_extensions = _JPG


class EBBVal294(_EBBValidationSubset):
    """EBB! Val294: 294 held-out EBB! pairs in ``validation/{in,gt}``."""

    card = DatasetInfo(
        name="ebb_val294",
        title="EBB! Val294",
        task="bokeh",
        has_target=True,
        licence=_EBB_LICENCE + " (EBB! images)",
        citation=_EBB_CITATION,
        homepage=_HOMEPAGE,
        notes="A subset of EBB! training pairs used for validation by later work; ids are EBB! file stems.",
    )
    manifest = Manifest(
        layouts=(
            Layout("validation", ("validation/in", "validation/gt"), ("validation",), "validation/{{in,gt}}/*.jpg"),
        ),
        default_split="validation",
        counts={"validation": 294},
        extensions={"input": _JPG, "target": _JPG},
    )


class EBB400(_EBBValidationSubset):
    """EBB400 (BokehMe): 400 EBB! pairs with MiDaS / DPT relative disparity maps.

    Args:
        disparity: ``"midas"`` (``disparity/``, default) or ``"dpt"`` (``disparity_dpt/``) as ``depth_path``.
    """

    card = DatasetInfo(
        name="ebb400",
        title="EBB400",
        task="bokeh",
        has_target=True,
        licence=_EBB_LICENCE + " (EBB! images); disparity maps: see source",
        citation=_EBB_CITATION + "\n" + BOKEHME_CITATION,
        homepage="https://github.com/JuewenPeng/BokehMe",
        notes="Disparity maps are relative inverse depth (MiDaS in disparity/, DPT in disparity_dpt/), not metric.",
    )
    manifest = Manifest(
        layouts=(
            Layout(
                "validation",
                ("validation/in", "validation/gt"),
                ("validation",),
                "validation/{{in,gt}}/*.jpg (+ disparity/, disparity_dpt/)",
            ),
        ),
        default_split="validation",
        counts={"validation": 400},
        extensions={
            "input": _JPG,
            "target": _JPG,
            "depth": (".png", ".jpg", ".npy"),
            "disparity_midas": (".png", ".jpg", ".npy"),
            "disparity_dpt": (".png", ".jpg", ".npy"),
        },
        image_roles=("input", "target"),
    )
    _FOLDERS: ClassVar[dict[str, str]] = {"midas": "disparity", "dpt": "disparity_dpt"}

    def __init__(
        self, root: Any, split: str | None = None, layout: str = "auto", *, disparity: str = "midas", **kw: Any
    ) -> None:
        check(
            disparity in self._FOLDERS, lambda: f"disparity must be one of {sorted(self._FOLDERS)}, got {disparity!r}"
        )
        self.disparity = disparity
        super().__init__(root, split, layout, **kw)

    def _disparity_dirs(self) -> dict[str, Path]:
        out = {}
        for key, name in self._FOLDERS.items():
            for base in (self.root / "validation", self.root):
                if (base / name).is_dir():
                    out[key] = base / name
                    break
        return out

    def _scan(self) -> ScanResult:
        result = super()._scan()
        dirs = self._disparity_dirs()
        result.watched += list(dirs.values())
        if self.disparity not in dirs:
            result.issues.append(
                Issue(
                    "missing_file",
                    self._FOLDERS[self.disparity],
                    f"EBB400 disparity folder {self._FOLDERS[self.disparity]!r} (disparity={self.disparity!r}) "
                    f"not found under {str(self.root)!r} or its validation/ folder",
                )
            )
        return result

    def _extras(self, stem: str, path: Path, result: ScanResult) -> dict[str, Any]:
        found = {}
        for key, folder in self._disparity_dirs().items():
            found[key] = next(
                (folder / f"{stem}{s}" for s in (".png", ".jpg", ".npy") if (folder / f"{stem}{s}").is_file()),
                folder / f"{stem}.png",
            )
        out: dict[str, Any] = {"aux_paths": {f"disparity_{k}": p for k, p in found.items() if k != self.disparity}}
        if self.disparity in found:
            out.update(depth_path=found[self.disparity], depth_kind="relative_disparity")
        return out
