"""Model cards and weight-file descriptions: what ``refocus-bench models list`` prints.

Plain dataclasses with no tensor in them, so listing models and building the CLI's help import no
torch. :class:`~refocus_bench.models.base.RefocusModel` subclasses carry a :class:`ModelCard` as
their ``card`` class attribute.

Example:
    >>> WeightsFile("tiny.safetensors", None, "package", "scripts/train_tiny.py", "Apache-2.0").location
    'package'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import check
from ..tasks import TASKS

__all__ = ["LOCATIONS", "WeightsFile", "ModelCard"]

LOCATIONS = {"package", "cache", "user"}
"""Where a weight file lives: shipped in the wheel, in ``$REFOCUS_BENCH_HOME``, or a user path."""


@dataclass(frozen=True)
class WeightsFile:
    """One weight file of a model.

    Attributes:
        filename: file name (safetensors), looked up according to ``location``.
        sha256: sha256 of the file; ``None`` when the publisher released no hash (then the file's
            hash is computed and reported, never trusted silently).
        location: "package" (``refocus_bench/data/weights``), "cache"
            (``$REFOCUS_BENCH_HOME/weights/models``) or "user" (a path the caller passes).
        source: where to obtain the file (URL or the command that produces it).
        licence: licence of the weights.
        description: what the file holds.
    """

    filename: str
    sha256: str | None
    location: str
    source: str
    licence: str
    description: str = ""

    def __post_init__(self) -> None:
        check(self.location in LOCATIONS, lambda: f"location must be one of {sorted(LOCATIONS)}, got {self.location!r}")
        check(
            self.sha256 is None or (len(self.sha256) == 64 and all(c in "0123456789abcdef" for c in self.sha256)),
            lambda: f"sha256 must be 64 lowercase hex digits or None, got {self.sha256!r}",
        )


@dataclass(frozen=True)
class ModelCard:
    """Everything known about a model; ``refocus-bench models list`` and :func:`cards_markdown` print these.

    Attributes:
        name: registry name, ``family.variant``.
        tasks: the subset of :data:`TASKS` the model supports.
        summary: one line.
        source: where the method comes from (this repository, or the authors' code).
        licence: licence of the code (weights carry their own).
        paper: citation, or "" for classical baselines without one.
        input_contract: what the model expects beyond the package contract (sizes, ranges).
        weights: the weight files, empty for parameter-free models.
    """

    name: str
    tasks: tuple[str, ...]
    summary: str
    source: str
    licence: str
    paper: str
    input_contract: str
    weights: tuple[WeightsFile, ...] = field(default=())

    def __post_init__(self) -> None:
        bad = [t for t in self.tasks if t not in TASKS]
        check(self.tasks and not bad, lambda: f"tasks must be a non-empty subset of {TASKS}, got {self.tasks}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
