#!/usr/bin/env python
"""Compare models on held-out generated pairs (deblur, bokeh, refocus) by LPIPS, PSNR and SSIM.

Usage::

    nice -n 10 python scripts/eval_models.py --pairs 24 --size 256 --out reports/model_comparison

The pairs come from the ``test`` seed range of :mod:`refocus_bench.models.genrefocus.synthetic`
(disjoint from the scenes ``genrefocus.tiny`` was trained and validated on); targets are exact layered
renders with hidden content. Deconvolution baselines are scored twice: with the oracle CoC of the
input (``coc_in``) and with their blind estimate. ``bokeh.scatter`` renders disks only, so bokeh is
also reported on the subset of pairs whose target aperture is a disk. Writes ``results.json`` (every
per-sample score, the data hash, settings) and ``README.md`` (the tables).
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
        seconds = (time.time() - t0) / max(1, len(keep))
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


def table(rows: list[dict], subset: set[int] | None = None) -> list[str]:
    vgg = all("lpips.vgg" in r["scores"] for r in rows)
    lines = [
        "| model | LPIPS-alex (lower is better) | "
        + ("LPIPS-vgg | " if vgg else "")
        + "PSNR dB | SSIM | pairs | s / image |",
        "|---|---|---|---|---|---|" + ("---|" if vgg else ""),
    ]
    for r in rows:
        idx = [j for j, s in enumerate(r["samples"]) if subset is None or s in subset]
        if not idx:
            continue
        sc = {k: mean([v[j] for j in idx]) for k, v in r["scores"].items()}
        v = f"{sc['lpips.vgg']:.4f} | " if vgg else ""
        lines.append(
            f"| {r['label']} | {sc['lpips.alex']:.4f} | {v}{sc['psnr.rgb']:.2f} | {sc['ssim.rgb']:.4f} | {len(idx)} "
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


def paired_table(results: dict, metric: str = "lpips.alex") -> list[str]:
    """Per-pair ``metric`` differences (mean, standard error, mean / s.e., wins) of the headline comparisons."""
    lines = [
        f"| task | comparison | mean {metric} difference +- s.e. (negative: first is better) | mean / s.e. "
        "| pairs where the first is better |",
        "|---|---|---|---|---|",
    ]
    comparisons = list(PAIRED)
    if any(r["label"] == PREVIOUS for r in results["deblur"]):
        comparisons += [("deblur", "genrefocus.tiny", PREVIOUS), ("refocus", "genrefocus.tiny", PREVIOUS)]
    for task, a, b in comparisons:
        ra = next((r for r in results[task] if r["label"] == a), None)
        rb = next((r for r in results[task] if r["label"] == b), None)
        if ra is None or rb is None or metric not in ra["scores"] or metric not in rb["scores"]:
            continue
        sa, sb = dict(zip(ra["samples"], ra["scores"][metric])), dict(zip(rb["samples"], rb["scores"][metric]))
        d = [sa[i] - sb[i] for i in sorted(set(sa) & set(sb))]
        m = mean(d)
        se = (sum((x - m) ** 2 for x in d) / max(1, len(d) - 1)) ** 0.5 / len(d) ** 0.5
        lines.append(
            f"| {task} | {a} vs {b} | {m:+.4f} +- {se:.4f} | {m / se if se else float('nan'):+.1f} "
            f"| {sum(x < 0 for x in d)}/{len(d)} |"
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
    p.add_argument(
        "--previous-arch", default='{"deblur_refine_widths": null}', help="JSON arch overrides of --previous-weights"
    )
    p.add_argument(
        "--cache",
        help="folder caching the test pairs and per-row scores (rows re-run only when data, model, "
        "weights or metrics change)",
    )
    p.add_argument("--only", help="comma-separated tasks to run (the report needs all three; for warming --cache)")
    p.add_argument("--deblur-vgg", action="store_true", help="also score deblurring by LPIPS-vgg (not a training loss)")
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
    deblur_metrics = {**metrics, "lpips.vgg": create_metric("lpips.vgg")} if args.deblur_vgg else metrics
    deblur_rows, refocus_rows = list(DEBLUR_ROWS), list(REFOCUS_ROWS)
    if args.previous_weights:
        prev = {"weights": args.previous_weights, "arch": json.loads(args.previous_arch)}
        deblur_rows.append((PREVIOUS, "genrefocus.tiny", prev, False))
        refocus_rows.append((PREVIOUS, "genrefocus.tiny", prev))
    if args.only:  # warm the cache with the rows that do not depend on genrefocus.tiny's new weights
        todo = {
            "deblur": (deblur_rows, deblur_metrics),
            "bokeh": (BOKEH_ROWS, metrics),
            "refocus": (refocus_rows, metrics),
        }
        for task in args.only.split(","):
            rows, ms = todo[task]
            run_rows(task, [r for r in rows if r[0] != "genrefocus.tiny"], pairs, ms, cache, digest)
        return 0
    results = {
        "deblur": run_rows("deblur", deblur_rows, pairs, deblur_metrics, cache, digest),
        "bokeh": run_rows("bokeh", BOKEH_ROWS, pairs, metrics, cache, digest),
        "refocus": run_rows("refocus", refocus_rows, pairs, metrics, cache, digest),
    }
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
        "metrics": {k: m.definition() for k, m in metrics.items()},
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
        "## Deblur (blurry input -> all-in-focus target)",
        "",
        *table(results["deblur"]),
        "",
        "## Bokeh (AIF + depth + focus + K + aperture -> bokeh target), all apertures",
        "",
        *table(results["bokeh"]),
        "",
        f"## Bokeh, disk-aperture pairs only ({len(disks)} pairs; the only ones bokeh.scatter can render)",
        "",
        *table(results["bokeh"], disks),
        "",
        "## Refocus (blurry input -> new focus / K / aperture target)",
        "",
        *table(results["refocus"]),
        "",
        "## Paired differences (same pairs)",
        "",
        *paired_table(results),
        "",
        *(
            [
                "LPIPS-vgg (a second perceptual metric; the refinement was trained with LPIPS-alex, not this one):",
                "",
                *paired_table({"deblur": results["deblur"]} | {t: [] for t in ("bokeh", "refocus")}, "lpips.vgg"),
                "",
            ]
            if args.deblur_vgg
            else []
        ),
        "Per-sample scores: `results.json`.",
        "",
    ]
    (out / "README.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
