"""What a metric is: a declared meaning (:class:`MetricSpec`), one scoring function, one accumulator.

Every metric in refocus-bench is a :class:`RefocusMetric`: a ``torchmetrics.Metric`` whose state is a
running sum and count of per-sample scores (never stored images), built around a single method
``_score(preds, target, **extra) -> (B,)``. The functional form is :meth:`RefocusMetric.score`
(validated inputs -> per-sample scores), the accumulating form is ``update``/``compute``; both call
the same ``_score``, so they cannot disagree.

A metric's meaning is declared, never defaulted (pyiqa once reported FID the wrong way round because
its direction defaulted): ``higher_is_better``, ``reference`` (``"full"`` / ``"none"``), ``value_range``
and ``differentiable`` are required fields of :class:`MetricSpec`, and ``conventions`` pins the choices
that make scores comparable across papers (colour space, data range, border crop, window, weights).
:meth:`RefocusMetric.definition` returns the spec as a dict, to be recorded with every score.

Image contract for every metric: ``torch.float32``/``float64`` tensors of shape (B, 3, H, W), sRGB in
[0, 1]; scores come back as (B,) on the input's device.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar

import torch
from torchmetrics import Metric

from ..errors import InvalidInputError, check, check_tensor

__all__ = [
    "MetricSpec",
    "RefocusMetric",
    "NetworkMetric",
    "MetricSuite",
    "check_image",
    "check_image_pair",
    "REFERENCE_KINDS",
]

REFERENCE_KINDS = {"full", "none"}


@dataclass(frozen=True)
class MetricSpec:
    """The declared meaning of a metric. Direction, reference kind, range and differentiability are
    required (no defaults).

    Attributes:
        name: registry name, ``family.variant``.
        higher_is_better: True when larger scores are better.
        reference: ``"full"`` (needs a target) or ``"none"`` (judges ``preds`` alone).
        value_range: (low, high) bounds of a per-sample score; ``math.inf`` where unbounded.
        differentiable: whether gradients flow from the score to ``preds``.
        conventions: pinned settings (colour space, data range, crop, window, weights ...).
        inputs: names of the inputs ``update``/``score`` take, in order.
        version: bumped whenever a convention or the implementation changes a score.
        description: one line.
    """

    name: str
    higher_is_better: bool
    reference: str
    value_range: tuple[float, float]
    differentiable: bool
    conventions: Mapping[str, Any]
    inputs: tuple[str, ...] = ("preds", "target")
    version: str = "1"
    description: str = ""

    def __post_init__(self) -> None:
        check(isinstance(self.higher_is_better, bool), f"{self.name}: higher_is_better must be a bool")
        check(
            self.reference in REFERENCE_KINDS,
            lambda: f"{self.name}: reference must be one of {sorted(REFERENCE_KINDS)}, got {self.reference!r}",
        )
        lo, hi = self.value_range
        check(lo < hi, lambda: f"{self.name}: value_range must be (low, high) with low < high, got {self.value_range}")
        check(isinstance(self.differentiable, bool), f"{self.name}: differentiable must be a bool")
        check(isinstance(self.conventions, Mapping), f"{self.name}: conventions must be a mapping")

    def with_conventions(self, **changes: Any) -> MetricSpec:
        return replace(self, conventions={**self.conventions, **changes})

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["value_range"] = [_json_float(v) for v in self.value_range]
        d["conventions"] = dict(self.conventions)
        d["inputs"] = list(self.inputs)
        return d


def _json_float(v: float) -> float | str:
    return v if math.isfinite(v) else ("inf" if v > 0 else "-inf")


def check_image(x: Any, name: str) -> dict[str, int]:
    """An sRGB image batch: floating (B, 3, H, W), finite, values in [0, 1]."""
    if isinstance(x, torch.Tensor):
        x = x.detach()
    return check_tensor(x, name, ["B", 3, "H", "W"], min_value=0.0, max_value=1.0)


def check_image_pair(preds: Any, target: Any) -> dict[str, int]:
    """Two image batches of the same shape, device and dtype, both valid :func:`check_image` inputs."""
    check_tensor(preds, "preds", ["B", 3, "H", "W"])
    check_tensor(target, "target", ["B", 3, "H", "W"])
    check(
        preds.shape == target.shape,
        lambda: f"preds and target must have the same shape, got {tuple(preds.shape)} and {tuple(target.shape)}",
    )
    check(
        preds.device == target.device,
        lambda: f"preds and target must be on the same device, got {preds.device} and {target.device}",
    )
    check(
        preds.dtype == target.dtype,
        lambda: f"preds and target must have the same dtype, got {preds.dtype} and {target.dtype}",
    )
    sizes = check_image(preds, "preds")
    check_image(target, "target")
    return sizes


class RefocusMetric(Metric):
    """Base class: a declared :class:`MetricSpec`, a per-sample ``_score`` and sum/count state.

    Subclasses set the class attribute ``spec`` and implement ``_score`` (inputs already validated).
    They may override ``_check_extra`` for cheap checks beyond the shared image checks and
    ``_check_inputs`` when their inputs are not images.

    ``update`` ignores NaN scores (a sample on which the metric is undefined, e.g. an empty region),
    counting only defined ones; ``compute`` is their mean (NaN when none was defined).
    """

    spec: ClassVar[MetricSpec]
    full_state_update = False
    is_differentiable = False
    higher_is_better: bool | None = None

    def __init__(self, **conventions: Any) -> None:
        super().__init__()
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.int64), dist_reduce_fx="sum")
        spec = type(self).spec
        unknown = set(conventions) - set(spec.conventions)
        check(
            not unknown,
            lambda: f"{spec.name}: unknown option(s) {sorted(unknown)}; "
            f"options are the conventions {sorted(spec.conventions)}",
        )
        self.spec = spec.with_conventions(**conventions) if conventions else spec

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("spec")
        if isinstance(spec, MetricSpec):  # torchmetrics' own flags follow the declaration
            cls.higher_is_better = spec.higher_is_better
            cls.is_differentiable = spec.differentiable

    # -- the one implementation -------------------------------------------------------------
    def _score(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> torch.Tensor:
        raise NotImplementedError

    def _check_inputs(self, preds: Any, target: Any = None, **extra: Any) -> None:
        """Full validation (the expensive value checks included)."""
        if self.spec.reference == "full":
            check(target is not None, lambda: f"{self.spec.name} is a full-reference metric: pass target")
            check_image_pair(preds, target)
        else:
            check_image(preds, "preds")
        self._check_extra(preds, target, **extra)

    def _check_extra(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> None:
        """Cheap metric-specific checks (sizes, extra inputs); run by the suite for every metric."""
        names = set(self.spec.inputs[2:] if self.spec.reference == "full" else self.spec.inputs[1:])
        unknown = set(extra) - names
        check(
            not unknown,
            lambda: f"{self.spec.name}: unexpected input(s) {sorted(unknown)}; inputs are {list(self.spec.inputs)}",
        )

    # -- functional form ----------------------------------------------------------------------
    def score(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> torch.Tensor:
        """Validate the inputs and return per-sample scores, shape (B,), on the input's device."""
        self._check_inputs(preds, target, **extra)
        return self._score(preds, target, **extra)

    # -- accumulating form --------------------------------------------------------------------
    def update(self, preds: torch.Tensor, target: torch.Tensor | None = None, **extra: Any) -> None:  # type: ignore[override]
        scores = self.score(preds, target, **extra)
        self._accumulate(scores)

    def _accumulate(self, scores: torch.Tensor) -> None:
        scores = scores.detach().to(device=self.total.device, dtype=torch.float64).reshape(-1)
        defined = ~torch.isnan(scores)
        self.total += scores[defined].sum()
        self.count += defined.sum()

    def compute(self) -> torch.Tensor:
        if int(self.count) == 0:
            return torch.tensor(float("nan"), dtype=torch.float64, device=self.total.device)
        return self.total / self.count

    def definition(self) -> dict[str, Any]:
        """The metric's declared meaning and pinned conventions, to record with its scores."""
        return self.spec.as_dict()

    def extra_repr(self) -> str:
        return f"name={self.spec.name!r}, higher_is_better={self.spec.higher_is_better}"


class NetworkMetric(RefocusMetric):
    """A metric that scores with a frozen network held as the child module ``self.net``.

    Being a child module, the network moves with ``.to(device)`` and appears in ``state_dict()``
    (keys ``net.*``), as in torchmetrics. It stays in eval mode whatever ``train()`` is called with.
    When ``_score`` receives inputs on another device than the network, the network is moved there
    in place (one copy, no per-device cache); the running sum and count stay where they are.
    """

    net: torch.nn.Module

    def __init__(self, net: torch.nn.Module, **conventions: Any) -> None:
        super().__init__(**conventions)
        self.net = net.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> NetworkMetric:
        super().train(mode)
        self.net.eval()
        return self

    def _net_on(self, device: torch.device) -> torch.nn.Module:
        """``self.net``, moved in place to ``device`` first if it is elsewhere."""
        first = next(itertools.chain(self.net.parameters(), self.net.buffers()), None)
        if first is not None and first.device != device:
            self.net.to(device)
        return self.net


@dataclass
class SuiteResult:
    """Per-sample scores of every metric of a suite, with their definitions and timings."""

    scores: dict[str, torch.Tensor]
    definitions: dict[str, dict[str, Any]]
    seconds: dict[str, float] = field(default_factory=dict)

    def means(self) -> dict[str, float]:
        return {
            k: float(v[~torch.isnan(v)].double().mean()) if bool((~torch.isnan(v)).any()) else math.nan
            for k, v in self.scores.items()
        }


class MetricSuite:
    """Several metrics evaluated together on the same inputs, validating the images once.

    Args:
        metrics: metric instances, or registry names (created with default conventions).

    Example:
        >>> suite = MetricSuite(["psnr.rgb", "mae.rgb"])
        >>> x = torch.rand(2, 3, 32, 32)
        >>> res = suite(x, x.flip(-1))
        >>> sorted(res.scores), tuple(res.scores["mae.rgb"].shape)
        (['mae.rgb', 'psnr.rgb'], (2,))
    """

    def __init__(self, metrics: Sequence[RefocusMetric | str]) -> None:
        from . import create_metric

        self.metrics: list[RefocusMetric] = [create_metric(m) if isinstance(m, str) else m for m in metrics]
        names = [m.spec.name for m in self.metrics]
        check(len(set(names)) == len(names), lambda: f"metric names in a suite must be unique, got {names}")
        for m in self.metrics:
            check(isinstance(m, RefocusMetric), lambda: f"suite entries must be RefocusMetric, got {type(m).__name__}")

    @property
    def names(self) -> list[str]:
        return [m.spec.name for m in self.metrics]

    def __call__(
        self, preds: torch.Tensor, target: torch.Tensor | None = None, *, accumulate: bool = False, **extra: Any
    ) -> SuiteResult:
        """Score ``preds`` (and ``target``) with every metric; extra inputs go to the metrics that take them.

        With ``accumulate=True`` each metric's running state is updated too.
        """
        needs_target = any(m.spec.reference == "full" for m in self.metrics)
        if needs_target:
            check(target is not None, "this suite has full-reference metrics: pass target")
            check_image_pair(preds, target)
        else:
            check_image(preds, "preds")
        scores: dict[str, torch.Tensor] = {}
        seconds: dict[str, float] = {}
        for m in self.metrics:
            kw = {k: v for k, v in extra.items() if k in m.spec.inputs}
            tgt = target if m.spec.reference == "full" else None
            t0 = time.perf_counter()
            m._check_extra(preds, tgt, **kw)
            s = m._score(preds, tgt, **kw)
            seconds[m.spec.name] = time.perf_counter() - t0
            if accumulate:
                m._accumulate(s)
            scores[m.spec.name] = s
        unused = set(extra) - {i for m in self.metrics for i in m.spec.inputs}
        check(not unused, lambda: f"no metric in the suite takes input(s) {sorted(unused)}", exc=InvalidInputError)
        return SuiteResult(scores, {m.spec.name: m.definition() for m in self.metrics}, seconds)
