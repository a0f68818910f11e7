"""NTIRE 2023 bokeh effect transformation: convert the bokeh of one lens into that of another.

Flat folders of tuples: ``{id}.src.jpg`` (the photo rendered with the source lens - the model
**input**), ``{id}.tgt.jpg`` (the same scene with the target lens - the **target**), ``{id}.alpha.png``
(foreground matte) and ``meta.txt`` with lines ``id, src_lens, tgt_lens, disparity``, e.g.
``00000, Sony50mmf1.8BS, Sony50mmf16.0BS, 35``. The public starter loader read the source file as
the target; here the roles follow the file names, and the tests pin that.

Layouts: ``flat`` (``meta.txt`` at ``root``; split ``default``) or ``splits``
(``{train,validation,test}/meta.txt``). A split without any ``.tgt.jpg`` (a hidden test set) loads
with ``target_path=None``. Lens names parse (:meth:`refocus_bench.tasks.NamedLens.parse`) into
``params`` (``src_focal_mm``, ``src_f_number`` ...) when they follow ``<Maker><F>mmf<N>[tag]``; the
raw strings are always kept, and a name that does not parse is a warning naming ``meta.txt`` and its
line (``params["meta_line"]`` keeps each sample's line). ``disparity`` is the challenge's
blur-strength indicator, passed on as given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ...errors import InvalidInputError
from ...tasks import NamedLens
from .base import DatasetInfo, DatasetLoader
from .manifest import Issue, Layout, Manifest
from .scan import ScanResult

__all__ = ["NTIRE23Bokeh", "parse_lens", "read_meta"]

_CITATION = """@inproceedings{conde2023lens,
  title     = {Lens-to-Lens Bokeh Effect Transformation. {NTIRE} 2023 Challenge Report},
  author    = {Conde, Marcos V. and Kolmet, Manuel and Seizinger, Tim and Bishop, Tom E. and Timofte, Radu and others},
  booktitle = {IEEE/CVF Conference on Computer Vision and Pattern Recognition Workshops (CVPRW)},
  year      = {2023}
}"""


def parse_lens(name: str) -> dict[str, Any]:
    """``"Sony50mmf1.8BS"`` -> ``{"maker": "Sony", "focal_mm": 50.0, "f_number": 1.8, "tag": "BS"}``.

    An unparsable name gives ``{}``.
    """
    try:
        lens = NamedLens.parse(name)
    except InvalidInputError:
        return {}
    return {"maker": lens.maker, "focal_mm": lens.focal_mm, "f_number": lens.f_number, "tag": lens.tag}


def read_meta(path: Path, rel: str) -> tuple[list[tuple[str, str, str, float, int]], list[Issue]]:
    """Rows ``(id, src_lens, tgt_lens, disparity, line number)`` of a ``meta.txt`` and the problems, by line."""
    rows: list[tuple[str, str, str, float, int]] = []
    issues: list[Issue] = []
    seen: dict[str, int] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        fields = [f.strip() for f in line.split(",")]
        if not line.strip() or (n == 1 and fields[0].lower() == "id"):
            continue
        if len(fields) != 4 or not all(fields):
            issues.append(
                Issue(
                    "metadata",
                    rel,
                    f"{rel!r} line {n}: expected 'id, src_lens, tgt_lens, disparity', got {line.strip()!r}",
                )
            )
            continue
        sid, src, tgt, disp = fields
        try:
            value = float(disp)
        except ValueError:
            issues.append(Issue("metadata", rel, f"{rel!r} line {n}: disparity {disp!r} is not a number"))
            continue
        if sid in seen:
            issues.append(Issue("metadata", rel, f"{rel!r} line {n}: id {sid!r} already on line {seen[sid]}"))
            continue
        seen[sid] = n
        for role, lens in (("src_lens", src), ("tgt_lens", tgt)):
            if not parse_lens(lens):
                msg = f"{rel!r} line {n}: {role} {lens!r} is not <Maker><focal>mmf<f-number>[tag] (e.g. Sony50mmf1.8BS)"
                issues.append(Issue("metadata", rel, msg, "warning"))
        rows.append((sid, src, tgt, value, n))
    return rows, issues


class NTIRE23Bokeh(DatasetLoader):
    """NTIRE 2023 lens-to-lens bokeh transformation tuples (source lens -> target lens)."""

    card = DatasetInfo(
        name="ntire23_bokeh",
        title="NTIRE 2023 bokeh effect transformation",
        task="bokeh",
        has_target=True,
        licence="see source",
        citation=_CITATION,
        homepage="https://github.com/Glass-Imaging/NTIRE23BokehTransformation",
        notes="Input = {id}.src.jpg, target = {id}.tgt.jpg (the public starter loader swapped them). "
        "Training tuples are synthetic renders; test tuples include real captures.",
    )
    manifest = Manifest(
        layouts=(
            Layout("flat", ("meta.txt",), ("default",), "meta.txt, <id>.src.jpg, <id>.tgt.jpg, <id>.alpha.png"),
            Layout(
                "splits",
                ("{split}/meta.txt",),
                ("train", "validation", "test"),
                "{split}/{{meta.txt, <id>.src.jpg, <id>.tgt.jpg, <id>.alpha.png}}",
            ),
        ),
        default_split="validation",
        extensions={"input": (".jpg",), "target": (".jpg",), "alpha": (".png",)},
        image_roles=("input", "target", "alpha"),
        same_size=("input", "target", "alpha"),
    )

    def _scan(self) -> ScanResult:
        folder = self.root if self.layout.name == "flat" else self.root / self.split
        meta = folder / "meta.txt"
        result = ScanResult(watched=[folder], claimed={meta})
        if self.layout.name == "flat":  # split folders of another layout are not ours to judge
            result.ignore = ("train", "validation", "test")
        rows, issues = read_meta(meta, self.relpath(meta))
        result.issues += issues
        has_targets = any(folder.glob("*.tgt.jpg"))
        has_alpha = any(folder.glob("*.alpha.png"))
        if not has_targets:
            result.issues.append(
                Issue(
                    "missing_file",
                    self.relpath(folder),
                    f"no *.tgt.jpg in {self.relpath(folder)!r}: "
                    f"split {self.split!r} has no ground truth (no-reference only)",
                    "warning",
                )
            )
        for sid, src, tgt, disparity, line in rows:
            params: dict[str, Any] = {"src_lens": src, "tgt_lens": tgt, "disparity": disparity, "meta_line": line}
            for prefix, lens in (("src", src), ("tgt", tgt)):
                parsed = parse_lens(lens)
                if parsed:
                    params[f"{prefix}_focal_mm"] = parsed["focal_mm"]
                    params[f"{prefix}_f_number"] = parsed["f_number"]
            result.samples.append(
                self._sample(
                    id=sid,
                    input_path=folder / f"{sid}.src.jpg",
                    target_path=folder / f"{sid}.tgt.jpg" if has_targets else None,
                    aux_paths={"alpha": folder / f"{sid}.alpha.png"} if has_alpha else {},
                    subset={"src_lens": src, "tgt_lens": tgt},
                    params=params,
                )
            )
        return result
