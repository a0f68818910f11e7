"""Data from real photos and published datasets: EXIF harvesting, and loaders for the field's datasets.

Python API::

    from refocus_bench.datasets import harvest, normalize_tags, open_dataset
    result = harvest(["photos/"], "out/", sharpness=True)   # Parquet + CSV + manifest + card
    ds = open_dataset("dpdd", "/data/DPDD", split="test")     # a checked local copy

Modules, low to high: ``sensors`` (sensor size from 35 mm equivalents, lensfun, focal-plane
resolution), ``exiftool`` (one long-running ExifTool process), ``exif`` (tags -> physical lens
parameters and blur strength through :mod:`refocus_bench.optics`), ``curation`` (hashing, integrity,
sharpness, filters), ``walk`` (the input scan), ``harvest_schema`` (output columns, skip reasons,
dataset card), ``harvest`` (the resumable harvest), ``cli`` (``refocus-bench harvest``), and the
``loaders`` subpackage (published datasets: DPDD, RealDOF, LFDOF, CUHK, EBB!, BLB, RealBokeh,
NTIRE23). Names resolve lazily: importing the package imports none of its modules.
"""

from __future__ import annotations

from ..lazy import lazy_exports

_EXPORTS = {
    "harvest": "harvest",
    "HarvestResult": "harvest",
    "SKIP_REASONS": "harvest_schema",
    "PHOTO_FIELDS": "exif",
    "classify_tags": "exif",
    "normalize_tags": "exif",
    "k_at_focus_distance": "exif",
    "ExifToolReader": "exiftool",
    "find_exiftool": "exiftool",
    "estimate_sensor": "sensors",
    "SensorEstimate": "sensors",
    "Filter": "curation",
    "parse_filters": "curation",
    "inspect_file": "curation",
    "list_datasets": "loaders",
    "open_dataset": "loaders",
    "dataset_card": "loaders",
    "validate_dataset": "loaders",
    "DatasetLoader": "loaders",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
