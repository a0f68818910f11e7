"""Checks of the files a command reads and writes, made before any work starts.

Every command checks its paths first, so that a bad path is one clear line naming the flag, not a
traceback after minutes of work, and a failed run leaves nothing behind:

* an input (:func:`check_input_file`) exists, is a regular file (a symlink loop or a folder is
  refused), is readable and is not empty;
* an output file (:func:`check_output_file`) has an accepted suffix, is not a folder, is not one
  of the inputs (unless ``overwrite``), and its folder exists or can be created: the nearest
  existing folder above it is a folder (``-o photo.png/out.png`` is refused) in which a file can
  actually be created (a probe file is made and removed; permission bits alone are not enough
  for root or for ``/proc``);
* an output folder (:func:`check_output_dir`) is not a file and can be created or written.

Missing folders above an output are created when it is written (the one policy of every command).
:func:`removed_on_failure` deletes a folder the command created itself when the command fails, so a
failed run leaves no empty state folder; :func:`os_error_line` turns an ``OSError`` (full disk,
file too large, read-only file system) into the one line the CLI prints.

Example:
    >>> import tempfile
    >>> d = tempfile.mkdtemp()
    >>> check_output_file(d + "/out.png", "-o", suffixes=(".png",)).name
    'out.png'
    >>> check_output_file(d, "-o")
    Traceback (most recent call last):
    ...
    refocus_bench.errors.InvalidInputError: -o: ... is a folder; give a file path
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .errors import InvalidInputError, MissingFileError

__all__ = [
    "check_input_file",
    "check_input_path",
    "check_output_file",
    "check_output_dir",
    "removed_on_failure",
    "parents_removed_on_failure",
    "os_error_line",
    "same_file",
]


def _show(path: str | os.PathLike[str]) -> str:
    """A path for a message: quoted, non-UTF-8 bytes shown as escapes (printable on any terminal)."""
    text = os.fspath(path)
    return repr(text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"))


def _stat(path: Path, flag: str) -> os.stat_result | None:
    """``os.stat(path)`` (following links), None when missing; loops and odd errors are user errors."""
    try:
        return path.stat()
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        return None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise InvalidInputError(f"{flag}: {_show(path)} is a symlink loop") from err
        raise InvalidInputError(f"{flag}: cannot access {_show(path)}: {err.strerror}") from err


def check_input_file(path: str | os.PathLike[str], flag: str, *, allow_empty: bool = False) -> Path:
    """Check that ``path`` is an existing, readable, non-empty regular file; return it as a Path.

    Raises:
        MissingFileError: the file does not exist.
        InvalidInputError: a folder, a symlink loop, unreadable or empty (0 bytes).
    """
    p = Path(path)
    st = _stat(p, flag)
    if st is None:
        raise MissingFileError(f"{flag}: file not found: {_show(p)}")
    if stat.S_ISDIR(st.st_mode):
        raise InvalidInputError(f"{flag}: {_show(p)} is a folder; give a file")
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInputError(f"{flag}: {_show(p)} is not a regular file")
    if not os.access(p, os.R_OK):
        raise InvalidInputError(f"{flag}: {_show(p)} is not readable (permission denied)")
    if not allow_empty and st.st_size == 0:
        raise InvalidInputError(f"{flag}: {_show(p)} is empty (0 bytes)")
    return p


def check_input_path(path: str | os.PathLike[str], flag: str) -> Path:
    """Check that ``path`` is an existing file (non-empty, readable) or folder; return it as a Path."""
    p = Path(path)
    st = _stat(p, flag)
    if st is None:
        raise MissingFileError(f"{flag}: not found: {_show(p)}")
    if stat.S_ISDIR(st.st_mode):
        return p
    return check_input_file(p, flag)


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether two paths name the same file (an existing one, through links), or the same path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def _nearest_existing(p: Path, flag: str) -> Path:
    """The nearest existing ancestor of ``p`` (``p``'s parent if it exists); it must be a folder."""
    parent = p.absolute().parent
    while True:
        st = _stat(parent, flag)
        if st is not None:
            if not stat.S_ISDIR(st.st_mode):
                raise InvalidInputError(
                    f"{flag}: {_show(parent)} is a file, not a folder, so {_show(p)} cannot be made"
                )
            return parent
        if parent.parent == parent:  # pragma: no cover - the root always exists
            return parent
        parent = parent.parent


def _probe_writable(folder: Path, flag: str, target: Path) -> None:
    """Create and remove a file in ``folder``: the only reliable test that it takes new files."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".refocus-bench-probe.", dir=folder)
    except OSError as err:
        why = err.strerror or type(err).__name__
        raise InvalidInputError(
            f"{flag}: cannot write {_show(target)}: {_show(folder)} is not writable ({why})"
        ) from err
    os.close(fd)
    os.unlink(probe)


def check_output_file(
    path: str | os.PathLike[str],
    flag: str,
    *,
    suffixes: Iterable[str] | None = None,
    inputs: Iterable[tuple[str, str | os.PathLike[str] | None]] = (),
    overwrite: bool = False,
) -> Path:
    """Check that ``path`` can be written as a new output file; return it as a Path.

    Args:
        path: the output file.
        flag: the option that named it, for messages (``"-o"``, ``"--save-coc"``).
        suffixes: accepted lower-case suffixes (``(".png", ".tif")``), None = any.
        inputs: ``(flag, path)`` of the command's inputs; writing onto one is refused unless
            ``overwrite`` (None entries are skipped).
        overwrite: allow the output to replace an input.
    """
    p = Path(path)
    check_name = os.fspath(p)
    if not check_name or check_name.endswith(os.sep):
        raise InvalidInputError(f"{flag}: give a file path, got {_show(path)}")
    if suffixes is not None:
        allowed = tuple(suffixes)
        if p.suffix.lower() not in allowed:
            raise InvalidInputError(f"{flag} must end in one of {', '.join(allowed)}, got {_show(p)}")
    st = _stat(p, flag)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise InvalidInputError(f"{flag}: {_show(p)} is a folder; give a file path")
    for in_flag, in_path in inputs:
        if in_path is not None and same_file(p, in_path) and not overwrite:
            raise InvalidInputError(
                f"{flag} {_show(p)} is the same file as {in_flag}; choose another output or add --overwrite"
            )
    _probe_writable(_nearest_existing(p, flag), flag, p)
    return p


def check_output_dir(path: str | os.PathLike[str], flag: str) -> Path:
    """Check that ``path`` is an existing writable folder or can be created; return it as a Path."""
    p = Path(path)
    st = _stat(p, flag)
    if st is not None:
        if not stat.S_ISDIR(st.st_mode):
            raise InvalidInputError(f"{flag}: {_show(p)} is a file; give a folder")
        _probe_writable(p, flag, p)
        return p
    _probe_writable(_nearest_existing(p, flag), flag, p)
    return p


@contextlib.contextmanager
def removed_on_failure(path: str | os.PathLike[str], keep: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Remove the folder ``path`` (and the empty folders made above it) if the block fails and
    the folder did not exist before it. An interruption (Ctrl-C) keeps it, so a rerun resumes, and
    so does ``keep(path)`` returning True (finished work worth resuming, e.g. a completed shard)."""
    p = Path(path).absolute()
    existing = p
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    made = not p.exists()
    try:
        yield Path(path)
    except KeyboardInterrupt:
        raise
    except BaseException:
        if made and p.exists() and not (keep is not None and keep(p)):
            shutil.rmtree(p, ignore_errors=True)
            above = p.parent
            while above != existing and above.exists():
                with contextlib.suppress(OSError):
                    above.rmdir()
                above = above.parent
        raise


@contextlib.contextmanager
def parents_removed_on_failure(*paths: str | os.PathLike[str] | None) -> Iterator[None]:
    """Remove the folders above ``paths`` that the block creates (writing an output creates its
    missing folders) if the block fails, so a failed write leaves no empty folder behind."""
    with contextlib.ExitStack() as stack:
        for path in paths:
            if path is None:
                continue
            top, above = None, Path(path).absolute().parent
            while not above.exists() and above.parent != above:
                top, above = above, above.parent
            if top is not None:
                stack.enter_context(removed_on_failure(top))
        yield


def os_error_line(
    err: OSError, flag: str | None = None, value: str | os.PathLike[str] | None = None, verb: str = "write"
) -> str:
    """One line for an ``OSError``: the flag and its path when known (``cannot VERB PATH``), the reason."""
    reason = err.strerror or str(err) or type(err).__name__
    head = f"{flag}: " if flag else ""
    if value is not None:
        return f"{head}cannot {verb} {_show(value)}: {reason}"
    if err.filename is not None:
        return f"{head}{reason}: {_show(err.filename)}"
    return f"{head}{reason}"
