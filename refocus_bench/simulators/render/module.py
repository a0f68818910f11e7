"""``DefocusRenderer``: the renderers as a ``torch.nn.Module`` with a fixed aperture and settings.

Example:
    >>> r = DefocusRenderer("hexagon")
    >>> r(torch.rand(2, 3, 16, 16), coc_px=torch.full((2, 1, 16, 16), 2.5)).shape
    torch.Size([2, 3, 16, 16])
    >>> len(r.kernels) > 0  # kernels kept for the next call, on the input's device and dtype
    True
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ...optics import ThinLens
from .apertures import Aperture, make_aperture
from .config import RenderConfig
from .kernels import KernelCache
from .layered import render_layered
from .rgbd import render_bokeh

__all__ = ["DefocusRenderer"]


class DefocusRenderer(nn.Module):
    """Module twin of :func:`~refocus_bench.simulators.render.rgbd.render_bokeh` and
    :func:`~refocus_bench.simulators.render.layered.render_layered` that keeps its kernels between calls.

    The module has no parameters or buffers. It owns a
    :class:`~refocus_bench.simulators.render.kernels.KernelCache` (``self.kernels``): the kernels it
    has used, on the device and in the dtype of the inputs they were used with, so repeated renders
    on a GPU move no kernel from the CPU. Kernels follow the input, not the module; ``.to()``,
    ``.cuda()`` and ``.double()`` empty the cache. Outputs equal the functions' bit for bit.

    Args:
        aperture: aperture name, :class:`~refocus_bench.simulators.render.apertures.Aperture` or mask
            (fixed for the module).
        config: :class:`~refocus_bench.simulators.render.config.RenderConfig`.
    """

    def __init__(self, aperture: str | Aperture | torch.Tensor = "disk", config: RenderConfig | None = None) -> None:
        super().__init__()
        self.aperture = make_aperture(aperture)
        self.config = config or RenderConfig()
        self.kernels = KernelCache()

    def forward(
        self, image: torch.Tensor, depth_m: torch.Tensor | None = None, lens: ThinLens | None = None, **kwargs
    ) -> torch.Tensor:
        """:func:`~refocus_bench.simulators.render.rgbd.render_bokeh` with this module's aperture and
        settings; ``kwargs``: ``coc_px``, ``k_px_m``, ``focus_distance_m``."""
        return render_bokeh(
            image, depth_m, lens, aperture=self.aperture, config=self.config, kernels=self.kernels, **kwargs
        )

    def render_layered(self, layers: torch.Tensor, **kwargs) -> torch.Tensor:
        """:func:`~refocus_bench.simulators.render.layered.render_layered` with this module's aperture
        and settings; ``kwargs``: ``depth_m`` with ``lens``, or ``coc_px``."""
        return render_layered(layers, aperture=self.aperture, config=self.config, kernels=self.kernels, **kwargs)

    def _apply(self, fn: Callable, recurse: bool = True) -> DefocusRenderer:
        self.kernels.clear()
        return super()._apply(fn, recurse)

    def extra_repr(self) -> str:
        return f"aperture={self.aperture!r}, config={self.config}"
