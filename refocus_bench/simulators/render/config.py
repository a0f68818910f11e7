"""Settings of the layered renderer and the resolution rule of its reduced-resolution layers.

:class:`RenderConfig` holds every quality/speed setting (layer spacing, multi-resolution, convolution
backend, highlights, chromatic aberration, tiling, sub-aperture splits); :func:`layer_scale` and
:func:`reduced_radius` say at which power-of-two reduced resolution a layer of a given CoC radius is
blurred, and with which kernel radius there.

Example:
    >>> config = RenderConfig().for_input(layered=False)
    >>> config.coarse_radius_px, layer_scale(5.0, config.coarse_radius_px), layer_scale(12.0, config.coarse_radius_px)
    (3.0, 1, 4)
    >>> round(reduced_radius(12.0, 4), 3)
    2.904
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ...errors import check
from .apertures import Aperture, CatsEye

__all__ = [
    "RenderConfig",
    "RGBD_FIDELITY",
    "RGBD_PLANES",
    "LAYERED_EXACT",
    "APERTURE_SPLITS",
    "BACKENDS",
    "layer_scale",
    "reduced_radius",
    "REDUCED_RADIUS_SHRINK",
    "COARSE_RADIUS_RGBD_PX",
    "COARSE_RADIUS_LAYERED_PX",
]

COARSE_RADIUS_RGBD_PX = 3.0
"""Automatic ``coarse_radius_px`` of RGB-D input: reduced resolution from a CoC of 6 px (the speed the RGB-D
benchmarks of docs/performance.md are measured at)."""

COARSE_RADIUS_LAYERED_PX = 4.0
"""Automatic ``coarse_radius_px`` of layered scenes: reduced resolution from 8 px, which keeps the dead-leaves
fidelity scene above 46 dB whole / 44 dB in the occlusion band at about the time of a plain per-layer FFT
(docs/performance.md, "Layered scenes against a plain per-layer FFT")."""

BACKENDS = {"auto", "spatial", "fft", "direct"}
"""Convolution backends of :class:`RenderConfig` (see its ``backend`` attribute)."""

APERTURE_SPLITS = (None, 1, 2, 4, 6, 8)
"""Values of :class:`RenderConfig`'s ``aperture_splits`` (4 and up: the exact mode's footprint cells)."""


@dataclass(frozen=True)
class RenderConfig:
    """Quality/speed settings of the layered renderer (all radii in pixels).

    Attributes:
        min_layer_step_px: largest spacing of RGB-D depth layers near the focus plane (px of CoC).
        rel_layer_step: spacing of RGB-D layers far from focus, relative to the radius
            (0.35 = one layer every 35% of CoC growth). Pixels between two layers are split between
            them linearly, so radii are never rounded; a point light between two layers is drawn as
            the mix of the two discs (its RMS radius stays within ~0.45 px of the true one from
            1 to 16 px). With the defaults (2 px, 0.35) the 1024x1024 benchmark scene renders ~11x
            faster than the scatter baseline; (1 px, 0.2) halves the spacing for ~1.6x the time,
            with the same fidelity against the reference (docs/performance.md, "Fidelity").
        coarse_radius_px: layers with |CoC| >= 2x this are rendered at reduced resolution, keeping
            the reduced kernel radius in [coarse, 2 coarse). ``inf`` renders everything at full size.
            None = automatic (:meth:`for_input`): :data:`COARSE_RADIUS_RGBD_PX` for RGB-D input,
            :data:`COARSE_RADIUS_LAYERED_PX` for layered scenes.
        backend: "spatial" (kornia ``filter2d``), "fft" (kornia ``fft_conv``), "direct" (channels-last
            depthwise ``conv2d``, same result as ``filter2d``, ~10x faster on CPU) or "auto": the FFT
            for kernels at least ``fft_min_kernel_px`` wide, else "direct" on CPU and "spatial" on GPU.
        fft_min_kernel_px: in "auto", kernels at least this wide use the FFT.
        highlight_gain: >1 boosts clipped highlights in linear light before blurring (off = 1).
        highlight_threshold: sRGB value above which a pixel counts as (partly) clipped.
        chromatic_scale: per-channel CoC multipliers (R, G, B) for longitudinal chromatic
            aberration, e.g. (1.03, 1.0, 0.97); None = achromatic.
        cats_eye_zones: for a :class:`CatsEye` aperture, the image is covered by this many zones per
            axis, each with its own kernel, blended bilinearly.
        fill_disocclusions: RGB-D input only: extend each depth layer behind the layers in front
            of it (local mean colour) so a blurred foreground reveals plausible background.
        group_tolerance_px, group_tolerance_rel: layered scenes only: consecutive planes whose radii
            differ by at most max(px, rel * |r|) (and have the same sign) are composited sharp and
            blurred each at its own radius (exact for equal radii); 0 disables grouping.
        tile_px: RGB-D images larger than this are rendered in tiles of this size (with a halo
            covering every blur), which bounds peak memory; cat's-eye apertures are not tiled.
        aperture_splits: 2 renders the four quadrants of the aperture separately and sums them (see
            :mod:`~refocus_bench.simulators.render.subaperture`): more exact occlusion between defocused
            layers, 4x the cost; 1 renders the whole aperture at once; 4, 6 or 8 split it into n x n
            cells integrated over each pixel's footprint (the exact mode, :data:`LAYERED_EXACT`), n^2
            the cost. None = automatic: 2 for layered scenes
            (:func:`~refocus_bench.simulators.render.layered.render_layered`, where hidden content is known
            and occlusion order is the remaining error), 1 for RGB-D input and cat's-eye apertures.
        occlusion_gap_px, occlusion_gap_rel: RGB-D input only: a depth layer occludes (attenuates, and
            is filled behind) only the layers whose CoC is larger than its own by more than
            ``max(occlusion_gap_px, occlusion_gap_rel * max(|r_front|, |r_back|))``; closer layers add up
            as one surface. Soft layers near in depth share the pixels of one receding surface, which
            "over" compositing would darken and mix. 0, 0 (default): every farther layer is occluded.
            (2, 0.5) is :data:`RGBD_FIDELITY`'s choice (docs/performance.md, "Fidelity").
        fill_nearest_colour: RGB-D input only: the disocclusion fill takes its colour from the nearest part
            of the layer that is visible (the smallest window around a hidden pixel with enough of it)
            instead of its mean over the whole reach of the fill.
        rgbd_planes: RGB-D input only: cut the image into opaque planes (hard layers at the layer spacing
            above, depth-edge colours taken from each plane's interior, hidden content from the nearest
            visible pixel; :mod:`~refocus_bench.simulators.render.rgbd_planes`) and render them with the
            layered-scene engine (sub-aperture split included) instead of soft layers. The occlusion gap
            applies to the planes; ``fill_nearest_colour`` does not. :data:`RGBD_PLANES`.
    """

    min_layer_step_px: float = 2.0
    rel_layer_step: float = 0.35
    coarse_radius_px: float | None = None
    backend: str = "auto"
    fft_min_kernel_px: int = 17
    highlight_gain: float = 1.0
    highlight_threshold: float = 0.95
    chromatic_scale: tuple[float, float, float] | None = None
    cats_eye_zones: int = 5
    fill_disocclusions: bool = True
    tile_px: int = 1024
    group_tolerance_px: float = 1.0
    group_tolerance_rel: float = 0.1
    aperture_splits: int | None = None
    occlusion_gap_px: float = 0.0
    occlusion_gap_rel: float = 0.0
    fill_nearest_colour: bool = False
    rgbd_planes: bool = False

    def __post_init__(self) -> None:
        check(self.min_layer_step_px > 0, lambda: f"min_layer_step_px must be > 0 px, got {self.min_layer_step_px}")
        check(0 < self.rel_layer_step < 1, lambda: f"rel_layer_step must be in (0, 1), got {self.rel_layer_step}")
        check(
            self.coarse_radius_px is None or self.coarse_radius_px >= 2,
            lambda: f"coarse_radius_px must be >= 2 px (or inf), got {self.coarse_radius_px}",
        )
        check(self.backend in BACKENDS, lambda: f"backend must be one of {sorted(BACKENDS)}, got {self.backend!r}")
        check(self.highlight_gain >= 1, lambda: f"highlight_gain must be >= 1 (1 = off), got {self.highlight_gain}")
        check(
            0 < self.highlight_threshold < 1,
            lambda: f"highlight_threshold must be in (0, 1), got {self.highlight_threshold}",
        )
        if self.chromatic_scale is not None:
            cs = tuple(self.chromatic_scale)
            check(
                len(cs) == 3 and all(0.5 <= c <= 2 for c in cs),
                lambda: f"chromatic_scale must be 3 values in [0.5, 2], got {cs}",
            )
        check(isinstance(self.cats_eye_zones, int) and self.cats_eye_zones >= 1, "cats_eye_zones must be an int >= 1")
        check(
            isinstance(self.tile_px, int) and self.tile_px >= 64,
            lambda: f"tile_px must be an int >= 64, got {self.tile_px!r}",
        )
        check(
            self.occlusion_gap_px >= 0 and 0 <= self.occlusion_gap_rel < 2,
            lambda: f"occlusion_gap_px must be >= 0 and occlusion_gap_rel in [0, 2), got "
            f"{self.occlusion_gap_px}, {self.occlusion_gap_rel}",
        )
        check(
            self.aperture_splits in APERTURE_SPLITS and not isinstance(self.aperture_splits, bool),
            lambda: f"aperture_splits must be None (automatic), 1, 2, 4, 6 or 8, got {self.aperture_splits!r}",
        )

    def for_input(self, layered: bool, aperture: Aperture | None = None) -> RenderConfig:
        """These settings with the automatic ``coarse_radius_px`` (None) resolved for RGB-D input or layered
        scenes, raised to ``aperture``'s :attr:`~refocus_bench.simulators.render.apertures.Aperture.coarse_floor_px`
        where that is larger. An explicit ``coarse_radius_px`` is kept as it is."""
        if self.coarse_radius_px is not None:
            return self
        auto = COARSE_RADIUS_LAYERED_PX if layered else COARSE_RADIUS_RGBD_PX
        floor = aperture.coarse_floor_px if aperture is not None else 0.0
        return replace(self, coarse_radius_px=max(auto, floor))

    def splits_for(self, aperture: Aperture, layered: bool) -> int:
        """Sub-aperture grid size to use: ``aperture_splits`` or the automatic choice."""
        if self.aperture_splits is None:
            return 2 if layered and not isinstance(aperture, CatsEye) else 1
        check(
            self.aperture_splits == 1 or not isinstance(aperture, CatsEye),
            "aperture_splits > 1 is not supported with a cat's-eye aperture (its kernel varies over the image)",
        )
        return self.aperture_splits


def layer_scale(coc_px: float, coarse_radius_px: float) -> int:
    """Power-of-two downsampling factor for a layer of radius ``|coc_px|``."""
    r = abs(coc_px)
    if not math.isfinite(coarse_radius_px) or r < 2 * coarse_radius_px:
        return 1
    return 2 ** int(math.floor(math.log2(r / coarse_radius_px)))


REDUCED_RADIUS_SHRINK = 0.35
"""Fraction of the resampling blur taken off a reduced-resolution kernel's radius (see below)."""


def reduced_radius(coc_px: float, scale: int) -> float:
    """Radius (reduced px) of the kernel that stands for ``coc_px`` at ``scale`` times less resolution.

    Area-downsampling by ``s``, bilinear upsampling and the coarser kernel footprint together add a
    per-axis variance of about (5 s^2 - 2) / 12 px^2, which softens the disc's edge. Taking all of it
    off the radius (a disk of radius R has variance R^2 / 4) matches the blur's second moment but
    moves the half-intensity edge of a bokeh disc inwards by ~0.8 px; taking none leaves it ~0.5 px
    outside. ``REDUCED_RADIUS_SHRINK`` = 0.35 of it keeps the edge within ~0.5 px (measured at 5 to
    20 px) and scores best against the reference on the fidelity scenes.
    """
    if scale == 1:
        return abs(coc_px)
    r2 = coc_px * coc_px - REDUCED_RADIUS_SHRINK * ((5.0 / 3.0) * scale * scale - 2.0 / 3.0)
    return math.sqrt(max(r2, (0.5 * coc_px) ** 2)) / scale


RGBD_FIDELITY = RenderConfig(
    min_layer_step_px=0.5,
    rel_layer_step=0.1,
    coarse_radius_px=8.0,
    occlusion_gap_px=2.0,
    occlusion_gap_rel=0.5,
    fill_nearest_colour=True,
)
"""RGB-D settings for fidelity over speed: the layer spacing and resolution of ``bokeh.layered``'s settings
(layers every 0.5 px / 10% of CoC, full resolution up to 16 px), soft layers within ``max(2 px, 50%)`` of each
other's CoC not occluding each other, and the disocclusion fill coloured from the nearest visible part of each
layer. Against the reference it is better than ``RenderConfig()`` on every fidelity scene, by 7-9 dB on smooth
depth (docs/performance.md, "Fidelity"), at the cost of those layer settings: about 10-20x the default's time at
1024x1024 with CoC up to 32 px. The gap and the nearest-colour fill alone (``RenderConfig(occlusion_gap_px=2,
occlusion_gap_rel=0.5, fill_nearest_colour=True)``) cost no more than the default and gain 4 dB on the slanted
plane."""


RGBD_PLANES = RenderConfig(
    min_layer_step_px=0.25,
    rel_layer_step=0.05,
    coarse_radius_px=8.0,
    occlusion_gap_px=2.0,
    occlusion_gap_rel=0.5,
    rgbd_planes=True,
)
"""RGB-D as opaque planes (``rgbd_planes=True``, :mod:`~refocus_bench.simulators.render.rgbd_planes`): planes every
0.25 px / 5% of CoC, full resolution up to 16 px, planes within ``max(2 px, 50%)`` of each other's CoC adding up as
one surface, hidden content the harmonic extension of each plane's visible colours. On the fidelity scenes it is
above the scatter baseline and the share-fill anchor on every scene, by 4.5 dB on dead leaves (docs/performance.md,
"Fidelity"). It holds every plane of a tile at once (16 bytes per plane and pixel in float32); its cost is in
docs/performance.md ("Cost")."""


LAYERED_EXACT = RenderConfig(
    coarse_radius_px=math.inf,
    group_tolerance_px=0.0,
    group_tolerance_rel=0.0,
    aperture_splits=6,
)
"""Opt-in exact mode for layered scenes (:func:`~refocus_bench.simulators.render.layered.render_layered`): every
plane blurred at full resolution and at its own radius (no grouping), the aperture split into 6 x 6 cells
integrated over each pixel's footprint (:func:`~refocus_bench.simulators.render.subaperture.footprint_cells`), so
that occlusion between two defocused planes follows the aperture-sampled reference. Measured at 128 x 128 on every
layered fidelity scene: >= 56 dB on the whole image and >= 56 dB in the occlusion band against a 4096-sample
reference (docs/performance.md, "Exact mode"). All cells are blurred and composited in one pass over the planes,
each with its own small window of the kernel (:mod:`~refocus_bench.simulators.render.exact_cells`); in float32 at
128 x 128 that is 25x to 300x the speed of a reference with enough samples for the same PSNR (the 64-plane smooth
surfaces the slowest). The benchmark ground truths use it where its cells have converged
(:func:`~refocus_bench.benchmarks.ground_truth.render_truth`); the light-field builder does not."""
