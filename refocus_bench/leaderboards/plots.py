"""Leaderboard plots as deterministic SVG (matplotlib, no pyplot, no global state left behind).

* quality vs runtime: headline mean with its 95% interval against mean seconds per image;
* per-subset scores: grouped bars of the headline mean for each subset label (aperture, scene...);
* sweeps: when a subset label is numeric (blur strength, f-number...), the headline mean along it;
* LVCorr: when a benchmark carries ``lvcorr.*`` metrics, each model's LVCorr with its interval.

Byte-identical output: a fixed ``svg.hashsalt``, text drawn as paths in the bundled DejaVu Sans, no
date or creator metadata, and every series in a sorted order. Labels come from results files, so
mathtext is disabled for them (``$`` is escaped) and the SVG writer escapes them in its comments.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .stats import mean_ci
from .tables import BenchmarkTable, Row, short_id, subset_order

__all__ = ["Plot", "benchmark_plots", "render_svg"]

_RC: dict[str, Any] = {
    "svg.hashsalt": "refocus-bench-leaderboard",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "font.size": 8.0,
    "axes.titlesize": 9.0,
    "path.simplify": True,
    "figure.dpi": 100.0,
    "savefig.dpi": 100.0,
}
MAX_SERIES = 12


@dataclass(frozen=True)
class Plot:
    """One plot: site asset name (generated), a caption, and the SVG bytes."""

    asset: str
    caption: str
    svg: bytes


def _label(text: str, limit: int = 40) -> str:
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("\\", "\\\\").replace("$", r"\$")


def _row_label(r: Row, num_samples: int) -> str:
    """Legend text of a row: ``"1. model"`` when ranked, ``"model (n=6/16, unranked)"`` when not."""
    if r.rank is not None:
        return _label(f"{r.rank}. {r.model}")
    return _label(r.model, 28) + _label(f" (n={r.headline.n}/{num_samples}, unranked)")


def _legend_outside(fig: Any, ax: Any) -> None:
    """The legend to the right of the axes (never over the data), in the constrained layout."""
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside right upper", fontsize=7, frameon=False)


def render_svg(draw: Any, size: tuple[float, float] = (6.4, 4.0)) -> bytes:
    """Call ``draw(fig)`` on a fresh figure under the fixed style and return deterministic SVG bytes."""
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=size, layout="constrained")
        FigureCanvasSVG(fig)
        draw(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    return buf.getvalue()


def _quality_vs_runtime(table: BenchmarkTable) -> bytes | None:
    pts = [r for r in table.rows if r.runtime_s is not None and r.runtime_s > 0 and r.headline.mean is not None]
    if not pts:
        return None

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        for i, r in enumerate(pts[:MAX_SERIES]):
            y, lo, hi = r.headline.mean, r.headline.low, r.headline.high
            ax.errorbar(
                [r.runtime_s],
                [y],
                yerr=[[y - lo], [hi - y]],
                fmt="o",
                capsize=3,
                color=f"C{i % 10}",
                label=_row_label(r, table.num_samples),
            )
        xs = [r.runtime_s for r in pts]
        if max(xs) / min(xs) > 20:
            ax.set_xscale("log")
        ax.set_xlabel("mean runtime per image (s)")
        ax.set_ylabel(_label(f"{table.headline_metric} ({'higher' if table.higher_is_better else 'lower'} is better)"))
        ax.set_title(_label(f"{table.name}: quality vs runtime (95% CI)", 80))
        ax.grid(True, alpha=0.3)
        _legend_outside(fig, ax)

    return render_svg(draw, size=(7.6, 4.0))


def _is_numeric(values: Sequence[str]) -> bool:
    try:
        return all(math.isfinite(float(v)) for v in values) and len(values) >= 3
    except ValueError:
        return False


def _subset_plot(table: BenchmarkTable, key: str) -> bytes | None:
    values = subset_order(v for r in table.rows for v in r.subsets.get(key, {}))
    rows = [r for r in table.rows if r.subsets.get(key)][:MAX_SERIES]
    if not values or not rows:
        return None
    numeric = _is_numeric(values)

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        width = 0.8 / len(rows)
        for i, r in enumerate(rows):
            means = [r.subsets[key].get(v, {}).get("mean") for v in values]
            if numeric:
                xs = [float(v) for v, m in zip(values, means) if m is not None]
                ys = [m for m in means if m is not None]
                ax.plot(xs, ys, marker="o", color=f"C{i % 10}", label=_row_label(r, table.num_samples))
            else:
                xs = [j + (i - (len(rows) - 1) / 2) * width for j in range(len(values))]
                ax.bar(
                    xs,
                    [math.nan if m is None else m for m in means],
                    width=width,
                    color=f"C{i % 10}",
                    label=_row_label(r, table.num_samples),
                )
        if numeric:
            ax.set_xlabel(_label(key))
        else:
            ax.set_xticks(range(len(values)), [_label(v, 20) for v in values], rotation=30 if len(values) > 4 else 0)
        ax.set_ylabel(_label(f"{table.headline_metric} ({'higher' if table.higher_is_better else 'lower'} is better)"))
        kind = "sweep over" if numeric else "by"
        ax.set_title(_label(f"{table.name}: {table.headline_metric} {kind} {key}", 80))
        ax.grid(True, axis="y", alpha=0.3)
        _legend_outside(fig, ax)

    return render_svg(draw, size=(7.6, 4.0))


def _lvcorr_plot(table: BenchmarkTable, metric: str) -> bytes | None:
    stats = [(r, mean_ci([s[metric] for s in r.sample_scores.values() if metric in s])) for r in table.rows]
    stats = [(r, ci) for r, ci in stats if ci.mean is not None][:MAX_SERIES]
    if not stats:
        return None

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        ys = list(range(len(stats)))[::-1]
        for y, (i, (_, ci)) in zip(ys, enumerate(stats)):
            ax.errorbar(
                [ci.mean], [y], xerr=[[ci.mean - ci.low], [ci.high - ci.mean]], fmt="o", capsize=3, color=f"C{i % 10}"
            )
        ax.set_yticks(ys, [_label(r.model) for r, _ in stats])
        ax.axvline(0.0, color="grey", lw=0.8)
        ax.set_xlim(-1.05, 1.05)
        ax.set_xlabel(_label(f"{metric} (blur-strength controllability, higher is better)"))
        ax.set_title(_label(f"{table.name}: LVCorr over the strength sweeps (95% CI over scenes)", 80))
        ax.grid(True, axis="x", alpha=0.3)

    return render_svg(draw, size=(6.4, 1.2 + 0.3 * len(stats)))


def benchmark_plots(table: BenchmarkTable) -> list[Plot]:
    """Every plot that the data of ``table`` supports, in a fixed order."""
    plots: list[Plot] = []

    def add(kind: str, key: str, caption: str, svg: bytes | None) -> None:
        if svg is not None:
            plots.append(Plot(f"assets/plots/{table.page_id}-{short_id(kind, key)}.svg", caption, svg))

    add("runtime", "", "Quality vs runtime per image (error bars: 95% bootstrap CI)", _quality_vs_runtime(table))
    for key in table.subset_keys:
        add("subset", key, f"{table.headline_metric} by subset {key!r}", _subset_plot(table, key))
    for name, _ in table.metrics:
        if name.startswith("lvcorr"):
            add("lvcorr", name, f"{name} per model (95% bootstrap CI over scenes)", _lvcorr_plot(table, name))
    return plots
