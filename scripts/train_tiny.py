#!/usr/bin/env python
"""Train ``genrefocus.tiny`` (DeblurNet + BokehNet) on simulator pairs, on a CPU, in under an hour.

Usage (see ``reports/genrefocus_tiny/README.md`` for the commands behind the shipped weights)::

    nice -n 10 python scripts/train_tiny.py --out refocus_bench/data/weights/genrefocus_tiny_v2.safetensors \\
        --report reports/genrefocus_tiny

Steps: generate ``--train-pairs`` training and ``--val-pairs`` validation pairs
(:mod:`refocus_bench.models.genrefocus.synthetic`, disjoint seed ranges), then train, in the order of
``--stages`` and each for its minutes budget or ``--max-steps`` steps, whichever comes first, with a
cosine learning-rate decay over that budget and Adam on random crops:

* ``deblur``: DeblurNet's defocus-map U-Net, L1 against the true |CoC|;
* ``refine``: DeblurNet's refinement U-Net (the defocus-map U-Net fixed), the perceptual terms of
  ``--refine-perceptual`` (default LPIPS-alex; real weights, differentiable, from
  :mod:`refocus_bench.metrics.perceptual`) + ``--l1-weight`` x L1 on the image; its zero-initialised head
  makes the untrained refinement the identity;
* ``bokeh``: BokehNet, L1 + 0.5 x L1 of image gradients + the terms of ``--bokeh-perceptual``. With
  ``--route DIR=WEIGHT`` (repeatable) each batch element is drawn from route ``DIR`` with probability
  ``WEIGHT / total`` and from the simulator pairs with ``--simulator-weight / total``; a route's pairs
  come from ``scripts/tiny_route_pairs.py``'s ``load_route_pairs(folder, size)`` (same keys as the
  simulator's bokeh pairs: ``aif``, ``depth``, ``k_out``, ``focus_out``, ``aperture_out``, ``bokeh``).

Each stage keeps the checkpoint with the lowest sum of the ``--select`` validation metrics (default
LPIPS-alex; validation split only, the test split of :mod:`.synthetic` is never touched here); LPIPS-alex,
LPIPS-vgg and DISTS are all logged, so a metric outside the loss and the selection is a held-out check.
``--init`` starts from earlier weights (stages not trained keep them); ``--take PREFIX=FILE`` then
replaces one network's tensors (e.g. ``bokeh.``) by another file's, to join stages trained in separate
runs (``--stages ''`` trains nothing). Writes the weights (safetensors, architecture and data hash in
the metadata), a JSON report with every setting and curve, ``curves.svg`` and a README with the summary.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from refocus_bench.hashing import file_sha256  # noqa: E402
from refocus_bench.models.genrefocus.synthetic import OUTPUT_APERTURES, make_pairs, pairs_digest  # noqa: E402
from refocus_bench.models.genrefocus.tiny import GenRefocusTiny  # noqa: E402
from refocus_bench.models.genrefocus.tiny_nets import COC_SCALE_PX, aperture_image  # noqa: E402
from refocus_bench.optics import genrefocus_defocus_map  # noqa: E402
from refocus_bench.simulators.render.apertures import make_aperture  # noqa: E402


def loss_fn(pred: torch.Tensor, target: torch.Tensor, grad_weight: float = 0.5) -> torch.Tensor:
    """L1 + ``grad_weight`` x L1 of the horizontal and vertical image differences."""
    l1 = (pred - target).abs().mean()
    if not grad_weight:
        return l1
    dx = lambda t: t[..., :, 1:] - t[..., :, :-1]  # noqa: E731
    dy = lambda t: t[..., 1:, :] - t[..., :-1, :]  # noqa: E731
    grad = (dx(pred) - dx(target)).abs().mean() + (dy(pred) - dy(target)).abs().mean()
    return l1 + grad_weight * grad


PERCEPTUAL = ("lpips.alex", "lpips.vgg", "dists.vgg16")
"""Perceptual metrics (registered names, lower is better) a loss may use; all are reported on validation."""

_METRICS: dict = {}


def _metric(name: str):
    """The one metric ``name`` of this run (its network is built once)."""
    if name not in _METRICS:
        from refocus_bench.metrics import create_metric

        _METRICS[name] = create_metric(name)
    return _METRICS[name]


def perceptual(name: str, a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean ``name`` distance without gradients (validation)."""
    with torch.no_grad():
        return float(_metric(name).score(a.clamp(0.0, 1.0), b).mean())


def lpips_alex(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean LPIPS-alex without gradients."""
    return perceptual("lpips.alex", a, b)


def perceptual_loss(weights: dict[str, float], pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``sum_m weights[m] * mean m(pred, target)`` with gradients (the metric networks stay frozen)."""
    p = pred.clamp(0.0, 1.0)
    return sum((w * _metric(m).score(p, target).mean() for m, w in weights.items() if w), torch.zeros(()))


def parse_metric_weights(spec: str, option: str) -> dict[str, float]:
    """``"lpips.alex=1,lpips.vgg=0.5"`` -> {name: weight}; names from :data:`PERCEPTUAL`, weights >= 0."""
    out = {}
    for item in filter(None, (x.strip() for x in spec.split(","))):
        name, _, w = item.partition("=")
        try:
            weight = float(w) if w else 1.0
        except ValueError:
            weight = float("nan")
        if name not in PERCEPTUAL or not math.isfinite(weight) or weight < 0:
            raise SystemExit(f"{option}: expected NAME=WEIGHT with NAME in {PERCEPTUAL} and WEIGHT >= 0, got {item!r}")
        out[name] = weight
    return out


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(-10 * torch.log10(((a - b) ** 2).mean().clamp(min=1e-12)))


def _crop_slices(h: int, w: int, crop: int, g: torch.Generator) -> tuple[slice, slice]:
    y = int(torch.randint(0, h - crop + 1, (1,), generator=g))
    x = int(torch.randint(0, w - crop + 1, (1,), generator=g))
    return slice(y, y + crop), slice(x, x + crop)


def bokeh_inputs(pairs: dict, idx: list[int], net, crop: int | None, g: torch.Generator):
    """Candidates on the full frame, then an optional crop: (cands, coc, defocus, aperture imgs, target)."""
    cands, cocs, maps, aps, targets = [], [], [], [], []
    for i in idx:
        ap = make_aperture(OUTPUT_APERTURES[int(pairs["aperture_out"][i])])
        depth = pairs["depth"][i : i + 1]
        k, s = float(pairs["k_out"][i]), float(pairs["focus_out"][i])
        coc = (k * (1.0 / s - 1.0 / depth.double())).float()
        dmap = genrefocus_defocus_map(depth, k, s).float()
        with torch.no_grad():
            c = net.candidates(pairs["aif"][i : i + 1], coc, ap)
        t = pairs["bokeh"][i : i + 1]
        if crop:
            ys, xs = _crop_slices(depth.shape[-2], depth.shape[-1], crop, g)
            c, coc, dmap, t = c[..., ys, xs], coc[..., ys, xs], dmap[..., ys, xs], t[..., ys, xs]
        cands.append(c), cocs.append(coc), maps.append(dmap), targets.append(t)
        aps.append(aperture_image(ap, net.aperture_px)[None])
    return torch.cat(cands), torch.cat(cocs), torch.cat(maps), torch.cat(aps), torch.cat(targets)


def deblur_inputs(pairs: dict, idx: list[int], net, crop: int | None, g: torch.Generator, augment: bool):
    """(candidates, classical CoC estimate, target AIF, true |CoC|), cropped and augmented alike."""
    x, t, r = pairs["blurry"][idx], pairs["aif"][idx], pairs["coc_in"][idx].abs()
    if crop:
        ys, xs = _crop_slices(x.shape[-2], x.shape[-1], crop, g)
        x, t, r = x[..., ys, xs], t[..., ys, xs], r[..., ys, xs]
    if augment:
        k = int(torch.randint(0, 4, (1,), generator=g))
        x, t, r = (torch.rot90(v, k, (-2, -1)) for v in (x, t, r))
        if bool(torch.randint(0, 2, (1,), generator=g)):
            x, t, r = (torch.flip(v, (-1,)) for v in (x, t, r))
    with torch.no_grad():
        c, e = net.candidates(x), net.coc_estimate(x)
    return c, e, t, r


def load_or_make(args) -> tuple[dict, dict]:
    """Generate the pairs, or reuse a cache written for the same counts and size."""
    from safetensors.torch import load_file, save_file

    key = f"{args.train_pairs}-{args.val_pairs}-{args.size}"
    if args.cache and Path(args.cache).is_file():
        from safetensors import safe_open

        with safe_open(args.cache, framework="pt") as f:
            cached_key = (f.metadata() or {}).get("key")
        if cached_key == key:
            flat = load_file(args.cache)
            print(f"reusing cached pairs {args.cache}", flush=True)
            return (
                {k[6:]: v for k, v in flat.items() if k.startswith("train.")},
                {k[4:]: v for k, v in flat.items() if k.startswith("val.")},
            )
    print(f"generating {args.train_pairs} train + {args.val_pairs} val pairs at {args.size} px", flush=True)
    train = make_pairs("train", args.train_pairs, args.size, workers=args.workers)
    val = make_pairs("val", args.val_pairs, args.size, workers=args.workers)
    if args.cache:
        flat = {
            **{f"train.{k}": v.contiguous() for k, v in train.items()},
            **{f"val.{k}": v.contiguous() for k, v in val.items()},
        }
        save_file(flat, args.cache, metadata={"key": key})
    return train, val


def parse_routes(specs: list[str] | None) -> list[tuple[Path, float]]:
    """``["DIR=WEIGHT", ...]`` -> [(folder, weight)]; weights must be finite and >= 0."""
    out = []
    for spec in specs or []:
        folder, sep, weight = spec.rpartition("=")
        try:
            w = float(weight)
        except ValueError:
            w = float("nan")
        if not sep or not folder or not math.isfinite(w) or w < 0:
            raise SystemExit(f"--route must be DIR=WEIGHT with a weight >= 0, got {spec!r}")
        if not Path(folder).is_dir():
            raise SystemExit(f"--route {spec!r}: {folder!r} is not a directory")
        out.append((Path(folder), w))
    return out


ROUTE_KEYS = ("aif", "depth", "k_out", "focus_out", "aperture_out", "bokeh")
"""Keys a route's pairs must hold (those the bokeh stage reads)."""


def load_routes(routes: list[tuple[Path, float]], size: int) -> list[dict]:
    """Pairs of each route via ``scripts/tiny_route_pairs.load_route_pairs`` (imported only when routes are given).

    Returns [{"name", "weight", "pairs", "count", "sha256"}], the pairs restricted to :data:`ROUTE_KEYS`.
    """
    if not routes:
        return []
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from tiny_route_pairs import load_route_pairs

    out = []
    for folder, weight in routes:
        pairs = load_route_pairs(folder, size)
        missing = [k for k in ROUTE_KEYS if k not in pairs]
        if missing:
            raise SystemExit(f"--route {folder}: load_route_pairs returned no {missing}")
        pairs = {k: pairs[k] for k in ROUTE_KEYS}
        n = pairs["aif"].shape[0]
        if n == 0 or tuple(pairs["aif"].shape[1:]) != (3, size, size):
            shape = tuple(pairs["aif"].shape)
            raise SystemExit(f"--route {folder}: expected aif (N>0, 3, {size}, {size}), got {shape}")
        out.append({"name": str(folder), "weight": weight, "pairs": pairs, "count": n, "sha256": pairs_digest(pairs)})
        print(f"route {folder}: {n} pairs, weight {weight}, sha256 {out[-1]['sha256']}", flush=True)
    return out


def draw_sources(sources: list[tuple[dict, float]], batch: int, g: torch.Generator) -> list[tuple[dict, list[int]]]:
    """Draw ``batch`` (pairs, index) items: source r with probability weight_r / sum(weights), index uniform.

    Returns [(pairs, indices)] grouped by source (sources with no draw left out).
    """
    weights = torch.tensor([w for _, w in sources], dtype=torch.float64)
    which = torch.multinomial(weights, batch, replacement=True, generator=g).tolist()
    out = []
    for r, (pairs, _) in enumerate(sources):
        k = which.count(r)
        if k:
            out.append((pairs, torch.randint(0, pairs["aif"].shape[0], (k,), generator=g).tolist()))
    return out


def bokeh_batch(sources: list[tuple[dict, float]], batch: int, net, crop: int | None, g: torch.Generator):
    """One training batch of the bokeh stage mixed over ``sources`` (see :func:`draw_sources`), as
    :func:`bokeh_inputs` returns it. A single source draws exactly as without mixing."""
    if len(sources) == 1:
        pairs = sources[0][0]
        idx = torch.randint(0, pairs["aif"].shape[0], (batch,), generator=g).tolist()
        return bokeh_inputs(pairs, idx, net, crop, g)
    parts = [bokeh_inputs(pairs, idx, net, crop, g) for pairs, idx in draw_sources(sources, batch, g)]
    return tuple(torch.cat(items) for items in zip(*parts))


def gaussian_baseline(val: dict) -> torch.Tensor:
    """``bokeh.gaussian`` renders of the validation pairs (the baseline the bokeh stage must beat), (N, 3, H, W)."""
    from refocus_bench.models import create_model

    model = create_model("bokeh.gaussian")
    with torch.no_grad():
        return torch.cat(
            [
                model.bokeh(
                    val["aif"][i : i + 1],
                    val["depth"][i : i + 1],
                    focus_distance_m=float(val["focus_out"][i]),
                    k_px_m=float(val["k_out"][i]),
                    aperture=OUTPUT_APERTURES[int(val["aperture_out"][i])],
                )
                for i in range(val["aif"].shape[0])
            ]
        ).clamp(0.0, 1.0)


def _scores(prefix: str, pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """``{prefix_psnr, prefix_<metric>}`` for PSNR and every :data:`PERCEPTUAL` metric."""
    out = {f"{prefix}_psnr": psnr(pred, target)}
    out.update({f"{prefix}_{m}": perceptual(m, pred, target) for m in PERCEPTUAL})
    return out


def make_evaluator(name: str, net, val: dict, select: tuple[str, ...], g: torch.Generator):
    """A function ``(step, minutes) -> dict`` scoring ``net`` on the validation pairs.

    Candidates (which do not depend on the trained weights) are computed once. The dict holds PSNR,
    L1, every :data:`PERCEPTUAL` metric (``val_<name>``), ``val_lpips`` (LPIPS-alex), ``val_select``
    (the sum of the ``select`` metrics: the checkpoint criterion) and the same scores of the reference
    outputs (``input_*``: the blurry input or the AIF; bokeh also ``gaussian_*``), computed once.
    """
    idx = list(range(val["aif"].shape[0]))
    net.eval()
    with torch.no_grad():
        if name in ("deblur", "refine"):
            inputs = deblur_inputs(val, idx, net, None, g, False)
            target, base = inputs[2], val["blurry"]
        else:
            inputs = bokeh_inputs(val, idx, net, None, g)
            target, base = inputs[4], val["aif"]
    net.train()
    reference = _scores("input", base, target)
    if name == "bokeh":
        reference.update(_scores("gaussian", gaussian_baseline(val), target))

    def evaluate(step: int, minutes: float) -> dict:
        net.eval()
        with torch.no_grad():
            if name in ("deblur", "refine"):
                c, e, t, r = inputs
                pred, coc = net.fuse(c, e, return_coc=True, refine=name == "refine")
            else:
                c, coc, dmap, aps, t = inputs
                pred = torch.cat([net.fuse(c[i : i + 1], coc[i : i + 1], dmap[i : i + 1], aps[i : i + 1]) for i in idx])
        net.train()
        pred = pred.clamp(0, 1)
        v = {"step": step, "minutes": minutes, "val_l1": float((pred - t).abs().mean()), **_scores("val", pred, t)}
        v["val_lpips"] = v["val_lpips.alex"]
        v["val_select"] = sum(v[f"val_{m}"] for m in select)
        if name in ("deblur", "refine"):
            v["val_coc_mae_px"] = float((coc - r).abs().mean())
        return {**v, **reference}

    return evaluate


def stage_loss(name: str, net, pred: torch.Tensor, coc: torch.Tensor, t: torch.Tensor, r, args) -> torch.Tensor:
    """The training loss of stage ``name`` (see the module docstring)."""
    if name == "deblur":  # supervise the defocus map with the true |CoC| (units of COC_SCALE_PX)
        loss = (coc - r).abs().mean() / COC_SCALE_PX
        return loss + loss_fn(pred, t) if net.fusion == "learned" else loss
    if name == "refine":  # perceptual (differentiable, real weights) + L1 on the refined image
        return perceptual_loss(args.refine_weights, pred, t) + args.l1_weight * loss_fn(
            pred, t, args.refine_grad_weight
        )
    return loss_fn(pred, t) + perceptual_loss(args.bokeh_weights, pred, t)


def train_stage(
    name: str, net, pairs: dict, val: dict, args, g: torch.Generator, minutes: float, routes: list | None = None
) -> dict:
    """Train one stage; ``routes`` (bokeh only) are :func:`load_routes` entries mixed with ``pairs``.

    Keeps the checkpoint with the lowest validation ``val_select`` (:func:`make_evaluator`).
    """
    import copy

    if name == "refine":  # the defocus-map U-Net stays fixed; only the refinement learns
        net.unet.requires_grad_(False)
    params = (
        net.refine.parameters() if name == "refine" else net.unet.parameters() if name == "deblur" else net.parameters()
    )
    opt = torch.optim.Adam(params, lr=args.lr)
    n = pairs["aif"].shape[0]
    sources = [(pairs, args.simulator_weight)] + [(r["pairs"], r["weight"]) for r in routes or []]
    evaluate = make_evaluator(name, net, val, args.select, g)
    curve, start, step, ema = [], time.time(), 0, None
    budget = minutes * 60.0
    val_curve = [evaluate(0, 0.0)]
    best = (val_curve[0]["val_select"], 0, copy.deepcopy(net.state_dict()))
    net.train()
    while step < args.max_steps and time.time() - start < budget:
        frac = max(step / args.max_steps, (time.time() - start) / budget)
        for group in opt.param_groups:
            group["lr"] = args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))
        r = None
        if name in ("deblur", "refine"):
            idx = torch.randint(0, n, (args.batch,), generator=g).tolist()
            c, e, t, r = deblur_inputs(pairs, idx, net, args.crop, g, True)
            pred, coc = net.fuse(c, e, return_coc=True, refine=name == "refine")
        else:
            c, coc, dmap, aps, t = bokeh_batch(sources, args.batch, net, args.crop, g)
            pred = net.fuse(c, coc, dmap, aps)
        loss = stage_loss(name, net, pred, coc, t, r, args)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % 20 == 0:
            curve.append({"step": step, "minutes": (time.time() - start) / 60, "train_loss_ema": ema})
        if step % args.val_every == 0 or not (step < args.max_steps and time.time() - start < budget):
            v = evaluate(step, (time.time() - start) / 60)
            val_curve.append(v)
            if v["val_select"] < best[0]:
                best = (v["val_select"], step, copy.deepcopy(net.state_dict()))
            print(
                f"[{name}] step {step} {v['minutes']:.1f} min loss {ema:.4f} val PSNR {v['val_psnr']:.2f} dB "
                f"(input {v['input_psnr']:.2f}) " + " ".join(f"{m} {v['val_' + m]:.4f}" for m in PERCEPTUAL),
                flush=True,
            )
    if val_curve[-1]["step"] != step:
        val_curve.append(evaluate(step, (time.time() - start) / 60))
        if val_curve[-1]["val_select"] < best[0]:
            best = (val_curve[-1]["val_select"], step, copy.deepcopy(net.state_dict()))
    net.load_state_dict(best[2])  # keep the best validation checkpoint
    net.requires_grad_(True)
    net.eval()
    return {
        "steps": step,
        "minutes": (time.time() - start) / 60,
        "train_curve": curve,
        "val_curve": val_curve,
        "best_step": best[1],
        "best_val_select": best[0],
        "select": list(args.select),
    }


def svg_curves(stages: dict, path: Path) -> None:
    """Validation PSNR vs step for each stage, as a dependency-free SVG line chart."""
    w, h, pad = 640, 300, 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="11">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
    ]
    colours = {"deblur": "#1f77b4", "refine": "#2ca02c", "bokeh": "#d62728"}
    pts_all = [(v["step"], v["val_psnr"]) for s in stages.values() for v in s["val_curve"]]
    xmax = max(p[0] for p in pts_all) or 1
    ymin, ymax = min(p[1] for p in pts_all) - 0.5, max(p[1] for p in pts_all) + 0.5
    sx = lambda x: pad + (w - 2 * pad) * x / xmax  # noqa: E731
    sy = lambda y: h - pad - (h - 2 * pad) * (y - ymin) / (ymax - ymin)  # noqa: E731
    parts.append(f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="black"/>')
    parts.append(f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="black"/>')
    parts.append(f'<text x="{w / 2}" y="{h - 8}" text-anchor="middle">training step</text>')
    parts.append(f'<text x="12" y="{pad - 10}">val PSNR (dB), {ymin:.1f} to {ymax:.1f}</text>')
    for i, (name, s) in enumerate(stages.items()):
        pts = " ".join(f"{sx(v['step']):.1f},{sy(v['val_psnr']):.1f}" for v in s["val_curve"])
        parts.append(f'<polyline fill="none" stroke="{colours[name]}" stroke-width="2" points="{pts}"/>')
        base = s["val_curve"][0]["input_psnr"]
        parts.append(
            f'<line x1="{pad}" x2="{w - pad}" y1="{sy(base):.1f}" y2="{sy(base):.1f}" '
            f'stroke="{colours[name]}" stroke-dasharray="4 3"/>'
        )
        parts.append(
            f'<text x="{w - pad - 200}" y="{pad + 14 * i}" fill="{colours[name]}">'
            f"{name} (dashed: input vs target)</text>"
        )
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")


def remap_bokeh_radii(tensors: dict, old: list[float], new: list[float]) -> dict:
    """BokehNet tensors of candidate radii ``old`` re-laid out for radii ``new`` (every old radius must be in ``new``).

    The U-Net's stem reads 3 channels per candidate then 2 maps; its head writes one logit correction per
    candidate then 3 residual channels. Weights of the old radii move to their new positions; those of
    the added radii start at zero (no input weight, no logit correction), so the network keeps what it
    learnt and the prior alone places the added candidates.
    """
    pos = []
    for r in old:
        hits = [i for i, q in enumerate(new) if abs(q - r) < 1e-6]
        if not hits:
            raise SystemExit(f"--init: bokeh radius {r} of the init weights is not among the new radii {new}")
        pos.append(hits[0])
    n_old, n_new = len(old), len(new)
    out = dict(tensors)
    w = tensors["bokeh.unet.stem.weight"]
    stem = w.new_zeros(w.shape[0], 3 * n_new + 2, *w.shape[2:])
    for j, i in enumerate(pos):
        stem[:, 3 * i : 3 * i + 3] = w[:, 3 * j : 3 * j + 3]
    stem[:, 3 * n_new :] = w[:, 3 * n_old :]
    out["bokeh.unet.stem.weight"] = stem
    for key in ("bokeh.unet.head.weight", "bokeh.unet.head.bias"):
        h = tensors[key]
        head = h.new_zeros(n_new + 3, *h.shape[1:])
        head[pos] = h[:n_old]
        head[n_new:] = h[n_old : n_old + 3]
        out[key] = head
    return out


def load_init(model, args) -> dict:
    """Apply ``--init`` then every ``--take PREFIX=FILE`` to ``model``; returns their paths and sha256.

    An ``--init`` file whose metadata names other BokehNet radii is remapped (:func:`remap_bokeh_radii`).
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    prov: dict = {"init": args.init, "init_sha256": None, "take": []}
    own = model.state_to_save()
    if args.init:
        prov["init_sha256"] = file_sha256(args.init)
        tensors = load_file(args.init)
        with safe_open(args.init, framework="pt") as f:
            init_arch = json.loads((f.metadata() or {}).get("arch", "{}"))
        old_radii = [float(r) for r in init_arch.get("bokeh_radii", model.arch["bokeh_radii"])]
        if old_radii != [float(r) for r in model.arch["bokeh_radii"]]:
            tensors = remap_bokeh_radii(tensors, old_radii, [float(r) for r in model.arch["bokeh_radii"]])
            prov["bokeh_radii_remapped_from"] = old_radii
            print(f"BokehNet candidates remapped from radii {old_radii}", flush=True)
        unknown, missing = set(tensors) - set(own), set(own) - set(tensors)
        if unknown or any(not k.startswith("deblur.refine.") for k in missing):
            raise SystemExit(
                f"--init {args.init} does not match the architecture: "
                f"unknown {sorted(unknown)[:5]}, missing {sorted(missing)[:5]}"
            )
        own = {**own, **tensors}
        print(
            f"initialised from {args.init} (sha256 {prov['init_sha256']}); {len(missing)} refinement tensors "
            "start at zero head",
            flush=True,
        )
    for spec in args.take or []:
        prefix, sep, path = spec.partition("=")
        if not sep or not prefix or not Path(path).is_file():
            raise SystemExit(f"--take must be PREFIX=FILE with an existing FILE, got {spec!r}")
        tensors = {k: v for k, v in load_file(path).items() if k.startswith(prefix)}
        mine = {k for k in own if k.startswith(prefix)}
        if not mine or set(tensors) != mine:
            raise SystemExit(f"--take {spec!r}: the file's {prefix!r} tensors do not match the architecture's")
        own = {**own, **tensors}
        prov["take"].append({"prefix": prefix, "file": path, "sha256": file_sha256(path)})
        print(f"took {len(tensors)} tensors {prefix}* from {path}", flush=True)
    model.load_saved_state(own)
    return prov


def _stage_rows(name: str, s: dict) -> list[str]:
    """Markdown rows (one per metric) of a trained stage: references, step 0 and the kept checkpoint."""
    v0 = s["val_curve"][0]
    kept = next(v for v in s["val_curve"] if v["step"] == s["best_step"])
    rows = []
    for m in ("psnr", *PERCEPTUAL):
        g = f"{v0['gaussian_' + m]:.4f}" if f"gaussian_{m}" in v0 else "-"
        rows.append(
            f"| {name} | {s['steps']} | {s['minutes']:.1f} | {s['best_step']} | {m} | {v0['input_' + m]:.4f} | {g} "
            f"| {v0['val_' + m]:.4f} | {kept['val_' + m]:.4f} |"
        )
    return rows


def readme_lines(args, command, out, sha, digests, routes, stages, prov, total, data_minutes) -> list[str]:
    """The run's README: command, data, settings and the validation table of every stage."""
    taken = "".join(f"; `{t['prefix']}*` from `{t['file']}` (sha256 `{t['sha256']}`)" for t in prov["take"])
    lines = [
        "# genrefocus.tiny training run",
        "",
        f"Command: `python scripts/train_tiny.py {command}`",
        "",
        f"- weights: `{out}` ({out.stat().st_size / 1e6:.2f} MB), sha256 `{sha}`",
        f"- data: {args.train_pairs} train / {args.val_pairs} val simulator pairs at {args.size} px "
        f"(seed ranges in `refocus_bench/models/genrefocus/synthetic.py`), generated in {data_minutes:.1f} min",
        f"- data sha256: train `{digests['train']}`, val `{digests['val']}`",
        *(
            f"- bokeh route `{r['name']}`: {r['count']} pairs, weight {r['weight']} "
            f"(simulator weight {args.simulator_weight}), sha256 `{r['sha256']}`"
            for r in routes
        ),
        f"- total wall time {total:.1f} min on {args.threads} CPU threads (torch {torch.__version__})",
        f"- stages trained: {', '.join(stages) or 'none'}"
        + (f"; the others kept from `--init {args.init}` (sha256 `{prov['init_sha256']}`)" if args.init else "")
        + taken,
        f"- crops {args.crop} px (refinement {args.refine_crop or args.crop} px), batch {args.batch}, "
        f"Adam lr {args.lr} with cosine decay; "
        "DeblurNet defocus map (`deblur`): L1 (px / 16) against the true |CoC|; "
        "DeblurNet refinement (`refine`, defocus-map U-Net "
        f"fixed): {_weights_text(args.refine_weights)} + {args.l1_weight} x (L1 + {args.refine_grad_weight} x "
        "gradient L1) on the image; "
        f"BokehNet (`bokeh`): L1 + 0.5 x gradient L1 + {_weights_text(args.bokeh_weights)} on the image; "
        f"checkpoint kept by the lowest validation {' + '.join(args.select)}",
        "",
        "Validation (the val split; reference: the blurry input for DeblurNet, the AIF for BokehNet; "
        "gaussian: `bokeh.gaussian`):",
        "",
        "| stage | steps | minutes | kept step | metric | reference | gaussian | step 0 | kept |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in stages.items():
        lines += _stage_rows(name, s)
    lines += ["", "Curves: `curves.svg` (validation PSNR per step); every point is in `train_report.json`.", ""]
    return lines


def _weights_text(weights: dict[str, float]) -> str:
    return " + ".join(f"{w} x {m}" for m, w in weights.items()) or "0"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="refocus_bench/data/weights/genrefocus_tiny_v2.safetensors")
    p.add_argument("--report", default="reports/genrefocus_tiny")
    p.add_argument("--train-pairs", type=int, default=480)
    p.add_argument("--val-pairs", type=int, default=16)
    p.add_argument("--size", type=int, default=192)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--minutes", type=float, default=16.0, help="training budget per stage (see --bokeh-minutes)")
    p.add_argument("--bokeh-minutes", type=float, help="training budget of the BokehNet stage (default: --minutes)")
    p.add_argument(
        "--refine-minutes", type=float, help="training budget of the DeblurNet refinement stage (default: --minutes)"
    )
    p.add_argument("--refine-crop", type=int, help="crop size of the refinement stage (default: --crop)")
    p.add_argument(
        "--l1-weight", type=float, default=1.0, help="weight of the image L1 beside LPIPS in the refinement loss"
    )
    p.add_argument(
        "--refine-grad-weight",
        type=float,
        default=0.0,
        help="weight of the gradient L1 inside the refinement's L1 term (0 = plain L1)",
    )
    p.add_argument(
        "--refine-perceptual",
        default="lpips.alex=1",
        help="perceptual terms of the refinement loss, NAME=WEIGHT,... (names: " + ", ".join(PERCEPTUAL) + ")",
    )
    p.add_argument("--bokeh-perceptual", default="", help="perceptual terms added to the bokeh loss, NAME=WEIGHT,...")
    p.add_argument(
        "--select",
        default="lpips.alex",
        help="comma-separated validation metrics whose sum picks the kept checkpoint of every stage",
    )
    p.add_argument(
        "--take",
        action="append",
        metavar="PREFIX=FILE",
        help="after --init, replace the tensors whose names start with PREFIX (e.g. 'bokeh.') by FILE's (repeatable)",
    )
    p.add_argument("--arch", default="{}", help="JSON overrides of the architecture (keys of ARCH in tiny.py)")
    p.add_argument(
        "--stages",
        default="deblur,refine,bokeh",
        help="stages to train, in order (deblur: defocus map; refine: LPIPS + L1 refinement; bokeh: BokehNet)",
    )
    p.add_argument(
        "--init",
        help="safetensors weights to start from (e.g. an earlier release); tensors of the "
        "refinement may be missing (they start at the zero head, i.e. the identity)",
    )
    p.add_argument("--max-steps", type=int, default=4000)
    p.add_argument("--val-every", type=int, default=100)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--route",
        action="append",
        metavar="DIR=WEIGHT",
        help="bokeh stage: also draw training pairs from this route folder (scripts/tiny_route_pairs.py), "
        "with probability WEIGHT / total (repeatable)",
    )
    p.add_argument(
        "--simulator-weight", type=float, default=1.0, help="bokeh stage: weight of the simulator pairs in the mix"
    )
    p.add_argument("--cache", help="safetensors file caching the generated pairs (reused when its settings match)")
    args = p.parse_args(argv)
    args.refine_weights = parse_metric_weights(args.refine_perceptual, "--refine-perceptual")
    args.bokeh_weights = parse_metric_weights(args.bokeh_perceptual, "--bokeh-perceptual")
    args.select = tuple(x for x in args.select.split(",") if x)
    if not args.select or set(args.select) - set(PERCEPTUAL):
        raise SystemExit(f"--select must name metrics of {PERCEPTUAL}, got {args.select}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t0 = time.time()
    report_dir = Path(args.report)
    report_dir.mkdir(parents=True, exist_ok=True)

    route_specs = parse_routes(args.route)
    if not math.isfinite(args.simulator_weight) or args.simulator_weight < 0:
        raise SystemExit(f"--simulator-weight must be >= 0, got {args.simulator_weight}")
    if args.simulator_weight + sum(w for _, w in route_specs) <= 0:
        raise SystemExit("--simulator-weight and the --route weights sum to 0: nothing to train on")
    train, val = load_or_make(args)
    routes = load_routes(route_specs, args.size)
    data_minutes = (time.time() - t0) / 60
    digests = {"train": pairs_digest(train), "val": pairs_digest(val)}
    print(f"data ready in {data_minutes:.1f} min; train sha256 {digests['train']}", flush=True)

    model = GenRefocusTiny(weights=None, arch=json.loads(args.arch))
    prov = load_init(model, args)
    g = torch.Generator().manual_seed(args.seed)
    stage_names = [x for x in args.stages.split(",") if x]
    if set(stage_names) - {"deblur", "refine", "bokeh"}:
        raise SystemExit(f"unknown stages in {args.stages!r}")
    stages = {}
    for name in stage_names:
        if name == "bokeh":
            minutes = args.bokeh_minutes or args.minutes
            stages[name] = train_stage(name, model.bokeh_net, train, val, args, g, minutes, routes)
        elif name == "refine":
            crop = args.crop
            args.crop = args.refine_crop or crop
            stages[name] = train_stage(name, model.deblur_net, train, val, args, g, args.refine_minutes or args.minutes)
            args.crop = crop
        else:
            stages[name] = train_stage(name, model.deblur_net, train, val, args, g, args.minutes)

    from safetensors.torch import save_file

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        **model.metadata(),
        "train_sha256": digests["train"],
        "val_sha256": digests["val"],
        "steps": json.dumps({k: v["steps"] for k, v in stages.items()}),
    }
    save_file({k: v.float().contiguous() for k, v in model.state_to_save().items()}, str(out), metadata=meta)
    sha = file_sha256(out)
    total = (time.time() - t0) / 60
    report = {
        "weights": {"path": str(out), "sha256": sha, "bytes": out.stat().st_size},
        "settings": vars(args),
        "arch": model.arch,
        "data_sha256": digests,
        "routes": [
            {"name": r["name"], "weight": r["weight"], "count": r["count"], "sha256": r["sha256"]} for r in routes
        ],
        "simulator_weight": args.simulator_weight,
        "data_minutes": data_minutes,
        "total_minutes": total,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "threads": args.threads,
        **prov,
        "stages": stages,
    }
    (report_dir / "train_report.json").write_text(json.dumps(report, indent=2) + "\n")
    if stages:
        svg_curves(stages, report_dir / "curves.svg")
    command = " ".join(argv if argv is not None else sys.argv[1:])
    lines = readme_lines(args, command, out, sha, digests, routes, stages, prov, total, data_minutes)
    (report_dir / "README.md").write_text("\n".join(lines))
    print(f"done in {total:.1f} min; weights {out} sha256 {sha}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
