"""Download the wheels a lock names into a content-addressed cache, verifying sha256.

A cached file is addressed by its expected hash and checked again on every use: a file
that no longer matches is deleted and downloaded anew, so a wheel whose bytes are not the
ones the lock names is never used. Downloads go to a temporary file beside their final
place and are renamed only once verified, which keeps the cache safe under concurrent
builds.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.cache import CACHE_ENV, Bucket, Cache
from lambdalayer.errors import FetchError
from lambdalayer.fsutil import file_sha256
from lambdalayer.lock import LockedWheel
from lambdalayer.net.http import download_to, redact, with_retries
from lambdalayer.net.index import IndexConfig
from lambdalayer.progress import Downloading, Notify, quiet

DEFAULT_JOBS = 8
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class FetchedWheel:
    """A lock's wheel, present and verified on disk."""

    wheel: LockedWheel
    path: Path
    downloaded: bool


@dataclass(frozen=True)
class FetchReport:
    """All wheels of a fetch, in the order asked, and what it cost."""

    wheels: tuple[FetchedWheel, ...]
    downloaded_bytes: int
    replaced_corrupt: tuple[str, ...] = ()

    @property
    def downloads(self) -> int:
        """How many wheels had to be downloaded (0 with a warm cache)."""
        return sum(fetched.downloaded for fetched in self.wheels)


class WheelCache:
    """Wheels stored by sha256 in the cache's wheels bucket (``wheels/ab/cdef…/filename``).

    A wheel is held from its lookup until the command closes the cache: ``cache prune``
    does not remove it while the build copies its members.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache = Cache.at(root)

    def path_for(self, wheel: LockedWheel) -> Path:
        """Where the wheel lives in the cache once verified (held from now on)."""
        digest = wheel.sha256.lower()
        return self.cache.hold(Bucket.WHEELS, digest) / wheel.filename

    def lookup(self, wheel: LockedWheel) -> tuple[Path | None, bool]:
        """(the verified cached file or None, whether a corrupt copy was deleted)."""
        path = self.path_for(wheel)
        if not path.is_file():
            return None, False
        if file_sha256(path) == wheel.sha256.lower():
            return path, False
        path.unlink(missing_ok=True)
        return None, True

    def store(self, wheel: LockedWheel, source: Path) -> Path:
        """Copy a wheel built on this machine into the cache (atomically) under its hash."""
        final = self.path_for(wheel)
        if final.is_file():
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        descriptor, partial = tempfile.mkstemp(dir=final.parent, suffix=".part")
        try:
            with os.fdopen(descriptor, "wb") as out, source.open("rb") as stream:
                shutil.copyfileobj(stream, out)
            Path(partial).replace(final)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        return final

    def download(
        self, wheel: LockedWheel, index: IndexConfig | None = None, notify: Notify = quiet
    ) -> Path:
        """Download, verify and store one wheel; raises :class:`FetchError` on a mismatch.

        With ``index``, a wheel on a private index's own host is fetched with its credentials.
        Its bytes as they arrive are said to ``notify`` (:class:`~lambdalayer.progress.Transfer`).
        """
        url = index.authorized(wheel.url) if index is not None else wheel.url
        final = self.path_for(wheel)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise FetchError(
                f"cannot create cache directory {final.parent}: {error.strerror}",
                hint=f"set {CACHE_ENV} or --cache-dir to a writable directory",
            ) from error

        progress = Downloading(notify, wheel.filename, wheel.size)

        def attempt() -> None:
            descriptor, partial = tempfile.mkstemp(dir=final.parent, suffix=".part")
            digest = hashlib.sha256()
            progress.done = 0  # a retry starts again from an empty file

            def chunk(data: bytes) -> None:
                digest.update(data)
                progress.advance(len(data))

            try:
                with os.fdopen(descriptor, "wb") as out:
                    download_to(url, out, chunk, size=wheel.size)
                if digest.hexdigest() != wheel.sha256.lower():
                    raise FetchError(
                        f"hash mismatch for {wheel.filename}: expected sha256 {wheel.sha256},"
                        f" got {digest.hexdigest()} from {redact(wheel.url)}",
                        hint="the index served other bytes than it announced; the file was discarded",
                        url=redact(wheel.url),
                    )
                Path(partial).replace(final)
            except BaseException:
                Path(partial).unlink(missing_ok=True)
                raise

        try:
            with_retries(f"download of {wheel.filename}", attempt)
        finally:
            progress.finish()
        return final


def fetch(
    wheels: Sequence[LockedWheel],
    cache: WheelCache,
    *,
    jobs: int = DEFAULT_JOBS,
    notify: Notify = quiet,
    index: IndexConfig | None = None,
) -> FetchReport:
    """Make every wheel present and verified in ``cache``, downloading in parallel (each
    download said to ``notify``).

    ``index`` lends its credentials to the wheels on its own host (a private index).
    """
    replaced: list[str] = []

    def one(wheel: LockedWheel) -> FetchedWheel:
        cached, was_corrupt = cache.lookup(wheel)
        if was_corrupt:
            replaced.append(wheel.filename)
        if cached is not None:
            return FetchedWheel(wheel, cached, downloaded=False)
        return FetchedWheel(wheel, cache.download(wheel, index, notify), downloaded=True)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        fetched = tuple(pool.map(one, wheels))
    downloaded_bytes = sum(item.path.stat().st_size for item in fetched if item.downloaded)
    return FetchReport(fetched, downloaded_bytes, tuple(sorted(replaced)))
