"""One benchmark sample: a typed record of paths and labels, and its loading into tensors.

A :class:`DatasetSample` holds paths only (cheap to list, pickle and send to workers);
:meth:`DatasetSample.load` reads them with the toolkit's contracts:

* images: ``torch.float32`` (1, 3, H, W), sRGB-encoded, values in [0, 1]; 8-bit files are divided by
  255, 16-bit files by 65535, and the source bit depth is recorded on the :class:`LoadedSample`;
* depth: ``torch.float32`` (1, 1, H, W) in metres, ``inf`` for sky / no surface, for datasets whose
  depth is metric. Relative maps (monocular depth or disparity predictions) have no metric scale:
  :meth:`DatasetSample.load_depth` refuses them and :meth:`DatasetSample.load_depth_map` returns
  them as they are (see :data:`DEPTH_KINDS`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ...errors import check
from .probe import probe_image

if TYPE_CHECKING:
    import torch

__all__ = ["DatasetSample", "LoadedSample", "DEPTH_KINDS", "FLOAT16_MAX", "load_image"]

FLOAT16_MAX = 65504.0
"""Largest finite float16: Blender writes it into half-float depth where a ray hits nothing."""

DEPTH_KINDS = {
    "metres": "metric depth in metres (inf = no surface)",
    "metres_f16_inf": "metric depth in scene units taken as metres; values >= 65504 (float16 max) mean infinity",
    "relative_depth": "relative depth of unknown scale and offset (a monocular prediction); not metric",
    "relative_disparity": "relative inverse depth of unknown scale and shift (e.g. MiDaS); not metric",
}
"""Meaning of :attr:`DatasetSample.depth_kind`; only the first two load as metres."""


def load_image(path: str | Path, name: str = "image") -> tuple[torch.Tensor, int]:
    """Read an image as sRGB float32 (1, 3, H, W) in [0, 1] and return it with its source bit depth.

    8-bit files are divided by 255 and 16-bit files by 65535 (see :func:`refocus_bench.io.read_image`).
    Raises :class:`InvalidInputError` naming the file when it is corrupt.
    """
    from ...io import read_image

    header = probe_image(path)
    return read_image(path, name=name), header.bit_depth


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class DatasetSample:
    """A benchmark sample: paths, labels and parameters; no pixels.

    Attributes:
        id: unique within the dataset split, stable across runs (e.g. ``"1P0A1045"``,
            ``"277/bokeh_02_05"``, ``"scene12_f2.0"``). Samples are yielded sorted by it (natural order).
        input_path: the model input (blurry photo for deblurring, all-in-focus photo for bokeh).
        target_path: the ground truth, or ``None`` where the dataset has none (no-reference only).
        depth_path: a depth or disparity map, or ``None``; its meaning is :attr:`depth_kind`.
        depth_kind: a key of :data:`DEPTH_KINDS`, or ``None`` without depth.
        subset: breakdown labels, strings only, e.g. ``{"scene": "indoor"}``, ``{"f_number": "2.0"}``.
        params: lens / focus / blur parameters from the dataset's metadata, units in the key names
            where known (``focus_distance``, ``target_f_number`` ...); documented per dataset.
        aux_paths: further files by role, e.g. ``{"dp_left": ..., "dp_right": ...}`` (DPDD dual-pixel
            views), ``{"alpha": ...}`` (NTIRE 2023), ``{"blur_mask": ...}`` (CUHK).
        dataset, split: where the sample comes from (registry name and split).
    """

    id: str
    input_path: Path
    target_path: Path | None = None
    depth_path: Path | None = None
    depth_kind: str | None = None
    subset: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    aux_paths: Mapping[str, Path] = field(default_factory=dict)
    dataset: str = ""
    split: str = ""

    def __post_init__(self) -> None:
        check(
            isinstance(self.id, str) and self.id != "", lambda: f"sample id must be a non-empty string, got {self.id!r}"
        )
        check(
            self.depth_kind is None or self.depth_kind in DEPTH_KINDS,
            lambda: f"depth_kind must be None or one of {sorted(DEPTH_KINDS)}, got {self.depth_kind!r}",
        )
        check(
            (self.depth_kind is None) == (self.depth_path is None),
            lambda: f"sample {self.id!r}: depth_path and depth_kind go together",
        )
        check(
            all(isinstance(v, str) for v in (self.subset or {}).values()),
            lambda: f"sample {self.id!r}: subset labels must be strings, got {dict(self.subset)!r}",
        )
        object.__setattr__(self, "input_path", Path(self.input_path))
        for name in ("target_path", "depth_path"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Path(value))
        object.__setattr__(self, "subset", _frozen(self.subset))
        object.__setattr__(self, "params", _frozen(self.params))
        object.__setattr__(self, "aux_paths", _frozen({k: Path(v) for k, v in (self.aux_paths or {}).items()}))

    def paths(self) -> dict[str, Path]:
        """Every file of the sample by role: ``input``, ``target``, ``depth`` and the aux roles."""
        out = {"input": self.input_path}
        if self.target_path is not None:
            out["target"] = self.target_path
        if self.depth_path is not None:
            out["depth"] = self.depth_path
        out.update(self.aux_paths)
        return out

    @property
    def has_metric_depth(self) -> bool:
        return self.depth_kind in ("metres", "metres_f16_inf")

    # -- loading ------------------------------------------------------------------------------
    def load_input(self) -> tuple[torch.Tensor, int]:
        """Input image sRGB float32 (1, 3, H, W) in [0, 1] and its source bit depth."""
        return load_image(self.input_path, name=f"sample {self.id!r} input")

    def load_target(self) -> tuple[torch.Tensor, int] | None:
        """Target image sRGB float32 (1, 3, H, W) in [0, 1] and its bit depth, or ``None`` without one."""
        if self.target_path is None:
            return None
        return load_image(self.target_path, name=f"sample {self.id!r} target")

    def load_depth(self) -> torch.Tensor:
        """Depth in metres, float32 (1, 1, H, W), ``inf`` where there is no surface.

        Raises:
            InvalidInputError: the sample has no depth, or only a relative map (no metric scale).
        """
        check(
            self.depth_path is not None,
            lambda: f"sample {self.id!r} of {self.dataset or 'this dataset'} has no depth map",
        )
        check(
            self.has_metric_depth,
            lambda: f"sample {self.id!r}: depth {str(self.depth_path)!r} is {DEPTH_KINDS[self.depth_kind]}; "
            "it cannot be returned in metres (use load_depth_map() for the raw map)",
        )
        import torch

        from ...io import read_depth

        depth = read_depth(self.depth_path, name=f"sample {self.id!r} depth")
        if self.depth_kind == "metres_f16_inf":
            depth = torch.where(depth >= FLOAT16_MAX, torch.full_like(depth, math.inf), depth)
        check(
            not bool(torch.isnan(depth).any()),
            lambda: f"sample {self.id!r}: depth {str(self.depth_path)!r} contains NaN",
        )
        check(
            bool((depth > 0).all()),
            lambda: (
                f"sample {self.id!r}: depth {str(self.depth_path)!r} has values <= 0 m (minimum {float(depth.min()):g})"
            ),
        )
        return depth

    def load_depth_map(self) -> torch.Tensor:
        """The depth or disparity file as stored, float32 (1, 1, H, W), without unit conversion.

        Image files (PNG/JPEG) are scaled to [0, 1] by their code range (255 or 65535); ``.npy`` and
        ``.exr`` values are returned unchanged. The meaning is :attr:`depth_kind`.
        """
        check(self.depth_path is not None, lambda: f"sample {self.id!r} has no depth map")
        suffix = self.depth_path.suffix.lower()
        if suffix in (".npy", ".exr"):
            from ...io import read_depth

            return read_depth(self.depth_path, name=f"sample {self.id!r} depth")
        image, _ = load_image(self.depth_path, name=f"sample {self.id!r} depth map")
        return image[:, :1].contiguous()

    def load(self, depth: bool = True) -> LoadedSample:
        """Read input, target and (metric) depth into tensors; see :class:`LoadedSample`."""
        x, x_bits = self.load_input()
        target = self.load_target()
        d = self.load_depth() if depth and self.has_metric_depth else None
        y, y_bits = target if target is not None else (None, None)
        if y is not None:
            check(
                tuple(x.shape) == tuple(y.shape),
                lambda: f"sample {self.id!r}: input {str(self.input_path)!r} is {tuple(x.shape[-2:])} (H, W) "
                f"but target {str(self.target_path)!r} is {tuple(y.shape[-2:])}",
            )
        return LoadedSample(sample=self, input=x, target=y, depth=d, input_bit_depth=x_bits, target_bit_depth=y_bits)


@dataclass(frozen=True)
class LoadedSample:
    """Tensors of one sample.

    Attributes:
        sample: the record they came from (id, subset, params ...).
        input: sRGB float32 (1, 3, H, W) in [0, 1].
        target: sRGB float32 (1, 3, H, W) in [0, 1], or ``None``.
        depth: metres float32 (1, 1, H, W) with ``inf`` allowed, or ``None`` (no or relative depth).
        input_bit_depth, target_bit_depth: bits per sample of the source files (8 or 16).
    """

    sample: DatasetSample
    input: torch.Tensor
    target: torch.Tensor | None
    depth: torch.Tensor | None
    input_bit_depth: int
    target_bit_depth: int | None

    @property
    def id(self) -> str:
        return self.sample.id
