"""The blur specification: how much defocus each pixel gets, checked and resolved in one place.

A blur is given in exactly one of three forms (:data:`BLUR_FORMS`):

* ``coc_px``: a signed circle-of-confusion radius map in pixels, (B, 1, H, W), positive behind the
  focus plane;
* ``lens``: ``depth_m`` (B, 1, H, W) metres + a :class:`~refocus_bench.optics.ThinLens` (physical
  units; its sensor width spans the image width W);
* ``k_px_m``: ``depth_m`` + the GenRefocus/BokehMe blur gain ``K`` in pixel-metres + ``focus_distance_m``
  (``coc = K (1/s - 1/z)``, :func:`refocus_bench.optics.coc_radius_from_k`); both scalars or (B,).

:func:`resolve_blur_spec` checks a specification against the image and returns a :class:`BlurSpec`;
the renderers take its CoC map (:func:`resolve_coc`), the models its per-sample ``K`` and focus
distance (:func:`make_bokeh_request` -> :class:`BokehRequest`).

Example:
    >>> import torch
    >>> from refocus_bench.optics import ThinLens
    >>> image, depth = torch.rand(1, 3, 8, 8), torch.full((1, 1, 8, 8), 4.0)
    >>> spec = resolve_blur_spec(image, depth, ThinLens(50.0, 2.0, 2.0, 36.0))
    >>> spec.form, spec.coc_map(torch.float32).shape
    ('lens', torch.Size([1, 1, 8, 8]))
    >>> make_bokeh_request(image, depth, k_px_m=10.0, focus_distance_m=2.0).coc_px[0, 0, 0, 0].item()
    2.5
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ... import optics
from ...errors import as_batch_param, check, check_tensor
from ...optics import ThinLens
from .apertures import Aperture, make_aperture

__all__ = ["BLUR_FORMS", "BlurSpec", "resolve_blur_spec", "resolve_coc", "BokehRequest", "make_bokeh_request"]

BLUR_FORMS = {
    "coc_px": "coc_px (signed CoC map, px)",
    "k_px_m": "k_px_m (pixel-metres, with depth_m and focus_distance_m)",
    "lens": "lens=ThinLens(...) (with depth_m)",
}
"""The blur forms and how an error message names them."""

_DEPTH_HINT = "(B, 1, H, W) metres (estimate it with refocus_bench.models.depth)"


@dataclass(frozen=True)
class BlurSpec:
    """A checked blur specification for a batch of B images of H x W pixels.

    Attributes:
        form: "coc_px", "lens" or "k_px_m" (see :data:`BLUR_FORMS`).
        width_px: the image width W (the lens's sensor width spans it).
        coc_px: (B, 1, H, W) signed CoC in px (form "coc_px").
        depth_m: (B, 1, H, W) metres, > 0, ``inf`` allowed (forms "lens" and "k_px_m").
        lens: the thin lens (form "lens").
        k_px_m, focus_distance_m: as given, scalar or (B,) (form "k_px_m").
        gain_px_m, focus_m: (B,) float64 on the image's device: ``K`` and the focus distance of each
            sample (forms "lens" and "k_px_m"; for a lens, ``lens.k_px_m(W)`` and its focus distance).
    """

    form: str
    width_px: int
    coc_px: torch.Tensor | None = None
    depth_m: torch.Tensor | None = None
    lens: ThinLens | None = None
    k_px_m: float | torch.Tensor | None = None
    focus_distance_m: float | torch.Tensor | None = None
    gain_px_m: torch.Tensor | None = None
    focus_m: torch.Tensor | None = None

    def coc_map(self, dtype: torch.dtype) -> torch.Tensor:
        """The signed CoC map (B, 1, H, W) in pixels, in ``dtype``."""
        if self.form == "coc_px":
            return self.coc_px.to(dtype)
        if self.form == "lens":
            return self.lens.coc_radius_px(self.depth_m, image_width_px=self.width_px).to(dtype)
        return optics.coc_radius_from_k(self.depth_m, self.k_px_m, self.focus_distance_m).to(dtype)


def _chosen_form(
    forms: tuple[str, ...], coc_px: object, lens: object, k_px_m: object, depth_m: object
) -> tuple[str, ...]:
    """The forms whose defining argument was given (``coc_px``, ``lens`` or ``k_px_m``)."""
    given = {"coc_px": coc_px is not None, "k_px_m": k_px_m is not None, "lens": lens is not None}
    chosen = tuple(f for f in forms if given[f])
    options = " or ".join(BLUR_FORMS[f] for f in forms)
    check(len(chosen) == 1, lambda: f"give the blur as exactly one of {options}; got {list(chosen) or 'none'}")
    return chosen


def _check_depth(depth_m: torch.Tensor | None, form: str, b: int, h: int, w: int, device: torch.device) -> None:
    check(depth_m is not None, lambda: f"depth_m is required with {form}: {_DEPTH_HINT}")
    check_tensor(depth_m, "depth_m", [b, 1, h, w], allow_inf=True, device=device)
    check(
        bool((depth_m > 0).all()),
        lambda: f"depth_m must be > 0 m (inf allowed for sky), got minimum {float(depth_m.min()):g}",
    )


def _lens_gain(lens: ThinLens, focus_distance_m: object, b: int, w: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, focus) per sample, (B,) float64, of a lens."""
    check(isinstance(lens, ThinLens), lambda: f"lens must be a ThinLens, got {type(lens).__name__}")
    check(
        focus_distance_m is None,
        "with lens=..., the focus distance is lens.focus_distance_m; do not pass focus_distance_m",
    )
    k = as_batch_param(lens.k_px_m(w), "lens K", b, device, torch.float64)
    s = as_batch_param(lens.focus_distance_m, "lens.focus_distance_m", b, device, torch.float64)
    return k, s


def _k_gain(k_px_m: object, focus_distance_m: object, b: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(K, focus) per sample, (B,) float64, of a blur gain and a focus distance."""
    check(
        focus_distance_m is not None,
        "k_px_m needs focus_distance_m (the focus plane depth in metres, e.g. from refocus_bench.models.focus)",
    )
    k = as_batch_param(k_px_m, "k_px_m", b, device, torch.float64)
    s = as_batch_param(focus_distance_m, "focus_distance_m", b, device, torch.float64)
    check(
        bool(torch.isfinite(k).all() and (k >= 0).all()),
        lambda: f"k_px_m must be finite and >= 0 px*m, got {k.tolist()}",
    )
    check(
        bool(torch.isfinite(s).all() and (s > 0).all()),
        lambda: f"focus_distance_m must be finite and > 0 m, got {s.tolist()}",
    )
    return k, s


def resolve_blur_spec(
    image: torch.Tensor,
    depth_m: torch.Tensor | None = None,
    lens: ThinLens | None = None,
    *,
    coc_px: torch.Tensor | None = None,
    k_px_m: float | torch.Tensor | None = None,
    focus_distance_m: float | torch.Tensor | None = None,
    forms: tuple[str, ...] = ("coc_px", "k_px_m", "lens"),
) -> BlurSpec:
    """Check a blur specification against ``image`` (sRGB (B, 3, H, W) in [0, 1]) and resolve it.

    Exactly one of ``coc_px``, ``lens`` or ``k_px_m`` must be given (among the accepted ``forms``);
    tensors must be on the image's device. Raises :class:`~refocus_bench.errors.InvalidInputError`
    with a message naming the offending argument.
    """
    sizes = check_tensor(image, "image", ["B", 3, "H", "W"], min_value=0.0, max_value=1.0)
    b, h, w = sizes["B"], sizes["H"], sizes["W"]
    (form,) = _chosen_form(forms, coc_px, lens, k_px_m, depth_m)
    if form == "coc_px":
        check(depth_m is None, "coc_px cannot be combined with depth_m, lens or k_px_m")
        check_tensor(coc_px, "coc_px", [b, 1, h, w], device=image.device)
        return BlurSpec("coc_px", w, coc_px=coc_px)
    _check_depth(depth_m, BLUR_FORMS[form], b, h, w, image.device)
    if form == "lens":
        k, s = _lens_gain(lens, focus_distance_m, b, w, image.device)
    else:
        k, s = _k_gain(k_px_m, focus_distance_m, b, image.device)
    return BlurSpec(form, w, None, depth_m, lens, k_px_m, focus_distance_m, k, s)


def resolve_coc(
    image: torch.Tensor,
    depth_m: torch.Tensor | None = None,
    lens: ThinLens | None = None,
    *,
    coc_px: torch.Tensor | None = None,
    k_px_m: float | torch.Tensor | None = None,
    focus_distance_m: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """The signed CoC map (B, 1, H, W) in pixels, in the image's dtype, from exactly one blur form."""
    spec = resolve_blur_spec(image, depth_m, lens, coc_px=coc_px, k_px_m=k_px_m, focus_distance_m=focus_distance_m)
    return spec.coc_map(image.dtype)


@dataclass(frozen=True)
class BokehRequest:
    """A checked bokeh specification for the models, one value per sample.

    Attributes:
        depth_m: (B, 1, H, W) metres, > 0, ``inf`` allowed.
        focus_distance_m: (B,) metres.
        k_px_m: (B,) blur gain in pixel-metres (>= 0; 0 = everything sharp).
        aperture: the aperture shape.
    """

    depth_m: torch.Tensor
    focus_distance_m: torch.Tensor
    k_px_m: torch.Tensor
    aperture: Aperture

    @property
    def coc_px(self) -> torch.Tensor:
        """Signed CoC radius (B, 1, H, W) in pixels, float32, positive behind the focus plane."""
        return optics.coc_radius_from_k(self.depth_m, self.k_px_m, self.focus_distance_m).to(torch.float32)

    def defocus_map(self) -> torch.Tensor:
        """GenRefocus's condition ``clip(|K (1/z - 1/z_focus)| / 100, 0, 1)``, (B, 1, H, W)."""
        return optics.genrefocus_defocus_map(self.depth_m, self.k_px_m, self.focus_distance_m).to(torch.float32)

    def select(self, i: int) -> BokehRequest:
        """The request of sample ``i`` as a batch of one."""
        return BokehRequest(
            self.depth_m[i : i + 1], self.focus_distance_m[i : i + 1], self.k_px_m[i : i + 1], self.aperture
        )


def make_bokeh_request(
    image: torch.Tensor,
    depth_m: torch.Tensor,
    *,
    focus_distance_m: float | torch.Tensor | None = None,
    k_px_m: float | torch.Tensor | None = None,
    lens: ThinLens | None = None,
    aperture: str | Aperture | torch.Tensor = "disk",
) -> BokehRequest:
    """Validate a bokeh specification against ``image`` and resolve it to per-sample ``K``.

    Give the blur strength either as ``k_px_m`` (with ``focus_distance_m``) or as a ``lens``
    (whose focus distance is used; its sensor width spans the image width). The checks are those
    of :func:`resolve_blur_spec` with the forms "k_px_m" and "lens".
    """
    spec = resolve_blur_spec(
        image, depth_m, lens, k_px_m=k_px_m, focus_distance_m=focus_distance_m, forms=("k_px_m", "lens")
    )
    return BokehRequest(spec.depth_m, spec.focus_m, spec.gain_px_m, make_aperture(aperture))
