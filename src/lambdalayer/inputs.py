"""What the user asked for: requirement strings and requirements files.

The files themselves are handed to uv unchanged (it understands ``-r``, ``-c``, markers,
extras and options); this module only validates what uv would report badly, and collects
``--hash`` pins, which the resolver checks against the wheel it picks for the target.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from lambdalayer.errors import InputError

_HASH_OPTION = re.compile(r"--hash[=\s]+sha256:([0-9a-fA-F]{64})")
_INCLUDE_OPTION = re.compile(r"^(?:-r|--requirement|-c|--constraint)[=\s]+(\S+)")


@dataclass(frozen=True)
class Requirements:
    """Requirement strings (``requests==2.31.0``) plus requirements files, as given."""

    specifiers: tuple[str, ...] = ()
    files: tuple[Path, ...] = ()
    hash_pins: dict[str, frozenset[str]] = field(default_factory=dict)

    def as_requirements_in(self) -> str:
        """One requirements file that stands for all inputs (what uv is given)."""
        lines = [f"-r {shlex.quote(str(path.resolve()))}" for path in self.files]
        lines += list(self.specifiers)
        return "\n".join(lines) + "\n"


def _logical_lines(text: str) -> Iterator[str]:
    """Requirements-file lines with continuations joined and comments removed."""
    pending = ""
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = (pending + line).strip(), ""
        if line:
            yield line


def _collect_hash_pins(path: Path, pins: dict[str, set[str]], seen: set[Path]) -> None:
    resolved = path.resolve()
    if resolved in seen:
        return
    seen.add(resolved)
    try:
        text = resolved.read_text("utf-8")
    except OSError as error:
        raise InputError(f"cannot read requirements file {path}: {error.strerror}") from error
    for line in _logical_lines(text):
        include = _INCLUDE_OPTION.match(line)
        if include:
            _collect_hash_pins(resolved.parent / include.group(1), pins, seen)
            continue
        hashes = _HASH_OPTION.findall(line)
        if not hashes or line.startswith("-"):
            continue
        try:
            name = canonicalize_name(Requirement(line.split(" --", 1)[0].strip()).name)
        except InvalidRequirement:
            continue  # uv reports malformed lines itself, with their position
        pins.setdefault(name, set()).update(digest.lower() for digest in hashes)


def gather(specifiers: Sequence[str], files: Sequence[Path]) -> Requirements:
    """Validate the user's inputs; raises :class:`InputError` for a bad one.

    >>> gather(["requests==2.31.0"], []).specifiers
    ('requests==2.31.0',)
    """
    for text in specifiers:
        try:
            Requirement(text)
        except InvalidRequirement as error:
            raise InputError(
                f"invalid requirement {text!r}: {error}",
                hint="use the requirements syntax, e.g. 'requests>=2.31' or 'pydantic[email]==2.*'",
            ) from error
    pins: dict[str, set[str]] = {}
    for path in files:
        if not path.is_file():
            raise InputError(f"requirements file not found: {path}")
        _collect_hash_pins(path, pins, set())
    if not specifiers and not files:
        raise InputError(
            "nothing to build: no requirements given",
            hint="name packages (lambdalayer build requests) or a file (-r requirements.txt)",
        )
    return Requirements(
        specifiers=tuple(specifiers),
        files=tuple(files),
        hash_pins={name: frozenset(digests) for name, digests in pins.items()},
    )
