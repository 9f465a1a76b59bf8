"""The one owner of lambdalayer's cache: where it is, where each entry lives, who uses it.

Every command opens the cache once (:meth:`Cache.open`) and hands the :class:`Cache` down;
nothing else joins paths under the cache's root. An entry a command relies on for a while
(a fragment whose files a build copies and links, an unpacked root the imports run in) is
*held*: a shared ``flock`` on the entry's lock file, kept until the command closes the
cache. ``lambdalayer cache prune`` removes an entry only while it can take that lock
exclusively, so a running build never loses what it holds; an entry it removes is renamed
away first (a reader sees it whole or not at all) and made again when next needed. Every
use also sets the lock file's time, which is what ``--older`` and ``--max-size`` go by.
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from lambdalayer.cache import trust
from lambdalayer.cache.buckets import Bucket, Shape
from lambdalayer.errors import CacheError
from lambdalayer.fsutil import atomic_write_bytes, read_small_file, remove_tree, staged_path

CACHE_ENV = "LAMBDALAYER_CACHE_DIR"
LOCKS = ".locks"
SEALS = ".seals"
TRASH = ".trash"


def default_root(environ: Mapping[str, str] = os.environ) -> Path:
    """``$LAMBDALAYER_CACHE_DIR``, else ``$XDG_CACHE_HOME/lambdalayer``, else ``~/.cache/lambdalayer``."""
    if environ.get(CACHE_ENV):
        return Path(environ[CACHE_ENV])
    xdg = environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "lambdalayer"


def cache_root(given: Path | None = None, environ: Mapping[str, str] = os.environ) -> Path:
    """The cache's directory: the one given (``--cache-dir``), else :func:`default_root`.

    Decided here only: every command and request asks this function.
    """
    return given if given is not None else default_root(environ)


def entry_path(root: Path, bucket: Bucket, key: str) -> Path:
    """Where the entry ``key`` of ``bucket`` lives under ``root`` (whether or not it exists)."""
    info = bucket.info
    if not key or "/" in key or key.startswith("."):
        raise ValueError(f"not a cache key: {key!r:.80}")
    directory = root / info.directory
    if info.shape is Shape.SHARDED:
        return directory / key[:2] / key[2:]
    if info.shape is Shape.FILE:
        return directory / f"{key}{info.suffix}"
    if info.shape is Shape.DIRECTORY:
        return directory / key
    raise ValueError(f"{bucket.label} belongs to another program: it has no entries of ours")


def _root_key(root: Path) -> Path:
    """One spelling of a root: the same directory opened twice is one cache."""
    try:
        return root.resolve()
    except OSError:
        return root.absolute()


def lock_path(root: Path, bucket: Bucket, key: str) -> Path:
    """The lock file of an entry: held shared while in use, taken exclusively to remove it."""
    return root / LOCKS / bucket.info.directory.replace("/", "-") / key


def seal_path(root: Path, bucket: Bucket, key: str) -> Path:
    """The MAC of an entry, when the user keys the cache (:mod:`lambdalayer.cache.trust`)."""
    return root / SEALS / bucket.info.directory.replace("/", "-") / key


def acquire(path: Path, *, exclusive: bool, wait: bool = True) -> int | None:
    """A ``flock`` on the lock file at ``path`` (created if absent), as an open descriptor.

    ``None`` when ``wait`` is false and another process holds a conflicting lock. The
    file is opened again after locking to prove it is still the one at ``path`` (a
    remover unlinks it while holding it exclusively), as every lock-file protocol must.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    operation = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if wait else fcntl.LOCK_NB)
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(descriptor, operation)
        except BlockingIOError:
            os.close(descriptor)
            return None
        except BaseException:
            os.close(descriptor)
            raise
        try:
            same = path.lstat().st_ino == os.fstat(descriptor).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return descriptor
        os.close(descriptor)


_open: dict[Path, tuple[Cache, int]] = {}  # root → the cache a command has open, how often
_open_lock = threading.Lock()


class Cache:
    """lambdalayer's cache at ``root``, and the entries this process holds in it.

    A command opens it once (:meth:`open`: the build, the check, ``invoke``); every stage
    below asks for the open one by its root (:meth:`at`), so that what they hold is let go
    when the command ends. Outside an open block, :meth:`at` gives one that records uses
    but holds nothing.

    >>> with Cache.open(None) as cache:  # doctest: +SKIP
    ...     fragments = cache.bucket(Bucket.FRAGMENTS)
    """

    def __init__(self, root: Path, *, holds: bool = True) -> None:
        self.root = root
        self.holds = holds
        self.key = trust.cache_key(os.environ, root)
        self._admitted: set[tuple[Bucket, str]] = set()  # trees verified once per command
        self._made: set[tuple[Bucket, str]] = set()  # sealed here: a shared cache writes them back
        self._used: set[tuple[Bucket, str]] = set()  # admitted: a shared cache may lack them
        # asked for an entry that is not here (a shared cache reading through by key); it
        # puts the entry in place when its store has one that may be used
        self.remote: Callable[[Bucket, str], None] | None = None
        self._held: dict[Path, int] = {}
        self._lock = threading.Lock()

    @classmethod
    @contextlib.contextmanager
    def open(cls, root: Path | None = None) -> Iterator[Cache]:
        """The cache at ``root`` (``None``: :func:`default_root`), released when the block ends.

        Opened again while open (a build's check, a check's runtime packages), it is the
        same cache, released when the outermost block ends.
        """
        given = root if root is not None else default_root()
        key = _root_key(given)
        with _open_lock:
            cache, count = _open.get(key, (None, 0))
            if cache is None:
                trust.check_root(given)  # as given: a link there is refused, not followed
                cache = cls(root if root is not None else default_root())
            _open[key] = (cache, count + 1)
        try:
            yield cache
        finally:
            with _open_lock:
                cache, count = _open[key]
                if count == 1:
                    del _open[key]
                else:
                    _open[key] = (cache, count - 1)
            if count == 1:
                cache.close()

    @classmethod
    def at(cls, root: Path) -> Cache:
        """The cache a command has open at ``root``, else one that holds nothing."""
        with _open_lock:
            opened = _open.get(_root_key(root))
        return opened[0] if opened is not None else cls(root, holds=False)

    def bucket(self, bucket: Bucket) -> Path:
        """The directory of ``bucket`` (created when absent)."""
        directory = self.root / bucket.info.directory
        self._ensure(directory)
        return directory

    def entry(self, bucket: Bucket, key: str) -> Path:
        """Where the entry ``key`` of ``bucket`` lives (it may not exist)."""
        return entry_path(self.root, bucket, key)

    def admit(self, bucket: Bucket, key: str) -> bool:
        """Whether the entry is there and may be used (:mod:`lambdalayer.cache.trust`).

        One that is there but fails the rules — another user's, writable by others, or (with
        a cache key) changed since it was sealed — is set aside, so it is made again. One
        that is not here is asked of :attr:`remote` first, when there is one.
        """
        path = self.entry(bucket, key)
        if not os.path.lexists(path):
            if self.remote is None:
                return False
            self.remote(bucket, key)
            if not os.path.lexists(path):
                return False
        if bucket.info.trusted_by_content or (bucket, key) in self._admitted:
            return self._use(bucket, key)
        if trust.owned_chain(self.root, path) and self._sealed(bucket, key, path):
            if bucket.info.shape is not Shape.FILE:  # a file is read again; a tree is held
                self._admitted.add((bucket, key))
            return self._use(bucket, key)
        self._set_aside(path)
        return False

    def seal(
        self, bucket: Bucket, key: str, content: Path | None = None, *, made: bool = True
    ) -> None:
        """Record the MAC of an entry about to be put in place (with a cache key; otherwise
        nothing). ``content``: where its files are now (the scratch it is renamed from),
        so that it is sealed before anyone can see it; ``None``: at its place already.
        ``made``: this process made it (:meth:`made`), it was not read from elsewhere."""
        if made:
            with self._lock:
                self._made.add((bucket, key))
        if self.key is None or bucket.info.trusted_by_content:
            return
        path = content if content is not None else self.entry(bucket, key)
        target = seal_path(self.root, bucket, key)
        self._ensure(target.parent)
        atomic_write_bytes(target, trust.seal(self.key, f"{bucket.label}/{key}", path).encode())

    def made(self) -> list[tuple[Bucket, str]]:
        """The entries this process made (sealed) since the cache was opened, in order."""
        with self._lock:
            return sorted(self._made, key=lambda entry: (entry[0].label, entry[1]))

    def used(self) -> list[tuple[Bucket, str]]:
        """The entries this process made or admitted (:meth:`admit`) since the cache was
        opened, in order: what a shared cache writes back when its store lacks them."""
        with self._lock:
            return sorted(self._made | self._used, key=lambda entry: (entry[0].label, entry[1]))

    def _use(self, bucket: Bucket, key: str) -> bool:
        with self._lock:
            self._used.add((bucket, key))
        return True

    def write(self, bucket: Bucket, key: str, data: bytes) -> Path:
        """Put a file entry in place atomically, sealed first; returns its path."""
        path = self.mark(bucket, key)
        self._ensure(path.parent)
        with staged_path(path) as staging:
            staging.write_bytes(data)
            self.seal(bucket, key, staging)
        return path

    def _sealed(self, bucket: Bucket, key: str, path: Path) -> bool:
        if self.key is None:
            return True
        try:
            # A seal is 64 hex digits: read to a bound, from a regular file only.
            recorded = read_small_file(seal_path(self.root, bucket, key), 128)
            recorded_text = recorded.decode("ascii").strip()
            expected = trust.seal(self.key, f"{bucket.label}/{key}", path)
        except (OSError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(recorded_text, expected)

    def _set_aside(self, path: Path) -> None:
        """Move an untrusted entry out of the way (its files are never read)."""
        away = self.root / TRASH / f"untrusted-{secrets.token_hex(8)}"
        with contextlib.suppress(OSError, CacheError):
            self._ensure(away.parent)
            path.rename(away)
            remove_tree(away)

    def mark(self, bucket: Bucket, key: str) -> Path:
        """The entry's path, its use recorded (for entries read whole, at once)."""
        self._touch(lock_path(self.root, bucket, key))
        return self.entry(bucket, key)

    def hold(self, bucket: Bucket, key: str) -> Path:
        """The entry's path, held until :meth:`close`: ``cache prune`` leaves it alone.

        Hold an entry before looking at it: what is there then stays until the command ends.
        """
        if not self.holds:
            return self.mark(bucket, key)
        self._take(lock_path(self.root, bucket, key))
        return self.entry(bucket, key)

    def _take(self, lock: Path) -> None:
        """A shared lock on ``lock``, kept until released or closed; its use recorded."""
        with self._lock:
            if lock not in self._held:
                self._ensure(lock.parent)
                descriptor = acquire(lock, exclusive=False)
                if descriptor is not None:  # always: a waiting acquire returns one
                    self._held[lock] = descriptor
        self._touch(lock)

    @contextlib.contextmanager
    def scratch(self, prefix: str = "work-") -> Iterator[Path]:
        """A new directory under ``tmp/``, held while the block runs and removed after it."""
        name = f"{prefix}{secrets.token_hex(8)}"
        self._take(
            lock_path(self.root, Bucket.TMP, name)
        )  # held even by a cache that holds nothing
        path = self.entry(Bucket.TMP, name)
        self._ensure(path.parent)
        path.mkdir()
        try:
            yield path
        finally:
            remove_tree(path)
            self.release(Bucket.TMP, name, forget=True)

    def release(self, bucket: Bucket, key: str, *, forget: bool = False) -> None:
        """Stop holding one entry before the cache is closed (``forget``: its lock file too)."""
        lock = lock_path(self.root, bucket, key)
        with self._lock:
            descriptor = self._held.pop(lock, None)
        if descriptor is not None:
            if forget:
                with contextlib.suppress(OSError):
                    lock.unlink()
            os.close(descriptor)

    def close(self) -> None:
        """Let go of every entry held; they may be pruned from now on."""
        with self._lock:
            held, self._held = self._held, {}
        for descriptor in held.values():
            os.close(descriptor)

    def _ensure(self, directory: Path) -> None:
        """``directory`` (under the root) and every directory between, made where absent —
        each a real directory: a link planted in the cache (``.locks``, a bucket) is an
        error, never followed to write elsewhere."""
        try:
            relative = directory.relative_to(self.root)
        except ValueError:
            relative = None
        place = self.root
        for part in ("", *(relative.parts if relative is not None else ())):
            place = place / part if part else place
            try:
                place.mkdir(parents=not part, exist_ok=True)  # the root's own parents: made
            except OSError as error:
                raise CacheError(
                    f"cannot write in the cache at {self.root}: {error.strerror or error}",
                    hint=f"set {CACHE_ENV} (or --cache-dir) to a directory you can write",
                ) from error
            trust.check_own_directory(place)

    def _touch(self, lock: Path) -> None:
        """Record a use: the lock file's time is the entry's last use."""
        try:
            os.utime(lock, follow_symlinks=False)
        except FileNotFoundError:
            self._ensure(lock.parent)
            with contextlib.suppress(OSError):
                os.close(os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600))
        except OSError:
            pass  # a read-only cache still serves; its entries just look unused
