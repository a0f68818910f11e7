"""Bokeh-aware metrics on synthetic cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from refocus_bench.errors import InvalidInputError
from refocus_bench.metrics import MetricSuite, create_metric
from refocus_bench.metrics.bokeh import (
    LVCorrGenPhoto,
    aperture_fidelity,
    blur_size_error,
    laplacian_variance,
    lvcorr,
    lvcorr_genphoto,
    region_masks,
)
from refocus_bench.optics import coc_radius_from_k


def _two_planes(h=64, w=64, split=32, far_coc=5.0):
    coc = torch.zeros(2, 1, h, w)
    coc[..., split:] = far_coc
    return coc


def test_region_masks_known_counts():
    coc = _two_planes()
    m = region_masks(coc, band_px=3)
    assert int(m["in_focus"][0].sum()) == 64 * 32 and int(m["out_of_focus"][0].sum()) == 64 * 32
    assert not bool((m["in_focus"] & m["out_of_focus"]).any())
    # edge pixels: columns 31 and 32 (their 3x3 neighbourhoods span the jump); band: +-3 -> columns 28..35
    assert int(m["edge_band"][0].sum()) == 64 * 8
    assert m["edge_band"][0, 0, 0, 28:36].all() and not m["edge_band"][0, 0, 0, 27] and not m["edge_band"][0, 0, 0, 36]
    # adaptive band: as wide as the largest |CoC| at the edge (5 px) -> columns 26..37
    m = region_masks(coc)
    assert int(m["edge_band"][0].sum()) == 64 * 12


def test_region_masks_from_optics_depth_map():
    depth = torch.full((1, 1, 32, 32), 2.0)
    depth[..., 16:] = 8.0
    coc = coc_radius_from_k(depth, 40.0, 2.0)  # 40 px*m, focus at 2 m: 0 px in front, 15 px behind
    m = region_masks(coc, band_px=0)
    assert m["in_focus"][..., :16].all() and m["out_of_focus"][..., 16:].all()
    assert m["edge_band"][0, 0, 0].nonzero().flatten().tolist() == [15, 16]


def test_region_psnr_and_ssim_known_answers():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, 64, 64, generator=g) * 0.8
    preds = target.clone()
    preds[..., 32:] += 0.1  # error only in the out-of-focus half
    coc = _two_planes()
    res = MetricSuite(["bokeh.psnr_in_focus", "bokeh.psnr_out_of_focus", "bokeh.ssim_in_focus", "psnr.rgb"])(
        preds, target, coc=coc
    )
    assert torch.isinf(res.scores["bokeh.psnr_in_focus"]).all()
    torch.testing.assert_close(res.scores["bokeh.psnr_out_of_focus"], torch.full((2,), 20.0), atol=1e-3, rtol=0)
    torch.testing.assert_close(res.scores["psnr.rgb"], torch.full((2,), 10 * math.log10(2 / 0.01)), atol=1e-3, rtol=0)
    # SSIM windows fully inside the in-focus half compare identical pixels
    assert res.scores["bokeh.ssim_in_focus"].min() > 0.99
    band = create_metric("bokeh.ssim_edge_band", band_px=4).score(preds, target, coc=coc)
    assert (band < res.scores["bokeh.ssim_in_focus"]).all()


def test_empty_region_is_nan_and_not_counted():
    x = torch.rand(2, 3, 32, 32)
    y = (x + 0.05).clamp(0, 1)
    coc = torch.zeros(2, 1, 32, 32)
    coc[1] = 3.0  # sample 0 has no out-of-focus pixel
    m = create_metric("bokeh.psnr_out_of_focus")
    s = m.score(x, y, coc=coc)
    assert torch.isnan(s[0]) and torch.isfinite(s[1])
    m.update(x, y, coc=coc)
    assert int(m.count) == 1 and m.compute().item() == pytest.approx(s[1].item(), abs=1e-5)


def test_blur_size_error_known_answer():
    true = _two_planes(far_coc=6.0)
    est = true.clone()
    est[..., 32:] = -4.0  # wrong sign (not observable) and 2 px too small over half the image
    assert blur_size_error(est, true).tolist() == pytest.approx([1.0, 1.0])
    assert blur_size_error(est, true, signed=True).tolist() == pytest.approx([5.0, 5.0])
    assert create_metric("bokeh.blur_size_error").score(est, true).tolist() == pytest.approx([1.0, 1.0])


def _discs(centres, radius, h=64, w=64, square=False):
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    img = torch.full((1, 3, h, w), 0.05)
    for cx, cy in centres:
        inside = (
            (torch.maximum((xx - cx).abs(), (yy - cy).abs()) <= radius)
            if square
            else ((xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2)
        )
        img[..., inside] = 0.9
    return img


def test_aperture_fidelity_known_answers():
    centres = [(20, 20), (44, 40)]
    pts = torch.tensor([centres], dtype=torch.float32)
    a = _discs(centres, 6)
    r = aperture_fidelity(a, a, pts, radius=10)
    assert r["iou"].item() == pytest.approx(1.0) and r["ncc"].item() == pytest.approx(1.0, abs=1e-6)
    # brighter rendering of the same discs: normalisation makes it a perfect match
    r = aperture_fidelity((a * 1.1).clamp(0, 1), a, pts, radius=10)
    assert r["iou"].item() == pytest.approx(1.0)
    # concentric discs of radius 4 and 6: IoU = pixel-count ratio
    b = _discs(centres, 4)
    n4 = int(((torch.arange(-10, 11)[:, None] ** 2 + torch.arange(-10, 11)[None] ** 2) <= 16).sum())
    n6 = int(((torch.arange(-10, 11)[:, None] ** 2 + torch.arange(-10, 11)[None] ** 2) <= 36).sum())
    assert aperture_fidelity(b, a, pts, radius=10)["iou"].item() == pytest.approx(n4 / n6)
    # a square of the same half-size is less similar than the right disc
    sq = _discs(centres, 6, square=True)
    r = aperture_fidelity(sq, a, pts, radius=10)
    assert r["iou"].item() == pytest.approx(n6 / 169) and r["ncc"].item() < 0.95
    m = create_metric("bokeh.aperture_iou", radius=10)
    assert m.score(b, a, points=pts).item() == pytest.approx(n4 / n6)


def test_aperture_fidelity_rejects_points_outside():
    a = _discs([(20, 20)], 4)
    with pytest.raises(InvalidInputError, match="inside"):
        aperture_fidelity(a, a, torch.tensor([[[70.0, 3.0]]]), radius=5)


def _blur_sequence(image, radii):
    out = [image]
    for r in radii[1:]:
        out.append(torch.nn.functional.avg_pool2d(image, 2 * r + 1, stride=1, padding=r, count_include_pad=False))
    return torch.cat(out)


def test_laplacian_variance_matches_scipy():
    x = torch.rand(2, 3, 40, 48, dtype=torch.float64)
    luma = (x * torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64).view(1, 3, 1, 1)).sum(1).numpy()
    ref = [ndimage.laplace(luma[i])[1:-1, 1:-1].var() for i in range(2)]
    np.testing.assert_allclose(laplacian_variance(x).numpy(), ref, rtol=1e-10)


def test_lvcorr_sign_convention_and_pearson_value():
    g = torch.Generator().manual_seed(3)
    seq = _blur_sequence(torch.rand(1, 3, 48, 48, generator=g), [0, 1, 2, 3, 4])
    s = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0])
    assert lvcorr(seq, s, method="spearman").item() == pytest.approx(1.0)  # more blur, less detail: control
    assert lvcorr(seq, s.flip(0), method="spearman").item() == pytest.approx(-1.0)  # inverted control
    lv = laplacian_variance(seq).double().numpy()
    assert lvcorr(seq, s).item() == pytest.approx(-np.corrcoef(s.numpy(), lv)[0, 1], abs=1e-5)
    batched = create_metric("lvcorr.spearman").score(torch.stack([seq, seq.flip(0)]), strengths=torch.stack([s, s]))
    assert batched.tolist() == pytest.approx([1.0, -1.0])


def test_lvcorr_input_errors():
    seq = torch.rand(2, 3, 16, 16)
    with pytest.raises(InvalidInputError, match="at least 3"):
        lvcorr(seq, torch.tensor([0.0, 1.0]))
    with pytest.raises(InvalidInputError, match="strengths"):
        lvcorr(torch.rand(3, 3, 16, 16), torch.tensor([0.0, 1.0]))
    with pytest.raises(InvalidInputError, match="needs coc"):
        create_metric("bokeh.psnr_in_focus").score(seq, seq)
    with pytest.raises(InvalidInputError, match="coc must have shape"):
        create_metric("bokeh.psnr_in_focus").score(seq, seq, coc=torch.zeros(2, 1, 8, 8))


# -- LVCorr as Generative Photography computes it (lvcorr.genphoto) --------------------------------------
SWEEP_K = torch.tensor([4.0, 8.0, 12.0, 16.0, 20.0])


@pytest.fixture(scope="module")
def exact_sweep():
    """A 96 px two-plane scene rendered by the exact reference renderer at every K of the built-in sweep."""
    from refocus_bench.benchmarks.ground_truth import render_exact
    from refocus_bench.benchmarks.synthetic_scenes import layer_coc_px, make_scene, pick_focus

    scene, _ = make_scene("planes", (96, 96), np.random.default_rng(1))
    aif, depth, front = scene.flatten()
    focus = pick_focus(scene, front, np.random.default_rng(11))

    def render(samples: int, seed: int) -> torch.Tensor:
        return torch.cat(
            [
                render_exact(scene.layers, layer_coc_px(scene, float(k), focus)[0], "disk", samples, seed)
                for k in SWEEP_K
            ]
        )

    return {"reference": render(64, 0), "rerender": render(96, 1), "aif": aif, "depth": depth, "focus": focus}


def test_lv_reflect_border_matches_an_independent_implementation():
    # OpenCV's default border (BORDER_REFLECT_101) is scipy's "mirror"; variance over every pixel
    x = torch.rand(2, 3, 20, 24, dtype=torch.float64)
    luma = (x * torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64).view(1, 3, 1, 1)).sum(1).numpy()
    ref = [ndimage.laplace(luma[i], mode="mirror").var() for i in range(2)]
    np.testing.assert_allclose(laplacian_variance(x, border="reflect").numpy(), ref, rtol=1e-10)


def test_lvcorr_genphoto_is_pearson_of_the_lv_changes():
    g = torch.Generator().manual_seed(5)
    a = _blur_sequence(torch.rand(1, 3, 40, 40, generator=g), [0, 1, 2, 3, 4])
    b = _blur_sequence(torch.rand(1, 3, 40, 40, generator=g), [0, 2, 1, 4, 3])
    lv = [laplacian_variance(x.double(), border="reflect").numpy() for x in (a, b)]
    expected = np.corrcoef(np.diff(lv[1]), np.diff(lv[0]))[0, 1]
    assert lvcorr_genphoto(b, a, SWEEP_K).item() == pytest.approx(expected, abs=1e-5)
    batched = LVCorrGenPhoto().score(torch.stack([a, b]), torch.stack([a, a]), strengths=torch.stack([SWEEP_K] * 2))
    assert batched.tolist() == pytest.approx([1.0, expected], abs=1e-5)


def test_lvcorr_genphoto_exact_renderer_in_the_loop_scores_above_0_99(exact_sweep):
    # an independent render (other aperture points, other seed) of the same sweep follows the reference
    assert lvcorr_genphoto(exact_sweep["rerender"], exact_sweep["reference"], SWEEP_K).item() >= 0.99
    assert lvcorr_genphoto(exact_sweep["reference"], exact_sweep["reference"], SWEEP_K).item() == pytest.approx(1.0)


def test_lvcorr_genphoto_layered_renderer_on_a_disk_scene(exact_sweep):
    from refocus_bench.models import create_model

    layered = create_model("bokeh.layered")
    e = exact_sweep
    renders = torch.cat(
        [layered.bokeh(e["aif"], e["depth"], focus_distance_m=e["focus"], k_px_m=float(k)) for k in SWEEP_K]
    )
    assert lvcorr_genphoto(renders, e["reference"], SWEEP_K).item() >= 0.99


def test_lvcorr_genphoto_is_undefined_for_a_model_that_ignores_k(exact_sweep):
    still = exact_sweep["reference"][:1].expand(5, -1, -1, -1)  # identity: the same image at every K
    assert math.isnan(lvcorr_genphoto(still, exact_sweep["reference"], SWEEP_K).item())
    metric = LVCorrGenPhoto()
    metric.update(still[None], exact_sweep["reference"][None], strengths=SWEEP_K[None])
    assert int(metric.count) == 0 and math.isnan(float(metric.compute()))


def test_lvcorr_for_a_model_whose_blur_falls_as_k_rises(exact_sweep):
    reversed_sweep = exact_sweep["reference"].flip(0)  # K_max + K_min - K: blur falls as K rises
    paper = lvcorr_genphoto(reversed_sweep, exact_sweep["reference"], SWEEP_K).item()
    assert paper < 0.9  # far below the reference's 1 ...
    # ... but the paper's definition correlates *changes* (their mean removed), so it does not see the
    # direction: on this scene the reversed sweep still scores > 0. Only the legacy K correlation is < 0.
    assert paper > 0
    assert lvcorr(reversed_sweep, SWEEP_K).item() < 0 < lvcorr(exact_sweep["reference"], SWEEP_K).item()


def test_lvcorr_genphoto_input_errors(exact_sweep):
    ref = exact_sweep["reference"]
    with pytest.raises(InvalidInputError, match="reference must have"):
        lvcorr_genphoto(ref, ref[:4], SWEEP_K)
    with pytest.raises(InvalidInputError, match="increase strictly"):
        lvcorr_genphoto(ref, ref, SWEEP_K.flip(0))
    with pytest.raises(InvalidInputError, match="needs target"):
        LVCorrGenPhoto().score(ref[None], strengths=SWEEP_K[None])
