"""``refocus-bench refocus`` / ``models list``: outputs equal the Python API; bad options get clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from refocus_bench.cli import main
from refocus_bench.io import read_image, write_image
from refocus_bench.models import create_model


@pytest.fixture
def files(tmp_path):
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 24, 32, generator=g)
    write_image(tmp_path / "in.png", image)
    depth = np.full((24, 32), 4.0, dtype=np.float32)
    depth[:, :16] = 2.0
    np.save(tmp_path / "depth.npy", depth)
    mask = torch.zeros(1, 3, 24, 32)
    mask[..., 20:] = 1.0
    write_image(tmp_path / "mask.png", mask)
    return tmp_path


def test_refocus_matches_the_python_api(files):
    out = files / "out.png"
    rc = main(
        [
            "refocus",
            str(files / "in.png"),
            "--model",
            "bokeh.gaussian",
            "--depth",
            str(files / "depth.npy"),
            "--focus-point",
            "4,5",
            "--k",
            "8",
            "-o",
            str(out),
        ]
    )
    assert rc == 0
    image = read_image(files / "in.png")
    depth = torch.from_numpy(np.load(files / "depth.npy"))[None, None]
    expected = create_model("bokeh.gaussian").bokeh(image, depth, focus_distance_m=2.0, k_px_m=8.0)
    assert (read_image(out) - expected).abs().max() <= 0.5 / 255 + 1e-6


def test_focus_mask_and_lens_options(files):
    out = files / "out.png"
    rc = main(
        [
            "refocus",
            str(files / "in.png"),
            "--model",
            "refocus.cascade",
            "--model-arg",
            "deblur=identity",
            "--model-arg",
            "bokeh=bokeh.gaussian",
            "--depth",
            str(files / "depth.npy"),
            "--focus-mask",
            str(files / "mask.png"),
            "--f-number",
            "2",
            "--focal-length",
            "50",
            "-o",
            str(out),
        ]
    )
    assert rc == 0
    image = read_image(files / "in.png")
    depth = torch.from_numpy(np.load(files / "depth.npy"))[None, None]
    from refocus_bench.optics import ThinLens

    expected = create_model("bokeh.gaussian").bokeh(image, depth, lens=ThinLens(50.0, 2.0, 4.0, 36.0))
    assert (read_image(out) - expected).abs().max() <= 0.5 / 255 + 1e-6


def test_deblur_task_and_model_list(files, capsys):
    assert main(["refocus", str(files / "in.png"), "--model", "deblur.unsharp", "-o", str(files / "d.png")]) == 0
    assert read_image(files / "d.png").shape == (1, 3, 24, 32)
    assert main(["models", "list", "--task", "bokeh"]) == 0
    assert "bokeh.layered" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--model", "bokeh.gausian", "--depth", "D", "--k", "1"], "did you mean 'bokeh.gaussian'"),
        (["--model", "bokeh.gaussian", "--k", "1"], "exactly one of --depth FILE or --depth-model"),
        (["--model", "bokeh.gaussian", "--depth", "D"], "exactly one of --k"),
        (
            ["--model", "bokeh.gaussian", "--depth", "D", "--k", "1", "--focus-text", "a cat"],
            "needs the image and a grounder",
        ),
        (["--model", "bokeh.gaussian", "--depth", "D", "--k", "1", "--grounder", "x"], "only used with --focus-text"),
        (["--model", "bokeh.gaussian", "--depth", "D", "--k", "1", "--focus-point", "99,1"], "outside the 32x24 image"),
        (["--model", "deblur.wiener", "--k", "1"], "not used by --task deblur"),
        (["--model", "deblur.wiener", "--task", "bokeh", "--depth", "D", "--k", "1"], "does not support --task bokeh"),
        (
            ["--model", "genrefocus.tiny", "--model-arg", "weights=/no/such.safetensors", "--depth", "D", "--k", "1"],
            "weight file not found",
        ),
    ],
)
def test_bad_options_give_one_clear_line(files, capsys, extra, message):
    args = ["refocus", str(files / "in.png"), "-o", str(files / "o.png")] + [
        str(files / "depth.npy") if a == "D" else a for a in extra
    ]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_conflicting_focus_options_are_rejected_by_the_parser(files, capsys):
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "refocus",
                str(files / "in.png"),
                "--model",
                "bokeh.gaussian",
                "--focus-point",
                "1,1",
                "--focus-distance",
                "2",
                "-o",
                str(files / "o.png"),
            ]
        )
    assert exc.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
