"""ExifTool, run as one long-running process that reads the metadata of files in batches.

One ``exiftool -stay_open`` process reads files in batches with numeric
values (``-n``), every duplicate tag (``-a``) and group names of families 0 and 1 (``-G0:1``, keys
like ``"EXIF:ExifIFD:FNumber"`` or ``"MakerNotes:Canon:FocusDistanceUpper"``). Only
:data:`REQUESTED_TAGS` are asked for, among them ExifTool's Composite ``ImageSize``, ``Aperture`` and
``ScaleFactor35efl`` (keys like ``"Composite:ImageSize"``): ExifTool computes those from maker notes
and more, and the harvest takes them as ExifTool reports them instead of re-deriving them.
ExifTool's own selection of those tags costs more than reading them; :data:`PERL_TAG_SELECTION`,
loaded into the process, makes it cheaper without changing a byte of its output.

ExifTool reads JPEG, HEIC, TIFF, PNG, DNG, every camera RAW format (CR2, CR3, NEF, ARW, RAF, RW2,
ORF, X3F, ...), video (MOV, MP4, R3D, ...), sidecars (XMP, MIE), light fields (LFP) and documents
that carry photo metadata (PDF, PSD, EPS, MIFF). It comes from the Debian package
``libimage-exiftool-perl``; when it is missing, :func:`find_exiftool` raises
:class:`~refocus_bench.errors.MissingFileError` saying how to install it.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import MissingFileError, check

__all__ = [
    "EXIFTOOL_INSTALL_HINT",
    "PERL_TAG_SELECTION",
    "REQUESTED_TAGS",
    "find_exiftool",
    "exiftool_version",
    "ExifToolReader",
    "Pending",
]

EXIFTOOL_INSTALL_HINT = "sudo apt-get install libimage-exiftool-perl"

REQUESTED_TAGS = (
    "FileType",
    "MIMEType",
    "Error",
    "Warning",
    "Make",
    "Model",
    "LensModel",
    "Lens",
    "FNumber",
    "ApertureValue",
    "Aperture",
    "FocalLength",
    "FocalLengthIn35mmFormat",
    "ScaleFactor35efl",
    "FocalPlaneXResolution",
    "FocalPlaneYResolution",
    "FocalPlaneResolutionUnit",
    "FocusDistance",
    "SubjectDistance",
    "ApproximateFocusDistance",
    "FocusDistanceUpper",
    "FocusDistanceLower",
    "FocusDistanceRange",
    "ObjectDistance",
    "ManualFocusDistance",
    "ImageSize",
    "ImageWidth",
    "ImageHeight",
    "ExifImageWidth",
    "ExifImageHeight",
    "DefaultCropSize",
    "ImageSpatialExtent",
    "Orientation",
    "ExposureTime",
    "ShutterSpeedValue",
    "ISO",
    "DateTimeOriginal",
    "SubSecTimeOriginal",
    "OffsetTimeOriginal",
    "CreateDate",
    "StripOffsets",
    "StripByteCounts",
    "TileOffsets",
    "TileByteCounts",
)
"""ExifTool tags requested for every file (any group)."""

_EXIFTOOL_ARGS = ("-q", "-q", "-j", "-n", "-a", "-G0:1", "-api", "LargeFileSupport=1")
_EXIFTOOL_ARGS_B = tuple(a.encode() for a in _EXIFTOOL_ARGS)

PERL_TAG_SELECTION = Path(__file__).resolve().parents[1] / "data" / "exiftool" / "RefocusBenchTags.pm"
"""Perl module loaded into ExifTool (``PERL5OPT``) that selects the requested tags faster.

ExifTool matches every requested tag name against every extracted tag with a new regular
expression, expands shortcuts the same way, and resolves every Composite tag it knows, for each
file: with :data:`REQUESTED_TAGS` that costs more than extracting the tags. The module replaces
those steps by a hash lookup, a cache, and the Composite tags that the requested ones need; the
JSON ExifTool prints is byte-identical (``tests/test_exiftool_fast.py``, the whole real-file
corpus). It replaces them only over the exact ExifTool code it was written against (12.57; an MD5
of each sub's source), so any other ExifTool version runs unchanged."""


def _perl_env() -> dict[str, str] | None:
    """The environment that loads :data:`PERL_TAG_SELECTION` into ExifTool through ``PERL5OPT``.

    ``None`` (ExifTool as it is) when the module's folder cannot be named in ``PERL5OPT`` (which
    splits on white space) or the file is missing. This process's own environment is left alone."""
    folder = str(PERL_TAG_SELECTION.parent)
    if not PERL_TAG_SELECTION.is_file() or any(c.isspace() for c in folder):
        return None
    old = os.environ.get("PERL5OPT")
    return {**os.environ, "PERL5OPT": " ".join(filter(None, [old, f"-I{folder}", f"-M{PERL_TAG_SELECTION.stem}"]))}


def _widen_pipe(pipe: Any) -> None:
    """Linux: let the pipe hold 1 MiB (not 64 KiB), so ExifTool need not stop writing while the drain
    thread waits for the interpreter."""
    import fcntl

    with contextlib.suppress(OSError, AttributeError, ValueError):
        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux without ``setpriv``: ExifTool gets SIGTERM when this process dies (a ``-stay_open``
    ExifTool never exits by itself)."""
    import ctypes

    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


class _Process:
    """One ``exiftool -stay_open True -@ -`` process: commands are written ahead, answers read in order.

    A thread drains ExifTool's standard output into a queue, so ExifTool never waits for Python to
    read an answer, and several commands can wait in its input: it goes from one to the next without
    a round trip. Another thread keeps the end of its standard error (with ``-q -q`` ExifTool writes little there).
    """

    def __init__(self, exe: str, env: dict[str, str] | None, setpriv: str | None = None) -> None:
        cmd = [exe, "-stay_open", "True", "-@", "-"]
        self.proc = subprocess.Popen(
            [setpriv, "--pdeathsig", "TERM", "--", *cmd] if setpriv else cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") and not setpriv else None,  # noqa: PLW1509
        )
        self._chunks: collections.deque[bytes] = collections.deque()  # filled by _drain
        self._ready = threading.Semaphore(0)  # one release per chunk
        self._buf = bytearray()
        self._eof = False
        self._sent: collections.deque[int] = collections.deque()
        self._answers: dict[int, bytes] = {}
        self._seq = 0
        self._errors = bytearray()  # the end of ExifTool's standard error
        _widen_pipe(self.proc.stdout)
        threading.Thread(target=self._drain, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=self._drain_errors, args=(self.proc.stderr,), daemon=True).start()

    def _drain(self, pipe: Any) -> None:
        fd = pipe.fileno()
        with contextlib.suppress(OSError):
            while chunk := os.read(fd, 1 << 16):
                self._chunks.append(chunk)
                self._ready.release()
        self._chunks.append(b"")
        self._ready.release()

    def _drain_errors(self, pipe: Any) -> None:
        fd = pipe.fileno()
        with contextlib.suppress(OSError):
            while chunk := os.read(fd, 1 << 16):
                self._errors += chunk
                del self._errors[:-2000]

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def send(self, args: Sequence[bytes]) -> int:
        """Write one command (``args`` then ``-execute<n>``) without waiting; returns ``n``."""
        self._seq += 1
        self.proc.stdin.write(b"\n".join([*args, b"-execute%d" % self._seq]) + b"\n")
        self.proc.stdin.flush()
        self._sent.append(self._seq)
        return self._seq

    def _more(self) -> None:
        """Wait for the next piece of output (RuntimeError with ExifTool's message if it has stopped)."""
        if self._eof:
            raise RuntimeError(f"ExifTool stopped: {self.error_text() or 'no message'}")
        self._ready.acquire()
        chunk = self._chunks.popleft()
        self._eof = not chunk
        self._buf += chunk

    def answer(self, seq: int) -> bytes:
        """ExifTool's standard output for command ``seq`` (earlier answers are kept for their callers)."""
        return b"".join(self.stream(seq))

    def stream(self, seq: int) -> Iterator[bytes]:
        """ExifTool's standard output for command ``seq``, piece by piece as it comes (earlier answers are
        read whole and kept for their callers)."""
        while seq not in self._answers:
            check(bool(self._sent), lambda: f"ExifTool command {seq} was never sent")
            first = self._sent[0]
            marker = b"{ready%d}\n" % first
            start = 0
            while (end := self._buf.find(marker, start)) < 0:
                if first == seq and len(self._buf) >= len(marker):  # hand over what cannot be the marker
                    keep = len(marker) - 1
                    yield bytes(self._buf[:-keep])
                    del self._buf[:-keep]
                start = max(0, len(self._buf) - len(marker))
                self._more()
            piece = bytes(self._buf[:end])
            del self._buf[: end + len(marker)]
            self._sent.popleft()
            if first == seq:
                yield piece
                return
            self._answers[first] = piece
        yield self._answers.pop(seq)

    def error_text(self) -> str:
        """What ExifTool wrote to standard error (its last 500 characters)."""
        return bytes(self._errors).decode("utf-8", errors="replace").strip()[-500:]

    def stop(self, wait: bool = True) -> None:
        """Ask ExifTool to exit after the commands already sent; ``wait``: until it has (else killed)."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError, ValueError):
                self.proc.stdin.write(b"-stay_open\nFalse\n")
                self.proc.stdin.close()
        if wait:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stdout is not None:
                self.proc.stdout.close()

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.stop()


def _which(name: str) -> str | None:
    """``shutil.which(name)`` on POSIX, without importing shutil (which imports bz2 and lzma) before ExifTool starts."""
    if os.name != "posix":
        import shutil

        return shutil.which(name)

    def runnable(p: str) -> bool:
        return os.access(p, os.F_OK | os.X_OK) and not os.path.isdir(p)

    if os.path.dirname(name):
        return name if runnable(name) else None
    for folder in os.get_exec_path():
        candidate = os.path.join(folder, name)
        if runnable(candidate):
            return candidate
    return None


def find_exiftool(executable: str | None = None) -> str:
    """Path of the ``exiftool`` executable; :class:`MissingFileError` with install help if absent."""
    path = _which(executable or "exiftool")
    check(
        path is not None,
        lambda: f"ExifTool not found (executable={executable or 'exiftool'!r}); EXIF harvesting needs it: "
        f"run `{EXIFTOOL_INSTALL_HINT}` (Debian/Ubuntu; scripts/setup.sh does this when run as root)",
        exc=MissingFileError,
    )
    return str(path)


def _safe_arg(path: str) -> bool:
    """Whether ExifTool's line-based argument file format can carry ``path`` unchanged."""
    if "\n" in path or "\r" in path:
        return False
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in the name (surrogate escapes)
        return False
    return True


def _json_objects(pieces: Iterator[bytes]) -> Iterator[dict[str, Any]]:
    """The objects of ExifTool's ``-j`` output (``[{...},\\n{...}]``), each as soon as it is complete.

    ExifTool starts each object's closing brace on a line of its own and indents everything inside
    (JSON strings carry no raw newline), so an object ends at the first newline followed by ``}``."""
    import json  # after ExifTool's start: not on the way to it

    buf, start = bytearray(), 0
    for piece in pieces:
        buf += piece
        while (end := buf.find(b"\n}", start)) >= 0:
            first = buf.find(b"{")
            yield json.loads(bytes(buf[first : end + 2]).decode("utf-8", errors="replace"))
            del buf[: end + 2]
            start = 0
        start = max(0, len(buf) - 1)
    check(b"{" not in buf, lambda: f"ExifTool's answer ends in an incomplete object: {bytes(buf[:200])!r}")


class _SentToAStoppedProcess(Exception):
    """A read was sent to an ExifTool process that has stopped since: it is sent again."""


class Pending:
    """A read sent to ExifTool and not yet collected (:meth:`ExifToolReader.submit`): its arguments,
    the process it went to (``None``: not sent) and its command number."""

    __slots__ = ("args", "process", "seq")

    def __init__(self, args: list[str], process: _Process | None, seq: int) -> None:
        self.args, self.process, self.seq = args, process, seq


class ExifToolReader:
    """One long-running ExifTool process that reads metadata of files in batches.

    Example (needs ExifTool and a photo, so it is not run as a doctest; the harvest tests run it)::

        with ExifToolReader() as reader:
            tags = reader.read(["/photos/a.jpg"])[0]
        tags["EXIF:ExifIFD:FNumber"]  # 1.8

    :meth:`submit` sends a read without waiting for it and :meth:`collect` returns its answer, so
    ExifTool can go from one batch to the next while Python works on an earlier one; :meth:`read`
    does both. The process starts on creation (Perl's start-up then overlaps the caller's work).

    Files whose names ExifTool's argument file format cannot carry (newlines, undecodable bytes) are
    read through a temporary symlink. A file for which ExifTool gives no answer gets a synthetic
    ``{"ExifTool:Error": ...}`` entry. If the ExifTool process dies, it is restarted and the batch is
    retried file by file, so one pathological file cannot take a batch down.
    """

    def __init__(self, executable: str | None = None, tags: Sequence[str] = REQUESTED_TAGS) -> None:
        self._exe = find_exiftool(executable)
        self._tag_args = tuple(f"-{t}".encode() for t in tags)
        self._proc: _Process | None = None
        self._version: str | None = None
        self._version_seq = 0
        self._with_module = True
        # Linux: setpriv gives ExifTool its parent-death signal without a Python callback in the child
        # (which forces a fork instead of a vfork and costs about 5 ms before ExifTool starts)
        self._setpriv = _which("setpriv") if sys.platform.startswith("linux") else None
        self._alias_dir: str | None = None
        self._start()

    def _start(self) -> None:
        env = _perl_env() if self._with_module else None
        self._proc = _Process(self._exe, env, self._setpriv)
        self._version_seq = self._proc.send([b"-ver"])

    @property
    def pid(self) -> int | None:
        """The ExifTool process's id (``None`` when stopped)."""
        return self._proc.proc.pid if self._proc is not None else None

    @property
    def version(self) -> str:
        """ExifTool version string, e.g. ``"12.57"``."""
        if self._version is None:
            try:
                if self._proc is None:
                    self._start()
                self._version = self._proc.answer(self._version_seq).decode("utf-8", "replace").strip()
            except Exception:  # noqa: BLE001 - a Perl that cannot load the module: ExifTool as it is
                self._restart_plain()
                self._version = self._proc.answer(self._version_seq).decode("utf-8", "replace").strip()
        return self._version

    def _restart_plain(self) -> None:
        """Start ExifTool again, without :data:`PERL_TAG_SELECTION` if the last one never answered."""
        if self._version is None:
            self._with_module, self._setpriv = False, None
        self._stop()
        self._start()

    def _stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
        self._proc = None

    def finish(self) -> None:
        """Let ExifTool exit once the reads already sent are answered (no wait; :meth:`close` reaps it)."""
        if self._proc is not None:
            self._proc.stop(wait=False)

    def close(self) -> None:
        """Stop the ExifTool process and remove temporary aliases."""
        if self._proc is not None:
            self._proc.stop()
            self._proc = None
        if self._alias_dir:
            import shutil

            shutil.rmtree(self._alias_dir, ignore_errors=True)
            self._alias_dir = None

    def abort(self) -> None:
        """Kill the ExifTool process at once (nothing more will be read) and remove temporary aliases."""
        self._stop()
        self.close()

    def __enter__(self) -> ExifToolReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _arg_for(self, path: str, i: int) -> str:
        if _safe_arg(path):
            return path
        if self._alias_dir is None:
            import tempfile

            self._alias_dir = tempfile.mkdtemp(prefix="refocus-bench-exif-")
        suffix = os.path.splitext(path)[1]
        suffix = suffix if suffix.isascii() and _safe_arg(suffix) else ""
        alias = os.path.join(self._alias_dir, f"{i:06d}{suffix}")
        if os.path.lexists(alias):
            os.unlink(alias)
        os.symlink(os.fsencode(path), alias)
        return alias

    def _send(self, args: list[str]) -> int:
        if self._proc is None or not self._proc.running:
            self._restart_plain()
        return self._proc.send([*_EXIFTOOL_ARGS_B, *self._tag_args, *(a.encode("utf-8") for a in args)])

    def _parse(self, seq: int) -> list[dict[str, Any]]:
        process = self._proc
        self.version  # noqa: B018 - the version answer comes first; it also tells whether Perl started
        check(self._proc is process, "ExifTool was restarted without the tag selection module")
        text = self._proc.answer(seq).decode("utf-8", errors="replace").strip()
        import json  # after ExifTool's start: not on the way to it

        return json.loads(text) if text else []

    def _execute(self, args: list[str]) -> list[dict[str, Any]]:
        return self._parse(self._send(args))

    def submit(self, paths: Sequence[str]) -> Pending:
        """Send a read of ``paths`` to ExifTool without waiting for it (see :meth:`collect`)."""
        args = [self._arg_for(os.path.abspath(p), i) for i, p in enumerate(paths)]
        if not args:
            return Pending(args, None, 0)
        try:
            return Pending(args, self._proc, self._send(args))
        except Exception:  # noqa: BLE001 - process died: collect isolates the files
            return Pending(args, None, 0)

    def collect(self, pending: Pending) -> list[dict[str, Any]]:
        """The answer to a :meth:`submit`: one dict per path, in input order (as :meth:`read`)."""
        return list(self.stream(pending))

    def stream(self, pending: Pending) -> Iterator[dict[str, Any]]:
        """The answer to a :meth:`submit`, one dict per path in input order, each as soon as ExifTool has
        printed it (ExifTool reads the files in the order given), so the caller can work on a file while
        ExifTool reads the next."""
        args, done = pending.args, 0
        try:
            if pending.process is None or pending.process is not self._proc:  # sent to a process since stopped
                raise _SentToAStoppedProcess
            process = self._proc
            self.version  # noqa: B018 - the version answer comes first; it also tells whether Perl started
            check(self._proc is process, "ExifTool was restarted without the tag selection module")
            received: dict[Any, dict[str, Any]] = {}
            for entry in _json_objects(process.stream(pending.seq)):
                received[entry.get("SourceFile")] = entry
                while done < len(args) and args[done] in received:
                    yield received.pop(args[done])
                    done += 1
            for entry in self._in_order(args[done:], list(received.values())):
                yield entry
                done += 1
        except _SentToAStoppedProcess:
            yield from self.read(args)
        except Exception:  # noqa: BLE001 - process died or spoke garbage: isolate the rest file by file
            rest = args[done:]
            yield from self._in_order(rest, self._isolate(rest))

    def read(self, paths: Sequence[str]) -> list[dict[str, Any]]:
        """Metadata of each path (absolute paths recommended), in input order.

        Returns:
            One dict per path with ExifTool's ``"Group0:Group1:Tag"`` keys (numeric values).
        """
        if not paths:
            return []
        args = [self._arg_for(os.path.abspath(p), i) for i, p in enumerate(paths)]
        try:
            entries = self._execute(args)
        except Exception:  # noqa: BLE001 - process died or spoke garbage: isolate file by file
            entries = self._isolate(args)
        return self._in_order(args, entries)

    def _isolate(self, args: list[str]) -> list[dict[str, Any]]:
        """Read ``args`` one by one, restarting ExifTool after a failure; a failing file gets an error entry."""
        self._stop()  # reads sent to the failed process are read again by their collect
        entries = []
        for a in args:
            try:
                entries.extend(self._execute([a]))
            except Exception as err:  # noqa: BLE001
                entries.append({"SourceFile": a, "ExifTool:Error": f"ExifTool failed on this file: {err}"})
                self._stop()
        return entries

    @staticmethod
    def _in_order(args: list[str], entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        by_source = {e.get("SourceFile"): e for e in entries}
        return [
            by_source.get(a) or {"SourceFile": a, "ExifTool:Error": "ExifTool could not open the file"} for a in args
        ]


def exiftool_version(executable: str | None = None) -> str:
    """Version of the ExifTool ``executable`` (``exiftool -ver``), or ``"unknown"`` when it cannot run."""
    try:
        exe = find_exiftool(executable)
        return subprocess.run([exe, "-ver"], capture_output=True, text=True, timeout=60).stdout.strip() or "unknown"
    except (MissingFileError, OSError, subprocess.SubprocessError):
        return "unknown"
