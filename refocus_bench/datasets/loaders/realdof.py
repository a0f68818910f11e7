"""RealDOF - real defocus / all-in-focus pairs from a dual-camera rig (Lee et al., CVPR 2021, IFAN).

A test-only set of 50 scenes captured simultaneously with a wide and a narrow aperture through a
beam splitter, ``RealDOF/{source,target}/*.png`` paired by file name. The licence statements in
the source repository disagree with each other, so the card says "see source".
"""

from __future__ import annotations

from .base import DatasetInfo
from .manifest import Layout, Manifest
from .paired import PairedFolderDataset

__all__ = ["RealDOF"]

_CITATION = """@inproceedings{lee2021iterative,
  title     = {Iterative Filter Adaptive Network for Single Image Defocus Deblurring},
  author    = {Lee, Junyong and Son, Hyeongseok and Rim, Jaesung and Cho, Sunghyun and Lee, Seungyong},
  booktitle = {IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2021}
}"""


class RealDOF(PairedFolderDataset):
    """RealDOF defocus deblurring test pairs (``source`` -> ``target``)."""

    card = DatasetInfo(
        name="realdof",
        title="RealDOF",
        task="deblur",
        has_target=True,
        licence="see source (the licence statements in the source repository are inconsistent)",
        citation=_CITATION,
        homepage="https://github.com/codeslake/IFAN",
        notes="Test set only; pairs from a beam-splitter dual-camera rig (small residual misalignment).",
    )
    manifest = Manifest(
        layouts=(Layout("flat", ("source", "target"), ("test",), "source/*.png, target/*.png"),),
        default_split="test",
        counts={"test": 50},
        extensions={"input": (".png",), "target": (".png",)},
        count_note="50 test scenes",
    )
    input_dir = "source"
    target_dir = "target"
