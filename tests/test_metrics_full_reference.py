"""PSNR / SSIM / MS-SSIM / MAE against independent references (scikit-image, numpy/scipy)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio as sk_psnr
from skimage.metrics import structural_similarity as sk_ssim

from refocus_bench.errors import InvalidInputError
from refocus_bench.metrics import MetricSuite, create_metric
from refocus_bench.metrics.full_reference import mae, ms_ssim, psnr, rgb_to_y, ssim

TOL = 1e-4


def _pairs(b=3, h=48, w=56, noise=0.08, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(b, 3, h, w, generator=g, dtype=dtype)
    # smooth the target a little so SSIM is not trivially near zero
    target = torch.nn.functional.avg_pool2d(target, 3, stride=1, padding=1, count_include_pad=False)
    preds = (target + noise * torch.randn(b, 3, h, w, generator=g, dtype=dtype)).clamp(0, 1)
    return preds, target


def _np(x):  # (3, H, W) tensor -> (H, W, 3) float64
    return x.permute(1, 2, 0).double().numpy()


def _y_np(x):  # BT.601 studio-range luma, computed independently
    a = _np(x)
    return (16.0 + 65.481 * a[..., 0] + 128.553 * a[..., 1] + 24.966 * a[..., 2]) / 255.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_psnr_matches_skimage(dtype):
    p, t = _pairs(dtype=dtype)
    got = psnr(p, t)
    assert got.shape == (3,) and got.dtype == dtype
    for i in range(3):
        assert got[i].item() == pytest.approx(sk_psnr(_np(t[i]), _np(p[i]), data_range=1.0), abs=TOL)
        y = psnr(p, t, color="y")[i].item()
        assert y == pytest.approx(sk_psnr(_y_np(t[i]), _y_np(p[i]), data_range=1.0), abs=TOL)


def test_psnr_hand_computed_and_identical_is_inf():
    t = torch.full((1, 3, 8, 8), 0.5)
    assert psnr(t + 0.1, t).item() == pytest.approx(20.0, abs=1e-4)  # MSE = 0.01
    assert psnr(t, t).item() == float("inf")


def test_rgb_to_y_reference_values():
    x = torch.tensor([0.0, 1.0]).view(2, 1, 1, 1).expand(2, 3, 1, 1)
    assert rgb_to_y(x).flatten().tolist() == pytest.approx([16 / 255, 235 / 255], abs=1e-6)


@pytest.mark.parametrize("color", ["rgb", "y"])
def test_ssim_matches_skimage(color):
    p, t = _pairs(seed=1)
    got = ssim(p, t, color=color)
    for i in range(3):
        if color == "rgb":
            ref = sk_ssim(
                _np(t[i]),
                _np(p[i]),
                channel_axis=-1,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
                data_range=1.0,
            )
        else:
            ref = sk_ssim(
                _y_np(t[i]), _y_np(p[i]), gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0
            )
        assert got[i].item() == pytest.approx(ref, abs=TOL)


def test_crop_border_equals_scoring_the_cropped_images():
    p, t = _pairs(seed=2)
    c = 6
    for fn in (psnr, ssim, mae):
        a = fn(p, t, crop_border=c)
        b = fn(p[..., c:-c, c:-c].contiguous(), t[..., c:-c, c:-c].contiguous())
        torch.testing.assert_close(a, b)
    m = create_metric("ssim.y", crop_border=c)
    torch.testing.assert_close(m.score(p, t), ssim(p, t, color="y", crop_border=c))


def _ms_ssim_reference(x, y):
    """MS-SSIM as torchmetrics defines it, written with scipy: Gaussian 11x11 sigma 1.5 on
    whole-sample-reflect padded images, contrast terms averaged over valid positions, the last scale's
    SSIM over the full padded map, relu on each term, 2x2 average pooling between five scales."""
    betas = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
    ax = np.arange(11) - 5
    g = np.exp(-(ax**2) / (2 * 1.5**2))
    g /= g.sum()
    k = np.outer(g, g)
    c1, c2 = 0.01**2, 0.03**2
    terms = []
    for s in range(5):
        f = lambda a: np.stack([ndimage.correlate(a[..., ch], k, mode="mirror") for ch in range(3)], -1)  # noqa: E731
        mx, my = f(x), f(y)
        vx = np.maximum(f(x * x) - mx**2, 0)
        vy = np.maximum(f(y * y) - my**2, 0)
        cov = f(x * y) - mx * my
        cs = (2 * cov + c2) / (vx + vy + c2)
        sim = (2 * mx * my + c1) / (mx**2 + my**2 + c1) * cs
        terms.append(max(cs[5:-5, 5:-5].mean(), 0.0) if s < 4 else max(sim.mean(), 0.0))
        h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
        x = x[:h, :w].reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
        y = y[:h, :w].reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
    return float(np.prod(np.array(terms) ** betas))


def test_ms_ssim_matches_independent_implementation():
    p, t = _pairs(b=2, h=176, w=192, noise=0.05, seed=3, dtype=torch.float64)
    got = ms_ssim(p, t)
    for i in range(2):
        assert got[i].item() == pytest.approx(_ms_ssim_reference(_np(p[i]), _np(t[i])), abs=TOL)


def test_mae_matches_numpy():
    p, t = _pairs(seed=4)
    ref = np.abs(p.numpy() - t.numpy()).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(mae(p, t).numpy(), ref, atol=1e-6)


def test_metric_form_accumulates_sums_and_counts_only():
    p, t = _pairs(b=4, seed=5)
    m = create_metric("psnr.rgb")
    m.update(p[:1], t[:1])
    m.update(p[1:], t[1:])
    assert m.compute().item() == pytest.approx(psnr(p, t).double().mean().item(), abs=1e-6)
    assert set(m.metric_state) == {"total", "count"}
    assert all(v.numel() == 1 for v in m.metric_state.values())
    assert int(m.count) == 4
    m.reset()
    with pytest.warns(UserWarning, match="before the ``update``"):
        assert int(m.count) == 0 and torch.isnan(m.compute())


def test_torchmetrics_forward_returns_batch_value_and_accumulates():
    p, t = _pairs(b=4, seed=8)
    m = create_metric("mae.rgb")
    first = m(p[:2], t[:2])
    second = m(p[2:], t[2:])
    assert first.item() == pytest.approx(mae(p[:2], t[:2]).double().mean().item(), abs=1e-7)
    assert second.item() == pytest.approx(mae(p[2:], t[2:]).double().mean().item(), abs=1e-7)
    assert m.compute().item() == pytest.approx(mae(p, t).double().mean().item(), abs=1e-7)
    assert int(m.count) == 4


def test_functional_and_metric_forms_agree_and_suite_equals_individual_calls():
    p, t = _pairs(b=2, h=176, w=180, seed=6)
    names = ["psnr.rgb", "psnr.y", "ssim.rgb", "ssim.y", "ms_ssim.rgb", "mae.rgb"]
    res = MetricSuite(names)(p, t)
    fns = {
        "psnr.rgb": psnr(p, t),
        "psnr.y": psnr(p, t, color="y"),
        "ssim.rgb": ssim(p, t),
        "ssim.y": ssim(p, t, color="y"),
        "ms_ssim.rgb": ms_ssim(p, t),
        "mae.rgb": mae(p, t),
    }
    for n in names:
        torch.testing.assert_close(res.scores[n], fns[n])
        torch.testing.assert_close(create_metric(n).score(p, t), fns[n])
        assert res.definitions[n]["name"] == n


def test_gradients_flow_for_differentiable_metrics():
    p, t = _pairs(b=1, seed=7)
    for n in ("psnr.rgb", "ssim.rgb", "mae.rgb"):
        x = p.clone().requires_grad_(True)
        create_metric(n).score(x, t).sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("preds", "target", "match"),
    [
        (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 17), "same shape"),
        (torch.rand(1, 3, 16, 16) * 2, torch.rand(1, 3, 16, 16), r"preds must be <= 1"),
        (torch.rand(1, 3, 16, 16) - 1, torch.rand(1, 3, 16, 16), r"preds must be >= 0"),
        (torch.full((1, 3, 16, 16), float("nan")), torch.rand(1, 3, 16, 16), "NaN"),
        (torch.rand(3, 16, 16), torch.rand(3, 16, 16), r"shape \(B, 3, H, W\)"),
        (torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16), r"shape \(B, 3, H, W\)"),
        (torch.randint(0, 255, (1, 3, 16, 16), dtype=torch.uint8), torch.rand(1, 3, 16, 16), "floating-point"),
    ],
)
def test_bad_input_gets_a_clear_error(preds, target, match):
    for fn in (psnr, create_metric("ssim.rgb").score, create_metric("mae.rgb").update):
        with pytest.raises(InvalidInputError, match=match):
            fn(preds, target)


def test_size_and_option_errors():
    x = torch.rand(1, 3, 64, 64)
    with pytest.raises(InvalidInputError, match="176x176"):
        ms_ssim(x, x)
    with pytest.raises(InvalidInputError, match="color must be one of"):
        psnr(x, x, color="lab")
    with pytest.raises(InvalidInputError, match="crop_border"):
        create_metric("psnr.rgb", crop_border=40).score(x, x)
    with pytest.raises(InvalidInputError, match="full-reference metric: pass target"):
        create_metric("psnr.rgb").score(x)
