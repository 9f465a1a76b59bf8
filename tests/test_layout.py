"""The code's shape, as the review asked: short functions, one exception tree, documented modules."""

from __future__ import annotations

import ast
from pathlib import Path

import lambdalayer

SOURCE = Path(lambdalayer.__file__).parent
MAX_FUNCTION_LINES = 80


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text())) for path in sorted(SOURCE.rglob("*.py"))]


def test_no_function_is_longer_than_80_lines():
    long = [
        f"{path.relative_to(SOURCE)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


def test_every_module_says_what_it_does():
    undocumented = [
        str(path.relative_to(SOURCE)) for path, tree in _modules() if not ast.get_docstring(tree)
    ]
    assert undocumented == []


def test_every_exception_lives_in_errors():
    defined_elsewhere = [
        f"{path.relative_to(SOURCE)}: {node.name}"
        for path, tree in _modules()
        if path.name != "errors.py"
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(
            isinstance(base, ast.Name) and base.id.endswith(("Error", "Exception"))
            for base in node.bases
        )
    ]
    assert defined_elsewhere == []
