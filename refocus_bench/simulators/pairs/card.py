"""The dataset card (README.md) of a pair dataset: generated from the config, never written by hand."""

from __future__ import annotations

import json
from typing import Any

from .generate import MIDDLEBURY_LICENCE, TEXTURE_LICENCE, PairConfig
from .params import SENSOR_FORMATS
from .schema import FIELD_DOCS, SIDE_DOCS
from .user_scenes import folder_licence

__all__ = ["dataset_card", "DIST_DOCS"]

DIST_DOCS = {
    "sensor_format": (
        "physical",
        "sensor format; long-side widths (mm): " + ", ".join(f"{k} {v:g}" for k, v in SENSOR_FORMATS.items()),
    ),
    "focal_length_mm": ("physical", "focal length (mm)"),
    "f_number": ("physical", "f-number N"),
    "k_px_m": ("k", "blur gain K (pixel-metres) at the output size: CoC = K (1/s - 1/z)"),
    "focus_method": ("both", "how the focus depth s is chosen: depth-histogram, point (5x5 median), mask-median"),
    "aperture": ("both", "aperture shape (refocus_bench.simulators.render.apertures)"),
    "leaves": ("dead-leaves", "number of leaves (discs and convex polygons, radii ~ r^-3)"),
    "point_lights": ("dead-leaves", "number of point lights (bright 1.5 px discs at random depths)"),
    "near_m": ("dead-leaves", "nearest leaf depth (m); leaf depths are uniform in 1/z"),
    "far_m": ("dead-leaves", "background plane depth (m)"),
}


def _source_licence(source: str) -> str:
    if source == "dead-leaves":
        return "procedural (refocus-bench); " + TEXTURE_LICENCE
    if source == "middlebury":
        return MIDDLEBURY_LICENCE + "; D. Scharstein et al., GCPR 2014"
    return folder_licence(source[len("folder:") :])


def _front_matter(config: PairConfig) -> list[str]:
    """YAML front matter: metadata and, for Parquet, one ``datasets`` config per task (the first is default)."""
    lines = [
        "---",
        "pretty_name: refocus-bench synthetic refocusing pairs",
        "license: other",
        "task_categories:",
        "- image-to-image",
        "tags:",
        "- defocus-deblurring",
        "- bokeh",
        "- refocusing",
        "- synthetic",
    ]
    if config.format == "parquet":
        lines.append("configs:")
        for i, task in enumerate(config.tasks):
            lines += [f"- config_name: {task}", "  data_files:", "  - split: train", f"    path: data/{task}/*.parquet"]
            if i == 0:
                lines.append("  default: true")
    return lines + ["---"]


def _overview(config: PairConfig, summary: dict[str, Any], command: str) -> list[str]:
    """Title, counts, the command that made the data, versions and how to load it."""
    h, w = config.size
    failed = summary["failures_by_reason"]
    lines = [
        "# Synthetic refocusing pairs (refocus-bench)",
        "",
        f"{summary['records']} records ({summary['samples']} samples x {len(config.tasks)} tasks: "
        f"{', '.join(config.tasks)}) from {summary['scenes_done']} scenes at {w}x{h} px; "
        f"{sum(failed.values())} failed samples ({', '.join(f'{k} {v}' for k, v in failed.items()) or 'none'}), "
        "listed in `failures.jsonl`.",
        "",
        "Made by:",
        "",
        "```",
        command,
        "```",
        "",
        f"refocus-bench {summary['refocus_bench_version']}, torch {summary['torch_version']}; config fingerprint "
        f"`{summary['fingerprint']}`. The same config gives byte-identical shards.",
        "",
    ]
    if config.format == "parquet":
        lines += ['Load one task with `datasets.load_dataset("path/to/this/folder", "refocus", split="train")`.', ""]
    else:
        lines += ["Records are in `data/shard-*/records.jsonl`; images are 8-bit sRGB PNG, maps float32 OpenEXR.", ""]
    return lines


_TASKS_SECTION = [
    "## Tasks",
    "",
    "| task | input | target |",
    "|---|---|---|",
    "| deblur | defocused at setting A | all-in-focus |",
    "| bokeh | all-in-focus (+ depth, target params) | defocused at A |",
    "| refocus | defocused at A | defocused at B (same lens and aperture, another focus) |",
    "",
]


def _distributions(config: PairConfig) -> list[str]:
    """The sampling rules and one table row per distribution of :data:`DIST_DOCS`."""
    lines = [
        "## Parameter distributions",
        "",
        f"Mode: `{config.mode}`. Seed: {config.seed}. "
        f"{config.pairs_per_scene} blur settings per scene; a setting is accepted when the image's largest |CoC| "
        f"lies in [{config.coc_range_px[0]:g}, {config.coc_range_px[1]:g}] px (at most {config.max_draws} draws). "
        f"Refocus targets are at least {config.refocus_min_diopter:g} 1/m from the source focus. "
        f"Depth-histogram focus range: quantiles {config.focus_quantiles[0]:g} to {config.focus_quantiles[1]:g}.",
        "",
        "| parameter | used in | distribution | meaning |",
        "|---|---|---|---|",
    ]
    for name, (used, doc) in DIST_DOCS.items():
        d = config.focus_method_dist() if name == "focus_method" else getattr(config, name)
        lines.append(f"| `{name}` | {used} | {d.describe()} | {doc} |")
    return lines + [""]


def _sources(config: PairConfig) -> list[str]:
    """One row per scene source: its weight and licence."""
    lines = ["## Sources and licences", "", "| source | weight | licence |", "|---|---|---|"]
    lines += [f"| `{s}` | {wt:g} | {_source_licence(s)} |" for s, wt in config.sources]
    return lines + [
        "",
        "Each record's `scene.licence` names the licence of its own scene. The generated pairs inherit "
        "the licences of their sources; the procedural scenes' textures are public-domain photographs.",
        "",
    ]


_CONVENTIONS_SECTION = [
    "## Conventions",
    "",
    "- Images: 8-bit sRGB PNG. Renders are computed in linear light (occlusion-aware layered renderer; "
    "layered scenes keep their hidden content).",
    "- Depth: metres, float32; `inf` = infinitely far.",
    "- CoC: signed radius in pixels, positive behind the focus plane, `K (1/s - 1/z)` "
    "(`refocus_bench.optics`); the sensor width spans the image's longest edge.",
    "- Defocus: GenRefocus's `clip(|K (1/z - 1/s)| / 100, 0, 1)`.",
    "- Sides: `source` describes the input, `target_params` the target; an all-in-focus side has "
    "`kind = all-in-focus`, `k_px_m = 0` and zero maps.",
    "",
]


def _fields() -> list[str]:
    """The tables of :data:`~refocus_bench.simulators.pairs.schema.FIELD_DOCS` and ``SIDE_DOCS``."""
    lines = ["## Fields", "", "| field | meaning |", "|---|---|"]
    lines += [f"| `{k}` | {v} |" for k, v in FIELD_DOCS.items()]
    lines += ["", "Side fields (`source`, `target_params`):", "", "| field | meaning |", "|---|---|"]
    lines += [f"| `{k}` | {v} |" for k, v in SIDE_DOCS.items()]
    return lines + [""]


def dataset_card(config: PairConfig, summary: dict[str, Any], command: str) -> str:
    """Markdown card with YAML front matter (one config per task) for ``datasets.load_dataset``.

    ``summary`` is the content of ``summary.json``; ``command`` the command line (or Python call)
    that made the data.
    """
    full_config = json.dumps(config.to_dict(), indent=2, sort_keys=True)
    lines = _front_matter(config) + _overview(config, summary, command) + _TASKS_SECTION
    lines += _distributions(config) + _sources(config) + _CONVENTIONS_SECTION + _fields()
    lines += ["## Full config", "", "```json", full_config, "```", ""]
    return "\n".join(lines)
