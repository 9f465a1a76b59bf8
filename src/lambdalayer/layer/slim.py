"""Leave out what a layer does not need at run time, by named rules kept as data.

Rules live in ``data/slim.toml``; each can be skipped by name, and ``--keep``/``--drop``
globs adjust them. Files are matched relative to the layer's package directory. Two
things are protected whatever the rules say: ``*.dist-info/`` (importlib.metadata reads
it) and ``<package>.libs/`` (stripping auditwheel's vendored libraries broke numpy).
The ``strip`` rule removes the sections the loader never maps, with lambdalayer's own ELF
code (:func:`lambdalayer.elf.strip_unneeded`): the same bytes on any machine.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import re
import shutil
import subprocess
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from lambdalayer.elf import ELF_MAGIC, read_elf, strip_unneeded
from lambdalayer.errors import InputError
from lambdalayer.layer.archive import Entry
from lambdalayer.recipe import SlimOptions
from lambdalayer.targets import Target, in_site_directory
from lambdalayer.wording import counted

_PROTECTED = re.compile(r"(^|/)[^/]+\.dist-info/|(^|/)[^/]+\.libs/")
_SHARED_OBJECT = re.compile(r"\.so(\.[0-9.]+)?\Z")


@dataclass(frozen=True)
class Rule:
    """One slimming rule of the data file."""

    name: str
    description: str
    patterns: tuple[str, ...] = ()
    directories: tuple[str, ...] = ()
    keep_packages: bool = False
    action: str = "drop"
    exceptions: tuple[str, ...] = ()  # globs this rule never drops (run-time code imports them)


@dataclass(frozen=True)
class SlimResult:
    """The entries that remain, and the bytes each rule dropped."""

    entries: tuple[Entry, ...]
    saved: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class StripResult:
    """The entries with their shared objects stripped, bytes saved per origin, and a notice."""

    entries: tuple[Entry, ...]
    saved_by_origin: dict[str | None, int] = field(default_factory=dict)
    notice: str | None = None


@functools.cache
def rules() -> tuple[Rule, ...]:
    """The slimming rules of ``data/slim.toml``."""
    table = tomllib.loads(
        resources.files("lambdalayer").joinpath("data/slim.toml").read_text("utf-8")
    )
    return tuple(
        Rule(
            name=entry["name"],
            description=entry["description"],
            patterns=tuple(entry.get("patterns", ())),
            directories=tuple(entry.get("directories", ())),
            keep_packages=bool(entry.get("keep_packages", False)),
            action=entry.get("action", "drop"),
            exceptions=tuple(entry.get("except", ())),
        )
        for entry in table["rule"]
    )


@functools.cache
def glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob with ``**`` (any depth), ``*`` and ``?`` (within one path segment) as a regex."""
    parts = re.split(r"(\*\*/|\*\*|\*|\?)", pattern)
    translated = {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("".join(translated.get(part, re.escape(part)) for part in parts) + r"\Z")


def _directory_match(relative: str, rule: Rule, packages: set[str]) -> bool:
    segments = relative.split("/")
    # segments[0] is a top-level package; only directories inside one count.
    for depth in range(1, len(segments) - 1):
        if segments[depth] in rule.directories:
            directory = "/".join(segments[: depth + 1])
            return not (rule.keep_packages and directory in packages)
    return False


def _matches(relative: str, rule: Rule, packages: set[str]) -> bool:
    if any(glob_regex(pattern).match(relative) for pattern in rule.exceptions):
        return False
    if rule.directories and _directory_match(relative, rule, packages):
        return True
    return any(glob_regex(pattern).match(relative) for pattern in rule.patterns)


def _protected(relative: str, keep: Sequence[str]) -> bool:
    return bool(_PROTECTED.search(relative)) or any(
        glob_regex(glob).match(relative) for glob in keep
    )


def strip_entries(
    entries: Sequence[Entry],
    target: Target,
    keep: Sequence[str] = (),
    strip_program: str | None = None,
    scratch_dir: Path | None = None,
) -> StripResult:
    """Strip the shared objects among ``entries`` (the ``strip`` rule), keeping each ``origin``.

    By default with :func:`lambdalayer.elf.strip_unneeded` (the same bytes on any machine);
    with ``strip_program``, by running that program (``--strip-unneeded``); never the paths
    ``keep`` names. A result
    that is not readable ELF for the target, or whose load segments the loader would refuse,
    is not used: the file stays as the wheel ships it. With ``scratch_dir`` the stripped
    files are kept there (it must outlive the entries); otherwise their bytes are held.
    """
    candidates = [
        entry
        for entry in entries
        if _SHARED_OBJECT.search(entry.arcname)
        and not _protected(in_site_directory(entry.arcname), keep)
    ]
    if not candidates:
        return StripResult(tuple(entries))
    program = shutil.which(strip_program) if strip_program else None
    if strip_program and program is None:
        raise InputError(
            f"strip program {strip_program!r} not found",
            hint="leave it out to use lambdalayer's own stripper (the same bytes everywhere)",
        )
    with contextlib.ExitStack() as stack:
        scratch = scratch_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="lambdalayer-strip-"))
        )
        stripped = _StripRun(target, program, scratch, keep_files=scratch_dir is not None)
        replaced = stripped.run(candidates)
    saved: dict[str | None, int] = {}
    for entry in candidates:
        if entry.arcname in replaced:
            shrunk = entry.size - replaced[entry.arcname].size
            saved[entry.origin] = saved.get(entry.origin, 0) + shrunk
    result = tuple(
        dataclasses.replace(replaced[entry.arcname], origin=entry.origin)
        if entry.arcname in replaced
        else entry
        for entry in entries
    )
    return StripResult(result, saved, stripped.notice())


@dataclasses.dataclass
class _StripRun:
    """One batch of stripping: by lambdalayer's own stripper, or by ``program``."""

    target: Target
    program: str | None
    scratch: Path
    keep_files: bool
    broken: list[str] = dataclasses.field(default_factory=list)

    def run(self, candidates: Sequence[Entry]) -> dict[str, Entry]:
        """The stripped entries by name: only those that shrank and still load."""
        replaced: dict[str, Entry] = {}
        if self.program is not None:
            return self._external(candidates)
        for entry, data in _read_all(candidates):
            if data[:4] != ELF_MAGIC:
                continue
            try:
                stripped = strip_unneeded(data)
            except ValueError:
                continue  # not readable ELF: the check reports it as it is
            if stripped is not None and self._usable(entry.arcname, stripped, entry.size):
                replaced[entry.arcname] = self._entry(entry, stripped, len(replaced))
        return replaced

    def _external(self, candidates: Sequence[Entry]) -> dict[str, Entry]:
        files: dict[str, Path] = {}
        by_name = {entry.arcname: entry for entry in candidates}
        for index, (entry, data) in enumerate(_read_all(candidates)):
            if data[:4] == ELF_MAGIC:
                path = self.scratch / f"{index}.so"
                path.write_bytes(data)
                files[entry.arcname] = path
        _run_strip(str(self.program), list(files.values()))
        replaced: dict[str, Entry] = {}
        for arcname, path in files.items():
            stripped = path.read_bytes()
            if self._usable(arcname, stripped, by_name[arcname].size):
                replaced[arcname] = self._entry(by_name[arcname], stripped, len(replaced))
        return replaced

    def _usable(self, arcname: str, stripped: bytes, size: int) -> bool:
        try:
            result = read_elf(stripped)
        except ValueError:
            return False  # a strip that leaves unreadable ELF is not used
        if result.machine != self.target.machine:
            return False
        if result.misaligned_segments:  # the loader would refuse it: keep the original
            self.broken.append(arcname)
            return False
        return len(stripped) < size

    def _entry(self, original: Entry, stripped: bytes, number: int) -> Entry:
        if not self.keep_files:
            return Entry(original.arcname, original.mode, data=stripped, origin=original.origin)
        path = self.scratch / f"stripped-{number}.so"
        path.write_bytes(stripped)
        return Entry(original.arcname, original.mode, path=path, origin=original.origin)

    def notice(self) -> str | None:
        if not self.broken:
            return None
        name = Path(str(self.program)).name
        return (
            f"{name} left {counted(len(self.broken), 'shared object')} that the loader would refuse"
            f" (misaligned load segments, e.g. {self.broken[0].rsplit('/', 1)[-1]}); they are"
            " kept unstripped — leave the strip program out to use lambdalayer's own stripper"
        )


def _run_strip(program: str, paths: list[Path]) -> None:
    """Strip ``paths`` in place, one strip process per core; a batch that fails goes file by file."""
    workers = max(1, min(os.cpu_count() or 1, len(paths)))
    batches = [paths[number::workers] for number in range(workers)]
    children = [
        (
            batch,
            subprocess.Popen(
                [program, "--strip-unneeded", *map(str, batch)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            ),
        )
        for batch in batches
        if batch
    ]
    for batch, child in children:
        if child.wait() != 0:  # one odd file fails the batch: the others get their own run
            for path in batch:
                subprocess.run(
                    [program, "--strip-unneeded", str(path)], capture_output=True, check=False
                )


def _read_all(entries: Iterable[Entry]) -> Iterable[tuple[Entry, bytes]]:
    """Each entry with its uncompressed bytes, opening each source wheel once."""
    by_zip: dict[Path, list[Entry]] = {}
    for entry in entries:
        if entry.raw is None:
            yield entry, entry.new_bytes()
        else:
            by_zip.setdefault(entry.raw.zip_path, []).append(entry)
    for zip_path, members in by_zip.items():
        with zipfile.ZipFile(zip_path) as archive:
            infos = {info.header_offset: info for info in archive.infolist()}
            for entry in members:
                offset = entry.raw.header_offset if entry.raw else -1
                yield entry, archive.read(infos[offset])


def strip_identity(strip_program: str | None) -> str:
    """What strips, and its version: the stripped bytes depend on it (ours: lambdalayer's code)."""
    if strip_program is None:
        return "lambdalayer"
    program = shutil.which(strip_program)
    return f"{strip_program} {_program_version(program) if program else 'missing'}"


@functools.cache
def _program_version(program: str) -> str:
    completed = subprocess.run([program, "--version"], capture_output=True, text=True, check=False)
    return (completed.stdout.strip().splitlines() or ["?"])[0]


_FROM_IMPORT = re.compile(r"^[ \t]*from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]+\(?([^#\n]*)", re.M)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^#\n]*)", re.M)


def _imported_names(text: str, package: str) -> set[str]:
    """Every dotted name an import statement of a module of ``package`` names (absolute,
    relative ones resolved; ``from a import b`` gives ``a`` and ``a.b``), read line by line
    the same way on any machine (no parser of this machine's Python)."""
    names = set()
    for match in _IMPORT.finditer(text):
        names |= {part.split()[0] for part in match.group(1).split(",") if part.split()}
    parts = package.split(".") if package else []
    for match in _FROM_IMPORT.finditer(text):
        dots, module, imported = match.groups()
        base = parts[: len(parts) - len(dots) + 1] if dots else []
        whole = ".".join([*base, module] if module else base)
        names.add(whole)
        for item in imported.replace(")", "").split(","):
            if item.split():
                names.add(f"{whole}.{item.split()[0]}")
    return names


def _imported_files(
    entries: Sequence[Entry], active: Sequence[Rule], packages: set[str]
) -> frozenset[str]:
    """The files under directories a directory rule would drop (``tests/``) that run-time
    code imports (bottleneck's ``__init__`` imports ``bottleneck.tests.util``; numpy.testing
    ``numpy._core.tests._natype``), with what they import in turn and their packages'
    ``__init__``. pytest's ``conftest.py`` is never run-time code."""
    by_name = {in_site_directory(entry.arcname): entry for entry in entries}
    inside = {
        relative
        for relative in by_name
        if any(rule.directories and _directory_match(relative, rule, packages) for rule in active)
    }
    if not inside:
        return frozenset()
    pending = [
        relative
        for relative in by_name
        if relative.endswith(".py")
        and relative not in inside
        and not relative.endswith("conftest.py")
    ]
    keep: set[str] = set()
    while pending:
        batch, pending = pending, []
        for entry, data in _read_all([by_name[relative] for relative in batch]):
            relative = in_site_directory(entry.arcname).removesuffix(".py")
            package = relative.removesuffix("/__init__")
            if not relative.endswith("/__init__"):
                package = package.rpartition("/")[0]
            text = data.decode("utf-8", "replace")
            for name in _imported_names(text, package.replace("/", ".")):
                for found in _files_of_module(name, inside) - keep:
                    keep.add(found)
                    pending.append(found)
    return frozenset(keep)


def _files_of_module(name: str, inside: set[str]) -> set[str]:
    """The files among ``inside`` that importing ``name`` runs: the module and the
    ``__init__`` of each package on its way."""
    parts = name.split(".")
    found = set()
    for depth in range(1, len(parts) + 1):
        base = "/".join(parts[:depth])
        found |= {base + suffix for suffix in ("/__init__.py", ".py")} & inside
    return found


def slim(entries: Sequence[Entry], options: SlimOptions) -> SlimResult:
    """Drop what the enabled rules (and ``--drop``) name; returns what remains and what it saved.

    The ``strip`` rule is not applied here: it runs over every wheel at once
    (:func:`strip_entries`).
    """
    if not options.enabled:
        return SlimResult(tuple(entries))
    known = {rule.name for rule in rules()}
    unknown = sorted(options.skip_rules - known)
    if unknown:
        raise InputError(
            f"unknown slimming rule {', '.join(unknown)}", hint=f"rules: {', '.join(sorted(known))}"
        )
    active = [rule for rule in rules() if rule.name not in options.skip_rules]
    if options.drop:
        active.append(Rule("drop", "--drop", patterns=options.drop))
    packages = {
        in_site_directory(entry.arcname).rsplit("/", 1)[0]
        for entry in entries
        if entry.arcname.endswith("/__init__.py")
    }
    imported = _imported_files(entries, active, packages)
    saved: dict[str, int] = {}
    kept: list[Entry] = []
    for entry in entries:
        relative = in_site_directory(entry.arcname)
        dropped_by = None
        if not _protected(relative, options.keep) and relative not in imported:
            dropped_by = next(
                (
                    rule.name
                    for rule in active
                    if rule.action == "drop" and _matches(relative, rule, packages)
                ),
                None,
            )
        if dropped_by is None:
            kept.append(entry)
        else:
            saved[dropped_by] = saved.get(dropped_by, 0) + entry.size
    return SlimResult(tuple(kept), saved)
