#!/usr/bin/env python
"""Point lights drawn by ``genrefocus.tiny`` with a heart and a hexagon aperture: IoU table and figure.

The scene and the metric are those of ``tests/test_models_tiny_aperture.py`` (four 3 x 3 px lights on a
dark plane at 5 m, focus 1 m, ``bokeh.aperture_iou`` against ``bokeh.layered``). Prints a Markdown table
of the IoU per shape and CoC radius for the shipped weights (and ``--previous`` weights with their
``--previous-arch``), and writes a PNG: per shape, the physical render and the model's, one light each.

    python reports/genrefocus_tiny/aperture_figure.py --out docs/img/tiny_apertures.png \\
        --previous v1.safetensors --previous-arch '{"bokeh_radii": [0, 1, 2, 4, 8, 16, 32]}'
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from refocus_bench.metrics import create_metric  # noqa: E402
from refocus_bench.models import create_model  # noqa: E402
from refocus_bench.models.genrefocus.tiny import GenRefocusTiny  # noqa: E402

SIZE, COC_PX, SHAPES = 128, (6.0, 10.0, 14.0), ("heart", "hexagon", "disk")
POINTS = torch.tensor([[[32.0, 32.0], [96.0, 32.0], [32.0, 96.0], [96.0, 96.0]]])


def scene() -> tuple[torch.Tensor, torch.Tensor]:
    aif = torch.full((1, 3, SIZE, SIZE), 0.02)
    for x, y in POINTS[0].long().tolist():
        aif[..., y - 1 : y + 2, x - 1 : x + 2] = 1.0
    return aif, torch.full((1, 1, SIZE, SIZE), 5.0)


def renders(model) -> dict:
    aif, depth = scene()
    with torch.no_grad():
        return {
            (ap, c): model.bokeh(aif, depth, focus_distance_m=1.0, k_px_m=c / 0.8, aperture=ap)
            for ap in SHAPES
            for c in COC_PX
        }


def crop(img: torch.Tensor) -> np.ndarray:
    """The top-left light's 49 x 49 window, grey, scaled to its own range."""
    c = img[0, :, 8:57, 8:57].mean(0)
    return ((c - c.min()) / (c.max() - c.min()).clamp(min=1e-9)).numpy()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="docs/img/tiny_apertures.png")
    p.add_argument("--previous")
    p.add_argument("--previous-arch", default="{}")
    args = p.parse_args()
    torch.set_num_threads(1)
    iou = create_metric("bokeh.aperture_iou")
    models = {"shipped": create_model("genrefocus.tiny")}
    if args.previous:
        models["previous"] = GenRefocusTiny(weights=args.previous, arch=json.loads(args.previous_arch))
    target = renders(create_model("bokeh.layered"))
    out = {name: renders(m) for name, m in models.items()}
    print("| weights | render | scored against | " + " | ".join(f"CoC {c:g} px" for c in COC_PX) + " |")
    print("|---|---|---|" + "---|" * len(COC_PX))
    pairs = [(s, s) for s in ("heart", "hexagon")] + [("disk", "heart"), ("hexagon", "heart"), ("heart", "hexagon")]
    for name, r in out.items():
        for ap, tgt in pairs:
            vals = [float(iou.score(r[ap, c], target[tgt, c], points=POINTS)) for c in COC_PX]
            print(f"| {name} | {ap} | {tgt} | " + " | ".join(f"{v:.3f}" for v in vals) + " |")
    rows = [np.concatenate([crop(target[s, 10.0])] + [crop(r[s, 10.0]) for r in out.values()], 1) for s in SHAPES]
    img = np.concatenate(rows, 0)
    Image.fromarray((img * 255).round().astype(np.uint8)).resize((img.shape[1] * 3, img.shape[0] * 3)).save(args.out)
    print(f"figure {args.out}: rows {', '.join(SHAPES)}; columns physical, {', '.join(out)} (CoC 10 px)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
