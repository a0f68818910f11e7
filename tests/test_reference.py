"""The shift-and-add reference renderer, and the layered renderer's fidelity measured against it.

PSNRs are computed here from their definition (linear light, peak 1, mean over RGB and pixels),
over the image minus a border of ``ceil(max |r|) + 2`` px and over the pixels within 10 px of an
occlusion edge (where the front-most layer changes), with SciPy's distance transform; the
fidelity module's helpers are checked against the same numbers.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from kornia.color import rgb_to_linear_rgb
from scipy import ndimage

from refocus_bench.simulators.render import fidelity
from refocus_bench.simulators.render.apertures import make_aperture
from refocus_bench.simulators.render.layered import render_layered
from refocus_bench.simulators.render.reference import margin_px, render_reference
from refocus_bench.simulators.render.rgbd import render_bokeh
from refocus_bench.simulators.render.scatter import render_scatter
from refocus_bench.simulators.render.scenes import two_plane_scene

R = 8.0  # CoC radius of the defocused plane (px)
SAMPLES = 512


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def psnr(a: torch.Tensor, b: torch.Tensor, mask: np.ndarray) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean(0).numpy()[mask].mean())
    return 10.0 * math.log10(1.0 / mse)


def masks(front: torch.Tensor, coc: list[float], band_px: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """(valid, band): the image minus the reflection border, and the occlusion band within it."""
    f = front.numpy()
    h, w = f.shape
    m = math.ceil(max(abs(c) for c in coc)) + 2
    valid = np.zeros((h, w), dtype=bool)
    valid[m : h - m, m : w - m] = True
    edge = np.zeros((h, w), dtype=bool)
    edge[:, 1:] |= f[:, 1:] != f[:, :-1]
    edge[1:, :] |= f[1:, :] != f[:-1, :]
    band = (ndimage.distance_transform_edt(~edge) <= band_px) & valid
    return valid, band


@pytest.fixture(scope="module")
def scene():
    return two_plane_scene((128, 128), seed=1)


@pytest.fixture(scope="module")
def fidelity_rows(scene):
    """PSNR (whole, band) per case and renderer: layered on full layers, layered on RGB-D, scatter."""
    layers = scene.layers[None].double()
    image, _, front = scene.flatten()
    rows = {}
    for case, coc in (("sharp foreground", [0.0, R]), ("blurred foreground", [-R, 0.0])):
        c = torch.tensor([coc], dtype=torch.float64)
        with torch.no_grad():
            ref = render_reference(layers, coc_px=c, samples=SAMPLES, linear=True)[0]
            coc_map = c[0][front][None, None]
            outs = {
                "layered, full layers": render_layered(layers, coc_px=c),
                "layered, RGB-D": render_bokeh(image.double(), coc_px=coc_map),
                "scatter, RGB-D": render_scatter(image.double(), coc_px=coc_map),
            }
        valid, band = masks(front, coc)
        assert band.sum() > 1000 and valid.sum() > 10000
        for name, out in outs.items():
            lin = rgb_to_linear_rgb(out)[0]
            rows[case, name] = (psnr(lin, ref, valid), psnr(lin, ref, band))
        # the fidelity module's helpers give the same numbers
        assert margin_px(c) == math.ceil(R) + 2
        f_band = fidelity.occlusion_band(front, 10).numpy() & valid
        np.testing.assert_array_equal(f_band, band)
        lin = rgb_to_linear_rgb(outs["layered, RGB-D"])[0]
        assert fidelity.psnr_linear(lin, ref, torch.from_numpy(band)) == pytest.approx(
            rows[case, "layered, RGB-D"][1], abs=1e-9
        )
    return rows


@pytest.mark.parametrize("case", ["sharp foreground", "blurred foreground"])
def test_layered_full_layers_matches_reference(fidelity_rows, case):
    whole, band = fidelity_rows[case, "layered, full layers"]
    assert whole >= 40.0 and band >= 30.0, (whole, band)


@pytest.mark.parametrize("case", ["sharp foreground", "blurred foreground"])
def test_rgbd_and_scatter_are_what_they_are(fidelity_rows, case):
    full = fidelity_rows[case, "layered, full layers"]
    rgbd = fidelity_rows[case, "layered, RGB-D"]
    scatter = fidelity_rows[case, "scatter, RGB-D"]
    # hidden content unknown: the RGB-D path is below the full-layer render, and above the scatter
    assert rgbd[0] < full[0] and rgbd[1] < full[1]
    assert rgbd[0] > 30.0 and rgbd[1] > 27.0
    assert rgbd[1] > scatter[1] + 3.0, (rgbd, scatter)
    assert rgbd[0] > scatter[0]


def test_fidelity_evaluate_case_runs(scene):
    rows = fidelity.evaluate_case(fidelity.FidelityCase("blurred foreground", scene, [-R, 0.0]), samples=128)
    assert [r["renderer"] for r in rows] == [
        "reference, 64 samples, another seed",
        "layered, full layers",
        "layered, RGB-D",
        "layered, RGB-D, RGBD_FIDELITY",
        "layered, RGB-D, RGBD_PLANES",
        "scatter baseline, RGB-D",
        "share-fill anchor, RGB-D",
    ]
    assert all(math.isfinite(r["psnr_whole_db"]) and math.isfinite(r["psnr_band_db"]) for r in rows)
    assert rows[0]["seconds"] is None and all(r["seconds"] > 0 for r in rows[1:])


def test_fidelity_references_are_cached_by_their_inputs(scene, tmp_path):
    layers = scene.layers[None].double()
    coc = torch.tensor([[-R, 0.0]], dtype=torch.float64)
    first = fidelity.cached_reference(layers, coc, "disk", 16, 0, tmp_path)
    assert len(list(tmp_path.glob("reference-*.pt"))) == 1
    torch.testing.assert_close(fidelity.cached_reference(layers, coc, "disk", 16, 0, tmp_path), first, rtol=0, atol=0)
    fidelity.cached_reference(layers, coc, "disk", 16, 1, tmp_path)  # another seed, another file
    fidelity.cached_reference(layers, coc + 1.0, "disk", 16, 0, tmp_path)  # other radii, another file
    assert len(list(tmp_path.glob("reference-*.pt"))) == 3


@pytest.mark.parametrize("cases", ["9", "x", "-1"])
def test_fidelity_cases_option_refuses_what_does_not_exist(cases, capsys):
    with pytest.raises(SystemExit) as err:
        fidelity.main(["--cases", cases, "--samples", "4", "--size", "64"])
    assert err.value.code == 2
    assert "--cases" in capsys.readouterr().err


def test_fidelity_cases_cover_smooth_depth_and_thin_structures():
    names = [c.name for c in fidelity.default_cases(64)]
    assert len(names) == 8 and any("curved" in n for n in names) and any("strands" in n for n in names)


# -- the reference itself ------------------------------------------------------------------------
def test_reference_converges():
    layers = two_plane_scene((64, 64), seed=2).layers[None].double()
    coc = torch.tensor([[-6.0, 4.0]], dtype=torch.float64)
    best = render_reference(layers, coc_px=coc, samples=4096, seed=1, linear=True)
    m = margin_px(coc)
    errors = []
    for n in (64, 256, 1024):
        out = render_reference(layers, coc_px=coc, samples=n, linear=True)
        errors.append(float(((out - best)[..., m:-m, m:-m] ** 2).mean().sqrt()))
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < errors[0] / 4, errors


@pytest.mark.parametrize("aperture, radius", [("disk", 6.0), ("hexagon", 10.0), ("heart", 10.0)])
def test_reference_point_light_draws_the_aperture(aperture, radius):
    size = 41
    layers = torch.zeros(1, 1, 4, size, size, dtype=torch.float64)
    layers[0, 0, 3] = 1.0
    layers[0, 0, :3, size // 2, size // 2] = 1.0
    out = render_reference(
        layers, coc_px=torch.tensor([[radius]], dtype=torch.float64), aperture=aperture, samples=1024, linear=True
    )[0, 1]
    assert float(out.sum()) == pytest.approx(1.0, abs=1e-9)
    unit_area = (
        math.pi
        if aperture == "disk"
        else (3 * math.sqrt(3) / 2 if aperture == "hexagon" else make_aperture(aperture).area(2048))
    )
    drawn = float((out > 0.5 / (unit_area * radius * radius)).sum())
    assert math.sqrt(drawn / unit_area) == pytest.approx(radius, abs=0.5)


def test_reference_zero_coc_is_the_over_composite():
    g = torch.Generator().manual_seed(3)
    layers = torch.rand(1, 2, 4, 16, 16, generator=g, dtype=torch.float64)
    layers[0, 1, 3] = 1.0  # opaque back plane
    out = render_reference(layers, coc_px=torch.zeros(1, 2, dtype=torch.float64), samples=16, linear=True)[0]
    lin = rgb_to_linear_rgb(layers[0, :, :3])
    a = layers[0, 0, 3:4]
    expected = lin[0] * a + (1 - a) * lin[1]  # "over" in linear light, straight colour
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)
    # layer order in the input does not matter: the nearer plane is the one with the smaller CoC
    swapped = render_reference(
        layers.flip(1),
        coc_px=torch.zeros(1, 2, dtype=torch.float64) + torch.tensor([[1e-9, 0.0]]),
        samples=16,
        linear=True,
    )[0]
    torch.testing.assert_close(swapped, expected, atol=1e-6, rtol=0)


def test_reference_hidden_content_matters_near_the_edge():
    """Content hidden behind a blurred foreground shows near its edge (it is seen around it)."""
    size, r = 64, 6.0
    g = torch.Generator().manual_seed(4)
    fg = torch.zeros(4, size, size, dtype=torch.float64)
    fg[:3] = 0.8
    fg[3, :, 32:] = 1.0  # opaque foreground on the right half
    bg = torch.rand(4, size, size, generator=g, dtype=torch.float64)
    bg[3] = 1.0
    bg2 = bg.clone()
    bg2[:3, :, 32:] = torch.rand(3, size, 32, generator=g, dtype=torch.float64)  # change only hidden content
    coc = torch.tensor([[-r, 0.0]], dtype=torch.float64)
    a = render_reference(torch.stack([fg, bg])[None], coc_px=coc, samples=256, linear=True)[0]
    b = render_reference(torch.stack([fg, bg2])[None], coc_px=coc, samples=256, linear=True)[0]
    diff = (a - b).abs().mean(0)[8:-8]  # away from the top/bottom borders
    assert float(diff[:, 32 : 32 + int(r) - 1].mean()) > 1e-2  # inside the foreground, near its edge
    assert float(diff[:, 32 + int(r) + 2 :].max()) < 1e-12  # deep inside: the foreground hides it
    assert float(diff[:, : 32 - 1].max()) < 1e-12  # visible background is the same content


def test_rgbd_fill_stays_out_of_the_way_on_a_receding_surface():
    """Continuous depth (a plane receding across the frame, 32 strips, CoC -7.5..+5 px): the blur of a
    front layer reveals only ~|CoC difference| px behind it, so the disocclusion fill must not paint
    local means over a smooth surface. Measured: 43.5 dB with the fill, 43.1 dB without it; the fill
    that looked a fixed reach behind every nearer layer scored 34.2 dB."""
    from refocus_bench.simulators.render.config import RenderConfig
    from refocus_bench.simulators.render.scenes import slanted_plane_scene

    scene = slanted_plane_scene((128, 128), strips=32, seed=3)
    coc = torch.tensor([[15.0 * (0.5 - 1.0 / float(z)) for z in scene.depth_m]], dtype=torch.float64)
    ref = render_reference(scene.layers[None].double(), coc_px=coc, samples=256, linear=True)[0]
    image, _depth, front = scene.flatten()
    coc_map = coc[0][front][None, None]
    m = margin_px(coc)
    valid = np.zeros((128, 128), dtype=bool)
    valid[m:-m, m:-m] = True
    with_fill = psnr(rgb_to_linear_rgb(render_bokeh(image.double(), coc_px=coc_map))[0], ref, valid)
    without = psnr(
        rgb_to_linear_rgb(render_bokeh(image.double(), coc_px=coc_map, config=RenderConfig(fill_disocclusions=False)))[
            0
        ],
        ref,
        valid,
    )
    assert with_fill >= 40.0
    assert with_fill >= without - 0.5


def test_layered_opaque_scene_of_thin_planes_is_normalised_and_a_see_through_one_is_not():
    """A plane receding in 32 strips (opaque: every pixel covered): "over" with blurred alpha leaks a few
    per cent where thin planes overlap, which the renderer divides out for opaque scenes. Measured:
    45.9 dB (40.2 dB before). With a see-through hole the scene is composited onto black as before."""
    from refocus_bench.simulators.render.scenes import slanted_plane_scene

    scene = slanted_plane_scene((128, 128), strips=32, seed=3)
    coc = torch.tensor([[15.0 * (0.5 - 1.0 / float(z)) for z in scene.depth_m]], dtype=torch.float64)
    layers = scene.layers[None].double()
    m = margin_px(coc)
    valid = np.zeros((128, 128), dtype=bool)
    valid[m:-m, m:-m] = True
    ref = render_reference(layers, coc_px=coc, samples=256, linear=True)[0]
    assert psnr(rgb_to_linear_rgb(render_layered(layers, coc_px=coc))[0], ref, valid) >= 44.0
    holes = layers.clone()
    holes[0, :, 3, 60:64, 60:64] = 0.0
    out = rgb_to_linear_rgb(render_layered(holes, coc_px=coc))[0]
    # not normalised: the hole lets black through, as in the exact image
    hole_ref = render_reference(holes, coc_px=coc, samples=256, linear=True)[0]
    assert float(out[:, 62, 62].mean()) < float(ref[:, 62, 62].mean())
    assert abs(float(out[:, 62, 62].mean()) - float(hole_ref[:, 62, 62].mean())) < 0.02
