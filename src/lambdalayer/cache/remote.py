"""A cache the whole CI fleet shares: a remote store read through and written back.

The remote store is an S3 prefix (:mod:`lambdalayer.aws.s3store`) or a mounted share
(``file://``, :class:`FileStore`). What goes through it, and the rules it obeys:

- **Wheels**, by sha256 (``v1/wheels/<sha256>/<filename>``): pulled for the locks a build
  needs and verified against the lock's sha256 before they enter the local cache; a wheel
  whose bytes differ is never used, whoever wrote it.
- **Derived entries** — resolutions, the wheels' sizes a plan read, fragments, check
  results, and ``build --all``'s
  zips by the stamp of their inputs (``v1/<bucket>/<key>``) — are read by key, on demand:
  a lookup that misses in the local cache asks the store for exactly that key
  (:meth:`FleetCache.read_through`, the zips by their stamps), so a job reads only what its
  own plan and build ask for however much the store holds, and writes back only the
  entries it made. They cannot be verified from their content, so they go through
  the store only under the team's cache key (``LAMBDALAYER_CACHE_KEY``/``_FILE``, a CI
  secret never written to the cache): each object carries the MAC
  :func:`lambdalayer.cache.trust.seal` gives its content, checked on the way in; an entry
  without it, made under another key, or damaged is not used (and said). Without a
  key, derived entries are neither pulled nor pushed.
- Every object is written with a conditional put (S3's ``If-None-Match: *``, a hard link
  on a share), so concurrent jobs never overwrite or tear an entry: the first one wins,
  and an entry's name fixes its content. Every read is bounded (:data:`MAX_OBJECT`), and
  so is the number of names listed (wheels' names only, before writing them back).

An object's bytes: ``lambdalayer-cache 1\\n``, the seal (64 hex digits, or ``-`` for a
wheel), ``\\n``, then the entry: a file's bytes, or a tree as an uncompressed tar.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import io
import os
import posixpath
import tarfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from lambdalayer.cache import trust
from lambdalayer.cache.buckets import Bucket, Shape
from lambdalayer.cache.store import Cache, entry_path
from lambdalayer.errors import CacheError, InputError, UnsafeArchiveError
from lambdalayer.fsutil import atomic_write_bytes, file_sha256, read_small_file
from lambdalayer.lock import LockedWheel
from lambdalayer.unpack import Quota, Unpacker, unpack_tar

MAGIC = b"lambdalayer-cache 1\n"
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_OBJECT = 1 << 30  # one entry: a wheel or a fragment tree over 1 GiB is not ours
MAX_NAMES = 200_000  # names listed under one bucket
DERIVED = (Bucket.RESOLUTIONS, Bucket.SIZES, Bucket.FRAGMENTS, Bucket.CHECKS, Bucket.ARTEFACTS)
# read through by key when a lookup misses here; the zips are asked by their stamps at once
READ_THROUGH = (Bucket.RESOLUTIONS, Bucket.SIZES, Bucket.FRAGMENTS, Bucket.CHECKS)
_UNSEALED = b"-"


class RemoteStore(Protocol):
    """Where the fleet's shared cache lives: named objects, read bounded, written once."""

    where: str  # for messages: s3://bucket/prefix, file:///mnt/cache

    def get(self, name: str, limit: int) -> bytes | None:
        """The object ``name`` (``None``: not there); raises :class:`CacheError` over ``limit``."""
        ...

    def put_new(self, name: str, data: bytes) -> bool:
        """Write ``name`` unless it exists (conditionally); ``False``: someone else wrote it."""
        ...

    def names(self, prefix: str, limit: int) -> list[str]:
        """The names under ``prefix`` (at most ``limit``)."""
        ...


class FileStore:
    """A mounted share (``file:///mnt/cache``): the same objects as files under ``root``.

    Anyone who can write the share can put a link where a directory of objects should be:
    every directory below ``root`` is opened without following a link (each component
    ``O_NOFOLLOW``, the file named relative to its directory), so nothing is written, listed
    or read through one — a link is a :class:`CacheError` naming it.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.where = root.as_uri()

    @staticmethod
    def _parts(name: str) -> list[str]:
        parts = name.split("/")
        if any(part in {"", ".", ".."} for part in parts):
            raise ValueError(f"not an object name: {name!r:.80}")
        return parts

    def _directory(self, parts: Sequence[str], create: bool) -> int:
        """A descriptor of ``root/parts…``, no component of it a link (created if asked)."""
        descriptor = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for depth, part in enumerate(parts):
                if create:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, dir_fd=descriptor)
                try:
                    child = os.open(part, _DIRECTORY_FLAGS, dir_fd=descriptor)
                except OSError as error:
                    if error.errno not in {errno.ELOOP, errno.ENOTDIR}:
                        raise
                    where = "/".join(parts[: depth + 1])
                    raise CacheError(
                        f"{where} in {self.where} is a link or a file, not a directory:"
                        " not followed",
                        hint="remove it from the share (anyone who can write the share can"
                        " plant one)",
                    ) from error
                os.close(descriptor)
                descriptor = child
        except BaseException:
            os.close(descriptor)
            raise
        return descriptor

    def get(self, name: str, limit: int) -> bytes | None:
        """The object, a regular file read without following a link, and bounded."""
        *directories, file_name = self._parts(name)
        try:
            descriptor = self._directory(directories, create=False)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise CacheError(f"cannot read {name} in {self.where}: {error.strerror}") from error
        try:
            data = read_small_file(file_name, limit + 1, dir_fd=descriptor)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise CacheError(f"cannot read {name} in {self.where}: {error.strerror}") from error
        finally:
            os.close(descriptor)
        if len(data) > limit:
            raise CacheError(f"{name} in {self.where} is over {limit:,} bytes: not used")
        return data

    def put_new(self, name: str, data: bytes) -> bool:
        """Written beside its name, then linked to it: the link fails if the name exists."""
        *directories, file_name = self._parts(name)
        partial = f".{file_name}.{os.getpid()}.{id(data)}.part"
        try:
            descriptor = self._directory(directories, create=True)
        except OSError as error:
            raise CacheError(f"cannot write {name} to {self.where}: {error.strerror}") from error
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            with os.fdopen(os.open(partial, flags, 0o644, dir_fd=descriptor), "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
            os.link(partial, file_name, src_dir_fd=descriptor, dst_dir_fd=descriptor)
        except FileExistsError:
            return False
        except OSError as error:
            raise CacheError(f"cannot write {name} to {self.where}: {error.strerror}") from error
        finally:
            with contextlib.suppress(OSError):
                os.unlink(partial, dir_fd=descriptor)
            os.close(descriptor)
        return True

    def names(self, prefix: str, limit: int) -> list[str]:
        """The object names under ``prefix`` (files only, links not followed)."""
        parts = self._parts(prefix.rstrip("/"))
        try:
            descriptor = self._directory(parts, create=False)
        except FileNotFoundError:
            return []
        found: list[str] = []
        try:
            for directory, dirs, files, _ in os.fwalk(".", dir_fd=descriptor):
                dirs.sort()
                for file_name in sorted(files):
                    if file_name.startswith("."):
                        continue
                    relative = posixpath.normpath(posixpath.join(directory, file_name))
                    found.append("/".join([*parts, relative]))
                    if len(found) >= limit:
                        return found
        finally:
            os.close(descriptor)
        return found


@dataclass
class SyncReport:
    """What one exchange with the remote store did."""

    pulled: int = 0
    pushed: int = 0
    present: int = 0  # already there (someone else wrote it first)
    refused: list[str] = field(default_factory=list)  # objects not used, each with why
    notes: list[str] = field(default_factory=list)


def _object(seal: bytes, payload: bytes) -> bytes:
    return MAGIC + seal + b"\n" + payload


def _parse(data: bytes) -> tuple[bytes, bytes] | None:
    if not data.startswith(MAGIC):
        return None
    seal, newline, payload = data[len(MAGIC) :].partition(b"\n")
    return (seal, payload) if newline else None


def wheel_name(wheel: LockedWheel) -> str:
    """A wheel's object name: by its sha256."""
    return f"v1/wheels/{wheel.sha256.lower()}/{wheel.filename}"


class FleetCache:
    """The local cache at ``cache.root`` read through from, and written back to, ``store``."""

    def __init__(self, store: RemoteStore, cache: Cache) -> None:
        self.store = store
        self.cache = cache
        self.report = SyncReport()
        self._lock = threading.Lock()  # the report, and which keys were asked
        self._asking: dict[tuple[Bucket, str], threading.Lock] = {}
        self._asked: set[tuple[Bucket, str]] = set()
        if cache.key is None:
            self.report.notes.append(
                f"{store.where}: resolutions, fragments and check results are shared only under"
                f" the team's cache key ({trust.KEY_ENV}); only wheels (verified by sha256) are"
            )

    # -- wheels -------------------------------------------------------------------------------

    def pull_wheels(self, wheels: Iterable[LockedWheel]) -> None:
        """Bring the wheels missing here from the store, each verified by its sha256."""
        for wheel in wheels:
            local = entry_path(self.cache.root, Bucket.WHEELS, wheel.sha256.lower())
            path = local / wheel.filename
            if path.is_file():
                continue
            data = self._get(wheel_name(wheel))
            parsed = _parse(data) if data is not None else None
            if data is None:
                continue
            if parsed is None or hashlib.sha256(parsed[1]).hexdigest() != wheel.sha256.lower():
                self._refuse(wheel_name(wheel), "not the bytes of its sha256")
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, parsed[1])
            with self._lock:
                self.report.pulled += 1

    def push_wheels(self, wheels: Iterable[LockedWheel]) -> None:
        """Write back the wheels the store does not have (only those verified here)."""
        there = set(self.store.names("v1/wheels/", MAX_NAMES))
        for wheel in {wheel.sha256.lower(): wheel for wheel in wheels}.values():
            if wheel_name(wheel) in there:
                continue
            path = entry_path(self.cache.root, Bucket.WHEELS, wheel.sha256.lower()) / wheel.filename
            if not path.is_file() or path.stat().st_size > MAX_OBJECT:
                continue
            if file_sha256(path) != wheel.sha256.lower():
                continue
            self._put(wheel_name(wheel), _object(_UNSEALED, path.read_bytes()))

    # -- derived entries ----------------------------------------------------------------------

    def pull_entries(self, bucket: Bucket, keys: Iterable[str]) -> list[str]:
        """Bring the sealed entries ``keys`` of ``bucket`` this cache has not; the keys
        still missing after (the store has none, or not one that may be used)."""
        missing = []
        for key in dict.fromkeys(keys):
            if not _is_key(key):  # not a name of ours: never asked, never found
                missing.append(key)
                continue
            if not self._present(bucket, key):
                self._ask(bucket, key)
            if not self._present(bucket, key):
                missing.append(key)
        return missing

    def read_through(self, bucket: Bucket, key: str) -> None:
        """A lookup of ``key`` missed in the local cache: bring that entry from the store,
        when it has one that may be used (:data:`READ_THROUGH` buckets, each key asked once)."""
        if bucket in READ_THROUGH and _is_key(key):
            self._ask(bucket, key)

    @contextlib.contextmanager
    def reading_through(self) -> Iterator[FleetCache]:
        """The local cache asks the store for each derived entry it misses while the block
        runs (:meth:`read_through`); nothing is asked without the team's cache key."""
        if self.cache.key is None:
            yield self
            return
        self.cache.remote = self.read_through
        try:
            yield self
        finally:
            self.cache.remote = None

    def _ask(self, bucket: Bucket, key: str) -> None:
        """Get ``v1/<bucket>/<key>`` once and admit it; another thread asking the same key
        waits for this answer instead of asking again."""
        if self.cache.key is None:
            return
        with self._lock:
            asking = self._asking.setdefault((bucket, key), threading.Lock())
        with asking:
            if (bucket, key) in self._asked:
                return
            self._asked.add((bucket, key))
            if self._present(bucket, key):
                return
            name = f"v1/{bucket.label}/{key}"
            data = self._get(name)
            if data is not None:
                self._admit(bucket, key, name, data)

    def push_derived(self, buckets: Sequence[Bucket] = DERIVED) -> None:
        """Write back the entries of ``buckets`` this run made and this cache trusts, each
        with a conditional put (the store is not listed: one another job wrote is kept)."""
        if self.cache.key is None:
            return
        for bucket, key in self.cache.made():
            if bucket not in buckets or not _is_key(key) or not self._present(bucket, key):
                continue
            if not self.cache.admit(bucket, key):
                continue
            path = self.cache.entry(bucket, key)
            payload = _payload(path, bucket)
            if payload is None:
                continue
            seal = trust.seal(self.cache.key, f"{bucket.label}/{key}", path).encode("ascii")
            self._put(f"v1/{bucket.label}/{key}", _object(seal, payload))

    def _present(self, bucket: Bucket, key: str) -> bool:
        return os.path.lexists(self.cache.entry(bucket, key))

    def _admit(self, bucket: Bucket, key: str, name: str, data: bytes) -> None:
        """Unpack one derived entry beside its place, check its seal, then put it in place."""
        assert self.cache.key is not None  # noqa: S101 - _ask returns without one
        parsed = _parse(data)
        if parsed is None:
            self._refuse(name, "not an entry of lambdalayer's cache")
            return
        seal, payload = parsed
        final = self.cache.entry(bucket, key)
        with self.cache.scratch("remote-") as scratch:
            staged = scratch / final.name
            try:
                _unpack(payload, staged, bucket, name)
            except (UnsafeArchiveError, InputError, tarfile.TarError) as error:
                self._refuse(name, str(getattr(error, "message", error)))
                return
            expected = trust.seal(self.cache.key, f"{bucket.label}/{key}", staged)
            if not hmac.compare_digest(seal, expected.encode("ascii")):
                why = "unkeyed" if seal == _UNSEALED else "damaged, or made under another key"
                self._refuse(name, why)
                return
            self.cache.seal(bucket, key, staged, made=False)
            final.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError, OSError):
                if not os.path.lexists(final):
                    staged.rename(final)
                    with self._lock:
                        self.report.pulled += 1

    # -- the store ----------------------------------------------------------------------------

    def _refuse(self, name: str, why: str) -> None:
        with self._lock:
            self.report.refused.append(f"{name}: {why[:300]}; not used")

    def _get(self, name: str) -> bytes | None:
        try:
            return self.store.get(name, MAX_OBJECT)
        except CacheError as error:
            self._refuse(name, error.message)
            return None

    def _put(self, name: str, data: bytes) -> None:
        if len(data) > MAX_OBJECT + 100:
            return
        written = self.store.put_new(name, data)
        with self._lock:
            if written:
                self.report.pushed += 1
            else:
                self.report.present += 1


def _is_key(key: str) -> bool:
    return 8 <= len(key) <= 128 and all(c in "0123456789abcdef" for c in key)


def _payload(path: Path, bucket: Bucket) -> bytes | None:
    """An entry's bytes: a file's own, a tree as a tar with fixed owners and times."""
    if bucket.info.shape is Shape.FILE:
        return path.read_bytes() if path.is_file() else None
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for directory, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                item = Path(directory) / name
                info = archive.gettarinfo(str(item), str(item.relative_to(path)))
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0
                if info.isreg():
                    with item.open("rb") as stream:
                        archive.addfile(info, stream)
                else:
                    archive.addfile(info)
            if buffer.tell() > MAX_OBJECT:
                return None
    return buffer.getvalue()


def _unpack(payload: bytes, staged: Path, bucket: Bucket, name: str) -> None:
    """An entry from its payload at ``staged``: a file written, a tree unpacked safely."""
    if bucket.info.shape is Shape.FILE:
        staged.write_bytes(payload)
        return
    archive = staged.with_name(staged.name + ".tar")
    archive.write_bytes(payload)
    try:
        with Unpacker(staged, Quota(MAX_OBJECT), f"{name} (remote cache)") as unpacker:
            unpack_tar(archive, unpacker)
    finally:
        archive.unlink(missing_ok=True)


def file_store(url: str) -> FileStore:
    """The store of a ``file:///path`` URL (the path must be a directory)."""
    path = Path(url.removeprefix("file://"))
    if not url.startswith("file:///") or not path.is_dir():
        raise InputError(
            f"{url!r:.100} is not a file:// URL of an existing directory",
            hint="e.g. file:///mnt/ci-cache (a mounted share every job sees)",
        )
    return FileStore(path)
