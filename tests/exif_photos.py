"""Photos with known EXIF for the harvest tests, made on the fly with Pillow and ExifTool.

Each builder writes real files (JPEG, PNG, TIFF, a TIFF-based RAW-like NEF and DNG) and returns the
values it wrote, so tests can compare the harvest against independent hand computations.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image, TiffImagePlugin

EXIFTOOL = shutil.which("exiftool")

# name -> (expected status, expected reason) for build_edge_case_folder
EXPECTED_STATUS: dict[str, tuple[str, str | None]] = {
    "canon 50mm.jpg": ("ok", None),
    "phone ü日本 portrait.jpg": ("ok", None),
    "nikon_raw.nef": ("ok", None),
    "acme_focalplane.dng": ("ok", None),
    "tiff_photo.tif": ("ok", None),
    "png_with_exif.png": ("ok", None),
    "odd_rationals.jpg": ("ok", None),
    "too_close.jpg": ("ok", None),
    "dup copy.jpg": ("skipped", "duplicate"),
    "linked.jpg": ("skipped", "duplicate"),
    "empty.jpg": ("skipped", "corrupt"),
    "truncated.jpg": ("skipped", "corrupt"),
    "truncated_raw.nef": ("skipped", "corrupt"),
    "notes.txt": ("skipped", "not_image"),
    "random.bin": ("skipped", "not_image"),
    "no_exif.png": ("skipped", "no_exif"),
    "broken_link.jpg": ("skipped", "unreadable"),
    "self_loop": ("skipped", "symlink_loop"),
    "sub/back": ("skipped", "symlink_loop"),
    "sub/deeper/canon copy in sub.jpg": ("skipped", "duplicate"),
}


def texture(h: int, w: int, seed: int) -> np.ndarray:
    """A sharp random RGB texture (uint8), different for each seed."""
    rng = np.random.default_rng(seed)
    return (rng.random((h, w, 3)) * 255).astype(np.uint8)


def exiftool_write(path: Path, **tags: object) -> None:
    """Write tags with ExifTool (numeric values, -n), in place."""
    args = [EXIFTOOL, "-q", "-overwrite_original", "-n"] + [f"-{k.replace('__', ':')}={v}" for k, v in tags.items()]
    subprocess.run(args + [str(path)], check=True, capture_output=True)


def pillow_exif(make: str, model: str, exif_ifd: dict[int, object]) -> Image.Exif:
    ex = Image.Exif()
    ex[0x010F], ex[0x0110] = make, model
    ifd = ex.get_ifd(0x8769)
    for tag, value in exif_ifd.items():
        ifd[tag] = value
    return ex


R = TiffImagePlugin.IFDRational

CANON = dict(
    Make="Canon",
    Model="Canon EOS 5D Mark II",
    LensModel="EF50mm f/1.8 II",
    FNumber=1.8,
    FocalLength=50,
    FocalLengthIn35mmFormat=50,
    SubjectDistance=2.0,
    ExposureTime=0.005,
    ISO=400,
    DateTimeOriginal="2024:05:01 12:34:56",
    SubSecTimeOriginal="25",
    OffsetTimeOriginal="+01:00",
    Orientation=1,
)
CANON_SIZE = (600, 400)  # stored width, height (3:2 like the 36 x 24 mm sensor)

PHONE = dict(
    Make="Apple",
    Model="iPhone 12",
    FNumber=1.6,
    FocalLength=4.25,
    FocalLengthIn35mmFormat=26,
    Orientation=6,
    XMP__ApproximateFocusDistance=1.5,
    ExposureTime=0.01,
    ISO=50,
    DateTimeOriginal="2023:12:24 18:00:00",
)
PHONE_SIZE = (400, 300)  # stored landscape; Orientation 6 makes it 300 x 400

NIKON = dict(Make="NIKON CORPORATION", Model="NIKON D7000", FNumber=2.8, FocalLength=35)
NIKON_SIZE = (300, 200)

ACME = dict(
    Make="Acme",
    Model="Model X",
    DNGVersion="1 4 0 0",
    FNumber=4,
    FocalLength=12,
    FocalPlaneXResolution=500,
    FocalPlaneYResolution=500,
    FocalPlaneResolutionUnit=3,
    SubjectDistance=0.8,
)
ACME_SIZE = (300, 200)  # 500 px/cm = 50 px/mm -> 6 x 4 mm sensor

TOO_CLOSE = dict(Make="Canon", Model="Canon EOS 5D Mark II", FNumber=4.0, FocalLength=200, SubjectDistance=0.1)


def build_edge_case_folder(root: Path) -> Path:
    """The folder of every case in :data:`EXPECTED_STATUS`; returns the folder."""
    photos = root / "photos"
    (photos / "sub" / "deeper").mkdir(parents=True)
    canon = photos / "canon 50mm.jpg"
    Image.fromarray(texture(CANON_SIZE[1], CANON_SIZE[0], 1)).save(canon, quality=92)
    exiftool_write(canon, **CANON)
    shutil.copyfile(canon, photos / "dup copy.jpg")
    shutil.copyfile(canon, photos / "sub" / "deeper" / "canon copy in sub.jpg")
    os.symlink("canon 50mm.jpg", photos / "linked.jpg")

    phone = photos / "phone ü日本 portrait.jpg"
    Image.fromarray(texture(PHONE_SIZE[1], PHONE_SIZE[0], 2)).save(phone, quality=90)
    exiftool_write(phone, **PHONE)

    nikon = photos / "nikon_raw.nef"  # TIFF structure + Nikon make: ExifTool reports FileType NEF
    Image.fromarray(texture(NIKON_SIZE[1], NIKON_SIZE[0], 3)).save(nikon, format="TIFF")
    exiftool_write(nikon, **NIKON)
    data = nikon.read_bytes()
    (photos / "truncated_raw.nef").write_bytes(data[: len(data) // 2])

    acme = photos / "acme_focalplane.dng"
    Image.fromarray(texture(ACME_SIZE[1], ACME_SIZE[0], 4)).save(acme, format="TIFF")
    exiftool_write(acme, **ACME)

    tif = photos / "tiff_photo.tif"
    Image.fromarray(texture(200, 300, 5)).save(tif, format="TIFF")
    exiftool_write(tif, Make="FUJIFILM", Model="X-T3", FNumber=1.4, FocalLength=35, FocalLengthIn35mmFormat=53)

    Image.fromarray(texture(120, 180, 6)).save(
        photos / "png_with_exif.png", exif=pillow_exif("Sony", "ILCE-7M3", {0x829D: R(28, 10), 0x920A: R(85, 1)})
    )
    Image.fromarray(texture(60, 80, 7)).save(
        photos / "odd_rationals.jpg",
        exif=pillow_exif("Odd", "Rationals", {0x829D: R(0, 0), 0x920A: R(-50, 1), 0x9206: R(5, 0), 0x829A: R(-1, 100)}),
    )
    close = photos / "too_close.jpg"
    Image.fromarray(texture(100, 150, 8)).save(close)
    exiftool_write(close, **TOO_CLOSE)

    (photos / "empty.jpg").write_bytes(b"")
    data = canon.read_bytes()
    (photos / "truncated.jpg").write_bytes(data[: len(data) * 2 // 3])
    (photos / "notes.txt").write_text("not a photo\n")
    (photos / "random.bin").write_bytes(np.random.default_rng(9).bytes(4096))
    Image.fromarray(texture(50, 50, 10)).save(photos / "no_exif.png")
    os.symlink("does-not-exist.jpg", photos / "broken_link.jpg")
    os.symlink("self_loop", photos / "self_loop")
    os.symlink("..", photos / "sub" / "back")
    return photos


def build_simple_folder(folder: Path, n: int, start: int = 0, size: tuple[int, int] = (96, 64)) -> list[Path]:
    """``n`` distinct small JPEGs with camera EXIF written by Pillow (fast, no ExifTool)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(start, start + n):
        p = folder / f"img_{i:05d}.jpg"
        ex = pillow_exif(
            "Canon", "Canon EOS 5D Mark II", {0x829D: R(18, 10), 0x920A: R(50, 1), 0x9206: R(2 + i % 5, 1), 0x8827: 100}
        )
        Image.fromarray(texture(size[1], size[0], 1000 + i)).save(p, exif=ex, quality=85)
        out.append(p)
    return out
