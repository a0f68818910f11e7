"""MUSIQ and MANIQA (the non-commercial pyiqa extra) against pyiqa's own ``create_metric`` on random weights.

These tests need pyiqa (``pip install 'refocus-bench[iqa-noncommercial]'``; requirements-noncommercial.lock installs
it for development and CI) and are skipped, saying so, without it.
"""

from __future__ import annotations

import json

import pytest
import torch

from refocus_bench.errors import InvalidInputError, MissingFileError

pytest.importorskip("pyiqa", reason="pyiqa (optional non-commercial extra 'iqa-noncommercial') is not installed")

from refocus_bench.metrics import create_metric  # noqa: E402
from refocus_bench.metrics.iqa_noncommercial import _no_download, build_network  # noqa: E402
from refocus_bench.metrics.weights_import import import_weights  # noqa: E402

SIZES = [(64, 64), (48, 80), (80, 48), (57, 91), (96, 72), (33, 65), (120, 40), (70, 70)]
SMALL = {
    "musiq.koniq": {"hidden_size": 32, "mlp_dim": 64, "num_heads": 2, "num_layers": 2},
    "maniqa.koniq": {
        "embed_dim": 32,
        "dim_mlp": 32,
        "num_heads": [2, 2],
        "test_sample": 2,
        "backbone": {"img_size": 224, "patch_size": 8, "embed_dim": 32, "depth": 10, "num_heads": 2},
    },
}
PYIQA_NAME = {"musiq.koniq": "musiq", "maniqa.koniq": "maniqa"}


def _save(folder, name, arch, seed=0):
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    net = build_network(name, arch)
    folder.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"arch": arch}))
    return net


def _reference(name, arch, state):
    """pyiqa's public API: ``pyiqa.create_metric(..., pretrained=False)``, weights copied in."""
    import importlib

    import pyiqa

    from refocus_bench.metrics.iqa_noncommercial import PYIQA_METRICS

    kwargs = {k: v for k, v in arch.items() if k != "backbone"}
    module = importlib.import_module(PYIQA_METRICS[name]["module"])
    with _no_download(module, arch.get("backbone")):  # MANIQA's timm backbone would download otherwise
        ref = pyiqa.create_metric(PYIQA_NAME[name], device="cpu", pretrained=False, **kwargs)
    ref.net.load_state_dict(state, strict=True)
    return ref


@pytest.mark.parametrize("name", ["musiq.koniq", "maniqa.koniq"])
def test_equals_pyiqa_on_random_weights_and_eight_sizes(tmp_path, name):
    net = _save(tmp_path / name, name, SMALL[name])
    ours = create_metric(name, weights_dir=tmp_path / name)
    ref = _reference(name, SMALL[name], net.state_dict())
    g = torch.Generator().manual_seed(3)
    got, want = [], []
    for h, w in SIZES:
        x = torch.rand(1, 3, h, w, generator=g)
        got.append(ours.score(x))
        with torch.no_grad():
            want.append(ref(x).reshape(-1))
    got, want = torch.cat(got), torch.cat(want)
    assert (got - want).abs().max().item() < 1e-5, (got, want)
    assert got.std() > 1e-5  # the images are told apart


def test_batch_equals_single_images(tmp_path):
    _save(tmp_path / "m", "musiq.koniq", SMALL["musiq.koniq"])
    m = create_metric("musiq.koniq", weights_dir=tmp_path / "m")
    x = torch.rand(3, 3, 48, 64, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(m.score(x), torch.cat([m.score(x[i : i + 1]) for i in range(3)]), atol=1e-5, rtol=0)


@pytest.mark.parametrize(("name", "wrap"), [("musiq.koniq", None), ("maniqa.koniq", "params")])
def test_released_checkpoint_layout_imports_without_missing_or_unexpected_keys(tmp_path, name, wrap):
    """A random state dict in the released model's layout (full size), saved as pyiqa's .pth, imports strictly."""
    torch.manual_seed(0)
    state = build_network(name).state_dict()
    if wrap:  # a 'params' entry and DataParallel's 'module.' prefix, both unwrapped as pyiqa does
        state = {wrap: {f"module.{k}": v for k, v in state.items()}}
    torch.save(state, tmp_path / "ckpt.pth")
    folder = import_weights(name, tmp_path / "ckpt.pth", home=tmp_path / "home")
    card = json.loads((folder / "card.json").read_text())
    assert card["imported_from"] == "ckpt.pth" and len(card["source_sha256"]) == 64
    m = create_metric(name, weights_dir=folder)
    assert m.definition()["conventions"]["weights_sha256"] == card["files"]["model.safetensors"]
    assert "Noncommercial" in m.definition()["conventions"]["licence"]


def test_import_names_wrong_keys_and_shapes(tmp_path):
    state = build_network("musiq.koniq", SMALL["musiq.koniq"]).state_dict()
    torch.save(state, tmp_path / "small.pth")  # the right keys at the wrong widths
    with pytest.raises(InvalidInputError, match=r"not a musiq.koniq checkpoint.*shape mismatches \['[\w.]+ \(\d+"):
        import_weights("musiq.koniq", tmp_path / "small.pth", home=tmp_path / "h")
    full = build_network("musiq.koniq").state_dict()
    full["extra.weight"] = full.pop("head.weight")
    torch.save(full, tmp_path / "renamed.pth")
    with pytest.raises(InvalidInputError, match=r"missing keys \['head.weight'\], unexpected keys \['extra.weight'\]"):
        import_weights("musiq.koniq", tmp_path / "renamed.pth", home=tmp_path / "h")
    assert not (tmp_path / "h" / "weights" / "metrics" / "musiq.koniq").exists()


def test_tampered_weights_and_missing_weights_are_clear_errors(tmp_path, monkeypatch):
    from refocus_bench.metrics.weights import WeightsError

    monkeypatch.setenv("REFOCUS_BENCH_HOME", str(tmp_path))
    with pytest.raises(MissingFileError) as err:
        create_metric("maniqa.koniq")
    assert str(tmp_path / "weights" / "metrics" / "maniqa.koniq" / "model.safetensors") in str(err.value)
    assert "ckpt_koniq10k.pt" in str(err.value) and "weights import maniqa.koniq" in str(err.value)
    folder = tmp_path / "m"
    _save(folder, "musiq.koniq", SMALL["musiq.koniq"])
    (folder / "card.json").write_text(json.dumps({"files": {"model.safetensors": "0" * 64}}))
    with pytest.raises(WeightsError, match="differs from"):
        create_metric("musiq.koniq", weights_dir=folder)
