"""Light fields: shift-and-add against the reference renderer, known answers, loading, benchmark builder."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from refocus_bench.benchmarks.lightfield import make_lf_benchmark
from refocus_bench.errors import InvalidInputError, MissingFileError
from refocus_bench.io import read_image, write_image
from refocus_bench.optics import coc_radius_px
from refocus_bench.simulators.lightfield.field import (
    LightField,
    grid_aperture,
    load_lightfield,
    refocus,
    refocus_linear,
    synthetic_lightfield,
    view_weights,
)
from refocus_bench.simulators.render.reference import margin_px, render_reference
from refocus_bench.simulators.render.scenes import dead_leaves_scene


def _psnr(a: torch.Tensor, b: torch.Tensor, margin: int) -> float:
    a, b = a[..., margin:-margin, margin:-margin], b[..., margin:-margin, margin:-margin]
    return -10.0 * math.log10(float(((a.double() - b.double()) ** 2).mean()))


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Small tensors: one thread is as fast and does not stall when the shared machine is busy."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def scene():
    return dead_leaves_scene((64, 64), n_leaves=12, depth_range_m=(1.0, 6.0), seed=0, point_lights=2)


CASES = [(0.5, "disk", 4.0), (0.37, "heart", 4.0), (-0.25, "hexagon", 3.0), (1.0, "disk", 4.0)]


def _agreement(scene, disparities) -> list[float]:
    lf = synthetic_lightfield(scene.layers, disparities, (9, 9))
    out = []
    for d_f, ap, radius in CASES:
        coc = (radius * (disparities - d_f))[None].float()  # r = R (d - d_f)
        ga = grid_aperture(lf, ap, radius)
        ref = render_reference(scene.layers[None], coc_px=coc, aperture=ga, samples=len(ga.points))
        out.append(_psnr(refocus(lf, d_f, ap, radius), ref, margin_px(coc) + 1))
    return out


def test_shift_and_add_equals_reference_renderer_on_a_synthetic_light_field(scene):
    """Views with whole-pixel layer shifts: the only resampling is the refocus shift itself."""
    disparities = torch.round(torch.linspace(-2.0, 1.0, scene.depth_m.numel())).double()  # near -> far
    psnrs = _agreement(scene, disparities)
    assert min(psnrs) >= 40.0, psnrs


def test_shift_and_add_agrees_with_reference_for_physical_disparities(scene):
    """Disparities of a real lens (CoC / R0): the views are themselves resampled, so fractional refocus
    shifts interpolate twice (view synthesis, then refocus) where the reference interpolates once; the
    residual is interpolation smoothing at texture, not geometry (integer focus planes are exact)."""
    disparities = coc_radius_px(scene.depth_m, 50.0, 2.0, 2.0, 36.0, 64) / 4.0
    psnrs = _agreement(scene, disparities)
    assert min(psnrs) >= 40.0, psnrs
    assert psnrs[-1] > 100.0  # d_f = 1 view step: whole-pixel refocus shifts, exact


def test_point_light_draws_the_aperture_at_the_view_positions_with_the_thin_lens_orientation():
    n, size, p, delta = 7, 41, 20, 2
    views = torch.zeros(n, n, 3, size, size)
    for j in range(n):
        for i in range(n):
            u, v = i - 3, j - 3
            views[j, i, :, p + delta * v, p + delta * u] = 1.0  # disparity 2 px per view step
    lf = LightField(views)
    w = view_weights(lf, "heart", 3.0)
    assert float(w.max()) > 0 and float((w > 0).sum()) < 49  # the heart does not fill the grid
    for d_f, scale in [(0.0, delta), (4.0, -delta)]:  # behind focus: upright; in front: rotated 180 degrees
        out = refocus_linear(lf, d_f, w)[0]
        expected = torch.zeros(size, size, dtype=torch.float64)
        for j in range(n):
            for i in range(n):
                expected[p + scale * (j - 3), p + scale * (i - 3)] += w[j, i]
        torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)
    focused = refocus_linear(lf, float(delta), w)[0]  # focus on the light: a single sharp point
    assert float(focused[p, p]) == pytest.approx(1.0) and float(focused.sum()) == pytest.approx(1.0)


def test_view_weights_reject_apertures_cut_off_by_the_grid_or_empty():
    lf = LightField(torch.zeros(5, 5, 3, 4, 4))
    with pytest.raises(InvalidInputError, match="covers no view"):
        view_weights(lf, "annulus", 0.1)
    with pytest.raises(InvalidInputError, match="extends beyond the 5x5 grid"):
        view_weights(lf, "disk", 3.0)  # reaches the positions (+-3, 0) beyond the grid
    # a triangle of radius 2.3 reaches (0, -2.3) but its lower corners stay inside the grid: allowed
    w = view_weights(lf, "triangle-blades", 2.3)
    assert float(w.sum()) == pytest.approx(1.0) and float(w[0, 2]) > 0 and float(w[4].sum()) == 0


def _write_grid(folder, n_rows, n_cols, name=lambda r, c: f"view_{r:02d}_{c:02d}.png", size=(6, 8)):
    for r in range(n_rows):
        for c in range(n_cols):
            img = torch.zeros(1, 3, *size)
            img[:, 0], img[:, 1] = r / 10, c / 10
            write_image(folder / name(r, c), img)


def test_load_lightfield_layouts(tmp_path):
    _write_grid(tmp_path / "a", 3, 5)
    lf = load_lightfield(tmp_path / "a")
    assert lf.grid == (3, 5) and lf.views.shape == (3, 5, 3, 6, 8)
    assert float(lf.views[2, 4, 0, 0, 0]) == pytest.approx(0.2, abs=1 / 255) and float(
        lf.views[2, 4, 1, 0, 0]
    ) == pytest.approx(0.4, abs=1 / 255)
    swapped = load_lightfield(tmp_path / "a", order="col-row")
    assert swapped.grid == (5, 3) and torch.equal(swapped.views[4, 2], lf.views[2, 4])
    _write_grid(tmp_path / "hci", 1, 9, name=lambda r, c: f"input_Cam{c:03d}.png")
    cams = load_lightfield(tmp_path / "hci")
    assert cams.grid == (3, 3) and float(cams.views[1, 2, 1, 0, 0]) == pytest.approx(
        0.5, abs=1 / 255
    )  # Cam005 -> row 1, col 2
    arr = (np.random.default_rng(0).random((3, 3, 4, 5, 3)) * 255).astype(np.uint8)
    np.save(tmp_path / "lf.npy", arr)
    npy = load_lightfield(tmp_path / "lf.npy")
    assert npy.name == "lf" and torch.allclose(
        npy.views[1, 2].permute(1, 2, 0), torch.from_numpy(arr[1, 2] / 255.0).float()
    )


def test_load_lightfield_problems_name_the_view(tmp_path):
    _write_grid(tmp_path / "gap", 3, 3)
    (tmp_path / "gap" / "view_01_02.png").unlink()
    with pytest.raises(InvalidInputError, match=r"misses views \(row, col\) \[\(1, 2\)\]"):
        load_lightfield(tmp_path / "gap")
    _write_grid(tmp_path / "size", 2, 2)
    write_image(tmp_path / "size" / "view_01_01.png", torch.zeros(1, 3, 5, 5))
    with pytest.raises(InvalidInputError, match="view_01_01.png.* is \\(5, 5\\) px"):
        load_lightfield(tmp_path / "size")
    _write_grid(tmp_path / "bad", 2, 2)
    (tmp_path / "bad" / "view_00_01.png").write_bytes(b"not a png")
    with pytest.raises(InvalidInputError, match="view_00_01.png"):
        load_lightfield(tmp_path / "bad")
    with pytest.raises(MissingFileError):
        load_lightfield(tmp_path / "nowhere")


def test_lf_benchmark_records_files_failures_and_resume(scene, tmp_path):
    disparities = torch.round(torch.linspace(-1.0, 1.0, scene.depth_m.numel())).double()
    lf = synthetic_lightfield(scene.layers, disparities, (5, 5), name="synth")
    _write_grid(tmp_path / "broken", 2, 2)
    (tmp_path / "broken" / "view_00_00.png").unlink()
    out = tmp_path / "bench"
    focus = [-1.0, 0.0, 0.5]
    kw = dict(
        focus_disparities=focus, apertures=[("disk", None), ("star", 2.0), ("disk", 3.0)], refocus_pairs=4, seed=1
    )
    result = make_lf_benchmark([lf, tmp_path / "broken"], out, **kw)
    assert result.built == ["synth"] and (result.bokeh_records, result.refocus_records) == (6, 8)
    reasons = {(f["lightfield"], f["reason"]) for f in result.failures}
    assert reasons == {("broken", "unreadable"), ("synth", "aperture_does_not_fit")}
    manifest = json.loads((out / "manifest.json").read_text())
    aif = read_image(out / "scenes/synth/aif.png")
    assert torch.allclose(aif, lf.centre_view(), atol=0.5 / 255 + 1e-6)
    for r in manifest["lf-bokeh"]:
        target = read_image(out / r["target"])
        expected = refocus(lf, r["focus_disparity_px"], r["aperture"], r["radius_views"])
        assert torch.allclose(target, expected, atol=0.5 / 255 + 1e-6)
        assert r["input"] == "scenes/synth/aif.png" and r["coc_px_per_disparity"] == r["radius_views"]
    pairs = {(r["source_focus_disparity_px"], r["focus_disparity_px"], r["aperture"]) for r in manifest["lf-refocus"]}
    assert len(pairs) == 8 and all(a != b for a, b, _ in pairs)
    assert set(manifest["files"]) >= {r["target"] for r in manifest["lf-bokeh"]}
    assert "synth" in (out / "README.md").read_text()

    files = dict(manifest["files"])
    again = make_lf_benchmark([lf, tmp_path / "broken"], out, **kw)
    assert again.built == [] and again.skipped == ["synth"]
    assert json.loads((out / "manifest.json").read_text())["files"] == files
    with pytest.raises(InvalidInputError, match="other options"):
        make_lf_benchmark([lf], out, **{**kw, "seed": 2})
