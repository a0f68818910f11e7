"""Datasets stored as two parallel folders of images paired by file stem (input / target).

RealDOF, LFDOF, the EBB! split folders, EBB400 and EBB! Val294 all look like this: the input and
the target of a sample share a file stem; an input without a target and a target without an input
are errors, named file by file by the validation.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from .base import DatasetLoader
from .manifest import Issue
from .scan import ScanResult, index_folder

__all__ = ["PairedFolderDataset"]


class PairedFolderDataset(DatasetLoader):
    """Input / target folders paired by stem; subclasses set the folder names below.

    Class attributes:
        input_dir, target_dir: folders relative to ``root``; ``{split}`` is replaced by the split.
        image_extensions: accepted suffixes (lower case).
        target_optional: when the target folder is absent altogether the split has no ground
            truth (``target_path=None``, a warning); when it exists every input needs a target.
    """

    input_dir: ClassVar[str]
    target_dir: ClassVar[str]
    image_extensions: ClassVar[tuple[str, ...]] = (".png",)
    target_optional: ClassVar[bool] = False

    def _dir(self, pattern: str) -> Path:
        return self.root / pattern.format(split=self.split)

    def _scan(self) -> ScanResult:
        inp, tgt = self._dir(self.input_dir), self._dir(self.target_dir)
        result = ScanResult(watched=[d for d in (inp, tgt) if d.is_dir()])
        inputs, issues = index_folder(inp, self.image_extensions)
        targets, more = index_folder(tgt, self.image_extensions)
        result.issues += issues + more
        no_target = self.target_optional and not tgt.is_dir()
        if no_target:
            result.issues.append(
                Issue(
                    "missing_file",
                    self.relpath(tgt),
                    f"{self.relpath(tgt)!r} is absent: "
                    f"split {self.split!r} has no ground truth (no-reference metrics only)",
                    "warning",
                )
            )
        for stem, path in inputs.items():
            target = None if no_target else targets.get(stem, tgt / path.name)
            result.samples.append(
                self._sample(id=stem, input_path=path, target_path=target, **self._extras(stem, path, result))
            )
        return result

    def _extras(self, stem: str, path: Path, result: ScanResult) -> dict:
        """Further fields of a sample (depth, aux paths, params); none by default."""
        return {}
