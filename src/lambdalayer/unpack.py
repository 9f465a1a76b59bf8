"""The one way lambdalayer unpacks an archive: every member confined to its root, every byte counted.

Used for every archive this program unpacks — a layer or function zip extracted for the
import check and ``invoke``, a wheel's fragment tree, an OCI image's tar layers (a
runtime image, a container base). The rules, whatever the archive says:

- a member's name is safe (:mod:`lambdalayer.zipnames`) and lands under the root; the
  directories on its way are opened one by one with ``O_NOFOLLOW`` from the root down,
  and a symbolic link met on the way is resolved *against the root* (as if the root were
  ``/``: an absolute target starts again at the root, ``..`` stops at it), so no link,
  whoever made it, carries a member outside;
- a file is always created anew (``O_CREAT | O_EXCL | O_NOFOLLOW``): whatever held its
  name before is removed first, never written through, and a mode is applied only to the
  file or directory just created (never a pre-existing inode); owners are never applied;
- a hard link must name a regular file this unpacker extracted inside the root;
- a symbolic link is created as written when its target stays inside the root
  (``rooted_links``: any target, resolved against the root as a container runtime does;
  otherwise a relative target that does not climb out of the root);
- device files, FIFOs and sockets are never created (a tar's are skipped, a zip's become
  regular files); any other member type is an error;
- every byte written and every member counted against a declared :class:`Quota`.

:func:`unpack_zip` and :func:`unpack_tar` drive an :class:`Unpacker`; the OCI image
layers' whiteouts (``.wh.NAME``, ``.wh..wh..opq``) are applied by :func:`unpack_tar` with
``whiteouts=True`` as the image spec says (to the layers beneath only).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from lambdalayer.errors import UnsafeArchiveError
from lambdalayer.zipnames import open_zip, printable, unsafe_reason

CHUNK_BYTES = 1 << 20
MAX_LINK_HOPS = 40  # symbolic links followed while resolving one name (Linux's own limit)
MAX_LINK_TARGET = 4095
# A tar header (pax records, a GNU long name) is read whole: a larger one is hostile.
MAX_HEADER_BYTES = 1 << 20
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


@dataclass(frozen=True)
class Quota:
    """What one unpacking may write: bytes of file content, and members (files, links, dirs)."""

    bytes: int
    members: int = 500_000


class Unpacker:
    """Members written under ``root`` by the rules of this module (see its docstring).

    ``what`` names the archive in messages. Use as a context manager (it holds the root open).
    """

    def __init__(self, root: Path, quota: Quota, what: str, *, rooted_links: bool = False) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.quota = quota
        self.what = what
        self.rooted_links = rooted_links
        self.written_bytes = 0
        self.members = 0
        self._made: set[tuple[int, int]] = set()  # (device, inode) of the files made here
        self._root_fd = os.open(root, _OPEN_DIR)

    def __enter__(self) -> Unpacker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Let go of the root."""
        if self._root_fd >= 0:
            os.close(self._root_fd)
            self._root_fd = -1

    # -- the rules ----------------------------------------------------------------------------

    def refuse(self, member: str, why: str) -> UnsafeArchiveError:
        """The error for ``member`` of this archive."""
        return UnsafeArchiveError(f"{self.what}: member {printable(member)!r} {why}")

    def _count(self, member: str, size: int = 0) -> None:
        self.members += 1
        if self.members > self.quota.members:
            raise self.refuse(member, f"is one member too many (at most {self.quota.members:,})")
        self._count_bytes(member, size)

    def _count_bytes(self, member: str, size: int) -> None:
        self.written_bytes += size
        if self.written_bytes > self.quota.bytes:
            raise self.refuse(
                member, f"takes the archive past the {self.quota.bytes:,} bytes it may unpack to"
            )

    def _parts(self, member: str) -> list[str]:
        name = member.removeprefix("./").lstrip("/").rstrip("/")
        reason = unsafe_reason(name) if name not in {"", "."} else "names the root itself"
        if reason is not None:
            raise self.refuse(member, reason)
        return [part for part in name.split("/") if part != "."]

    @contextlib.contextmanager
    def _directory(self, parts: list[str], member: str, *, create: bool) -> Iterator[int]:
        """An open descriptor of the real directory ``parts`` names under the root.

        Symbolic links on the way are resolved against the root; missing directories are
        made (``create``) or an error. Every step is opened with ``O_NOFOLLOW``.
        """
        resolved: list[str] = []
        pending = list(parts)
        hops = 0
        fd = os.dup(self._root_fd)
        try:
            while pending:
                part = pending.pop(0)
                if part in {"", "."}:
                    continue
                if part == "..":  # only from a link's target: stops at the root
                    resolved = resolved[:-1]
                    os.close(fd)
                    fd = self._open_real(resolved)
                    continue
                try:
                    info = os.lstat(part, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise self.refuse(member, "names a directory the archive lacks") from None
                    with contextlib.suppress(FileExistsError):  # another thread made it
                        os.mkdir(part, 0o755, dir_fd=fd)
                    info = os.lstat(part, dir_fd=fd)
                if stat.S_ISLNK(info.st_mode):
                    hops += 1
                    if hops > MAX_LINK_HOPS:
                        raise self.refuse(member, "goes through too many symbolic links")
                    target = os.readlink(part, dir_fd=fd)
                    if target.startswith("/"):
                        resolved = []
                        os.close(fd)
                        fd = os.dup(self._root_fd)
                    pending = [*target.split("/"), *pending]
                    continue
                if not stat.S_ISDIR(info.st_mode):
                    raise self.refuse(
                        member, f"is under {'/'.join([*resolved, part])}, not a directory"
                    )
                child = os.open(part, _OPEN_DIR, dir_fd=fd)
                os.close(fd)
                fd = child
                resolved.append(part)
            yield fd
        finally:
            os.close(fd)

    def _open_real(self, resolved: list[str]) -> int:
        fd = os.dup(self._root_fd)
        for part in resolved:
            child = os.open(part, _OPEN_DIR, dir_fd=fd)
            os.close(fd)
            fd = child
        return fd

    def _clear_place(self, directory: int, leaf: str) -> None:
        """Remove what holds ``leaf`` (a file, a link, a tree), never following a link."""
        try:
            info = os.lstat(leaf, dir_fd=directory)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(info.st_mode):
            shutil.rmtree(leaf, dir_fd=directory)
        else:
            os.unlink(leaf, dir_fd=directory)

    # -- members ------------------------------------------------------------------------------

    def directory(self, member: str, mode: int = 0o755) -> None:
        """A directory (its mode only if it is made now; an existing one is kept as it is)."""
        parts = self._parts(member)
        self._count(member)
        with self._directory(parts[:-1], member, create=True) as parent:
            try:
                info = os.lstat(parts[-1], dir_fd=parent)
            except FileNotFoundError:
                os.mkdir(parts[-1], 0o700, dir_fd=parent)
                os.chmod(parts[-1], (mode & 0o777) | 0o700, dir_fd=parent, follow_symlinks=False)
                return
            if stat.S_ISDIR(info.st_mode):
                return
            os.unlink(parts[-1], dir_fd=parent)  # a file or link where a directory goes
            os.mkdir(parts[-1], 0o700, dir_fd=parent)
            os.chmod(parts[-1], (mode & 0o777) | 0o700, dir_fd=parent, follow_symlinks=False)

    def file(self, member: str, source: IO[bytes], size: int, mode: int = 0o644) -> None:
        """A regular file of ``size`` declared bytes read from ``source`` (no more are read)."""
        parts = self._parts(member)
        self._count(member)
        if size < 0 or self.written_bytes + size > self.quota.bytes:
            raise self.refuse(
                member,
                f"declares {size:,} bytes, past the {self.quota.bytes:,} the archive may unpack to",
            )
        with self._directory(parts[:-1], member, create=True) as parent:
            self._clear_place(parent, parts[-1])
            fd = os.open(parts[-1], _CREATE_FILE, 0o600, dir_fd=parent)
            with os.fdopen(fd, "wb") as out:
                written = 0
                while written < size and (chunk := source.read(min(CHUNK_BYTES, size - written))):
                    out.write(chunk)
                    written += len(chunk)
                if written != size:
                    raise self.refuse(
                        member, f"holds {written:,} of the {size:,} bytes it declares"
                    )
                os.fchmod(out.fileno(), (mode & 0o777) | 0o400)
                made = os.fstat(out.fileno())
            self._made.add((made.st_dev, made.st_ino))
            self._count_bytes(member, size)

    def adopt(self, member: str, trusted: Path) -> None:
        """A file of the program's own cache (not of the archive) placed at ``member``: linked,
        or copied across filesystems."""
        parts = self._parts(member)
        self._count(member)
        with self._directory(parts[:-1], member, create=True) as parent:
            self._clear_place(parent, parts[-1])
            try:
                os.link(trusted, parts[-1], dst_dir_fd=parent, follow_symlinks=False)
            except OSError:
                with trusted.open("rb") as source:
                    size = os.fstat(source.fileno()).st_size
                    self._clear_place(parent, parts[-1])
                    fd = os.open(parts[-1], _CREATE_FILE, 0o644, dir_fd=parent)
                    with os.fdopen(fd, "wb") as out:
                        shutil.copyfileobj(source, out, CHUNK_BYTES)
                self._count_bytes(member, size)

    def hardlink(self, member: str, target: str) -> None:
        """A second name for a regular file this unpacker made inside the root."""
        parts, target_parts = self._parts(member), self._parts(target)
        self._count(member)
        with self._directory(target_parts[:-1], member, create=False) as source:
            try:
                info = os.lstat(target_parts[-1], dir_fd=source)
            except FileNotFoundError:
                raise self.refuse(
                    member, f"links to {printable(target)!r}, not in the archive"
                ) from None
            if not stat.S_ISREG(info.st_mode) or (info.st_dev, info.st_ino) not in self._made:
                raise self.refuse(
                    member, f"links to {printable(target)!r}, not a file the archive holds"
                )
            with self._directory(parts[:-1], member, create=True) as parent:
                self._clear_place(parent, parts[-1])
                os.link(
                    target_parts[-1],
                    parts[-1],
                    src_dir_fd=source,
                    dst_dir_fd=parent,
                    follow_symlinks=False,
                )

    def symlink(self, member: str, target: str) -> None:
        """A symbolic link, when its target stays inside the root (see the module's rules)."""
        parts = self._parts(member)
        self._count(member)
        if (
            not target
            or "\x00" in target
            or len(target.encode("utf-8", "surrogateescape")) > MAX_LINK_TARGET
        ):
            raise self.refuse(member, "is a symbolic link without a usable target")
        if not self.rooted_links and not _stays_inside(len(parts) - 1, target):
            raise self.refuse(
                member, f"is a symbolic link to {printable(target)!r}, outside the archive"
            )
        with self._directory(parts[:-1], member, create=True) as parent:
            self._clear_place(parent, parts[-1])
            os.symlink(target, parts[-1], dir_fd=parent)

    def remove(self, member: str) -> None:
        """Remove ``member`` (a whiteout): nothing outside the root, no link followed."""
        parts = self._parts(member)
        self._count(member)
        with (
            contextlib.suppress(UnsafeArchiveError),
            self._directory(parts[:-1], member, create=False) as parent,
        ):
            self._clear_place(parent, parts[-1])

    def empty(self, member: str) -> None:
        """Remove everything inside the directory ``member`` (an opaque whiteout)."""
        parts = self._parts(member) if member.strip("./") else []
        self._count(member or ".")
        with (
            contextlib.suppress(UnsafeArchiveError),
            self._directory(parts, member, create=False) as directory,
        ):
            for name in os.listdir(directory):  # noqa: PTH208 - a descriptor, not a path
                self._clear_place(directory, name)


def _stays_inside(depth: int, target: str) -> bool:
    """Whether a relative link ``depth`` directories below the root stays under it."""
    if target.startswith("/"):
        return False
    for part in target.split("/"):
        depth += -1 if part == ".." else 0 if part in {"", "."} else 1
        if depth < 0:
            return False
    return True


# -- zip ----------------------------------------------------------------------------------------

_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,
)


def unpack_zip(
    archive_path: Path,
    unpacker: Unpacker,
    *,
    skip_unsafe: bool = False,
    trusted: Mapping[str, Path] | None = None,
) -> None:
    """Every member of a zip under ``unpacker``'s root.

    ``skip_unsafe``: members whose names are unsafe are left out (the check reports them)
    rather than an error. ``trusted``: members whose extracted copy the program already has
    (its fragment cache), linked instead of inflated. A member whose Unix mode says
    symbolic link becomes one (its content is the target) when it stays inside.
    """
    try:
        with open_zip(archive_path) as archive:
            for info in archive.infolist():
                if skip_unsafe and unsafe_reason(info.filename.rstrip("/")) is not None:
                    continue
                _zip_member(archive, info, unpacker, trusted or {})
    except _ZIP_ERRORS as error:
        raise UnsafeArchiveError(
            f"{unpacker.what} cannot be unpacked: {error}", hint="the zip is damaged; rebuild it"
        ) from error


def _zip_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, unpacker: Unpacker, trusted: Mapping[str, Path]
) -> None:
    mode = (info.external_attr >> 16) & 0xFFFF if info.create_system == 3 else 0
    if info.is_dir():
        unpacker.directory(info.filename, mode & 0o777 or 0o755)
    elif stat.S_ISLNK(mode):
        with archive.open(info) as stream:
            target = stream.read(MAX_LINK_TARGET + 1)
        unpacker.symlink(info.filename, target.decode("utf-8", "surrogateescape"))
    elif info.filename in trusted:
        unpacker.adopt(info.filename, trusted[info.filename])
    else:
        with archive.open(info) as stream:
            unpacker.file(info.filename, stream, info.file_size, mode & 0o777 or 0o644)


# -- tar ----------------------------------------------------------------------------------------


class _Sequential(io.RawIOBase):
    """A decompressed tar stream for :mod:`tarfile`: forward only, no single read over
    :data:`MAX_HEADER_BYTES` (a pax header of gigabytes is refused, not read into memory),
    and no more than ``limit`` bytes in all."""

    def __init__(
        self, raw: IO[bytes], limit: int, refuse: Callable[[str], UnsafeArchiveError]
    ) -> None:
        self.raw, self.limit, self.position, self.refuse = raw, limit, 0, refuse

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0 or size > max(MAX_HEADER_BYTES, CHUNK_BYTES):
            raise self.refuse(f"has a header or member read of {size} bytes at once")
        data = self.raw.read(size)
        self._advance(len(data))
        return data

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _advance(self, count: int) -> None:
        self.position += count
        if self.position > self.limit:
            raise self.refuse(f"is over {self.limit:,} bytes unpacked")

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset if whence == io.SEEK_SET else self.position + offset
        if whence not in {io.SEEK_SET, io.SEEK_CUR} or target < self.position:
            raise self.refuse("cannot be read front to back")
        while self.position < target:
            if not self.raw.read(min(CHUNK_BYTES, target - self.position)):
                break
            self._advance(min(CHUNK_BYTES, target - self.position))
        return self.position


@contextlib.contextmanager
def _tar(archive_path: Path, quota: Quota, what: str) -> Iterator[tarfile.TarFile]:
    def refuse(why: str) -> UnsafeArchiveError:
        return UnsafeArchiveError(f"{what} {why}")

    limit = 2 * quota.bytes + 1024 * quota.members + MAX_HEADER_BYTES
    with _open_regular(archive_path, what) as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw  # type: ignore[assignment]
        with tarfile.open(fileobj=_Sequential(stream, limit, refuse), mode="r:") as archive:
            yield archive


@contextlib.contextmanager
def _open_regular(path: Path, what: str) -> Iterator[IO[bytes]]:
    """``path`` open for reading if it is a regular file (a FIFO or device is not waited on)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise UnsafeArchiveError(f"cannot read {what}: {error.strerror}") from error
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafeArchiveError(f"{what} is not a regular file")
    os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as stream:
        yield stream


@contextlib.contextmanager
def tar_member(
    archive_path: Path, name: str, quota: Quota, what: str
) -> Iterator[tuple[IO[bytes], int]]:
    """The member ``name`` (or ``./name``) of a tar, open for reading, and its size.

    The tar is read front to back within ``quota`` (its headers bounded as when unpacking);
    the member must be a regular file. Raises :class:`UnsafeArchiveError` otherwise.
    """
    try:
        with _tar(archive_path, quota, what) as archive:
            for member in _members(archive, quota.bytes, what):
                if member.name.removeprefix("./") != name:
                    continue
                source = archive.extractfile(member) if member.isreg() else None
                if source is None or member.issparse():
                    raise UnsafeArchiveError(f"{what}: {name} is not a regular file")
                with source:
                    yield source, member.size
                return
    except _TAR_ERRORS as error:
        raise UnsafeArchiveError(f"{what} cannot be read: {error}") from error
    raise UnsafeArchiveError(f"{what} has no file {name}")


def _members(archive: tarfile.TarFile, budget: int, what: str) -> Iterator[tarfile.TarInfo]:
    """The members one by one; none kept in memory (tarfile's list is emptied as it goes).

    The sizes their headers declare are summed as they come: past ``budget`` bytes the
    archive is refused before its data is read any further.
    """
    declared = 0
    while True:
        archive.members = []  # type: ignore[attr-defined]  # tarfile's own list, not in its stubs
        member = archive.next()
        if member is None:
            return
        declared += member.size if member.isreg() else 0
        if declared > budget:
            raise UnsafeArchiveError(
                f"{what}: member {printable(member.name)!r} takes the archive past the"
                f" {budget:,} bytes it may unpack to"
            )
        if member.isdir() and not member.name.removeprefix("./").strip("/."):
            continue  # the root itself ("./", as umoci writes it): already there
        yield member


_TAR_ERRORS = (
    tarfile.TarError,
    EOFError,
    OSError,
    zlib.error,
    ValueError,
    OverflowError,
    UnicodeError,
)


def unpack_tar(archive_path: Path, unpacker: Unpacker, *, whiteouts: bool = False) -> None:
    """Every member of a tar (plain or gzip) under ``unpacker``'s root.

    ``whiteouts``: an OCI image layer — ``.wh.NAME`` removes NAME, ``.wh..wh..opq`` empties
    its directory, both only of what the layers beneath left (they are applied before this
    layer's own files, in a first reading of the tar).
    """
    try:
        if whiteouts:
            _apply_whiteouts(archive_path, unpacker)
        with _tar(archive_path, unpacker.quota, unpacker.what) as archive:
            for member in _members(
                archive, unpacker.quota.bytes - unpacker.written_bytes, unpacker.what
            ):
                if whiteouts and PurePosixPath(member.name).name.startswith(WHITEOUT):
                    continue
                _tar_member(archive, member, unpacker)
    except _TAR_ERRORS as error:
        raise UnsafeArchiveError(f"{unpacker.what} cannot be unpacked: {error}") from error


def _apply_whiteouts(archive_path: Path, unpacker: Unpacker) -> None:
    with _tar(archive_path, unpacker.quota, unpacker.what) as archive:
        for member in _members(
            archive, unpacker.quota.bytes - unpacker.written_bytes, unpacker.what
        ):
            path = PurePosixPath(member.name.removeprefix("./").lstrip("/"))
            if path.name == OPAQUE:
                unpacker.empty(str(path.parent))
            elif path.name.startswith(WHITEOUT):
                unpacker.remove(str(path.with_name(path.name.removeprefix(WHITEOUT))))


def _tar_member(archive: tarfile.TarFile, member: tarfile.TarInfo, unpacker: Unpacker) -> None:
    if member.isdir():
        unpacker.directory(member.name, member.mode)
    elif member.isreg() and not member.issparse():
        source = archive.extractfile(member)
        if source is None:  # pragma: no cover - tarfile gives one for every regular member
            raise unpacker.refuse(member.name, "cannot be read")
        with source:
            unpacker.file(member.name, source, member.size, member.mode)
    elif member.issym():
        unpacker.symlink(member.name, member.linkname)
    elif member.islnk():
        unpacker.hardlink(member.name, member.linkname)
    elif member.isdev() or member.isfifo():
        return  # never created: a root lambdalayer unpacks only reads files
    else:
        raise unpacker.refuse(
            member.name, f"is of tar type {member.type!r}: not a file, directory or link"
        )
