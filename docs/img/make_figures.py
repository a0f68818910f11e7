"""Make the README's two pictures from the command line tools (run from the repository root).

    .venv/bin/python docs/img/make_figures.py [--showcase out/showcase]

* ``docs/img/renders.jpg``: ``refocus-bench showcase`` (the bundled Middlebury RGB-D scene, 85 mm f/1.4,
  full frame) focused near and far, and one defocused point light per aperture shape drawn by
  ``refocus-bench render`` (K = 28 px*m, focus 1 m, light at 10 m: CoC radius 25.2 px).
* ``docs/img/leaderboard.png``: a headless Chromium screenshot of ``leaderboards/site/index.html``.

Only public commands are used, so the pictures show what a user gets. ``$REFOCUS_BENCH_CLI`` overrides
the command (default ``.venv/bin/refocus-bench``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from matplotlib import font_manager
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[2]
CLI = os.environ.get("REFOCUS_BENCH_CLI", str(ROOT / ".venv" / "bin" / "refocus-bench"))
IMG = ROOT / "docs" / "img"
APERTURES = ("disk", "hexagon", "heart", "star", "anamorphic")
PANEL_W = 360


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)


def _labelled(im: Image.Image, text: str, width: int) -> Image.Image:
    im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
    out = Image.new("RGB", (im.width, im.height + 22), "white")
    out.paste(im, (0, 22))
    ImageDraw.Draw(out).text((4, 3), text, fill="black", font=_font(14))
    return out


def point_lights(work: Path) -> list[Image.Image]:
    """One 5x5 px white light on black at 10 m, focus 1 m, K = 28 px*m, per aperture."""
    image = np.zeros((144, 216, 3), np.uint8)
    image[70:75, 106:111] = 255
    Image.fromarray(image).save(work / "light.png")
    np.save(work / "depth.npy", np.full((144, 216), 10.0, np.float32))
    tiles = []
    for name in APERTURES:
        out = work / f"light_{name}.png"
        cmd = [CLI, "render", str(work / "light.png"), "--depth", str(work / "depth.npy"), "--k", "28"]
        cmd += ["--focus-distance", "1", "--aperture", name, "--highlight-gain", "16", "-o", str(out)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        tiles.append(_labelled(Image.open(out).convert("RGB"), name, 216))
    return tiles


def renders_figure(showcase: Path, work: Path) -> Image.Image:
    panels = [
        _labelled(Image.open(showcase / "all_in_focus.png"), "input (all in focus)", PANEL_W),
        _labelled(Image.open(showcase / "focus2.3m_hexagon.png"), "85 mm f/1.4, focus 2.3 m, hexagon", PANEL_W),
        _labelled(Image.open(showcase / "focus4.2m_disk.png"), "85 mm f/1.4, focus 4.2 m, disk", PANEL_W),
    ]
    lights = point_lights(work)
    width = 3 * PANEL_W
    sheet = Image.new("RGB", (width, panels[0].height + lights[0].height + 4), "white")
    for i, p in enumerate(panels):
        sheet.paste(p, (i * PANEL_W, 0))
    for i, t in enumerate(lights):
        sheet.paste(t, (i * t.width, panels[0].height + 4))
    return sheet


def leaderboard_screenshot(out: Path) -> None:
    site = ROOT / "leaderboards" / "site" / "index.html"
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    cmd += ["--window-size=900,640", f"--screenshot={out}", site.as_uri()]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--showcase", type=Path, help="reuse this 'refocus-bench showcase' output folder")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        showcase = args.showcase
        if showcase is None:
            showcase = work / "showcase"
            subprocess.run([CLI, "showcase", "-o", str(showcase)], check=True, stdout=subprocess.DEVNULL)
        renders_figure(showcase, work).save(IMG / "renders.jpg", quality=85, optimize=True)
    leaderboard_screenshot(IMG / "leaderboard.png")
    for name in ("renders.jpg", "leaderboard.png"):
        print(IMG / name, (IMG / name).stat().st_size, "bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
