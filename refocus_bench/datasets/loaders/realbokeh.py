"""RealBokeh / RealBokeh_3MP (Seizinger et al., ICCV 2025, "Bokehlicious"): real bokeh per f-number.

Each scene has one input photo and targets of the same view at several apertures (f/2.0 ... f/20):
``{split}/in/<id>.JPG``, ``{split}/gt/<id>/<id>_f<N>.JPG`` and ``{split}/metadata/<id>.json`` with
the keys ``id``, ``source_image``, ``target_images``, ``target_avs`` (f-numbers of the targets, in the
same order), ``focus_plane_distance`` and ``focus_plane_uncertainty`` (a JSON file may also hold a
list of such records). RealBokeh_3MP is the same layout downscaled to about 3 MP.

One sample per (scene, target): ``id = "<id>_f<N.N>"``, ``subset = {"scene": id, "f_number": "2.0"}``,
``params["target_f_number"]`` (float). The f-number in each file name must agree with
``target_avs`` - a mismatch is reported, never guessed. The focus distance is a maker-note value of
unknown unit and low accuracy: it is passed on as ``params["focus_plane_distance_raw"]`` with
``params["focus_distance_unit"] = "unknown"``, never as metres.

``reverse=True`` turns the set into defocus deblurring: each f-number target becomes the input and
the scene's input photo the target.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from .base import DatasetInfo, DatasetLoader
from .manifest import Issue, Layout, Manifest
from .scan import ScanResult, index_folder

__all__ = ["RealBokeh", "RealBokeh3MP", "parse_f_number"]

_JPG = (".jpg", ".jpeg")
_F_IN_NAME = re.compile(r"_f(\d+(?:\.\d+)?)$", re.IGNORECASE)
_KEYS = ("id", "source_image", "target_images", "target_avs")
_CITATION = """@inproceedings{seizinger2025bokehlicious,
  title     = {Bokehlicious: Photorealistic Bokeh Rendering with Controllable Apertures},
  author    = {Seizinger, Tim and Vasluianu, Florin-Alexandru and Conde, Marcos V. and Wu, Zongwei and Timofte, Radu},
  booktitle = {IEEE/CVF International Conference on Computer Vision (ICCV)},
  year      = {2025}
}"""


def parse_f_number(name: str) -> float | None:
    """The f-number in a target file name ``<scene>_f<N>.JPG`` (``"x_f5.6.JPG"`` -> 5.6), or ``None``."""
    m = _F_IN_NAME.search(Path(name).stem)
    return float(m.group(1)) if m else None


class RealBokeh(DatasetLoader):
    """RealBokeh: aperture-controlled real bokeh, one target per f-number (``reverse=True``: deblurring).

    Args:
        reverse: swap input and target (f/N photo -> input photo), for defocus deblurring.
    """

    card = DatasetInfo(
        name="realbokeh",
        title="RealBokeh",
        task="bokeh",
        has_target=True,
        licence="CC BY-NC-SA 4.0",
        citation=_CITATION,
        homepage="https://github.com/TimSeizinger/Bokehlicious",
        notes=(
            "focus_plane_distance is a maker-note value of unknown unit and low accuracy "
            "(params focus_plane_distance_raw)."
        ),
    )
    manifest = Manifest(
        layouts=(
            Layout(
                "splits",
                ("{split}/in", "{split}/gt", "{split}/metadata"),
                ("train", "validation", "test"),
                "{split}/{{in/<id>.JPG, gt/<id>/<id>_f<N>.JPG, metadata/<id>.json}}",
            ),
        ),
        default_split="test",
        extensions={"input": _JPG, "target": _JPG},
    )

    def __init__(
        self, root: Any, split: str | None = None, layout: str = "auto", *, reverse: bool = False, **kw: Any
    ) -> None:
        self.reverse = bool(reverse)
        super().__init__(root, split, layout, **kw)

    @property
    def info(self) -> DatasetInfo:
        info = super().info
        if self.reverse:
            info = replace(
                info, task="deblur", notes=info.notes + " Reversed: f/N photo -> input photo (defocus deblurring)."
            )
        return info

    def _scan(self) -> ScanResult:
        base = self.root / self.split
        meta_dir, in_dir, gt_dir = base / "metadata", base / "in", base / "gt"
        result = ScanResult(watched=[in_dir, gt_dir, meta_dir])
        inputs, issues = index_folder(in_dir, _JPG)
        result.issues += issues
        for path in sorted(meta_dir.glob("*.json")):
            result.claimed.add(path)
            for record, where in self._records(path, result):
                self._add_scene(record, where, inputs, in_dir, gt_dir, result)
        return result

    def _records(self, path: Path, result: ScanResult) -> list[tuple[dict, str]]:
        rel = self.relpath(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            result.issues.append(Issue("corrupt", rel, f"{rel!r} is not valid JSON: {err}"))
            return []
        records = data if isinstance(data, list) else [data]
        out = []
        for i, rec in enumerate(records):
            where = rel if len(records) == 1 else f"{rel} record {i}"
            missing = [k for k in _KEYS if not isinstance(rec, dict) or k not in rec]
            if missing:
                result.issues.append(
                    Issue("metadata", rel, f"{where!r}: missing key(s) {missing} (expected {list(_KEYS)})")
                )
                continue
            out.append((rec, where))
        return out

    def _add_scene(
        self, rec: dict, where: str, inputs: dict[str, Path], in_dir: Path, gt_dir: Path, result: ScanResult
    ) -> None:
        scene = str(rec["id"])
        names, avs = rec["target_images"], rec["target_avs"]
        if not (isinstance(names, list) and isinstance(avs, list) and len(names) == len(avs) and names):
            result.issues.append(
                Issue(
                    "metadata",
                    where,
                    f"{where!r}: target_images and target_avs must be non-empty lists of equal length, "
                    f"got {names!r} and {avs!r}",
                )
            )
            return
        source_name = Path(str(rec["source_image"])).name
        source = inputs.get(Path(source_name).stem, in_dir / source_name)
        result.watched.append(gt_dir / scene)
        for name, av in zip(names, avs):
            target = gt_dir / scene / Path(str(name)).name
            try:
                f_number = float(av)
            except (TypeError, ValueError):
                f_number = math.nan
            from_name = parse_f_number(target.name)
            if not math.isfinite(f_number) or f_number <= 0:
                result.issues.append(
                    Issue(
                        "metadata",
                        where,
                        f"{where!r}: target_avs entry {av!r} for {target.name!r} is not a valid f-number",
                    )
                )
                continue
            if from_name is None:
                result.issues.append(
                    Issue(
                        "metadata",
                        self.relpath(target),
                        f"{where!r}: target {target.name!r} has no _f<N> f-number in its name",
                    )
                )
                continue
            if abs(from_name - f_number) > 1e-6:
                result.issues.append(
                    Issue(
                        "metadata",
                        self.relpath(target),
                        f"{where!r}: target {target.name!r} says f/{from_name:g} but target_avs says f/{f_number:g}",
                    )
                )
                continue
            label = f"{f_number:.1f}"
            inp, tgt = (target, source) if self.reverse else (source, target)
            params = {
                "target_f_number": f_number,
                "focus_plane_distance_raw": rec.get("focus_plane_distance"),
                "focus_plane_uncertainty_raw": rec.get("focus_plane_uncertainty"),
                "focus_distance_unit": "unknown",
            }
            result.samples.append(
                self._sample(
                    id=f"{scene}_f{label}",
                    input_path=inp,
                    target_path=tgt,
                    subset={"scene": scene, "f_number": label},
                    params=params,
                )
            )


class RealBokeh3MP(RealBokeh):
    """RealBokeh_3MP: the RealBokeh layout at about 3 megapixels."""

    card = DatasetInfo(
        name="realbokeh_3mp",
        title="RealBokeh_3MP",
        task="bokeh",
        has_target=True,
        licence="CC BY-NC-SA 4.0",
        citation=_CITATION,
        homepage="https://github.com/TimSeizinger/Bokehlicious",
        notes=RealBokeh.card.notes + " Downscaled release (about 3 MP).",
    )
