"""The card of an imported metric checkpoint: ``card.json`` beside ``model.safetensors``, and its check.

``refocus-bench weights import`` (:mod:`.weights_import`) writes ``<folder>/card.json`` with the sha256
of every file it wrote; the metrics that load such a folder (:mod:`.clip`, :mod:`.iqa_noncommercial`)
read the recorded sha256 here, check the weights file against it, and record it with their scores.
This module imports neither of them, so the importer and the metrics do not import each other.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import check
from ..hashing import file_sha256

__all__ = ["CARD", "WEIGHTS_FILE", "recorded_sha256", "verify_folder"]

CARD = "card.json"
WEIGHTS_FILE = "model.safetensors"


def recorded_sha256(folder: Path) -> str | None:
    """sha256 of ``folder/model.safetensors`` recorded in ``folder/card.json`` at import (None if not imported)."""
    try:
        card = json.loads((Path(folder) / CARD).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return card.get("files", {}).get(WEIGHTS_FILE)


def verify_folder(folder: Path) -> None:
    """Check ``folder/model.safetensors`` against the sha256 in ``folder/card.json`` (when there is a card).

    Raises:
        WeightsError: the file's sha256 differs from the recorded one (the message names both files).
    """
    from .weights import WeightsError

    folder = Path(folder)
    want = recorded_sha256(folder)
    if want is None:
        return
    got = file_sha256(folder / WEIGHTS_FILE)
    check(
        got == want,
        lambda: f"{folder / WEIGHTS_FILE}: sha256 {got} differs from the {want} recorded in "
        f"{folder / CARD}; import the weights again",
        exc=WeightsError,
    )
