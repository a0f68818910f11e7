#!/usr/bin/env python
"""Compare models on held-out generated pairs (deblur, bokeh, refocus) by LPIPS, DISTS, PSNR and SSIM.

Usage::

    nice -n 10 python scripts/eval_models.py --pairs 24 --size 256 --out reports/model_comparison

The pairs come from the ``test`` seed range of :mod:`refocus_bench.models.genrefocus.synthetic`
(disjoint from the scenes ``genrefocus.tiny`` was trained and validated on); targets are exact layered
renders with hidden content. Deconvolution baselines are scored twice: with the oracle CoC of the
input (``coc_in``) and with their blind estimate. ``bokeh.scatter`` renders disks only, so bokeh is
also reported on the subset of pairs whose target aperture is a disk. Deblur and bokeh are scored by
LPIPS-alex, LPIPS-vgg and DISTS (:data:`PERCEPTUAL`), refocus by LPIPS-alex; the headline comparisons
are paired per-pair differences with their standard error and a normal-approximation 95% interval
(mean +- 1.96 s.e.). Writes ``results.json`` (every per-sample score, the data hash, settings) and
``README.md`` (the tables).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from refocus_bench.hashing import file_sha256  # noqa: E402
from refocus_bench.metrics import create_metric  # noqa: E402
from refocus_bench.models import create_model  # noqa: E402
from refocus_bench.models.genrefocus.synthetic import OUTPUT_APERTURES, make_pairs, pairs_digest  # noqa: E402

DEBLUR_ROWS = [
    ("identity", "identity", {}, False),
    ("deblur.unsharp", "deblur.unsharp", {}, False),
    ("deblur.wiener (estimated CoC)", "deblur.wiener", {"coc_source": "estimate"}, False),
    ("deblur.wiener (oracle CoC)", "deblur.wiener", {}, True),
    ("deblur.richardson_lucy (estimated CoC)", "deblur.richardson_lucy", {"coc_source": "estimate"}, False),
    ("deblur.richardson_lucy (oracle CoC)", "deblur.richardson_lucy", {}, True),
    ("genrefocus.tiny", "genrefocus.tiny", {}, False),
]
BOKEH_ROWS = [
    ("identity (AIF)", "identity", {}),
    ("bokeh.gaussian", "bokeh.gaussian", {}),
    ("bokeh.scatter", "bokeh.scatter", {}),
    ("bokeh.layered", "bokeh.layered", {}),
    ("genrefocus.tiny", "genrefocus.tiny", {}),
]
REFOCUS_ROWS = [
    ("identity", "identity", {}),
    (
        "cascade wiener(est) -> gaussian",
        "refocus.cascade",
        {"deblur": "deblur.wiener", "bokeh": "bokeh.gaussian", "deblur_kwargs": {"coc_source": "estimate"}},
    ),
    (
        "cascade wiener(est) -> layered",
        "refocus.cascade",
        {"deblur": "deblur.wiener", "bokeh": "bokeh.layered", "deblur_kwargs": {"coc_source": "estimate"}},
    ),
    ("genrefocus.tiny", "genrefocus.tiny", {}),
]


def score_all(metrics: dict, preds: torch.Tensor, target: torch.Tensor, chunk: int = 8) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {k: [] for k in metrics}
    with torch.no_grad():
        for i in range(0, preds.shape[0], chunk):
            for k, m in metrics.items():
                out[k] += [float(v) for v in m.score(preds[i : i + chunk].clamp(0, 1), target[i : i + chunk])]
    return out


def run_rows(task: str, rows, pairs: dict, metrics: dict, cache: Path | None = None, digest: str = "") -> list[dict]:
    """Score every row; with ``cache``, a row already scored on the same data, model, weights and metrics is reused."""
    import hashlib

    n = pairs["aif"].shape[0]
    out = []
    for label, name, kwargs, *rest in rows:
        oracle = bool(rest and rest[0])
        model = create_model(name, **kwargs).eval()
        wpath = getattr(model, "weights_path", None)
        key = json.dumps(
            [task, label, name, kwargs, oracle, wpath and file_sha256(wpath), digest, sorted(metrics)], default=str
        )
        entry = cache / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json" if cache else None
        if entry is not None and entry.is_file():
            out.append(json.loads(entry.read_text()))
            print(f"[{task}] {label}: cached {entry}", flush=True)
            continue
        preds, keep, t0 = [], [], time.time()
        for i in range(n):
            ap = OUTPUT_APERTURES[int(pairs["aperture_out"][i])]
            if name == "bokeh.scatter" and ap != "disk":
                continue
            if task == "deblur":
                p = model.deblur(pairs["blurry"][i : i + 1], coc_px=pairs["coc_in"][i : i + 1] if oracle else None)
            else:
                src = pairs["aif"] if task == "bokeh" else pairs["blurry"]
                p = getattr(model, task)(
                    src[i : i + 1],
                    pairs["depth"][i : i + 1],
                    focus_distance_m=float(pairs["focus_out"][i]),
                    k_px_m=float(pairs["k_out"][i]),
                    aperture=ap,
                )
            preds.append(p)
            keep.append(i)
        if not keep:
            print(f"[{task}] {label}: no pair it can render; row left out", flush=True)
            continue
        seconds = (time.time() - t0) / len(keep)
        target = (pairs["aif"] if task == "deblur" else pairs["bokeh"])[keep]
        scores = score_all(metrics, torch.cat(preds), target)
        out.append(
            {
                "label": label,
                "model": name,
                "kwargs": {k: v for k, v in kwargs.items() if k != "weights"},
                "weights_sha256": wpath and file_sha256(wpath),
                "oracle_coc": oracle,
                "samples": keep,
                "seconds_per_image": seconds,
                "scores": scores,
            }
        )
        if entry is not None:
            entry.write_text(json.dumps(out[-1], default=str))
        print(f"[{task}] {label}: LPIPS {sum(scores['lpips.alex']) / len(keep):.4f} ({seconds:.2f} s/img)", flush=True)
    return out


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


PERCEPTUAL = {"lpips.alex": "LPIPS-alex", "lpips.vgg": "LPIPS-vgg", "dists.vgg16": "DISTS"}
"""Perceptual metrics (all lower is better) and their column names; deblur and bokeh get all three."""


def mean_se(xs: list[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (0 for a single value)."""
    m = mean(xs)
    return m, (sum((x - m) ** 2 for x in xs) / max(1, len(xs) - 1)) ** 0.5 / len(xs) ** 0.5


def table(rows: list[dict], subset: set[int] | None = None) -> list[str]:
    """Mean score per row (perceptual metrics as mean +- s.e. over pairs) on ``subset`` of the pairs."""
    cols = [k for k in PERCEPTUAL if all(k in r["scores"] for r in rows)]
    lines = [
        "| model | " + " | ".join(f"{PERCEPTUAL[k]} (lower is better)" for k in cols) + " | PSNR dB | SSIM | pairs "
        "| s / image |",
        "|---|" + "---|" * (len(cols) + 4),
    ]
    for r in rows:
        idx = [j for j, s in enumerate(r["samples"]) if subset is None or s in subset]
        if not idx:
            continue
        sc = {k: mean_se([v[j] for j in idx]) for k, v in r["scores"].items()}
        perc = " | ".join(f"{sc[k][0]:.4f} +- {sc[k][1]:.4f}" for k in cols)
        lines.append(
            f"| {r['label']} | {perc} | {sc['psnr.rgb'][0]:.2f} | {sc['ssim.rgb'][0]:.4f} | {len(idx)} "
            f"| {r['seconds_per_image']:.2f} |"
        )
    return lines


PAIRED = [
    ("deblur", "genrefocus.tiny", "identity"),
    ("deblur", "genrefocus.tiny", "deblur.wiener (estimated CoC)"),
    ("deblur", "genrefocus.tiny", "deblur.richardson_lucy (estimated CoC)"),
    ("deblur", "genrefocus.tiny", "deblur.wiener (oracle CoC)"),
    ("deblur", "genrefocus.tiny", "deblur.richardson_lucy (oracle CoC)"),
    ("bokeh", "genrefocus.tiny", "bokeh.gaussian"),
    ("bokeh", "genrefocus.tiny", "bokeh.layered"),
    ("refocus", "genrefocus.tiny", "identity"),
]


PREVIOUS = "genrefocus.tiny (previous weights)"


def paired_rows(results: dict, metric: str) -> list[dict]:
    """Per-pair ``metric`` differences of the headline comparisons: mean, s.e., 95% interval, wins, pairs."""
    comparisons = list(PAIRED)
    if any(r["label"] == PREVIOUS for r in results["deblur"]):
        comparisons += [(t, "genrefocus.tiny", PREVIOUS) for t in ("deblur", "bokeh", "refocus")]
    out = []
    for task, a, b in comparisons:
        ra = next((r for r in results[task] if r["label"] == a), None)
        rb = next((r for r in results[task] if r["label"] == b), None)
        if ra is None or rb is None or metric not in ra["scores"] or metric not in rb["scores"]:
            continue
        sa, sb = dict(zip(ra["samples"], ra["scores"][metric])), dict(zip(rb["samples"], rb["scores"][metric]))
        d = [sa[i] - sb[i] for i in sorted(set(sa) & set(sb))]
        m, se = mean_se(d)
        out.append(
            {
                "task": task,
                "first": a,
                "second": b,
                "metric": metric,
                "mean": m,
                "se": se,
                "ci95": [m - 1.96 * se, m + 1.96 * se],
                "first_better": sum(x < 0 for x in d),
                "pairs": len(d),
            }
        )
    return out


def paired_table(results: dict, metric: str = "lpips.alex") -> list[str]:
    """Markdown of :func:`paired_rows` for one metric."""
    lines = [
        f"| task | comparison | mean {metric} difference +- s.e. (negative: first is better) | 95% interval "
        "| mean / s.e. | pairs where the first is better |",
        "|---|---|---|---|---|---|",
    ]
    for r in paired_rows(results, metric):
        z = r["mean"] / r["se"] if r["se"] else float("nan")
        lines.append(
            f"| {r['task']} | {r['first']} vs {r['second']} | {r['mean']:+.4f} +- {r['se']:.4f} "
            f"| [{r['ci95'][0]:+.4f}, {r['ci95'][1]:+.4f}] | {z:+.1f} | {r['first_better']}/{r['pairs']} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=24)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="reports/model_comparison")
    p.add_argument(
        "--previous-weights",
        help="also score genrefocus.tiny with these (earlier) weights, paired with the current ones",
    )
    p.add_argument("--previous-arch", default="{}", help="JSON arch overrides of --previous-weights")
    p.add_argument(
        "--cache",
        help="folder caching the test pairs and per-row scores (rows re-run only when data, model, "
        "weights or metrics change)",
    )
    p.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="TASK:LABEL",
        help="leave out a row, e.g. 'deblur:deblur.unsharp' (repeatable; named in the report)",
    )
    p.add_argument("--only", help="comma-separated tasks to run (the report needs all three; for warming --cache)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    cache = Path(args.cache) if args.cache else None
    pairs_file = cache / f"test_{args.pairs}_{args.size}.safetensors" if cache else None
    if pairs_file is not None and pairs_file.is_file():
        from safetensors.torch import load_file

        pairs = load_file(str(pairs_file))
    else:
        pairs = make_pairs("test", args.pairs, args.size, workers=args.workers)
        if pairs_file is not None:
            from safetensors.torch import save_file

            cache.mkdir(parents=True, exist_ok=True)
            save_file({k: v.contiguous() for k, v in pairs.items()}, str(pairs_file))
    digest = pairs_digest(pairs)
    print(f"{args.pairs} test pairs at {args.size} px, sha256 {digest}", flush=True)
    metrics = {k: create_metric(k) for k in ("lpips.alex", "psnr.rgb", "ssim.rgb")}
    full = {**metrics, **{k: create_metric(k) for k in PERCEPTUAL}}  # deblur and bokeh
    deblur_rows, bokeh_rows, refocus_rows = list(DEBLUR_ROWS), list(BOKEH_ROWS), list(REFOCUS_ROWS)
    if args.previous_weights:
        prev = {"weights": args.previous_weights, "arch": json.loads(args.previous_arch)}
        deblur_rows.append((PREVIOUS, "genrefocus.tiny", prev, False))
        bokeh_rows.append((PREVIOUS, "genrefocus.tiny", prev))
        refocus_rows.append((PREVIOUS, "genrefocus.tiny", prev))
    todo = {"deblur": (deblur_rows, full), "bokeh": (bokeh_rows, full), "refocus": (refocus_rows, metrics)}
    known = {f"{t}:{r[0]}" for t, (rows, _) in todo.items() for r in rows}
    if set(args.skip) - known:
        raise SystemExit(f"--skip: unknown rows {sorted(set(args.skip) - known)}; known: {sorted(known)}")
    todo = {t: ([r for r in rows if f"{t}:{r[0]}" not in args.skip], ms) for t, (rows, ms) in todo.items()}
    if args.only:  # warm the cache with the rows that do not depend on genrefocus.tiny's new weights
        for task in args.only.split(","):
            rows, ms = todo[task]
            run_rows(task, [r for r in rows if r[0] != "genrefocus.tiny"], pairs, ms, cache, digest)
        return 0
    results = {task: run_rows(task, rows, pairs, ms, cache, digest) for task, (rows, ms) in todo.items()}
    tiny = create_model("genrefocus.tiny")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "settings": vars(args),
        "data_sha256": digest,
        "split": "test",
        "tiny_weights": tiny.weights_path,
        "tiny_sha256": tiny.card.weights[0].sha256,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "minutes": (time.time() - t0) / 60,
        "metrics": {k: m.definition() for k, m in full.items()},
        "paired": [row for k in PERCEPTUAL for row in paired_rows(results, k)],
        "results": results,
    }
    (out / "results.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    disks = {i for i in range(args.pairs) if OUTPUT_APERTURES[int(pairs["aperture_out"][i])] == "disk"}
    lines = [
        "# Model comparison on held-out generated pairs",
        "",
        f"Command: `python scripts/eval_models.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
        "",
        f"{args.pairs} pairs from the `test` seed range of `refocus_bench/models/genrefocus/synthetic.py` "
        f"at {args.size} px (data sha256 `{digest}`); targets are exact layered renders (hidden content included). "
        f"`genrefocus.tiny` weights sha256 `{tiny.card.weights[0].sha256}`. Seconds per image on this shared "
        "2-core CPU "
        "include other engineers' load; see perf/test_bench_models.py for timings.",
        "",
        *([f"Rows left out (`--skip`): {', '.join(f'`{x}`' for x in args.skip)}.", ""] if args.skip else []),
        "## Deblur (blurry input -> all-in-focus target)",
        "",
        *table(results["deblur"]),
        "",
        "## Bokeh (AIF + depth + focus + K + aperture -> bokeh target), all apertures",
        "",
        *table(results["bokeh"]),
        "",
        *(
            [
                f"## Bokeh, disk-aperture pairs only ({len(disks)} pairs; the only ones bokeh.scatter can render)",
                "",
                *table(results["bokeh"], disks),
                "",
            ]
            if disks
            else []
        ),
        "## Refocus (blurry input -> new focus / K / aperture target)",
        "",
        *table(results["refocus"]),
        "",
        "## Paired differences (same pairs)",
        "",
        "95% interval: mean +- 1.96 s.e. (normal approximation over pairs).",
        "",
        *[line for k in PERCEPTUAL for line in (f"### {PERCEPTUAL[k]}", "", *paired_table(results, k), "")],
        "Per-sample scores: `results.json`.",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
