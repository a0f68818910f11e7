"""Accept a results record into a leaderboard store, or reject it with one clear reason.

``submit_record(path, store)`` checks, in order:

1. the schema, the summary and the digest (:func:`refocus_bench.results.read_record`);
2. provenance: toolkit name and version, model weights field, benchmark content hash and definition,
   a version for every metric, seeds and environment;
3. consistency with its own benchmark definition (name, version, task, headline metric, metrics)
   and completeness: status ``complete``, ``benchmark.num_samples`` samples, a score for every metric of
   every sample (a failed sample makes the record incomplete);
4. the benchmark: its content hash equals the one of the registered benchmark of that name and
   version (the lookup is injectable: ``hash_lookup(name, version) -> hash``, raising
   :class:`SubmissionRejected` when it cannot vouch for the benchmark);
5. consistency with the store: a stored record for the same (benchmark, version, model, weights)
   must carry the same numbers, up to the per-metric float tolerance of
   :mod:`~refocus_bench.leaderboards.compare` (a rerun on another machine is the same result).

An accepted record is written atomically to ``STORE/<key hash>.json``; the name is derived from hashes,
never from the submission. Submitting the same numbers again (within that tolerance) is a no-op: the
stored record stays.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError, MissingFileError
from ..hashing import json_sha256
from ..results import read_record, record_key, write_record
from .compare import numbers_differ

__all__ = [
    "SubmissionRejected",
    "Submission",
    "registered_content_hash",
    "check_submission",
    "submit_record",
    "store_name",
]

HashLookup = Callable[[str, str], str]


class SubmissionRejected(InvalidInputError):
    """A results record that the leaderboard store does not accept; the message is the reason."""


@dataclass(frozen=True)
class Submission:
    """An accepted record: where it is stored and whether it was new."""

    path: Path
    key: tuple[str, str, str, str]
    added: bool


def registered_content_hash(name: str, version: str) -> str:
    """Content hash of the registered benchmark ``name`` at ``version`` (may prepare its data first).

    Raises:
        SubmissionRejected: the benchmark is not registered, or its registered version differs.
    """
    from ..benchmarks import create_benchmark, list_benchmarks

    if name not in list_benchmarks():
        raise SubmissionRejected(
            f"benchmark {name!r} is not registered here, so its content hash cannot be "
            "verified (install the package that provides it)"
        )
    from ..errors import InvalidInputError

    try:
        bench = create_benchmark(name)
    except InvalidInputError as err:  # e.g. a dataset benchmark that needs root= (a local copy)
        raise SubmissionRejected(f"benchmark {name!r} cannot be checked here: {err}") from None
    if bench.spec.version != version:
        raise SubmissionRejected(
            f"benchmark {name!r}: the record is for version {version!r} but the registered "
            f"benchmark is version {bench.spec.version!r}; rerun it on the current version"
        )
    bench.prepare(progress=False)
    return bench.content_hash()


def _need_str(d: Any, key: str, where: str) -> None:
    if not isinstance(d, Mapping) or not isinstance(d.get(key), str) or not d.get(key):
        raise SubmissionRejected(f"missing provenance: {where}.{key} must be a non-empty string")


def _check_provenance(rec: Mapping[str, Any]) -> None:
    _need_str(rec["toolkit"], "name", "toolkit")
    _need_str(rec["toolkit"], "version", "toolkit")
    if not isinstance(rec["benchmark"].get("definition"), Mapping) or not rec["benchmark"]["definition"]:
        raise SubmissionRejected(
            "missing provenance: benchmark.definition (the declarative benchmark definition) must be a non-empty object"
        )
    for i, m in enumerate(rec["metrics"]):
        if not isinstance(m.get("version"), str) or not m["version"]:
            raise SubmissionRejected(f"missing provenance: metrics[{i}].version must be a non-empty string")
    for field in ("seeds", "environment"):
        if not isinstance(rec[field], Mapping) or not rec[field]:
            raise SubmissionRejected(f"missing provenance: {field} must be a non-empty object")


def _check_consistent(rec: Mapping[str, Any]) -> None:
    b, d = rec["benchmark"], rec["benchmark"]["definition"]
    for field in ("name", "version", "task", "headline_metric"):
        if field in d and str(d[field]) != str(b[field]):
            raise SubmissionRejected(
                f"inconsistent: benchmark.{field} is {b[field]!r} but the benchmark definition says {d[field]!r}"
            )
    declared = d.get("metrics")
    if isinstance(declared, list):
        missing = sorted(set(map(str, declared)) - {m["name"] for m in rec["metrics"]})
        if missing:
            raise SubmissionRejected(f"incomplete: the benchmark defines metrics {missing} that the record lacks")


def _check_complete(rec: Mapping[str, Any]) -> None:
    n, expected = len(rec["samples"]), rec["benchmark"]["num_samples"]
    if rec["status"] != "complete":
        raise SubmissionRejected(
            f"incomplete: status is {rec['status']!r} ({n} of {expected} samples); only complete runs are accepted"
        )
    if n != expected:  # read_record already enforces this for complete records; kept as a guard
        raise SubmissionRejected(f"incomplete: {n} of {expected} samples")
    failed = sorted(s["id"] for s in rec["samples"] if s.get("error") or any(v is None for v in s["scores"].values()))
    if failed:
        shown = ", ".join(failed[:5]) + (" ..." if len(failed) > 5 else "")
        raise SubmissionRejected(f"incomplete: {len(failed)} sample(s) have no score or an error ({shown})")


def check_submission(path: str | os.PathLike[str], *, hash_lookup: HashLookup | None = None) -> dict[str, Any]:
    """Run checks 1-4 on the record at ``path`` and return it (raises :class:`SubmissionRejected`).

    ``hash_lookup(name, version)`` returns the expected content hash; None means
    :func:`registered_content_hash` (looked up at call time, so tests can patch it).
    """
    lookup = hash_lookup if hash_lookup is not None else registered_content_hash
    try:
        rec = read_record(path)
    except MissingFileError:
        raise
    except ValueError as err:
        raise SubmissionRejected(f"invalid record: {err}") from None
    _check_provenance(rec)
    _check_consistent(rec)
    _check_complete(rec)
    b = rec["benchmark"]
    expected = lookup(b["name"], str(b["version"]))
    if expected != b["content_hash"]:
        raise SubmissionRejected(
            f"benchmark {b['name']!r} v{b['version']}: content hash {b['content_hash'][:16]}... "
            f"does not match the registered benchmark ({str(expected)[:16]}...); the results "
            "were computed on different data"
        )
    return rec


def store_name(rec: Mapping[str, Any]) -> str:
    """File name of a record in a store: the sha256 of its leaderboard key (benchmark, version, model, weights)."""
    return json_sha256(list(record_key(rec)))[:32] + ".json"


def submit_record(
    path: str | os.PathLike[str], store: str | os.PathLike[str], *, hash_lookup: HashLookup | None = None
) -> Submission:
    """Validate the record at ``path`` and copy it into ``store``.

    Returns:
        a :class:`Submission` (``added`` is False when the store already held the same numbers).
    Raises:
        SubmissionRejected: the one-line reason; MissingFileError when ``path`` does not exist.
    """
    rec = check_submission(path, hash_lookup=hash_lookup)
    target = Path(store) / store_name(rec)
    if target.exists():
        try:
            stored = read_record(target)
        except ValueError as err:
            raise SubmissionRejected(f"the store's record {str(target)!r} is corrupt: {err}") from None
        why = numbers_differ(stored, rec)
        if why is not None:
            raise SubmissionRejected(
                f"inconsistent: the store already holds different numbers for benchmark "
                f"{rec['benchmark']['name']!r}, model {rec['model']['name']!r} "
                f"({str(target)!r}: {why}); remove it first if this run replaces it"
            )
        return Submission(target, record_key(rec), added=False)
    write_record(target, rec)
    return Submission(target, record_key(rec), added=True)
