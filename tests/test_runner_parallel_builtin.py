"""Every registered benchmark under the process pool and under Ray: ``workers=2`` gives the same
per-sample results as ``workers=1``, to float equality (issue 21).

The built-in (generated) benchmarks: 2 samples each (64x64 for the synthetic ones, 128x128 where the
oracle K search pads by 68 px, the default 248x368 crop for Middlebury), generated once into a
temporary cache, with their default metrics (LPIPS and DISTS included). The dataset-backed ones
(``dpdd-test`` ... ``blb-bokeh``): the fixture copies of ``tests/dataset_fixtures.py`` at 36x44 px,
with their default metrics (``ebb400-bokeh``, ``ebb-val294-bokeh``, ``ntire23-refocus-oracle-k``: the 48x64
renderable copies of ``tests/ebb_fixtures.py``, with a fit-blur run over each EBB! copy;
``ntire23-lens-to-lens``: the 48x64 copy of ``tests/ntire23_lens_fixtures.py``); ``cuhk-blur``'s
CLIP-IQA from a tiny random CLIP folder (plus BRISQUE).
The reference runs in this process with the torch thread count a pool worker uses
(``default_threads(2)``), so that thread-dependent rounding cannot differ on any machine. The pool
is persistent: one set of two worker processes serves every benchmark of the module.
"""

from __future__ import annotations

import pickle

import pytest
import torch

from refocus_bench.benchmarks import create_benchmark, list_benchmarks
from refocus_bench.benchmarks.builtin import BUILTIN_BENCHMARKS
from refocus_bench.cli import main
from refocus_bench.models import create_model
from refocus_bench.results import read_record
from refocus_bench.runner.evaluation import evaluate
from refocus_bench.runner.executors import default_threads, pool_info, shutdown_pool
from tests import dataset_fixtures as fx
from tests import ebb_fixtures as efx
from tests import ntire23_lens_fixtures as lfx
from tests.test_benchmarks_datasets import enlarge
from tests.test_runner_executors import free_cpus_settle

MODEL_OF = {
    "deblur": "deblur.wiener",
    "bokeh": "bokeh.gaussian",
    "refocus": "refocus.cascade",
    "lens-to-lens": "refocus.cascade",
}
DATASET_BENCHMARKS = {  # name -> fixture copy of its dataset
    "dpdd-test": fx.build_dpdd,
    "realdof": fx.build_realdof,
    "lfdof-test": fx.build_lfdof,
    "cuhk-blur": fx.build_cuhk,
    "realbokeh-deblur": fx.build_realbokeh,
    "blb-bokeh": lambda tmp: fx.build_blb(tmp, depth_format="npy"),
    "ebb400-bokeh": efx.ebb400_benchmark_args,  # renderable copy + fit-blur run (not enlarged): returns the kwargs
    "ebb-val294-bokeh": efx.ebb_val294_benchmark_args,
    "ntire23-refocus-oracle-k": efx.ntire23_benchmark_args,
    "ntire23-lens-to-lens": lfx.ntire23_lens_benchmark_args,
}
FITTED = {  # builders returning create_benchmark kwargs
    "ebb400-bokeh",
    "ebb-val294-bokeh",
    "ntire23-refocus-oracle-k",
    "ntire23-lens-to-lens",
}


def _small(name: str, cache) -> dict:
    kw = {"num_samples": 2, "cache_dir": cache, "progress": False}
    if not name.startswith("synthetic-"):
        return kw
    return {**kw, "size": (128, 128) if name == "synthetic-bokeh-oracle" else (64, 64)}  # oracle K pads 68 px


@pytest.fixture(scope="module")
def pool_threads():
    """This process runs the thread count of a pool worker; the pool is shut down after the module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(default_threads(2))
    yield
    torch.set_num_threads(threads)
    shutdown_pool()


@pytest.fixture(scope="module")
def benches(tmp_path_factory, pool_threads, metric_weights):
    cache = tmp_path_factory.mktemp("benchmarks")
    out = {}
    for name in BUILTIN_BENCHMARKS:
        b = create_benchmark(name, **_small(name, cache))
        b.prepare()
        out[name] = b
    return out


@pytest.fixture(scope="module")
def datasets(tmp_path_factory, pool_threads, metric_weights):
    """{name: (benchmark, metrics)} for the dataset-backed benchmarks, on fixture copies."""
    from refocus_bench.metrics import create_metric
    from tests.clip_fixtures import tiny_clip

    tmp = tmp_path_factory.mktemp("datasets")
    tiny_clip(tmp / "clip")
    clip = create_metric("clipiqa.vit", weights_dir=tmp / "clip")
    out = {}
    for name, build in DATASET_BENCHMARKS.items():
        kwargs = build(tmp / name) if name in FITTED else {"root": enlarge(build(tmp / name)).root}
        bench = create_benchmark(name, **kwargs)
        out[name] = (bench, [clip, "brisque.live"] if name == "cuhk-blur" else None)
    return out


@pytest.fixture(scope="module")
def reference(benches, datasets):
    """workers=1, in this process: {benchmark: rows}."""
    ref = {n: _rows(evaluate(MODEL_OF[b.spec.task], b, out_dir=None, progress=False)) for n, b in benches.items()}
    for n, (b, metrics) in datasets.items():
        ref[n] = _rows(evaluate(MODEL_OF[b.spec.task], b, metrics, out_dir=None, progress=False))
    return ref


def _rows(ev) -> list[dict]:
    """Per-sample rows without runtimes (NaN as None, so equal rows compare equal), plus protocol facts."""
    df = ev.frame.drop(columns="runtime_s")
    rows = df.astype(object).where(df.notna(), None).to_dict("records")
    for row, s in zip(rows, ev.record["samples"]):
        row["protocol"] = s.get("protocol")
    return rows


def test_every_benchmark_pickles_with_its_samples(benches, datasets):
    for name, b in [*benches.items(), *((n, b) for n, (b, _) in datasets.items())]:
        copy = pickle.loads(pickle.dumps(b))
        assert copy.content_hash() == b.content_hash(), name
        sid = b.sample_ids()[-1]
        s, c = b.load(sid), copy.load(sid)
        assert torch.equal(s.image, c.image), name
        assert (s.target is None and c.target is None) or torch.equal(s.target, c.target), name
        s2 = pickle.loads(pickle.dumps(s))
        assert s2.id == s.id and torch.equal(s2.image, s.image) and dict(s2.subset) == dict(s.subset), name


def _case(name: str, benches: dict, datasets: dict) -> tuple:
    """(benchmark, metrics or None) of a registered benchmark."""
    return (benches[name], None) if name in benches else datasets[name]


def test_every_registered_benchmark_is_covered():
    assert sorted([*BUILTIN_BENCHMARKS, *DATASET_BENCHMARKS]) == list_benchmarks()


@pytest.mark.parametrize("name", [*BUILTIN_BENCHMARKS, *DATASET_BENCHMARKS])
def test_process_pool_equals_one_worker(name, benches, datasets, reference, tmp_path):
    bench, metrics = _case(name, benches, datasets)
    ev = evaluate(MODEL_OF[bench.spec.task], bench, metrics, out_dir=tmp_path, progress=False, workers=2)
    assert _rows(ev) == reference[name]
    assert len(reference[name]) == len(bench.sample_ids()) == ev.computed
    head = bench.spec.headline_metric
    assert any(r[head] is not None for r in reference[name]), reference[name]  # scores, not only errors
    rec = read_record(ev.path)
    assert rec["status"] == "complete" and rec["environment"]["workers"] == 2
    assert pool_info()["workers"] == 2  # the pool stays up for the next evaluation


def test_the_pool_persists_across_evaluations(benches):
    before = pool_info()
    assert before is not None and len(before["pids"]) == 2  # started by the tests above (2 chunks each)
    b = benches["synthetic-deblur"]
    evaluate("identity", b, ["psnr.rgb"], out_dir=None, progress=False, workers=2)
    assert pool_info() == before  # the same worker processes served another model and metric set


def test_ray_equals_one_worker_on_every_registered_benchmark(benches, datasets, reference):
    """One pair of actors (kept by ``keep_actors``) serves every benchmark; they die with the block."""
    ray = pytest.importorskip("ray")  # skips only where the optional extra 'ray' is not installed
    from refocus_bench.ray_backend import keep_actors, kept_actor_ids

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        with keep_actors():
            ids = []
            for name in [*BUILTIN_BENCHMARKS, *DATASET_BENCHMARKS]:
                bench, metrics = _case(name, benches, datasets)
                ev = evaluate(
                    MODEL_OF[bench.spec.task], bench, metrics, out_dir=None, progress=False, workers=2, executor="ray"
                )
                assert _rows(ev) == reference[name], name
                assert ev.record["environment"]["executor"] == "ray"
                ids.append(kept_actor_ids())
            assert len(ids[0]) == 2 and all(i == ids[0] for i in ids)  # the same actors throughout
            assert ray.available_resources().get("CPU", 0.0) == 0.0  # held by the two kept actors
        assert kept_actor_ids() == [] and free_cpus_settle(ray, 2) == 2  # killed with the block
    finally:
        ray.shutdown()


def test_cli_evaluate_with_two_workers_on_synthetic_deblur(benches, reference, tmp_path, capsys):
    """The command of the issue: it crashed with "Can't pickle local object 'synthetic_source...'"."""
    b = benches["synthetic-deblur"]
    argv = ["evaluate", "--model", "deblur.wiener", "--benchmark", "synthetic-deblur", "--workers", "2", "-q"]
    for kv in ("num_samples=2", "size=[64, 64]", f"cache_dir={b.cache_root}"):
        argv += ["--benchmark-arg", kv]
    assert main([*argv, "-o", str(tmp_path)]) == 0, capsys.readouterr().err
    rec = read_record(tmp_path / "synthetic-deblur" / "deblur.wiener.json")
    ref = {r["id"]: r for r in reference["synthetic-deblur"]}
    assert all(s["scores"] == {m: ref[s["id"]][m] for m in s["scores"]} for s in rec["samples"])
    assert sorted(rec["examples"]) == ["0000", "0001"]


def test_an_unpicklable_model_is_refused_before_any_work(benches, tmp_path):
    from refocus_bench.errors import InvalidInputError

    model = create_model("identity")
    model.hook = lambda x: x  # a lambda attribute cannot be sent to a worker process
    with pytest.raises(InvalidInputError, match="workers > 1 sends the model"):
        evaluate(model, benches["synthetic-deblur"], ["psnr.rgb"], out_dir=tmp_path, progress=False, workers=2)
    assert not any(tmp_path.iterdir())  # nothing written: no cache folder, no record
