"""``lambdalayer.trim.toml``: what a trim keeps, per distribution, and which event needed it.

Written by ``lambdalayer trim`` from a trace, meant to be reviewed and committed; read by
``lambdalayer build --trim`` and ``lambdalayer trim --manifest``. A reviewer adds a line to
keep more (a path, ``dir/**`` for everything beneath, or a glob)::

    # lambdalayer.trim.toml: written by `lambdalayer trim` from a trace of the events below.
    format = 1
    level = "modules"
    events = ["init", "events/get.json"]

    [distribution.botocore]
    keep = [
        "botocore/__init__.py",  # init
        "botocore/data/s3/2006-03-01/service-2.json.gz",  # events/get.json
    ]

The file is input like any other: read bounded, every value checked, one ``error:`` line
naming the field for anything else.
"""

from __future__ import annotations

import enum
import fnmatch
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.errors import InputError, option
from lambdalayer.fsutil import read_text_file
from lambdalayer.trim.units import unit_of
from lambdalayer.zipnames import printable, unsafe_reason

__all__ = [
    "FORMAT",
    "MANIFEST_NAME",
    "Kept",
    "Level",
    "Manifest",
    "matcher",
    "matches",
    "parse_manifest",
    "read_manifest",
    "render_manifest",
]

FORMAT = 1
MANIFEST_NAME = "lambdalayer.trim.toml"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_PATTERN = 4096
# Lines a manifest may hold: each glob is tried against every file of the artefact, so a
# committed manifest of half a million globs would stall every build (a hostile review).
MAX_LINES = 50_000
MAX_GLOBS = 2_000
_HINT = "fix the line named, or write the manifest again with `lambdalayer trim`"
NO_DISTRIBUTION = "(no distribution)"  # files no RECORD lists: never trimmed, listed for review


class Level(enum.StrEnum):
    """How much a trim removes."""

    DATA = "data"  # only data files never opened (botocore's service models)
    MODULES = "modules"  # also modules never imported
    # also the source of each kept module only its bytecode was read of: it runs from its
    # .pyc alone (as ``build --bytecode only``), and tracebacks through it lose source lines
    BYTECODE_ONLY = "bytecode-only"


@dataclass(frozen=True)
class Kept:
    """One line of a distribution's ``keep``: a path or pattern, and the event that needed
    it (``""``: added by hand, or read back from a file, where it is a comment)."""

    pattern: str
    event: str = ""


@dataclass(frozen=True)
class Manifest:
    """What a trim keeps: its level, the events traced, and per distribution its lines."""

    level: Level
    events: tuple[str, ...]
    distributions: tuple[tuple[str, tuple[Kept, ...]], ...]
    name: str = MANIFEST_NAME  # the file's name, for the ImportError of a trimmed module

    def patterns(self) -> tuple[str, ...]:
        """Every line to keep, of every distribution."""
        return tuple(kept.pattern for _, lines in self.distributions for kept in lines)

    def with_keep(self, patterns: tuple[str, ...]) -> Manifest:
        """This manifest with ``patterns`` (``--keep``) kept too."""
        for pattern in patterns:
            check_pattern(pattern, option("TrimRequest.keep"))
        extra = (
            (("(kept as asked)", tuple(Kept(pattern) for pattern in patterns)),) if patterns else ()
        )
        return Manifest(self.level, self.events, (*self.distributions, *extra), self.name)


def matches(pattern: str, unit: str) -> bool:
    """Whether a ``keep`` line covers the file named ``unit`` (see :func:`~.units.unit_of`).

    >>> matches("pkg/**", "pkg/sub/x.py"), matches("pkg/*.json", "pkg/a.json")
    (True, True)
    """
    if pattern.endswith("/**"):
        return unit.startswith(pattern[:-2])
    if any(char in pattern for char in "*?["):
        return fnmatch.fnmatchcase(unit, pattern)
    return unit_of(pattern) == unit


def matcher(patterns: Sequence[str]) -> Callable[[str], bool]:
    """Whether any of ``patterns`` covers a unit, as :func:`matches` says, in one compiled
    regular expression: a manifest's globs are tried against every file of an artefact, and
    one at a time 2,000 globs (the most a manifest holds) took 30 s over 10,000 files.

    >>> covers = matcher(["pkg/**", "pkg/*.json", "other/x.py"])
    >>> covers("pkg/sub/x.py"), covers("other/x.py"), covers("other/y.py")
    (True, True, False)
    """
    prefixes = tuple(pattern[:-2] for pattern in patterns if pattern.endswith("/**"))
    rest = [pattern for pattern in patterns if not pattern.endswith("/**")]
    globs = [fnmatch.translate(pattern) for pattern in rest if any(c in pattern for c in "*?[")]
    exact = {unit_of(pattern) for pattern in rest if not any(c in pattern for c in "*?[")}
    compiled = re.compile("|".join(globs)).match if globs else None

    def covers(unit: str) -> bool:
        return (
            unit in exact
            or (bool(prefixes) and unit.startswith(prefixes))
            or (compiled is not None and compiled(unit) is not None)
        )

    return covers


def _string(text: str) -> str:
    """A TOML basic string (every control character escaped, so any name writes safely)."""
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F or 0xD800 <= ord(char) <= 0xDFFF:
            escaped.append(f"\\u{ord(char) & 0xFFFF:04X}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def render_manifest(manifest: Manifest) -> str:
    """The manifest as TOML text (the same text for the same manifest)."""
    lines = [
        f"# {MANIFEST_NAME}: written by `lambdalayer trim` from a trace of the events below.",
        "# Review it and commit it. A path no traced event reached is trimmed: to keep one,",
        '# add a line ("path", "dir/**" or a glob) to its distribution and build again.',
        f"format = {FORMAT}",
        f"level = {_string(manifest.level.value)}",
        "events = [" + ", ".join(_string(event) for event in manifest.events) + "]",
    ]
    if manifest.level is Level.BYTECODE_ONLY:
        lines[3:3] = [
            "# Level bytecode-only: a line naming a module's __pycache__ .pyc keeps the module",
            "# without its source (run from the .pyc); a line naming its .py keeps the source too.",
        ]
    for distribution, kept in manifest.distributions:
        lines += ["", f"[distribution.{_string(distribution)}]", "keep = ["]
        for line in kept:
            comment = f"  # {printable(line.event)}" if line.event else ""
            lines.append(f"    {_string(line.pattern)},{comment}")
        lines.append("]")
    return "\n".join(lines) + "\n"


def check_pattern(pattern: object, where: str) -> str:
    """A ``keep`` line, refused unless it is a relative path (or pattern) inside the artefact."""
    if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN:
        raise InputError(f"{where}: {printable(repr(pattern)[:80])} is not a path to keep")
    reason = unsafe_reason(pattern.replace("*", "x").replace("?", "x"))
    if reason is not None or "\x00" in pattern:
        raise InputError(
            f"{where}: {printable(pattern[:200])!r} {reason or 'has a NUL'}",
            hint="a keep line is a path relative to the directory on sys.path, e.g. pkg/data/x.json",
        )
    return pattern


def _field(document: dict[str, object], name: str, kind: type) -> object:
    value = document.get(name)
    if not isinstance(value, kind):
        raise InputError(f"the trim manifest's {name!r} is missing or not a {kind.__name__}")
    return value


def parse_manifest(text: str, name: str = MANIFEST_NAME) -> Manifest:
    """A manifest from its TOML text; one :class:`InputError` naming the field otherwise
    (with a hint, always)."""
    try:
        manifest = _parse(text, name)
    except InputError as error:
        if error.hint:
            raise
        raise InputError(error.message, hint=_HINT) from None
    lines = manifest.patterns()
    globs = sum(1 for line in lines if any(char in line for char in "*?["))
    if len(lines) > MAX_LINES or globs > MAX_GLOBS:
        raise InputError(
            f"the trim manifest {printable(name)} holds {len(lines):,} lines ({globs:,} globs):"
            f" over the {MAX_LINES:,} lines and {MAX_GLOBS:,} globs a manifest may hold",
            hint="keep a directory with one 'dir/**' line instead of a line per file",
        )
    return manifest


def _parse(text: str, name: str) -> Manifest:
    try:
        document = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError) as error:
        raise InputError(f"the trim manifest {printable(name)} is not TOML: {error}") from None
    if type(document.get("format")) is not int or document.get("format") != FORMAT:
        raise InputError(
            f"the trim manifest's format is {printable(repr(document.get('format'))[:40])}, not {FORMAT}",
            hint="write it again with `lambdalayer trim`",
        )
    level_text = _field(document, "level", str)
    if level_text not in {level.value for level in Level}:
        raise InputError(
            f"the trim manifest's level {printable(str(level_text)[:40])!r} is not one of"
            f" {', '.join(level.value for level in Level)}"
        )
    events = _field(document, "events", list)
    if not all(isinstance(event, str) for event in events):  # type: ignore[attr-defined]
        raise InputError("the trim manifest's 'events' holds something that is not a string")
    tables = document.get("distribution", {})
    if not isinstance(tables, dict):
        raise InputError("the trim manifest's 'distribution' is not a table")
    distributions = []
    for distribution, table in sorted(tables.items()):
        where = f"[distribution.{printable(distribution[:100])}]"
        if not isinstance(table, dict) or set(table) - {"keep"}:
            raise InputError(f"the trim manifest's {where} holds more than a keep list")
        keep = table.get("keep", [])
        if not isinstance(keep, list):
            raise InputError(f"the trim manifest's {where} keep is not a list")
        distributions.append(
            (
                distribution,
                tuple(
                    Kept(check_pattern(line, f"the trim manifest's {where} keep")) for line in keep
                ),
            )
        )
    return Manifest(Level(level_text), tuple(events), tuple(distributions), name)  # type: ignore[arg-type]


def read_manifest(path: Path) -> Manifest:
    """The manifest at ``path`` (read bounded)."""
    try:
        text = read_text_file(path, "the trim manifest", MAX_MANIFEST_BYTES)
    except InputError as error:
        if error.hint:
            raise
        raise InputError(error.message, hint=f"give the manifest file ({MANIFEST_NAME})") from None
    return parse_manifest(text, path.name)


def dropped_lines(previous: Path, written: Manifest) -> tuple[str, ...]:
    """The lines of the manifest at ``previous`` that ``written`` (a new trace's, about to
    replace it) does not have: what a reviewer added by hand, lost unless said. None when
    there is no previous manifest, or it cannot be read (the new one replaces it then)."""
    if not previous.is_file():
        return ()
    try:
        old = read_manifest(previous)
    except InputError:
        return ()
    new = set(written.patterns())
    return tuple(dict.fromkeys(line for line in old.patterns() if line not in new))
