"""``refocus-bench render`` in-process: depth formats, K mode, the saved CoC map, clean failures."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from refocus_bench.cli import main
from refocus_bench.optics import coc_radius_px
from refocus_bench.simulators.render.rgbd import render_bokeh

H, W = 32, 48
SENSOR_MM = 1.0  # a tiny sensor so that a 48 px image gets blur radii of several pixels
F_MM, N, FOCUS_M = 50.0, 2.0, 2.0


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def depth_m() -> np.ndarray:
    """Three planes at 1.5, 2.25 and 4 m (exact in float32 and in millimetres) and a patch of sky."""
    d = np.empty((H, W), dtype=np.float32)
    d[:, :16], d[:, 16:32], d[:, 32:] = 1.5, 2.25, 4.0
    d[:4, :4] = np.inf
    return d


def coc_by_hand(d: np.ndarray, f_mm=F_MM, n=N, s_m=FOCUS_M, sensor_mm=SENSOR_MM) -> np.ndarray:
    """Signed CoC radius (px): half the blur-disc diameter A f (z - s) / (z (s - f)), in pixels."""
    a, s, z = f_mm / n, s_m * 1000.0, d.astype(np.float64) * 1000.0
    with np.errstate(invalid="ignore"):
        diameter = np.where(np.isinf(z), a * f_mm / (s - f_mm), a * f_mm * (z - s) / (z * (s - f_mm)))
    return diameter / 2.0 * (W / sensor_mm)


@pytest.fixture()
def inputs(tmp_path: Path) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    g = np.random.default_rng(0)
    rgb = cv2.GaussianBlur((g.random((H, W, 3)) * 255).astype(np.uint8), (5, 5), 0)
    assert cv2.imwrite(str(src / "photo.png"), rgb)
    d = depth_m()
    np.save(src / "depth.npy", d)
    mm = np.where(np.isinf(d), 0, np.round(d * 1000)).astype(np.uint16)  # 16-bit PNG, millimetres, 0 = none
    assert cv2.imwrite(str(src / "depth.png"), mm)
    import OpenEXR

    with OpenEXR.File({"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}, {"Z": d}) as f:
        f.write(str(src / "depth.exr"))
    np.save(src / "depth_small.npy", d[:-2])
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    return src


def read_16bit_rgb(path: Path) -> torch.Tensor:
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert arr.dtype == np.uint16
    return torch.from_numpy(arr[..., ::-1].astype(np.float32) / 65535.0).permute(2, 0, 1)[None]


def lens_args(depth: Path, out: Path, *extra: str) -> list[str]:
    return [
        "render",
        str(depth.parent / "photo.png"),
        "--depth",
        str(depth),
        "--focal-length",
        str(F_MM),
        "--f-number",
        str(N),
        "--focus-distance",
        str(FOCUS_M),
        "--sensor-width",
        str(SENSOR_MM),
        "--bit-depth",
        "16",
        "-o",
        str(out),
        *extra,
    ]


@pytest.mark.parametrize("depth_file", ["depth.npy", "depth.png", "depth.exr"])
def test_render_with_each_depth_format(inputs, tmp_path, depth_file, capsys):
    out_dir = tmp_path / "out"
    assert main(lens_args(inputs / depth_file, out_dir / "bokeh.png", "--save-coc", str(out_dir / "coc.npy"))) == 0
    assert "wrote" in capsys.readouterr().out
    assert sorted(p.name for p in out_dir.iterdir()) == ["bokeh.png", "coc.npy"]  # no temporary files left
    coc = np.load(out_dir / "coc.npy")
    want = coc_by_hand(depth_m())
    np.testing.assert_allclose(coc, want, rtol=1e-5, atol=1e-5)
    assert want[0, 40] == pytest.approx(7.6923, abs=1e-3) and want[0, 0] == pytest.approx(15.3846, abs=1e-3)
    # optics' own values for the same lens
    optics_coc = coc_radius_px(torch.from_numpy(depth_m()).double()[None, None], F_MM, N, FOCUS_M, SENSOR_MM, W)[
        0, 0
    ].numpy()
    np.testing.assert_allclose(coc, optics_coc, rtol=1e-6, atol=1e-5)
    # the written image is the renderer's output for that CoC map (16-bit quantisation)
    image = torch.from_numpy(cv2.imread(str(inputs / "photo.png"))[..., ::-1].astype(np.float32) / 255.0).permute(
        2, 0, 1
    )[None]
    with torch.no_grad():
        want_img = render_bokeh(image.contiguous(), coc_px=torch.from_numpy(want.astype(np.float32))[None, None])
    got = read_16bit_rgb(out_dir / "bokeh.png")
    assert float((got - want_img).abs().max()) < 2e-5
    assert float((got - image).abs().max()) > 0.02  # and it is visibly blurred


def test_k_with_focus_point_and_exr_coc(inputs, tmp_path):
    out_dir = tmp_path / "out"
    args = [
        "render",
        str(inputs / "photo.png"),
        "--depth",
        str(inputs / "depth.npy"),
        "--k",
        "20",
        "--focus-point",
        "24,16",
        "-o",
        str(out_dir / "bokeh.png"),
        "--save-coc",
        str(out_dir / "coc.exr"),
    ]
    assert main(args) == 0
    import OpenEXR

    with OpenEXR.File(str(out_dir / "coc.exr")) as f:
        coc = np.asarray(next(iter(f.channels().values())).pixels, dtype=np.float64)
    d = depth_m().astype(np.float64)
    want = 20.0 * (1.0 / 2.25 - 1.0 / d)  # focus on the 2.25 m plane under pixel (24, 16)
    np.testing.assert_allclose(coc, want, rtol=1e-5, atol=1e-5)
    assert np.abs(coc[:, 16:32]).max() < 1e-6


def _set(args: list[str], flag: str, value: str | None) -> list[str]:
    """Replace (or remove, with None) a flag's value, or append the flag."""
    args = list(args)
    if flag in args:
        at = args.index(flag)
        if value is None:
            del args[at : at + 2]
        else:
            args[at + 1] = value
    elif value is not None:
        args += [flag, value]
    return args


def _image(args: list[str], path: str) -> list[str]:
    return [args[0], path, *args[2:]]


BAD_CASES = {  # name -> (how to spoil the arguments, pattern the one-line message must contain)
    "missing depth file": (lambda a, src, out: _set(a, "--depth", f"{src}/nope.npy"), "depth"),
    "depth of another size": (lambda a, src, out: _set(a, "--depth", f"{src}/depth_small.npy"), "--depth"),
    "f-number zero": (lambda a, src, out: _set(a, "--f-number", "0"), r"f[-_]number"),
    "focus inside focal length": (lambda a, src, out: _set(a, "--focus-distance", "0.04"), "--focus-distance"),
    "unreadable image": (lambda a, src, out: _image(a, f"{src}/broken.png"), "IMAGE"),
    "missing image": (lambda a, src, out: _image(a, f"{src}/none.png"), "IMAGE"),
    "bad --save-coc suffix": (lambda a, src, out: _set(a, "--save-coc", f"{out}/coc.txt"), "--save-coc"),
    "unknown aperture": (lambda a, src, out: _set(a, "--aperture", "hexagn"), "hexagon"),
    "focus point outside": (
        lambda a, src, out: _set(_set(a, "--focus-distance", None), "--focus-point", "500,3"),
        "--focus-point",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_input_exit_code_2_one_line_no_output(inputs, tmp_path, case, capsys):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    spoil, pattern = BAD_CASES[case]
    args = lens_args(inputs / "depth.npy", out_dir / "bokeh.png", "--save-coc", str(out_dir / "coc.npy"))
    assert main(spoil(args, inputs, out_dir)) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("refocus-bench render: error: ")
    assert re.search(pattern, lines[0]), lines[0]
    assert list(out_dir.iterdir()) == []  # no output and no temporary file
