"""unavailable_metrics: which metrics cannot run for want of weights or code, and why."""

from __future__ import annotations

from refocus_bench.metrics import METRICS, NetworkMetric, list_metrics
from refocus_bench.metrics.availability import unavailable_metrics


def test_an_empty_home_lacks_every_network_metric_and_nothing_else(tmp_path):
    missing = unavailable_metrics(home=tmp_path)
    networks = {n for n in list_metrics() if issubclass(METRICS.get(n), NetworkMetric)}
    assert set(missing) == networks | {"musiq.koniq", "maniqa.koniq"}  # registered or not, they need weights
    assert {"psnr.rgb", "niqe.live", "brisque.live", "lvcorr.genphoto"}.isdisjoint(missing)
    assert "refocus-bench weights fetch" in missing["lpips.alex"]
    assert str(tmp_path / "weights" / "metrics" / "clipiqa.vit") in missing["clipiqa.vit"]
    assert "weights import clipiqa.vit PATH" in missing["clipiqa.vit"]


def test_imported_weights_make_a_metric_available(tmp_path):
    from refocus_bench.metrics.weights_import import import_weights

    from .clip_fixtures import tiny_clip

    tiny_clip(tmp_path / "dl")
    import_weights("clip_i.vit", tmp_path / "dl", home=tmp_path / "h")
    missing = unavailable_metrics(["clip_i.vit", "clipiqa.vit"], home=tmp_path / "h")
    assert list(missing) == ["clipiqa.vit"]


def test_without_pyiqa_the_reason_is_the_extra(tmp_path, monkeypatch):
    from refocus_bench.metrics import extras

    monkeypatch.setattr(extras, "pyiqa_installed", lambda: False)
    missing = unavailable_metrics(["musiq.koniq", "maniqa.koniq", "psnr.y"], home=tmp_path)
    assert set(missing) == {"musiq.koniq", "maniqa.koniq"}
    assert all("refocus-bench[iqa-noncommercial]" in r for r in missing.values())
