"""The package's import layers (docs/design.md, "Layers"): imports run one way and form no cycle.

Every ``import`` and ``from ... import`` in ``refocus_bench`` is read from the source, those inside
functions included (a lazy import is still a dependency). A module may import from its own layer
or from lower ones, never from a higher one; and the graph of imports between modules has no
cycle, except the one every package has with its own ``__init__`` (a submodule importing its
package's registry verbs, the package lazily importing its submodules).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "refocus_bench"

# Lowest first. A module belongs to the layer of the longest prefix that names it.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "hashing", "io", "home", "version", "ray_backend", "lazy", "paths"),
    ("optics", "registry", "tasks", "results"),
    ("simulators.render", "datasets", "metrics"),
    ("simulators.pairs", "simulators.lightfield", "models"),
    ("benchmarks",),
    ("runner",),
    ("leaderboards",),
    ("cli", "demo", "showcase", "__main__", "simulators", "__init__"),
]
"""The package root (``__init__``) and ``simulators`` alone (its ``__init__``) are front doors that
re-export names from lower layers: they sit on top, like the CLI, and nothing inside imports them."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "__init__"


def layer_of(module: str) -> int:
    """The layer index of ``module`` (dotted, without the ``refocus_bench.`` prefix)."""
    best, best_len = None, -1
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best_len:
                best, best_len = i, len(name)
    assert best is not None, (
        f"refocus_bench.{module} is in no layer of tests/test_layers.py (add it there and to docs/design.md)"
    )
    return best


@cache
def modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        base = node.module or ""
        if not base.startswith("refocus_bench"):
            return []
        base = base.removeprefix("refocus_bench").removeprefix(".") or "__init__"
    else:
        parts = module.split(".") if module != "__init__" else []
        pkg = parts if is_package else parts[:-1]
        pkg = pkg[: len(pkg) - (node.level - 1)]
        base = ".".join(pkg + ([node.module] if node.module else [])) or "__init__"
    out = []
    for alias in node.names:  # `from pkg import submodule` depends on the submodule
        sub = f"{base}.{alias.name}" if base != "__init__" else alias.name
        out.append(sub if sub in modules() else base)
    return out


@cache
def imports_of(module: str) -> frozenset[str]:
    """Modules of the package that ``module`` imports anywhere in its source."""
    path = modules()[module]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            found.update(_resolve(module, path.name == "__init__.py", node))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("refocus_bench."):
                    found.add(alias.name.removeprefix("refocus_bench."))
    found = {m if m in modules() else m.rsplit(".", 1)[0] for m in found}
    return frozenset(m for m in found if m in modules() and m != module)


def _own_package(a: str, b: str) -> bool:
    """``b`` is the package ``__init__`` that contains ``a`` (or the other way round)."""
    return path_is_package(b) and a.startswith(b + ".") or path_is_package(a) and b.startswith(a + ".")


def path_is_package(module: str) -> bool:
    return modules()[module].name == "__init__.py"


def test_every_module_has_a_layer():
    for module in modules():
        layer_of(module)


@pytest.mark.parametrize("module", sorted(modules()))
def test_imports_run_downward(module):
    upward = [
        f"{m} (layer {layer_of(m)})"
        for m in sorted(imports_of(module))
        if layer_of(m) > layer_of(module) and not _own_package(module, m)
    ]
    assert not upward, f"refocus_bench.{module} (layer {layer_of(module)}) imports upward: {', '.join(upward)}"


def test_no_import_cycles():
    graph = {m: {d for d in imports_of(m) if not _own_package(m, d)} for m in modules()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d) :] + [d])
            elif d not in state:
                visit(d, stack)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_lazy_and_relative_imports():
    """The reader finds imports inside functions and resolves relative ones (a guard on the guard)."""
    deps = imports_of("simulators.render.rgbd") | imports_of("simulators.render")
    assert "optics" in deps or any(layer_of(d) <= 1 for d in deps)
    assert layer_of("simulators.render.apertures") == 2 and layer_of("simulators.pairs.shards") == 3
    assert layer_of("runner.evaluation") > layer_of("benchmarks.base") > layer_of("models.base")
