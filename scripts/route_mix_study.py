#!/usr/bin/env python
"""Does route (b)/(c) training data improve ``genrefocus.tiny`` on ``middlebury-bokeh``? The study's steps.

Commands (each writes under ``--work``, default ``/tmp/routes``; the report goes to ``reports/route_mix``)::

    python scripts/route_mix_study.py data       # route-b photos + route-c pairs, harvest, make-real-pairs, fit-blur
    python scripts/route_mix_study.py train      # A: simulator pairs only; B: simulator + route b + route c
    python scripts/route_mix_study.py evaluate   # shipped, A, B on middlebury-bokeh and synthetic-bokeh
    python scripts/route_mix_study.py report     # reports/route_mix/route_mix.json + README.md

``data`` makes the inputs with :mod:`route_mix_sources` (procedural scenes, not Motorcycle, through a
known thin lens), then runs the project's own commands on them (:data:`DATA_COMMANDS`). ``train`` runs
``scripts/train_tiny.py`` twice from the shipped weights, BokehNet stage only, with the same seed, the
same number of steps and one thread, differing only in the ``--route`` mix (:data:`RUNS`). ``evaluate``
runs ``refocus-bench evaluate``; ``report`` adds paired bootstrap 95 % intervals (per-sample differences,
:func:`paired_ci`).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHIPPED = "refocus_bench/data/weights/genrefocus_tiny_v1.safetensors"
BENCHMARKS = ("middlebury-bokeh", "synthetic-bokeh")
METRICS = ("lpips.alex", "lpips.vgg", "dists.vgg16", "psnr.rgb")
LOWER_IS_BETTER = {"lpips.alex": True, "lpips.vgg": True, "dists.vgg16": True, "psnr.rgb": False}
N_B, N_C, SIZE = 160, 48, 192
TRAIN = [
    "--stages", "bokeh", "--init", SHIPPED, "--train-pairs", "480", "--val-pairs", "32", "--size", str(SIZE),
    "--crop", "96", "--batch", "8", "--lr", "5e-4", "--max-steps", "{steps}", "--bokeh-minutes", "{cap}",
    "--val-every", "100", "--threads", "1", "--workers", "1", "--seed", "0", "--cache", "{cache}",
]  # fmt: skip
CACHE_KEY = "480-32-192"
"""train_tiny's cache key of the simulator pairs above: a cache with this key is only read, never written."""
RUNS = {
    "A": [],
    "B": ["--simulator-weight", "1", "--route", "{work}/route_b=0.5", "--route", "{work}/route_c=0.5"],
}
"""Extra train_tiny arguments of each run: A = route (a) only; B = half the batch from routes (b) and (c)."""


def data_commands(work: Path) -> list[list[str]]:
    """The project commands that turn the made inputs into the route (b) and (c) datasets."""
    w = str(work)
    return [
        ["python", "scripts/route_mix_sources.py", f"{w}/src", str(N_B), str(N_C), str(SIZE)],
        ["refocus-bench", "harvest", f"{w}/src/photos", "-o", f"{w}/harvest", "-q"],
        [
            "refocus-bench", "make-real-pairs", f"{w}/harvest", "-o", f"{w}/route_b", "--depth-dir",
            f"{w}/src/depth", "--size", str(SIZE),
        ],
        ["refocus-bench", "fit-blur", f"{w}/src/pairs", "-o", f"{w}/route_c", "--size", str(SIZE)],
    ]  # fmt: skip


def _run(cmd: list[str], log: Path) -> None:
    print("$", shlex.join(cmd), flush=True)
    with open(log, "a") as f:
        f.write("$ " + shlex.join(cmd) + "\n")
        f.flush()
        rc = subprocess.call(["nice", "-n", "10", *cmd], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if rc != 0:
        raise SystemExit(f"command failed ({rc}), see {log}: {shlex.join(cmd)}")


def cmd_data(args: argparse.Namespace) -> None:
    args.work.mkdir(parents=True, exist_ok=True)
    for cmd in data_commands(args.work):
        _run(cmd, args.work / "data.log")


def train_command(work: Path, run: str, steps: int, cap: float, cache: Path) -> list[str]:
    fill = {"work": str(work), "steps": str(steps), "cap": str(cap), "cache": str(cache)}
    extra = [a.format(**fill) for a in TRAIN + RUNS[run]]
    out = ["--out", f"{work}/weights_{run}.safetensors", "--report", f"{work}/train_{run}"]
    return [sys.executable, "scripts/train_tiny.py", *extra, *out]


def _check_cache(cache: Path) -> None:
    """Refuse a cache that train_tiny would overwrite (another key): a shared cache is only read."""
    if not cache.is_file():
        return
    from safetensors import safe_open

    with safe_open(str(cache), framework="pt") as f:
        key = (f.metadata() or {}).get("key")
    if key != CACHE_KEY:
        raise SystemExit(f"--cache {cache} holds pairs {key!r}, not {CACHE_KEY!r}: train_tiny would overwrite it")


def cmd_train(args: argparse.Namespace) -> None:
    _check_cache(args.cache)
    procs = []
    for run in args.runs:
        cmd = train_command(args.work, run, args.steps, args.cap, args.cache)
        print("$", shlex.join(cmd), flush=True)
        log = open(args.work / f"train_{run}.log", "w")  # noqa: SIM115 - closed when the process ends
        procs.append((run, subprocess.Popen(["nice", "-n", "10", *cmd], cwd=ROOT, stdout=log, stderr=log), log))
    for run, p, log in procs:
        rc = p.wait()
        log.close()
        if rc != 0:
            raise SystemExit(f"training {run} failed ({rc}), see {args.work}/train_{run}.log")


def weights_of(work: Path, label: str) -> str | None:
    return None if label == "shipped" else f"{work}/weights_{label}.safetensors"


def cmd_evaluate(args: argparse.Namespace) -> None:
    for label in args.labels:
        for bench in BENCHMARKS:
            cmd = ["refocus-bench", "evaluate", "--model", "genrefocus.tiny", "--benchmark", bench]
            cmd += ["--metrics", ",".join(METRICS), "-o", f"{args.work}/results/{label}", "-q", "--save-examples", "0"]
            w = weights_of(args.work, label)
            if w:
                cmd += ["--model-arg", f"weights={json.dumps(w)}"]
            _run(cmd, args.work / "evaluate.log")


def paired_ci(diff: np.ndarray, n_boot: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the mean of per-sample differences (samples resampled):
    :func:`refocus_bench.leaderboards.stats.bootstrap_ci` with ``n_boot`` resamples."""
    from refocus_bench.leaderboards.stats import bootstrap_ci

    return bootstrap_ci(diff, n_resamples=n_boot, seed=seed)


def _scores(work: Path, label: str, bench: str) -> dict[str, np.ndarray]:
    files = sorted((work / "results" / label).rglob(f"{bench}/*.json"))
    rec = json.loads(files[0].read_text())
    samples = sorted(rec["samples"], key=lambda s: s["id"])
    return {m: np.array([s["scores"][m] for s in samples], dtype=np.float64) for m in METRICS}


def summarise(work: Path, labels: list[str]) -> dict:
    """Means, bootstrap intervals of the means and paired differences for every benchmark and metric."""
    out = {}
    for bench in BENCHMARKS:
        sc = {lab: _scores(work, lab, bench) for lab in labels}
        table = {}
        for m in METRICS:
            row = {lab: {"mean": float(sc[lab][m].mean()), "ci95": paired_ci(sc[lab][m])} for lab in labels}
            for a, b in (("A", "shipped"), ("B", "shipped"), ("B", "A")):
                d = sc[a][m] - sc[b][m]
                lo, hi = paired_ci(d)
                better = (hi < 0) if LOWER_IS_BETTER[m] else (lo > 0)
                worse = (lo > 0) if LOWER_IS_BETTER[m] else (hi < 0)
                verdict = f"{a} better" if better else f"{a} worse" if worse else "within noise"
                if not d.any():
                    verdict = "identical"
                row[f"{a}-{b}"] = {"mean": float(d.mean()), "ci95": [lo, hi], "verdict": verdict}
            table[m] = row
        out[bench] = {"n": int(len(next(iter(sc.values()))[METRICS[0]])), "metrics": table}
    return out


def _rel_error(pairs: list[tuple[float, float]]) -> dict | None:
    """abs(estimate / truth - 1): median, 90th percentile and share above 10 %."""
    if not pairs:
        return None
    e = np.array([abs(a / b - 1.0) for a, b in pairs])
    return {
        "median": float(np.median(e)),
        "p90": float(np.quantile(e, 0.9)),
        "share_over_10pct": float((e > 0.1).mean()),
    }


def aif_quality(work: Path) -> dict:
    """Route (b): PSNR (dB) of the deblurred AIF and of the photo against the true AIF of each scene (medians)."""
    import torch

    sys.path.insert(0, str(ROOT / "scripts"))
    from route_mix_sources import SEED_BASE, _scene
    from tiny_route_pairs import load_route_pairs

    p = load_route_pairs(work / "route_b", SIZE)
    rows = []
    for i in range(p["aif"].shape[0]):  # every photo was kept, so record i is input i
        seed = SEED_BASE + i
        true = _scene(np.random.default_rng(np.random.SeedSequence([16_2026, seed])), seed, SIZE).flatten()[0][0]
        true = torch.round(true.clamp(0, 1) * 255) / 255
        rows.append([float(-10 * torch.log10(((x[i] - true) ** 2).mean())) for x in (p["aif"], p["bokeh"])])
    a = np.array(rows)
    return {
        "n": len(rows),
        "deblurred_aif_psnr_db_median": float(np.median(a[:, 0])),
        "photo_psnr_db_median": float(np.median(a[:, 1])),
        "gain_db_median": float(np.median(a[:, 0] - a[:, 1])),
    }


def data_facts(work: Path) -> dict:
    """Counts, reasons, accuracy of K and focus against the known truth, and hashes of the route datasets."""
    from refocus_bench.hashing import file_sha256

    truth = {}
    for line in (work / "src" / "truth.jsonl").read_text().splitlines():
        t = json.loads(line)
        truth[t["stem"]] = t
    out = {}
    for route in ("route_b", "route_c"):
        folder = work / route
        lines = [json.loads(x) for x in (folder / "manifest.jsonl").read_text().splitlines()]
        ks, ss = [], []
        for m in lines:
            if m["status"] != "kept":
                continue
            t = truth[Path(m["name"]).stem]
            f = m.get("fit", m)
            ks.append((f["k_px_m"], t["k_px_m"]))
            ss.append((f["focus_distance_m"], t["focus_distance_m"]))
        shards = sorted((folder / "data" / "bokeh").glob("*.parquet"))
        out[route] = {
            "summary": json.loads((folder / "summary.json").read_text()),
            "inputs": len(lines),
            "abs_rel_error_k": _rel_error(ks),
            "abs_rel_error_focus": _rel_error(ss),
            "shards_sha256": {p.name: file_sha256(p) for p in shards},
        }
    out["route_b"]["aif_vs_true"] = aif_quality(work)
    return out


def train_facts(work: Path) -> dict:
    """Per run: steps, minutes, kept step and validation LPIPS, weights sha256, routes (from train_report.json)."""
    out = {}
    for run in RUNS:
        f = work / f"train_{run}" / "train_report.json"
        if not f.is_file():
            continue
        r = json.loads(f.read_text())
        st, cfg = r["stages"]["bokeh"], r["settings"]
        cache, budget = Path(cfg["cache"]), (cfg["max_steps"], cfg["bokeh_minutes"])
        out[run] = {
            "weights_sha256": r["weights"]["sha256"],
            "steps": st["steps"],
            "minutes": st["minutes"],
            "best_step": st["best_step"],
            "select": st.get("select"),
            "val_curve": [
                {k: v[k] for k in ("step", "val_psnr", "val_lpips.alex", "val_lpips.vgg", "val_dists.vgg16") if k in v}
                for v in st["val_curve"]
            ],
            "routes": r.get("routes", []),
            "simulator_weight": r.get("simulator_weight"),
            "simulator_sha256": r["data_sha256"],
            "command": shlex.join(["python", *train_command(work, run, *budget, cache)[1:]]),
        }
    return out


def cmd_report(args: argparse.Namespace) -> None:
    """Write ``reports/route_mix/route_mix.json``: data facts, training facts, scores with intervals."""
    report = {
        "data": data_facts(args.work),
        "data_commands": [shlex.join(c) for c in data_commands(Path("WORK"))],
        "train": train_facts(args.work),
        "train_settings": {"steps": args.steps, "cap_minutes": args.cap, "runs": RUNS, "common": TRAIN},
        "scores": summarise(args.work, args.labels),
        "shipped_weights": SHIPPED,
    }
    out = ROOT / "reports" / "route_mix" / "route_mix.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    from refocus_bench.io import atomic_write_json

    atomic_write_json(out, report)
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=["data", "train", "evaluate", "summary", "facts", "report"])
    p.add_argument("--work", type=Path, default=Path("/tmp/routes"))
    p.add_argument("--runs", nargs="+", default=["A", "B"], choices=sorted(RUNS))
    p.add_argument("--cache", type=Path, default=Path("/tmp/tiny_pairs.safetensors"), help="simulator pairs cache")
    p.add_argument("--steps", type=int, default=300, help="training steps of each run (the shared budget)")
    p.add_argument("--cap", type=float, default=40.0, help="wall-clock cap per run in minutes")
    p.add_argument("--labels", nargs="+", default=["shipped", "A", "B"])
    args = p.parse_args(argv)
    if args.step == "data":
        cmd_data(args)
    elif args.step == "train":
        cmd_train(args)
    elif args.step == "evaluate":
        cmd_evaluate(args)
    elif args.step == "report":
        cmd_report(args)
    elif args.step == "facts":
        print(json.dumps(data_facts(args.work), indent=1))
    else:
        print(json.dumps(summarise(args.work, args.labels), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
