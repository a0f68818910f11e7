"""DPDD - the Canon dual-pixel defocus deblurring dataset (Abuolaim & Brown, ECCV 2020).

500 scenes shot with a Canon EOS 5D Mark IV at a wide and a narrow aperture, processed to
1680x1120 sRGB **16-bit PNG**; official split 350 train / 74 val / 76 test pairs. Each sample's
input is the combined ("c") defocused image, the target the all-in-focus image; the two dual-pixel
views are ``aux_paths["dp_left"]`` / ``["dp_right"]`` when the copy has them.

Three layouts circulate:

* ``a``: the official archive, ``dd_dp_dataset_canon/{train,val,test}_{c,l,r}/{source,target}/*.png``;
* ``b``: the flat test set used by later repositories, ``{inputC,inputL,inputR,target}/*.png`` with
  ``indoor_labels.txt`` / ``outdoor_labels.txt`` (``.npy`` also read);
* ``c``: ``{split}_c/{source,target}``, ``{split}_l/source``, ``{split}_r/source`` without the
  ``dd_dp_dataset_canon`` folder.

Indoor / outdoor labels (any layout, files at ``root``): one entry per line or separated by
whitespace / commas; an integer is a 1-based position in the natural sort order of the inputs (the
convention of the ``.npy`` lists), anything else a file name or stem. Labelled samples get
``subset["scene"]`` = ``"indoor"`` or ``"outdoor"``. Dual-pixel views pair with the combined image
by file stem, ignoring a trailing view tag (``_L``, ``_r`` ...).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .base import DatasetInfo, DatasetLoader
from .manifest import Issue, Layout, Manifest
from .scan import ScanResult, index_folder, natural_key

__all__ = ["DPDD"]

_PNG = (".png",)
_VIEW_TAG = re.compile(r"_(?:[lrcLRC])$")
_SCENES = ("indoor", "outdoor")

_CITATION = """@inproceedings{abuolaim2020defocus,
  title     = {Defocus Deblurring Using Dual-Pixel Data},
  author    = {Abuolaim, Abdullah and Brown, Michael S.},
  booktitle = {European Conference on Computer Vision (ECCV)},
  year      = {2020}
}"""


def _view_key(stem: str) -> str:
    return _VIEW_TAG.sub("", stem)


class DPDD(DatasetLoader):
    """DPDD defocus deblurring pairs (16-bit PNG), with dual-pixel views and indoor/outdoor labels."""

    card = DatasetInfo(
        name="dpdd",
        title="DPDD",
        task="deblur",
        has_target=True,
        licence="see source (no data licence is stated; the accompanying code repository is MIT-licensed)",
        citation=_CITATION,
        homepage="https://github.com/Abdullah-Abuolaim/defocus-deblurring-dual-pixel",
        notes="16-bit PNG: scores depend on evaluating at 16 bits (divide by 65535), not on 8-bit conversions.",
    )
    manifest = Manifest(
        layouts=(
            Layout(
                "a",
                ("dd_dp_dataset_canon/{split}_c/source", "dd_dp_dataset_canon/{split}_c/target"),
                ("train", "val", "test"),
                "dd_dp_dataset_canon/{split}_c/{{source,target}} (+ {split}_l, {split}_r)",
            ),
            Layout(
                "b",
                ("inputC", "target"),
                ("test",),
                "inputC/, target/ (+ inputL/, inputR/, indoor_labels.txt, outdoor_labels.txt)",
            ),
            Layout(
                "c",
                ("{split}_c/source", "{split}_c/target"),
                ("train", "val", "test"),
                "{split}_c/{{source,target}} (+ {split}_l/source, {split}_r/source)",
            ),
        ),
        default_split="test",
        counts={"train": 350, "val": 74, "test": 76},
        extensions={role: _PNG for role in ("input", "target", "dp_left", "dp_right")},
        bit_depth={role: 16 for role in ("input", "target", "dp_left", "dp_right")},
        image_roles=("input", "target", "dp_left", "dp_right"),
        same_size=("input", "target", "dp_left", "dp_right"),
        count_note="350 / 74 / 76 scenes (train / val / test)",
    )

    def _folders(self) -> dict[str, Path]:
        if self.layout.name == "b":
            r = self.root
            return {"input": r / "inputC", "target": r / "target", "dp_left": r / "inputL", "dp_right": r / "inputR"}
        base = self.root / "dd_dp_dataset_canon" if self.layout.name == "a" else self.root
        s = self.split
        return {
            "input": base / f"{s}_c" / "source",
            "target": base / f"{s}_c" / "target",
            "dp_left": base / f"{s}_l" / "source",
            "dp_right": base / f"{s}_r" / "source",
        }

    def _scan(self) -> ScanResult:
        folders = self._folders()
        result = ScanResult(watched=[p for p in folders.values() if p.is_dir()])
        inputs, issues = index_folder(folders["input"], _PNG)
        targets, more = index_folder(folders["target"], _PNG)
        result.issues += issues + more
        views: dict[str, dict[str, Path]] = {}
        for role in ("dp_left", "dp_right"):
            if folders[role].is_dir():
                found, more = index_folder(folders[role], _PNG)
                result.issues += more
                views[role] = {_view_key(stem): p for stem, p in found.items()}
        scenes = self._labels(sorted(inputs, key=natural_key), result)
        for stem, path in inputs.items():
            aux = {role: idx.get(_view_key(stem), folders[role] / path.name) for role, idx in views.items()}
            result.samples.append(
                self._sample(
                    id=stem,
                    input_path=path,
                    target_path=targets.get(stem, folders["target"] / path.name),
                    aux_paths=aux,
                    subset={"scene": scenes[stem]} if stem in scenes else {},
                )
            )
        return result

    # -- indoor / outdoor labels ------------------------------------------------------------
    def _labels(self, stems: list[str], result: ScanResult) -> dict[str, str]:
        files = {scene: _find_label_file(self.root, scene) for scene in _SCENES}
        if not any(files.values()):
            return {}
        out: dict[str, str] = {}
        for scene, path in files.items():
            if path is None:
                other = next(p for p in files.values() if p is not None)
                result.issues.append(
                    Issue(
                        "metadata",
                        f"{scene}_labels.txt",
                        f"{self.relpath(other)!r} is there but {scene}_labels.txt is not: "
                        f"{scene} samples stay unlabelled",
                        "warning",
                    )
                )
                continue
            result.claimed.add(path)
            for where, entry in _read_label_entries(path, result, self.relpath(path)):
                stem = _resolve(entry, stems)
                if stem is None:
                    what = (
                        f"position {entry} (there are {len(stems)} inputs)" if isinstance(entry, int) else f"{entry!r}"
                    )
                    result.issues.append(
                        Issue(
                            "metadata",
                            self.relpath(path),
                            f"{self.relpath(path)!r} {where}: {what} matches no input image",
                        )
                    )
                elif out.get(stem, scene) != scene:
                    result.issues.append(
                        Issue(
                            "metadata",
                            self.relpath(path),
                            f"{self.relpath(path)!r} {where}: {stem!r} is labelled both indoor and outdoor",
                        )
                    )
                else:
                    out[stem] = scene
        unlabelled = [s for s in stems if s not in out]
        if unlabelled:
            head = ", ".join(repr(s) for s in unlabelled[:5]) + (" ..." if len(unlabelled) > 5 else "")
            result.issues.append(
                Issue("metadata", ".", f"{len(unlabelled)} input(s) are in neither label list: {head}", "warning")
            )
        return out


def _find_label_file(root: Path, scene: str) -> Path | None:
    for suffix in (".txt", ".npy"):
        p = root / f"{scene}_labels{suffix}"
        if p.is_file():
            return p
    return None


def _read_label_entries(path: Path, result: ScanResult, rel: str) -> list[tuple[str, int | str]]:
    """(where, entry) pairs: ``where`` is ``"line N"`` or ``"item N"``, entry an int (1-based) or a name."""
    if path.suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False).reshape(-1)
        except (OSError, ValueError) as err:
            result.issues.append(Issue("corrupt", rel, f"{rel!r} cannot be read as a .npy array: {err}"))
            return []
        if not np.issubdtype(arr.dtype, np.integer):
            result.issues.append(
                Issue("metadata", rel, f"{rel!r} must hold integer 1-based positions, got dtype {arr.dtype}")
            )
            return []
        return [(f"item {i + 1}", int(v)) for i, v in enumerate(arr)]
    out: list[tuple[str, int | str]] = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        for token in re.split(r"[\s,]+", line.strip()):
            if token:
                out.append((f"line {n}", int(token) if token.isdigit() else token))
    return out


def _resolve(entry: int | str, stems: list[str]) -> str | None:
    if isinstance(entry, int):
        return stems[entry - 1] if 1 <= entry <= len(stems) else None
    stem = Path(entry).stem if Path(entry).suffix.lower() == ".png" else Path(entry).name
    return stem if stem in stems else None
