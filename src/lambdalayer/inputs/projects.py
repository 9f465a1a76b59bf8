"""Reading a project's own files: pyproject.toml, uv.lock, poetry.lock.

Each reader returns requirement lines for uv: a pyproject gives the loose requirements of
the chosen extras and dependency groups (the project itself is never among them); a lock
gives its pins, ``name==version ; marker --hash=...``, which are kept as they are.
"""

from __future__ import annotations

import enum
import subprocess
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from packaging.dependency_groups import resolve_dependency_groups
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from lambdalayer.errors import InputError
from lambdalayer.fsutil import read_text_file
from lambdalayer.uvtool import uv_binary, uv_environment, uv_failure


class InputKind(enum.StrEnum):
    """What a ``-r FILE`` is, recognised by its name."""

    REQUIREMENTS = "requirements"
    PYPROJECT = "pyproject.toml"
    UV_LOCK = "uv.lock"
    POETRY_LOCK = "poetry.lock"
    PYLOCK = "pylock.toml"


def input_kind(path: Path) -> InputKind:
    """The kind of an input file from its name (``requirements*.txt`` and anything else: requirements)."""
    name = path.name
    if name == "pyproject.toml":
        return InputKind.PYPROJECT
    if name == "uv.lock":
        return InputKind.UV_LOCK
    if name == "poetry.lock":
        return InputKind.POETRY_LOCK
    if name == "pylock.toml" or (name.startswith("pylock.") and name.endswith(".toml")):
        return InputKind.PYLOCK
    return InputKind.REQUIREMENTS


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(read_text_file(path, "project file"))
    except (tomllib.TOMLDecodeError, RecursionError) as error:
        raise InputError(f"{path} is not valid TOML: {error}") from error


def _typed(value: Any, kind: type, key: str, path: Path) -> Any:
    """``value`` when it is a ``kind`` (a list: of strings); else one error naming the key."""
    fits = isinstance(value, kind) and (
        not isinstance(value, list) or all(isinstance(item, str) for item in value)
    )
    if not fits:
        wanted = (
            "a list of strings"
            if kind is list
            else f"a {'table' if kind is dict else kind.__name__}"
        )
        raise InputError(f"{path}: {key} must be {wanted}, not {value!r:.60}")
    return value


def pyproject_requirements(
    path: Path,
    extras: Sequence[str] = (),
    groups: Sequence[str] = (),
    *,
    include_dependencies: bool = True,
) -> list[str]:
    """``[project] dependencies`` (unless not wanted) plus the named extras and PEP 735 groups."""
    document = _read_toml(path)
    project = _typed(document.get("project", {}), dict, "project", path)
    name = _typed(project.get("name", ""), str, "project.name", path)
    own_name = canonicalize_name(name) if name else None
    optional: dict[str, list[str]] = _typed(
        project.get("optional-dependencies", {}), dict, "project.optional-dependencies", path
    )
    for extra_name, extra_lines in optional.items():
        _typed(extra_lines, list, f"project.optional-dependencies.{extra_name}", path)
    dependency_groups: dict[str, list[Any]] = _typed(
        document.get("dependency-groups", {}), dict, "dependency-groups", path
    )
    dependencies = _typed(project.get("dependencies", []), list, "project.dependencies", path)
    lines: list[str] = []
    seen_extras: set[str] = set()

    def add(requirement_text: str) -> None:
        try:
            requirement = Requirement(requirement_text)
        except InvalidRequirement as error:
            raise InputError(
                f"{path}: invalid requirement {requirement_text!r}: {error}"
            ) from error
        if own_name is not None and canonicalize_name(requirement.name) == own_name:
            for extra in sorted(requirement.extras):  # "myproject[extra]": the extra's dependencies
                add_extra(extra)
            return
        lines.append(requirement_text)

    def add_extra(extra: str) -> None:
        if extra in seen_extras:
            return
        seen_extras.add(extra)
        if extra not in optional:
            known = ", ".join(sorted(optional)) or "none"
            raise InputError(f"{path} has no extra {extra!r}", hint=f"extras: {known}")
        for requirement_text in optional[extra]:
            add(requirement_text)

    def add_group(group: str) -> None:
        if canonicalize_name(group) not in {canonicalize_name(name) for name in dependency_groups}:
            known = ", ".join(sorted(dependency_groups)) or "none"
            raise InputError(f"{path} has no dependency group {group!r}", hint=f"groups: {known}")
        try:
            resolved = resolve_dependency_groups(dependency_groups, group)
        except* (ValueError, LookupError) as problems:  # packaging reports them as a group
            first = problems.exceptions[0]
            raise InputError(f"{path}: dependency group {group!r}: {first}") from first
        for requirement_text in resolved:
            add(requirement_text)

    for requirement_text in dependencies if include_dependencies else []:
        add(requirement_text)
    for extra in extras:
        add_extra(extra)
    for group in groups:
        add_group(group)
    return lines


def uv_lock_requirements(
    path: Path, extras: Sequence[str] = (), groups: Sequence[str] = (), uv_bin: str | None = None
) -> list[str]:
    """The pins of a ``uv.lock`` for the chosen extras and groups, through ``uv export``."""
    if uv_bin is None:
        uv_bin = uv_binary()
    command = [
        uv_bin,
        "export",
        "--format",
        "requirements.txt",
        "--frozen",
        "--no-emit-project",
        "--no-emit-workspace",
        "--no-header",
        "--no-annotate",
        "--no-dev",
        "--quiet",
        "--project",
        str(path.parent),
    ]
    for extra in extras:
        command += ["--extra", extra]
    for group in groups:
        command += ["--group", group]
    environment = uv_environment()
    completed = subprocess.run(
        command, capture_output=True, text=True, env=environment, check=False
    )
    if completed.returncode != 0:
        said = uv_failure(completed.returncode, completed.stderr).lines
        raise InputError(f"uv export of {path} failed: {' '.join(said)}")
    return [
        line
        for line in completed.stdout.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def _poetry_packages(document: dict[str, Any], path: Path) -> list[dict[str, Any]]:
    """The ``[[package]]`` tables of a poetry.lock, each with a string name and version."""
    packages = document.get("package", [])
    shapes_fit = isinstance(packages, list) and all(
        isinstance(package, dict)
        and isinstance(package.get("name"), str)
        and isinstance(package.get("version"), str)
        and isinstance(package.get("groups", []), list)
        and isinstance(package.get("source", {}), dict)
        and isinstance(package.get("files", []), list)
        and all(isinstance(item, dict) for item in package.get("files", []))
        for package in packages
    )
    if not shapes_fit:
        raise InputError(
            f"{path} is not a poetry.lock this tool can read: every [[package]] needs a name and a"
            " version",
            hint="write it again with poetry lock",
        )
    return list(packages)


def poetry_lock_requirements(path: Path, groups: Sequence[str] = ()) -> list[str]:
    """The pins of a ``poetry.lock``: packages of the ``main`` group (plus ``groups``), with their hashes."""
    document = _read_toml(path)
    wanted = {"main", *groups}
    lines = []
    for package in _poetry_packages(document, path):
        package_groups = set(package.get("groups", ["main"]))
        if not package_groups & wanted:
            continue
        if package.get("source", {}).get("type") in {"directory", "git", "file", "url"}:
            raise InputError(
                f"{path}: {package['name']} comes from a {package['source']['type']} source, not"
                " an index",
                hint="lambdalayer installs wheels from an index; publish the package or vendor it in the function",
            )
        markers = package.get("markers")
        if isinstance(markers, dict):  # per-group markers: any selected group's marker applies
            chosen = [
                f"({markers[group]})"
                for group in sorted(package_groups & wanted)
                if group in markers
            ]
            markers = " or ".join(chosen) if chosen else None
        line = f"{package['name']}=={package['version']}"
        if markers:
            line += f" ; {markers}"
        hashes = [
            item["hash"]
            for item in package.get("files", [])
            if str(item.get("hash", "")).startswith("sha256:")
        ]
        lines.append(line + "".join(f" --hash={digest}" for digest in hashes))
    return lines


def discover_input(project_dir: Path) -> Path:
    """The input of a project directory: its lock if it has one, else its pyproject, else requirements.txt.

    A pyproject.toml counts when it has a ``[project]`` table (one that only configures
    tools does not); ``requirements.txt`` is what SAM and the Serverless plugin read.
    """
    for name in ("uv.lock", "poetry.lock", "pylock.toml"):
        candidate = project_dir / name
        if candidate.is_file():
            return candidate
    pyproject = project_dir / "pyproject.toml"
    requirements = project_dir / "requirements.txt"
    if pyproject.is_file() and ("project" in _read_toml(pyproject) or not requirements.is_file()):
        return pyproject
    if requirements.is_file():
        return requirements
    raise InputError(
        f"nothing to build: no packages given, and {project_dir} has no uv.lock, poetry.lock,"
        " pylock.toml, pyproject.toml or requirements.txt",
        hint="name packages (lambdalayer build requests), a file (-r requirements.txt), or --project DIR",
    )
