"""The registry drives these tests: every metric declares its meaning."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import pytest

from refocus_bench.errors import InvalidInputError, UnknownNameError
from refocus_bench.metrics import METRICS, create_metric, list_metrics, metric_spec
from refocus_bench.metrics.base import MetricSpec, RefocusMetric

EXPECTED = {
    "psnr.rgb",
    "psnr.y",
    "ssim.rgb",
    "ssim.y",
    "ms_ssim.rgb",
    "mae.rgb",
    "lpips.alex",
    "lpips.vgg",
    "dists.vgg16",
    "clipiqa.vit",
    "clip_i.vit",
    "bokeh.psnr_in_focus",
    "bokeh.psnr_out_of_focus",
    "bokeh.psnr_edge_band",
    "bokeh.ssim_in_focus",
    "bokeh.ssim_out_of_focus",
    "bokeh.ssim_edge_band",
    "bokeh.blur_size_error",
    "bokeh.aperture_iou",
    "bokeh.aperture_ncc",
    "lvcorr.pearson",
    "lvcorr.spearman",
}
# Direction is part of the meaning: pin it per metric so a flipped declaration fails loudly.
LOWER_IS_BETTER = {
    "mae.rgb",
    "lpips.alex",
    "lpips.vgg",
    "dists.vgg16",
    "bokeh.blur_size_error",
    "niqe.live",
    "brisque.live",
}


def test_pyiqa_metrics_are_registered_exactly_when_pyiqa_is_installed():
    from refocus_bench.metrics.iqa_noncommercial import available

    names = {"musiq.koniq", "maniqa.koniq"}
    assert (names <= set(list_metrics())) == available()
    assert not (names & set(list_metrics())) or available()
    for name in names & set(list_metrics()):
        assert "Noncommercial" in metric_spec(name).conventions["licence"]


def test_all_expected_metrics_are_registered():
    assert EXPECTED <= set(list_metrics())
    assert list_metrics("bokeh.*") == sorted(n for n in EXPECTED if n.startswith("bokeh."))


@pytest.mark.parametrize("name", list_metrics())
def test_every_metric_declares_direction_reference_range_and_differentiability(name):
    cls = METRICS.get(name)
    assert issubclass(cls, RefocusMetric)
    spec = metric_spec(name)
    assert isinstance(spec, MetricSpec)
    assert spec.name == name
    assert isinstance(spec.higher_is_better, bool)
    assert spec.higher_is_better == (name not in LOWER_IS_BETTER)
    assert spec.reference in {"full", "none"}
    lo, hi = spec.value_range
    assert lo < hi and not math.isnan(lo) and not math.isnan(hi)
    assert isinstance(spec.differentiable, bool)
    assert spec.conventions, f"{name} pins no conventions"
    assert spec.inputs[0] == "preds"
    assert (spec.reference == "full") == (len(spec.inputs) > 1 and spec.inputs[1] == "target")
    # torchmetrics' own flags follow the declaration
    assert cls.higher_is_better is spec.higher_is_better
    assert cls.is_differentiable is spec.differentiable
    json.dumps(spec.as_dict())  # recordable with every score


def test_metric_spec_has_no_defaults_for_its_meaning():
    required = {
        f.name
        for f in dataclasses.fields(MetricSpec)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    assert {"higher_is_better", "reference", "value_range", "differentiable", "conventions"} <= required
    with pytest.raises(TypeError):
        MetricSpec(name="x.y", reference="full", value_range=(0, 1), differentiable=True, conventions={})  # type: ignore[call-arg]
    with pytest.raises(InvalidInputError, match="reference must be one of"):
        MetricSpec(
            name="x.y",
            higher_is_better=True,
            reference="partial",
            value_range=(0, 1),
            differentiable=True,
            conventions={},
        )
    with pytest.raises(InvalidInputError, match="low < high"):
        MetricSpec(
            name="x.y", higher_is_better=True, reference="full", value_range=(1, 0), differentiable=True, conventions={}
        )


def test_unknown_metric_suggests_close_names():
    with pytest.raises(UnknownNameError, match="did you mean 'psnr.rgb'"):
        create_metric("psnr.rbg")


def test_conventions_are_overridable_recorded_and_checked():
    m = create_metric("psnr.y", crop_border=4)
    assert m.definition()["conventions"]["crop_border"] == 4
    assert create_metric("psnr.y").definition()["conventions"]["crop_border"] == 0
    with pytest.raises(InvalidInputError, match="unknown option"):
        create_metric("psnr.rgb", crop=4)


def test_importing_the_package_loads_no_network_code():
    code = (
        "import sys, refocus_bench.metrics as m; m.list_metrics(); "
        "early = [k for k in ('torchmetrics', 'lpips', 'torchvision') if k in sys.modules]; "
        "m.metric_spec('psnr.rgb'); m.metric_spec('bokeh.psnr_in_focus'); "
        "late = [k for k in ('lpips', 'DISTS_pytorch', 'refocus_bench.metrics.perceptual', "
        "'refocus_bench.metrics.clip', 'refocus_bench.metrics.iqa_noncommercial', 'pyiqa') if k in sys.modules]; "
        "print(early, late); sys.exit(1 if early or late else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
