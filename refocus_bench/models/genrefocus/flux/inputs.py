"""How the released GenRefocus scripts prepare their inputs: sizes, 8-bit images, disparity, focus, K.

Facts of ``rayray9999/Genfocus`` (``54752a1``), re-implemented:

* Images are 8-bit RGB. A size that is not a multiple of 16 px is resized with PIL's LANCZOS to the
  next multiples of 16 (``resize_and_pad_image`` with ``long_side=0``); a pre-deblurred image is
  resized with LANCZOS to that size too. The output is the 8-bit image (``round(255 x)`` of the
  decoder output mapped to [0, 1]).
* Disparity is ``1 / depth`` in float32, where a depth <= 0 (or NaN) is invalid and becomes the
  largest float32, i.e. disparity ~ 0, like the sky. A depth map of another size is resized with
  OpenCV's bilinear ``INTER_LINEAR``: ``Inference_bokehNet.py`` resizes the *depth* before inverting
  it (``order="depth"``), the demo's refocus chain resizes the *disparity* (``order="disparity"``).
* The focus disparity is the disparity at one pixel (a point given on the input image, scaled to the
  processed size and truncated; the image centre by default) or ``np.median`` (the mean of the two
  middle values for an even count) of the disparities inside a mask resized with PIL's NEAREST
  (``> 0`` = inside; an empty mask falls back to the whole image).
* The BokehNet condition is ``clip(|K (disp - disp_focus)| / 100, 0, 1)`` in float32, repeated to three
  channels (:data:`refocus_bench.optics.GENREFOCUS_DEFOCUS_SCALE_PX`).

Shapes: images (1, 3, H, W) float sRGB in [0, 1]; 8-bit images (H, W, 3) uint8; depth and disparity
(H, W) float32 numpy arrays, metres and 1/m.

Example:
    >>> grid_size(30, 37, 16)
    (32, 48)
"""

from __future__ import annotations

import numpy as np
import torch

from ....optics import GENREFOCUS_DEFOCUS_SCALE_PX

__all__ = [
    "DISPARITY_ORDERS",
    "grid_size",
    "to_uint8",
    "from_uint8",
    "resize_image",
    "release_disparity",
    "focus_disparity",
    "defocus_condition",
]

DISPARITY_ORDERS = ("depth", "disparity")
"""What is resized to the image size: the depth (BokehNet script) or the disparity (demo chain)."""


def grid_size(h: int, w: int, multiple: int = 16) -> tuple[int, int]:
    """(H, W) rounded up to multiples of ``multiple`` px (the release's padded size)."""
    return -(-h // multiple) * multiple, -(-w // multiple) * multiple


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) float in [0, 1] -> (H, W, 3) uint8, ``round(255 x)`` (half to even, as numpy)."""
    q = (x[0].detach().float().clamp(0.0, 1.0) * 255).round().to(torch.uint8)
    return q.permute(1, 2, 0).cpu().numpy()


def from_uint8(a: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (1, 3, H, W) float32 ``a / 255`` (diffusers' ``pil_to_numpy``)."""
    return torch.from_numpy(np.array(a, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 255.0


def resize_image(x: torch.Tensor, size: tuple[int, int], eight_bit: bool) -> torch.Tensor:
    """Resize (1, 3, H, W) in [0, 1] to ``size`` = (H', W') with PIL's LANCZOS.

    ``eight_bit``: resize the 8-bit RGB image (the release); otherwise each channel as float32.
    The same size returns ``x`` unchanged.
    """
    from PIL import Image

    if tuple(x.shape[-2:]) == tuple(size):
        return x
    h, w = size
    if eight_bit:
        img = Image.fromarray(to_uint8(x), "RGB").resize((w, h), Image.LANCZOS)
        return from_uint8(np.asarray(img)).to(x.device)
    chans = [
        np.asarray(Image.fromarray(c.astype(np.float32), "F").resize((w, h), Image.LANCZOS))
        for c in x[0].detach().float().cpu().numpy()
    ]
    return torch.from_numpy(np.stack(chans))[None].to(device=x.device, dtype=x.dtype)


def _invert(depth: np.ndarray) -> np.ndarray:
    safe = np.where(depth > 0.0, depth, np.finfo(np.float32).max)
    return (1.0 / safe).astype(np.float32)


def release_disparity(depth_m: np.ndarray, size: tuple[int, int], order: str = "depth") -> np.ndarray:
    """Disparity (H, W) float32 in 1/m at ``size`` = (H, W) from a depth map (h, w) of any size.

    ``order``: ``"depth"`` resizes the depth, then inverts it; ``"disparity"`` inverts, then resizes.
    """
    import cv2

    h, w = size
    depth = np.ascontiguousarray(depth_m, dtype=np.float32)
    if order == "depth":
        return _invert(cv2.resize(depth, (w, h), interpolation=cv2.INTER_LINEAR))
    return cv2.resize(_invert(depth), (w, h), interpolation=cv2.INTER_LINEAR)


def focus_disparity(
    disp: np.ndarray,
    *,
    point: tuple[float, float] | None = None,
    input_size: tuple[int, int] | None = None,
    mask: np.ndarray | None = None,
) -> float:
    """The release's focus disparity (1/m) on a disparity map (H, W).

    Args:
        point: ``(x, y)`` in pixels of the input image of ``input_size`` = (h0, w0); scaled to (H, W)
            and truncated. Neither ``point`` nor ``mask``: the centre ``(W // 2, H // 2)``.
        mask: (hm, wm) uint8, ``> 0`` = inside, resized to (H, W) with PIL's NEAREST.
    """
    from PIL import Image

    h, w = disp.shape
    if mask is not None:
        m = np.asarray(Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8), "L").resize((w, h), Image.NEAREST))
        inside = disp[m > 0]
        return float(np.median(inside)) if inside.size else float(np.median(disp))
    if point is None:
        tx, ty = w // 2, h // 2
    else:
        h0, w0 = input_size or (h, w)
        tx = min(max(int(point[0] * (w / w0)), 0), w - 1)
        ty = min(max(int(point[1] * (h / h0)), 0), h - 1)
    return float(disp[ty, tx])


def defocus_condition(disp: np.ndarray, disp_focus: float, k: float) -> torch.Tensor:
    """BokehNet's condition (1, 3, H, W) float32 in [0, 1]: ``clip(|K (disp - disp_focus)| / 100, 0, 1)``."""
    defocus = np.abs(float(k) * (disp - np.float32(disp_focus)))  # a Python float K keeps float32
    t = torch.from_numpy(np.ascontiguousarray(defocus, dtype=np.float32))[None]
    return (t / GENREFOCUS_DEFOCUS_SCALE_PX).clamp(0, 1).repeat(3, 1, 1)[None]
