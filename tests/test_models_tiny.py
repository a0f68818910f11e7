"""genrefocus.tiny: the classical prior of its networks, K = 0, shipped weights, pair generation."""

from __future__ import annotations

import torch
from kornia.color import linear_rgb_to_rgb, rgb_to_linear_rgb

from refocus_bench.hashing import file_sha256
from refocus_bench.models import create_model, model_card
from refocus_bench.models.baselines.deconvolution import fft_convolve
from refocus_bench.models.genrefocus.synthetic import SPLIT_SEEDS, make_pair, pairs_digest
from refocus_bench.models.genrefocus.tiny import WEIGHTS, GenRefocusTiny
from refocus_bench.models.genrefocus.tiny_nets import TinyBokehNet, TinyDeblurNet, interp_weights
from refocus_bench.models.weights import package_weights_dir
from refocus_bench.simulators.render.apertures import make_aperture


def test_interp_weights_are_hat_functions():
    r = torch.tensor([0.0, 1.5, 4.0, 9.0, 40.0]).reshape(1, 1, 1, 5)
    w = interp_weights(r, (0.0, 1.0, 2.0, 4.0, 8.0, 16.0))
    torch.testing.assert_close(w.sum(1), torch.ones(1, 1, 5))
    expected = torch.tensor(
        [[1, 0, 0, 0, 0, 0], [0, 0.5, 0.5, 0, 0, 0], [0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0.875, 0.125], [0, 0, 0, 0, 0, 1]]
    ).T
    torch.testing.assert_close(w[0, :, 0], expected.float())


def test_untrained_bokeh_net_is_the_aperture_blur():
    # the head starts at zero, so the network returns its prior: the candidate at the pixel's radius
    net = TinyBokehNet().eval()
    img = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(0))
    coc = torch.full((1, 1, 48, 48), -4.0)  # in front of focus: the kernel is rotated by 180 degrees
    ap = make_aperture("triangle-blades")
    with torch.no_grad():
        out = net(img, coc, coc.abs() / 100, ap)
    k = torch.flip(ap.kernel(4.0), dims=(0, 1))
    expected = linear_rgb_to_rgb(fft_convolve(rgb_to_linear_rgb(img), k).clamp(0, 1))
    assert (out - expected).abs().max() < 0.02


def test_untrained_deblur_refinement_is_the_identity():
    # the refinement's head starts at zero: input + 0 x (candidates - input) + 0 residual
    net = TinyDeblurNet(refine_widths=(8, 8, 8)).eval()
    img = torch.rand(2, 3, 40, 36, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = net(img)
        blend = net.fuse(net.candidates(img), net.coc_estimate(img), refine=False)
    torch.testing.assert_close(out, img)
    assert (blend - img).abs().max() > 1e-3  # the prior blend itself is not the identity


def test_previous_architecture_without_refinement_still_builds():
    m = GenRefocusTiny(weights=None, arch={"deblur_refine_widths": None})
    assert m.deblur_net.refine is None
    assert not any(k.startswith("deblur.refine.") for k in m.state_to_save())
    assert m.deblur(torch.rand(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_zero_k_returns_the_input_and_refocus_the_deblurred_image():
    m = GenRefocusTiny(weights=None)
    x = torch.rand(2, 3, 32, 32)
    depth = torch.full((2, 1, 32, 32), 3.0)
    torch.testing.assert_close(m.bokeh(x, depth, focus_distance_m=1.0, k_px_m=0.0), x)
    torch.testing.assert_close(m.refocus(x, depth, focus_distance_m=1.0, k_px_m=0.0), m.deblur(x))


def test_shipped_weights_match_the_card():
    path = package_weights_dir() / WEIGHTS.filename
    assert path.is_file() and path.stat().st_size < 8_000_000
    assert file_sha256(path) == WEIGHTS.sha256 == model_card("genrefocus.tiny").weights[0].sha256
    m = create_model("genrefocus.tiny")
    assert m.weights_path == str(path)


def test_pairs_are_deterministic_and_splits_disjoint():
    a, b = make_pair(3, size=48), make_pair(3, size=48)
    assert pairs_digest(a) == pairs_digest(b)
    assert pairs_digest(make_pair(4, size=48)) != pairs_digest(a)
    assert len({v for v in SPLIT_SEEDS.values()}) == 3 and min(SPLIT_SEEDS["val"], SPLIT_SEEDS["test"]) >= 1_000_000
    # the defocused input really is the scene at the recorded K and focus
    assert torch.allclose(a["coc_in"].double(), a["k_in"] * (1 / a["focus_in"] - 1 / a["depth"].double()), atol=1e-4)


def test_a_weights_file_brings_its_architecture(tmp_path):
    # files written by scripts/train_tiny.py carry their architecture, so earlier releases load by path alone
    from safetensors.torch import save_file

    radii = [0.0, 1.0, 2.0, 4.0]
    m = GenRefocusTiny(weights=None, arch={"bokeh_radii": radii, "deblur_refine_widths": None}).eval()
    path = tmp_path / "earlier.safetensors"
    save_file(m.state_to_save(), str(path), metadata=m.metadata())
    loaded = GenRefocusTiny(weights=path).eval()
    assert loaded.arch["bokeh_radii"] == radii and loaded.deblur_net.refine is None
    x, depth = torch.rand(1, 3, 32, 32), torch.full((1, 1, 32, 32), 3.0)
    kw = {"focus_distance_m": 1.0, "k_px_m": 6.0, "aperture": "heart"}
    torch.testing.assert_close(loaded.bokeh(x, depth, **kw), m.bokeh(x, depth, **kw))
