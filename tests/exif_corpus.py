"""Field-by-field comparison of a harvest with ``exiftool -n`` on the real-file corpus.

The corpus (``tests/data/exif_corpus``, see its README.md) holds ExifTool's own sample files: JPEGs
of many makers, camera RAW files, video, sidecars, light fields and documents. :func:`compare`
matches each value that plain ``exiftool -j -n`` reports (the value ExifTool shows, its priority
choice among duplicates) with the harvested row of the same file:

* ``FNumber`` -> ``f_number``, ``FocalLength`` -> ``focal_length_mm``,
  ``FocalLengthIn35mmFormat`` -> ``focal_length_35mm_mm``, ``ScaleFactor35efl`` ->
  ``exiftool_scale_factor_35efl``: equal numbers (a length ExifTool reports as text, ``"8.6 mm"`` in
  an XML dump of ExifTool's own, counts as that number of millimetres);
* ``ImageSize`` -> ``image_width_px`` x ``image_height_px`` (swapped back for orientations 5-8);
* each focus-distance tag of :data:`~refocus_bench.datasets.exif.FOCUS_DISTANCE_TAGS` -> an entry of
  ``focus_distance_tags`` with the same tag name and value.

A value the harvest refuses as physically invalid (an f-number of 0) is counted as ``invalid``
when the row's ``notes`` names the tag; anything else absent is ``missing``.
"""

from __future__ import annotations

import json
import math
import subprocess
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from refocus_bench.datasets.exif import FOCUS_DISTANCE_TAGS

CORPUS = Path(__file__).resolve().parent / "data" / "exif_corpus"
CORPUS_DOCS = ("README.md", "LICENSE-Artistic")
"""The corpus folder's own text files (source and licence), not part of the corpus."""
SCALAR_FIELDS = {
    "FNumber": "f_number",
    "FocalLength": "focal_length_mm",
    "FocalLengthIn35mmFormat": "focal_length_35mm_mm",
    "ScaleFactor35efl": "exiftool_scale_factor_35efl",
}
COLUMNS = ("files", "rows", "values", "equal", "invalid", "missing", "different")


def corpus_files() -> list[Path]:
    """The corpus files, sorted by name (without :data:`CORPUS_DOCS`)."""
    return sorted(p for p in CORPUS.iterdir() if p.name not in CORPUS_DOCS)


def exiftool_values(exiftool: str, files: list[Path]) -> dict[str, dict[str, Any]]:
    """``{file name: plain exiftool -j -n answer}`` of each of ``files`` that ExifTool reads."""
    res = subprocess.run(
        [exiftool, "-j", "-n", "-q", "-q", *map(str, files)], capture_output=True, text=True, check=False, timeout=300
    )
    return {Path(e["SourceFile"]).name: e for e in json.loads(res.stdout)}


def _number(value: Any) -> float:
    """``value`` as a float; ``"8.6 mm"`` (a length ExifTool passes on as text, e.g. from an XML dump) is 8.6."""
    text = str(value)
    return float(text[:-3] if text.endswith(" mm") else text)


def _same(a: Any, b: Any) -> bool:
    try:
        x, y = _number(a), _number(b)
    except (TypeError, ValueError):
        return str(a) == str(b)
    return x == y or math.isclose(x, y, rel_tol=1e-9)


def _pairs(tags: dict[str, Any], row: dict[str, Any]) -> list[tuple[str, Any, Any, bool]]:
    """(tag, ExifTool's value, the harvest's value, invalid-and-noted) for each compared value."""
    out = []
    notes = row.get("notes") or ""
    for tag, field in SCALAR_FIELDS.items():
        if tag in tags:
            out.append((tag, tags[tag], row.get(field), f"{tag}=" in notes))
    if "ImageSize" in tags:
        w, h = row.get("image_width_px"), row.get("image_height_px")
        if w is not None and (row.get("orientation") or 1) >= 5:
            w, h = h, w
        out.append(("ImageSize", str(tags["ImageSize"]).replace("x", " "), None if w is None else f"{w} {h}", False))
    found = json.loads(row.get("focus_distance_tags") or "{}")
    for tag in FOCUS_DISTANCE_TAGS:
        if tag in tags:
            values = [v for k, v in found.items() if k.rsplit(":", 1)[-1] == tag]
            match = next((v for v in values if _same(v, tags[tag])), values[0] if values else None)
            out.append((tag, tags[tag], match, False))
    return out


def compare(exif: dict[str, dict[str, Any]], rows: dict[str, dict[str, Any]]) -> tuple[dict, list[str]]:
    """Per-format counts (:data:`COLUMNS`) and a list of the values that are missing or different.

    Args:
        exif: :func:`exiftool_values` of the corpus.
        rows: the harvested rows (``status == "ok"``) by file name.
    """
    table: dict[str, Counter] = defaultdict(Counter)
    problems = []
    for name, tags in sorted(exif.items()):
        fmt = str(tags.get("FileType", "(unknown)"))
        table[fmt]["files"] += 1
        row = rows.get(name)
        if row is None:
            lens = [t for t in (*SCALAR_FIELDS, *FOCUS_DISTANCE_TAGS) if t in tags]
            if lens:
                table[fmt]["missing"] += len(lens)
                problems.append(f"{name}: no row, but ExifTool reports {lens}")
            continue
        table[fmt]["rows"] += 1
        for tag, theirs, ours, invalid in _pairs(tags, row):
            table[fmt]["values"] += 1
            if ours is not None and _same(theirs, ours):
                table[fmt]["equal"] += 1
            elif ours is None and invalid:
                table[fmt]["invalid"] += 1
            elif ours is None:
                table[fmt]["missing"] += 1
                problems.append(f"{name}: {tag}={theirs!r} missing")
            else:
                table[fmt]["different"] += 1
                problems.append(f"{name}: {tag}: ExifTool {theirs!r}, harvest {ours!r}")
    return dict(table), problems


def markdown_table(table: dict[str, Counter]) -> str:
    """The per-format table in Markdown: formats with rows or values one per line, the others on one line."""
    lines = ["| format | " + " | ".join(COLUMNS) + " |", "|---|" + "---:|" * len(COLUMNS)]
    total: Counter = Counter()
    rest: Counter = Counter()
    rest_names = []
    for fmt in sorted(table):
        total.update(table[fmt])
        if table[fmt]["rows"] or table[fmt]["values"]:
            lines.append(f"| {fmt} | " + " | ".join(str(table[fmt][c]) for c in COLUMNS) + " |")
        else:
            rest.update(table[fmt])
            rest_names.append(fmt)
    lines.append(f"| {len(rest_names)} other formats¹ | " + " | ".join(str(rest[c]) for c in COLUMNS) + " |")
    lines.append("| **all** | " + " | ".join(f"**{total[c]}**" for c in COLUMNS) + " |")
    return "\n".join(lines) + "\n\n¹ " + ", ".join(rest_names) + "."
