"""The cache's blob store: every blob once, by digest (``<cache>/oci/blobs/sha256/<hex>``).

Layers lambdalayer made and blobs of base images it downloaded live side by side; a blob
is written under a temporary name and renamed into place, so a reader sees it whole or
not at all, and one whose size is not the descriptor's is taken as absent.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from lambdalayer.cache import Bucket, Cache
from lambdalayer.errors import FetchError
from lambdalayer.ocimedia import DIGEST


class FetchBlob(Protocol):
    """Where a blob comes from: writes the blob ``digest`` of ``size`` declared bytes into
    ``out``, verified against both; returns the bytes written."""

    def __call__(self, digest: str, out: Path, *, size: int | None = None) -> int:
        """Fetch one blob into ``out``."""


class BlobStore:
    """Blobs by ``sha256:<hex>`` digest in the cache's blobs bucket (``oci/blobs/sha256``),
    each held from its first look until the command ends (an image built from them is
    written or pushed later)."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache = Cache.at(cache_dir)
        self.root = cache_dir / Bucket.BLOBS.info.directory

    def path(self, digest: str) -> Path:
        """Where the blob ``digest`` is (or would be) kept."""
        if not DIGEST.fullmatch(digest):
            raise FetchError(f"{digest!r} is not a sha256 digest")
        return self.cache.hold(Bucket.BLOBS, digest.removeprefix("sha256:"))

    def has(self, digest: str, size: int | None = None) -> bool:
        """Whether the blob is kept (with ``size`` bytes, when given) and may be trusted."""
        try:
            found = self.path(digest).stat().st_size
        except OSError:
            return False
        if not self.cache.admit(Bucket.BLOBS, digest.removeprefix("sha256:")):
            return False
        return size is None or found == size

    @contextlib.contextmanager
    def writing(self) -> Iterator[Path]:
        """A scratch file in the store's filesystem, for :meth:`keep` once it is complete."""
        self.root.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=self.root, prefix=".part-")
        os.close(handle)
        scratch = Path(name)
        try:
            yield scratch
        finally:
            scratch.unlink(missing_ok=True)

    def keep(self, scratch: Path, digest: str) -> Path:
        """Move a complete scratch file into place as the blob ``digest`` (sealed first)."""
        final = self.path(digest)
        self.cache.seal(Bucket.BLOBS, digest.removeprefix("sha256:"), scratch)
        scratch.replace(final)
        return final
