"""Applying a trim manifest to placed files: the same files in, the same files out.

Which files go (:func:`plan_trim`) depends only on the placement's names and bytes and the
manifest: a file of no distribution (the function's own code, data beside it) always
stays; of a distribution's files stay its ``*.dist-info``, ``.pth`` files, what a keep line
covers, every ``__init__`` on a kept path and — at level ``data`` — every module and
library; then every library a kept ELF object needs (``DT_NEEDED``, found by soname in the
artefact), until nothing more is needed. At level ``bytecode-only`` a kept module whose
line names its ``__pycache__`` bytecode (and nothing names its source) loses its source: the
named ``.pyc`` moves to the source's place (``pkg/x.pyc``), where Python's sourceless
loader imports it — only the target's own plain bytecode (``x.cpython-312.pyc``), never
another Python's or an optimised one, and never onto a path a kept file is under; its
header is read before it moves (:mod:`.pyc`: the target CPython's magic number, sane
flags), else the trim is refused. The trimmed artefact (:func:`trimmed_placement`) gains a
finder (:mod:`._finder`) naming the manifest line of each module removed.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import hashlib
import posixpath
import re
import tomllib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from lambdalayer.distinfo import parse_record_paths
from lambdalayer.elf import read_elf
from lambdalayer.entry import FILE_MODE, Entry
from lambdalayer.errors import InputError, option
from lambdalayer.placement import READ_ERRORS, PlacedFile, Placement, PlacementReader
from lambdalayer.targets import Layout, Runtime, in_site_directory
from lambdalayer.trim.manifest import NO_DISTRIBUTION, Level, Manifest, matcher
from lambdalayer.trim.pyc import READ_BYTES, header_problem, runtime_of_tag
from lambdalayer.trim.units import (
    Kind,
    in_pycache,
    kind_of,
    module_name,
    package_inits,
    unit_of,
)

__all__ = ["ArtefactFile", "TrimPlan", "describe_files", "plan_trim", "trimmed_placement"]

MAX_RECORD_BYTES = 32 * 1024 * 1024
ELF_MAGIC = b"\x7fELF"
_DIST_INFO = re.compile(r"^(?P<name>[^/-]+)-[^/]*\.dist-info/RECORD\Z")


@dataclass(frozen=True)
class ArtefactFile:
    """One placed file as the trim sees it."""

    file: PlacedFile
    site: str  # the arcname's prefix up to the sys.path directory ("python/", "")
    rel: str  # the path below it
    unit: str  # the module it is a file of, or ``rel``
    kind: Kind
    distribution: str  # NO_DISTRIBUTION when no RECORD lists it
    needed: tuple[str, ...] = ()  # DT_NEEDED sonames, for an ELF file
    soname: str | None = None


@dataclass(frozen=True)
class TrimPlan:
    """What stays and what goes, with the sizes per distribution."""

    kept: tuple[ArtefactFile, ...]
    trimmed: tuple[ArtefactFile, ...]
    # Level bytecode-only: the sources (and other bytecode) of kept modules that run from
    # their .pyc alone, and each such .pyc (one of ``kept``) → its arcname in the artefact.
    without_source: tuple[ArtefactFile, ...] = ()
    moved: tuple[tuple[str, str], ...] = ()
    runtime: Runtime | None = None  # whose CPython imports the moved .pyc (its magic number)

    def bytes_by_distribution(self) -> dict[str, tuple[int, int]]:
        """Distribution → (bytes before, bytes after), unzipped."""
        sizes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for item in self.kept:
            sizes[item.distribution][0] += item.file.size
            sizes[item.distribution][1] += item.file.size
        for item in (*self.trimmed, *self.without_source):
            sizes[item.distribution][0] += item.file.size
        return {name: (before, after) for name, (before, after) in sorted(sizes.items())}


def _relative(file: PlacedFile, layout: Layout) -> tuple[str, str]:
    rel = in_site_directory(file.arcname) if layout is not Layout.FUNCTION else file.arcname
    return file.arcname[: len(file.arcname) - len(rel)], rel


def _record_owners(placement: Placement, reader: PlacementReader) -> dict[str, str]:
    """Arcname → distribution, from every ``RECORD`` in a sys.path directory."""
    owners: dict[str, str] = {}
    for file in placement.files:
        site, rel = _relative(file, placement.layout)
        found = _DIST_INFO.match(rel)
        if found is None or file.size > MAX_RECORD_BYTES:
            continue
        try:
            record = reader.read(file, MAX_RECORD_BYTES)
        except READ_ERRORS:
            continue
        name = found["name"].lower().replace("_", "-").replace(".", "-")
        for path in parse_record_paths(record):
            normal = posixpath.normpath(path)
            if not normal.startswith(("../", "/")) and normal != "..":
                owners.setdefault(site + normal, name)
    return owners


def _elf_facts(
    file: PlacedFile, reader: PlacementReader
) -> tuple[bool, tuple[str, ...], str | None]:
    if file.elf_known:
        elf = file.elf
        return elf is not None, elf.needed if elf else (), elf.soname if elf else None
    if ".so" not in file.arcname.rsplit("/", 1)[-1]:
        return False, (), None
    try:
        with reader.open(file) as stream:
            if stream.read(4) != ELF_MAGIC:
                return False, (), None
            stream.seek(0)
            info = read_elf(stream)  # type: ignore[arg-type]
    except READ_ERRORS:  # a damaged ELF (ValueError) is a plain file here
        return True, (), None
    return True, info.needed, info.soname


def describe_files(placement: Placement) -> tuple[ArtefactFile, ...]:
    """Every placed file with what the trim needs to know of it."""
    described = []
    with placement.reader() as reader:
        owners = _record_owners(placement, reader)
        for file in placement.files:
            site, rel = _relative(file, placement.layout)
            elf, needed, soname = _elf_facts(file, reader)
            kind = kind_of(rel, elf)
            unit = unit_of(rel) if kind is Kind.MODULE else rel
            # A wheel's RECORD lists a module's source, not the bytecode compiled for it.
            owner = owners.get(file.arcname) or owners.get(site + unit) or NO_DISTRIBUTION
            described.append(ArtefactFile(file, site, rel, unit, kind, owner, needed, soname))
    return tuple(described)


@functools.cache
def untraceable() -> tuple[tuple[str, str], ...]:
    """(glob, why) of the files kept whatever the trace saw (``data/trim_always.toml``):
    read only on paths the sandbox cannot take — TLS's CA bundles, with no network."""
    text = resources.files("lambdalayer").joinpath("data/trim_always.toml").read_text("utf-8")
    return tuple((str(item["pattern"]), str(item["why"])) for item in tomllib.loads(text)["keep"])


def _always(item: ArtefactFile, level: Level) -> bool:
    if item.distribution == NO_DISTRIBUTION or item.kind in (Kind.METADATA, Kind.PTH):
        return True
    if any(fnmatch.fnmatchcase(item.rel, pattern) for pattern, _ in untraceable()):
        return True
    return level is Level.DATA and item.kind in (Kind.MODULE, Kind.LIBRARY)


def _close_over_needed(files: tuple[ArtefactFile, ...], kept: set[int]) -> None:
    """Add to ``kept`` every library a kept ELF object needs, until nothing more is needed:
    the file named as the soname the loader looks for (wheels often carry the same library
    under its soname and under other names: only that copy is loaded), else any file whose
    ``DT_SONAME`` it is."""
    by_name: dict[str, list[int]] = defaultdict(list)
    by_soname: dict[str, list[int]] = defaultdict(list)
    for index, item in enumerate(files):
        by_name[item.rel.rsplit("/", 1)[-1]].append(index)
        if item.soname:
            by_soname[item.soname].append(index)
    pending = list(kept)
    while pending:
        for soname in files[pending.pop()].needed:
            for index in by_name.get(soname) or by_soname.get(soname, []):
                if index not in kept:
                    kept.add(index)
                    pending.append(index)


def _from_bytecode(
    files: tuple[ArtefactFile, ...],
    kept: set[int],
    lines: set[str],
    covered: Callable[[str], bool],
    cache_tag: str | None,
) -> tuple[set[int], dict[int, str]]:
    """Level bytecode-only: of the kept modules a line names by their ``__pycache__`` bytecode
    and none by their source (nor a glob), the files that go (the source, other bytecode)
    and the named ``.pyc`` → its sourceless arcname (``pkg/x.pyc``). A module is left whole
    unless it has its source, the named ``.pyc`` and no sourceless ``.pyc`` already, and
    none of its files is kept whatever the trace saw, in each ``sys.path`` directory.

    Only ``<stem>.<cache_tag>.pyc`` moves: the sourceless loader imports any ``x.pyc``, so
    another Python's bytecode (a wheel's stale ``__pycache__``) would fail to import and an
    ``.opt-N`` one would run without its asserts or docstrings; ``None`` (the target's
    Python unknown), or a tag of no runtime's CPython (its magic number unknown), moves
    none. Nor does one move onto a path another file is at or under (``pkg/x.pyc/…``: no
    zip can hold both)."""
    if cache_tag is None or runtime_of_tag(cache_tag) is None:
        return set(), {}
    bytecode = {line for line in lines if in_pycache(line) and line.endswith(f".{cache_tag}.pyc")}
    taken = {item.site + item.rel for item in files}
    taken |= {
        item.site + "/".join(item.rel.split("/")[:depth])
        for item in files
        for depth in range(1, item.rel.count("/") + 1)
    }
    units = {unit_of(line) for line in bytecode} - lines
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, item in enumerate(files):
        if index in kept and item.kind is Kind.MODULE and item.unit in units:
            groups[(item.site, item.unit)].append(index)
    dropped: set[int] = set()
    moved: dict[int, str] = {}
    for (site, unit), members in groups.items():
        named = [index for index in members if files[index].rel in bytecode]
        sources = [index for index in members if files[index].rel == unit]
        whole = (
            len(named) != 1
            or len(sources) != 1
            or site + unit + "c" in taken
            or any(_always(files[index], Level.BYTECODE_ONLY) for index in members)
            or covered(unit)
        )
        if not whole:
            dropped |= set(members) - set(named)
            moved[named[0]] = site + unit + "c"
    return dropped, moved


def plan_trim(
    files: tuple[ArtefactFile, ...], manifest: Manifest, cache_tag: str | None = None
) -> TrimPlan:
    """Which files a manifest keeps (see the module's description). ``cache_tag``: the
    target Python's bytecode tag (:attr:`~lambdalayer.targets.Target.cache_tag`), without
    which level ``bytecode-only`` moves no ``.pyc`` (every kept module stays whole)."""
    patterns = manifest.patterns()
    lines = {pattern for pattern in patterns if not any(c in pattern for c in "*?[")}
    exact = lines | {unit_of(pattern) for pattern in lines}
    covered = matcher([pattern for pattern in patterns if pattern not in exact])
    kept = {
        index
        for index, item in enumerate(files)
        if _always(item, manifest.level) or item.unit in exact or covered(item.unit)
    }
    inits = {init for index in kept for init in package_inits(files[index].rel)}
    kept |= {index for index, item in enumerate(files) if item.unit in inits}
    _close_over_needed(files, kept)
    dropped: set[int] = set()
    moved: dict[int, str] = {}
    if manifest.level is Level.BYTECODE_ONLY:
        dropped, moved = _from_bytecode(files, kept, lines, covered, cache_tag)
    return TrimPlan(
        tuple(item for index, item in enumerate(files) if index in kept - dropped),
        tuple(item for index, item in enumerate(files) if index not in kept),
        tuple(item for index, item in enumerate(files) if index in dropped),
        tuple(sorted((files[index].file.arcname, arcname) for index, arcname in moved.items())),
        runtime_of_tag(cache_tag) if moved else None,
    )


def _refuse_foreign_bytecode(placement: Placement, plan: TrimPlan, manifest: Manifest) -> None:
    """Each ``.pyc`` the plan moves into its source's place, read first: one whose header is
    not the target CPython's (:func:`~.pyc.header_problem`) is one :class:`InputError`
    naming it and the runtime — a line written by hand may name any file (a traced one
    names what the runtime read)."""
    runtime = plan.runtime
    moving = {
        item.file.arcname: item for item in plan.kept if item.file.arcname in dict(plan.moved)
    }
    if not moving or runtime is None:
        return
    with placement.reader() as reader:
        for file in placement.files:
            item = moving.get(file.arcname)
            if item is None:
                continue
            try:
                problem = header_problem(reader.read(file, READ_BYTES), runtime)
            except READ_ERRORS as error:
                problem = f"cannot be read ({error})"
            if problem is None:
                continue
            where = placement.label or placement.archive
            inside = f" of {where}" if where is not None else ""
            raise InputError(
                f"{manifest.name}: the bytecode-only line {item.rel} would run {file.arcname}"
                f"{inside} on {runtime.name} without its source, but it {problem}; nothing was"
                " written",
                hint=f"name the module's source ({item.unit}) in the manifest instead, or build"
                f" the artefact again with lambdalayer"
                f" ({option('BuildRecipe.bytecode', 'unchecked-hash')}, the default: its .pyc"
                f" compiled by {runtime.name}'s CPython) and trim it again",
            )


def _keep_line(item: ArtefactFile, package: bool) -> str:
    return item.unit.rsplit("/", 1)[0] + "/**" if package else item.unit


def finder_source(plan: TrimPlan, manifest: Manifest) -> str:
    """The finder module's text, naming each trimmed module's keep line."""
    trimmed: dict[str, tuple[str, str]] = {}
    for item in plan.trimmed:
        if item.kind is Kind.MODULE:
            package = item.unit.endswith("/__init__.py")
            trimmed[module_name(item.unit)] = (item.distribution, _keep_line(item, package))
    template = resources.files("lambdalayer.trim").joinpath("_finder.py").read_text("utf-8")
    ordered = (
        "{\n" + "".join(f"    {name!r}: {trimmed[name]!r},\n" for name in sorted(trimmed)) + "}"
    )
    # What this artefact's finder knows, set after the template's empty defaults.
    return (
        f"{template}\n# Written by lambdalayer trim for this artefact.\n"
        f"MANIFEST = {manifest.name!r}\nLEVEL = {manifest.level.value!r}\n"
        f"TRIMMED.update({ordered})\n"
    )


def trimmed_placement(placement: Placement, plan: TrimPlan, manifest: Manifest) -> Placement:
    """The kept files, and the finder with its ``.pth`` in each sys.path directory that lost a
    module (their names carry a digest of the finder, so two trimmed layers never clash).
    A ``.pyc`` to move that the target's CPython would not import is refused
    (:class:`InputError`), before anything is made."""
    _refuse_foreign_bytecode(placement, plan, manifest)
    moved = dict(plan.moved)
    files = [
        dataclasses.replace(
            item.file, entry=dataclasses.replace(item.file.entry, arcname=moved[name])
        )
        if (name := item.file.arcname) in moved
        else item.file
        for item in plan.kept
    ]
    sites = sorted({item.site for item in plan.trimmed if item.kind is Kind.MODULE})
    if sites:
        source = finder_source(plan, manifest).encode()
        module = "_lambdalayer_trim_" + hashlib.sha256(source).hexdigest()[:12]
        for site in sites:
            files.append(PlacedFile(Entry(f"{site}{module}.py", FILE_MODE, data=source)))
            pth = f"import {module}\n".encode()
            files.append(PlacedFile(Entry(f"{site}{module}.pth", FILE_MODE, data=pth)))
    ordered = tuple(sorted(files, key=lambda file: file.arcname))
    return Placement.of(placement.layout, ordered, {})
