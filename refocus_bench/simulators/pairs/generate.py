"""Synthetic training pairs for deblurring, bokeh rendering and refocusing, deterministic by seed.

``make_pairs(PairConfig(...), "out/")`` (in :mod:`refocus_bench.simulators.pairs.shards`; CLI:
``refocus-bench make-pairs -o out/``) draws ``num_scenes`` scenes, ``pairs_per_scene`` blur settings
per scene, renders each and writes one record per task:

======== ======================== ===================== ===========================================
task     input                    target                source -> target parameters
======== ======================== ===================== ===========================================
deblur   defocused (setting A)    all-in-focus          A -> pinhole
bokeh    all-in-focus             defocused (A)         pinhole -> A (condition: depth + params)
refocus  defocused (A)            defocused (B)         A -> B: same lens/aperture, other focus
======== ======================== ===================== ===========================================

Every record carries the all-in-focus image, the depth (m), the signed CoC maps (px) and
GenRefocus defocus maps of both sides (zeros for a pinhole side), every parameter of both sides, the
run seed and the scene/pair indices (the sample's random generator is seeded with
``SeedSequence([tag, seed, scene_index, pair_index + 1])``, the scene's with ``[tag, seed, scene_index]``,
where ``tag`` is a constant that keeps these streams apart from other uses of the same seed).

Scene sources (``sources``, weighted): ``dead-leaves`` (procedural layered scenes with hidden
content, rendered with :func:`render_layered`), ``middlebury`` (the Middlebury 2014 Motorcycle RGB-D
scene) and ``folder:PATH`` (any user folder of image + depth files, see
:mod:`refocus_bench.simulators.pairs.user_scenes`); real RGB-D scenes are rendered with
:func:`render_bokeh` after a random crop scaled to ``size`` (image: bilinear, antialiased; depth and
its validity: nearest). With a single folder source the scenes are taken in name order, cycling.
Parameter distributions are documented in :mod:`refocus_bench.simulators.pairs.params`; output,
resume and parallelism in :mod:`refocus_bench.simulators.pairs.shards`, the record fields in
:mod:`refocus_bench.simulators.pairs.schema`.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ... import optics
from ...errors import InvalidInputError, check
from ...hashing import bytes_sha256
from ...tasks import PAIR_TASKS
from ..render.apertures import list_apertures, make_aperture
from .params import (
    FOCUS_METHODS,
    MODES,
    SENSOR_FORMATS,
    Dist,
    LensDraw,
    ParameterError,
    coc_map,
    draw_lens,
    draw_refocus,
)
from .user_scenes import (
    SceneLoadError,
    UserScene,
    find_user_scenes,
    folder_fingerprint,
    folder_licence,
    load_user_scene,
)

__all__ = [
    "PairConfig",
    "SOURCE_KINDS",
    "FORMATS",
    "Sample",
    "SampleFailure",
    "PreparedScene",
    "prepare_scene",
    "make_sample",
    "scene_samples",
]

SOURCE_KINDS = ("dead-leaves", "middlebury", "folder:PATH")
FORMATS = ("parquet", "folder")
_SEED_TAG = 3_2025_12_16  # keeps these streams apart from other uses of the same user seed

TEXTURE_LICENCE = "textures: scikit-image sample photographs (public domain / CC0, see scikit-image's data README)"
MIDDLEBURY_LICENCE = "Middlebury stereo datasets: free for research use, cite the paper (redistributed in scikit-image)"

_DEFAULT_DISTS = {
    "f_number": "1.2:8:log",
    "focal_length_mm": "24:135:log",
    "sensor_format": "full-frame=0.5,aps-c=0.3,micro-four-thirds=0.2",
    "k_px_m": "2:40",
    "aperture": "disk=0.6,hexagon=0.1,nonagon-rounded=0.1,pentagon=0.05,octagon=0.05,heart=0.05,star=0.05",
    "leaves": "12:40:int",
    "point_lights": "0:4:int",
    "near_m": "0.7:1.5:log",
    "far_m": "4:12:log",
}


def _dist_field(name: str) -> Any:
    return field(default_factory=lambda: Dist.parse(_DEFAULT_DISTS[name]))


@dataclass(frozen=True)
class PairConfig:
    """Everything that determines the generated data (two equal configs give byte-identical shards).

    Attributes:
        size: (H, W) of every output image in pixels.
        num_scenes: scenes to draw; None = one per entry of the folder sources.
        pairs_per_scene: blur settings drawn per scene (each gives one record per task).
        scenes_per_shard: scenes per output shard (the unit of resume and of parallel work).
        seed: run seed.
        sources: ((source, weight), ...); source is ``dead-leaves``, ``middlebury`` or ``folder:PATH``.
        tasks: subset of :data:`~refocus_bench.tasks.PAIR_TASKS`.
        mode: ``physical`` (sensor format, focal length, f-number) or ``k`` (GenRefocus blur gain).
        f_number, focal_length_mm, sensor_format: physical-mode distributions.
        k_px_m: k-mode distribution of K (pixel-metres, for the output size).
        focus_method: distribution over :data:`FOCUS_METHODS`; None = ``depth-histogram`` in physical
            mode, ``point``/``mask-median`` half and half in k mode.
        focus_quantiles: depth-histogram focus range (quantiles of the measured depths).
        aperture: distribution over aperture names (:func:`list_apertures`).
        coc_range_px: accepted range of the image's largest |CoC| radius (px).
        refocus_min_diopter: least |1/s_A - 1/s_B| (1/m) between the refocus source and target.
        max_draws: parameter draws per sample before it fails with ``parameter_ranges``.
        leaves, point_lights, near_m, far_m: dead-leaves scene distributions (counts; depth range m).
        scale_jitter: real scenes are scaled by ``cover * U(1, scale_jitter)`` before the random crop.
        png_scale_m, depth_scale: user-folder depth units (see :func:`load_user_scene`).
        format: ``parquet`` (Hugging Face dataset) or ``folder`` (PNG + EXR + JSON).
    """

    size: tuple[int, int] = (512, 512)
    num_scenes: int | None = 16
    pairs_per_scene: int = 4
    scenes_per_shard: int = 4
    seed: int = 0
    sources: tuple[tuple[str, float], ...] = (("dead-leaves", 1.0),)
    tasks: tuple[str, ...] = PAIR_TASKS
    mode: str = "physical"
    f_number: Dist = _dist_field("f_number")
    focal_length_mm: Dist = _dist_field("focal_length_mm")
    sensor_format: Dist = _dist_field("sensor_format")
    k_px_m: Dist = _dist_field("k_px_m")
    focus_method: Dist | None = None
    focus_quantiles: tuple[float, float] = (0.02, 0.98)
    aperture: Dist = _dist_field("aperture")
    coc_range_px: tuple[float, float] = (1.0, 48.0)
    refocus_min_diopter: float = 0.1
    max_draws: int = 50
    leaves: Dist = _dist_field("leaves")
    point_lights: Dist = _dist_field("point_lights")
    near_m: Dist = _dist_field("near_m")
    far_m: Dist = _dist_field("far_m")
    scale_jitter: float = 1.25
    png_scale_m: float = 1e-3
    depth_scale: float = 1.0
    format: str = "parquet"

    def __post_init__(self) -> None:
        for name in (
            "f_number",
            "focal_length_mm",
            "sensor_format",
            "k_px_m",
            "aperture",
            "leaves",
            "point_lights",
            "near_m",
            "far_m",
            "focus_method",
        ):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, Dist.parse(value))
        object.__setattr__(self, "size", tuple(int(s) for s in self.size))
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "sources", tuple((str(s), float(w)) for s, w in self.sources))
        object.__setattr__(self, "focus_quantiles", tuple(float(q) for q in self.focus_quantiles))
        object.__setattr__(self, "coc_range_px", tuple(float(c) for c in self.coc_range_px))
        _validate(self)

    # -- derived -------------------------------------------------------------------------------
    def focus_method_dist(self) -> Dist:
        if self.focus_method is not None:
            return self.focus_method
        return Dist.parse("depth-histogram" if self.mode == "physical" else "point,mask-median")

    @functools.cached_property
    def folder_entries(self) -> dict[str, list[UserScene]]:
        """Entries of each folder source (scanned once)."""
        return {
            s[len("folder:") :]: find_user_scenes(s[len("folder:") :])
            for s, _ in self.sources
            if s.startswith("folder:")
        }

    @property
    def scene_count(self) -> int:
        if self.num_scenes is not None:
            return self.num_scenes
        return sum(len(v) for v in self.folder_entries.values())

    @property
    def num_shards(self) -> int:
        return max(1, math.ceil(self.scene_count / self.scenes_per_shard))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: distributions as their command-line text."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.to_text() if isinstance(v, Dist) else (list(map(list, v)) if f.name == "sources" else v)
            if isinstance(out[f.name], tuple):
                out[f.name] = list(out[f.name])
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PairConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        check(not unknown, lambda: f"unknown PairConfig fields {unknown}; known: {sorted(known)}")
        return cls(**d)

    def fingerprint(self) -> str:
        """sha256 of the config and of the folder sources' file lists (names and sizes)."""
        payload = {"config": self.to_dict(), "folders": {k: folder_fingerprint(k) for k in sorted(self.folder_entries)}}
        return bytes_sha256(json.dumps(payload, sort_keys=True).encode())


def _validate(c: PairConfig) -> None:
    check(
        len(c.size) == 2 and all(8 <= s <= 8192 for s in c.size),
        lambda: f"size must be (H, W) in [8, 8192] px, got {c.size}",
    )
    check(
        c.num_scenes is None or (isinstance(c.num_scenes, int) and c.num_scenes >= 1),
        lambda: f"num_scenes must be an int >= 1 (or None for one per folder entry), got {c.num_scenes!r}",
    )
    for name in ("pairs_per_scene", "scenes_per_shard", "max_draws"):
        v = getattr(c, name)
        check(isinstance(v, int) and v >= 1, lambda: f"{name} must be an int >= 1, got {v!r}")
    check(isinstance(c.seed, int) and 0 <= c.seed < 2**63, lambda: f"seed must be an int in [0, 2**63), got {c.seed!r}")
    check(
        len(c.tasks) > 0 and set(c.tasks) <= set(PAIR_TASKS) and len(set(c.tasks)) == len(c.tasks),
        lambda: f"tasks must be distinct names from {PAIR_TASKS}, got {list(c.tasks)}",
    )
    check(c.mode in MODES, lambda: f"mode must be one of {MODES}, got {c.mode!r}")
    check(c.format in FORMATS, lambda: f"format must be one of {FORMATS}, got {c.format!r}")
    check(len(c.sources) > 0, "sources must name at least one scene source")
    for src, w in c.sources:
        check(
            src in ("dead-leaves", "middlebury") or (src.startswith("folder:") and len(src) > 7),
            lambda: f"unknown scene source {src!r}; use one of {SOURCE_KINDS}",
        )
        check(math.isfinite(w) and w >= 0, lambda: f"source weight must be >= 0, got {w} for {src!r}")
    check(sum(w for _, w in c.sources) > 0, "source weights must have a positive sum")
    if c.num_scenes is None:
        check(
            all(s.startswith("folder:") for s, _ in c.sources),
            "num_scenes=None (one per folder entry) needs folder sources only",
        )
        check(c.scene_count > 0, lambda: f"the folder sources hold no image or depth file: {sorted(c.folder_entries)}")
    _check_support(c.f_number, "f_number", 0.5, 64.0)
    _check_support(c.focal_length_mm, "focal_length_mm", 1.0, 2000.0)
    _check_support(c.k_px_m, "k_px_m", 0.0, 1e5)
    _check_support(c.leaves, "leaves", 0, 500, integer=True)
    _check_support(c.point_lights, "point_lights", 0, 100, integer=True)
    _check_support(c.near_m, "near_m", 0.05, 1e4)
    _check_support(c.far_m, "far_m", 0.05, 1e4)
    check(
        c.near_m.support()[1] < c.far_m.support()[0],
        lambda: f"near_m ({c.near_m.describe()}) must lie below far_m ({c.far_m.describe()})",
    )
    _check_choice(c.sensor_format, "sensor_format", tuple(SENSOR_FORMATS))
    _check_choice(c.aperture, "aperture", tuple(list_apertures()))
    _check_choice(c.focus_method_dist(), "focus_method", FOCUS_METHODS)
    q0, q1 = c.focus_quantiles
    check(
        0.0 <= q0 <= q1 <= 1.0, lambda: f"focus_quantiles must satisfy 0 <= low <= high <= 1, got {c.focus_quantiles}"
    )
    lo, hi = c.coc_range_px
    check(
        0.0 <= lo <= hi and math.isfinite(hi),
        lambda: f"coc_range_px must satisfy 0 <= low <= high < inf px, got {c.coc_range_px}",
    )
    check(hi <= 512.0, lambda: f"coc_range_px high {hi:g} px exceeds the renderer's largest kernel radius (512 px)")
    check(
        math.isfinite(c.refocus_min_diopter) and c.refocus_min_diopter >= 0,
        lambda: f"refocus_min_diopter must be >= 0 (1/m), got {c.refocus_min_diopter}",
    )
    check(
        math.isfinite(c.scale_jitter) and 1.0 <= c.scale_jitter <= 8.0,
        lambda: f"scale_jitter must be in [1, 8], got {c.scale_jitter}",
    )
    check(c.png_scale_m > 0 and c.depth_scale > 0, "png_scale_m and depth_scale must be > 0")


def _check_support(d: Dist, name: str, lo: float, hi: float, integer: bool = False) -> None:
    check(
        d.kind != "choice" or all(isinstance(v, float) for v in d.values),
        lambda: f"{name} must be numeric, got {d.describe()}",
    )
    vals = [float(v) for v in d.support()]
    check(all(lo <= v <= hi for v in vals), lambda: f"{name} must lie in [{lo:g}, {hi:g}], got {d.describe()}")
    if integer:
        check(
            d.kind in ("const", "int", "choice") and all(v.is_integer() for v in vals),
            lambda: f"{name} must be an integer distribution (e.g. 12:40:int), got {d.describe()}",
        )


def _check_choice(d: Dist, name: str, allowed: tuple[str, ...]) -> None:
    vals = d.support() if d.kind == "choice" else ()
    check(
        d.kind == "choice" and all(v in allowed for v in vals),
        lambda: f"{name} must be a choice among {list(allowed)}, got {d.describe()}",
    )


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([_SEED_TAG, *(int(k) for k in keys)]))


# ------------------------------------------------------------------------------------- scenes
@dataclass
class PreparedScene:
    """A scene at the output size. ``layers``/``layer_depths`` only for layered (procedural) scenes."""

    name: str
    source: str
    licence: str
    image: torch.Tensor  # (1, 3, H, W) sRGB
    depth: torch.Tensor  # (1, 1, H, W) metres
    valid: torch.Tensor | None = None  # (H, W) bool: measured depth (real scenes)
    segments: torch.Tensor | None = None  # (H, W) long: visible layer index (layered scenes)
    layers: torch.Tensor | None = None  # (L, 4, H, W)
    layer_depths: torch.Tensor | None = None  # (L,) float64 metres
    params: dict[str, Any] = field(default_factory=dict)


@functools.lru_cache(maxsize=1)
def _middlebury():  # noqa: ANN202 - RGBDScene
    from ..render.scenes import middlebury_motorcycle

    return middlebury_motorcycle()


def _crop_resize(
    image: torch.Tensor,
    depth: torch.Tensor,
    valid: torch.Tensor,
    size: tuple[int, int],
    rng: np.random.Generator,
    jitter: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict]:
    h, w = image.shape[-2:]
    H, W = size  # noqa: N806
    scale = max(H / h, W / w) * float(rng.uniform(1.0, jitter))
    ch, cw = min(h, max(1, round(H / scale))), min(w, max(1, round(W / scale)))
    y0, x0 = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    img = image[..., y0 : y0 + ch, x0 : x0 + cw]
    dep = depth[..., y0 : y0 + ch, x0 : x0 + cw]
    val = valid[..., y0 : y0 + ch, x0 : x0 + cw]
    if (ch, cw) != (H, W):
        img = F.interpolate(img, size=(H, W), mode="bilinear", align_corners=False, antialias=(ch > H or cw > W)).clamp(
            0, 1
        )
        dep = F.interpolate(dep, size=(H, W), mode="nearest-exact")
        val = F.interpolate(val.float(), size=(H, W), mode="nearest-exact") > 0.5
    return (
        img.contiguous(),
        dep.contiguous(),
        val.reshape(H, W),
        {"crop_xywh": [x0, y0, cw, ch], "scale": round(W / cw, 6)},
    )


def prepare_scene(config: PairConfig, scene_index: int) -> PreparedScene:
    """Scene ``scene_index`` of the run at ``config.size`` (deterministic from seed and index).

    Raises:
        SceneLoadError: a user scene is unusable (``reason`` says why).
    """
    rng = _rng(config.seed, scene_index)
    names = [s for s, _ in config.sources]
    weights = np.asarray([w for _, w in config.sources], dtype=np.float64)
    source = names[int(rng.choice(len(names), p=weights / weights.sum()))] if len(names) > 1 else names[0]
    if source == "dead-leaves":
        from ..render.scenes import dead_leaves_scene

        seed = int(rng.integers(2**31))
        n, lights = int(config.leaves.sample(rng)), int(config.point_lights.sample(rng))
        near, far = config.near_m.sample(rng), config.far_m.sample(rng)
        scene = dead_leaves_scene(config.size, n_leaves=n, depth_range_m=(near, far), seed=seed, point_lights=lights)
        image, depth, front = scene.flatten()
        params = {"scene_seed": seed, "leaves": n, "point_lights": lights, "near_m": near, "far_m": far}
        return PreparedScene(
            f"dead-leaves-{seed}",
            source,
            TEXTURE_LICENCE,
            image,
            depth,
            segments=front,
            layers=scene.layers,
            layer_depths=scene.depth_m,
            params=params,
        )
    if source == "middlebury":
        mb = _middlebury()
        image, depth, valid, params = _crop_resize(
            mb.image, mb.depth_m, mb.valid, config.size, rng, config.scale_jitter
        )
        return PreparedScene(mb.name, source, MIDDLEBURY_LICENCE, image, depth, valid=valid, params=params)
    folder = source[len("folder:") :]
    entries = config.folder_entries[folder]
    if not entries:
        raise SceneLoadError("missing_depth", f"folder {folder!r} holds no image or depth file")
    pick = scene_index % len(entries) if len(names) == 1 else int(rng.integers(len(entries)))
    entry = entries[pick]
    rgbd = load_user_scene(
        entry, png_scale_m=config.png_scale_m, depth_scale=config.depth_scale, licence=folder_licence(folder)
    )
    image, depth, valid, params = _crop_resize(
        rgbd.image, rgbd.depth_m, rgbd.valid, config.size, rng, config.scale_jitter
    )
    params["file"] = entry.name
    return PreparedScene(entry.name, source, rgbd.licence, image, depth, valid=valid, params=params)


# ------------------------------------------------------------------------------------ samples
@dataclass
class Sample:
    """One rendered sample: the scene, setting A (and B for refocus) and their images and maps."""

    scene_index: int
    pair_index: int
    scene: PreparedScene
    a: LensDraw
    b: LensDraw | None
    render_a: torch.Tensor  # (1, 3, H, W) sRGB
    render_b: torch.Tensor | None
    coc_a: torch.Tensor  # (H, W) float32 px
    coc_b: torch.Tensor | None
    defocus_a: torch.Tensor  # (H, W) float32 in [0, 1]
    defocus_b: torch.Tensor | None

    @property
    def sample_id(self) -> str:
        return f"{self.scene_index:06d}-{self.pair_index:02d}"


@dataclass
class SampleFailure:
    """A sample (or a whole scene's samples) that produced no record, and why."""

    scene_index: int
    pair_index: int | None
    reason: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "scene_index": self.scene_index,
            "pair_index": self.pair_index,
            "reason": self.reason,
            "detail": self.detail,
        }


def _render(scene: PreparedScene, draw: LensDraw, coc: torch.Tensor, long_px: int) -> torch.Tensor:
    from ..render.layered import render_layered
    from ..render.rgbd import render_bokeh

    ap = make_aperture(draw.aperture)
    with torch.no_grad():
        if scene.layers is not None:
            radii = coc_map(scene.layer_depths, draw, long_px).to(torch.float32)[None]
            return render_layered(scene.layers[None], coc_px=radii, aperture=ap)
        return render_bokeh(scene.image, coc_px=coc[None, None], aperture=ap)


def make_sample(config: PairConfig, scene: PreparedScene, scene_index: int, pair_index: int) -> Sample:
    """Draw setting(s) for one sample of ``scene`` and render them.

    Raises:
        ParameterError: no draw satisfied the constraints (see :func:`draw_lens`).
    """
    rng = _rng(config.seed, scene_index, pair_index + 1)
    depth = scene.depth[0, 0]
    long_px = max(config.size)
    kw = {"valid": scene.valid, "segments": scene.segments}
    a = draw_lens(config, depth, rng, **kw)
    b = draw_refocus(config, a, depth, rng, **kw) if "refocus" in config.tasks else None
    coc_a = coc_map(depth, a, long_px).to(torch.float32)
    render_a = _render(scene, a, coc_a, long_px)
    defocus_a = optics.genrefocus_defocus_map(scene.depth, a.k_px_m, a.focus_distance_m)[0, 0].to(torch.float32)
    coc_b = render_b = defocus_b = None
    if b is not None:
        coc_b = coc_map(depth, b, long_px).to(torch.float32)
        render_b = _render(scene, b, coc_b, long_px)
        defocus_b = optics.genrefocus_defocus_map(scene.depth, b.k_px_m, b.focus_distance_m)[0, 0].to(torch.float32)
    return Sample(scene_index, pair_index, scene, a, b, render_a, render_b, coc_a, coc_b, defocus_a, defocus_b)


def scene_samples(config: PairConfig, scene_index: int) -> tuple[list[Sample], list[SampleFailure]]:
    """All samples of one scene; failures carry a reason code and a sentence, never an exception."""
    try:
        scene = prepare_scene(config, scene_index)
    except SceneLoadError as err:
        return [], [SampleFailure(scene_index, None, err.reason, err.detail)]
    except InvalidInputError as err:
        return [], [SampleFailure(scene_index, None, "bad_scene", str(err))]
    samples, failures = [], []
    for k in range(config.pairs_per_scene):
        try:
            samples.append(make_sample(config, scene, scene_index, k))
        except ParameterError as err:
            failures.append(SampleFailure(scene_index, k, "parameter_ranges", str(err)))
        except (InvalidInputError, RuntimeError) as err:
            failures.append(SampleFailure(scene_index, k, "render_error", f"{type(err).__name__}: {err}"))
    scene.layers = scene.layer_depths = scene.segments = None  # only the images and depth are written
    return samples, failures
