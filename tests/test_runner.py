"""Runner: DataFrame and record contents, examples, caching, failing samples, protocols, errors."""

from __future__ import annotations

import json
import math

import pytest
import torch

import refocus_bench
from refocus_bench.errors import InvalidInputError, RefocusBenchError, UnknownNameError
from refocus_bench.results import read_record
from refocus_bench.runner.evaluation import evaluate
from refocus_bench.runner.naming import record_path, safe_name
from tests.runner_fixtures import (
    BokehOnlyIdentity,
    FailingModel,
    NoTargetBench,
    SlowModel,
    TinyBokehBench,
    TinyDeblurBench,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _scores(df):
    return df.drop(columns=["runtime_s"]).to_dict("records")


def test_dataframe_record_and_examples(tmp_path):
    ev = evaluate("identity", TinyDeblurBench(n=5), out_dir=tmp_path, progress=False, save_examples=2)
    df = ev.frame
    assert list(df.columns) == ["id", "group", "psnr.rgb", "ssim.rgb", "mae.rgb", "runtime_s", "error"]
    assert list(df["id"]) == ["s000", "s001", "s002", "s003", "s004"]
    assert list(df["group"]) == ["even", "odd", "even", "odd", "even"]
    assert df["error"].isna().all() and df["psnr.rgb"].gt(20).all()
    path = tmp_path / "tiny-deblur" / "identity.json"
    assert ev.path == path and ev.errors == 0 and ev.computed == 5 and ev.cached == 0
    assert set(ev.timings) == {"wall_s", "model_s", "metric_s", "load_s"}
    assert ev.record == json.loads(path.read_text()) and ev.summary is ev.record["summary"]
    rec = read_record(path)  # validates schema, summary and digest
    assert rec["status"] == "complete" and len(rec["samples"]) == 5
    assert rec["model"] == {
        "name": "identity",
        "weights_sha256": None,
        "config": {},
        "tasks": ["deblur", "bokeh", "refocus", "lens-to-lens"],
        "class": "refocus_bench.models.baselines.identity:Identity",
    }
    b = rec["benchmark"]
    assert (b["name"], b["version"], b["task"], b["num_samples"], b["headline_metric"]) == (
        "tiny-deblur",
        "1",
        "deblur",
        5,
        "psnr.rgb",
    )
    assert b["content_hash"] == TinyDeblurBench(n=5).content_hash()
    assert b["definition"] == TinyDeblurBench(n=5).spec.as_dict()
    assert [m["name"] for m in rec["metrics"]] == ["psnr.rgb", "ssim.rgb", "mae.rgb"]
    assert rec["metrics"][0]["definition"]["conventions"]["data_range"] == 1.0
    env = rec["environment"]
    assert (
        env["executor"] == "local"
        and env["workers"] == 1
        and env["device"] == "cpu"
        and env["torch"] == torch.__version__
    )
    assert rec["toolkit"]["version"] == refocus_bench.__version__
    assert rec["toolkit"]["git_commit"] is None or len(rec["toolkit"]["git_commit"]) == 40
    assert rec["seeds"]["model"] == 0 and rec["summary"]["psnr.rgb"]["n"] == 5
    assert math.isclose(rec["summary"]["psnr.rgb"]["mean"], df["psnr.rgb"].mean(), rel_tol=1e-12)
    assert rec["examples"] == {
        "s000": "examples/tiny-deblur/identity/s000.png",
        "s001": "examples/tiny-deblur/identity/s001.png",
    }
    for sub in ("identity", "_input", "_target"):
        assert sorted(p.name for p in (tmp_path / "examples" / "tiny-deblur" / sub).iterdir()) == [
            "s000.png",
            "s001.png",
        ]


def test_lazy_top_level_export_and_no_out_dir_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ev = refocus_bench.evaluate("identity", TinyDeblurBench(n=2), out_dir=None, progress=False)
    assert len(ev.frame) == 2 and ev.path is None and ev.record["status"] == "complete"
    assert "path=None" in repr(ev) and "frame" not in repr(ev)  # the repr stays one line
    assert list(tmp_path.iterdir()) == []


def test_cached_rerun_computes_nothing_and_gives_identical_results(tmp_path):
    log = tmp_path / "calls.txt"
    model = SlowModel(log=str(log))
    first = evaluate(model, TinyDeblurBench(n=4), out_dir=tmp_path / "r", progress=False)
    assert len(log.read_text().splitlines()) == 4
    second = evaluate(SlowModel(log=str(log)), TinyDeblurBench(n=4), out_dir=tmp_path / "r", progress=False)
    assert len(log.read_text().splitlines()) == 4  # no model call
    assert second.cached == 4 and second.computed == 0
    assert first.frame.to_dict("records") == second.frame.to_dict("records")  # runtimes come from the cache too
    r1, r2 = first.record, second.record
    assert r1["samples"] == r2["samples"] and r1["summary"] == r2["summary"]
    # another seed or another metric set is another run key: computed again
    evaluate(SlowModel(log=str(log)), TinyDeblurBench(n=4), ["psnr.rgb"], out_dir=tmp_path / "r", progress=False)
    assert len(log.read_text().splitlines()) == 8
    assert sorted(p.name for p in (tmp_path / "r" / "tiny-deblur").iterdir())[0] == "test.slow.json"
    assert len(list((tmp_path / "r" / "tiny-deblur").glob("test.slow.metrics-*.json"))) == 1


def test_failing_sample_is_recorded_and_the_run_goes_on(tmp_path):
    ev = evaluate(FailingModel(), TinyDeblurBench(n=4, blank=1), out_dir=tmp_path, progress=False)
    df = ev.frame
    rec = read_record(tmp_path / "tiny-deblur" / "test.failing.json")
    assert rec["status"] == "complete" and ev.errors == 1
    bad = rec["samples"][1]
    assert bad["scores"] == {"psnr.rgb": None, "ssim.rgb": None, "mae.rgb": None}
    assert bad["error"].startswith("model failed: RuntimeError: blank input") and "\n" not in bad["error"]
    assert rec["summary"]["psnr.rgb"]["n"] == 3
    assert df["psnr.rgb"].isna().tolist() == [False, True, False, False]
    assert df["error"].notna().tolist() == [False, True, False, False]


def test_oracle_coc_passes_the_coc_only_under_that_protocol():
    seen = []

    class Spy(FailingModel):
        def _deblur(self, image, coc_px):
            seen.append(coc_px is not None)
            return image.clone()

    bench = TinyDeblurBench(n=1)
    evaluate(Spy(), bench, out_dir=None, progress=False)
    object.__setattr__(bench.spec, "protocol", {"name": "oracle_coc"})
    evaluate(Spy(), bench, out_dir=None, progress=False)
    assert seen == [False, True]


def test_oracle_blur_strength_finds_k_and_records_it(tmp_path):
    proto = {"name": "oracle_blur_strength", "objective": "ssim.rgb", "k_range_px_m": [1.0, 20.0], "iterations": 25}
    ev = evaluate("bokeh.gaussian", TinyBokehBench(n=2, protocol=proto), out_dir=tmp_path, progress=False)
    df = ev.frame
    assert list(df.columns) == ["id", "ssim.rgb", "psnr.rgb", "oracle_k_px_m", "runtime_s", "error"]
    assert df["oracle_k_px_m"].sub(6.0).abs().lt(0.5).all()  # the target was rendered at K = 6
    assert df["ssim.rgb"].gt(0.99).all()
    s = ev.record["samples"][0]["protocol"]
    assert s["objective"] == "ssim.rgb" and s["evaluations"] <= 25 and s["k_px_m"] == df["oracle_k_px_m"][0]


def test_lvcorr_sweep_scores_controllability():
    proto = {"name": "lvcorr_sweep", "k_values_px_m": [0.0, 3.0, 6.0, 12.0]}
    bench = TinyBokehBench(n=2, protocol=proto, metrics=("lvcorr.spearman", "lvcorr.pearson"))
    df = evaluate("bokeh.gaussian", bench, out_dir=None, progress=False).frame
    assert df["lvcorr.spearman"].tolist() == [1.0, 1.0]
    assert df["lvcorr.pearson"].gt(0.5).all()
    ident = evaluate("identity", bench, out_dir=None, progress=False).frame  # no control: undefined correlation
    assert ident["lvcorr.spearman"].isna().all() and ident["error"].str.contains("undefined").all()


@pytest.mark.parametrize(
    "kwargs, exc, message",
    [
        (dict(model="identiti"), UnknownNameError, "did you mean 'identity'"),
        (dict(metrics=["psnr.rbg"]), UnknownNameError, "did you mean 'psnr.rgb'"),
        (dict(model=BokehOnlyIdentity()), InvalidInputError, "does not support task 'deblur'"),
        (
            dict(benchmark=NoTargetBench()),
            InvalidInputError,
            "full-reference but benchmark 'tiny-no-target' has no targets",
        ),
        (dict(metrics=["lvcorr.pearson"]), InvalidInputError, "needs the lvcorr_sweep protocol"),
        (dict(metrics=["bokeh.aperture_iou"]), InvalidInputError, "needs the input 'points'"),
        (dict(executor="spark"), InvalidInputError, "executor must be one of"),
        (dict(workers=0), InvalidInputError, "workers must be an int >= 1"),
        (dict(device="gpu7"), InvalidInputError, "is not a torch device"),
    ],
)
def test_bad_input_is_a_clear_error_before_any_work(tmp_path, kwargs, exc, message):
    args = {"model": "identity", "benchmark": TinyDeblurBench(n=2), **kwargs}
    model, bench = args.pop("model"), args.pop("benchmark")
    with pytest.raises(exc, match=message) as info:
        evaluate(model, bench, out_dir=tmp_path, progress=False, **args)
    assert isinstance(info.value, RefocusBenchError) and "\n" not in str(info.value)
    assert not (tmp_path / ".cache").exists() or not any((tmp_path / ".cache").rglob("s*.json"))


@pytest.mark.parametrize(
    "protocol, message",
    [
        ({"name": "guess"}, "unknown evaluation protocol 'guess'; known protocols"),
        ({"name": "direct", "k": 1}, "unknown option"),
        ({"name": "oracle_blur_strength"}, "missing option"),
        ({"name": "oracle_blur_strength", "k_range_px_m": [5, 1]}, "must be \\[low, high\\]"),
        ({"name": "lvcorr_sweep", "k_values_px_m": [1, 2]}, ">= 3 finite values"),
    ],
)
def test_bad_protocols_are_refused(protocol, message):
    with pytest.raises(InvalidInputError, match=message):
        evaluate("bokeh.gaussian", TinyBokehBench(n=1, protocol=protocol), out_dir=None, progress=False)


def test_oracle_protocol_is_refused_for_deblur():
    bench = TinyDeblurBench(n=1)
    object.__setattr__(bench.spec, "protocol", {"name": "lvcorr_sweep", "k_values_px_m": [1, 2, 3]})
    with pytest.raises(InvalidInputError, match="applies to tasks \\['bokeh', 'refocus'\\], not 'deblur'"):
        evaluate("identity", bench, out_dir=None, progress=False)


def test_headline_metric_is_always_included():
    ev = evaluate("identity", TinyDeblurBench(n=1), ["mae.rgb"], out_dir=None, progress=False)
    assert [m["name"] for m in ev.record["metrics"]] == ["psnr.rgb", "mae.rgb"]


def test_safe_names_cannot_escape_or_collide(tmp_path):
    assert safe_name("deblur.wiener") == "deblur.wiener"
    for bad in ("../x", "a/b", ".hidden", "..", "", "x" * 300, "_input", "name with space", "é"):
        s = safe_name(bad)
        assert "/" not in s and not s.startswith((".", "_")) and 0 < len(s) <= 100 and s != bad
    assert safe_name("a/b") != safe_name("a_b")
    p = record_path(tmp_path, "../bench", "../../model")
    assert p.resolve().is_relative_to(tmp_path.resolve())


def test_record_is_json_with_digest_and_per_sample_subsets(tmp_path):
    evaluate("identity", TinyDeblurBench(n=2), out_dir=tmp_path, progress=False)
    rec = json.loads((tmp_path / "tiny-deblur" / "identity.json").read_text())
    assert [s["subset"] for s in rec["samples"]] == [{"group": "even"}, {"group": "odd"}]
    assert len(rec["digest"]) == 64 and rec["started"].endswith("Z") and rec["wall_time_s"] > 0


def test_batched_calls_match_single_calls_and_isolate_failures(tmp_path):
    calls = []

    class Counting(FailingModel):
        def _deblur(self, image, coc_px):
            calls.append(image.shape[0])
            if bool((image.flatten(1).abs().amax(dim=1) == 0).any()):
                raise RuntimeError("blank input")
            return image.clone()

    single = evaluate(Counting(), TinyDeblurBench(n=5, blank=3), out_dir=None, progress=False).frame
    calls.clear()
    batched = evaluate(Counting(), TinyDeblurBench(n=5, blank=3), out_dir=tmp_path, progress=False, batch_size=4).frame
    assert calls == [4, 1, 1, 1, 1, 1]  # [s0..s3] fails on s3 -> one by one; then [s4]
    cols = ["psnr.rgb", "ssim.rgb", "mae.rgb"]
    assert batched[cols].fillna(-1).to_numpy().ravel().tolist() == pytest.approx(
        single[cols].fillna(-1).to_numpy().ravel().tolist(), rel=1e-6
    )
    assert batched["error"].notna().tolist() == [False, False, False, True, False]
    bokeh = TinyBokehBench(n=3)
    ref = evaluate("bokeh.gaussian", bokeh, out_dir=None, progress=False).frame
    stacked = evaluate("bokeh.gaussian", bokeh, out_dir=None, progress=False, batch_size=3).frame
    assert stacked["ssim.rgb"].tolist() == pytest.approx(ref["ssim.rgb"].tolist(), rel=1e-6)
    assert stacked["ssim.rgb"].notna().all()


class _Interrupting(FailingModel):
    """Ctrl-C on the blank sample while ``armed``; the run key does not see the flag."""

    armed = True

    def _deblur(self, image, coc_px):
        if type(self).armed and float(image.abs().max()) == 0.0:
            raise KeyboardInterrupt
        return image.clone()


def test_interrupted_run_writes_a_partial_record_and_resumes(tmp_path):
    bench = TinyDeblurBench(n=4, blank=2)
    with pytest.raises(KeyboardInterrupt):
        evaluate(_Interrupting(), bench, out_dir=tmp_path, progress=False)
    partial = read_record(tmp_path / "tiny-deblur" / "test.failing.json")
    assert partial["status"] == "partial" and [s["id"] for s in partial["samples"]] == ["s000", "s001"]
    _Interrupting.armed = False
    try:
        ev = evaluate(_Interrupting(), bench, out_dir=tmp_path, progress=False)
    finally:
        _Interrupting.armed = True
    assert ev.cached == 2 and ev.computed == 2 and ev.record["status"] == "complete"
    assert read_record(ev.path)["status"] == "complete"


def test_examples_are_rewritten_when_missing_or_overwritten_by_another_run(tmp_path):
    bench = TinyDeblurBench(n=3)
    evaluate("identity", bench, out_dir=tmp_path, progress=False, save_examples=2)
    png = tmp_path / "examples" / "tiny-deblur" / "identity" / "s000.png"
    first = png.read_bytes()
    png.unlink()
    ev = evaluate("identity", bench, out_dir=tmp_path, progress=False, save_examples=2)
    assert png.read_bytes() == first and ev.computed == 1 and ev.cached == 3
    evaluate("identity", bench, out_dir=tmp_path, progress=False, save_examples=2, seed=5)  # same name, other key
    png.write_bytes(b"\x89PNG\r\n\x1a\nnot the image of this run")
    ev = evaluate("identity", bench, out_dir=tmp_path, progress=False, save_examples=2)
    assert png.read_bytes() == first and ev.computed == 1
    assert sorted(ev.record["examples"]) == ["s000", "s001"]


def test_weights_sha256_from_file_card_or_none(tmp_path):
    import hashlib

    from refocus_bench.models.base import ModelCard, WeightsFile
    from refocus_bench.runner.plan import weights_sha256

    f = tmp_path / "w.safetensors"
    f.write_bytes(b"weights")

    class FromFile(FailingModel):
        weights_path = str(f)

    class RandomInit(FailingModel):
        weights_path = None

    sha = "ab" * 32
    w = WeightsFile("w.safetensors", sha, "cache", "somewhere", "MIT")

    class FromCard(FailingModel):
        card = ModelCard(
            name="test.card",
            tasks=("deblur",),
            summary="",
            source="",
            licence="",
            paper="",
            input_contract="",
            weights=(w,),
        )

    assert weights_sha256(FromFile()) == hashlib.sha256(b"weights").hexdigest()
    assert weights_sha256(RandomInit()) is None and weights_sha256(FailingModel()) is None
    assert weights_sha256(FromCard()) == sha
    ev = evaluate(FromCard(), TinyDeblurBench(n=1), out_dir=None, progress=False)
    assert ev.record["model"]["weights_sha256"] == sha
