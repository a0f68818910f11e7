"""The render engine: thin-lens defocus blur (bokeh) of RGB-D images and layered scenes.

Public API (imported lazily: ``import refocus_bench.simulators.render`` loads no submodule)::

    >>> import torch
    >>> from refocus_bench.simulators.render import RenderConfig, render_bokeh
    >>> image = torch.rand(1, 3, 16, 16)
    >>> render_bokeh(image, coc_px=torch.full((1, 1, 16, 16), 3.0), config=RenderConfig()).shape
    torch.Size([1, 3, 16, 16])

Files, one concept each: ``rgbd`` (:func:`render_bokeh`), ``layered`` (:func:`render_layered`),
``module`` (:class:`DefocusRenderer`), ``blur_spec`` (the blur specification, :func:`resolve_coc`),
``config`` (:class:`RenderConfig`), ``apertures``, ``kernels`` (the kernel cache), ``convolution``,
``compositing``, ``soft_layers``, ``disocclusion``, ``subaperture``, ``colour``, ``scratch``, and the
baselines and tools around the engine: ``scatter``, ``reference``, ``scenes``, ``fidelity``, ``cli``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...lazy import lazy_exports

__all__ = [
    "render_bokeh",
    "render_layered",
    "render_scatter",
    "render_reference",
    "DefocusRenderer",
    "RenderConfig",
    "resolve_coc",
    "BlurSpec",
    "resolve_blur_spec",
    "KernelCache",
    "make_aperture",
    "list_apertures",
    "Aperture",
    "Disk",
    "Polygon",
    "Annulus",
    "Anamorphic",
    "Raster",
    "CatsEye",
]

_HOMES = {
    "render_bokeh": "rgbd",
    "render_layered": "layered",
    "render_scatter": "scatter",
    "render_reference": "reference",
    "DefocusRenderer": "module",
    "RenderConfig": "config",
    "resolve_coc": "blur_spec",
    "BlurSpec": "blur_spec",
    "resolve_blur_spec": "blur_spec",
    "KernelCache": "kernels",
    "make_aperture": "apertures",
    "list_apertures": "apertures",
    "Aperture": "apertures",
    "Disk": "apertures",
    "Polygon": "apertures",
    "Annulus": "apertures",
    "Anamorphic": "apertures",
    "Raster": "apertures",
    "CatsEye": "apertures",
}
"""The submodule that defines each public name."""

if TYPE_CHECKING:
    from .apertures import Anamorphic, Annulus, Aperture, CatsEye, Disk, Polygon, Raster, list_apertures, make_aperture
    from .blur_spec import BlurSpec, resolve_blur_spec, resolve_coc
    from .config import RenderConfig
    from .kernels import KernelCache
    from .layered import render_layered
    from .module import DefocusRenderer
    from .reference import render_reference
    from .rgbd import render_bokeh
    from .scatter import render_scatter


__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
