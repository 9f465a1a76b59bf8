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
import os
import secrets
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

from lambdalayer.cache.buckets import Bucket, Shape
from lambdalayer.errors import CacheError
from lambdalayer.fsutil import remove_tree

CACHE_ENV = "LAMBDALAYER_CACHE_DIR"
LOCKS = ".locks"
TRASH = ".trash"


def default_root(environ: Mapping[str, str] = os.environ) -> Path:
    """``$LAMBDALAYER_CACHE_DIR``, else ``$XDG_CACHE_HOME/lambdalayer``, else ``~/.cache/lambdalayer``."""
    if environ.get(CACHE_ENV):
        return Path(environ[CACHE_ENV])
    xdg = environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "lambdalayer"


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


def lock_path(root: Path, bucket: Bucket, key: str) -> Path:
    """The lock file of an entry: held shared while in use, taken exclusively to remove it."""
    return root / LOCKS / bucket.info.directory.replace("/", "-") / key


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


class Cache:
    """lambdalayer's cache at ``root``, and the entries this process holds in it.

    >>> with Cache.open(None) as cache:  # doctest: +SKIP
    ...     fragments = cache.bucket(Bucket.FRAGMENTS)
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._held: dict[Path, int] = {}
        self._lock = threading.Lock()

    @classmethod
    @contextlib.contextmanager
    def open(cls, root: Path | None = None) -> Iterator[Cache]:
        """The cache at ``root`` (``None``: :func:`default_root`), released when the block ends."""
        cache = cls(root if root is not None else default_root())
        try:
            yield cache
        finally:
            cache.close()

    def bucket(self, bucket: Bucket) -> Path:
        """The directory of ``bucket`` (created when absent)."""
        directory = self.root / bucket.info.directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CacheError(
                f"cannot create the cache directory {directory}: {error.strerror or error}",
                hint=f"set {CACHE_ENV} (or --cache-dir) to a directory you can write",
            ) from error
        return directory

    def entry(self, bucket: Bucket, key: str) -> Path:
        """Where the entry ``key`` of ``bucket`` lives (it may not exist)."""
        return entry_path(self.root, bucket, key)

    def mark(self, bucket: Bucket, key: str) -> Path:
        """The entry's path, its use recorded (for entries read whole, at once)."""
        self._touch(lock_path(self.root, bucket, key))
        return self.entry(bucket, key)

    def hold(self, bucket: Bucket, key: str) -> Path:
        """The entry's path, held until :meth:`close`: ``cache prune`` leaves it alone.

        Hold an entry before looking at it: what is there then stays until the command ends.
        """
        lock = lock_path(self.root, bucket, key)
        with self._lock:
            if lock not in self._held:
                self._ensure(lock.parent)
                descriptor = acquire(lock, exclusive=False)
                if descriptor is not None:  # always: a waiting acquire returns one
                    self._held[lock] = descriptor
        self._touch(lock)
        return self.entry(bucket, key)

    @contextlib.contextmanager
    def scratch(self, prefix: str = "work-") -> Iterator[Path]:
        """A new directory under ``tmp/``, held while the block runs and removed after it."""
        name = f"{prefix}{secrets.token_hex(8)}"
        path = self.hold(Bucket.TMP, name)
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
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise CacheError(
                f"cannot write in the cache at {self.root}: {error.strerror or error}",
                hint=f"set {CACHE_ENV} (or --cache-dir) to a directory you can write",
            ) from error

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
