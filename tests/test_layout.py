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


MAX_PARAMETERS = 6


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    arguments = node.args
    every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
    return [arg for arg in every if arg.arg not in {"self", "cls"}]


def test_no_function_takes_more_than_6_parameters():
    crowded = [
        f"{path.relative_to(SOURCE)}:{node.lineno} {node.name} ({len(_parameters(node))})"
        for path, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and len(_parameters(node)) > MAX_PARAMETERS
    ]
    assert crowded == []


# The kinds of object that carry a stage's options (not data the stage works on).
OPTION_KINDS = ("Request", "Options", "Flags", "Settings", "Recipe")


def _dataclass_fields() -> dict[str, set[str]]:
    """Every options dataclass of the package with four fields or more: name → its fields."""
    found: dict[str, set[str]] = {}
    for _path, tree in _modules():
        for node in ast.walk(tree):
            if (
                not isinstance(node, ast.ClassDef)
                or not node.name.endswith(OPTION_KINDS)
                or not any("dataclass" in ast.unparse(item) for item in node.decorator_list)
            ):
                continue
            fields = {
                item.target.id
                for item in node.body
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
            }
            if len(fields) >= 4:
                found[node.name] = fields
    return found


def test_a_function_given_a_request_object_uses_it_or_hands_it_on():
    """No grab-bags: a function that takes a many-field object reads at least half of its
    fields, or passes the whole object on; otherwise it should take just what it reads."""
    classes = _dataclass_fields()
    idle = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for arg in _parameters(node):
                annotation = ast.unparse(arg.annotation) if arg.annotation else ""
                kind = annotation.split("|")[0].strip().strip("'\"")
                if kind not in classes:
                    continue
                read = {
                    item.attr
                    for item in ast.walk(node)
                    if isinstance(item, ast.Attribute)
                    and isinstance(item.value, ast.Name)
                    and item.value.id == arg.arg
                } & classes[kind]
                handed_on = any(
                    isinstance(item, ast.Call)
                    and any(
                        isinstance(value, ast.Name) and value.id == arg.arg
                        for value in [*item.args, *(keyword.value for keyword in item.keywords)]
                    )
                    for item in ast.walk(node)
                )
                if not handed_on and len(read) * 2 < len(classes[kind]):
                    idle.append(
                        f"{path.relative_to(SOURCE)}:{node.lineno} {node.name}({arg.arg}: {kind})"
                        f" reads {sorted(read)} of {len(classes[kind])} fields"
                    )
    assert idle == []


_REGEX_CALLS = {"compile", "match", "fullmatch", "search", "sub", "subn", "split", "findall"}


def test_no_pattern_ends_in_a_dollar_that_accepts_a_trailing_newline():
    """``$`` matches before a final newline: ``^[a-z]+$`` accepts ``"deps\\n"``. Names are
    checked with ``fullmatch`` and ends of strings anchored with ``\\Z``."""
    dollar = [
        f"{path.relative_to(SOURCE)}:{node.lineno} {pattern.value!r}"
        for path, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "re"
        and node.func.attr in _REGEX_CALLS
        and node.args
        for pattern in [node.args[0]]
        if isinstance(pattern, ast.Constant)
        and isinstance(pattern.value, str)
        and pattern.value.endswith("$")
        and not pattern.value.endswith("\\$")
    ]
    assert dollar == []
