"""List package functions longer than 80 lines and files longer than 600 lines.

A function or file may stay longer with a one-line reason: a comment ``# long: <reason>`` on the
``def`` line (functions) or in the first 30 lines (files). Exit status 1 when any other remains.

    python scripts/check_sizes.py [PATHS...]   (default: refocus_bench)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_FUNCTION_LINES = 80
MAX_FILE_LINES = 600


def oversized(path: Path) -> list[str]:
    """One line per function over :data:`MAX_FUNCTION_LINES` / file over :data:`MAX_FILE_LINES` in ``path``."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    out = []
    if len(lines) > MAX_FILE_LINES and not any("# long:" in line for line in lines[:30]):
        out.append(f"{path}: {len(lines)} lines (file)")
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            if n > MAX_FUNCTION_LINES and "# long:" not in lines[node.lineno - 1]:
                out.append(f"{path}:{node.lineno}: {node.name} is {n} lines")
    return out


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [Path("refocus_bench")]
    files = [p for root in roots for p in (sorted(root.rglob("*.py")) if root.is_dir() else [root])]
    found = [msg for p in files for msg in oversized(p)]
    print("\n".join(found) or "no oversized functions or files")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
