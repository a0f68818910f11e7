"""``refocus-bench fit-blur`` and ``refocus-bench make-real-pairs``: BokehNet samples from real photos.

Both write the pair schema with a ``route`` column (Parquet shards, dataset card, manifest.jsonl),
resumably: rerunning a command into the same folder finishes it. Nothing heavy is imported before a
command runs.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from ...errors import check

__all__ = ["add_parser"]


def _size(text: str) -> tuple[int, int]:
    from .cli import parse_size

    h, w = parse_size(text)
    check(min(h, w) >= 16, lambda: f"--size must be at least 16 px, got {text!r}")
    return h, w


def _bounds(text: str) -> tuple[float, float]:
    from .cli import parse_floats

    v = parse_floats(text, "--k-range")
    check(len(v) == 2 and 0 < v[0] < v[1], lambda: f"--k-range must be LO,HI with 0 < LO < HI, got {text!r}")
    return v[0], v[1]


def _depth_model(name: str | None, weights: str | None) -> Any:
    if name is None:
        return None
    from ...models.depth import create_depth_estimator

    return create_depth_estimator(name, **({"weights": weights} if weights else {}))


def _report(name: str, result: Any) -> int:
    c = result.counts
    print(
        f"{name}: {c.get('kept', 0)} kept, {c.get('rejected', 0)} rejected, {c.get('skipped', 0)} skipped "
        f"({result.shards_made} shards made, {result.shards_skipped} already done) -> {result.out_dir}"
    )
    for j, why in sorted(result.failed.items()):
        print(f"{name}: shard {j} failed (rerun to retry): {why}", file=sys.stderr)
    return 1 if result.failed else 0


def _has_shards(out: Any) -> bool:
    return any((out / "state" / "shards").glob("shard-*.json"))


def _run_fit_blur(args: argparse.Namespace) -> int:
    from ...paths import check_input_path, check_output_dir, removed_on_failure
    from .fit_blur import FitSettings
    from .fit_pairs import find_dataset_pairs, find_pairs, fit_pairs

    check_input_path(args.pairs, "PAIRS")
    if args.depth_dir is not None:
        check_input_path(args.depth_dir, "--depth-dir")
    settings = FitSettings(
        k_bounds_px_m=_bounds(args.k_range),
        grid=args.grid,
        max_renders=args.max_renders,
        min_ssim=args.min_ssim,
        aperture=args.aperture,
    )
    if args.dataset:  # a folder that is not a pairs folder (or dataset copy) fails before OUT is made
        find_dataset_pairs(args.dataset, args.pairs, args.split, args.depth_dir)
    else:
        find_pairs(args.pairs)
    check_output_dir(args.out, "-o")
    with removed_on_failure(args.out, keep=_has_shards):
        result = fit_pairs(
            args.pairs,
            args.out,
            settings=settings,
            size=_size(args.size),
            depth_model=_depth_model(args.depth_model, args.depth_weights),
            per_shard=args.per_shard,
            overwrite=args.overwrite,
            command=f"refocus-bench fit-blur {shlex.quote(args.pairs)} -o {shlex.quote(args.out)}",
            dataset=args.dataset,
            split=args.split,
            depth_dir=args.depth_dir,
        )
    return _report("fit-blur", result)


def _run_make_real_pairs(args: argparse.Namespace) -> int:
    from ...paths import check_input_path, check_output_dir, removed_on_failure
    from .real import make_real_pairs, read_harvest

    check_input_path(args.harvest, "HARVEST_DIR")
    for flag, folder in (("--depth-dir", args.depth_dir), ("--mask-dir", args.mask_dir)):
        if folder is not None:
            check_input_path(folder, flag)
    check(
        args.depth_dir is not None or args.depth_model is not None,
        "give --depth-dir (depth maps named like the photos) or --depth-model",
    )
    read_harvest(args.harvest)  # a folder that is not a harvest fails before OUT is made
    check_output_dir(args.out, "-o")
    with removed_on_failure(args.out, keep=_has_shards):
        result = make_real_pairs(
            args.harvest,
            args.out,
            size=_size(args.size),
            deblur_model=args.deblur_model,
            depth_dir=args.depth_dir,
            depth_model=_depth_model(args.depth_model, args.depth_weights),
            mask_dir=args.mask_dir,
            per_shard=args.per_shard,
            overwrite=args.overwrite,
            command=f"refocus-bench make-real-pairs {shlex.quote(args.harvest)} -o {shlex.quote(args.out)}",
        )
    return _report("make-real-pairs", result)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--out", required=True, help="output folder (rerun into it to resume)")
    p.add_argument("--size", default="512", help="output size N or WxH in pixels (cover + centre crop; default 512)")
    p.add_argument("--depth-model", help="registered depth estimator for inputs without a depth file")
    p.add_argument("--depth-weights", help="weights folder of --depth-model")
    p.add_argument("--per-shard", type=int, default=16, help="inputs per shard: the unit of resume (default 16)")
    p.add_argument("--overwrite", action="store_true", help="discard an OUT made from other inputs or settings")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fit-blur",
        help="fit the blur strength K* of real (AIF, bokeh) pairs through the renderer and keep the good fits",
        description=(
            "Route (c) of GenRefocus's data: K* = argmax_K SSIM(render(AIF, depth; focus, K), bokeh), a bracketed "
            "search on log K (at most 16 renderings). PAIRS holds aif/<stem>.png, bokeh/<stem>.png, "
            "depth/<stem>.exr|.npy|.png (metres) and optionally meta/<stem>.json with focus_distance_m and "
            "aperture; without a focus distance it is the median depth where the bokeh photo keeps the AIF's "
            "detail. Fits with SSIM below --min-ssim are rejected and listed in OUT/manifest.jsonl."
        ),
    )
    p.add_argument("pairs", metavar="PAIRS", help="folder of pairs (see above), or a dataset copy with --dataset")
    _common(p)
    p.add_argument("--dataset", help="read PAIRS as a copy of this registered dataset (e.g. ebb400, lfdof)")
    p.add_argument("--split", help="dataset split (default: the dataset's)")
    p.add_argument("--depth-dir", help="depth maps in metres by stem or sample id, instead of the pairs' own")
    p.add_argument("--k-range", default="2,150", metavar="LO,HI", help="search interval of K, px*m (default 2,150)")
    p.add_argument("--grid", type=int, default=6, help="points of the first log-spaced scan (default 6)")
    p.add_argument("--max-renders", type=int, default=16, help="renderings per fit (default 16)")
    p.add_argument("--min-ssim", type=float, default=0.85, help="keep fits with SSIM(K*) >= this (default 0.85)")
    p.add_argument("--aperture", default="disk", help="aperture the renderer draws unless meta says (default disk)")
    p.set_defaults(func=_run_fit_blur)

    p = subparsers.add_parser(
        "make-real-pairs",
        help="turn harvested real bokeh photos with EXIF into BokehNet samples (GenRefocus's EXIF route)",
        description=(
            "Route (b) of GenRefocus's data. For each photo of HARVEST_DIR (made by 'refocus-bench harvest'): "
            "the all-in-focus image from --deblur-model, depth from --depth-dir (maps named like the photos, "
            "metres) or --depth-model, the in-focus mask from --mask-dir or a classical sharpness mask, "
            "D_focus = median depth in the mask, K from the EXIF focal length, f-number and sensor width "
            "(thin lens). Photos without usable EXIF are skipped, with the reason in OUT/manifest.jsonl."
        ),
    )
    p.add_argument("harvest", metavar="HARVEST_DIR", help="folder written by refocus-bench harvest")
    _common(p)
    p.add_argument(
        "--deblur-model", default="genrefocus.tiny", help="registered deblur model (default genrefocus.tiny)"
    )
    p.add_argument("--depth-dir", help="folder of depth maps named by photo stem (.exr/.npy metres, .png mm)")
    p.add_argument("--mask-dir", help="folder of in-focus masks named by photo stem (white = in focus)")
    p.set_defaults(func=_run_make_real_pairs)
