"""Placed files: the one currency between what makes a layer's files and what takes them.

A :class:`Placement` is files at their paths (arcnames) for one :class:`~lambdalayer.targets.Layout`
— where Lambda puts them: ``/opt`` for a layer, ``/var/task`` for a function, an image's
root, ``/var/runtime`` — each with its mode, the distribution it came from, its ELF facts
when known, and where its bytes are. Producers: a build's fragments
(:func:`lambdalayer.layer.contents.layer_contents`), any zip (:func:`read_zip`), any
directory (:func:`read_tree`). Consumers: the zip writer
(:func:`lambdalayer.layer.archive.write_placement`), the
tree writer, an image's layers, the check, the import stage and ``invoke`` (which place the
files in a sandbox). None of them needs to know which producer made it.

A zip is read once, here: members that no unzip reads alike (an unknown compression method,
encryption, a name given twice, a file where a directory must be) and unsafe names are set
apart with the reason and never placed. Every later read of a member is bounded by its
declared size.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import stat
import struct
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from lambdalayer.elf import ElfInfo
from lambdalayer.entry import FILE_MODE, Entry, RawMember, inflate
from lambdalayer.targets import Layout
from lambdalayer.zipnames import is_safe, open_zip, printable

_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
# What reading a damaged member raises: bad CRC, corrupt deflate, a header that disagrees.
READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    struct.error,
)


@dataclass(frozen=True)
class PlacedFile:
    """One file at its path: what a zip writer writes (``entry``) and what is known of it.

    ``extracted``: the same bytes as a file on disk (a fragment's tree, a directory read),
    which the import stage links instead of writing again; ``elf``: its ELF facts, known
    when ``elf_known`` (``None`` then means not ELF); ``member``: the zip member it was read
    from (its bytes are read from :attr:`Placement.archive`).
    """

    entry: Entry
    extracted: Path | None = None
    elf: ElfInfo | None = None
    elf_known: bool = False
    member: zipfile.ZipInfo | None = None
    symlink: bool = False  # a zip member whose Unix mode says symbolic link (its bytes: the target)

    @property
    def arcname(self) -> str:
        """The file's path inside the placement, e.g. ``python/six.py``."""
        return self.entry.arcname

    @property
    def mode(self) -> int:
        """Its Unix permission bits."""
        return self.entry.mode

    @property
    def size(self) -> int:
        """Its uncompressed size (as a zip's header declares it, for a member)."""
        if self.member is not None:
            return self.member.file_size
        return self.entry.size

    @property
    def origin(self) -> str | None:
        """The distribution it came from, when the producer knows it."""
        return self.entry.origin


@dataclass(frozen=True)
class Placement:
    """Files placed for ``layout``, in their order, and what is known of them as a whole.

    ``digests``: distribution → what identifies its files (a fragment's key), so that what
    depends only on a distribution's files can be reused; ``archive``: the zip the files
    were read from; ``sha256`` and ``zipped_bytes``: of that zip (or of the zip written from
    them); ``unsafe``: member names never placed (they would land outside); ``set_apart``:
    members not placed because no unzip reads them alike (printable name → why);
    ``declared_bytes``: every member's size as declared, placed or not.
    """

    layout: Layout
    files: tuple[PlacedFile, ...]
    digests: Mapping[str, str] = field(default_factory=dict)
    archive: Path | None = None
    sha256: str | None = None
    zipped_bytes: int | None = None
    unsafe: tuple[str, ...] = ()
    set_apart: Mapping[str, str] = field(default_factory=dict)
    declared_bytes: int = 0
    label: Path | None = None  # what it is known as (the zip, the directory)

    @classmethod
    def of(
        cls, layout: Layout, files: tuple[PlacedFile, ...], digests: Mapping[str, str]
    ) -> Placement:
        """Files made by lambdalayer itself (nothing unsafe or set apart)."""
        return cls(layout, files, digests, declared_bytes=sum(file.size for file in files))

    @property
    def shown(self) -> Path:
        """What the placement is called in messages and reports: its zip or directory."""
        return self.label or Path(f"({self.layout.value} files)")

    @property
    def names(self) -> list[str]:
        """Every placed file's arcname, in order."""
        return [file.arcname for file in self.files]

    def identity(self) -> str:
        """What identifies these files: the zip's sha256 when there is one, else a hash of every
        file's path, mode and bytes (a distribution's files by its digest)."""
        if self.sha256 is not None:
            return self.sha256
        digest = hashlib.sha256(self.layout.value.encode())
        with self.reader() as reader:
            for file in self.files:
                content = self.digests.get(file.origin or "")
                if content is None:
                    content = hashlib.sha256(reader.read(file, file.size)).hexdigest()
                digest.update(json.dumps([file.arcname, file.mode, content]).encode())
        return digest.hexdigest()

    @contextlib.contextmanager
    def reader(self) -> Iterator[PlacementReader]:
        """A reader of the files' bytes (the zip, when there is one, opened once)."""
        if self.archive is None:
            yield PlacementReader(None)
            return
        with open_zip(self.archive) as archive:
            yield PlacementReader(archive)


class PlacementReader:
    """Opens placed files: from disk, from memory, or from the zip they were read from."""

    def __init__(self, archive: zipfile.ZipFile | None) -> None:
        self.archive = archive

    def open(self, file: PlacedFile) -> IO[bytes]:
        """A stream of the file's bytes; the errors of :data:`READ_ERRORS` for a damaged member."""
        if file.extracted is not None:
            return file.extracted.open("rb")
        if file.member is not None and self.archive is not None:
            return self.archive.open(file.member)
        if file.entry.path is not None:
            return file.entry.path.open("rb")
        if file.entry.raw is not None:
            return io.BytesIO(_raw_bytes(file.entry.raw))
        return io.BytesIO(file.entry.data or b"")

    def read(self, file: PlacedFile, limit: int) -> bytes:
        """At most ``limit`` of the file's first bytes."""
        with self.open(file) as stream:
            return stream.read(limit)


def _raw_bytes(raw: RawMember) -> bytes:
    """A raw member of one of lambdalayer's own zips, inflated whole (CRC verified)."""
    with raw.zip_path.open("rb") as stream:
        stream.seek(raw.header_offset)
        header = stream.read(30)
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        stream.seek(raw.header_offset + 30 + name_length + extra_length)
        data = stream.read(raw.compress_size)
    if raw.compress_type != zipfile.ZIP_STORED:
        data = inflate(data, raw.file_size)
    if zlib.crc32(data) != raw.crc:
        raise ValueError("CRC mismatch")
    return data


def _set_apart(infos: list[zipfile.ZipInfo]) -> dict[str, str]:
    """Members that no unzip reads alike, with the reason (they are never read or extracted)."""
    reasons: dict[str, str] = {}
    counts = Counter(info.filename for info in infos)
    directories = {name.rstrip("/") for name in counts if name.endswith("/")}
    files = {name for name in counts if not name.endswith("/")}
    parents = {name.rsplit("/", 1)[0] for name in files if "/" in name}
    for info in infos:
        name = info.filename
        if info.compress_type not in _METHODS:
            reasons[name] = (
                f"uses compression method {info.compress_type}: only stored and deflate unzip"
                " everywhere"
            )
        elif info.flag_bits & 0x1:
            reasons[name] = "is encrypted: Lambda cannot extract it"
        elif counts[name] > 1:
            reasons[name] = (
                f"appears {counts[name]} times: which copy lands depends on the unzip program"
            )
        elif name in files and (name in directories or name in parents):
            reasons[name] = "is a file where other members need a directory of that name"
    return reasons


def read_zip(path: Path, layout: Layout, sha256: str | None = None) -> Placement:
    """The files of any zip, placed for ``layout``; unsafe or unreadable members set apart.

    Only the central directory is read here; members are read (bounded) when a consumer
    asks. ``sha256``: the zip's, when the caller knows it.
    """
    with open_zip(path) as archive:
        everything = archive.infolist()
        nameless = archive.nameless
    set_apart = _set_apart(everything)
    infos = [info for info in everything if not info.is_dir()]
    files = tuple(
        _member(path, info)
        for info in infos
        if is_safe(info.filename) and info.filename not in set_apart
    )
    return Placement(
        layout,
        files,
        archive=path,
        sha256=sha256,
        zipped_bytes=path.stat().st_size,
        unsafe=(
            *(info.filename for info in everything if not is_safe(info.filename)),
            *[""] * nameless,
        ),
        set_apart={printable(name): why for name, why in set_apart.items() if is_safe(name)},
        declared_bytes=sum(info.file_size for info in infos),
        label=path,
    )


def _member(path: Path, info: zipfile.ZipInfo) -> PlacedFile:
    """One member of a zip, placed: its Unix mode when a Unix zip tool wrote it."""
    mode = (info.external_attr >> 16) & 0xFFFF if info.create_system == 3 else 0
    entry = Entry(info.filename, mode & 0o777, raw=RawMember.of(path, info))
    return PlacedFile(entry, member=info, symlink=stat.S_ISLNK(mode))


def read_tree(directory: Path, layout: Layout) -> Placement:
    """The regular files under ``directory``, placed for ``layout`` at their relative paths.

    A symbolic link or any file that is not regular is set apart with the reason (never
    followed, never read); modes are the files' own permission bits.
    """
    files: list[PlacedFile] = []
    set_apart: dict[str, str] = {}
    for root, dirs, names in os.walk(directory):
        dirs.sort()
        for name in [*dirs, *sorted(names)]:
            path = Path(root) / name
            arcname = path.relative_to(directory).as_posix()
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                set_apart[printable(arcname)] = "is a symbolic link: it is not followed"
            elif name in names and not stat.S_ISREG(info.st_mode):
                set_apart[printable(arcname)] = "is not a regular file"
            elif name in names:
                mode = stat.S_IMODE(info.st_mode) or FILE_MODE
                files.append(PlacedFile(Entry(arcname, mode, path=path), extracted=path))
        dirs[:] = [name for name in dirs if not (Path(root) / name).is_symlink()]
    ordered = tuple(sorted(files, key=lambda file: file.arcname))
    return Placement(
        layout,
        ordered,
        set_apart=set_apart,
        declared_bytes=sum(file.size for file in ordered),
        label=directory,
    )
