"""What a reader of the site sees: readable page names, natural subset order, honest legends, failure
reasons, an n column that explains unranked rows, and examples only from models that made them."""

from __future__ import annotations

import copy
import re

import pytest

from refocus_bench.leaderboards import build_site
from refocus_bench.leaderboards.tables import page_slug, subset_order
from refocus_bench.results import finalize_record

from .test_leaderboard_support import make_record, tiny_png, write_results

REASON = "model failed: InvalidInputError: bokeh.scatter renders disk apertures only, got Polygon(blades=6)"


def _with_failures(rec: dict, ids: tuple[int, ...], reason: str = REASON) -> dict:
    out = copy.deepcopy(rec)
    for i in ids:
        out["samples"][i]["scores"] = {k: None for k in out["samples"][i]["scores"]}
        out["samples"][i]["error"] = reason
    return finalize_record({k: v for k, v in out.items() if k not in ("schema", "summary", "digest")})


def _blur_levels(rec: dict) -> dict:
    out = copy.deepcopy(rec)
    for i, s in enumerate(out["samples"]):
        s["subset"] = {"blur": ("high", "low", "mid")[i % 3], "level": ("10", "2", "1")[i % 3]}
    return finalize_record({k: v for k, v in out.items() if k not in ("schema", "summary", "digest")})


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("polish")
    pngs = {"examples/synthetic-deblur/_input/s000.png": tiny_png((200, 0, 0))}
    pngs["examples/synthetic-deblur/good/s000.png"] = tiny_png((0, 0, 200))
    good = _blur_levels(make_record("good", 0.0, examples={"s000": "examples/synthetic-deblur/good/s000.png"}))
    broken = _with_failures(_blur_levels(make_record("scatter", 0.01)), (1, 3))
    results = write_results(tmp / "results", {"d/good.json": good, "d/scatter.json": broken}, pngs)
    return build_site(results, tmp / "site")


def test_page_slugs_are_readable_and_unique():
    assert page_slug("synthetic-deblur") == "synthetic-deblur"
    assert page_slug("realdof") == "realdof"
    odd = page_slug("Lens Blur <x>")
    assert re.fullmatch(r"lens-blur-x-[0-9a-f]{8}", odd)
    assert page_slug("lens-blur-x") != odd and page_slug("LENS BLUR <X>") != odd
    assert re.fullmatch(r"benchmark-[0-9a-f]{8}", page_slug("<>"))
    assert page_slug("../../etc/passwd").startswith("etc-passwd-")


def test_subsets_in_natural_order():
    assert subset_order(["high", "low", "mid"]) == ["low", "mid", "high"]
    assert subset_order(["far", "near", "mid"]) == ["near", "mid", "far"]
    assert subset_order(["10", "2", "1.5"]) == ["1.5", "2", "10"]
    assert subset_order(["s10", "s2", "disk"]) == ["disk", "s2", "s10"]


def test_subset_tables_follow_natural_order(site):
    page = (site.site_dir / "benchmarks" / "synthetic-deblur.html").read_text()
    blur = page[page.index("by blur</h3>") :]
    assert blur.index(">low<") < blur.index(">mid<") < blur.index(">high<")
    md = (site.site_dir / "leaderboard.md").read_text()
    assert "| Model | low | mid | high |" in md and "| Model | 1 | 2 | 10 |" in md


def test_failure_reasons_and_n_are_shown(site):
    page = (site.site_dir / "benchmarks" / "synthetic-deblur.html").read_text()
    assert '<h2 id="failures">Failed samples</h2>' in page
    assert "2 of 6 samples failed" in page and "(s001, s003)" in page and "renders disk apertures only" in page
    index = (site.site_dir / "index.html").read_text()
    assert '<th data-type="number" title="samples scored / benchmark samples' in index
    assert ">4/6</td>" in index and ">6/6</td>" in index
    assert (
        '1 row with failed samples, not ranked (<a href="benchmarks/synthetic-deblur.html#failures">why</a>)' in index
    )
    md = (site.site_dir / "leaderboard.md").read_text()
    assert "* scatter: 2 of 6 samples failed (s001, s003): model failed: InvalidInputError" in md
    rows = {r.model: r for r in site.tables[0].rows}
    assert rows["scatter"].rank is None and rows["scatter"].failures[0].sample_ids == ("s001", "s003")


def test_examples_only_from_models_that_made_them(site):
    page = (site.site_dir / "benchmarks" / "synthetic-deblur.html").read_text()
    assert "not available" not in page
    scene = page[page.index("<h3>Sample s000</h3>") :]
    assert scene.count("<img") == 2  # the input and the one prediction; no target, no empty figure
    assert "<figcaption>good</figcaption>" in scene and "No image from: scatter." in scene


def test_legend_labels_never_read_none():
    from refocus_bench.leaderboards.plots import _row_label
    from refocus_bench.leaderboards.stats import MeanCI

    class R:
        rank, model, headline = None, "bokeh.scatter", MeanCI(0.1, 0.0, 0.2, 6)

    assert _row_label(R(), 16) == "bokeh.scatter (n=6/16, unranked)"
    R.rank = 2
    assert _row_label(R(), 16) == "2. bokeh.scatter"


def test_legend_sits_outside_the_bars():
    """The legend is drawn beside the axes, so it covers no bar, however many models there are."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from refocus_bench.leaderboards.plots import _RC, _legend_outside

    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7.6, 4.0), layout="constrained")
        canvas = FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        for i in range(8):
            ax.bar([j + 0.1 * i for j in range(3)], [1.0, 0.9, 0.95], width=0.1, label=f"model number {i}")
        _legend_outside(fig, ax)
        canvas.draw()
        (legend,) = fig.legends
        lb = legend.get_window_extent()
        axb = ax.get_window_extent()
    assert lb.x0 >= axb.x1 - 1, (lb, axb)  # entirely to the right of the plotting area
    assert lb.x1 <= fig.bbox.x1 + 1  # and inside the figure
