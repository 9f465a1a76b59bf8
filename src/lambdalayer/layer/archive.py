"""Deterministic zip writing: sorted entries, one timestamp, Unix modes, atomic output.

A small writer of our own rather than :mod:`zipfile`, for one reason: members taken
unchanged from a wheel are copied as their compressed bytes (no inflate, no deflate),
which is most of a layer. Everything that determines the output bytes is an argument, so
the same entries always give the same file.

New members are compressed with libdeflate (the ``deflate`` package, pinned to one
release), not the interpreter's zlib: zlib's output depends on which zlib (or zlib-ng,
or Apple's) the Python was built with, libdeflate's on its version only, so a layer built
on a laptop and in CI has the same bytes and the same ``CodeSha256``. It is also about
three times faster at the same level and size (``benchmarks/zlib_levels.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import tempfile
import threading
import time
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import deflate as libdeflate

from lambdalayer.entry import EXEC_MODE, FILE_MODE, Entry, RawMember, inflate
from lambdalayer.errors import OutputError
from lambdalayer.fsutil import atomic_writer
from lambdalayer.placement import Placement
from lambdalayer.zipnames import unsafe_reason

__all__ = [
    "EXEC_MODE",
    "FILE_MODE",
    "ArchiveStats",
    "Entry",
    "RawMember",
    "inflate",
    "write_placement",
    "write_zip",
]

DIR_MODE = 0o755
# 1980-01-01 00:00:00, the earliest time a zip can record: the one timestamp of every entry.
# Being the earliest, it is already no later than any SOURCE_DATE_EPOCH, so that variable is
# not read: a CI that sets it per commit still gets the same bytes.
EARLIEST_ZIP_EPOCH = 315532800
COMPRESS_LEVEL = 6
_COPY_CHUNK = 1 << 20
_S_IFREG = 0o100000
_S_IFDIR = 0o040000
_UTF8_FLAG = 0x0800
_MAX_ENTRIES = 0xFFFF
# libdeflate compresses whole buffers: the files being compressed at once may hold at most
# this many bytes (a larger file goes alone), so that a layer of large libraries keeps
# the build's memory bounded whatever the number of cores.
_IN_FLIGHT_LIMIT = 96 * 1024 * 1024


class _ByteBudget:
    """At most ``limit`` bytes taken at once (one request over it is let through alone)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0
        self.ready = threading.Condition()

    @contextlib.contextmanager
    def take(self, size: int) -> Iterator[None]:
        """Wait until ``size`` bytes fit, hold them for the block."""
        with self.ready:
            self.ready.wait_for(lambda: self.taken == 0 or self.taken + size <= self.limit)
            self.taken += size
        try:
            yield
        finally:
            with self.ready:
                self.taken -= size
                self.ready.notify_all()


_BUDGET = _ByteBudget(_IN_FLIGHT_LIMIT)
_MAX_OFFSET = 0xFFFFFFFF


@dataclass(frozen=True)
class ArchiveStats:
    """What was written."""

    path: Path
    zipped_bytes: int
    unzipped_bytes: int
    files: int
    sha256: str = ""  # of the zip's bytes, hashed as they were written


def _dos_datetime(epoch: int) -> tuple[int, int]:
    moment = time.gmtime(epoch)
    dos_time = (moment.tm_hour << 11) | (moment.tm_min << 5) | (moment.tm_sec // 2)
    dos_date = ((moment.tm_year - 1980) << 9) | (moment.tm_mon << 5) | moment.tm_mday
    return dos_time, dos_date


def compress(data: bytes) -> bytes:
    """Raw deflate (zip method 8) by the pinned libdeflate at the archive's fixed level."""
    return bytes(libdeflate.deflate_compress(data, COMPRESS_LEVEL))


@dataclass(frozen=True)
class _Packed:
    """A new entry, compressed: in memory (small ones) or in a file beside the output."""

    crc: int
    size: int
    method: int
    compressed: bytes | None = None
    compressed_path: Path | None = None

    @property
    def compressed_size(self) -> int:
        if self.compressed_path is not None:
            return self.compressed_path.stat().st_size
        return len(self.compressed or b"")


def _pack_bytes(data: bytes) -> _Packed:
    deflated = compress(data)
    if len(deflated) < len(data):
        return _Packed(zlib.crc32(data), len(data), zipfile.ZIP_DEFLATED, compressed=deflated)
    return _Packed(zlib.crc32(data), len(data), zipfile.ZIP_STORED, compressed=data)


def _pack_file(source: Path, scratch: Path) -> _Packed:
    """Deflate a file into another (libdeflate works on whole buffers: memory is budgeted)."""
    out_path = scratch / f"{hashlib.sha256(str(source).encode()).hexdigest()}.deflate"
    with _BUDGET.take(source.stat().st_size):
        data = source.read_bytes()
        deflated = compress(data)
        crc, size = zlib.crc32(data), len(data)
        del data
        if len(deflated) >= size:  # incompressible: stored as it is
            return _Packed(crc, size, zipfile.ZIP_STORED, compressed_path=source)
        out_path.write_bytes(deflated)
    return _Packed(crc, size, zipfile.ZIP_DEFLATED, compressed_path=out_path)


def _deflate_all(entries: Iterable[Entry], scratch: Path) -> dict[str, _Packed]:
    """Compress the new entries on every core (zlib releases the GIL); raw ones stay as they are."""
    pending = [entry for entry in entries if entry.raw is None]

    def pack(entry: Entry) -> _Packed:
        if entry.path is not None:
            return _pack_file(entry.path, scratch)
        return _pack_bytes(entry.data or b"")

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return dict(zip((entry.arcname for entry in pending), pool.map(pack, pending), strict=True))


def _parent_dirs(arcnames: Iterable[str]) -> set[str]:
    dirs: set[str] = set()
    for name in arcnames:
        parts = name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:depth]) + "/")
    return dirs


class _Writer:
    def __init__(
        self,
        out: BinaryIO,
        dos: tuple[int, int],
        sources: ExitStack,
        deflated: Mapping[str, _Packed],
    ) -> None:
        self.deflated = deflated
        self.out = out
        self.dos_time, self.dos_date = dos
        self.sources = sources
        self.open_zips: dict[Path, BinaryIO] = {}
        self.central: list[bytes] = []
        self.offset = 0
        self.unzipped = 0
        self.digest = hashlib.sha256()

    def _source(self, path: Path) -> BinaryIO:
        if path not in self.open_zips:
            self.open_zips[path] = self.sources.enter_context(path.open("rb"))
        return self.open_zips[path]

    def _write(self, chunk: bytes) -> None:
        self.out.write(chunk)
        self.digest.update(chunk)
        self.offset += len(chunk)

    def add(self, arcname: str, mode: int, entry: Entry | None) -> None:
        name = arcname.encode("utf-8")
        flags = 0 if name.isascii() else _UTF8_FLAG
        is_dir = entry is None
        packed: _Packed | None = None
        if entry is None:
            method, crc, compressed, size = zipfile.ZIP_STORED, 0, 0, 0
        elif entry.raw is not None:
            raw = entry.raw
            method, crc, compressed, size = (
                raw.compress_type,
                raw.crc,
                raw.compress_size,
                raw.file_size,
            )
        else:
            packed = self.deflated[arcname]
            method, crc, compressed, size = (
                packed.method,
                packed.crc,
                packed.compressed_size,
                packed.size,
            )
        if self.offset > _MAX_OFFSET:
            raise OutputError("archive exceeds 4 GiB, far beyond Lambda's limits")
        version = 20
        header_offset = self.offset
        self._write(
            struct.pack(
                "<IHHHHHIIIHH",
                0x04034B50,
                version,
                flags,
                method,
                self.dos_time,
                self.dos_date,
                crc,
                compressed,
                size,
                len(name),
                0,
            )
            + name
        )
        if packed is not None and packed.compressed_path is not None:
            self._copy_file(packed.compressed_path)
        elif packed is not None:
            self._write(packed.compressed or b"")
        elif entry is not None and entry.raw is not None:
            self._copy_raw(entry.raw)
        self.unzipped += size
        file_type = _S_IFDIR if is_dir else _S_IFREG
        external = ((file_type | mode) << 16) | (0x10 if is_dir else 0)
        self.central.append(
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                (3 << 8) | version,
                version,
                flags,
                method,
                self.dos_time,
                self.dos_date,
                crc,
                compressed,
                size,
                len(name),
                0,
                0,
                0,
                0,
                external,
                header_offset,
            )
            + name
        )

    def _copy_file(self, path: Path) -> None:
        with path.open("rb") as stream:
            while chunk := stream.read(_COPY_CHUNK):
                self._write(chunk)

    def _copy_raw(self, raw: RawMember) -> None:
        source = self._source(raw.zip_path)
        source.seek(raw.header_offset)
        header = source.read(30)
        if len(header) != 30 or header[:4] != b"PK\x03\x04":
            raise OutputError(f"{raw.zip_path} is not a readable zip (bad local header)")
        name_length, extra_length = struct.unpack("<HH", header[26:30])
        source.seek(raw.header_offset + 30 + name_length + extra_length)
        remaining = raw.compress_size
        while remaining:
            chunk = source.read(min(_COPY_CHUNK, remaining))
            if not chunk:
                raise OutputError(f"{raw.zip_path} is truncated")
            self._write(chunk)
            remaining -= len(chunk)

    def finish(self, comment: bytes) -> None:
        if len(self.central) > _MAX_ENTRIES:
            raise OutputError(f"{len(self.central)} entries is more than a plain zip holds")
        start = self.offset
        for record in self.central:
            self._write(record)
        size = self.offset - start
        count = len(self.central)
        self._write(
            struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, size, start, len(comment))
            + comment
        )


def write_zip(
    path: Path,
    entries: Iterable[Entry],
    *,
    timestamp: int = EARLIEST_ZIP_EPOCH,
    comment: str = "",
) -> ArchiveStats:
    """Write ``entries`` (plus their parent directories) to ``path`` deterministically and atomically.

    Entries are sorted by name; every entry gets the same timestamp (1980-01-01: nothing in
    the environment, ``SOURCE_DATE_EPOCH`` included, changes the bytes) and explicit Unix
    mode bits (0644 files, 0755 executables and directories). A name that is absolute,
    climbs with ``..``, is empty or has a backslash is refused. The zip appears at ``path``
    only when complete.
    """
    by_name: dict[str, Entry] = {}
    for entry in entries:
        reason = unsafe_reason(entry.arcname)
        if reason is not None:
            raise OutputError(
                f"refusing to write member {entry.arcname!r}: it {reason}",
                hint="this is a bug in what produced the entry; please report it",
            )
        if entry.arcname in by_name:
            raise OutputError(f"two entries for {entry.arcname} in one archive")
        by_name[entry.arcname] = entry
    names = sorted(set(by_name) | _parent_dirs(by_name))
    dos = _dos_datetime(timestamp)
    with (
        tempfile.TemporaryDirectory(dir=path.parent, prefix=".deflate-") as scratch,
        atomic_writer(path) as out,
        ExitStack() as sources,
    ):
        writer = _Writer(out, dos, sources, _deflate_all(by_name.values(), Path(scratch)))
        for name in names:
            member = by_name.get(name)
            writer.add(name, DIR_MODE if member is None else member.mode, member)
        writer.finish(comment.encode("utf-8"))
        zipped = writer.offset
        unzipped = writer.unzipped
    return ArchiveStats(path, zipped, unzipped, len(by_name), writer.digest.hexdigest())


def write_placement(path: Path, placement: Placement, comment: str = "") -> ArchiveStats:
    """Placed files as a deterministic zip at ``path`` (see :func:`write_zip`): the zip sink."""
    return write_zip(path, [file.entry for file in placement.files], comment=comment)
