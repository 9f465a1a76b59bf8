"""Leave out what a layer does not need at run time, by named rules kept as data.

Rules live in ``data/slim.toml``; each can be skipped by name, and ``--keep``/``--drop``
globs adjust them. Files are matched relative to the layer's package directory. Two
things are protected whatever the rules say: ``*.dist-info/`` (importlib.metadata reads
it) and ``<package>.libs/`` (stripping auditwheel's vendored libraries broke numpy).
The ``strip`` rule runs a strip program that handles the *target's* CPU.
"""

from __future__ import annotations

import contextlib
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

from lambdalayer.elf import ELF_MAGIC, read_elf
from lambdalayer.errors import InputError
from lambdalayer.layer.archive import Entry
from lambdalayer.recipe import SlimOptions
from lambdalayer.targets import Target, in_site_directory

_PROTECTED = re.compile(r"(^|/)[^/]+\.dist-info/|(^|/)[^/]+\.libs/")
_SHARED_OBJECT = re.compile(r"\.so(\.[0-9.]+)?$")
# Strip programs that handle each ELF machine, best first (llvm-strip handles all).
STRIP_PROGRAMS = {
    "x86_64": ("x86_64-linux-gnu-strip", "llvm-strip", "strip"),
    "aarch64": ("aarch64-linux-gnu-strip", "llvm-strip", "strip"),
}


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


def _strip_program(machine: str) -> str | None:
    for name in STRIP_PROGRAMS.get(machine, ()):
        path = shutil.which(name)
        if path is None:
            continue
        if name == "strip" and not _strip_handles(path, machine):
            continue
        return path
    return None


@functools.cache
def _strip_handles(path: str, machine: str) -> bool:
    """Whether a GNU ``strip`` was built with support for ``machine``'s ELF format."""
    completed = subprocess.run([path, "--help"], capture_output=True, text=True, check=False)
    wanted = {"x86_64": "elf64-x86-64", "aarch64": "elf64-littleaarch64"}[machine]
    return wanted in completed.stdout


def strip_entries(
    entries: Sequence[Entry], target: Target, keep: Sequence[str], scratch_dir: Path | None = None
) -> StripResult:
    """Strip the shared objects among ``entries`` (the ``strip`` rule), keeping each ``origin``.

    With ``scratch_dir`` the stripped files stay there and the entries refer to them (the
    caller keeps the directory until the entries are written); otherwise their bytes are read.
    """
    candidates = [
        entry
        for entry in entries
        if _SHARED_OBJECT.search(entry.arcname)
        and not _protected(in_site_directory(entry.arcname), keep)
    ]
    if not candidates:
        return StripResult(tuple(entries))
    program = _strip_program(target.machine)
    if program is None:
        return StripResult(
            tuple(entries),
            notice=f"no strip program for {target.machine} ELF files (install llvm or binutils);"
            " shared objects left as they are",
        )
    with contextlib.ExitStack() as stack:
        scratch = scratch_dir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="lambdalayer-strip-"))
        )
        replaced, broken = _stripped(
            candidates, target, program, scratch, keep_files=bool(scratch_dir)
        )
    saved: dict[str | None, int] = {}
    for entry in candidates:
        if entry.arcname in replaced:
            saved[entry.origin] = (
                saved.get(entry.origin, 0) + entry.size - replaced[entry.arcname].size
            )
    notice = None
    if broken:
        notice = (
            f"{Path(program).name} left {len(broken)} shared object(s) that the loader would refuse"
            f" (misaligned load segments, e.g. {broken[0].rsplit('/', 1)[-1]}); they are kept"
            " unstripped"
            f" — install binutils for {target.machine} ({target.machine}-linux-gnu-strip) to strip"
            " them"
        )
    entries = tuple(replaced.get(entry.arcname, entry) for entry in entries)
    return StripResult(entries, saved, notice)


def _stripped(
    candidates: Sequence[Entry], target: Target, program: str, scratch: Path, *, keep_files: bool
) -> tuple[dict[str, Entry], list[str]]:
    """The stripped entries by name (only those that shrank and still load), and the broken ones."""
    files: dict[str, Path] = {}
    for index, (entry, data) in enumerate(_read_all(candidates)):
        if data[:4] == ELF_MAGIC:
            path = scratch / f"{index}.so"
            path.write_bytes(data)
            files[entry.arcname] = path
    by_name = {entry.arcname: entry for entry in candidates}
    _run_strip(program, list(files.values()))
    replaced: dict[str, Entry] = {}
    broken: list[str] = []
    for arcname, path in files.items():
        original = by_name[arcname]
        stripped = path.read_bytes()
        try:
            result = read_elf(stripped)
        except ValueError:
            continue  # keep the original: a strip that leaves unreadable ELF is not used
        if result.machine != target.machine:
            continue
        if result.misaligned_segments:  # the loader would refuse it: keep the original
            broken.append(arcname)
            continue
        if len(stripped) < original.size:
            content = {"path": path} if keep_files else {"data": stripped}
            replaced[arcname] = Entry(arcname, original.mode, origin=original.origin, **content)
    return replaced, broken


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


def strips(options: SlimOptions) -> bool:
    """Whether the ``strip`` rule runs for these options."""
    return options.enabled and any(
        rule.action == "strip" and rule.name not in options.skip_rules for rule in rules()
    )


def strip_identity(target: Target) -> str:
    """The strip program used for ``target`` and its version: the stripped bytes depend on it."""
    program = _strip_program(target.machine)
    if program is None:
        return "none"
    return f"{Path(program).name} {_program_version(program)}"


@functools.cache
def _program_version(program: str) -> str:
    completed = subprocess.run([program, "--version"], capture_output=True, text=True, check=False)
    return (completed.stdout.strip().splitlines() or ["?"])[0]


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
    saved: dict[str, int] = {}
    kept: list[Entry] = []
    for entry in entries:
        relative = in_site_directory(entry.arcname)
        dropped_by = None
        if not _protected(relative, options.keep):
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
