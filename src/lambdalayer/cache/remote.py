"""A cache the whole CI fleet shares: a remote store read through and written back.

The remote store is an S3 prefix (:mod:`lambdalayer.aws.s3store`) or a mounted share
(``file://``, :class:`FileStore`). What goes through it, and the rules it obeys:

- **Wheels**, by sha256 (``v2/wheels/<sha256>/<filename>``): pulled for the locks a build
  needs and verified against the lock's sha256 before they enter the local cache; a wheel
  whose bytes differ is never used, whoever wrote it.
- **Derived entries** — resolutions, the wheels' sizes a plan read, fragments, check
  results, and ``build --all``'s
  zips by the stamp of their inputs (``v2/<bucket>/<key>``) — are read by key, on demand:
  a lookup that misses in the local cache asks the store for exactly that key
  (:meth:`FleetCache.read_through`, the zips by their stamps), so a job reads only what its
  own plan and build ask for however much the store holds, and writes back every entry
  it used (made, or read from the local cache) that the store lacks — each asked by name
  (:meth:`RemoteStore.has`) before it is sent, never by listing a derived bucket. They
  cannot be verified from their content, so they go through
  the store only under the team's cache key (``LAMBDALAYER_CACHE_KEY``/``_FILE``, a CI
  secret never written to the cache): each object's header carries the MAC
  :func:`lambdalayer.cache.trust.object_seal` gives its bucket and key, its payload's size
  and its payload's sha256. The header is read first and checked before one byte of the
  payload is: an object without a seal, made under another key, or stating more than its
  bucket's bound (:data:`LIMITS`) is refused after :data:`HEAD` bytes; the payload is read
  to the size the seal states and no further, and must hash to what it states — only then
  is a file written in place or a tree unpacked. An entry refused once is not asked again
  in that run. Without a key, derived entries are neither pulled nor pushed.
- Every object is written with a conditional put (S3's ``If-None-Match: *``, a hard link
  on a share), so concurrent jobs never overwrite or tear an entry: the first one wins,
  and an entry's name fixes its content. Every read is bounded (:data:`MAX_OBJECT`), and
  so is the number of names listed (wheels' names only, before writing them back).

An object's bytes: ``lambdalayer-cache 2\\n``, a header line ``<seal> <size> <sha256>\\n``
(the seal 64 hex digits, or ``-`` for a wheel, which its sha256 verifies), then the payload
of exactly ``<size>`` bytes: a file's bytes, or a tree as an uncompressed tar. Objects of
format 1 (``v1/…``, sealed over the unpacked content) are under other names: not found,
never misread.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import io
import os
import posixpath
import secrets
import stat
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
from lambdalayer.fsutil import file_sha256
from lambdalayer.lock import LockedWheel
from lambdalayer.unpack import Quota, Unpacker, unpack_tar

MAGIC = b"lambdalayer-cache 2\n"
FORMAT = "v2"  # every object's name starts with it: another format's objects are not found
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_OBJECT = 1 << 30  # one entry: a wheel or a fragment tree over 1 GiB is not ours
HEAD = 256  # an object's magic and header line fit in this; read first, alone
# the most a payload of each bucket may state (a file of JSON is small; a tree or a zip not)
LIMITS = {
    Bucket.RESOLUTIONS: 16 << 20,
    Bucket.SIZES: 16 << 20,
    Bucket.CHECKS: 16 << 20,
    Bucket.FRAGMENTS: MAX_OBJECT,
    Bucket.ARTEFACTS: MAX_OBJECT,
}
_CHUNK = 1 << 20
MAX_NAMES = 200_000  # names listed under one bucket
DERIVED = (Bucket.RESOLUTIONS, Bucket.SIZES, Bucket.FRAGMENTS, Bucket.CHECKS, Bucket.ARTEFACTS)
# read through by key when a lookup misses here; the zips are asked by their stamps at once
READ_THROUGH = (Bucket.RESOLUTIONS, Bucket.SIZES, Bucket.FRAGMENTS, Bucket.CHECKS)
_UNSEALED = "-"


class Stream(Protocol):
    """An object being read: as much as the reader asks for, then closed."""

    def read(self, size: int, /) -> bytes:
        """At most ``size`` bytes (fewer only at the end)."""
        ...

    def close(self) -> None:
        """Stop reading (the rest is never fetched)."""
        ...


class RemoteStore(Protocol):
    """Where the fleet's shared cache lives: named objects, read bounded, written once."""

    where: str  # for messages: s3://bucket/prefix, file:///mnt/cache

    def open(self, name: str) -> Stream | None:
        """The object ``name`` to read from its first byte (``None``: not there); the reader
        reads what it needs and closes it."""
        ...

    def put_new(self, name: str, data: bytes) -> bool:
        """Write ``name`` unless it exists (conditionally); ``False``: someone else wrote it."""
        ...

    def names(self, prefix: str, limit: int) -> list[str]:
        """The names under ``prefix`` (at most ``limit``)."""
        ...

    def has(self, name: str) -> bool:
        """Whether ``name`` is there (asked by name: nothing is listed or read)."""
        ...


def read_bounded(store: RemoteStore, name: str, limit: int) -> bytes | None:
    """The whole object ``name`` of ``store`` (``None``: not there), read through its
    :meth:`~RemoteStore.open`; over ``limit`` bytes is a :class:`CacheError`."""
    stream = store.open(name)
    if stream is None:
        return None
    try:
        data = stream.read(limit + 1)
    finally:
        stream.close()
    if len(data) > limit:
        raise CacheError(f"{name} in {store.where} is over {limit:,} bytes: not used")
    return data


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

    @contextlib.contextmanager
    def _reading(self, name: str) -> Iterator[tuple[int, str] | None]:
        """The directory of object ``name`` opened without following a link, with the
        object's file name in it (None: no such directory), closed after the block; a
        failure to read it, or an ``OSError`` the block raises, is one :class:`CacheError`."""
        *directories, file_name = self._parts(name)
        try:
            descriptor = self._directory(directories, create=False)
        except FileNotFoundError:
            yield None
            return
        except OSError as error:
            raise CacheError(f"cannot read {name} in {self.where}: {error.strerror}") from error
        try:
            yield descriptor, file_name
        except OSError as error:
            raise CacheError(f"cannot read {name} in {self.where}: {error.strerror}") from error
        finally:
            os.close(descriptor)

    def open(self, name: str) -> Stream | None:
        """The object, a regular file opened without following a link (nor waiting)."""
        with self._reading(name) as at:
            if at is None:
                return None
            descriptor, file_name = at
            try:
                flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
                opened = os.open(file_name, flags, dir_fd=descriptor)
            except FileNotFoundError:
                return None
        if not stat.S_ISREG(os.fstat(opened).st_mode):
            os.close(opened)
            raise CacheError(f"cannot read {name} in {self.where}: not a regular file")
        return os.fdopen(opened, "rb")

    def get(self, name: str, limit: int) -> bytes | None:
        """The object, a regular file read without following a link, and bounded."""
        return read_bounded(self, name, limit)

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

    def has(self, name: str) -> bool:
        """Whether anything is at ``name`` (a link there too: its name is taken)."""
        with self._reading(name) as at:
            if at is None:
                return False
            descriptor, file_name = at
            try:
                os.stat(file_name, dir_fd=descriptor, follow_symlinks=False)
            except FileNotFoundError:
                return False
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


def _object(seal: str, payload: bytes) -> bytes:
    """An object's bytes: the magic, the header line, the payload."""
    digest = hashlib.sha256(payload).hexdigest()
    return MAGIC + f"{seal} {len(payload)} {digest}\n".encode("ascii") + payload


@dataclass(frozen=True)
class Header:
    """What an object's first line says of it (nothing of it trusted yet)."""

    seal: str  # 64 hex digits, or "-"
    size: int  # of the payload that follows
    sha256: str  # of the payload
    start: bytes  # the payload's first bytes, read with the header


def _header(head: bytes) -> Header | str:
    """The header of an object whose first bytes are ``head``; else why it is not one
    (``"-"``: an object without a seal)."""
    if not head.startswith(MAGIC):
        return "not an entry of lambdalayer's cache"
    line, newline, start = head[len(MAGIC) :].partition(b"\n")
    fields = line.split(b" ")
    if fields[:1] == [b"-"] and len(fields) != 3:
        return _UNSEALED
    if not newline or len(fields) != 3 or not fields[1].isdigit() or len(fields[1]) > 12:
        return "not an entry of lambdalayer's cache"
    seal, size, digest = (field.decode("ascii", "replace") for field in fields)
    if not _is_hex(digest, 64) or not (seal == _UNSEALED or _is_hex(seal, 64)):
        return "not an entry of lambdalayer's cache"
    return Header(seal, int(size), digest, start)


def _is_hex(text: str, length: int) -> bool:
    return len(text) == length and all(c in "0123456789abcdef" for c in text)


def wheel_name(wheel: LockedWheel) -> str:
    """A wheel's object name: by its sha256."""
    return f"{FORMAT}/wheels/{wheel.sha256.lower()}/{wheel.filename}"


def entry_name(bucket: Bucket, key: str) -> str:
    """A derived entry's object name: by its bucket and key."""
    return f"{FORMAT}/{bucket.label}/{key}"


class FleetCache:
    """The local cache at ``cache.root`` read through from, and written back to, ``store``."""

    def __init__(self, store: RemoteStore, cache: Cache) -> None:
        self.store = store
        self.cache = cache
        self.report = SyncReport()
        self._lock = threading.Lock()  # the report, and which keys were asked
        self._asking: dict[tuple[Bucket, str], threading.Lock] = {}
        self._asked: set[tuple[Bucket, str]] = set()
        self._refused: set[str] = set()  # names refused in this run: never asked again
        self._pulled: set[tuple[Bucket, str]] = set()  # read from the store: it has them
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
            bound = min(wheel.size if wheel.size is not None else MAX_OBJECT, MAX_OBJECT)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(f".{path.name}.{secrets.token_hex(8)}.part")
            try:
                if self._receive(wheel_name(wheel), partial, bound, wheel=wheel):
                    partial.replace(path)
                    with self._lock:
                        self.report.pulled += 1
            finally:
                partial.unlink(missing_ok=True)

    def push_wheels(self, wheels: Iterable[LockedWheel]) -> None:
        """Write back the wheels the store does not have (only those verified here)."""
        there = set(self.store.names(f"{FORMAT}/wheels/", MAX_NAMES))
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
        """Get ``v2/<bucket>/<key>`` once and admit it; another thread asking the same key
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
            self._admit(bucket, key, entry_name(bucket, key))

    def push_derived(self, buckets: Sequence[Bucket] = DERIVED) -> None:
        """Write back the entries of ``buckets`` this run used (made, or read from the local
        cache) and this cache trusts that the store lacks: each asked by name first, then
        sent with a conditional put (the store is not listed: one another job wrote is kept)."""
        if self.cache.key is None:
            return
        for bucket, key in self.cache.used():
            if bucket not in buckets or not _is_key(key) or not self._present(bucket, key):
                continue
            with self._lock:
                pulled = (bucket, key) in self._pulled
            if pulled:
                continue
            if self.store.has(entry_name(bucket, key)):
                with self._lock:
                    self.report.present += 1
                continue
            if not self.cache.admit(bucket, key):
                continue
            path = self.cache.entry(bucket, key)
            payload = _payload(path, bucket)
            if payload is None or len(payload) > LIMITS[bucket]:
                continue
            digest = hashlib.sha256(payload).hexdigest()
            label = f"{bucket.label}/{key}"
            seal = trust.object_seal(self.cache.key, label, len(payload), digest)
            self._put(entry_name(bucket, key), _object(seal, payload))

    def _present(self, bucket: Bucket, key: str) -> bool:
        return os.path.lexists(self.cache.entry(bucket, key))

    def _admit(self, bucket: Bucket, key: str, name: str) -> None:
        """Receive one derived entry beside its place — its header's seal checked before its
        payload is read, its payload before a tree is unpacked — then put it in place."""
        final = self.cache.entry(bucket, key)
        with self.cache.scratch("remote-") as scratch:
            staged = scratch / final.name
            received = staged if bucket.info.shape is Shape.FILE else scratch / "payload.tar"
            if not self._receive(name, received, LIMITS[bucket], label=f"{bucket.label}/{key}"):
                return
            if bucket.info.shape is not Shape.FILE:
                try:
                    _unpack(received, staged, name)
                except (UnsafeArchiveError, InputError, tarfile.TarError) as error:
                    self._refuse(name, str(getattr(error, "message", error)))
                    return
                finally:
                    received.unlink(missing_ok=True)
            self.cache.seal(bucket, key, staged, made=False)
            final.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError, OSError):
                if not os.path.lexists(final):
                    staged.rename(final)
                    with self._lock:
                        self.report.pulled += 1
                        self._pulled.add((bucket, key))

    def _receive(
        self,
        name: str,
        destination: Path,
        bound: int,
        *,
        label: str | None = None,
        wheel: LockedWheel | None = None,
    ) -> bool:
        """Read the object ``name``'s payload into the new file ``destination`` when it may
        be used: its header first (sealed under the team's key for ``label``, or stating
        ``wheel``'s sha256; no more than ``bound`` bytes), then exactly the bytes it states
        and no more, which must hash to what it states. ``False`` (said): not used."""
        stream = self._open(name)
        if stream is None:
            return False
        with contextlib.closing(stream):
            header = _header(_read(stream, HEAD))
            why = self._verdict(header, bound, label, wheel)
            if why is not None or not isinstance(header, Header):
                self._refuse(name, why or "not an entry of lambdalayer's cache")
                return False
            digest = hashlib.sha256()
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            with os.fdopen(os.open(destination, flags, 0o600), "wb") as out:
                chunk, total = header.start[: header.size + 1], 0
                while chunk:
                    total += len(chunk)
                    if total > header.size:
                        break
                    digest.update(chunk)
                    out.write(chunk)
                    chunk = _read(stream, min(_CHUNK, header.size - total + 1))
        if total != header.size or digest.hexdigest() != header.sha256:
            destination.unlink(missing_ok=True)
            if wheel is not None:
                why = "not the bytes of its sha256"
            elif total != header.size:
                why = f"{'longer' if total > header.size else 'shorter'} than its seal states"
            else:
                why = "damaged, or made under another key"
            self._refuse(name, why)
            return False
        return True

    def _verdict(
        self, header: Header | str, bound: int, label: str | None, wheel: LockedWheel | None
    ) -> str | None:
        """Why an object with ``header`` is not read further (``None``: read its payload)."""
        why: str | None = None
        if wheel is not None:
            if not isinstance(header, Header) or header.sha256 != wheel.sha256.lower():
                why = "not the bytes of its sha256"
        elif header == _UNSEALED or (isinstance(header, Header) and header.seal == _UNSEALED):
            why = "unkeyed"
        elif not isinstance(header, Header):
            why = header
        elif self.cache.key is None or label is None:
            why = "unkeyed"
        elif not hmac.compare_digest(
            header.seal, trust.object_seal(self.cache.key, label, header.size, header.sha256)
        ):
            why = "damaged, or made under another key"
        if why is None and isinstance(header, Header) and header.size > bound:
            why = f"states {header.size:,} bytes, over {bound:,}"
        return why

    # -- the store ----------------------------------------------------------------------------

    def _refuse(self, name: str, why: str) -> None:
        with self._lock:
            self._refused.add(name)
            self.report.refused.append(f"{name}: {why[:300]}; not used")

    def _open(self, name: str) -> Stream | None:
        """The object to read, unless it was refused in this run already."""
        with self._lock:
            if name in self._refused:
                return None
        try:
            return self.store.open(name)
        except CacheError as error:
            self._refuse(name, error.message)
            return None

    def _put(self, name: str, data: bytes) -> None:
        if len(data) > MAX_OBJECT + HEAD:
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


def _read(stream: Stream, size: int) -> bytes:
    """Up to ``size`` bytes of ``stream`` (fewer only at its end)."""
    parts: list[bytes] = []
    while size > 0 and (part := stream.read(size)):
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def _unpack(archive: Path, staged: Path, name: str) -> None:
    """A tree entry at ``staged`` from its verified tar at ``archive``, unpacked safely."""
    with Unpacker(staged, Quota(MAX_OBJECT), f"{name} (remote cache)") as unpacker:
        unpack_tar(archive, unpacker)


def file_store(url: str) -> FileStore:
    """The store of a ``file:///path`` URL (the path must be a directory)."""
    path = Path(url.removeprefix("file://"))
    if not url.startswith("file:///") or not path.is_dir():
        raise InputError(
            f"{url!r:.100} is not a file:// URL of an existing directory",
            hint="e.g. file:///mnt/ci-cache (a mounted share every job sees)",
        )
    return FileStore(path)
