"""What the user asked for: requirement strings, requirements files, project files and locks.

Requirements files are handed to uv unchanged (it understands ``-r``, ``-c``, markers,
extras and options). ``-r`` also takes a ``pyproject.toml``, ``uv.lock``, ``poetry.lock``
or ``pylock*.toml``, recognised by name (see :mod:`lambdalayer.inputs.projects`). This module
validates what uv would report badly, and collects ``--hash`` pins, which the resolver
checks against the wheel it picks for the target.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from lambdalayer.errors import InputError, LambdaLayerError
from lambdalayer.fsutil import read_text_file
from lambdalayer.inputs.projects import (
    InputKind,
    input_kind,
    poetry_lock_requirements,
    pyproject_requirements,
    uv_lock_requirements,
)
from lambdalayer.zipnames import printable

_HASH_OPTION = re.compile(r"--hash[=\s]+sha256:([0-9a-fA-F]{64})")
_INCLUDE_OPTION = re.compile(r"^(?:-r|--requirement|-c|--constraint)[=\s]+(\S+)")


@dataclass(frozen=True)
class Requirements:
    """Requirement strings, requirements files, and pinned lines taken from a lock."""

    specifiers: tuple[str, ...] = ()
    files: tuple[Path, ...] = ()
    hash_pins: dict[str, frozenset[str]] = field(default_factory=dict)
    pinned_by: str | None = None  # the lock whose pins these are; they are kept as they are
    constraints: tuple[str, ...] = ()  # e.g. what a base layer provides: "pandas==3.0.5"

    def as_requirements_in(self) -> str:
        """One requirements file that stands for all inputs (what uv is given)."""
        lines = [f"-r {shlex.quote(str(path.resolve()))}" for path in self.files]
        lines += list(self.specifiers)
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Gathered:
    """The inputs of one build: requirements to resolve, or a pylock to build as it is."""

    requirements: Requirements | None = None
    pylock: Path | None = None


def _logical_lines(text: str) -> Iterator[str]:
    """Requirements-file lines with continuations joined and comments removed."""
    pending = ""
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*\Z", "", raw).rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = (pending + line).strip(), ""
        if line:
            yield line


def _collect_hash_pins(text: str, base: Path, pins: dict[str, set[str]], seen: set[Path]) -> None:
    for line in _logical_lines(text):
        include = _INCLUDE_OPTION.match(line)
        if include:
            _collect_file_pins(base / include.group(1), pins, seen)
            continue
        hashes = _HASH_OPTION.findall(line)
        if not hashes or line.startswith("-"):
            continue
        try:
            name = canonicalize_name(Requirement(line.split(" --", 1)[0].strip()).name)
        except InvalidRequirement:
            continue  # uv reports malformed lines itself, with their position
        pins.setdefault(name, set()).update(digest.lower() for digest in hashes)


def _collect_file_pins(path: Path, pins: dict[str, set[str]], seen: set[Path]) -> None:
    resolved = path.resolve()
    if resolved in seen:
        return
    seen.add(resolved)
    text = read_text_file(resolved, "requirements file")
    _collect_hash_pins(text, resolved.parent, pins, seen)


_URL_SCHEMES = ("git+", "hg+", "svn+", "bzr+", "https://", "http://", "file:")


def _local_path(text: str) -> Path | None:
    """The path a requirement names when it is a local project or archive, else ``None``."""
    if (
        text.startswith((".", "/", "~"))
        or os.sep in text
        or text.endswith((".whl", ".tar.gz", ".zip"))
    ):
        path = Path(text).expanduser()
        return path if path.exists() else None
    return None


def normalise_specifier(text: str) -> str:
    """A requirement argument as uv should read it, in any form a requirements file accepts.

    Names with specifiers, ``name @ URL``, bare URLs (``git+https://…``), local paths
    (``./mypkg``: made absolute, since uv reads them from a file elsewhere) and ``-e PATH``.
    Raises :class:`InputError` for anything else.
    """
    stripped = text.strip()
    editable = stripped.startswith(("-e ", "--editable ", "--editable="))
    if editable:
        stripped = stripped.split(None, 1)[-1] if " " in stripped else stripped.split("=", 1)[1]
    local = _local_path(stripped)
    if local is not None:
        return str(local.resolve())
    if stripped.startswith(_URL_SCHEMES) and not editable:
        return stripped
    if editable:
        raise InputError(
            f"-e {stripped}: no such directory",
            hint="give the path of a local project, e.g. -e ./mypkg",
        )
    try:
        Requirement(stripped)
    except InvalidRequirement as error:
        hint = "use the requirements syntax, e.g. 'requests>=2.31' or 'pydantic[email]==2.*'"
        if stripped.startswith((".", "/")):
            hint = f"{stripped} does not exist; give the path of a local project or archive"
        raise InputError(f"invalid requirement {text!r}: {error}", hint=hint) from error
    return stripped


def _requirement_lines(path: Path, seen: set[Path]) -> int:
    """How many requirement lines a requirements file holds, following its ``-r`` includes."""
    resolved = path.resolve()
    if resolved in seen:
        return 0
    seen.add(resolved)
    text = read_text_file(resolved, "requirements file")
    count = 0
    for line in _logical_lines(text):
        include = re.match(r"^(?:-r|--requirement)[=\s]+(\S+)", line)
        if include:
            count += _requirement_lines(resolved.parent / include.group(1), seen)
        elif not line.startswith("-") or line.startswith(("-e", "--editable")):
            count += 1
    return count


def asked_requirements(requirements: Requirements) -> tuple[Requirement, ...]:
    """The requirements the user named: the arguments and the lines of the requirements files
    (``-r`` includes followed), each a plain ``name[extras] specifier``; a URL, a local path,
    an option, a line with a marker or one that cannot be read is left out (this is for
    saying why a version was chosen, never for resolving)."""
    found: list[Requirement] = []
    lines = list(requirements.specifiers)
    for path in requirements.files:
        lines += _plain_lines(path, set())
    for line in lines:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.url is None and requirement.marker is None:
            found.append(requirement)
    return tuple(found)


def _plain_lines(path: Path, seen: set[Path]) -> list[str]:
    """The requirement lines of a requirements file and its ``-r`` includes (none unreadable)."""
    resolved = path.resolve()
    if resolved in seen:
        return []
    seen.add(resolved)
    try:
        text = read_text_file(resolved, "requirements file")
    except LambdaLayerError:
        return []
    lines: list[str] = []
    for line in _logical_lines(text):
        include = re.match(r"^(?:-r|--requirement)[=\s]+(\S+)", line)
        if include:
            lines += _plain_lines(resolved.parent / include.group(1), seen)
        elif not line.startswith("-"):
            lines.append(_HASH_OPTION.sub("", line).strip())
    return lines


def _require_something(lines: Sequence[str], requirement_files: Sequence[Path]) -> None:
    """Refuse, before any resolving, inputs that name no requirement at all."""
    if not lines and not requirement_files:
        raise InputError(
            "nothing to build: no requirements given",
            hint="name packages (lambdalayer build requests) or a file (-r requirements.txt)",
        )
    if not lines and not any(_requirement_lines(path, set()) for path in requirement_files):
        names = ", ".join(str(path) for path in requirement_files)
        raise InputError(
            f"nothing to build: {names} lists no requirements (only comments, blank lines or"
            " options)",
            hint="add the packages the function needs, one per line, e.g. requests>=2.31",
        )


def _missing_file_hint(path: Path) -> str:
    """What to give instead of a missing input: a file of a close name in its directory."""
    try:
        names = [entry.name for entry in path.parent.iterdir() if entry.is_file()]
    except OSError:
        names = []
    close = difflib.get_close_matches(path.name, sorted(names), n=1, cutoff=0.8)
    if close:
        return f"did you mean {printable(str(path.parent / close[0]))}?"
    return (
        "give the path of a requirements file, pyproject.toml, uv.lock, poetry.lock or pylock.toml"
    )


def _check_input_file(path: Path) -> None:
    """Refuse an input file that is missing, a pipe or not a regular file."""
    if not path.exists():
        raise InputError(f"input file not found: {path}", hint=_missing_file_hint(path))
    if path.is_fifo():  # -r <(cmd): a pipe is read once, and uv reads inputs by path
        raise InputError(
            f"input {path} is a pipe, not a file: the build reads its inputs more than once",
            hint="write it to a file first (cmd > requirements.txt), then -r requirements.txt",
        )
    if not path.is_file():
        raise InputError(f"input {path} is not a regular file (a directory or a device)")


def gather(
    specifiers: Sequence[str],
    files: Sequence[Path],
    *,
    extras: Sequence[str] = (),
    groups: Sequence[str] = (),
    include_dependencies: bool = True,
) -> Gathered:
    """Validate and read the user's inputs; raises :class:`InputError` for a bad one.

    >>> gather(["requests==2.31.0"], []).requirements.specifiers
    ('requests==2.31.0',)
    """
    specifiers = [normalise_specifier(text) for text in specifiers]
    for path in files:
        _check_input_file(path)
    kinds = {path: input_kind(path) for path in files}
    locks = [
        path
        for path, kind in kinds.items()
        if kind in {InputKind.UV_LOCK, InputKind.POETRY_LOCK, InputKind.PYLOCK}
    ]
    if locks and (len(files) > 1 or specifiers):
        raise InputError(
            f"{locks[0].name} must be the only input: a lock's pins are built as they are",
            hint="drop the other packages and files, or give a pyproject.toml instead of the lock",
        )
    if (extras or groups) and not any(
        kind in {InputKind.PYPROJECT, InputKind.UV_LOCK, InputKind.POETRY_LOCK}
        for kind in kinds.values()
    ):
        raise InputError("--extra and --group need a pyproject.toml, uv.lock or poetry.lock input")
    if locks and kinds[locks[0]] is InputKind.PYLOCK:
        return Gathered(pylock=locks[0])
    lines = list(specifiers)
    requirement_files: list[Path] = []
    pinned_by = None
    for path, kind in kinds.items():
        if kind is InputKind.PYPROJECT:
            lines += pyproject_requirements(
                path, extras, groups, include_dependencies=include_dependencies
            )
        elif kind is InputKind.UV_LOCK:
            lines += uv_lock_requirements(path, extras, groups)
            pinned_by = str(path)
        elif kind is InputKind.POETRY_LOCK:
            lines += poetry_lock_requirements(path, groups)
            pinned_by = str(path)
        else:
            requirement_files.append(path)
    _require_something(lines, requirement_files)
    pins: dict[str, set[str]] = {}
    _collect_hash_pins("\n".join(lines), Path.cwd(), pins, set())
    for path in requirement_files:
        _collect_file_pins(path, pins, set())
    return Gathered(
        Requirements(
            specifiers=tuple(lines),
            files=tuple(requirement_files),
            hash_pins={name: frozenset(digests) for name, digests in pins.items()},
            pinned_by=pinned_by,
        )
    )
