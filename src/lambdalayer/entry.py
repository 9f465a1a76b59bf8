"""One file of an archive, as every stage hands it on: its path, mode, bytes and origin.

Its bytes are new (``data``, or a file at ``path`` for large ones) or a ``raw`` member of
an existing zip, copied with its compressed bytes untouched (most of a layer: members a
wheel's zip already holds). :func:`inflate` reads such a member back (libdeflate, the
same release that compresses: :mod:`lambdalayer.layer.archive`).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import deflate as libdeflate

FILE_MODE = 0o644
EXEC_MODE = 0o755


@dataclass(frozen=True)
class RawMember:
    """A member of an existing zip, to be copied with its compressed bytes untouched."""

    zip_path: Path
    header_offset: int
    compress_type: int
    compress_size: int
    file_size: int
    crc: int

    @classmethod
    def of(cls, zip_path: Path, info: zipfile.ZipInfo) -> RawMember:
        """The raw member for ``info`` of the zip at ``zip_path``."""
        return cls(
            zip_path,
            info.header_offset,
            info.compress_type,
            info.compress_size,
            info.file_size,
            info.CRC,
        )


@dataclass(frozen=True)
class Entry:
    """One file of an archive: new bytes (``data``, or a file at ``path`` for large ones) or
    a ``raw`` member copied as is.

    ``origin`` names what the file came from (a wheel's distribution); every stage that
    replaces an entry (strip, bytecode) keeps it, so nothing depends on list positions.
    """

    arcname: str
    mode: int = FILE_MODE
    data: bytes | None = None
    raw: RawMember | None = None
    path: Path | None = None
    origin: str | None = None

    @property
    def size(self) -> int:
        """The uncompressed size."""
        if self.raw is not None:
            return self.raw.file_size
        if self.path is not None:
            return self.path.stat().st_size
        return len(self.data or b"")

    def new_bytes(self) -> bytes:
        """The bytes of an entry that is not a raw member."""
        if self.path is not None:
            return self.path.read_bytes()
        return self.data or b""


def inflate(data: bytes, size: int) -> bytes:
    """The ``size`` bytes a raw deflate stream holds (libdeflate); :class:`ValueError` if it lies."""
    try:
        return bytes(libdeflate.deflate_decompress(data, size))
    except libdeflate.DeflateError as error:
        raise ValueError(f"corrupt deflate data: {error}") from error
