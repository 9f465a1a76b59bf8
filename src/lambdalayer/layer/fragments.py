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
import importlib.metadata
import io
import json
import os
import shutil
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from lambdalayer.cache import Bucket, Cache, key_of
from lambdalayer.elf import ELF_MAGIC, ElfInfo, read_elf
from lambdalayer.fsutil import file_sha256
from lambdalayer.interpreters import Interpreter
from lambdalayer.layer.archive import Entry, RawMember, inflate, write_zip
from lambdalayer.layer.assemble import Distribution, assemble
from lambdalayer.layer.bytecode import compile_entries
from lambdalayer.layer.slim import StripResult, slim, strip_entries, strip_identity
from lambdalayer.net.fetch import FetchedWheel
from lambdalayer.progress import Notify, Step, quiet
from lambdalayer.recipe import BytecodeMode, SlimOptions
from lambdalayer.targets import Layout, Target
from lambdalayer.unpack import Quota, Unpacker

FORMAT = 3  # 3: an ELF file's facts say runpath and program
_TREE_FILE_MODE = 0o444


@dataclass(frozen=True)
class Recipe:
    """Everything besides the wheel that decides a fragment's bytes."""

    target: Target
    layout: Layout
    slim: SlimOptions
    bytecode: BytecodeMode
    compiler: Interpreter | None  # the CPython that compiles; None without bytecode

    @functools.cached_property
    def identity(self) -> str:
        """A stable hash of the recipe and what else decides a fragment's bytes (part of
        every fragment key): every field (the compiler by its X.Y.Z), the compressor's
        release (pinned: its output is the bytes) and the strip program's identity."""
        strip = strip_identity(self.slim.strip_program) if self.slim.runs("strip") else None
        return key_of(FORMAT, self, importlib.metadata.version("deflate"), strip)


@dataclass(frozen=True)
class FragmentFacts:
    """What making a fragment found out: kept beside its files and read back with them."""

    distribution: Distribution
    saved: Mapping[str, int] = field(default_factory=dict)  # slimming rule → bytes
    notices: tuple[str, ...] = ()
    compiled: int = 0
    elves: Mapping[str, ElfInfo] = field(default_factory=dict)  # member → its ELF facts

    def to_json(self) -> dict[str, object]:
        """The JSON kept in ``facts.json``."""
        return {
            "distribution": dataclasses.asdict(self.distribution),
            "saved": dict(self.saved),
            "notices": list(self.notices),
            "compiled": self.compiled,
            "elves": {
                member: dataclasses.asdict(info) for member, info in sorted(self.elves.items())
            },
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> FragmentFacts:
        """The facts :meth:`to_json` wrote; :class:`ValueError` (or ``KeyError``/``TypeError``) if not."""
        dist = document["distribution"]
        return cls(
            distribution=Distribution(
                str(dist["name"]),
                str(dist["version"]),
                str(dist["wheel"]),
                int(dist["files"]),
                int(dist["unzipped_bytes"]),
            ),
            saved={str(rule): int(size) for rule, size in document["saved"].items()},
            notices=tuple(str(notice) for notice in document["notices"]),
            compiled=int(document["compiled"]),
            elves={str(member): _elf_from_json(info) for member, info in document["elves"].items()},
        )


def _elf_from_json(value: Mapping[str, Any]) -> ElfInfo:
    glibc = value["glibc_needed"]
    return ElfInfo(
        machine=str(value["machine"]),
        glibc_needed=(int(glibc[0]), int(glibc[1])) if glibc else None,
        soname=str(value["soname"]) if value["soname"] is not None else None,
        needed=tuple(str(name) for name in value["needed"]),
        search_paths=tuple(str(path) for path in value["search_paths"]),
        version_needs=tuple(
            (str(library), tuple(str(name) for name in names))
            for library, names in value["version_needs"]
        ),
        misaligned_segments=int(value["misaligned_segments"]),
        runpath=bool(value.get("runpath", False)),
        program=bool(value.get("program", False)),
    )


@dataclass(frozen=True)
class Fragment:
    """One wheel, ready to be copied into a layer: its directory in the cache and its facts."""

    directory: Path
    facts: FragmentFacts

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
        origin = self.facts.distribution.name
        with zipfile.ZipFile(self.zip_path) as archive:
            return [
                Entry(
                    info.filename,
                    (info.external_attr >> 16) & 0o777,
                    raw=RawMember.of(self.zip_path, info),
                    origin=origin,
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
    """Fragments in the cache's fragments bucket, by key; each held from its first look
    until the command ends (a build copies and links their files long after)."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache = Cache.at(cache_dir)
        self.root = self.cache.bucket(Bucket.FRAGMENTS)

    def key(self, wheel_sha256: str, recipe_identity: str) -> str:
        """The fragment key of one wheel under a recipe (its :attr:`Recipe.identity`)."""
        return key_of(wheel_sha256.lower(), recipe_identity)

    def directory(self, key: str) -> Path:
        """Where the fragment of ``key`` lives (held from now on)."""
        return self.cache.hold(Bucket.FRAGMENTS, key)

    def load(self, key: str) -> Fragment | None:
        """The verified fragment of ``key``, or ``None`` (absent, untrusted, or damaged and removed)."""
        directory = self.directory(key)
        if not self.cache.admit(Bucket.FRAGMENTS, key):
            return None
        facts_path = directory / "facts.json"
        if not facts_path.is_file():
            return None
        try:
            document = json.loads(facts_path.read_text("utf-8"))
            if document.get("format") != FORMAT:
                raise ValueError("another fragment format")
            fragment = Fragment(directory, FragmentFacts.from_json(document))
            intact = (
                fragment.zip_path.stat().st_size == document["zip_size"]
                and file_sha256(fragment.zip_path) == document["zip_sha256"]
                and _tree_summary(fragment.tree) == (document["tree_files"], document["tree_bytes"])
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError):
            intact = False
        if not intact:
            self._discard(directory)
            return None
        return fragment

    def _discard(self, directory: Path) -> None:
        with contextlib.suppress(OSError):
            _make_removable(directory)
            shutil.rmtree(directory)

    def save(self, key: str, entries: Sequence[Entry], facts: FragmentFacts) -> Fragment:
        """Write a fragment from its final entries, atomically; returns it as stored."""
        final = self.directory(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=final.parent, prefix=".tmp-"))
        try:
            write_zip(scratch / "layer.zip", entries)
            elves = _extract_tree(scratch / "layer.zip", scratch / "tree")
            files, size = _tree_summary(scratch / "tree")
            document = {
                "format": FORMAT,
                **dataclasses.replace(facts, elves=elves).to_json(),
                "zip_sha256": file_sha256(scratch / "layer.zip"),
                "zip_size": (scratch / "layer.zip").stat().st_size,
                "tree_files": files,
                "tree_bytes": size,
            }
            (scratch / "facts.json").write_text(json.dumps(document, indent=1), "utf-8")
            self.cache.seal(Bucket.FRAGMENTS, key, scratch)
            try:
                scratch.rename(final)
                return Fragment(final, dataclasses.replace(facts, elves=elves))
            except OSError:  # another build stored the same fragment first: use theirs
                self._discard(scratch)
        except BaseException:
            self._discard(scratch)
            raise
        loaded = self.load(key)
        if loaded is None:  # pragma: no cover - only if the disk lost it at once
            raise OSError(f"fragment {final} vanished after it was written")
        return loaded


def _extract_tree(zip_path: Path, tree: Path) -> dict[str, ElfInfo]:
    """Extract the fragment's zip into ``tree`` (read-only files); returns their ELF facts.

    The zip is our own (just written), so its members are read raw and inflated by
    libdeflate (which lets other threads run), each checked against its CRC; the members
    are shared out between one thread per core by size.
    """
    with zipfile.ZipFile(zip_path) as archive:
        members = sorted(
            (info for info in archive.infolist() if not info.is_dir()),
            key=lambda info: -info.file_size,
        )
    workers = max(1, min(os.cpu_count() or 1, len(members)))
    shares: list[list[zipfile.ZipInfo]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for info in members:  # the largest first, each to the least loaded thread
        least = loads.index(min(loads))
        shares[least].append(info)
        loads[least] += info.file_size
    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = pool.map(lambda share: _extract_share(zip_path, share, tree), shares)
        return {member: info for part in found for member, info in part.items()}


def _extract_share(zip_path: Path, share: list[zipfile.ZipInfo], tree: Path) -> dict[str, ElfInfo]:
    elves: dict[str, ElfInfo] = {}
    quota = Quota(sum(info.file_size for info in share), members=len(share))
    with zip_path.open("rb") as stream, Unpacker(tree, quota, str(zip_path)) as unpacker:
        for info in share:
            data = _member_bytes(stream, info)
            unpacker.file(info.filename, io.BytesIO(data), len(data), _TREE_FILE_MODE)
            if data[:4] == ELF_MAGIC:
                with contextlib.suppress(ValueError):
                    elves[info.filename] = read_elf(data)
    return elves


def _member_bytes(stream: BinaryIO, info: zipfile.ZipInfo) -> bytes:
    """A member's uncompressed bytes, read raw from its local header on (CRC verified)."""
    stream.seek(info.header_offset)
    header = stream.read(30)
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    stream.seek(info.header_offset + 30 + name_length + extra_length)
    raw = stream.read(info.compress_size)
    data = raw if info.compress_type == zipfile.ZIP_STORED else inflate(raw, info.file_size)
    if zlib.crc32(data) != info.CRC:
        raise ValueError(f"{info.filename}: CRC mismatch")
    return data


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
    notify: Notify = quiet,
) -> FragmentSet:
    """The fragment of every wheel: from the cache, or computed (in one batch) and stored."""
    keys = [store.key(item.wheel.sha256, recipe.identity) for item in wheels]
    found = {key: fragment for key in keys if (fragment := store.load(key)) is not None}
    missing = [item for item, key in zip(wheels, keys, strict=True) if key not in found]
    if missing:
        notify(f"preparing {len(missing)} of {len(wheels)} wheels for {recipe.target.name}")
        store.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=store.root, prefix=".work-") as scratch:
            computed = _compute(missing, recipe, Path(scratch))
            for done, (item, (entries, facts)) in enumerate(zip(missing, computed, strict=True), 1):
                key = store.key(item.wheel.sha256, recipe.identity)
                found[key] = store.save(key, entries, facts)
                dist = facts.distribution
                text = f"prepared {dist.name} {dist.version} [{done}/{len(missing)}]"
                notify(Step(text, stage="prepare", done=done, total=len(missing)))
    return FragmentSet(tuple(found[key] for key in keys), len(missing))


def _compiled(entries: Sequence[Entry], recipe: Recipe) -> Sequence[Entry]:
    """``entries`` with the bytecode of their ``.py`` files (as they are without a compiler)."""
    if recipe.compiler is None:
        return entries
    return compile_entries(entries, recipe.compiler, recipe.bytecode, recipe.layout).entries


def _compute(
    wheels: Sequence[FetchedWheel], recipe: Recipe, scratch: Path
) -> list[tuple[list[Entry], FragmentFacts]]:
    """Assemble and slim each wheel on its own, then strip and compile them all in one batch.

    The bytecode compiles (in child interpreters) while the shared objects are stripped:
    the one touches only ``.py`` files, the other only ``.so`` files. Every entry carries
    its wheel's distribution as its ``origin`` through each step, and is given back to
    that wheel's fragment by it (two wheels may ship the same path; each fragment keeps its
    own copy).
    """
    assembled = [assemble(item.path, recipe.target, recipe.layout) for item in wheels]
    slimmed = [slim(assembly.entries, recipe.slim) for assembly in assembled]
    everything = [entry for result in slimmed for entry in result.entries]
    with ThreadPoolExecutor(max_workers=1) as compiler:
        bytecode = compiler.submit(_compiled, everything, recipe)
        stripped = StripResult(tuple(everything))
        if recipe.slim.runs("strip"):
            slim_options = recipe.slim
            stripped = strip_entries(
                everything, recipe.target, slim_options.keep, slim_options.strip_program, scratch
            )
        with_bytecode = bytecode.result()
    replaced = {
        (entry.origin, entry.arcname): entry
        for entry, before in zip(stripped.entries, everything, strict=True)
        if entry is not before
    }
    final = [replaced.get((entry.origin, entry.arcname), entry) for entry in with_bytecode]
    before = {entry.arcname for entry in everything}
    by_origin: dict[str | None, list[Entry]] = {}
    for entry in final:
        by_origin.setdefault(entry.origin, []).append(entry)
    computed = []
    for assembly, result in zip(assembled, slimmed, strict=True):
        name = assembly.distribution.name
        entries = by_origin.get(name, [])
        saved = dict(result.saved)
        if stripped.saved_by_origin.get(name):
            saved["strip"] = stripped.saved_by_origin[name]
        compiled = sum(1 for entry in entries if entry.arcname not in before)
        notices = (stripped.notice,) if stripped.notice else ()
        computed.append((entries, FragmentFacts(assembly.distribution, saved, notices, compiled)))
    return computed
