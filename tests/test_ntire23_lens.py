"""``ntire23-lens-to-lens`` (refocus_bench.benchmarks.ntire23_lens) and the ``lens-to-lens`` task it scores.

The copy (tests/ntire23_lens_fixtures.py, 48x64 px) holds three tuples whose source and target are
renders of one sharp scene with each lens's background blur: two where the target lens is the wider
one (f/16 -> f/1.8, f/16 -> f/1.4) and one the other way (f/1.8 -> f/16).
"""

from __future__ import annotations

import json
import pickle
import shutil

import pytest
import torch

from refocus_bench import optics
from refocus_bench.benchmarks import create_benchmark, list_benchmarks
from refocus_bench.cli import main
from refocus_bench.errors import InvalidInputError
from refocus_bench.models import create_model, list_models
from refocus_bench.results import read_record
from refocus_bench.runner.evaluation import evaluate
from refocus_bench.tasks import TASKS, LensTransformer, NamedLens, check_task, task_method
from tests import ntire23_lens_fixtures as lfx

pytestmark = pytest.mark.usefixtures("one_torch_thread")
NAME = "ntire23-lens-to-lens"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return lfx.build_ntire23_lens(tmp_path_factory.mktemp("ntire_lens")).root


# -- the task -------------------------------------------------------------------------------------------
def test_the_task_is_defined_once_with_its_lens_names():
    assert TASKS[-1] == "lens-to-lens" and check_task("lens-to-lens") == "lens-to-lens"
    assert task_method("lens-to-lens") == "lens_to_lens" and task_method("deblur") == "deblur"
    lens = NamedLens.parse("Sony50mmf16.0BS")
    assert (lens.maker, lens.focal_mm, lens.f_number, lens.tag, lens.bokeh_simulated) == (
        "Sony",
        50.0,
        16.0,
        "BS",
        True,
    )
    assert NamedLens.parse("Canon50mmf16BS").f_number == 16.0 and NamedLens.parse("Canon50mmf1.4BS").maker == "Canon"
    assert not NamedLens.parse("Sony85mmf2").bokeh_simulated
    for bad in ("Sony50mm1.8BS", "50mmf1.8", "Sony50mmf0BS", "", 50):
        with pytest.raises(InvalidInputError, match="src_lens: lens name"):
            NamedLens.parse(bad, where="src_lens")
    with pytest.raises(InvalidInputError, match="task must be one of deblur, bokeh, refocus, lens-to-lens"):
        check_task("lens_to_lens")


def test_blur_gain_ratio_is_the_thin_lens_ratio():
    assert optics.blur_gain_ratio(50.0, 16.0, 50.0, 1.8) == pytest.approx(16.0 / 1.8)
    assert optics.blur_gain_ratio(50.0, 2.0, 100.0, 2.0) == pytest.approx(4.0)  # f^2
    exact = optics.coc_gain_px_m(85.0, 1.4, 2.0, 36.0, 6000) / optics.coc_gain_px_m(50.0, 4.0, 2.0, 36.0, 6000)
    assert optics.blur_gain_ratio(50.0, 4.0, 85.0, 1.4, 2.0) == pytest.approx(exact, rel=1e-12)
    with pytest.raises(InvalidInputError, match="f_number"):
        optics.blur_gain_ratio(50.0, 0.0, 50.0, 1.8)


def test_models_declare_it_and_check_their_inputs():
    assert {"identity", "refocus.cascade", "genrefocus.tiny"} <= set(list_models(task="lens-to-lens"))
    assert "bokeh.layered" not in list_models(task="lens-to-lens")
    x, alpha = torch.rand(2, 3, 16, 16), torch.zeros(2, 1, 16, 16)
    kw = {"src_lens": "Sony50mmf16.0BS", "tgt_lens": "Sony50mmf1.8BS", "disparity": 4.0, "alpha": alpha}
    m = create_model("refocus.cascade")
    assert isinstance(m, LensTransformer) and m.lens_to_lens(x, **kw).shape == x.shape
    assert torch.equal(m(x, "lens-to-lens", **kw), m.lens_to_lens(x, **kw))
    with pytest.raises(InvalidInputError, match="does not support task 'lens-to-lens'"):
        create_model("bokeh.layered").lens_to_lens(x, **kw)
    with pytest.raises(InvalidInputError, match="tgt_lens: lens name 'f1.8'"):
        m.lens_to_lens(x, **{**kw, "tgt_lens": "f1.8"})
    with pytest.raises(InvalidInputError, match="alpha"):
        m.lens_to_lens(x, **{**kw, "alpha": torch.zeros(2, 1, 8, 16)})
    with pytest.raises(InvalidInputError, match="alpha"):
        m.lens_to_lens(x, **{**kw, "alpha": alpha + 2.0})
    with pytest.raises(InvalidInputError, match="disparity must be a finite value >= 0"):
        m.lens_to_lens(x, **{**kw, "disparity": torch.tensor([4.0, -1.0])})
    with pytest.raises(InvalidInputError, match="disparity"):
        m.lens_to_lens(x, **{**kw, "disparity": torch.tensor([1.0, 2.0, 3.0])})


def test_the_cascade_keeps_the_subject_and_is_the_identity_between_equal_lenses():
    g = torch.Generator().manual_seed(0)
    x, alpha = torch.rand(1, 3, 24, 24, generator=g), torch.zeros(1, 1, 24, 24)
    alpha[..., 6:18, 6:18] = 1.0
    m = create_model("refocus.cascade")
    same = m.lens_to_lens(x, src_lens="Sony50mmf1.8BS", tgt_lens="Sony50mmf1.8BS", disparity=5.0, alpha=alpha)
    torch.testing.assert_close(same, x, atol=1e-5, rtol=0)  # K = 0, no deblurring
    out = m.lens_to_lens(x, src_lens="Sony50mmf16.0BS", tgt_lens="Sony50mmf1.4BS", disparity=5.0, alpha=alpha)
    assert torch.equal(out[..., 6:18, 6:18], x[..., 6:18, 6:18])  # the subject keeps the source's pixels
    assert float((out - x).abs()[..., :4, :].mean()) > 0.02  # the background is blurred


# -- the benchmark --------------------------------------------------------------------------------------
def test_definition_and_samples(root):
    bench = create_benchmark(NAME, root=root)
    spec = bench.spec
    assert spec.task == "lens-to-lens" and spec.protocol == {"name": "direct"}
    assert spec.metrics == ("lpips.alex", "psnr.rgb", "ssim.rgb") and spec.headline_metric == "lpips.alex"
    assert spec.subsets == ("src_lens", "tgt_lens") and spec.source["split"] == "default"
    assert "lens-to-lens task" in spec.description and NAME in list_benchmarks()
    assert bench.sample_ids() == list(lfx.SAMPLES)
    for sid, (src, tgt, disparity) in lfx.SAMPLES.items():
        s = bench.load(sid)
        assert set(s.condition) == {"src_lens", "tgt_lens", "disparity", "alpha"}
        assert (s.condition["src_lens"], s.condition["tgt_lens"], s.condition["disparity"]) == (src, tgt, disparity)
        alpha = s.condition["alpha"]
        assert tuple(alpha.shape) == (1, 1, 48, 64) and float(alpha.min()) == 0.0 and float(alpha.max()) == 1.0
        assert dict(s.subset) == {"src_lens": src, "tgt_lens": tgt}
        assert bench.files()[sid] == [f"{sid}.src.jpg", f"{sid}.tgt.jpg", f"{sid}.alpha.png"]


def test_baselines_through_evaluate(root, tmp_path, metric_weights):
    bench = create_benchmark(NAME, root=root)
    frames = {}
    for m in ("identity", "refocus.cascade", "genrefocus.tiny"):
        ev = evaluate(m, bench, out_dir=tmp_path, progress=False)
        rec = read_record(ev.path)
        assert rec["status"] == "complete" and rec["benchmark"]["definition"]["task"] == "lens-to-lens"
        assert ev.frame["error"].isna().all(), ev.frame
        frames[m] = ev.frame.set_index("id")
    ident, casc = frames["identity"], frames["refocus.cascade"]
    assert (casc["psnr.rgb"] > ident["psnr.rgb"]).all() and (casc["lpips.alex"] < ident["lpips.alex"]).all()
    assert (casc.loc[list(lfx.WIDER_TARGET), "psnr.rgb"] > 40.0).all()  # adding blur inverts nothing
    assert (frames["genrefocus.tiny"]["psnr.rgb"] > ident["psnr.rgb"]).all()


def test_cli_evaluate(root, tmp_path, capsys, metric_weights):
    argv = ["evaluate", "--model", "refocus.cascade", "--benchmark", NAME, "--benchmark-arg", f"root={root}"]
    assert main([*argv, "-q", "-o", str(tmp_path)]) == 0, capsys.readouterr().err
    rec = json.loads((tmp_path / NAME / "refocus.cascade.json").read_text())
    assert [s["id"] for s in rec["samples"]] == list(lfx.SAMPLES)
    assert all(s["scores"]["psnr.rgb"] > 20 for s in rec["samples"])
    assert main(["list", "benchmarks"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(NAME))
    assert "needs root=" in line and "lens-to-lens" in line


def test_pickles_and_hash_covers_the_matte(root, tmp_path):
    bench = create_benchmark(NAME, root=root)
    copy = pickle.loads(pickle.dumps(bench))
    assert copy.content_hash() == bench.content_hash()
    assert torch.equal(copy.load("00001").condition["alpha"], bench.load("00001").condition["alpha"])
    moved = tmp_path / "copy"
    shutil.copytree(root, moved)
    assert create_benchmark(NAME, root=moved).content_hash() == bench.content_hash()
    alpha = moved / "00001.alpha.png"
    alpha.write_bytes(alpha.read_bytes() + b"\0")
    assert create_benchmark(NAME, root=moved).content_hash() != bench.content_hash()
    oracle = create_benchmark("ntire23-refocus-oracle-k", root=root).spec.description
    assert "that is ntire23-lens-to-lens" in oracle


# -- bad input ------------------------------------------------------------------------------------------
def _copy_with_meta(root, tmp_path, line: int, new: str):
    copy = tmp_path / "bad"
    shutil.copytree(root, copy)
    lines = (copy / "meta.txt").read_text().splitlines()
    lines[line - 1] = new
    (copy / "meta.txt").write_text("\n".join(lines) + "\n")
    return copy


def test_unknown_lens_or_bad_disparity_names_meta_txt_and_the_line(root, tmp_path):
    with pytest.raises(InvalidInputError, match="needs root="):
        create_benchmark(NAME)
    bad = _copy_with_meta(root, tmp_path, 2, "00001, Canon50mmf16BS, Leica-Noctilux, 6")
    with pytest.raises(
        InvalidInputError, match=r"meta\.txt line 2 \(tgt_lens of sample '00001'\): lens name 'Leica-Noctilux'"
    ):
        create_benchmark(NAME, root=bad)
    assert create_benchmark("ntire23-refocus-oracle-k", root=bad).sample_ids() == list(lfx.SAMPLES)  # labels only
    shutil.rmtree(bad)
    bad = _copy_with_meta(root, tmp_path, 3, "00002, Sony50mmf1.8BS, Sony50mmf16.0BS, -3")
    with pytest.raises(InvalidInputError, match=r"meta\.txt line 3: disparity of sample '00002' must be a finite"):
        create_benchmark(NAME, root=bad)


def test_missing_or_mis_sized_matte(root, tmp_path):
    from tests.dataset_fixtures import _encode

    none = tmp_path / "none"
    shutil.copytree(root, none)
    for p in none.glob("*.alpha.png"):
        p.unlink()
    with pytest.raises(InvalidInputError, match=r"no \{id\}\.alpha\.png next to '00000\.src\.jpg'"):
        create_benchmark(NAME, root=none)
    one = tmp_path / "one"
    shutil.copytree(root, one)
    (one / "00001.alpha.png").unlink()
    with pytest.raises(InvalidInputError, match=r"00001\.alpha\.png"):
        create_benchmark(NAME, root=one)
    small = tmp_path / "small"
    shutil.copytree(root, small)
    _encode(small / "00002.alpha.png", torch.zeros(24, 32, dtype=torch.uint8).numpy())
    with pytest.raises(InvalidInputError, match=r"00002\.alpha\.png"):
        create_benchmark(NAME, root=small)
    unchecked = create_benchmark(NAME, root=small, check=False)  # the check at load names the file too
    with pytest.raises(InvalidInputError, match=r"00002\.alpha\.png: the matte is \(24, 32\)"):
        unchecked.load("00002")


def test_training_pairs_keep_the_three_simulated_tasks():
    """make-pairs draws no lens pairs: its default and accepted tasks exclude lens-to-lens."""
    from refocus_bench.simulators.pairs.generate import PairConfig
    from refocus_bench.tasks import PAIR_TASKS

    assert PairConfig().tasks == PAIR_TASKS == ("deblur", "bokeh", "refocus")
    with pytest.raises(InvalidInputError, match="tasks must be distinct names from"):
        PairConfig(tasks=("deblur", "lens-to-lens"))
