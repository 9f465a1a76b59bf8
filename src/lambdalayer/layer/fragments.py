"""A wheel becomes a cached *fragment* of a layer: assembled, slimmed, compiled, compressed.

"wheel → layer fragment" depends only on the wheel's bytes, the target, the layout, the
slimming options and rules, the bytecode mode and the compiling CPython's X.Y.Z, the strip
program and lambdalayer's own code; the fragment's key is a hash of all of them. A
fragment is a directory in the cache (``fragments/ab/cdef…/``):

- ``layer.zip``: its final entries, compressed — a build copies them raw into the layer;
- ``tree/``: the same files extracted (read-only), hard-linked by the import check;
- ``facts.json``: the distribution, bytes saved per rule, notices, bytecode count, the ELF
  facts the check needs, and the zip's sha256 and the tree's file count and size, which
  are verified on every read (a corrupted or truncated fragment is computed again).

A fragment is written under a temporary name and renamed into place, so concurrent
builds sharing a cache see a whole fragment or none.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lambdalayer.elf import ELF_MAGIC, ElfInfo, read_elf
from lambdalayer.fsutil import file_sha256
from lambdalayer.identity import tool_identity
from lambdalayer.interpreters import Interpreter
from lambdalayer.layer.archive import Entry, RawMember, write_zip
from lambdalayer.layer.assemble import Distribution, assemble
from lambdalayer.layer.bytecode import BytecodeMode, compile_entries
from lambdalayer.layer.slim import SlimOptions, rules, slim, strip_entries, strip_identity, strips
from lambdalayer.net.fetch import FetchedWheel
from lambdalayer.targets import Layout, Target

FORMAT = 1
_TREE_FILE_MODE = 0o444


@dataclass(frozen=True)
class Recipe:
    """Everything besides the wheel that decides a fragment's bytes."""

    target: Target
    layout: Layout
    slim: SlimOptions
    bytecode: BytecodeMode
    interpreter: Interpreter | None  # the compiler; None without bytecode

    @functools.cached_property
    def identity(self) -> str:
        """A stable hash of the recipe (part of every fragment key)."""
        interpreter = self.interpreter
        document = {
            "format": FORMAT,
            "tool": tool_identity(),
            "target": self.target.name,
            "layout": self.layout.value,
            "slim": [
                self.slim.enabled,
                sorted(self.slim.skip_rules),
                list(self.slim.keep),
                list(self.slim.drop),
            ],
            "rules": [dataclasses.astuple(rule) for rule in rules()],
            "strip": strip_identity(self.target) if strips(self.target, self.slim) else None,
            "bytecode": self.bytecode.value,
            "python": [*interpreter.version, interpreter.micro] if interpreter else None,
        }
        return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Fragment:
    """One wheel, ready to be copied into a layer."""

    directory: Path
    distribution: Distribution
    saved: dict[str, int] = field(default_factory=dict)
    notices: tuple[str, ...] = ()
    compiled: int = 0
    elves: dict[str, ElfInfo] = field(default_factory=dict)

    @property
    def zip_path(self) -> Path:
        """The fragment's entries, compressed."""
        return self.directory / "layer.zip"

    @property
    def tree(self) -> Path:
        """The fragment's entries, extracted."""
        return self.directory / "tree"

    def entries(self) -> list[Entry]:
        """The fragment's files as raw entries (copied into the layer without recompressing)."""
        with zipfile.ZipFile(self.zip_path) as archive:
            return [
                Entry(
                    info.filename,
                    (info.external_attr >> 16) & 0o777,
                    raw=RawMember.of(self.zip_path, info),
                )
                for info in archive.infolist()
                if not info.is_dir()
            ]

    def extracted(self, entry: Entry) -> Path:
        """Where an entry of :meth:`entries` is extracted (the import check links it)."""
        return self.tree / entry.arcname


@dataclass(frozen=True)
class FragmentSet:
    """The fragments of a build, in the lock's order, and how many had to be computed."""

    fragments: tuple[Fragment, ...]
    computed: int


class FragmentStore:
    """Fragments under ``cache_dir/fragments``, by key."""

    def __init__(self, cache_dir: Path) -> None:
        self.root = cache_dir / "fragments"

    def key(self, wheel_sha256: str, recipe: Recipe) -> str:
        """The fragment key of one wheel under a recipe."""
        return hashlib.sha256(f"{wheel_sha256.lower()}:{recipe.identity}".encode()).hexdigest()

    def directory(self, key: str) -> Path:
        """Where the fragment of ``key`` lives."""
        return self.root / key[:2] / key[2:]

    def load(self, key: str) -> Fragment | None:
        """The verified fragment of ``key``, or ``None`` (absent, or damaged and removed)."""
        directory = self.directory(key)
        facts_path = directory / "facts.json"
        if not facts_path.is_file():
            return None
        try:
            facts = json.loads(facts_path.read_text("utf-8"))
            fragment = _from_facts(directory, facts)
            intact = (
                fragment.zip_path.stat().st_size == facts["zip_size"]
                and file_sha256(fragment.zip_path) == facts["zip_sha256"]
                and _tree_summary(fragment.tree) == (facts["tree_files"], facts["tree_bytes"])
            )
        except (OSError, ValueError, KeyError, TypeError):
            intact = False
        if not intact:
            self._discard(directory)
            return None
        return fragment

    def _discard(self, directory: Path) -> None:
        with contextlib.suppress(OSError):
            _make_removable(directory)
            shutil.rmtree(directory)

    def save(self, key: str, entries: Sequence[Entry], partial: Fragment) -> Fragment:
        """Write a fragment from its final entries, atomically; returns it as stored."""
        final = self.directory(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=final.parent, prefix=".tmp-"))
        try:
            write_zip(scratch / "layer.zip", entries)
            elves = _extract_tree(scratch / "layer.zip", scratch / "tree")
            files, size = _tree_summary(scratch / "tree")
            facts = {
                "format": FORMAT,
                "distribution": dataclasses.asdict(partial.distribution),
                "saved": partial.saved,
                "notices": list(partial.notices),
                "compiled": partial.compiled,
                "elves": {
                    member: dataclasses.asdict(info) for member, info in sorted(elves.items())
                },
                "zip_sha256": file_sha256(scratch / "layer.zip"),
                "zip_size": (scratch / "layer.zip").stat().st_size,
                "tree_files": files,
                "tree_bytes": size,
            }
            (scratch / "facts.json").write_text(json.dumps(facts, indent=1), "utf-8")
            try:
                scratch.rename(final)
            except OSError:  # another build stored the same fragment first: use theirs
                self._discard(scratch)
        except BaseException:
            self._discard(scratch)
            raise
        loaded = self.load(key)
        if loaded is None:  # pragma: no cover - only if the disk lost it at once
            raise OSError(f"fragment {final} vanished after it was written")
        return loaded


def _from_facts(directory: Path, facts: dict[str, object]) -> Fragment:
    if facts.get("format") != FORMAT:
        raise ValueError("another fragment format")
    elves = facts["elves"]
    assert isinstance(elves, dict)  # noqa: S101 - read back what save() wrote
    return Fragment(
        directory=directory,
        distribution=Distribution(**facts["distribution"]),  # type: ignore[arg-type]
        saved=dict(facts["saved"]),  # type: ignore[call-overload]
        notices=tuple(facts["notices"]),  # type: ignore[arg-type]
        compiled=int(facts["compiled"]),  # type: ignore[call-overload]
        elves={member: _elf_from_json(value) for member, value in elves.items()},
    )


def _elf_from_json(value: dict[str, object]) -> ElfInfo:
    def pairs(items: object) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return tuple((str(name), tuple(versions)) for name, versions in items)  # type: ignore[attr-defined]

    glibc = value.get("glibc_needed")
    return ElfInfo(
        machine=str(value["machine"]),
        glibc_needed=tuple(glibc) if glibc else None,  # type: ignore[arg-type]
        symbol_versions=tuple(value.get("symbol_versions") or ()),  # type: ignore[arg-type]
        soname=value.get("soname"),  # type: ignore[arg-type]
        needed=tuple(value.get("needed") or ()),  # type: ignore[arg-type]
        search_paths=tuple(value.get("search_paths") or ()),  # type: ignore[arg-type]
        version_needs=pairs(value.get("version_needs") or ()),
        version_defs=tuple(value.get("version_defs") or ()),  # type: ignore[arg-type]
        misaligned_segments=int(value.get("misaligned_segments") or 0),  # type: ignore[call-overload]
    )


def _extract_tree(zip_path: Path, tree: Path) -> dict[str, ElfInfo]:
    """Extract the fragment's zip (streaming) into ``tree``; returns the ELF facts of its files."""
    elves: dict[str, ElfInfo] = {}
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            if info.is_dir():
                continue
            destination = tree / info.filename
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, destination.open("wb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
            destination.chmod(_TREE_FILE_MODE)
            with destination.open("rb") as stream:
                is_elf = stream.read(4) == ELF_MAGIC
            if is_elf:
                with contextlib.suppress(ValueError):
                    elves[info.filename] = read_elf(destination.read_bytes())
    return elves


def _tree_summary(tree: Path) -> tuple[int, int]:
    files = size = 0
    for directory, _dirs, names in os.walk(tree):
        for name in names:
            files += 1
            size += (Path(directory) / name).lstat().st_size
    return files, size


def _make_removable(directory: Path) -> None:
    for path, dirs, _files in os.walk(directory):
        for name in dirs:
            with contextlib.suppress(OSError):
                (Path(path) / name).chmod(0o755)


def layer_fragments(
    wheels: Sequence[FetchedWheel],
    recipe: Recipe,
    store: FragmentStore,
    notify: Callable[[str], None] = lambda _message: None,
) -> FragmentSet:
    """The fragment of every wheel: from the cache, or computed (in one batch) and stored."""
    keys = [store.key(item.wheel.sha256, recipe) for item in wheels]
    found: dict[int, Fragment] = {}
    for index, key in enumerate(keys):
        fragment = store.load(key)
        if fragment is not None:
            found[index] = fragment
    missing = [index for index in range(len(wheels)) if index not in found]
    if missing:
        notify(f"preparing {len(missing)} of {len(wheels)} wheels for {recipe.target.name}")
        store.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=store.root, prefix=".work-") as scratch:
            computed = _compute([wheels[index] for index in missing], recipe, Path(scratch))
            for done, (index, (entries, partial)) in enumerate(
                zip(missing, computed, strict=True), 1
            ):
                found[index] = store.save(keys[index], entries, partial)
                notify(
                    f"prepared {partial.distribution.name} {partial.distribution.version} [{done}/{len(missing)}]"
                )
    return FragmentSet(tuple(found[index] for index in range(len(wheels))), len(missing))


def _compute(
    wheels: Sequence[FetchedWheel], recipe: Recipe, scratch: Path
) -> list[tuple[list[Entry], Fragment]]:
    """Assemble and slim each wheel on its own, then strip and compile them all in one batch.

    ``origins`` stays aligned with ``everything``: the wheel each entry came from (two
    wheels may ship the same path; each fragment keeps its own copy).
    """
    target, options = recipe.target, recipe.slim
    no_strip = dataclasses.replace(options, skip_rules=options.skip_rules | {"strip"})
    everything: list[Entry] = []
    origins: list[int] = []
    partials: list[Fragment] = []
    for number, fetched in enumerate(wheels):
        assembly = assemble([fetched.path], target, recipe.layout)
        slimmed = slim(assembly.entries, target, no_strip)
        everything += slimmed.entries
        origins += [number] * len(slimmed.entries)
        partials.append(
            Fragment(Path(), assembly.distributions[0], dict(slimmed.saved), slimmed.notices)
        )
    notices: tuple[str, ...] = ()
    if strips(target, options):
        stripped, _saved, notice = strip_entries(everything, target, options.keep, scratch)
        notices = (notice,) if notice else ()
        for before, after, number in zip(everything, stripped, origins, strict=True):
            if after.size < before.size:
                partial = partials[number]
                partial.saved["strip"] = partial.saved.get("strip", 0) + before.size - after.size
        everything = stripped
    compiled_by: dict[int, int] = {}
    if recipe.bytecode is not BytecodeMode.NONE and recipe.interpreter is not None:
        is_function = recipe.layout is Layout.FUNCTION
        result = compile_entries(everything, recipe.interpreter, recipe.bytecode,
                                 root="" if is_function else "python/",
                                 extracted_at="/var/task" if is_function else "/opt")  # fmt: skip
        everything, origins, new = _follow_origins(
            everything, origins, list(result.entries), recipe.bytecode
        )
        for number in new:
            compiled_by[number] = compiled_by.get(number, 0) + 1
    grouped: list[list[Entry]] = [[] for _ in wheels]
    for entry, number in zip(everything, origins, strict=True):
        grouped[number].append(entry)
    return [
        (
            entries,
            dataclasses.replace(
                partial, notices=partial.notices + notices, compiled=compiled_by.get(number, 0)
            ),
        )
        for number, (entries, partial) in enumerate(zip(grouped, partials, strict=True))
    ]


def _follow_origins(
    before: list[Entry], origins: list[int], after: list[Entry], mode: BytecodeMode
) -> tuple[list[Entry], list[int], list[int]]:
    """Origins for the compiled list: a new ``.pyc`` comes from the source it stands beside.

    :func:`compile_entries` keeps the order, putting each ``.pyc`` just before its source
    (``auto``) or in its place (``only``).
    """
    result: list[int] = []
    new: list[int] = []  # the origin of each compiled file
    position = 0
    for entry in after:
        if position < len(before) and entry is before[position]:
            result.append(origins[position])
            position += 1
        else:
            result.append(origins[position])
            new.append(origins[position])
            if mode is BytecodeMode.ONLY:
                position += 1
    return after, result, new
