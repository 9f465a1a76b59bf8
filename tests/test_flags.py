"""The library speaks of its settings, the command line of its flags (issue #29): a library
message names ```Class.field``` (lambdalayer.errors.option) and the CLI's one table puts the
flag there."""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import pytest

from lambdalayer.builder.pipeline import failed_check
from lambdalayer.check.findings import CheckReport, Finding, Kind, Severity
from lambdalayer.cli.flags import FLAGS, in_flags
from lambdalayer.cli.main import parser
from lambdalayer.errors import option
from lambdalayer.targets import get_target

SOURCE = Path(__file__).resolve().parents[1] / "src" / "lambdalayer"
# Modules whose messages still name flags (other work under way, or flags as their subject:
# the plan turns the command line's flags into requests); every other library module speaks
# of settings.
STILL_FLAGS = {
    "aws",
    "supply",
    "cache",
    "inputs",
    "cli",
    "builder/plan.py",
    "builder/ships.py",
    "builder/provenance.py",
    "oci/client.py",
    "network.py",
    "report.py",
    "net/fetch.py",
    "layer/slim.py",
    "lock.py",
}
_OPTION = re.compile(r"""option\(\s*["']([A-Z][A-Za-z]+\.[a-z_]+)["'](?:\s*,\s*([^)]*))?\)""")


def _library_modules() -> list[Path]:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        relative = path.relative_to(SOURCE).as_posix()
        if relative.split("/")[0] in STILL_FLAGS or relative in STILL_FLAGS:
            continue
        if path.name.startswith("_") and path.name != "__init__.py":
            continue  # the children run in a sandbox and print nothing of the CLI
        found.append(path)
    return found


def _flags() -> set[str]:
    """Every long option of every command (but the ones every program has)."""
    flags: set[str] = set()
    commands = [
        action for action in parser()._actions if isinstance(action, argparse._SubParsersAction)
    ]
    for action in commands:
        for subparser in action.choices.values():
            for argument in subparser._actions:
                flags |= {name for name in argument.option_strings if name.startswith("--")}
    return flags - {"--help", "--version", "--json", "--verbose", "--quiet"}


def _messages(path: Path) -> list[str]:
    """The string constants of a module that are not docstrings, nor items of a list or tuple
    (the command lines of other programs: uv's own ``--index-url``)."""
    tree = ast.parse(path.read_text("utf-8"))
    argv = {
        id(item)
        for node in ast.walk(tree)
        if isinstance(node, ast.List | ast.Tuple)
        for item in node.elts
    }
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings | argv
    ]


def test_every_setting_the_library_names_has_its_flag_in_the_table():
    used = set()
    for path in SOURCE.rglob("*.py"):
        for match in _OPTION.finditer(path.read_text("utf-8")):
            value = match.group(2)
            literal = value.strip() in ("True", "False") if value else False
            used.add(f"{match.group(1)}={value.strip()}" if literal else match.group(1))
    assert used, "no library message names a setting"
    assert used <= set(FLAGS) | {key.split("=")[0] for key in FLAGS}, used - set(FLAGS)


def test_no_library_message_names_a_flag_of_the_command_line():
    flags = _flags()
    pattern = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, sorted(flags))) + r")(?![\w-])")
    # A whole command line shown to run (``lambdalayer invoke --sample sqs``) is the command
    # line's own words, quoted; a flag on its own is a setting the library should name.
    found = [
        f"{path.relative_to(SOURCE)}: {match.group(1)} in {text[:60]!r}"
        for path in _library_modules()
        for text in _messages(path)
        if (match := pattern.search(text)) and "lambdalayer " not in text[: match.start()]
    ]
    assert found == []


def test_a_setting_is_said_as_the_flag_with_its_value():
    assert option("BuildRequest.check", False) == "`BuildRequest.check=False`"
    assert in_flags(f"{option('BuildRequest.check', False)} writes it") == "--no-check writes it"
    assert in_flags(f"e.g. {option('Target.runtime', 'python3.12')}") == "e.g. --runtime python3.12"
    # uv's own backquoted names are not settings, and a setting the table lacks stays as it is.
    assert in_flags("Wheels are required for `docsrc`") == "Wheels are required for `docsrc`"
    assert in_flags("`Nope.field=1`") == "`Nope.field=1`"


@pytest.mark.parametrize("function", [False, True])
def test_a_failed_checks_hint_names_the_setting_and_the_cli_its_flag(function, tmp_path):
    finding = Finding(Severity.ERROR, Kind.IMPORT, "import x failed", None, "x")
    report = CheckReport(tmp_path / "layer.zip", get_target("python3.12"), (finding,), 1, 1, 1)
    error = failed_check(report, tmp_path / "layer.zip", function=function)
    if function:
        assert "BuildRequest.check" not in (error.hint or "")
    else:
        assert "`BuildRequest.check=False`" in (error.hint or "")
        assert "--no-check writes the layer anyway" in in_flags(error.hint or "")
