"""Typed errors and cheap input checks shared by the whole toolkit.

Every public function validates its inputs first, with messages that name the argument and the
accepted range (never ``assert``, which disappears under ``python -O``). Errors subclass both
:class:`RefocusBenchError` (catch-all for the toolkit) and the matching builtin, so callers can
catch ``ValueError`` / ``KeyError`` / ``FileNotFoundError`` as usual.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported lazily so that light tools (harvest, leaderboards) start fast
    import torch

__all__ = [
    "RefocusBenchError",
    "InvalidInputError",
    "UnknownNameError",
    "MissingFileError",
    "check",
    "check_tensor",
    "check_positive",
    "as_batch_param",
]


class RefocusBenchError(Exception):
    """Base class of every error raised on purpose by refocus-bench."""


class InvalidInputError(RefocusBenchError, ValueError):
    """An argument has the wrong type, shape, dtype or value."""


class UnknownNameError(RefocusBenchError, KeyError):
    """A registry lookup failed; the message lists close matches."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class MissingFileError(RefocusBenchError, FileNotFoundError):
    """A required local file (weights, data, tool) is missing; the message says where to put it."""


def check(cond: bool, message: str | Callable[[], str], exc: type[Exception] = InvalidInputError) -> None:
    """Raise ``exc(message)`` unless ``cond``; ``message`` may be a lazy callable."""
    if not cond:
        raise exc(message() if callable(message) else message)


def _shape_str(shape: Sequence[int]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def check_tensor(
    x: Any,
    name: str,
    shape: Sequence[str | int] | None = None,
    *,
    allow_inf: bool = False,
    min_value: float | None = None,
    max_value: float | None = None,
    device: Any = None,
) -> dict[str, int]:
    """Validate a floating-point tensor argument and return the sizes bound to symbolic dims.

    Args:
        x: the value to check.
        name: argument name used in messages.
        shape: expected dims; ints must match, strings bind symbolic sizes (the same string must
            bind the same size), e.g. ``["B", 3, "H", "W"]``.
        allow_inf: accept +-inf (NaN is never accepted).
        min_value, max_value: inclusive bounds on finite values.
        device: if given, the ``torch.device`` the tensor must be on (e.g. the image's).

    Returns:
        The bound symbolic sizes, e.g. ``{"B": 2, "H": 64, "W": 64}``.

    Example:
        >>> import torch
        >>> check_tensor(torch.zeros(2, 3, 4, 5), "image", ["B", 3, "H", "W"])
        {'B': 2, 'H': 4, 'W': 5}
    """
    import torch

    check(isinstance(x, torch.Tensor), lambda: f"{name} must be a torch.Tensor, got {type(x).__name__}")
    sizes: dict[str, int] = {}
    if shape is not None:
        expected = "(" + ", ".join(str(s) for s in shape) + ")"
        check(
            x.ndim == len(shape),
            lambda: f"{name} must have shape {expected}, got {_shape_str(x.shape)}",
        )
        for want, got in zip(shape, x.shape):
            if isinstance(want, int):
                check(got == want, lambda: f"{name} must have shape {expected}, got {_shape_str(x.shape)}")
            else:
                if want in sizes:
                    check(
                        sizes[want] == got,
                        lambda: f"{name} must have shape {expected} with consistent {want}, got {_shape_str(x.shape)}",
                    )
                sizes[want] = got
    check(x.numel() > 0, lambda: f"{name} must not be empty, got shape {_shape_str(x.shape)}")
    if device is not None:
        check(
            x.device == torch.device(device),
            lambda: f"{name} must be on the same device as the image ({device}), got {x.device}",
        )
    check(
        x.is_floating_point(),
        lambda: f"{name} must be a floating-point tensor (float32 or float64), got {x.dtype}",
    )
    x = x.detach()
    # one pass: min and max propagate NaN and show infinities
    lo, hi = (float(v) for v in torch.aminmax(x))
    check(not (math.isnan(lo) or math.isnan(hi)), lambda: f"{name} contains NaN values")
    if not allow_inf:
        check(math.isfinite(lo) and math.isfinite(hi), lambda: f"{name} contains infinite values")
    elif (min_value is not None or max_value is not None) and not (math.isfinite(lo) and math.isfinite(hi)):
        finite = x[torch.isfinite(x)]  # bounds apply to the finite values
        lo, hi = (float(v) for v in torch.aminmax(finite)) if finite.numel() else (math.inf, -math.inf)
    if min_value is not None and math.isfinite(lo):
        check(lo >= min_value, lambda: f"{name} must be >= {min_value}, got minimum {lo:g}")
    if max_value is not None and math.isfinite(hi):
        check(hi <= max_value, lambda: f"{name} must be <= {max_value}, got maximum {hi:g}")
    return sizes


def check_positive(value: Any, name: str, *, strict: bool = True, unit: str = "") -> None:
    """Check that a scalar or tensor parameter is finite and > 0 (or >= 0 when ``strict=False``)."""
    import torch

    suffix = f" {unit}" if unit else ""
    op = ">" if strict else ">="
    if isinstance(value, torch.Tensor):
        check(value.numel() > 0, lambda: f"{name} must not be empty")
        check(
            value.is_floating_point() or not value.dtype.is_complex,
            lambda: f"{name} must be real-valued, got {value.dtype}",
        )
        v = value.double()
        check(bool(torch.isfinite(v).all()), lambda: f"{name} must be finite, got {value.tolist()}")
        ok = bool((v > 0).all()) if strict else bool((v >= 0).all())
        check(ok, lambda: f"{name} must be {op} 0{suffix}, got {value.tolist()}")
        return
    check(
        isinstance(value, (int, float)) and not isinstance(value, bool),
        lambda: f"{name} must be a number or a tensor, got {type(value).__name__}",
    )
    check(math.isfinite(value), lambda: f"{name} must be finite, got {value}")
    check(value > 0 if strict else value >= 0, lambda: f"{name} must be {op} 0{suffix}, got {value}")


def as_batch_param(
    value: float | torch.Tensor, name: str, batch: int, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """Turn a per-sample parameter (a scalar or a (B,) tensor) into a (B,) tensor on ``device``."""
    import torch

    if isinstance(value, torch.Tensor):
        check(
            value.ndim == 0 or (value.ndim == 1 and value.shape[0] in (1, batch)),
            lambda: f"{name} must be a scalar or a tensor of shape ({batch},), got {tuple(value.shape)}",
        )
        return value.to(device=device, dtype=dtype).reshape(-1).expand(batch).clone()
    check(
        isinstance(value, (int, float)) and not isinstance(value, bool),
        lambda: f"{name} must be a number or a (B,) tensor, got {type(value).__name__}",
    )
    return torch.full((batch,), float(value), device=device, dtype=dtype)
