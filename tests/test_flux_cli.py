"""``refocus-bench refocus --model genrefocus.flux`` reaches every released entry point, release-exact.

The tiny release reference (``tests/data/genrefocus-official-tiny``) runs through the CLI from files:
8-bit PNG inputs, a depth ``.npy`` of another size with invalid zeros, a PNG focus mask, ``--k``,
``--pre-deblur`` and ``--tiling``; the written PNG must be the release's 8-bit output.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from refocus_bench.cli import main

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DATA = Path(__file__).parent / "data" / "genrefocus-official-tiny"
W = DATA / "weights"
MODEL = [
    "--model",
    "genrefocus.flux",
    "--model-arg",
    f"base={W / 'tiny_flux'}",
    "--model-arg",
    f"deblur_lora={W / 'lora' / 'deblurNet.safetensors'}",
    "--model-arg",
    f"pre_deblur_lora={W / 'lora' / 'deblurNet_with_pre_deblur.safetensors'}",
    "--model-arg",
    f"bokeh_lora={W / 'lora' / 'bokehNet.safetensors'}",
    "--model-arg",
    "steps=3",
]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("flux_cli")
    for name in ("blurry_128", "pre_deblur_128", "aif_128", "mask_128"):
        Image.fromarray(np.load(DATA / "inputs" / f"{name}.npy")).save(d / f"{name}.png")
    np.save(d / "depth.npy", np.load(DATA / "inputs" / "depth_128.npy"))
    return d


def _agreement(path: Path, scenario: str) -> float:
    mine = np.asarray(Image.open(path).convert("RGB")).astype(int)
    ref = np.load(DATA / "outputs" / scenario / "output_uint8.npy").astype(int)
    return float((np.abs(mine - ref) <= 1).mean())


def test_deblur_and_pre_deblur_from_files(files):
    out = files / "deblur.png"
    assert main(["refocus", str(files / "blurry_128.png"), *MODEL, "--task", "deblur", "-o", str(out)]) == 0
    assert _agreement(out, "deblur_128") >= 0.999
    out2 = files / "pre.png"
    args = ["refocus", str(files / "blurry_128.png"), *MODEL, "--task", "deblur", "--tiling", "off"]
    assert main([*args, "--pre-deblur", str(files / "pre_deblur_128.png"), "-o", str(out2)]) == 0
    assert _agreement(out2, "deblur_pre_deblur_128") >= 0.999


def test_bokeh_with_mask_depth_of_another_size_and_k(files):
    out = files / "bokeh.png"
    args = ["refocus", str(files / "aif_128.png"), *MODEL, "--task", "bokeh", "--depth", str(files / "depth.npy")]
    assert main([*args, "--focus-mask", str(files / "mask_128.png"), "--k", "15", "-o", str(out)]) == 0
    assert _agreement(out, "bokeh_128") >= 0.999


def test_refocus_chain_by_point(files):
    call = json.loads((DATA / "manifest.json").read_text())["scenarios"]["demo_chain_128"]
    out = files / "chain.png"
    point = ",".join(str(v) for v in call["click"])
    args = ["refocus", str(files / "blurry_128.png"), *MODEL, "--depth", str(files / "depth.npy")]
    assert main([*args, "--focus-point", point, "--k", str(call["k_value"]), "-o", str(out)]) == 0
    assert _agreement(out, "demo_chain_128") >= 0.999


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--task", "bokeh", "--depth", "DEPTH", "--pre-deblur", "IMG", "--k", "5"], "--pre-deblur is used by"),
        (["--task", "bokeh", "--depth", "DEPTH"], "--k"),
        (["--task", "bokeh", "--depth", "DEPTH", "--k", "5", "--aperture", "hexagon"], "round aperture"),
        (["--task", "deblur", "--k", "5"], "not used by --task deblur"),
    ],
)
def test_bad_cli_input_is_refused_before_writing(files, extra, message, capsys):
    out = files / "never.png"
    extra = [
        str(files / "depth.npy") if a == "DEPTH" else str(files / "pre_deblur_128.png") if a == "IMG" else a
        for a in extra
    ]
    assert main(["refocus", str(files / "aif_128.png"), *MODEL, *extra, "-o", str(out)]) != 0
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_flux_options_are_refused_for_other_models(files, capsys):
    for flag, value in (("--tiling", "off"), ("--pre-deblur", str(files / "pre_deblur_128.png"))):
        args = ["refocus", str(files / "blurry_128.png"), "--model", "deblur.wiener", "--task", "deblur"]
        assert main([*args, flag, value, "-o", str(files / "x.png")]) != 0
        assert f"{flag} is a genrefocus.flux option" in capsys.readouterr().err
        assert not (files / "x.png").exists()
