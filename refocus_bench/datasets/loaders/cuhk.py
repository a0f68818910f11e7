"""CUHK blur detection (Shi, Xu & Jia, CVPR 2014): real defocused photos without ground truth.

The set has 704 defocus-blurred photos (``out_of_focus*.jpg``) with hand-drawn blur masks, next to
296 motion-blurred ones (``motion*.jpg``) that these loaders skip. For deblurring there is no sharp
target: samples have ``target_path=None`` and are scored with no-reference metrics only. The blur
mask, when present, is ``aux_paths["blur_mask"]`` (white = blurred, as drawn by the authors).

Layouts: ``detection`` = ``images/out_of_focus*.jpg`` + ``gt/out_of_focus*.png``;
``flat`` = a single folder of ``out_of_focus*.jpg``.
"""

from __future__ import annotations

from .base import DatasetInfo, DatasetLoader
from .manifest import DEFAULT_IGNORE, Layout, Manifest
from .scan import ScanResult, index_folder

__all__ = ["CUHKBlur"]

_PREFIX = "out_of_focus"
_CITATION = """@inproceedings{shi2014discriminative,
  title     = {Discriminative Blur Detection Features},
  author    = {Shi, Jianping and Xu, Li and Jia, Jiaya},
  booktitle = {IEEE Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2014}
}"""


class CUHKBlur(DatasetLoader):
    """CUHK defocused photos (no ground truth: no-reference evaluation), with blur masks."""

    card = DatasetInfo(
        name="cuhk_blur",
        title="CUHK blur detection",
        task="deblur",
        has_target=False,
        licence="see source",
        citation=_CITATION,
        homepage="http://www.cse.cuhk.edu.hk/leojia/projects/dblurdetect/",
        notes="No sharp ground truth: only no-reference metrics apply. motion*.jpg images are not loaded.",
    )
    manifest = Manifest(
        layouts=(
            Layout("detection", ("images", "gt"), ("test",), "images/out_of_focus*.jpg, gt/out_of_focus*.png"),
            Layout("flat", (f"{_PREFIX}*.jpg",), ("test",), "out_of_focus*.jpg in one folder"),
        ),
        default_split="test",
        counts={"test": 704},
        extensions={"input": (".jpg", ".jpeg"), "blur_mask": (".png", ".bmp")},
        image_roles=("input", "blur_mask"),
        same_size=("input", "blur_mask"),
        ignore=DEFAULT_IGNORE + ("motion*",),
        count_note="704 defocus-blurred images",
    )

    def _scan(self) -> ScanResult:
        detection = self.layout.name == "detection"
        images = self.root / "images" if detection else self.root
        masks_dir = self.root / "gt"
        result = ScanResult(watched=[images] + ([masks_dir] if detection else []))
        inputs, issues = index_folder(images, (".jpg", ".jpeg"))
        masks, more = index_folder(masks_dir, (".png", ".bmp")) if detection else ({}, [])
        result.issues += issues + more
        if not detection:  # a flat folder may hold anything else; only the defocus images are ours
            result.watched = []
        for stem, path in inputs.items():
            if not stem.startswith(_PREFIX):
                continue
            aux = {"blur_mask": masks.get(stem, masks_dir / f"{stem}.png")} if detection else {}
            result.samples.append(self._sample(id=stem, input_path=path, aux_paths=aux))
        return result
