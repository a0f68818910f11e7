"""Aperture shapes and kernels: contracts, analytic areas and moments, and point lights drawn by the renderer.

Known answers come from geometry, computed here without the module: areas of the disk
(``pi r^2``), regular n-gons (``n/2 r^2 sin(2 pi / n)``), the annulus and the lens-shaped
intersection of two unit disks; shape orientation from the bundled PNG masks read with OpenCV.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from kornia.color import rgb_to_linear_rgb
from scipy import integrate

import refocus_bench
from refocus_bench.errors import InvalidInputError, UnknownNameError
from refocus_bench.simulators.render.apertures import (
    MAX_RADIUS_PX,
    Anamorphic,
    Annulus,
    CatsEye,
    Disk,
    Polygon,
    Raster,
    list_apertures,
    make_aperture,
    signed_kernel,
)
from refocus_bench.simulators.render.config import REDUCED_RADIUS_SHRINK, RenderConfig
from refocus_bench.simulators.render.rgbd import render_bokeh

APERTURES = list_apertures()
DATA = Path(refocus_bench.__file__).parent / "data" / "apertures"
FULL_RES = RenderConfig(coarse_radius_px=float("inf"))
POLYGON_BLADES = {"triangle-blades": 3, "pentagon": 5, "hexagon": 6, "heptagon": 7, "octagon": 8}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def analytic_unit_area(name: str) -> float | None:
    """Open area of the unit-radius aperture from geometry, where it has a closed form."""
    if name in ("disk", "cats-eye"):  # cat's-eye at the frame centre: its base disk
        return math.pi
    if name in POLYGON_BLADES:
        n = POLYGON_BLADES[name]
        return n / 2.0 * math.sin(2.0 * math.pi / n)
    if name == "annulus":
        return math.pi * (1.0 - 0.5**2)
    if name == "anamorphic":
        return math.pi / 1.33
    if name == "nonagon-rounded":  # polar integral of the boundary radius, 9 blades, curvature 0.6
        n, c = 9, 0.6
        half = math.pi / n
        boundary2 = lambda t: ((1 - c) * math.cos(half) / math.cos(t) + c) ** 2  # noqa: E731
        return n * 0.5 * integrate.quad(boundary2, -half, half)[0]
    return None


def kernel_moments(k: torch.Tensor) -> tuple[float, float, float, float]:
    """(centroid x, centroid y, variance x, variance y) of a kernel in pixels (x right, y down)."""
    k = k.double()
    size = k.shape[-1]
    c = torch.arange(size, dtype=torch.float64) - size // 2
    y, x = torch.meshgrid(c, c, indexing="ij")
    s = k.sum()
    cx, cy = float((k * x).sum() / s), float((k * y).sum() / s)
    return cx, cy, float((k * (x - cx) ** 2).sum() / s), float((k * (y - cy) ** 2).sum() / s)


def render_point_light(aperture, radius: float, config: RenderConfig, size: int | None = None) -> torch.Tensor:
    """Linear-light render (H, W) of one white pixel at the centre of a black frame, uniform CoC."""
    size = size or 2 * math.ceil(abs(radius)) + 25
    image = torch.zeros(1, 3, size, size, dtype=torch.float64)
    image[0, :, size // 2, size // 2] = 1.0
    coc = torch.full((1, 1, size, size), float(radius), dtype=torch.float64)
    out = render_bokeh(image, coc_px=coc, aperture=aperture, config=config)
    return rgb_to_linear_rgb(out)[0, 1]


def equivalent_radius(blob: torch.Tensor, radius: float, unit_area: float) -> float:
    """sqrt(thresholded area / unit area); threshold: half the flat-top level 1 / (unit_area r^2)."""
    plateau = 1.0 / (unit_area * radius * radius)
    return math.sqrt(float((blob > 0.5 * plateau).sum()) / unit_area)


# -- kernel contract ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", APERTURES)
def test_kernels_unit_sum_dtype_size(name):
    ap = make_aperture(name)
    for r in (0.0, 0.3, 0.5, 1.0, 2.7, 7.25, 33.3, 100.0):
        for dtype in (torch.float32, torch.float64):
            k = ap.kernel(r, dtype=dtype, device="cpu")
            size = 1 if r == 0 else 2 * math.ceil(r + 1) + 1
            assert k.shape == (size, size), (r, k.shape)
            assert k.dtype == dtype and k.device.type == "cpu"
            assert bool((k >= 0).all())
            assert float(k.double().sum()) == pytest.approx(1.0, abs=1e-6 if dtype == torch.float32 else 1e-12)
    assert ap.kernel(0.0).item() == 1.0


@pytest.mark.parametrize("name", APERTURES)
def test_area_quadrature_matches_geometry(name):
    ap = make_aperture(name)
    want = analytic_unit_area(name)
    if want is None:  # raster shapes: the open fraction of the PNG inscribed in [-1, 1]^2
        mask = cv2.imread(str(DATA / f"{name}.png"), cv2.IMREAD_GRAYSCALE).astype(np.float64) / 255.0
        want = 4.0 * mask.mean()
    assert ap.area(1024) == pytest.approx(want, rel=2e-3)


# -- point lights drawn by the renderer -----------------------------------------------------------
def _point_light_cases() -> list:
    """Every aperture (the spatially varying cat's eye included) at radii 5.5, 12.25 and 20 px."""
    return [pytest.param(n, r, id=f"{n}-{r}") for n in APERTURES for r in (5.5, 12.25, 20.0)]


@pytest.mark.parametrize("name, radius", _point_light_cases())
def test_point_light_draws_aperture_full_resolution(name, radius):
    ap = make_aperture(name)
    unit_area = analytic_unit_area(name) or ap.area(2048)
    blob = render_point_light(ap, radius, FULL_RES)
    assert float(blob.sum()) == pytest.approx(1.0, abs=1e-6)  # all the light lands in the frame
    assert equivalent_radius(blob, radius, unit_area) == pytest.approx(radius, abs=0.5)


@pytest.mark.parametrize("name, radius", _point_light_cases())
def test_point_light_draws_aperture_default_config(name, radius):
    """Default config: radii >= 6 px are rendered at reduced resolution (the star from 12 px, its
    ``coarse_floor_px``), which softens the edges; measured worst -0.71 px (triangle at 12.25 px)."""
    ap = make_aperture(name)
    unit_area = analytic_unit_area(name) or ap.area(2048)
    blob = render_point_light(ap, radius, RenderConfig())
    assert float(blob.sum()) == pytest.approx(1.0, abs=1e-6)
    assert equivalent_radius(blob, radius, unit_area) == pytest.approx(radius, abs=1.0)


def test_coarse_floor_raises_only_the_automatic_coarse_radius():
    """The star's floor lifts the automatic reduced-resolution threshold (RGB-D and layered), keeps an
    explicit one, passes through wrappers, and a star drawn below the floor misses its radius by > 1 px."""
    star = make_aperture("star")
    assert star.coarse_floor_px == 6.0 and make_aperture("disk").coarse_floor_px == 0.0
    assert RenderConfig().for_input(layered=False, aperture=star).coarse_radius_px == 6.0
    assert RenderConfig().for_input(layered=True, aperture=star).coarse_radius_px == 6.0
    assert RenderConfig().for_input(layered=False, aperture=make_aperture("disk")).coarse_radius_px == 3.0
    assert RenderConfig(coarse_radius_px=3.0).for_input(layered=False, aperture=star).coarse_radius_px == 3.0
    assert CatsEye(base=star).coarse_floor_px == 6.0 and Anamorphic(base=star).coarse_floor_px == 6.0
    unit_area = star.area(2048)
    below = render_point_light(star, 12.25, RenderConfig(coarse_radius_px=3.0))
    assert equivalent_radius(below, 12.25, unit_area) < 12.25 - 1.0  # measured -1.20 px
    with pytest.raises(InvalidInputError, match="coarse_floor_px"):
        Raster(torch.ones(4, 4), coarse_floor_px=-1.0)


@pytest.mark.parametrize("radius, scale", [(5.5, 1), (6.0, 2), (12.25, 4), (20.0, 4), (40.0, 8)])
def test_point_light_second_moment_default_config(radius, scale):
    """The reduced-resolution path's second moment follows its variance budget.

    A disk of radius r has E[rho^2] = r^2 / 2, the pixel footprint (tent) adds 1/6 per axis. A layer
    of radius r >= 2 * 3 px is rendered ``scale`` times smaller (the power of two with r / scale in
    [3, 6)). Resampling adds (5 s^2 - 2) / 12 per axis, of which the renderer takes the fraction
    ``REDUCED_RADIUS_SHRINK`` off the kernel radius; a single point has no area-downsampling spread
    (s^2 / 12 per axis, it only moves to its block centre). Expected, in r^2 units:
    r^2 + (1 - shrink) (5 s^2 - 2) / 3 - s^2 / 3.
    """
    blob = render_point_light("disk", radius, RenderConfig())
    _, _, vx, vy = kernel_moments(blob)
    r_est = math.sqrt(max(vx + vy - 1.0 / 3.0, 0.0) * 2.0)
    if scale == 1:
        expected = radius
    else:
        expected = math.sqrt(radius**2 + (1 - REDUCED_RADIUS_SHRINK) * (5 * scale**2 - 2) / 3 - scale**2 / 3)
    assert r_est == pytest.approx(expected, abs=0.1)


def _raster_footprint(name: str, radius: float, size: int, rotate: bool) -> np.ndarray:
    """Where the PNG mask says the shape is open, sampled at the pixels of a size x size frame."""
    mask = cv2.imread(str(DATA / f"{name}.png"), cv2.IMREAD_GRAYSCALE).astype(np.float64) / 255.0
    if rotate:
        mask = mask[::-1, ::-1]
    h, w = mask.shape
    d = np.arange(size) - size // 2
    v, u = np.meshgrid(d / radius, d / radius, indexing="ij")
    rows = np.floor((v + 1) / 2 * h).astype(int)
    cols = np.floor((u + 1) / 2 * w).astype(int)
    inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
    out = np.zeros((size, size), dtype=bool)
    out[inside] = mask[rows[inside], cols[inside]] > 0.5
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum()) / float((a | b).sum())


@pytest.mark.parametrize("name", ["heart", "triangle"])
def test_point_light_orientation_and_negative_coc_rotation(name):
    r = 20.0
    ap = make_aperture(name)
    blobs = {}
    for sign in (1.0, -1.0):
        blob = render_point_light(ap, sign * r, FULL_RES)
        drawn = (blob > 0.5 / (ap.area(2048) * r * r)).numpy()
        upright = _raster_footprint(name, r, blob.shape[0], rotate=False)
        rotated = _raster_footprint(name, r, blob.shape[0], rotate=True)
        as_given, turned = _iou(drawn, upright), _iou(drawn, rotated)
        if sign > 0:  # behind focus: the aperture as given (v down = image rows)
            assert as_given > 0.9 and turned < 0.8, (as_given, turned)
        else:  # in front of focus: rotated by 180 degrees
            assert turned > 0.9 and as_given < 0.8, (as_given, turned)
        blobs[sign] = blob
    # the renders themselves are exact 180-degree rotations of each other about the light
    torch.testing.assert_close(blobs[-1.0], torch.flip(blobs[1.0], dims=(0, 1)), atol=1e-12, rtol=0)


@pytest.mark.parametrize("name", ["triangle-blades", "heart", "anamorphic"])
def test_signed_kernel_rotates_in_front_of_focus(name):
    ap = make_aperture(name)
    k = ap.kernel(9.5, dtype=torch.float64)
    neg = signed_kernel(ap, -9.5, dtype=torch.float64)
    torch.testing.assert_close(neg, torch.flip(k, dims=(0, 1)), atol=0, rtol=0)
    torch.testing.assert_close(signed_kernel(ap, 9.5, dtype=torch.float64), k, atol=0, rtol=0)
    if name != "anamorphic":  # an asymmetric shape: the rotation changes the kernel
        assert float((neg - k).abs().max()) > 1e-3


# -- shape properties -----------------------------------------------------------------------------
def test_polygon_rotation_symmetry():
    hexagon = Polygon(6).kernel(11.3, dtype=torch.float64)
    torch.testing.assert_close(
        Polygon(6, rotation_deg=60.0).kernel(11.3, dtype=torch.float64), hexagon, atol=1e-9, rtol=0
    )
    assert float((Polygon(6, rotation_deg=30.0).kernel(11.3, dtype=torch.float64) - hexagon).abs().max()) > 1e-4
    pentagon = Polygon(5).kernel(8.0, dtype=torch.float64)
    torch.testing.assert_close(
        Polygon(5, rotation_deg=72.0).kernel(8.0, dtype=torch.float64), pentagon, atol=1e-9, rtol=0
    )
    # a vertex points up (v < 0): the top row of a triangle kernel is a point, the bottom an edge
    tri = Polygon(3).kernel(20.0, dtype=torch.float64)
    rows = (tri > 1e-6).sum(1)
    nz = torch.nonzero(rows).flatten()
    assert int(rows[nz[0]]) < int(rows[nz[-1]])


def test_polygon_area_and_curvature():
    for n in (3, 5, 6, 8):
        assert Polygon(n).area(512) == pytest.approx(n / 2 * math.sin(2 * math.pi / n), rel=2e-3)
    torch.testing.assert_close(
        Polygon(6, curvature=1.0).kernel(7.7, dtype=torch.float64),
        Disk().kernel(7.7, dtype=torch.float64),
        atol=1e-12,
        rtol=0,
    )
    areas = [Polygon(6, curvature=c).area(512) for c in (0.0, 0.5, 1.0)]
    assert areas[0] < areas[1] < areas[2] == pytest.approx(math.pi, rel=1e-3)


def test_annulus_centre_is_empty():
    r = 10.0
    k = Annulus(inner=0.5).kernel(r, dtype=torch.float64)
    c = k.shape[0] // 2
    d = torch.arange(k.shape[0], dtype=torch.float64) - c
    y, x = torch.meshgrid(d, d, indexing="ij")
    hole = torch.sqrt(x * x + y * y) < 0.5 * r - 1.5  # the pixel footprint reaches 1 px (tent) + diagonal
    assert float(k[hole].max()) == 0.0
    assert float(k[c, c]) == 0.0
    ring = (torch.sqrt(x * x + y * y) > 0.5 * r + 1.5) & (torch.sqrt(x * x + y * y) < r - 1.5)
    assert float(k[ring].min()) > 0.0


def test_anamorphic_width_height_ratio():
    r = 40.0
    for squeeze in (1.33, 2.0):
        _, _, vx, vy = kernel_moments(Anamorphic(squeeze=squeeze).kernel(r, dtype=torch.float64))
        ratio = math.sqrt((vx - 1 / 6) / (vy - 1 / 6))  # remove the pixel footprint's variance
        assert ratio == pytest.approx(1.0 / squeeze, rel=0.01)


def test_cats_eye_centre_equals_base_and_narrows_off_centre():
    r = 20.0
    base = Disk().kernel(r, dtype=torch.float64)
    torch.testing.assert_close(CatsEye().kernel(r, dtype=torch.float64), base, atol=0, rtol=0)
    torch.testing.assert_close(CatsEye().at(0.0, 0.0).kernel(r, dtype=torch.float64), base, atol=0, rtol=0)
    # two unit disks whose centres are d apart overlap in a lens of area 2 acos(d/2) - d/2 sqrt(4 - d^2)
    for strength, (x, y) in [(0.5, (1.0, 0.0)), (0.5, (0.0, -0.6)), (1.0, (0.6, 0.6))]:
        d = strength * math.hypot(x, y)
        lens_area = 2 * math.acos(d / 2) - d / 2 * math.sqrt(4 - d * d)
        assert CatsEye(strength=strength).at(x, y).area(512) == pytest.approx(lens_area, rel=2e-3)
    # radially narrower than tangentially: the variances of the lens shape, from a fine grid here
    t = (np.arange(2000) + 0.5) / 2000 * 2 - 1
    u, v = np.meshgrid(t, t)
    lens = (u * u + v * v <= 1) & ((u + 0.5) ** 2 + v * v <= 1)  # strength 0.5 at offset (1, 0)
    var_radial = r * r * (u[lens] ** 2).mean() - r * r * u[lens].mean() ** 2 + 1 / 6
    var_tangential = r * r * (v[lens] ** 2).mean() + 1 / 6
    _, _, vx, vy = kernel_moments(CatsEye().at(1.0, 0.0).kernel(r, dtype=torch.float64))
    assert vx == pytest.approx(var_radial, rel=0.01) and vy == pytest.approx(var_tangential, rel=0.01)
    assert vx < 0.7 * vy
    _, _, vx, vy = kernel_moments(CatsEye().at(0.0, 1.0).kernel(r, dtype=torch.float64))
    assert vy == pytest.approx(var_radial, rel=0.01) and vx == pytest.approx(var_tangential, rel=0.01)
    # the lens is cut on the side away from the frame centre: the centroid moves toward the centre
    cx, cy, _, _ = kernel_moments(CatsEye().at(1.0, 0.0).kernel(r, dtype=torch.float64))
    assert cx < -1.0 and abs(cy) < 1e-9


def test_raster_from_png_equals_raster_from_tensor(tmp_path):
    g = torch.Generator().manual_seed(3)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 33), torch.linspace(-1, 1, 33), indexing="ij")
    blob = ((xx**2 + 2 * (yy - 0.1) ** 2) < 0.6).double()
    codes = torch.round(blob * (200 + 55 * torch.rand(33, 33, generator=g, dtype=torch.float64)))  # 8-bit grey levels
    path = tmp_path / "shape.png"
    assert cv2.imwrite(str(path), codes.numpy().astype(np.uint8))
    from_file = Raster(path)
    from_tensor = Raster(codes / 255.0)
    # the file is read as float32 and its three channels averaged: equal up to float32 rounding
    torch.testing.assert_close(from_file.mask, from_tensor.mask, atol=1e-7, rtol=0)
    for r in (3.3, 12.0):
        k = from_file.kernel(r, dtype=torch.float64)
        torch.testing.assert_close(k, from_tensor.kernel(r, dtype=torch.float64), atol=1e-7, rtol=0)
    torch.testing.assert_close(
        make_aperture(str(path)).kernel(12.0, dtype=torch.float64),
        from_file.kernel(12.0, dtype=torch.float64),
        atol=0,
        rtol=0,
    )
    # an RGB file uses its luminance (channel mean)
    rgb = np.stack([codes.numpy()] * 3, axis=-1).astype(np.uint8)
    assert cv2.imwrite(str(tmp_path / "rgb.png"), rgb)
    assert Raster(tmp_path / "rgb.png") == from_file


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("radius", [-1.0, -1e-9, math.nan, math.inf, MAX_RADIUS_PX + 1.0, "3"])
def test_bad_kernel_radius(radius):
    with pytest.raises(InvalidInputError, match="radius_px"):
        Disk().kernel(radius)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: Polygon(blades=2), "blades"),
        (lambda: Polygon(blades=6.0), "blades"),
        (lambda: Polygon(curvature=-0.1), "curvature"),
        (lambda: Polygon(curvature=1.5), "curvature"),
        (lambda: Polygon(rotation_deg=math.nan), "rotation_deg"),
        (lambda: Annulus(inner=1.0), "inner"),
        (lambda: Anamorphic(squeeze=0.5), "squeeze"),
        (lambda: CatsEye(strength=3.0), "strength"),
        (lambda: Raster(torch.tensor([[0.0, math.nan], [1.0, 1.0]])), "mask"),
        (lambda: Raster(torch.tensor([[0.0, 2.0], [1.0, 1.0]])), "mask"),
        (lambda: Raster(torch.zeros(4, 4)), "mask"),
        (lambda: Raster(torch.ones(2, 2, 2)), "mask"),
    ],
)
def test_bad_shape_parameters(make, name):
    with pytest.raises(InvalidInputError, match=name):
        make()


def test_unknown_aperture_name_lists_close_matches():
    with pytest.raises(UnknownNameError) as err:
        make_aperture("hexagn")
    assert "hexagon" in str(err.value)
    assert isinstance(err.value, KeyError)
    with pytest.raises(UnknownNameError, match="octagon"):
        make_aperture("octogon")


@pytest.mark.parametrize("config", [FULL_RES, RenderConfig()], ids=["full-res", "default"])
def test_chromatic_cats_eye_point_light_keeps_every_channel_energy(config):
    """Cat's eye with per-channel radii: each colour channel's point light keeps its energy."""
    size, r = 81, 12.0
    image = torch.zeros(1, 3, size, size, dtype=torch.float64)
    image[0, :, 50, 30] = 1.0  # off-centre, where the PSF is cut
    coc = torch.full((1, 1, size, size), r, dtype=torch.float64)
    cfg = RenderConfig(coarse_radius_px=config.coarse_radius_px, chromatic_scale=(1.05, 1.0, 0.95))
    blob = rgb_to_linear_rgb(render_bokeh(image, coc_px=coc, aperture="cats-eye", config=cfg))[0]
    for c in range(3):
        assert float(blob[c].sum()) == pytest.approx(1.0, abs=1e-6)
    # the red disc (5% larger radius) covers more pixels than the blue one (5% smaller)
    assert int((blob[0] > 1e-4).sum()) > int((blob[2] > 1e-4).sum())
