"""Every path under a harvest's inputs, with its size and mtime or the reason it cannot be read.

:func:`scan_inputs` walks folders recursively in a fixed order, following folder symlinks; a link
back into a folder being scanned is reported as ``symlink_loop`` instead of being walked forever.
Paths are kept as the file system gives them; :func:`display_path` makes a UTF-8-safe form for the
outputs. :func:`split_batches` cuts the files to read into the harvest's batches (one ExifTool call
and one resume part each).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Entry", "scan_inputs", "display_path", "batch_sizes", "split_batches"]


@dataclass(slots=True)
class Entry:
    """One path found: its size and mtime (a regular file), or the skip ``reason`` and ``detail``."""

    path: str
    relative_path: str
    size_bytes: int | None = None
    mtime_ns: int | None = None
    reason: str | None = None
    detail: str = ""


def display_path(path: str) -> str:
    """A UTF-8-safe form of a path (undecodable bytes become backslash escapes)."""
    try:
        path.encode("utf-8")
        return path
    except UnicodeEncodeError:
        return os.fsencode(path).decode("utf-8", errors="backslashreplace")


def scan_inputs(inputs: Sequence[str], exclude: Sequence[str]) -> list[Entry]:
    """Every path under ``inputs`` (recursively, following folder symlinks), sorted by path."""
    excluded = {os.path.realpath(e) for e in exclude}
    found: dict[str, Entry] = {}
    for arg in inputs:
        root = os.path.abspath(arg)
        st = os.stat(root)
        if not stat.S_ISDIR(st.st_mode):
            rel = os.path.basename(root)
            found.setdefault(
                root,
                Entry(root, rel, st.st_size, st.st_mtime_ns)
                if stat.S_ISREG(st.st_mode)
                else Entry(root, rel, reason="unreadable", detail="not a regular file"),
            )
            continue
        active: dict[tuple[int, int], str] = {(st.st_dev, st.st_ino): root}
        stack: list[tuple[str, tuple[tuple[int, int], ...]]] = [(root, ((st.st_dev, st.st_ino),))]
        while stack:
            folder, ancestors = stack.pop()
            try:
                with os.scandir(folder) as it:
                    children = sorted(it, key=lambda e: e.name, reverse=True)
            except OSError as err:
                found.setdefault(
                    folder,
                    Entry(
                        folder,
                        os.path.relpath(folder, root),
                        reason="unreadable",
                        detail=f"cannot list folder: {err.strerror}",
                    ),
                )
                continue
            for child in children:
                p = child.path
                rel = os.path.relpath(p, root)
                try:
                    cst = os.stat(p)
                except OSError as err:
                    if err.errno == errno.ELOOP:
                        found.setdefault(
                            p, Entry(p, rel, reason="symlink_loop", detail="symlink loop (too many levels of links)")
                        )
                    elif child.is_symlink():
                        target = display_path(os.readlink(p)) if os.path.islink(p) else "?"
                        found.setdefault(p, Entry(p, rel, reason="unreadable", detail=f"broken symlink -> {target}"))
                    else:
                        found.setdefault(p, Entry(p, rel, reason="unreadable", detail=err.strerror or str(err)))
                    continue
                if stat.S_ISDIR(cst.st_mode):
                    key = (cst.st_dev, cst.st_ino)
                    if os.path.realpath(p) in excluded:
                        continue
                    if key in ancestors:
                        found.setdefault(
                            p, Entry(p, rel, reason="symlink_loop", detail=f"leads back to {display_path(active[key])}")
                        )
                        continue
                    active.setdefault(key, p)
                    stack.append((p, ancestors + (key,)))
                elif stat.S_ISREG(cst.st_mode):
                    found.setdefault(p, Entry(p, rel, cst.st_size, cst.st_mtime_ns))
                else:
                    found.setdefault(
                        p, Entry(p, rel, reason="unreadable", detail="not a regular file (fifo, socket or device)")
                    )
                if not os.access(p, os.R_OK) and p in found and found[p].reason is None:
                    found[p] = Entry(p, rel, reason="unreadable", detail="permission denied")
    return sorted(found.values(), key=lambda e: display_path(e.path))


def batch_sizes(n: int, batch_size: int) -> list[int]:
    """Sizes of the batches of ``n`` files: growing 16, 32, ... up to ``batch_size`` at the start, so
    ExifTool's first answer comes fast, and shrinking back to 16 at the end, so little Python work is
    left after ExifTool's last answer.

    >>> batch_sizes(200, 128), batch_sizes(20, 128), batch_sizes(10, 4)
    ([16, 32, 104, 32, 16], [20], [4, 4, 2])
    """
    head, tail, size = [], [], min(batch_size, 16)
    while n > 2 * size and size < batch_size:
        head.append(size)
        tail.append(size)
        n -= 2 * size
        size = min(batch_size, size * 2)
    while n > 0:
        head.append(min(batch_size, n))
        n -= head[-1]
    return head + tail[::-1]


def split_batches(todo: list[Entry], batch_size: int) -> list[list[Entry]]:
    """Split ``todo`` into batches of :func:`batch_sizes` (at most ``batch_size`` files each)."""
    out, i = [], 0
    for size in batch_sizes(len(todo), batch_size):
        out.append(todo[i : i + size])
        i += size
    return out
