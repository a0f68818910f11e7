"""NIQE and BRISQUE: known answers offline, and equality with pyiqa's implementations on 8 image sizes."""

from __future__ import annotations

import math
import tempfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from refocus_bench.errors import InvalidInputError
from refocus_bench.metrics import create_metric, metric_spec
from refocus_bench.metrics.blind_iqa import brisque_features, constants
from refocus_bench.metrics.nss import aggd_fit, cubic_weights, ggd_fit, imresize_half, matlab_gray

SIZES = [(96, 96), (100, 130), (130, 100), (97, 193), (192, 144), (150, 151), (240, 110), (128, 256)]


def _photos():
    """8-bit real photos (skimage), cropped to eight sizes: ties in the grey rounding included."""
    from skimage import data

    out = []
    for i, (h, w) in enumerate(SIZES):
        img = (data.astronaut(), data.chelsea(), data.coffee())[i % 3]
        y0, x0 = 17 * i, 23 * i
        out.append(torch.from_numpy(img[y0 : y0 + h, x0 : x0 + w].copy()).permute(2, 0, 1)[None].double() / 255)
    return out


# -- known answers, no reference implementation needed ----------------------------------------------


def test_ggd_and_aggd_fits_recover_the_shape_of_samples_drawn_from_them():
    from scipy.stats import gennorm

    for beta in (0.8, 1.0, 2.0, 3.0):
        x = torch.from_numpy(gennorm.rvs(beta, size=400_000, random_state=1)).view(1, 1, 400, 1000)
        alpha, sigma = ggd_fit(x)
        assert alpha.item() == pytest.approx(beta, rel=0.03)
        assert sigma.item() == pytest.approx(x.pow(2).mean().sqrt().item())
    gen = torch.Generator().manual_seed(0)
    g = torch.randn(1, 1, 500, 800, generator=gen, dtype=torch.float64).abs()
    left = torch.rand(g.shape, generator=gen, dtype=torch.float64) < 0.5 / (0.5 + 2.0)  # AGGD: mass ~ scale
    a, ls, rs, bl, br = aggd_fit(torch.where(left, -0.5 * g, 2.0 * g))  # asymmetric Gaussian, alpha = 2
    assert a.item() == pytest.approx(2.0, abs=0.05)
    assert ls.item() == pytest.approx(0.5, rel=0.01) and rs.item() == pytest.approx(2.0, rel=0.01)
    assert (bl / ls).item() == pytest.approx(math.sqrt(2.0), rel=0.05)  # beta = std * sqrt(G(1/a)/G(3/a))


def test_imresize_half_is_matlabs_antialiased_bicubic():
    w = cubic_weights(9)
    assert w.shape == (5, 9) and torch.allclose(w.sum(dim=1), torch.ones(5, dtype=torch.float64))
    # interior rows: the cubic kernel stretched by 2 at offsets 0.5 + k, symmetric, 8 taps
    taps = w[2][w[2] != 0]
    assert len(taps) == 8 and torch.allclose(taps, taps.flip(0))
    assert torch.allclose(taps[3], torch.tensor(0.5 * (1.5 * 0.25**3 - 2.5 * 0.25**2 + 1), dtype=torch.float64))
    ramp = torch.arange(40, dtype=torch.float64).view(1, 40).expand(8, 40)
    out = imresize_half(ramp)
    assert out.shape == (4, 20)
    torch.testing.assert_close(out[:, 3:-3], (2 * torch.arange(20.0, dtype=torch.float64) + 0.5)[3:-3].expand(4, -1))
    assert torch.equal(
        imresize_half(torch.full((1, 1, 11, 7), 3.0)), torch.full((1, 1, 6, 4), 3.0, dtype=torch.float64)
    )


def test_grey_is_the_rounded_8_bit_luma():
    x = torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.5, 0.5, 0.5]).view(4, 3).T.reshape(1, 3, 2, 2)
    assert matlab_gray(x).flatten().tolist() == [76.0, 150.0, 29.0, 128.0]


@pytest.mark.parametrize("name", ["niqe.live", "brisque.live"])
def test_blur_and_noise_score_worse_than_the_photo(name):
    m = create_metric(name)
    assert metric_spec(name).higher_is_better is False
    photo = _photos()[4].float()  # 192 x 144
    blurred = F.avg_pool2d(F.pad(photo, (3, 3, 3, 3), mode="replicate"), 7, stride=1)
    noisy = (photo + 0.08 * torch.randn(photo.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    s = m.score(torch.cat([photo, blurred, noisy]))
    assert s.shape == (3,) and s.dtype == torch.float32
    assert s[0] < s[1] and s[0] < s[2], s


def test_bad_input_is_rejected():
    with pytest.raises(InvalidInputError, match="at least 96 px"):
        create_metric("niqe.live").score(torch.rand(1, 3, 95, 200))
    with pytest.raises(InvalidInputError, match="NaN"):
        create_metric("brisque.live").score(torch.full((1, 3, 32, 32), float("nan")))


def test_packaged_constants_have_the_published_shapes_and_values():
    n = constants("niqe_live.safetensors")
    assert n["mu"].shape == (36,) and n["cov"].shape == (36, 36) and torch.equal(n["cov"], n["cov"].T)
    b = constants("brisque_live.safetensors")
    assert b["sv"].shape == (774, 36) and b["sv_coef"].shape == (774,)
    assert b["gamma"].item() == 0.05 and b["rho"].item() == -153.591
    assert b["feature_min"][0].item() == 0.338 and b["feature_max"][0].item() == 10.0


# -- against pyiqa (the field's PyTorch implementation) ----------------------------------------------


@pytest.fixture()
def pyiqa_float64(monkeypatch):
    """pyiqa's NIQE and BRISQUE on our constants, with its three float32 steps computed in float64.

    As shipped, pyiqa builds the Gaussian window and the BRISQUE feature-range table as float32 and
    runs ``imresize`` in float32 whatever the input (``cast_input`` always casts); those roundings move
    the grid-searched shape parameters: as shipped it differs from ours by up to 7e-5 (NIQE) and 9e-4 (BRISQUE)
    on these images; in float64 by 1.2e-6 and 3.4e-6 (its alpha grid stays float32).
    """
    pytest.importorskip("pyiqa", reason="pyiqa (optional non-commercial extra 'iqa-noncommercial') is not installed")
    import scipy.io
    from pyiqa.archs import brisque_arch, func_util
    from pyiqa.archs.brisque_arch import BRISQUE
    from pyiqa.archs.niqe_arch import NIQE
    from pyiqa.matlab_utils import resize

    b = constants("brisque_live.safetensors")
    lo, hi = b["feature_min"], b["feature_max"]
    table = brisque_arch.scale_features(lo[None] * 1.0)  # pyiqa's own table maps its lower bounds to -1
    assert torch.allclose(table, -torch.ones_like(table), atol=1e-6)

    def window(size, sigma, channels=1):
        r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
        g = torch.exp(-(r[:, None] ** 2 + r[None] ** 2) / (2 * sigma * sigma))
        return (g / g.sum()).repeat(channels, 1, 1, 1)

    monkeypatch.setattr(func_util, "fspecial", window)
    monkeypatch.setattr(resize, "cast_input", lambda x: (x, None))
    monkeypatch.setattr(brisque_arch, "scale_features", lambda f: -1 + 2 * (f - lo.to(f)) / (hi - lo).to(f))
    n = constants("niqe_live.safetensors")
    with tempfile.TemporaryDirectory() as d:
        scipy.io.savemat(f"{d}/niqe.mat", {"mu_prisparam": n["mu"][None].numpy(), "cov_prisparam": n["cov"].numpy()})
        torch.save((b["sv_coef"], b["sv"]), f"{d}/brisque.pth")
        yield {
            "niqe.live": NIQE(pretrained_model_path=f"{d}/niqe.mat"),
            "brisque.live": BRISQUE(pretrained_model_path=f"{d}/brisque.pth"),
        }


@pytest.mark.parametrize("name", ["niqe.live", "brisque.live"])
def test_equals_pyiqa_on_eight_sizes(pyiqa_float64, name):
    ours, ref = create_metric(name), pyiqa_float64[name]
    got, want = [], []
    for x in _photos():
        got.append(ours.score(x))
        with torch.no_grad():
            want.append(ref(x).reshape(-1))
    got, want = torch.cat(got), torch.cat(want)
    assert (got - want).abs().max().item() < 1e-5, (got, want)
    assert np.unique(np.round(got.numpy(), 3)).size == len(SIZES)  # the images are told apart


def test_brisque_features_equal_pyiqas(pyiqa_float64):
    from pyiqa.archs.brisque_arch import natural_scene_statistics
    from pyiqa.matlab_utils import imresize
    from pyiqa.utils.color_util import to_y_channel

    for x in _photos():
        y, want = to_y_channel(x, 255.0), []
        for _ in range(2):
            want.append(natural_scene_statistics(y).reshape(-1))
            y = imresize(y, scale=0.5, antialiasing=True)
        torch.testing.assert_close(
            brisque_features(x)[0], torch.cat(want), atol=1e-6, rtol=0
        )  # its alpha grid is float32
