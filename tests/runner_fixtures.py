"""Tiny benchmarks and models for the runner tests (importable by worker processes and Ray actors).

* :class:`TinyDeblurBench`: ``n`` 32x32 deblur samples (a box-blurred random texture -> the texture),
  with the input CoC as ``coc_px``; ``blank`` makes one sample's input all zeros (see FailingModel).
* :class:`TinyBokehBench`: ``n`` 32x32 bokeh samples rendered by ``bokeh.gaussian`` at K = 6 px*m,
  with a protocol given by the caller (direct, oracle_blur_strength, lvcorr_sweep).
* :class:`NoTargetBench`: deblur samples without targets (for no-reference checks).
* :class:`FailingModel`: identity that raises on an all-zero input; :class:`SlowModel`: a 3x3 box
  filter that sleeps ``delay`` s and appends the sample's mean to ``log`` (to count calls).
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F

from refocus_bench.benchmarks.base import Benchmark, BenchmarkSample, BenchmarkSpec
from refocus_bench.models.base import BokehRequest, ModelCard, RefocusModel

SIZE = 32


def _texture(i: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(1000 + i)
    x = torch.rand(1, 3, SIZE // 4, SIZE // 4, generator=g)
    return F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False).clamp(0, 1)


def _box(x: torch.Tensor, r: int = 1) -> torch.Tensor:
    k = 2 * r + 1
    return F.avg_pool2d(F.pad(x, (r, r, r, r), mode="replicate"), k, stride=1)


class TinyDeblurBench(Benchmark):
    def __init__(self, n: int = 6, blank: int | None = None, name: str = "tiny-deblur", target: bool = True) -> None:
        self.n, self.blank, self.target = n, blank, target
        self.spec = BenchmarkSpec(
            name=name,
            version="1",
            task="deblur",
            description="tiny test deblur benchmark",
            headline_metric="psnr.rgb",
            metrics=("psnr.rgb", "ssim.rgb", "mae.rgb"),
            source={"kind": "generated", "seed": 0},
            subsets=("group",),
        )

    def sample_ids(self) -> list[str]:
        return [f"s{i:03d}" for i in range(self.n)]

    def load(self, sample_id: str) -> BenchmarkSample:
        i = int(sample_id[1:])
        sharp = _texture(i)
        blurry = torch.zeros_like(sharp) if i == self.blank else _box(sharp)
        coc = torch.full((1, 1, SIZE, SIZE), 1.0)
        return BenchmarkSample(
            sample_id,
            blurry,
            sharp if self.target else None,
            {"coc_px": coc},
            {"group": "even" if i % 2 == 0 else "odd"},
        )


class NoTargetBench(TinyDeblurBench):
    def __init__(self, n: int = 3) -> None:
        super().__init__(n, target=False, name="tiny-no-target")


class TinyBokehBench(Benchmark):
    def __init__(
        self,
        n: int = 4,
        protocol: dict[str, Any] | None = None,
        metrics: tuple[str, ...] = ("ssim.rgb", "psnr.rgb"),
        name: str = "tiny-bokeh",
    ) -> None:
        self.n = n
        self.spec = BenchmarkSpec(
            name=name,
            version="1",
            task="bokeh",
            description="tiny test bokeh benchmark",
            headline_metric=metrics[0],
            metrics=metrics,
            source={"kind": "generated", "seed": 0},
            protocol=protocol or {"name": "direct"},
        )

    def sample_ids(self) -> list[str]:
        return [f"b{i:02d}" for i in range(self.n)]

    def load(self, sample_id: str) -> BenchmarkSample:
        from refocus_bench.models.baselines.bokeh import GaussianBokeh

        i = int(sample_id[1:])
        aif = _texture(50 + i)
        depth = torch.linspace(1.0, 4.0, SIZE).view(1, 1, 1, SIZE).expand(1, 1, SIZE, SIZE).contiguous()
        cond = {"depth_m": depth, "focus_distance_m": 1.0, "k_px_m": 6.0, "aperture": "disk"}
        target = GaussianBokeh().bokeh(aif, depth, focus_distance_m=1.0, k_px_m=6.0)
        return BenchmarkSample(sample_id, aif, target, cond, {})


_CARD = dict(source="tests", licence="Apache-2.0", paper="", input_contract="any size")


class FailingModel(RefocusModel):
    """Identity, but raises on an all-zero input."""

    card = ModelCard(name="test.failing", tasks=("deblur",), summary="raises on blank inputs", **_CARD)

    def _deblur(self, image: torch.Tensor, coc_px: torch.Tensor | None) -> torch.Tensor:
        if float(image.abs().max()) == 0.0:
            raise RuntimeError("blank input\nsecond line of the message")
        return image.clone()


class SlowModel(RefocusModel):
    """3x3 box filter after ``delay`` seconds; appends one line per call to the file ``log``."""

    card = ModelCard(name="test.slow", tasks=("deblur",), summary="slow box filter", **_CARD)

    def __init__(self, delay: float = 0.0, log: str | None = None) -> None:
        super().__init__()
        self.delay, self.log = float(delay), log

    def config(self) -> dict:
        return {}  # the delay and the log do not change the outputs (a killed slow run resumes fast)

    def _deblur(self, image: torch.Tensor, coc_px: torch.Tensor | None) -> torch.Tensor:
        if self.delay:
            time.sleep(self.delay)
        if self.log:
            with open(self.log, "a") as fh:
                fh.write(f"{float(image.mean()):.6f}\n")
        return _box(image)


class NoisyModel(RefocusModel):
    """Adds seeded noise (torch's global RNG): results must still match across executors. Raises on a
    blank input, like :class:`FailingModel`."""

    card = ModelCard(name="test.noisy", tasks=("deblur",), summary="adds random noise", **_CARD)

    def _deblur(self, image: torch.Tensor, coc_px: torch.Tensor | None) -> torch.Tensor:
        if float(image.abs().max()) == 0.0:
            raise RuntimeError("blank input")
        return (image + 0.05 * torch.randn_like(image)).clamp(0, 1)


class BokehOnlyIdentity(RefocusModel):
    card = ModelCard(name="test.bokeh_only", tasks=("bokeh",), summary="identity, bokeh only", **_CARD)

    def _bokeh(self, image: torch.Tensor, req: BokehRequest) -> torch.Tensor:
        return image.clone()


class PerfBench(TinyDeblurBench):
    """``n`` deblur samples of ``size`` px (box-blurred textures, radius 2) for the runner's performance suite."""

    def __init__(self, n: int = 32, size: int = 128) -> None:
        super().__init__(n, name="perf-deblur")
        self.size = size

    def load(self, sample_id: str) -> BenchmarkSample:
        i = int(sample_id[1:])
        g = torch.Generator().manual_seed(5000 + i)
        x = torch.rand(1, 3, self.size // 8, self.size // 8, generator=g)
        sharp = F.interpolate(x, size=(self.size, self.size), mode="bicubic", align_corners=False).clamp(0, 1)
        return BenchmarkSample(sample_id, _box(sharp, 2), sharp, {}, {"group": "even" if i % 2 == 0 else "odd"})
