"""BLB - the Blender bokeh benchmark of BokehMe (Peng et al., CVPR 2022).

10 rendered scenes, each ``BLB/data/<id>/`` holding an all-in-focus ``image.jpg``, a depth map
``depth.exr`` (half float; ``.npy`` also read), ``info.json`` with ``blur_parameters`` (5 values of
BokehMe's blur gain ``K``) and ``focus_distances`` (10 values), and one target
``bokeh_<KK>_<FF>.jpg`` per pair of indices (``KK`` into ``blur_parameters``, ``FF`` into
``focus_distances``, two digits each). One sample per target: ``id = "<scene>/bokeh_<KK>_<FF>"``,
500 in all.

Depth: Blender writes 65504 (the largest float16) where a ray hits nothing; it loads as ``inf``
(``depth_kind="metres_f16_inf"``; scene units are taken as metres, and the focus distances are in
the same units). BokehMe's ``K`` acts on *disparity* normalised over the image, so depth must be
inverted before normalising: :func:`blb_normalized_disparity` does that, with ``inf`` -> disparity 0.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import check
from .base import DatasetInfo, DatasetLoader
from .manifest import Issue, Layout, Manifest
from .scan import ScanResult, natural_key

if TYPE_CHECKING:
    import torch

__all__ = ["BLB", "BOKEHME_CITATION", "blb_normalized_disparity"]

_BOKEH = re.compile(r"^bokeh_(\d{2})_(\d{2})$")
_DEPTH_SUFFIXES = (".exr", ".npy")
BOKEHME_CITATION = """@inproceedings{peng2022bokehme,
  title     = {{BokehMe}: When Neural Rendering Meets Classical Rendering},
  author    = {Peng, Juewen and Cao, Zhiguo and Luo, Xianrui and Lu, Hao and Xian, Ke and Zhang, Jianming},
  booktitle = {IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year      = {2022}
}"""


def blb_normalized_disparity(depth: torch.Tensor, focus_distance: float) -> tuple[torch.Tensor, float]:
    """BokehMe's normalised disparity of a depth map and of a focus distance.

    Args:
        depth: (1, 1, H, W) depth, ``inf`` allowed (-> disparity 0); values > 0.
        focus_distance: the focus distance in the same units as ``depth``.

    Returns:
        ``(disparity, focus_disparity)``: ``1 / depth`` mapped linearly so that the image's minimum
        disparity is 0 and its maximum is 1, shape (1, 1, H, W); and ``1 / focus_distance`` under
        the same map (a float, may fall outside [0, 1]).
    """
    import torch

    check(bool((depth > 0).all()), "depth must be > 0 (inf allowed) to invert it to disparity")
    check(
        math.isfinite(focus_distance) and focus_distance > 0,
        lambda: f"focus_distance must be finite and > 0, got {focus_distance}",
    )
    disp = torch.where(torch.isinf(depth), torch.zeros_like(depth), 1.0 / depth)
    lo, hi = float(disp.min()), float(disp.max())
    check(hi > lo, "depth is constant: normalised disparity is undefined")
    return (disp - lo) / (hi - lo), (1.0 / focus_distance - lo) / (hi - lo)


class BLB(DatasetLoader):
    """BLB: 10 Blender scenes x 5 blur levels x 10 focus distances of bokeh targets, with depth."""

    card = DatasetInfo(
        name="blb",
        title="BLB",
        task="bokeh",
        has_target=True,
        licence="see source (the BokehMe code repository is MIT-licensed; no separate data licence is stated)",
        citation=BOKEHME_CITATION,
        homepage="https://github.com/JuewenPeng/BokehMe",
        notes="Depth 65504 (float16 max) = infinity. blur_parameters are BokehMe K values (blur per unit of normalised "
        "disparity), not lens parameters; invert depth to disparity before normalising (blb_normalized_disparity).",
    )
    manifest = Manifest(
        layouts=(
            Layout(
                "blb",
                ("data/*/info.json",),
                ("test",),
                "data/<id>/{{image.jpg, depth.exr, info.json, bokeh_<KK>_<FF>.jpg}}",
            ),
            Layout(
                "data",
                ("*/info.json",),
                ("test",),
                "<id>/{{image.jpg, depth.exr, info.json, bokeh_<KK>_<FF>.jpg}} (root = BLB/data)",
            ),
        ),
        default_split="test",
        counts={"test": 500},
        extensions={"input": (".jpg",), "target": (".jpg",), "depth": _DEPTH_SUFFIXES},
        count_note="10 scenes x 5 blur parameters x 10 focus distances",
    )

    def _scan(self) -> ScanResult:
        data = self.root / "data" if self.layout.name == "blb" else self.root
        result = ScanResult(watched=[data])
        for scene_dir in sorted((p for p in data.iterdir() if p.is_dir()), key=lambda p: natural_key(p.name)):
            info_path = scene_dir / "info.json"
            if not info_path.is_file():
                continue  # reported as an extra folder (no sample uses it)
            result.watched.append(scene_dir)
            result.claimed.add(info_path)
            if (scene_dir / "disparity.jpg").is_file():  # a preview some copies carry
                result.claimed.add(scene_dir / "disparity.jpg")
            info = self._read_info(info_path, result)
            if info is None:
                continue
            blur, focus = info
            depth = next(
                (scene_dir / f"depth{s}" for s in _DEPTH_SUFFIXES if (scene_dir / f"depth{s}").is_file()),
                scene_dir / "depth.exr",
            )
            for k, kval in enumerate(blur):
                for f, fval in enumerate(focus):
                    name = f"bokeh_{k:02d}_{f:02d}"
                    result.samples.append(
                        self._sample(
                            id=f"{scene_dir.name}/{name}",
                            input_path=scene_dir / "image.jpg",
                            target_path=scene_dir / f"{name}.jpg",
                            depth_path=depth,
                            depth_kind="metres_f16_inf",
                            subset={"scene": scene_dir.name, "blur_level": f"{k:02d}"},
                            params={"bokehme_k": kval, "focus_distance_m": fval, "blur_index": k, "focus_index": f},
                        )
                    )
            for p in scene_dir.glob("bokeh_*.jpg"):
                m = _BOKEH.match(p.stem)
                if m and (int(m.group(1)) >= len(blur) or int(m.group(2)) >= len(focus)):
                    result.issues.append(
                        Issue(
                            "metadata",
                            self.relpath(p),
                            f"{self.relpath(p)!r}: index beyond info.json "
                            f"({len(blur)} blur parameters, {len(focus)} focus distances)",
                        )
                    )
        return result

    def _read_info(self, path: Path, result: ScanResult) -> tuple[list[float], list[float]] | None:
        rel = self.relpath(path)
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            result.issues.append(Issue("corrupt", rel, f"{rel!r} is not valid JSON: {err}"))
            return None
        lists = []
        for key in ("blur_parameters", "focus_distances"):
            value = info.get(key) if isinstance(info, dict) else None
            if not (
                isinstance(value, list)
                and value
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            ):
                result.issues.append(
                    Issue("metadata", rel, f"{rel!r}: {key!r} must be a non-empty list of numbers, got {value!r}")
                )
                return None
            lists.append([float(v) for v in value])
        bad = [v for v in lists[1] if not (math.isfinite(v) and v > 0)]
        if bad:
            result.issues.append(Issue("metadata", rel, f"{rel!r}: focus_distances must be finite and > 0, got {bad}"))
            return None
        return lists[0], lists[1]
