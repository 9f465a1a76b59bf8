"""``lambdalayer init``: the configuration a project starts with, found the way ``build`` finds inputs.

The inputs are what ``build`` would read in the directory (its lock, pyproject.toml or
requirements.txt); the runtimes and CPUs come from a deploy tool's file already there,
read function by function (:mod:`lambdalayer.inputs.deploy`: SAM and CloudFormation
templates, ``cdk.out``, serverless.yml; a CDK app's source when it names one of each),
else from the caller (asked on a terminal), else the defaults.
Nothing here writes: :func:`plan_init` returns the text and where it goes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.errors import InputError
from lambdalayer.fsutil import read_text_file
from lambdalayer.inputs.deploy import find_deploy_files, read_deploy_file
from lambdalayer.inputs.projects import discover_input
from lambdalayer.targets import get_target

_CDK_FILES = ("app.py", "app.js", "app.ts", "bin/app.ts", "lib/stack.ts")
_CDK_RUNTIME = re.compile(r"Runtime\.PYTHON_3_(\d+)")
_CDK_ARCH = re.compile(r"Architecture\.(ARM_64|X86_64)")


@dataclass(frozen=True)
class DetectedTargets:
    """The (runtime, CPU) pairs a deploy tool's file names for its Python functions."""

    targets: tuple[tuple[str, str], ...]
    source: str | None
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # functions left out: their runtime or CPU is not static


@dataclass(frozen=True)
class InitPlan:
    """What ``init`` would write, and where: a ``[tool.lambdalayer]`` table or a lambdalayer.toml."""

    path: Path
    text: str  # the whole new file (pyproject: its old text with the table appended)
    table: str  # the configuration alone, for the summary
    input_file: Path


def detect_targets(project_dir: Path) -> DetectedTargets:
    """Every distinct (runtime, CPU) of the Python functions a SAM template, CloudFormation
    template (``cdk.out``), serverless.yml or CDK app in ``project_dir`` deploys.

    Each function's own runtime and CPU count (a template's ``Globals`` are defaults): two
    functions on different runtimes give two targets, never a mix of one's runtime and the
    other's CPU. What a file leaves unresolved (``!Ref`` without a default) is a note; a
    function whose runtime or CPU is unresolved is left out, with a warning naming it —
    never given a guessed one.
    """
    notes: list[str] = []
    for path in find_deploy_files(project_dir):
        try:
            deploy = read_deploy_file(path)
        except InputError as error:
            notes.append(error.message)
            continue
        for function in deploy.functions:
            notes += [f"{path.name}: {item}" for item in function.unresolved]
        warnings = tuple(
            f"{path.name}: {function.name} is left out of the targets: its runtime or CPU is"
            f" not static ({'; '.join(function.unresolved)})"
            for function in deploy.left_out()
        )
        found = deploy.targets()
        if found or warnings:
            return DetectedTargets(tuple(found), path.name, tuple(notes), warnings)
    for name in _CDK_FILES:  # a CDK app's source, when it has not been synthesized yet
        path = project_dir / name
        if not path.is_file():
            continue
        text = read_text_file(path, "CDK app")
        runtimes = sorted({f"python3.{minor}" for minor in _CDK_RUNTIME.findall(text)})
        arches = sorted({"arm64" if a == "ARM_64" else "x86_64" for a in _CDK_ARCH.findall(text)})
        if len(runtimes) > 1 or len(arches) > 1:
            notes.append(
                f"{name} names several runtimes or CPUs: run cdk synth, then init again"
                " (cdk.out's templates say which function has which)"
            )
        elif runtimes:
            return DetectedTargets(((runtimes[0], arches[0] if arches else "x86_64"),), name)
    return DetectedTargets((), None, tuple(notes))


def plan_init(project_dir: Path, targets: Sequence[tuple[str, str]]) -> InitPlan:
    """The configuration for ``project_dir``: in its pyproject.toml if it has one, else lambdalayer.toml.

    One (runtime, CPU) pair is written as ``runtime``/``arch``; several as ``targets``.
    """
    chosen = list(dict.fromkeys(get_target(runtime, arch) for runtime, arch in targets))
    input_file = discover_input(project_dir)
    pyproject = project_dir / "pyproject.toml"
    standalone = project_dir / "lambdalayer.toml"
    if standalone.exists():
        raise InputError(
            f"{standalone} exists already", hint="edit it, or remove it to start again"
        )
    in_pyproject = pyproject.is_file()
    prefix = "tool.lambdalayer." if in_pyproject else ""
    if len(chosen) == 1:
        lines = [f'runtime = "{chosen[0].runtime.name}"', f'arch = "{chosen[0].arch}"']
    else:
        lines = [f"targets = [{', '.join(f'{chr(34)}{t.name}{chr(34)}' for t in chosen)}]"]
    lines.append('output-dir = "dist"')
    if in_pyproject:
        lines.insert(0, "[tool.lambdalayer]")
    if input_file.name not in {"pyproject.toml", "uv.lock", "poetry.lock"}:
        # A requirements file or pylock is not the project's own input: name it as a layer.
        lines += ["", f"[{prefix}layers.deps]", f'files = ["{input_file.name}"]']
    table = "\n".join(lines)
    if not in_pyproject:
        return InitPlan(standalone, table + "\n", table, input_file)
    existing = read_text_file(pyproject, "project file")
    if re.search(r"^\[tool\.lambdalayer[\].]", existing, re.MULTILINE):
        raise InputError(
            f"{pyproject} has a [tool.lambdalayer] table already",
            hint="edit it, or remove the table to start again",
        )
    separator = "\n" if existing.endswith("\n") else "\n\n"
    return InitPlan(pyproject, existing + separator + table + "\n", table, input_file)
