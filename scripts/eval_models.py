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
    ("cascade wiener(est) -> gaussian", "refocus.cascade", {"deblur": "deblur.wiener", "bokeh": "bokeh.gaussian",
                                                            "deblur_kwargs": {"coc_source": "estimate"}}),
    ("cascade wiener(est) -> layered", "refocus.cascade", {"deblur": "deblur.wiener", "bokeh": "bokeh.layered",
                                                           "deblur_kwargs": {"coc_source": "estimate"}}),
    ("genrefocus.tiny", "genrefocus.tiny", {}),
]


def score_all(metrics: dict, preds: torch.Tensor, target: torch.Tensor) -> dict[str, list[float]]:
    with torch.no_grad():
        return {k: [float(v) for v in m.score(preds.clamp(0, 1), target)] for k, m in metrics.items()}


def run_rows(task: str, rows, pairs: dict, metrics: dict) -> list[dict]:
    n = pairs["aif"].shape[0]
    out = []
    for label, name, kwargs, *rest in rows:
        oracle = bool(rest and rest[0])
        model = create_model(name, **kwargs)
        preds, keep, t0 = [], [], time.time()
        for i in range(n):
            ap = OUTPUT_APERTURES[int(pairs["aperture_out"][i])]
            if name == "bokeh.scatter" and ap != "disk":
                continue
            if task == "deblur":
                p = model.deblur(pairs["blurry"][i : i + 1], coc_px=pairs["coc_in"][i : i + 1] if oracle else None)
            else:
                src = pairs["aif"] if task == "bokeh" else pairs["blurry"]
                p = getattr(model, task)(src[i : i + 1], pairs["depth"][i : i + 1], focus_distance_m=float(pairs["focus_out"][i]),
                                         k_px_m=float(pairs["k_out"][i]), aperture=ap)
            preds.append(p)
            keep.append(i)
        seconds = (time.time() - t0) / max(1, len(keep))
        target = (pairs["aif"] if task == "deblur" else pairs["bokeh"])[keep]
        scores = score_all(metrics, torch.cat(preds), target)
        out.append({"label": label, "model": name, "kwargs": kwargs, "oracle_coc": oracle, "samples": keep,
                    "seconds_per_image": seconds, "scores": scores})
        print(f"[{task}] {label}: LPIPS {sum(scores['lpips.alex']) / len(keep):.4f} ({seconds:.2f} s/img)", flush=True)
    return out


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def table(rows: list[dict], subset: set[int] | None = None) -> list[str]:
    lines = ["| model | LPIPS-alex (lower is better) | PSNR dB | SSIM | pairs | s / image |", "|---|---|---|---|---|---|"]
    for r in rows:
        idx = [j for j, s in enumerate(r["samples"]) if subset is None or s in subset]
        if not idx:
            continue
        sc = {k: mean([v[j] for j in idx]) for k, v in r["scores"].items()}
        lines.append(f"| {r['label']} | {sc['lpips.alex']:.4f} | {sc['psnr.rgb']:.2f} | {sc['ssim.rgb']:.4f} | {len(idx)} | {r['seconds_per_image']:.2f} |")
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


def paired_table(results: dict) -> list[str]:
    """Per-pair LPIPS differences (mean, standard error, wins) of the headline comparisons."""
    lines = ["| task | comparison | mean LPIPS difference +- s.e. (negative: first is better) | pairs where the first is better |",
             "|---|---|---|---|"]
    for task, a, b in PAIRED:
        ra = next(r for r in results[task] if r["label"] == a)
        rb = next(r for r in results[task] if r["label"] == b)
        sa, sb = dict(zip(ra["samples"], ra["scores"]["lpips.alex"])), dict(zip(rb["samples"], rb["scores"]["lpips.alex"]))
        d = [sa[i] - sb[i] for i in sorted(set(sa) & set(sb))]
        m = mean(d)
        se = (sum((x - m) ** 2 for x in d) / max(1, len(d) - 1)) ** 0.5 / len(d) ** 0.5
        lines.append(f"| {task} | {a} vs {b} | {m:+.4f} +- {se:.4f} | {sum(x < 0 for x in d)}/{len(d)} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pairs", type=int, default=24)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="reports/model_comparison")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    pairs = make_pairs("test", args.pairs, args.size, workers=args.workers)
    digest = pairs_digest(pairs)
    print(f"{args.pairs} test pairs at {args.size} px, sha256 {digest}", flush=True)
    metrics = {k: create_metric(k) for k in ("lpips.alex", "psnr.rgb", "ssim.rgb")}
    results = {"deblur": run_rows("deblur", DEBLUR_ROWS, pairs, metrics),
               "bokeh": run_rows("bokeh", BOKEH_ROWS, pairs, metrics),
               "refocus": run_rows("refocus", REFOCUS_ROWS, pairs, metrics)}
    tiny = create_model("genrefocus.tiny")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    record = {"settings": vars(args), "data_sha256": digest, "split": "test", "tiny_weights": tiny.weights_path,
              "tiny_sha256": tiny.card.weights[0].sha256, "torch": torch.__version__, "python": platform.python_version(),
              "minutes": (time.time() - t0) / 60, "metrics": {k: m.definition() for k, m in metrics.items()}, "results": results}
    (out / "results.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    disks = {i for i in range(args.pairs) if OUTPUT_APERTURES[int(pairs["aperture_out"][i])] == "disk"}
    lines = [
        "# Model comparison on held-out generated pairs", "",
        f"Command: `python scripts/eval_models.py {' '.join(argv if argv is not None else sys.argv[1:])}`", "",
        f"{args.pairs} pairs from the `test` seed range of `refocus_bench/models/genrefocus/synthetic.py` at {args.size} px "
        f"(data sha256 `{digest}`); targets are exact layered renders (hidden content included). "
        f"`genrefocus.tiny` weights sha256 `{tiny.card.weights[0].sha256}`. Seconds per image on this shared 2-core CPU "
        "include other engineers' load; see benchmarks/test_bench_models.py for timings.", "",
        "## Deblur (blurry input -> all-in-focus target)", "", *table(results["deblur"]), "",
        "## Bokeh (AIF + depth + focus + K + aperture -> bokeh target), all apertures", "", *table(results["bokeh"]), "",
        f"## Bokeh, disk-aperture pairs only ({len(disks)} pairs; the only ones bokeh.scatter can render)", "",
        *table(results["bokeh"], disks), "",
        "## Refocus (blurry input -> new focus / K / aperture target)", "", *table(results["refocus"]), "",
        "## Paired differences (same pairs)", "", *paired_table(results), "",
        "Per-sample scores: `results.json`.", "",
    ]
    (out / "README.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
