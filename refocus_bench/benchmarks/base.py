"""Benchmark definitions: a declarative, versioned spec plus a sample source.

A :class:`Benchmark` is what the evaluation runner consumes: a :class:`BenchmarkSpec` (the pinned
definition: task, data source, preprocessing, metrics, headline metric, protocol, version) and an
ordered set of :class:`BenchmarkSample` records. Its :meth:`Benchmark.content_hash` is the sha256 of
the samples' bytes, so a results record says exactly which data it was computed on.

Tensor contract of a sample (one sample = a batch of one):

* ``image``: input, sRGB in [0, 1], float32 (1, 3, H, W).
* ``target``: ground truth, sRGB in [0, 1], float32 (1, 3, H, W), or None (no-reference benchmarks).
* ``condition``: keyword arguments of the model call for the task: for ``bokeh`` / ``refocus``
  ``depth_m`` (1, 1, H, W) metres (inf allowed), ``focus_distance_m`` (float, metres),
  ``k_px_m`` (float, pixel-metres) and ``aperture`` (registry name); for ``deblur`` optionally
  ``coc_px`` (1, 1, H, W) signed pixels, passed to the model only when the spec's protocol allows an
  oracle; for ``lens-to-lens`` ``src_lens`` and ``tgt_lens`` (lens names, e.g. ``"Sony50mmf1.8BS"``),
  ``disparity`` (float, the dataset's blur-strength indicator) and ``alpha`` (1, 1, H, W) in [0, 1]
  (:class:`~refocus_bench.tasks.LensToLensCondition`).
* ``subset``: string labels for per-subset breakdowns (``{"aperture": "hexagon", "scene": "indoor"}``).
* ``metric_inputs``: extra keyword arguments of the *metrics*, never passed to the model, keyed by the
  metric's input name: ``coc`` (1, 1, H, W) signed CoC radius (px) of the target for the bokeh-aware
  region metrics (``bokeh.psnr_edge_band`` ...).

Condition keys in :data:`ORACLE_CONDITION_KEYS` (``coc_px`` for deblur, ``input_coc_px`` for refocus) are
oracle hints: the runner passes them to the model only under the ``oracle_coc`` protocol.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import check
from ..hashing import sha256_hasher
from ..tasks import TASKS

__all__ = ["ORACLE_CONDITION_KEYS", "BenchmarkSpec", "BenchmarkSample", "Benchmark", "update_digest"]

ORACLE_CONDITION_KEYS = ("coc_px", "input_coc_px")
"""Condition keys that carry ground-truth defocus: passed to the model only under the ``oracle_coc`` protocol."""


@dataclass(frozen=True)
class BenchmarkSpec:
    """The pinned, versioned definition of a benchmark. Bump ``version`` whenever data or conventions change.

    Attributes:
        name: registry name, e.g. ``"synthetic-deblur"``.
        version: string version of the definition.
        task: one of ``TASKS``.
        description: one line.
        headline_metric: metric registry name used to rank the leaderboard (its direction comes
            from the metric's ``MetricSpec.higher_is_better``).
        metrics: metric registry names computed by default (includes ``headline_metric``).
        source: where the data comes from: ``{"kind": "generated", ...generator params, seed}`` or
            ``{"kind": "dataset", "dataset": name, "split": ..., "layout": ...}``.
        preprocessing: pinned conventions such as ``{"crop_multiple": 8, "border_crop_px": 0}``.
        protocol: how the model is called, e.g. ``{"name": "direct"}``, ``{"name": "oracle_coc"}``,
            ``{"name": "oracle_blur_strength", "objective": "ssim.rgb"}`` or an LVCorr sweep.
        subsets: names of the ``subset`` labels its samples carry.
        licence: data licence.
        citation: BibTeX or a reference string.
    """

    name: str
    version: str
    task: str
    description: str
    headline_metric: str
    metrics: tuple[str, ...]
    source: Mapping[str, Any]
    preprocessing: Mapping[str, Any] = field(default_factory=dict)
    protocol: Mapping[str, Any] = field(default_factory=lambda: {"name": "direct"})
    subsets: tuple[str, ...] = ()
    licence: str = "see source"
    citation: str = ""

    def __post_init__(self) -> None:
        check(isinstance(self.name, str) and bool(self.name), "BenchmarkSpec.name must be a non-empty string")
        check(self.task in TASKS, lambda: f"{self.name}: task must be one of {TASKS}, got {self.task!r}")
        check(
            self.headline_metric in self.metrics,
            lambda: f"{self.name}: headline_metric {self.headline_metric!r} must be one of metrics {self.metrics}",
        )
        check(
            isinstance(self.version, str) and bool(self.version),
            lambda: f"{self.name}: version must be a non-empty string",
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready definition (the ``benchmark.definition`` field of a results record)."""
        d = asdict(self)
        d["metrics"] = list(self.metrics)
        d["subsets"] = list(self.subsets)
        d["source"], d["preprocessing"], d["protocol"] = (
            dict(self.source),
            dict(self.preprocessing),
            dict(self.protocol),
        )
        return json.loads(json.dumps(d, sort_keys=True))


@dataclass(frozen=True)
class BenchmarkSample:
    """One evaluation sample (a batch of one); see the module docstring for the tensor contract."""

    id: str
    image: Any
    target: Any | None
    condition: Mapping[str, Any] = field(default_factory=dict)
    subset: Mapping[str, str] = field(default_factory=dict)
    metric_inputs: Mapping[str, Any] = field(default_factory=dict)


def update_digest(h: Any, value: Any) -> None:
    """Feed ``value`` into the streaming sha256 ``h`` (:func:`~refocus_bench.hashing.sha256_hasher`) deterministically.

    Tensors go in as float32 little-endian bytes, arrays with their dtype, mappings key by sorted key.
    """
    import numpy as np
    import torch

    if isinstance(value, torch.Tensor):
        arr = value.detach().to("cpu", torch.float32).contiguous().numpy()
        h.update(f"tensor{list(arr.shape)}".encode())
        h.update(arr.astype("<f4", copy=False).tobytes())
    elif isinstance(value, np.ndarray):
        h.update(f"array{list(value.shape)}{value.dtype.str}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, Mapping):
        for k in sorted(value):
            h.update(f"key:{k};".encode())
            update_digest(h, value[k])
    elif value is None or isinstance(value, (bool, int, float, str)):
        h.update(json.dumps(value).encode())
    else:
        raise TypeError(f"cannot hash a {type(value).__name__} in a benchmark sample")


class Benchmark(ABC):
    """A spec plus an ordered sample source. Subclasses implement :meth:`sample_ids` and :meth:`load`."""

    spec: BenchmarkSpec

    def prepare(self, progress: bool = True) -> None:  # noqa: B027 - optional hook, not abstract
        """Build or verify whatever the samples need (generate and cache, validate a dataset copy).

        The default does nothing: a benchmark whose samples need no preparation keeps it.
        """

    @abstractmethod
    def sample_ids(self) -> list[str]:
        """Sample ids in the benchmark's fixed order."""

    @abstractmethod
    def load(self, sample_id: str) -> BenchmarkSample:
        """The sample ``sample_id`` with tensors on the CPU."""

    def __len__(self) -> int:
        return len(self.sample_ids())

    def __iter__(self) -> Iterator[BenchmarkSample]:
        for sid in self.sample_ids():
            yield self.load(sid)

    def content_hash(self) -> str:
        """sha256 (hex) over the definition's data-relevant fields and every sample's id, subset and tensors.

        Subclasses that cache data may store this value and return it without reloading.
        """
        h = sha256_hasher()
        h.update(
            json.dumps(
                {"name": self.spec.name, "version": self.spec.version, "task": self.spec.task}, sort_keys=True
            ).encode()
        )
        for s in self:
            fields = {
                "id": s.id,
                "subset": dict(s.subset),
                "image": s.image,
                "target": s.target,
                "condition": dict(s.condition),
            }
            if s.metric_inputs:  # only when present: hashes of samples without them are unchanged
                fields["metric_inputs"] = dict(s.metric_inputs)
            update_digest(h, fields)
        return h.hexdigest()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.name!r}, version={self.spec.version!r}, task={self.spec.task!r})"
