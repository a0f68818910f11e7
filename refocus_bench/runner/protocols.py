"""Evaluation protocols: how the runner calls a model on one benchmark sample and what it scores.

In this codebase "protocol" means only this: the evaluation protocol that a benchmark's
``spec.protocol`` names, stored in every results record under ``"protocol"``. The typing interfaces
a model implements are the *task interfaces* of :mod:`refocus_bench.tasks`; the search for the blur
gain K that best matches a target is the *oracle-K search*, :mod:`refocus_bench.metrics.oracle_k`.

A benchmark's ``spec.protocol`` is one of:

* ``{"name": "direct"}``: ``model.<task>(image, **condition)`` without oracle hints (for
  ``lens-to-lens`` the method is ``model.lens_to_lens``; :func:`refocus_bench.tasks.task_method`).
* ``{"name": "oracle_coc"}``: as ``direct``, plus the input's true signed CoC: ``coc_px`` for
  ``deblur``, ``input_coc_px`` for ``refocus`` (when the sample has it); ``bokeh`` inputs are sharp,
  so it is the same as ``direct`` there.
* ``{"name": "oracle_blur_strength", "objective": "ssim.rgb", "k_range_px_m": [lo, hi],
  "iterations": N}`` (``bokeh`` / ``refocus``): per sample, the blur gain K (px*m) whose rendering
  maximises ``objective`` against the target is found by
  :func:`~refocus_bench.metrics.oracle_k.oracle_blur_strength` (grid scan + golden section, at most
  N renderings; optional ``"scale"``: ``"log"``/``"linear"``, ``"grid"``) and the metrics score that
  rendering. The chosen K is recorded per sample.
* ``{"name": "lvcorr_sweep", "k_values_px_m": [k1, k2, ...]}`` (``bokeh`` / ``refocus``, N >= 3):
  the sample is rendered at every K and the ``lvcorr.*`` metrics score the sweep; a full-reference
  one (``lvcorr.genphoto``) compares it with the sample's ``metric_inputs["target_sweep"]``
  (1, N, 3, H, W), the ground truth at the same K values.

Model keyword arguments come from ``sample.condition``: for ``bokeh``/``refocus``/``lens-to-lens`` the
keys of :data:`MODEL_KEYS`; every other condition key, and every key of ``sample.metric_inputs``, is only
offered to metrics that declare it among their inputs (``metric_inputs`` first). A metric input
``coc`` (the region metrics) defaults to the target's signed CoC computed from ``depth_m``, ``k_px_m``
and ``focus_distance_m`` (``bokeh`` / ``refocus``) or to the input's ``coc_px`` (``deblur``).

Scores skip ``spec.preprocessing["border_crop_px"]`` pixels on every side (images, targets and maps
of the image size), when the benchmark pins one. An ``lvcorr_sweep`` option ``"metric"`` only names
the headline and is otherwise ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ..errors import InvalidInputError, RefocusBenchError, check
from ..tasks import task_method

__all__ = [
    "PROTOCOLS",
    "MODEL_KEYS",
    "BATCH_PROTOCOLS",
    "Prediction",
    "InvalidOutputError",
    "check_output",
    "check_protocol",
    "predict",
    "predict_batch",
    "batch_key",
    "metric_inputs",
    "extra_input_names",
]

PROTOCOLS = {
    "direct": {"tasks": ("deblur", "bokeh", "refocus", "lens-to-lens"), "options": set(), "required": set()},
    "oracle_coc": {"tasks": ("deblur", "bokeh", "refocus"), "options": set(), "required": set()},
    "oracle_blur_strength": {
        "tasks": ("bokeh", "refocus"),
        "options": {"objective", "k_range_px_m", "iterations", "scale", "grid"},
        "required": {"k_range_px_m"},
    },
    "lvcorr_sweep": {
        "tasks": ("bokeh", "refocus"),
        "options": {"k_values_px_m", "metric"},
        "required": {"k_values_px_m"},
    },
}
"""Protocol name -> the tasks it applies to, its options and the required ones."""

MODEL_KEYS = {
    "deblur": (),
    "bokeh": ("depth_m", "focus_distance_m", "k_px_m", "lens", "aperture"),
    "refocus": ("depth_m", "focus_distance_m", "k_px_m", "lens", "aperture"),
    "lens-to-lens": ("src_lens", "tgt_lens", "disparity", "alpha"),
}
"""Condition keys passed to the model for each task (oracle hints are added by the protocol)."""

BATCH_PROTOCOLS = ("direct", "oracle_coc")
"""Protocols under which several samples can share one model call."""

ORACLE_KEYS = {"deblur": ("coc_px", "coc_px"), "refocus": ("input_coc_px", "input_coc_px")}
"""task -> (condition key, model keyword) of the oracle CoC hint."""


@dataclass
class Prediction:
    """What the model produced for one sample.

    Attributes:
        image: the prediction scored by image metrics, (1, 3, H, W) sRGB (for a sweep: the middle one).
        sweep: ``lvcorr_sweep`` only: (1, N, 3, H, W) renderings and (1, N) strengths.
        info: JSON-ready protocol facts to record (the oracle's chosen K ...).
    """

    image: torch.Tensor
    sweep: tuple[torch.Tensor, torch.Tensor] | None = None
    info: dict[str, Any] = field(default_factory=dict)


def check_protocol(protocol: Mapping[str, Any], task: str) -> dict[str, Any]:
    """Validate a protocol mapping for ``task``; returns it as a plain dict with defaults filled in.

    Raises:
        InvalidInputError: unknown protocol, option or task, or a bad option value.
    """
    check(
        isinstance(protocol, Mapping) and "name" in protocol,
        lambda: f"a benchmark protocol must be a mapping with a 'name', got {protocol!r}",
    )
    name = protocol["name"]
    check(name in PROTOCOLS, lambda: f"unknown evaluation protocol {name!r}; known protocols: {sorted(PROTOCOLS)}")
    info = PROTOCOLS[name]
    check(task in info["tasks"], lambda: f"protocol {name!r} applies to tasks {list(info['tasks'])}, not {task!r}")
    options = set(protocol) - {"name"}
    unknown = options - info["options"]
    check(
        not unknown,
        lambda: f"protocol {name!r}: unknown option(s) {sorted(unknown)}; options are {sorted(info['options'])}",
    )
    missing = info["required"] - options
    check(not missing, lambda: f"protocol {name!r}: missing option(s) {sorted(missing)}")
    out = dict(protocol)
    if name == "oracle_blur_strength":
        lo, hi = _pair(out["k_range_px_m"], "k_range_px_m")
        out["k_range_px_m"] = [lo, hi]
        out.setdefault("objective", "ssim.rgb")
        out.setdefault("iterations", 60)
        out.setdefault("scale", "log")
        out.setdefault("grid", min(9, int(out["iterations"])))
        check(
            isinstance(out["iterations"], int) and out["iterations"] >= 3,
            lambda: f"protocol oracle_blur_strength: iterations must be an int >= 3, got {out['iterations']!r}",
        )
        check(
            isinstance(out["grid"], int) and 3 <= out["grid"] <= out["iterations"],
            lambda: f"protocol oracle_blur_strength: grid must be an int in [3, iterations], got {out['grid']!r}",
        )
    if name == "lvcorr_sweep":
        ks = out["k_values_px_m"]
        check(
            isinstance(ks, Sequence) and len(ks) >= 3 and all(_finite_nonneg(k) for k in ks),
            lambda: f"protocol lvcorr_sweep: k_values_px_m must list >= 3 finite values >= 0, got {ks!r}",
        )
        out["k_values_px_m"] = [float(k) for k in ks]
    return out


def _finite_nonneg(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def _pair(v: Any, name: str) -> tuple[float, float]:
    ok = isinstance(v, Sequence) and len(v) == 2 and all(_finite_nonneg(x) for x in v) and v[0] < v[1]
    check(ok, lambda: f"protocol option {name} must be [low, high] with 0 <= low < high, got {v!r}")
    return float(v[0]), float(v[1])


def model_kwargs(task: str, condition: Mapping[str, Any], protocol: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments of ``model.<task>(image, ...)`` for one sample under ``protocol``."""
    kw = {k: condition[k] for k in MODEL_KEYS[task] if k in condition}
    if protocol["name"] == "oracle_coc" and task in ORACLE_KEYS:
        key, arg = ORACLE_KEYS[task]
        if condition.get(key) is not None:
            kw[arg] = condition[key]
    return kw


class InvalidOutputError(RefocusBenchError):
    """A model output the runner cannot score: the sample is recorded as failed, the run goes on."""


def check_output(out: Any, image: torch.Tensor) -> torch.Tensor:
    """``out`` if it is a usable prediction for ``image``, else :class:`InvalidOutputError` saying why.

    Usable: a tensor of the input's dtype and shape (B, 3, H, W) whose values are all finite, the
    border that scoring skips included (a NaN there would otherwise be scored as clean and break
    the example PNG).

    Example:
        >>> x = torch.zeros(1, 3, 4, 4)
        >>> check_output(x.clone(), x).shape
        torch.Size([1, 3, 4, 4])
        >>> y = x.clone(); y[0, 1, 0, 3] = float("nan")
        >>> try:
        ...     check_output(y, x)
        ... except InvalidOutputError as err:
        ...     print(str(err).split(";")[0])
        1 NaN and 0 inf values of 48 (first at y=0, x=3)
    """
    if not isinstance(out, torch.Tensor):
        raise InvalidOutputError(f"a {type(out).__name__}, expected a torch.Tensor")
    if out.dtype != image.dtype:
        raise InvalidOutputError(f"dtype {out.dtype}, expected {image.dtype} (the input's)")
    if tuple(out.shape) != tuple(image.shape):
        raise InvalidOutputError(f"shape {tuple(out.shape)}, expected {tuple(image.shape)} (the input's)")
    bad = ~torch.isfinite(out)
    if bool(bad.any()):
        n_bad, n_nan = int(bad.sum()), int(torch.isnan(out).sum())
        y, x = (int(v) for v in bad.nonzero()[0][-2:])
        raise InvalidOutputError(
            f"{n_nan} NaN and {n_bad - n_nan} inf values of {out.numel()} (first at y={y}, x={x}); "
            "every value must be finite, the border that scoring skips included"
        )
    return out


def _call(model: Any, task: str, image: torch.Tensor, kw: Mapping[str, Any]) -> torch.Tensor:
    """One model call; its output is checked (:func:`check_output`)."""
    if task in ("deblur", "lens-to-lens"):  # keyword arguments only
        return check_output(getattr(model, task_method(task))(image, **kw), image)
    kw = dict(kw)
    depth = kw.pop("depth_m", None)
    return check_output(getattr(model, task)(image, depth, **kw), image)


def _objective(protocol: Mapping[str, Any], metric_factory: Any) -> Any:
    name = protocol["objective"]
    if name == "ssim.rgb":
        return None  # oracle_blur_strength's built-in SSIM (same conventions as ssim.rgb)
    metric = metric_factory(name)
    sign = 1.0 if metric.spec.higher_is_better else -1.0

    def score(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return sign * metric.score(p, t)

    score.__name__ = name
    return score


def predict(
    model: Any, task: str, sample: Any, protocol: Mapping[str, Any], *, device: str = "cpu", metric_factory: Any = None
) -> Prediction:
    """Run ``model`` on ``sample`` under ``protocol`` (already checked with :func:`check_protocol`)."""
    image = sample.image.to(device)
    cond = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in dict(sample.condition).items()}
    kw = model_kwargs(task, cond, protocol)
    name = protocol["name"]
    if name in ("direct", "oracle_coc"):
        return Prediction(_call(model, task, image, kw))
    if name == "oracle_blur_strength":
        from ..metrics.oracle_k import oracle_blur_strength

        check(sample.target is not None, "protocol oracle_blur_strength needs a target image")
        kw.pop("lens", None)
        target = sample.target.to(device)
        res = oracle_blur_strength(
            lambda k: _call(model, task, image, {**kw, "k_px_m": float(k)}),
            target,
            tuple(protocol["k_range_px_m"]),
            scale=protocol["scale"],
            grid=protocol["grid"],
            max_evals=protocol["iterations"],
            score=_objective(protocol, metric_factory),
        )
        info = {
            "k_px_m": float(res.value),
            "objective": protocol["objective"],
            "objective_score": _json_num(res.score),
            "evaluations": len(res.evaluations),
            "converged": bool(res.converged),
        }
        return Prediction(res.image, info=info)
    if name == "lvcorr_sweep":
        kw.pop("lens", None)
        ks = protocol["k_values_px_m"]
        renders = torch.stack([_call(model, task, image, {**kw, "k_px_m": k})[0] for k in ks])[None]
        strengths = torch.tensor([ks], dtype=renders.dtype, device=renders.device)
        return Prediction(renders[0, len(ks) // 2][None], sweep=(renders, strengths), info={"k_values_px_m": list(ks)})
    raise InvalidInputError(f"unknown evaluation protocol {name!r}; known protocols: {sorted(PROTOCOLS)}")


def batch_key(sample: Any) -> tuple:
    """Samples with equal keys can be stacked: tensor shapes and every non-tensor condition value."""
    parts: list[Any] = [tuple(sample.image.shape)]
    for k in sorted(sample.condition):
        v = sample.condition[k]
        if isinstance(v, torch.Tensor):
            parts.append((k, "tensor", tuple(v.shape), str(v.dtype)))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            parts.append((k, "number"))
        else:
            parts.append((k, "value", repr(v)))
    return tuple(parts)


def predict_batch(
    model: Any, task: str, samples: Sequence[Any], protocol: Mapping[str, Any], *, device: str = "cpu"
) -> list[Prediction]:
    """One model call on samples with equal :func:`batch_key` (``direct`` / ``oracle_coc`` only)."""
    check(protocol["name"] in BATCH_PROTOCOLS, lambda: f"protocol {protocol['name']!r} evaluates one sample at a time")
    image = torch.cat([s.image for s in samples]).to(device)
    cond: dict[str, Any] = {}
    for k, v in samples[0].condition.items():
        if isinstance(v, torch.Tensor):
            cond[k] = torch.cat([s.condition[k] for s in samples]).to(device)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            cond[k] = torch.tensor([float(s.condition[k]) for s in samples], dtype=torch.float64, device=device)
        else:
            cond[k] = v
    out = _call(model, task, image, model_kwargs(task, cond, protocol))
    return [Prediction(out[i : i + 1]) for i in range(len(samples))]


def _json_num(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def extra_input_names(metric: Any) -> tuple[str, ...]:
    """The inputs a metric takes beyond ``preds`` (and ``target`` for a full-reference metric)."""
    spec = metric.spec
    return tuple(spec.inputs[2:] if spec.reference == "full" else spec.inputs[1:])


def metric_inputs(
    metric: Any, task: str, sample: Any, pred: Prediction, device: str = "cpu", border_px: int = 0
) -> tuple[Any, Any, dict[str, Any]]:
    """(preds, target, extra) for ``metric.score`` on one sample.

    Extra inputs come from ``sample.metric_inputs``, then ``sample.condition``, then the defaults (see
    the module docstring). ``border_px`` > 0 (the benchmark's ``preprocessing["border_crop_px"]``) crops
    that many pixels off every side of the images and of the extra maps of the same size.

    Raises:
        InvalidInputError: the sample lacks an input the metric needs.
    """
    cond = {**dict(sample.condition), **dict(getattr(sample, "metric_inputs", None) or {})}
    extra: dict[str, Any] = {}
    preds = pred.image
    for name in extra_input_names(metric):
        if name == "strengths":
            check(
                pred.sweep is not None,
                lambda: f"{metric.spec.name} needs the lvcorr_sweep protocol (a sweep of blur strengths)",
            )
            preds, extra[name] = pred.sweep
        elif cond.get(name) is not None:
            extra[name] = cond[name]
        elif name == "coc":
            extra[name] = _default_coc(task, cond)
        else:
            raise InvalidInputError(
                f"{metric.spec.name} needs the input {name!r}, which sample {sample.id!r} does not provide"
            )
        if isinstance(extra[name], torch.Tensor):
            extra[name] = extra[name].to(device)
    target = None
    if metric.spec.reference == "full" and "strengths" in extra:  # a sweep metric: the reference sweep
        sweep = cond.get("target_sweep")
        check(
            sweep is not None,
            lambda: f"{metric.spec.name} compares the sweep with a reference sweep, and sample {sample.id!r} "
            "has no metric input 'target_sweep' (1, N, 3, H, W)",
        )
        target = sweep.to(device=preds.device, dtype=preds.dtype)
    elif metric.spec.reference == "full":
        check(
            sample.target is not None,
            lambda: f"{metric.spec.name} is full-reference but sample {sample.id!r} has no target",
        )
        target = sample.target.to(device=preds.device, dtype=preds.dtype)
    if border_px > 0:
        h, w = preds.shape[-2:]
        check(min(h, w) > 2 * border_px, lambda: f"images of {h}x{w} px are too small for a {border_px} px border crop")
        preds = _crop(preds, border_px)
        target = None if target is None else _crop(target, border_px)
        extra = {
            k: _crop(v, border_px)
            if isinstance(v, torch.Tensor) and v.ndim >= 2 and tuple(v.shape[-2:]) == (h, w)
            else v
            for k, v in extra.items()
        }
    return preds, target, extra


def _crop(x: torch.Tensor, b: int) -> torch.Tensor:
    return x[..., b:-b, b:-b]


def _default_coc(task: str, cond: Mapping[str, Any]) -> torch.Tensor:
    from .. import optics

    if task == "deblur":
        check(cond.get("coc_px") is not None, "the metric input 'coc' needs the sample condition 'coc_px' (deblur)")
        return cond["coc_px"]
    need = ("depth_m", "k_px_m", "focus_distance_m")
    check(
        all(cond.get(k) is not None for k in need),
        lambda: f"the metric input 'coc' needs the sample condition {list(need)} or 'coc'",
    )
    return optics.coc_radius_from_k(cond["depth_m"], cond["k_px_m"], cond["focus_distance_m"]).to(torch.float32)
