"""``genrefocus.tiny``: a compact two-stage GenRefocus (DeblurNet + BokehNet) that runs anywhere.

The structure of GenRefocus (arXiv 2512.16923) at a size a 2-core CPU trains in under an hour:

1. DeblurNet (:class:`~.tiny_nets.TinyDeblurNet`): blurry sRGB -> all-in-focus sRGB, blind.
2. BokehNet (:class:`~.tiny_nets.TinyBokehNet`): AIF + GenRefocus defocus map
   ``clip(|K (1/z - 1/z_focus)| / 100, 0, 1)`` + signed CoC + an aperture-shape image -> bokeh.

``refocus`` runs both; with ``K = 0`` it returns the DeblurNet result, as the released model does.
Both networks are direct (one forward pass, no diffusion) and fuse physics-derived candidates
(Wiener deconvolutions; aperture-kernel blurs) starting from a closed-form blending prior, so the
small CPU training budget goes into corrections (occlusion edges, ringing, blur selection). The
weights ship in the package (``refocus_bench/data/weights``) as safetensors, pinned by sha256 on the
card; they were trained by ``scripts/train_tiny.py`` on simulator pairs (:mod:`.synthetic`), see
``reports/genrefocus_tiny``.

Example:
    >>> import torch
    >>> m = GenRefocusTiny(weights=None)  # random initialisation, for shape checks
    >>> m.deblur(torch.rand(1, 3, 32, 32)).shape
    torch.Size([1, 3, 32, 32])
"""

from __future__ import annotations

import json
import os
from typing import Any

import torch

from ...errors import check
from ...tasks import LensToLensCondition
from ..base import BokehRequest, ModelCard, RefocusModel, WeightsFile
from ..baselines.lens_cascade import lens_cascade
from ..weights import load_safetensors, resolve_weights
from .tiny_nets import TinyBokehNet, TinyDeblurNet, aperture_image

__all__ = ["GenRefocusTiny", "WEIGHTS", "ARCH"]

ARCH: dict[str, Any] = {
    "deblur_radii": [1.0, 1.5, 2.0, 3.0, 4.0, 5.5, 8.0, 12.0],
    "deblur_nsr": 3e-2,
    "deblur_fusion": "prior",
    "deblur_refine_widths": [24, 32, 48],
    "deblur_refine_residual": 0.0,
    "bokeh_radii": [0.0] + [2.0 ** (i / 4) for i in range(21)],  # 1 to 32 px, 2^(1/4) apart (v1: powers of 2)
    "aperture_px": 32,
    "widths": [24, 32, 48],
}
"""Architecture of the shipped weights (also stored in the safetensors metadata)."""

WEIGHTS = WeightsFile(
    filename="genrefocus_tiny_v2.safetensors",
    sha256="64b10e8af0a2237dbac1f03a3bf0a2364d1298bd7090535b870537d36e306dfd",
    location="package",
    source="python scripts/train_tiny.py (see reports/genrefocus_tiny/README.md)",
    licence="Apache-2.0",
    description="DeblurNet (prefix 'deblur.') and BokehNet (prefix 'bokeh.') float32 tensors",
)


def _file_arch(weights: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The architecture stored in a weights file's metadata (``arch``; keys of :data:`ARCH` only), or {}.

    Files written by ``scripts/train_tiny.py`` carry it, so earlier releases load by path alone.
    """
    if weights is None or (isinstance(weights, str) and weights == "default") or not os.path.isfile(weights):
        return {}
    from safetensors import safe_open

    with safe_open(os.fspath(weights), framework="pt") as f:
        meta = f.metadata() or {}
    return {k: v for k, v in json.loads(meta.get("arch", "{}")).items() if k in ARCH}


class GenRefocusTiny(RefocusModel):
    """Compact DeblurNet + BokehNet (candidate-fusion U-Nets).

    Args:
        weights: ``"default"`` (the shipped, sha256-pinned file), a path to a safetensors file
            written by ``scripts/train_tiny.py``, or ``None`` (random initialisation).
        arch: architecture overrides (keys of :data:`ARCH`); must match the weights. A weights path
            brings its own architecture (its metadata), which ``arch`` overrides.
    """

    card = ModelCard(
        name="genrefocus.tiny",
        tasks=("deblur", "bokeh", "refocus", "lens-to-lens"),
        summary="compact two-stage GenRefocus (DeblurNet + BokehNet) trained on simulator pairs; CPU-friendly",
        source="refocus-bench (scripts/train_tiny.py)",
        licence="Apache-2.0",
        paper="GenRefocus structure: Generative Refocusing, arXiv 2512.16923",
        input_contract="sRGB (B, 3, H, W), any size; depth (B, 1, H, W) metres; CoC up to ~32 px",
        weights=(WEIGHTS,),
    )

    def __init__(self, weights: str | os.PathLike[str] | None = "default", arch: dict[str, Any] | None = None) -> None:
        super().__init__()
        unknown = set(arch or {}) - set(ARCH)
        check(not unknown, lambda: f"unknown arch keys {sorted(unknown)}; known: {sorted(ARCH)}")
        self.arch = {**ARCH, **_file_arch(weights), **(arch or {})}
        a = self.arch
        self.deblur_net = TinyDeblurNet(
            tuple(a["deblur_radii"]),
            a["deblur_nsr"],
            tuple(a["widths"]),
            a["deblur_fusion"],
            tuple(a["deblur_refine_widths"]) if a["deblur_refine_widths"] else None,
            a["deblur_refine_residual"],
        )
        self.bokeh_net = TinyBokehNet(tuple(a["bokeh_radii"]), a["aperture_px"], tuple(a["widths"]))
        self.weights_path: str | None = None
        if weights is not None:
            self._load(weights)

    def _load(self, weights: str | os.PathLike[str]) -> None:
        default = isinstance(weights, str) and weights == "default"
        path = resolve_weights(WEIGHTS, None if default else weights, model=self.card.name)
        tensors = load_safetensors(path, WEIGHTS.sha256 if default else None, model=self.card.name)
        self.load_saved_state(tensors)
        self.weights_path = str(path)

    def config(self) -> dict:
        return {"weights": None, "arch": self.arch}

    @classmethod
    def dummy_kwargs(cls) -> dict:
        return {"weights": None}

    def state_to_save(self) -> dict[str, torch.Tensor]:
        out = {f"deblur.{k}": v.detach().contiguous() for k, v in self.deblur_net.state_dict().items()}
        out.update({f"bokeh.{k}": v.detach().contiguous() for k, v in self.bokeh_net.state_dict().items()})
        return out

    def load_saved_state(self, tensors: dict[str, torch.Tensor]) -> None:
        deb = {k[len("deblur.") :]: v for k, v in tensors.items() if k.startswith("deblur.")}
        bok = {k[len("bokeh.") :]: v for k, v in tensors.items() if k.startswith("bokeh.")}
        check(
            len(deb) + len(bok) == len(tensors), "genrefocus.tiny weights must use the prefixes 'deblur.' and 'bokeh.'"
        )
        self.deblur_net.load_state_dict(deb, strict=True)
        self.bokeh_net.load_state_dict(bok, strict=True)

    def metadata(self) -> dict[str, str]:
        """safetensors metadata written beside the tensors (the architecture as JSON)."""
        return {"arch": json.dumps(self.arch, sort_keys=True), "model": self.card.name}

    # -- tasks --------------------------------------------------------------------------------------
    def _deblur(self, image: torch.Tensor, coc_px: torch.Tensor | None) -> torch.Tensor:
        return self.deblur_net(image.float()).clamp(0.0, 1.0)

    def _bokeh(self, image: torch.Tensor, req: BokehRequest) -> torch.Tensor:
        img = image.float()
        ap_img = aperture_image(req.aperture, self.arch["aperture_px"]).to(img)
        out = self.bokeh_net(img, req.coc_px.to(img), req.defocus_map().to(img), req.aperture, ap_img).clamp(0.0, 1.0)
        sharp = (req.k_px_m == 0).to(img.device)[:, None, None, None]
        return torch.where(sharp, img, out)  # K = 0: nothing is blurred

    def _refocus(self, image: torch.Tensor, req: BokehRequest, input_coc_px: torch.Tensor | None) -> torch.Tensor:
        return self._bokeh(self._deblur(image, input_coc_px), req)

    def _lens_to_lens(self, image: torch.Tensor, cond: LensToLensCondition) -> torch.Tensor:
        """DeblurNet then BokehNet through the lens cascade (:mod:`refocus_bench.models.baselines.lens_cascade`)."""
        return lens_cascade(image, cond, deblur=self._deblur, bokeh=self._bokeh)
