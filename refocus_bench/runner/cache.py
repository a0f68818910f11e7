"""The per-sample cache that makes an evaluation resumable.

One small JSON file per finished sample in ``RESULTS_DIR/.cache/<run key>/``, written to a
temporary name and renamed into place, so a run killed at any instant (SIGKILL included) leaves
only whole files; a rerun with the same run key reads them and computes only the missing samples.
No ``fsync``: a killed process cannot lose data the kernel already holds, and skipping it keeps
the cost per sample in microseconds (after a power loss, a truncated file is ignored and recomputed).
The run key covers everything a score depends on (see :func:`refocus_bench.runner.plan.run_key`),
so a changed model, benchmark, metric, protocol or seed never reads another run's results.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from .naming import safe_name

__all__ = ["SampleCache"]

_FIELDS = ("id", "subset", "scores", "runtime_s", "error")


class SampleCache:
    """Per-sample results of one run key in ``folder`` (``None``: a cache that keeps nothing)."""

    def __init__(self, folder: str | os.PathLike[str] | None, key_info: dict[str, Any] | None = None) -> None:
        self.folder = Path(folder) if folder is not None else None
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            if key_info is not None and not (self.folder / "run.json").is_file():
                self._write(self.folder / "run.json", key_info)

    def _path(self, sample_id: str) -> Path:
        assert self.folder is not None
        return self.folder / f"{safe_name(sample_id)}.json"

    @staticmethod
    def _write(path: Path, obj: Any) -> None:
        data = json.dumps(obj, sort_keys=True, allow_nan=False).encode("utf-8")
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def put(self, result: dict[str, Any]) -> None:
        """Store one sample's JSON-ready result (no images)."""
        if self.folder is not None:
            self._write(self._path(result["id"]), result)

    def load(self, sample_ids: list[str]) -> dict[str, dict[str, Any]]:
        """Cached results of ``sample_ids`` (unreadable or foreign files are ignored)."""
        if self.folder is None:
            return {}
        out = {}
        for sid in sample_ids:
            p = self._path(sid)
            try:
                r = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(r, dict) and r.get("id") == sid and all(k in r for k in _FIELDS):
                out[sid] = r
        return out
