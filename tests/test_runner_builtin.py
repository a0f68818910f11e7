"""End to end on real built-in benchmarks (small: 2 samples of 64x64, generated into a temporary cache)."""

from __future__ import annotations

import pytest
import torch

from refocus_bench.benchmarks import create_benchmark
from refocus_bench.cli import main
from refocus_bench.metrics import create_metric
from refocus_bench.models import create_model
from refocus_bench.results import read_record
from refocus_bench.runner.evaluation import evaluate

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SMALL = {"num_samples": 2, "size": (64, 64)}


@pytest.fixture(scope="module")
def bench_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("benchmarks")


def test_cli_on_synthetic_deblur_with_default_metrics(metric_weights, bench_cache, tmp_path, capsys):
    argv = [
        "evaluate",
        "--model",
        "deblur.wiener",
        "--benchmark",
        "synthetic-deblur",
        "--benchmark-arg",
        "num_samples=2",
        "--benchmark-arg",
        "size=[64, 64]",
        "--benchmark-arg",
        f"cache_dir={bench_cache}",
        "-o",
        str(tmp_path),
        "-q",
    ]
    assert main(argv) == 0, capsys.readouterr().err
    rec = read_record(tmp_path / "synthetic-deblur" / "deblur.wiener.json")
    bench = create_benchmark("synthetic-deblur", cache_dir=bench_cache, **SMALL)
    assert rec["benchmark"]["content_hash"] == bench.content_hash() and rec["benchmark"]["num_samples"] == 2
    assert [m["name"] for m in rec["metrics"]] == ["lpips.alex", "dists.vgg16", "psnr.rgb", "ssim.rgb"]
    assert rec["status"] == "complete" and all(s["error"] is None for s in rec["samples"])
    assert set(rec["samples"][0]["subset"]) == {"aperture", "blur", "scene"}
    assert rec["model"]["config"] == create_model("deblur.wiener").config()
    assert sorted(rec["examples"]) == ["0000", "0001"]


def test_scores_skip_the_pinned_border_and_oracle_coc_reaches_the_model(bench_cache):
    bench = create_benchmark("synthetic-deblur-oracle-coc", cache_dir=bench_cache, **SMALL)
    border = bench.spec.preprocessing["border_crop_px"]
    model = create_model("deblur.wiener")
    df = evaluate(model, bench, ["psnr.rgb"], out_dir=None, progress=False).frame
    s = bench.load("0000")
    pred = model.deblur(s.image, coc_px=s.condition["coc_px"])
    crop = (..., slice(border, -border), slice(border, -border))
    expected = float(create_metric("psnr.rgb").score(pred[crop], s.target[crop]))
    assert df["psnr.rgb"][0] == pytest.approx(expected, rel=1e-6)


def test_oracle_and_lvcorr_builtins_run(bench_cache):
    lv = evaluate(
        "bokeh.gaussian",
        create_benchmark("synthetic-bokeh-oracle", cache_dir=bench_cache, **SMALL),
        ["ssim.rgb"],
        out_dir=None,
        progress=False,
    ).frame
    assert "oracle_k_px_m" in lv.columns and lv["runtime_s"].gt(0).all()
    assert torch.isfinite(torch.tensor(lv["oracle_k_px_m"].dropna().to_numpy())).all()
    sweep = evaluate(
        "refocus.cascade",
        create_benchmark("synthetic-refocus-sweep", cache_dir=bench_cache, **SMALL),
        out_dir=None,
        progress=False,
    ).frame
    assert list(sweep.columns[-3:]) == ["lvcorr.genphoto", "runtime_s", "error"]
    assert sweep["lvcorr.genphoto"].between(-1, 1).all()
