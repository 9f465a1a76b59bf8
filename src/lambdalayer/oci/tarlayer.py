"""A layer tarball whose bytes depend on its files only: the same files, the same digest.

The tar (POSIX pax format) holds its members sorted by name, each parent directory once
before its children (mode 0755), every member owned by 0:0 with no user or group name,
dated 1980-01-01 like the zips' members; file
modes as the zip has them (0644, or 0755 for executables). No environment variable,
clock or umask is read.

Compressed as gzip in members of :data:`CHUNK_BYTES` each (a gzip file may hold several
members, RFC 1952 §2.2; Go's gzip reader — registries', containerd's, Lambda's — and
Python's read them as one stream), each by the pinned libdeflate at level 6, so the
compressed bytes, and with them the layer's digest, do not depend on this machine's zlib;
the members are compressed on every core.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

import deflate

EARLIEST_ZIP_EPOCH = 315532800  # 1980-01-01T00:00:00Z, the date of every zip member too
CHUNK_BYTES = 4 << 20
LEVEL = 6
DIR_MODE = 0o755


@dataclass(frozen=True)
class TarMember:
    """One file of a layer: its path in the image (no leading slash), mode, and content."""

    name: str
    mode: int
    source: Path | bytes


@dataclass(frozen=True)
class LayerBlob:
    """A compressed layer: its digest, the digest of the tar inside (the config's
    ``diff_id``), its compressed and uncompressed sizes."""

    digest: str
    diff_id: str
    size: int
    tar_size: int


class _GzipMembers(io.RawIOBase):
    """A write-only stream that gzips what it is given in fixed chunks, in parallel."""

    def __init__(self, out: IO[bytes], pool: ThreadPoolExecutor) -> None:
        self.out, self.pool = out, pool
        self.buffer = bytearray()
        self.pending: list[Future[bytearray]] = []
        self.tar_sha, self.sha = hashlib.sha256(), hashlib.sha256()
        self.tar_size = self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.buffer += data
        self.tar_sha.update(data)
        self.tar_size += len(data)
        while len(self.buffer) >= CHUNK_BYTES:
            self._submit(bytes(self.buffer[:CHUNK_BYTES]))
            del self.buffer[:CHUNK_BYTES]
        return len(data)

    def _submit(self, chunk: bytes) -> None:
        self.pending.append(self.pool.submit(deflate.gzip_compress, chunk, LEVEL))
        while len(self.pending) > 2 * (os.cpu_count() or 1):
            self._drain_one()

    def _drain_one(self) -> None:
        compressed = self.pending.pop(0).result()
        self.out.write(compressed)
        self.sha.update(compressed)
        self.size += len(compressed)

    def finish(self) -> None:
        """Compress what is left and write every member, in order."""
        if self.buffer or not self.tar_size:
            self._submit(bytes(self.buffer))
            self.buffer.clear()
        while self.pending:
            self._drain_one()


def _directories(names: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for name in names:
        found.update(str(parent) for parent in PurePosixPath(name).parents if str(parent) != ".")
    return found


def _info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size = kind, mode, size
    info.mtime = EARLIEST_ZIP_EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_layer(members: Sequence[TarMember], out: IO[bytes]) -> LayerBlob:
    """Write the layer of ``members`` (gzip tar) to ``out``; returns its digests and sizes."""
    files = {member.name: member for member in members}
    names = sorted([*files, *(_directories(files) - set(files))])
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        stream = _GzipMembers(out, pool)
        with tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as archive:
            for name in names:
                member = files.get(name)
                if member is None:
                    archive.addfile(_info(name, tarfile.DIRTYPE, DIR_MODE))
                elif isinstance(member.source, bytes):
                    info = _info(name, tarfile.REGTYPE, member.mode, len(member.source))
                    archive.addfile(info, io.BytesIO(member.source))
                else:
                    with member.source.open("rb") as source:
                        size = os.fstat(source.fileno()).st_size
                        archive.addfile(_info(name, tarfile.REGTYPE, member.mode, size), source)
        stream.finish()
    return LayerBlob(
        f"sha256:{stream.sha.hexdigest()}",
        f"sha256:{stream.tar_sha.hexdigest()}",
        stream.size,
        stream.tar_size,
    )
