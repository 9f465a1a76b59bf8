"""``lambdalayer init``: the configuration a project starts with, found the way ``build`` finds inputs.

The inputs are what ``build`` would read in the directory (its lock, pyproject.toml or
requirements.txt); the runtime and CPU come from a deploy tool's file already there — a
SAM template (``Runtime: python3.12``, ``Architectures: [arm64]``), a ``serverless.yml``
(``runtime:``/``architecture:``) or a CDK app (``Runtime.PYTHON_3_12``,
``Architecture.ARM_64``) — else from the caller (asked on a terminal), else the defaults.
Nothing here writes: :func:`plan_init` returns the text and where it goes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.errors import InputError
from lambdalayer.inputs.projects import discover_input
from lambdalayer.targets import canonical_arch, get_runtime

_DEPLOY_FILES = ("template.yaml", "template.yml", "serverless.yml", "serverless.yaml")
_CDK_FILES = ("app.py", "app.js", "app.ts", "bin/app.ts", "lib/stack.ts", "cdk.json")
_YAML_RUNTIME = re.compile(r"^\s*[Rr]untime:\s*['\"]?(python3\.\d+)\b", re.MULTILINE)
_YAML_ARCH = re.compile(
    r"^\s*(?:[Aa]rchitectures?:\s*(?:\[\s*|\n\s*-\s*)?)['\"]?(arm64|x86_64)\b", re.MULTILINE
)
_CDK_RUNTIME = re.compile(r"Runtime\.PYTHON_3_(\d+)")
_CDK_ARCH = re.compile(r"Architecture\.(ARM_64|X86_64)")


@dataclass(frozen=True)
class DetectedTarget:
    """A runtime and CPU read from a deploy tool's file (either may be missing)."""

    runtime: str | None
    arch: str | None
    source: str | None


@dataclass(frozen=True)
class InitPlan:
    """What ``init`` would write, and where: a ``[tool.lambdalayer]`` table or a lambdalayer.toml."""

    path: Path
    text: str  # the whole new file (pyproject: its old text with the table appended)
    table: str  # the configuration alone, for the summary
    input_file: Path


def detect_target(project_dir: Path) -> DetectedTarget:
    """The runtime and CPU a SAM template, serverless.yml or CDK app in ``project_dir`` names."""
    for name in (*_DEPLOY_FILES, *_CDK_FILES):
        path = project_dir / name
        if not path.is_file():
            continue
        try:
            text = path.read_text("utf-8", errors="replace")[:1_000_000]
        except OSError:
            continue
        if name in _DEPLOY_FILES:
            runtime = _YAML_RUNTIME.search(text)
            arch = _YAML_ARCH.search(text)
            found = (runtime.group(1) if runtime else None, arch.group(1) if arch else None)
        else:
            cdk_runtime = _CDK_RUNTIME.search(text)
            cdk_arch = _CDK_ARCH.search(text)
            found = (
                f"python3.{cdk_runtime.group(1)}" if cdk_runtime else None,
                {"ARM_64": "arm64", "X86_64": "x86_64"}[cdk_arch.group(1)] if cdk_arch else None,
            )
        if any(found):
            return DetectedTarget(found[0], found[1], name)
    return DetectedTarget(None, None, None)


def plan_init(project_dir: Path, runtime: str, arch: str) -> InitPlan:
    """The configuration for ``project_dir``: in its pyproject.toml if it has one, else lambdalayer.toml."""
    runtime_name = get_runtime(runtime).name
    arch_name = canonical_arch(arch)
    input_file = discover_input(project_dir)
    pyproject = project_dir / "pyproject.toml"
    standalone = project_dir / "lambdalayer.toml"
    if standalone.exists():
        raise InputError(
            f"{standalone} exists already", hint="edit it, or remove it to start again"
        )
    in_pyproject = pyproject.is_file()
    prefix = "tool.lambdalayer." if in_pyproject else ""
    lines = [f'runtime = "{runtime_name}"', f'arch = "{arch_name}"', 'output-dir = "dist"']
    if in_pyproject:
        lines.insert(0, "[tool.lambdalayer]")
    if input_file.name not in {"pyproject.toml", "uv.lock", "poetry.lock"}:
        # A requirements file or pylock is not the project's own input: name it as a layer.
        lines += ["", f"[{prefix}layers.deps]", f'files = ["{input_file.name}"]']
    table = "\n".join(lines)
    if not in_pyproject:
        return InitPlan(standalone, table + "\n", table, input_file)
    existing = pyproject.read_text("utf-8")
    if re.search(r"^\[tool\.lambdalayer[\].]", existing, re.MULTILINE):
        raise InputError(
            f"{pyproject} has a [tool.lambdalayer] table already",
            hint="edit it, or remove the table to start again",
        )
    separator = "\n" if existing.endswith("\n") else "\n\n"
    return InitPlan(pyproject, existing + separator + table + "\n", table, input_file)
