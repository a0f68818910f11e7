"""The documentation names only what exists: README.md, docs/*.md and CHANGELOG.md's "new" column.

Checked in every Markdown file of the README and docs/:

* paths: every ``refocus_bench/...`` path, every file path with an extension under ``tests/``,
  ``scripts/``, ``perf/``, ``docs/`` or ``leaderboards/`` and every relative ``.py`` / ``.sh`` path
  exists in the repository (relative to its root);
* dotted names: every ``refocus_bench.x.y`` imports as a module or resolves by ``getattr`` from the
  longest importable module (names of entry-point groups are not modules and are skipped);
* commands: every ``refocus-bench COMMAND [ACTION] --option`` in code (fenced blocks and inline
  code) is a subcommand of :func:`refocus_bench.cli.build_parser`, with that action and those options;
  every ``make TARGET`` is a Makefile target;
* Python: the import statements of every ``python`` code block run;
* docs/design.md's table of import layers equals ``tests/test_layers.py``'s ``LAYERS``.
* docs/metrics.md's table of weight cards equals :func:`refocus_bench.metrics.weights.weight_cards`.

CHANGELOG.md: the "old" column names what no longer exists; every package name in a "new" column
(written without the ``refocus_bench.`` prefix) must resolve.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CHANGELOG = ROOT / "CHANGELOG.md"

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
PATH = re.compile(
    r"(?<![\w./<-])("
    r"refocus_bench/[\w./-]*\w"  # anything in the package
    r"|(?:tests|scripts|perf|docs|leaderboards)/[\w./-]*\.\w+"  # files of the repository
    r"|[\w-]+/[\w./-]*\.(?:py|sh)"  # code files anywhere
    r")"
)
DOTTED = re.compile(r"(?<![\w./-])refocus_bench(?:\.[A-Za-z_]\w*)+")
COMMAND = re.compile(r"(?:^|[\s/`(])refocus-bench((?:[ \t]+[^\s#|`]+)*)")
MAKE = re.compile(r"(?<![\w-])make ([a-z]+)\b")


def _doc_ids(paths: list[Path]) -> list[str]:
    return [p.relative_to(ROOT).as_posix() for p in paths]


def code_spans(text: str) -> list[str]:
    """Fenced code blocks (backslash continuations joined) and inline code spans."""
    blocks = [body.replace("\\\n", " ") for _, body in FENCE.findall(text)]
    prose = FENCE.sub("", text)
    return blocks + INLINE.findall(prose)


# --- paths ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("doc", DOCS, ids=_doc_ids(DOCS))
def test_paths_exist(doc):
    missing = sorted({p for p in PATH.findall(doc.read_text()) if not (ROOT / p.rstrip(".")).exists()})
    assert not missing, f"{doc.name} names paths that do not exist: {missing}"


# --- dotted names --------------------------------------------------------------------------------


def resolve(dotted: str) -> object:
    """Import the longest importable module prefix of ``dotted``, then ``getattr`` the rest."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        module_name = ".".join(parts[:i])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name is not None and not module_name.startswith(err.name):
                raise  # the module exists but one of its own imports is missing
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def _dotted_names(text: str) -> set[str]:
    names = set()
    for m in DOTTED.finditer(text):
        after = text[m.end() : m.end() + 30]
        if re.match(r"[`'\"]?\s+(?:entry-point|entry point)", after):
            continue  # the name of an entry-point group, not a module
        names.add(m.group(0))
    return names


@pytest.mark.parametrize("doc", DOCS, ids=_doc_ids(DOCS))
def test_dotted_names_resolve(doc):
    broken = {}
    for name in sorted(_dotted_names(doc.read_text())):
        try:
            resolve(name)
        except (ImportError, AttributeError) as err:
            broken[name] = f"{type(err).__name__}: {err}"
    assert not broken, f"{doc.name} names what does not exist: {broken}"


# --- commands ------------------------------------------------------------------------------------


@cache
def commands() -> dict[str, argparse.ArgumentParser]:
    from refocus_bench.cli import build_parser

    return dict(_subparsers(build_parser()))


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {s for a in parser._actions for s in a.option_strings}


def check_command(words: list[str]) -> str | None:
    """None if ``refocus-bench *words`` names a real subcommand (and action) with real options."""
    if not words or not re.fullmatch(r"[a-z][a-z-]*", words[0]):
        return None  # a placeholder such as <command>, or the bare program name
    parser = commands().get(words[0])
    if parser is None:
        return f"no subcommand {words[0]!r}"
    actions = _subparsers(parser)
    rest = words[1:]
    if actions and rest and re.fullmatch(r"[a-z][a-z-]*", rest[0]):
        if rest[0] not in actions:
            return f"'{words[0]}' has no action {rest[0]!r} (has {sorted(actions)})"
        parser, rest = actions[rest[0]], rest[1:]
    known = _options(parser) | {"--help", "-h"}
    unknown = [w.split("=")[0] for w in rest if w.startswith("--") and w.split("=")[0] not in known]
    return f"'{' '.join(words[:2])}' has no option(s) {unknown}" if unknown else None


@pytest.mark.parametrize("doc", DOCS, ids=_doc_ids(DOCS))
def test_commands_exist(doc):
    problems = set()
    for span in code_spans(doc.read_text()):
        for line in span.splitlines():
            for m in COMMAND.finditer(line):
                problem = check_command(m.group(1).split())
                if problem:
                    problems.add(f"{m.group(0).strip()}: {problem}")
    assert not problems, f"{doc.name}: {sorted(problems)}"


@pytest.mark.parametrize("doc", DOCS, ids=_doc_ids(DOCS))
def test_make_targets_exist(doc):
    targets = set(re.findall(r"^([a-z]+):", (ROOT / "Makefile").read_text(), re.M))
    named = {t for span in code_spans(doc.read_text()) for t in MAKE.findall(span)}
    assert named <= targets, f"{doc.name} names make targets that do not exist: {sorted(named - targets)}"


def test_the_readme_shows_the_two_commands_first():
    text = (ROOT / "README.md").read_text()
    first_block = FENCE.search(text).group(2)
    assert [line.split("#")[0].strip() for line in first_block.strip().splitlines()] == ["make demo", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


# --- Python snippets -----------------------------------------------------------------------------


def _python_blocks(paths: list[Path]) -> list[tuple[str, str]]:
    out = []
    for doc in paths:
        for i, (lang, body) in enumerate(FENCE.findall(doc.read_text())):
            if lang == "python":
                out.append((f"{doc.relative_to(ROOT).as_posix()}#{i}", body))
    return out


BLOCKS = _python_blocks(DOCS)


@pytest.mark.parametrize("where, body", BLOCKS, ids=[w for w, _ in BLOCKS])
def test_python_snippet_imports_run(where, body):
    tree = ast.parse(body)
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert imports or "import" not in body, where
    exec(compile(ast.Module(body=imports, type_ignores=[]), where, "exec"), {})


# --- the layer table -----------------------------------------------------------------------------


def design_layers() -> list[tuple[str, ...]]:
    """The rows of the table under docs/design.md's "## Layers" heading, lowest first."""
    text = (ROOT / "docs" / "design.md").read_text()
    section = text.split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\|\s*(\d+)\s*\|([^|]+)\|\s*$", section, re.M)
    assert [int(n) for n, _ in rows] == list(range(len(rows))), "layers must be numbered 0, 1, 2 ... from the lowest"
    return [tuple(m.strip().replace("\\_", "_") for m in mods.split(",")) for _, mods in rows]


def test_design_layers_match_the_layer_test():
    path = ROOT / "tests" / "test_layers.py"
    if not path.exists():
        pytest.skip("tests/test_layers.py not present")
    spec = importlib.util.spec_from_file_location("_layers_for_docs", path)
    layers_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(layers_module)
    assert [set(row) for row in design_layers()] == [set(row) for row in layers_module.LAYERS]


# --- CHANGELOG -----------------------------------------------------------------------------------


def changelog_new_names() -> set[str]:
    """Package names (prefix ``refocus_bench.`` added) in the "new" column of CHANGELOG.md's tables."""
    package = ROOT / "refocus_bench"
    top = {p.stem for p in package.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    names, in_table = set(), False
    for line in CHANGELOG.read_text().splitlines():
        if re.match(r"^\|\s*old\s*\|\s*new\s*\|", line):
            in_table = True
            continue
        if not line.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if not in_table or set(cells[0]) <= {"-", " "}:
            continue
        for token in INLINE.findall(" | ".join(cells[1:])):
            token = token.strip()
            if re.fullmatch(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", token) and token.split(".")[0] in top:
                names.add(f"refocus_bench.{token}")
    return names


def test_changelog_new_names_resolve():
    if not CHANGELOG.exists():
        pytest.skip("no CHANGELOG.md")
    broken = {}
    for name in sorted(changelog_new_names()):
        try:
            resolve(name)
        except (ImportError, AttributeError) as err:
            broken[name] = f"{type(err).__name__}: {err}"
    assert not broken, f"CHANGELOG.md's new column names what does not exist: {broken}"


# --- tables that copy data -----------------------------------------------------------------------


def test_the_weight_table_in_docs_metrics_matches_the_cards():
    from refocus_bench.metrics.weights import weight_cards

    want = {
        f"| {c.name} | {c.filename} | {c.source.requirement} ({c.member}) | {c.licence} | {c.paper} |"
        for c in weight_cards()
    }
    text = (ROOT / "docs" / "metrics.md").read_text()
    rows = {line for line in text.splitlines() if line.startswith("| ") and ".safetensors |" in line}
    assert rows == want
