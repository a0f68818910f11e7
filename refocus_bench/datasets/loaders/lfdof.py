"""LFDOF - defocus deblurring pairs generated from light fields (Ruan et al., IEEE TCI 2021, AIFNet).

Defocused inputs are refocused light-field renders, targets the all-in-focus centre view. The test
layout is ``LFDOF/{input,ground_truth}/IMG_*.png`` (688x1008), paired by file name. No official
test count is recorded here (none confirmed); strict validation checks pairing and formats only.
"""

from __future__ import annotations

from .base import DatasetInfo
from .manifest import Layout, Manifest
from .paired import PairedFolderDataset

__all__ = ["LFDOF"]

_CITATION = """@article{ruan2021aifnet,
  title   = {{AIFNet}: All-in-Focus Image Restoration Network Using a Light Field-Based Dataset},
  author  = {Ruan, Lingyan and Chen, Bin and Li, Jizhou and Lam, Miu-Ling},
  journal = {IEEE Transactions on Computational Imaging},
  volume  = {7},
  pages   = {675--688},
  year    = {2021}
}"""


class LFDOF(PairedFolderDataset):
    """LFDOF light-field defocus deblurring test pairs (``input`` -> ``ground_truth``)."""

    card = DatasetInfo(
        name="lfdof",
        title="LFDOF",
        task="deblur",
        has_target=True,
        licence="see source",
        citation=_CITATION,
        homepage="see source (the AIFNet paper, IEEE TCI 2021)",
        notes="Synthetic defocus from light fields: the blur is exact but the noise is not that of a single capture.",
    )
    manifest = Manifest(
        layouts=(Layout("test", ("input", "ground_truth"), ("test",), "input/IMG_*.png, ground_truth/IMG_*.png"),),
        default_split="test",
        extensions={"input": (".png",), "target": (".png",)},
    )
    input_dir = "input"
    target_dir = "ground_truth"
