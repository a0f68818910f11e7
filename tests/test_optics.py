"""Thin-lens optics against hand-derived formulas (all lengths converted by hand, not by the module).

Independent relations used here:

* blur-disc diameter on the sensor (mm): ``c = A f |z - s| / (z (s - f))`` with ``A = f / N``;
  the CoC radius in pixels is ``c / 2`` times pixels per mm, signed (+ behind focus);
* depth-of-field limits are the depths where ``c`` equals the acceptable diameter; solving the
  formula above for ``z`` gives ``z_near = A f s / (A f + c (s - f))`` and
  ``z_far = A f s / (A f - c (s - f))`` (infinite when the denominator is <= 0);
* GenRefocus's EXIF blur gain ``f^2 D / (2 F (D - f)) x px/mm`` with every length in mm.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from refocus_bench import optics
from refocus_bench.errors import InvalidInputError
from refocus_bench.optics import (
    ThinLens,
    coc_gain_px_m,
    coc_radius_from_k,
    coc_radius_px,
    depth_from_coc_px,
    depth_of_field_m,
    f_number_from_k,
    genrefocus_defocus_map,
    hyperfocal_distance_m,
)

# the worked example of the issue: 50 mm, f/1.8, focused at 2 m, 36 mm sensor, 6000 px wide
F_MM, N, S_M, SENSOR_MM, WIDTH_PX = 50.0, 1.8, 2.0, 36.0, 6000
PX_PER_MM = WIDTH_PX / SENSOR_MM


def blur_radius_px_by_hand(z_m: float, f_mm=F_MM, n=N, s_m=S_M, px_per_mm=PX_PER_MM) -> float:
    """Signed CoC radius (px) from the blur-disc diameter formula, all lengths in mm."""
    s, a = s_m * 1000.0, f_mm / n
    if math.isinf(z_m):
        diameter = a * f_mm / (s - f_mm)
        return diameter / 2.0 * px_per_mm
    z = z_m * 1000.0
    diameter = a * f_mm * abs(z - s) / (z * (s - f_mm))
    return math.copysign(diameter / 2.0 * px_per_mm, z - s)


# -- worked example ----------------------------------------------------------------------------
def test_point_at_infinity_worked_example():
    expected = F_MM**2 / (2 * N * (S_M * 1000 - F_MM)) * PX_PER_MM  # f^2 / (2 N (s - f)) mm -> px
    assert expected == pytest.approx(59.35, abs=0.005)
    got = coc_radius_px(math.inf, F_MM, N, S_M, SENSOR_MM, WIDTH_PX)
    assert got == pytest.approx(expected, rel=1e-12)
    assert ThinLens(F_MM, N, S_M, SENSOR_MM).coc_radius_px(math.inf, image_width_px=WIDTH_PX) == pytest.approx(
        expected, rel=1e-12
    )


@pytest.mark.parametrize("z_m", [0.3, 1.0, 1.5, 1.99, 2.0, 2.01, 3.0, 10.0, 1e4])
def test_coc_matches_blur_disc_formula(z_m):
    got = coc_radius_px(z_m, F_MM, N, S_M, SENSOR_MM, WIDTH_PX)
    assert got == pytest.approx(blur_radius_px_by_hand(z_m), rel=1e-10, abs=1e-12)


def test_coc_sign_convention():
    near = coc_radius_px(1.0, F_MM, N, S_M, SENSOR_MM, WIDTH_PX)
    far = coc_radius_px(4.0, F_MM, N, S_M, SENSOR_MM, WIDTH_PX)
    assert near < 0 < far
    assert coc_radius_px(S_M, F_MM, N, S_M, SENSOR_MM, WIDTH_PX) == pytest.approx(0.0, abs=1e-12)


def test_coc_tensor_with_inf_sky():
    depth = torch.tensor([1.0, 2.0, 4.0, math.inf], dtype=torch.float64).reshape(1, 1, 2, 2)
    got = coc_radius_px(depth, F_MM, N, S_M, SENSOR_MM, WIDTH_PX)
    want = [blur_radius_px_by_hand(z) for z in (1.0, 2.0, 4.0, math.inf)]
    assert got.shape == depth.shape and got.dtype == torch.float64
    assert got.flatten().tolist() == pytest.approx(want, rel=1e-10, abs=1e-10)


# -- depth of field ----------------------------------------------------------------------------
def test_hyperfocal_worked_example():
    h = hyperfocal_distance_m(F_MM, N, 0.03)
    assert h == pytest.approx((F_MM**2 / (N * 0.03) + F_MM) / 1000.0, rel=1e-12)
    assert round(h, 2) == 46.35


def test_depth_of_field_worked_example():
    near, far = depth_of_field_m(F_MM, N, S_M, 0.03)
    assert (round(near, 3), round(far, 3)) == (1.919, 2.088)
    a, s, c = F_MM / N, S_M * 1000.0, 0.03
    assert near * 1000 == pytest.approx(a * F_MM * s / (a * F_MM + c * (s - F_MM)), rel=1e-10)
    assert far * 1000 == pytest.approx(a * F_MM * s / (a * F_MM - c * (s - F_MM)), rel=1e-10)


@pytest.mark.parametrize(
    "f_mm, n, s_m, c_mm",
    [(50.0, 1.8, 2.0, 0.03), (24.0, 8.0, 3.0, 0.02), (85.0, 1.4, 5.0, 0.03), (200.0, 4.0, 30.0, 0.015)],
)
def test_blur_equals_coc_limit_at_dof_limits(f_mm, n, s_m, c_mm):
    near, far = depth_of_field_m(f_mm, n, s_m, c_mm)
    assert near < s_m < far
    for z in (near, far):
        radius_px = coc_radius_px(z, f_mm, n, s_m, SENSOR_MM, WIDTH_PX)
        diameter_mm = 2.0 * abs(radius_px) / PX_PER_MM
        assert diameter_mm == pytest.approx(c_mm, rel=1e-9)


def test_far_limit_is_infinite_at_and_beyond_hyperfocal():
    h = hyperfocal_distance_m(F_MM, N, 0.03)
    for s in (h, h * 1.01, 100.0):
        assert depth_of_field_m(F_MM, N, s, 0.03)[1] == math.inf
    near_h = depth_of_field_m(F_MM, N, h, 0.03)[0]
    assert near_h == pytest.approx(h / 2, rel=2e-3)  # focused at H, sharp from about H/2
    assert math.isfinite(depth_of_field_m(F_MM, N, h * 0.99, 0.03)[1])
    # tensors: one focus distance per sample
    s = torch.tensor([2.0, 60.0], dtype=torch.float64)
    near_t, far_t = depth_of_field_m(F_MM, N, s, 0.03)
    assert float(far_t[0]) == pytest.approx(depth_of_field_m(F_MM, N, 2.0, 0.03)[1], rel=1e-12)
    assert math.isinf(float(far_t[1]))
    assert float(near_t[1]) == pytest.approx(depth_of_field_m(F_MM, N, 60.0, 0.03)[0], rel=1e-12)


# -- inverse and K convention ------------------------------------------------------------------
lens_params = st.tuples(
    st.floats(8.0, 300.0),  # focal length mm
    st.floats(0.95, 22.0),  # f-number
    st.floats(0.5, 50.0),  # focus distance m
    st.floats(6.0, 44.0),  # sensor width mm
    st.integers(64, 9000),  # image width px
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(params=lens_params, depth_m=st.floats(0.35, 1e4))
def test_depth_from_coc_inverts_coc(params, depth_m):
    f_mm, n, s_m, sensor, width = params
    assume(s_m * 1000 > 1.5 * f_mm and depth_m * 1000 > 1.5 * f_mm)
    r = coc_radius_px(depth_m, f_mm, n, s_m, sensor, width)
    back = depth_from_coc_px(r, f_mm, n, s_m, sensor, width)
    # in inverse depth the relation is linear, so compare there (robust far away)
    assert 1.0 / back == pytest.approx(1.0 / depth_m, rel=1e-9, abs=1e-12)


def test_depth_from_coc_at_and_beyond_infinity_radius():
    r_inf = coc_radius_px(math.inf, F_MM, N, S_M, SENSOR_MM, WIDTH_PX)
    assert depth_from_coc_px(r_inf, F_MM, N, S_M, SENSOR_MM, WIDTH_PX) == math.inf
    assert depth_from_coc_px(r_inf + 5, F_MM, N, S_M, SENSOR_MM, WIDTH_PX) == math.inf
    coc = torch.tensor([-30.0, 0.0, 30.0, r_inf, r_inf + 1], dtype=torch.float64).reshape(1, 1, 1, 5)
    got = depth_from_coc_px(coc, F_MM, N, S_M, SENSOR_MM, WIDTH_PX).flatten().tolist()
    assert got[1] == pytest.approx(S_M, rel=1e-12)
    assert got[3:] == [math.inf, math.inf]
    for r, z in zip((-30.0, 30.0), (got[0], got[2])):
        assert blur_radius_px_by_hand(z) == pytest.approx(r, rel=1e-9)


@pytest.mark.parametrize(
    "f_mm, n, s_m, sensor, width",
    [(50.0, 1.8, 2.0, 36.0, 6000), (35.0, 2.8, 1.2, 23.5, 1024), (85.0, 1.2, 0.9, 36.0, 512)],
)
def test_k_matches_genrefocus_exif_formula(f_mm, n, s_m, sensor, width):
    d_mm = s_m * 1000.0
    k_mm = f_mm**2 * d_mm / (2 * n * (d_mm - f_mm)) * (width / sensor)  # px*mm
    assert k_mm == pytest.approx(1000.0 * coc_gain_px_m(f_mm, n, s_m, sensor, width), rel=1e-12)
    assert ThinLens(f_mm, n, s_m, sensor).k_px_m(width) == pytest.approx(k_mm / 1000.0, rel=1e-12)
    # and the K form of the CoC: K (1/s - 1/z) equals the thin-lens value
    for z in (0.5, 3.0, math.inf):
        got = coc_radius_from_k(z, k_mm / 1000.0, s_m)
        assert got == pytest.approx(blur_radius_px_by_hand(z, f_mm, n, s_m, width / sensor), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("n", [0.95, 1.8, 4.0, 16.0])
def test_f_number_from_k_round_trip(n):
    k = coc_gain_px_m(F_MM, n, S_M, SENSOR_MM, WIDTH_PX)
    assert f_number_from_k(k, F_MM, S_M, SENSOR_MM, WIDTH_PX) == pytest.approx(n, rel=1e-12)


def test_genrefocus_defocus_map_including_inf():
    depth = np.array([[0.5, 1.0, 2.0], [3.0, 20.0, np.inf]])
    k, zf = 80.0, 2.0
    expected = np.clip(np.abs(k * (1.0 / depth - 1.0 / zf)) / 100.0, 0.0, 1.0)
    got = genrefocus_defocus_map(torch.from_numpy(depth)[None, None], k, zf)
    assert got.shape == (1, 1, 2, 3)
    np.testing.assert_allclose(got[0, 0].numpy(), expected, rtol=1e-12, atol=1e-15)
    assert float(got[0, 0, 0, 0]) == 1.0  # |80 * (1/0.5 - 1/2)| = 120 px -> clipped to 1
    assert float(got[0, 0, 1, 2]) == pytest.approx(0.4)  # sky: |80 * (0 - 1/2)| / 100


def test_per_sample_parameters_equal_scalar_calls():
    g = torch.Generator().manual_seed(0)
    depth = 0.5 + 10 * torch.rand(3, 1, 4, 5, generator=g, dtype=torch.float64)
    depth[2, 0, 0, 0] = math.inf
    f = torch.tensor([24.0, 50.0, 85.0], dtype=torch.float64)
    n = torch.tensor([1.4, 2.8, 8.0], dtype=torch.float64)
    s = torch.tensor([1.0, 2.0, 5.0], dtype=torch.float64)
    k = torch.tensor([10.0, 30.0, 90.0], dtype=torch.float64)
    batch = coc_radius_px(depth, f, n, s, SENSOR_MM, 640)
    from_k = coc_radius_from_k(depth, k, s)
    gmap = genrefocus_defocus_map(depth, k, s)
    inverse = depth_from_coc_px(batch, f, n, s, SENSOR_MM, 640)
    for i in range(3):
        fi, ni, si, ki = float(f[i]), float(n[i]), float(s[i]), float(k[i])
        single = coc_radius_px(depth[i : i + 1], fi, ni, si, SENSOR_MM, 640)
        torch.testing.assert_close(batch[i : i + 1], single, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(
            from_k[i : i + 1], coc_radius_from_k(depth[i : i + 1], ki, si), rtol=1e-12, atol=1e-12
        )
        torch.testing.assert_close(
            gmap[i : i + 1], genrefocus_defocus_map(depth[i : i + 1], ki, si), rtol=1e-12, atol=1e-12
        )
        torch.testing.assert_close(
            inverse[i : i + 1], depth_from_coc_px(single, fi, ni, si, SENSOR_MM, 640), rtol=1e-12, atol=1e-12
        )
        z = float(depth[i, 0, 1, 1])
        assert float(batch[i, 0, 1, 1]) == pytest.approx(
            blur_radius_px_by_hand(z, fi, ni, si, 640 / SENSOR_MM), rel=1e-10
        )


# -- errors -------------------------------------------------------------------------------------
def _coc(**overrides):
    args = dict(
        depth_m=3.0,
        focal_length_mm=F_MM,
        f_number=N,
        focus_distance_m=S_M,
        sensor_width_mm=SENSOR_MM,
        image_width_px=WIDTH_PX,
    )
    args.update(overrides)
    return coc_radius_px(**args)


@pytest.mark.parametrize(
    "overrides, name",
    [
        ({"depth_m": math.nan}, "depth_m"),
        ({"depth_m": -1.0}, "depth_m"),
        ({"depth_m": 0.0}, "depth_m"),
        ({"depth_m": torch.tensor([[[[1.0, math.nan]]]])}, "depth_m"),
        ({"depth_m": torch.tensor([[[[1.0, -2.0]]]])}, "depth_m"),
        ({"depth_m": torch.zeros(1, 1, 2, 2)}, "depth_m"),
        ({"f_number": 0.0}, "f_number"),
        ({"f_number": -2.0}, "f_number"),
        ({"f_number": math.nan}, "f_number"),
        ({"f_number": torch.tensor([1.8, 0.0])}, "f_number"),
        ({"focus_distance_m": 0.05}, "focus_distance_m"),  # = focal length
        ({"focus_distance_m": 0.03}, "focus_distance_m"),  # inside the focal length
        ({"focus_distance_m": -2.0}, "focus_distance_m"),
        ({"focal_length_mm": 0.0}, "focal_length_mm"),
        ({"sensor_width_mm": 0.0}, "sensor_width_mm"),
        ({"image_width_px": -1}, "image_width_px"),
    ],
)
def test_bad_input_names_the_argument(overrides, name):
    with pytest.raises(InvalidInputError, match=name):
        _coc(**overrides)


@pytest.mark.parametrize("name", ["focal_length_mm", "f_number", "focus_distance_m"])
def test_mismatched_per_sample_parameter_names_the_argument(name):
    depth = torch.full((2, 1, 3, 3), 3.0)
    value = {"focal_length_mm": [35.0, 50.0, 85.0], "f_number": [1.8, 2.8, 4.0], "focus_distance_m": [1.0, 2.0, 3.0]}[
        name
    ]
    with pytest.raises(InvalidInputError, match=name):
        _coc(depth_m=depth, **{name: torch.tensor(value)})


def test_mismatched_per_sample_k_names_the_argument():
    depth = torch.full((2, 1, 3, 3), 3.0)
    with pytest.raises(InvalidInputError, match="k_px_m"):
        coc_radius_from_k(depth, torch.tensor([1.0, 2.0, 3.0]), 2.0)
    with pytest.raises(InvalidInputError, match="focus_distance_m"):
        genrefocus_defocus_map(depth, 10.0, torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(InvalidInputError, match="coc_px"):
        depth_from_coc_px(math.nan, F_MM, N, S_M, SENSOR_MM, WIDTH_PX)


def test_other_bad_inputs():
    with pytest.raises(InvalidInputError, match="coc_limit_mm"):
        hyperfocal_distance_m(F_MM, N, 0.0)
    with pytest.raises(InvalidInputError, match="k_px_m"):
        f_number_from_k(0.0, F_MM, S_M, SENSOR_MM, WIDTH_PX)
    with pytest.raises(InvalidInputError, match="focus_distance_m"):
        ThinLens(50.0, 1.8, 0.04)
    with pytest.raises(InvalidInputError, match="depth_m"):
        genrefocus_defocus_map(torch.full((1, 3, 2, 2), 2.0), 10.0, 2.0)
    assert optics.coc_limit_mm_for_sensor(36.0) == pytest.approx(math.hypot(36, 24) / 1442, rel=1e-12)
