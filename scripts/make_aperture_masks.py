"""Regenerate the bundled raster aperture masks (heart, star, triangle) procedurally.

The images are this project's own work (same licence as the code). Each is a 256x256 8-bit grey
PNG, 255 = open, anti-aliased by 4x4 supersampling, centred, filling about 90% of the frame.
Run: .venv/bin/python scripts/make_aperture_masks.py
"""

import math
from pathlib import Path

import cv2
import numpy as np

SIZE, SUB = 256, 4
OUT = Path(__file__).resolve().parents[1] / "refocus_bench" / "data" / "apertures"


def grid():
    t = (np.arange(SIZE * SUB) + 0.5) / (SIZE * SUB) * 2.0 - 1.0
    x, y = np.meshgrid(t, -t)  # y up
    return x / 0.9, y / 0.9


def heart(x, y):
    y = y * 1.1 + 0.12
    x = x * 1.1
    return (x * x + y * y - 1.0) ** 3 - x * x * y**3 <= 0.0


def polygon_inside(x, y, verts):
    inside = np.ones_like(x, dtype=bool)
    n = len(verts)
    for i in range(n):
        (x0, y0), (x1, y1) = verts[i], verts[(i + 1) % n]
        inside &= (x1 - x0) * (y - y0) - (y1 - y0) * (x - x0) >= 0.0  # counter-clockwise
    return inside


def star(x, y):
    outer, inner = 1.0, 0.42
    pts = []
    for k in range(10):
        r = outer if k % 2 == 0 else inner
        a = math.pi / 2 + k * math.pi / 5
        pts.append((r * math.cos(a), r * math.sin(a)))
    # a star is not convex: union of the centre pentagon and the five tip triangles
    mask = polygon_inside(x, y, pts[1::2])
    for k in range(0, 10, 2):
        mask |= polygon_inside(x, y, [pts[k - 1], pts[k], pts[(k + 1) % 10]][::-1]) | polygon_inside(
            x, y, [pts[k - 1], pts[(k + 1) % 10], pts[k]][::-1]
        )
    return mask


def triangle(x, y):
    verts = [
        (math.cos(a), math.sin(a)) for a in (math.pi / 2, math.pi / 2 + 2 * math.pi / 3, math.pi / 2 + 4 * math.pi / 3)
    ]
    return polygon_inside(x, y, verts)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    x, y = grid()
    for name, fn in [("heart", heart), ("star", star), ("triangle", triangle)]:
        m = fn(x, y).astype(np.float64).reshape(SIZE, SUB, SIZE, SUB).mean(axis=(1, 3))
        cv2.imwrite(str(OUT / f"{name}.png"), np.round(m * 255).astype(np.uint8))
        print(name, f"open fraction {m.mean():.3f}")


if __name__ == "__main__":
    main()
