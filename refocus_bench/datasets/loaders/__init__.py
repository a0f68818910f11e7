"""Loaders for the field's benchmark datasets, with manifests that check a user's copy.

The registry verbs are the public API::

    >>> from refocus_bench.datasets.loaders import list_datasets, dataset_card
    >>> "dpdd" in list_datasets()
    True
    >>> dataset_card("realbokeh").licence
    'CC BY-NC-SA 4.0'

``open_dataset(name, root, split=None, layout="auto")`` returns a loader: ``len()``, sorted
iteration over :class:`DatasetSample` records, ``info`` (licence, citation, task, layout, split),
``manifest`` and ``validate(strict=..., decode=...)``. Entries are lazy ``"module:Class"``
placeholders, so importing this package reads no dataset module. Third-party packages add datasets
through the ``refocus_bench.datasets`` entry-point group (a subclass of :class:`DatasetLoader` whose
``_scan`` returns a :class:`ScanResult`).
"""

from __future__ import annotations

import os
from typing import Any

from ...lazy import lazy_exports
from ...registry import Registry

__all__ = [
    "DATASETS",
    "list_datasets",
    "open_dataset",
    "dataset_card",
    "validate_dataset",
    "DatasetLoader",
    "DatasetInfo",
    "ScanResult",
    "DatasetSample",
    "LoadedSample",
    "Manifest",
    "Layout",
    "Issue",
    "ValidationReport",
    "load_image",
]

DATASETS = Registry("dataset", "refocus_bench.datasets")

_LAZY = {
    "dpdd": "refocus_bench.datasets.loaders.dpdd:DPDD",
    "realdof": "refocus_bench.datasets.loaders.realdof:RealDOF",
    "lfdof": "refocus_bench.datasets.loaders.lfdof:LFDOF",
    "cuhk_blur": "refocus_bench.datasets.loaders.cuhk:CUHKBlur",
    "ebb": "refocus_bench.datasets.loaders.ebb:EBB",
    "ebb400": "refocus_bench.datasets.loaders.ebb:EBB400",
    "ebb_val294": "refocus_bench.datasets.loaders.ebb:EBBVal294",
    "blb": "refocus_bench.datasets.loaders.blb:BLB",
    "realbokeh": "refocus_bench.datasets.loaders.realbokeh:RealBokeh",
    "realbokeh_3mp": "refocus_bench.datasets.loaders.realbokeh:RealBokeh3MP",
    "ntire23_bokeh": "refocus_bench.datasets.loaders.ntire23:NTIRE23Bokeh",
}
for _name, _ref in _LAZY.items():
    DATASETS.register(_name, _ref)


def list_datasets(pattern: str = "*") -> list[str]:
    """Registered dataset names matching a shell-style ``pattern`` (e.g. ``"ebb*"``), sorted."""
    return DATASETS.list(pattern)


def dataset_card(name: str) -> Any:
    """The :class:`DatasetInfo` of ``name`` (licence, citation, task) without opening any files."""
    return DATASETS.get(name).card


def open_dataset(
    name: str,
    root: str | os.PathLike[str],
    split: str | None = None,
    layout: str = "auto",
    **kwargs: Any,
) -> Any:
    """Open a local copy of dataset ``name`` at ``root``.

    Args:
        name: a registered name (:func:`list_datasets`).
        root: the dataset folder (see ``docs/datasets.md`` for each layout).
        split: ``"test"``, ``"train"`` ... or ``None`` for the dataset's default.
        layout: ``"auto"`` (detect) or a layout name of the dataset's manifest.
        **kwargs: ``check`` (quick validation on open, default ``True``), ``strict`` (require the
            official count), and dataset options (e.g. ``reverse=True`` for RealBokeh deblurring).

    Raises:
        UnknownNameError: ``name`` is not registered (the message lists close matches).
        MissingFileError: ``root`` does not exist.
        InvalidInputError: ``root`` matches no layout, or the copy is broken (the message names files).
    """
    return DATASETS.get(name)(root, split=split, layout=layout, **kwargs)


def validate_dataset(
    name: str,
    root: str | os.PathLike[str],
    split: str | None = None,
    layout: str = "auto",
    *,
    strict: bool = False,
    decode: bool = True,
    checksums: Any = None,
    **kwargs: Any,
) -> Any:
    """Check a copy and return its :class:`ValidationReport` (``report.ok``, ``report.issues``).

    Only an unrecognisable ``root`` raises; every other problem is an issue in the report.
    """
    ds = open_dataset(name, root, split=split, layout=layout, check=False, **kwargs)
    return ds.validate(strict=strict, decode=decode, checksums=checksums)


_REEXPORTS = {
    "DatasetLoader": "base",
    "DatasetInfo": "base",
    "ScanResult": "scan",
    "DatasetSample": "sample",
    "LoadedSample": "sample",
    "load_image": "sample",
    "Manifest": "manifest",
    "Layout": "manifest",
    "Issue": "manifest",
    "ValidationReport": "manifest",
}


__getattr__, __dir__ = lazy_exports(__name__, _REEXPORTS)  # importing the package stays light
