"""ExifTool with the harvest's faster tag selection prints what ExifTool prints without it.

:data:`~refocus_bench.datasets.exiftool.PERL_TAG_SELECTION` replaces two steps of ExifTool's tag
selection (matching requested names, expanding shortcuts, resolving Composite tags) when ``PERL5OPT``
loads it. On every file
of the real-file corpus and on JPEGs read in one batch, the JSON output with the harvest's
arguments is byte-identical with and without it, and it is really installed over this ExifTool.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from refocus_bench.datasets.exiftool import _EXIFTOOL_ARGS, PERL_TAG_SELECTION, REQUESTED_TAGS, ExifToolReader
from tests.exif_corpus import corpus_files

EXIFTOOL = shutil.which("exiftool")
pytestmark = pytest.mark.skipif(EXIFTOOL is None, reason="needs ExifTool: sudo apt-get install libimage-exiftool-perl")
PERL5OPT = f"-I{PERL_TAG_SELECTION.parent} -M{PERL_TAG_SELECTION.stem}"
KNOWN_VERSIONS = ("12.57",)
"""ExifTool versions whose SetFoundTags, ExpandShortcuts and BuildCompositeTags the module's digests name."""


COMPOSITES_ON_COMPOSITES = (
    "LensID",
    "DOF",
    "HyperfocalDistance",
    "FOV",
    "CircleOfConfusion",
    "FocalLength35efl",
    "LightValue",
    "GPSPosition",
    "ShutterSpeed",
    "SubSecDateTimeOriginal",
    "Megapixels",
    "RedBalance",
    "ThumbnailImage",
    "PreviewImage",
)
"""Composite tags that Require or Desire other Composite tags (DOF: CircleOfConfusion, FocusDistance...)."""


def _run(args: list[str], listing: Path, perl5opt: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PERL5OPT"}
    if perl5opt:
        env["PERL5OPT"] = perl5opt
    return subprocess.run([EXIFTOOL, *args, "-@", str(listing)], capture_output=True, env=env, check=False)


def _harvest_args(tags: tuple[str, ...] = REQUESTED_TAGS) -> list[str]:
    return [*_EXIFTOOL_ARGS, *(f"-{t}" for t in tags)]


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(_harvest_args(), id="harvest-tags"),
        pytest.param(_harvest_args(("FNumber", "fnumber", "Composite:ImageSize", "Focal*", "-Make")), id="fallbacks"),
        pytest.param(["-j", "-n", "-FNumber", "-ImageSize", "-Lens"], id="no-duplicates"),
        pytest.param(_harvest_args(COMPOSITES_ON_COMPOSITES), id="composites-of-composites"),
    ],
)
def test_output_is_byte_identical_on_the_corpus(tmp_path, args):
    listing = tmp_path / "files.txt"
    listing.write_text("".join(f"{p}\n" for p in corpus_files()), encoding="utf-8")
    plain = _run(args, listing, None)
    fast = _run(args, listing, PERL5OPT)
    assert plain.stdout.count(b'"SourceFile"') == len(corpus_files())
    assert fast.stdout == plain.stdout
    assert fast.stderr == plain.stderr
    assert fast.returncode == plain.returncode


def test_replacements_are_installed_over_the_known_exiftool():
    version = subprocess.run([EXIFTOOL, "-ver"], capture_output=True, text=True, check=True).stdout.strip()
    subs = ("SetFoundTags", "ExpandShortcuts", "BuildCompositeTags")
    script = (
        "use Image::ExifTool; print join(' ', "
        + ", ".join(f"\\&Image::ExifTool::{name} == \\&RefocusBenchTags::{name} ? 1 : 0" for name in subs)
        + ")"
    )
    perl_lib = str(Path(os.path.realpath(EXIFTOOL)).parent / "lib")  # an unpacked ExifTool's own library
    out = subprocess.run(
        ["perl", f"-I{perl_lib}", f"-I{PERL_TAG_SELECTION.parent}", f"-M{PERL_TAG_SELECTION.stem}", "-e", script],
        capture_output=True,
        text=True,
        check=True,
    )
    if version not in KNOWN_VERSIONS:
        assert out.stdout == "0 0 0", "another ExifTool version must run its own code"
        pytest.skip(f"ExifTool {version}: the replacements are written for {KNOWN_VERSIONS} and stay out")
    assert out.stdout == "1 1 1"
    assert out.stderr == ""


def test_reader_starts_exiftool_with_the_module_and_leaves_the_environment(monkeypatch):
    monkeypatch.setenv("PERL5OPT", "-w")
    paths = [str(p) for p in corpus_files() if p.suffix.lower() == ".jpg"][:5]
    with ExifToolReader() as reader:
        pid = reader.pid
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        tags = reader.read(paths)
    assert f"PERL5OPT=-w {PERL5OPT}".encode() in environ
    assert os.environ["PERL5OPT"] == "-w"
    assert [Path(t["SourceFile"]).name for t in tags] == [Path(p).name for p in paths]


def test_streamed_answers_split_anywhere_give_exiftools_objects():
    """ExifTool's JSON, cut into pieces at any byte, gives each object whole, equal to parsing the whole answer."""
    from refocus_bench.datasets.exiftool import _json_objects

    files = [str(p) for p in corpus_files()]
    whole = subprocess.run([EXIFTOOL, *_harvest_args(), *files], capture_output=True, check=False, timeout=300).stdout
    expected = json.loads(whole.decode("utf-8", errors="replace"))
    assert len(expected) > 100
    for size in (1, 7, 4096, len(whole)):
        pieces = (whole[i : i + size] for i in range(0, len(whole), size))
        assert list(_json_objects(pieces)) == expected
