"""What the cache holds, and removing what is old or over a size — safely while builds run.

An entry is removed only while its lock file can be taken exclusively (no command holds
it, :meth:`~lambdalayer.cache.store.Cache.hold`); it is renamed into ``.trash/`` first, so
a reader sees it whole or not at all, its lock file is unlinked while still locked, and
only then are its files deleted. Entries go least recently used first. uv's own cache is
shown but left to uv (``uv cache prune``), which has its own locking.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.cache.buckets import Bucket, Shape
from lambdalayer.cache.store import LOCKS, SEALS, TRASH, acquire, lock_path, seal_path
from lambdalayer.cache.trust import check_own_directory, check_root, real_directory
from lambdalayer.errors import InputError
from lambdalayer.fsutil import remove_tree

SCRATCH_GRACE = 24 * 3600.0  # a half-made entry (``.build-…``) older than this is abandoned


@dataclass(frozen=True)
class CacheEntry:
    """One entry: its bucket and key, where it is, its size and when it was last used."""

    bucket: Bucket
    key: str
    path: Path
    size: int
    last_used: float


@dataclass(frozen=True)
class BucketUsage:
    """How many entries a bucket has and how many bytes they take."""

    bucket: Bucket
    entries: int
    size: int


@dataclass(frozen=True)
class PrunePolicy:
    """What ``cache prune`` removes: entries unused for ``older_than`` seconds, then the
    least recently used until the cache is at most ``max_size`` bytes (``None``: no limit)."""

    older_than: float | None = None
    max_size: int | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class PruneResult:
    """What a prune removed (or, with ``dry_run``, would remove), and what it had to leave."""

    removed: tuple[CacheEntry, ...]
    in_use: tuple[CacheEntry, ...]  # chosen, but held by a running command
    size_before: int
    size_after: int
    dry_run: bool

    @property
    def freed(self) -> int:
        """Bytes removed (or that would be)."""
        return sum(entry.size for entry in self.removed)


def tree_size(path: Path) -> int:
    """Bytes of the files under ``path`` (or of ``path`` itself), links not followed."""
    try:
        top = path.lstat()
    except OSError:
        return 0
    if not stat.S_ISDIR(top.st_mode):
        return top.st_size
    total = 0
    for directory, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(directory) / name).lstat().st_size
    return total


def _keys(root: Path, bucket: Bucket) -> Iterator[tuple[str, Path]]:
    """Every entry's key and path in ``bucket`` (half-made ones, named ``.…``, left out)."""
    info = bucket.info
    directory = root / info.directory
    if not real_directory(directory):  # a link where a bucket should be is never followed
        return
    for child in sorted(directory.iterdir()):
        if child.name.startswith("."):
            continue
        if info.shape is Shape.SHARDED and real_directory(child):
            for leaf in sorted(child.iterdir()):
                if not leaf.name.startswith("."):
                    yield child.name + leaf.name, leaf
        elif info.shape is Shape.FILE and child.name.endswith(info.suffix):
            yield child.name.removesuffix(info.suffix) if info.suffix else child.name, child
        elif info.shape is Shape.DIRECTORY:
            yield child.name, child


def _last_used(root: Path, bucket: Bucket, key: str, path: Path) -> float:
    for candidate in (lock_path(root, bucket, key), path):
        with contextlib.suppress(OSError):
            return candidate.lstat().st_mtime
    return 0.0


def sound(root: Path) -> None:
    """Refuse (:class:`CacheError`) a cache that is not this user's alone (as a build does)
    or whose own directories — the locks', seals', trash's, a bucket's — are links or not
    directories: what is listed or removed must be the cache's, never what a link names."""
    check_root(root)
    places = [LOCKS, SEALS, TRASH]
    for bucket in Bucket:
        parts = Path(bucket.info.directory).parts
        places += ["/".join(parts[: index + 1]) for index in range(len(parts))]
    for name in dict.fromkeys(places):
        check_own_directory(root / name)


def entries(root: Path) -> list[CacheEntry]:
    """Every entry of every bucket lambdalayer owns (uv's is not listed entry by entry)."""
    sound(root)
    found = []
    for bucket in Bucket:
        if bucket.info.shape is Shape.TOOL:
            continue
        for key, path in _keys(root, bucket):
            found.append(
                CacheEntry(bucket, key, path, tree_size(path), _last_used(root, bucket, key, path))
            )
    return found


def usage(root: Path) -> tuple[BucketUsage, ...]:
    """Entries and bytes per bucket, in the buckets' order (uv's as one entry)."""
    by_bucket: dict[Bucket, list[int]] = {bucket: [0, 0] for bucket in Bucket}
    for entry in entries(root):
        by_bucket[entry.bucket][0] += 1
        by_bucket[entry.bucket][1] += entry.size
    uv = root / Bucket.UV.info.directory
    if uv.is_dir():
        by_bucket[Bucket.UV] = [1, tree_size(uv)]
    return tuple(BucketUsage(bucket, count, size) for bucket, (count, size) in by_bucket.items())


def _chosen(every: list[CacheEntry], policy: PrunePolicy, now: float) -> list[CacheEntry]:
    """The entries the policy removes, least recently used first."""
    ordered = sorted(every, key=lambda entry: (entry.last_used, entry.bucket.label, entry.key))
    chosen = []
    if policy.older_than is not None:
        chosen = [entry for entry in ordered if now - entry.last_used > policy.older_than]
    if policy.max_size is not None:
        remaining = sum(entry.size for entry in ordered) - sum(entry.size for entry in chosen)
        for entry in ordered:
            if remaining <= policy.max_size:
                break
            if entry not in chosen:
                chosen.append(entry)
                remaining -= entry.size
    return chosen


def _remove(root: Path, entry: CacheEntry) -> bool:
    """Remove one entry unless a command holds it; whether it was removed."""
    lock = lock_path(root, entry.bucket, entry.key)
    descriptor = acquire(lock, exclusive=True, wait=False)
    if descriptor is None:
        return False
    trash = root / TRASH
    away = trash / f"{entry.bucket.label.replace('/', '-')}-{secrets.token_hex(8)}"
    try:
        trash.mkdir(exist_ok=True)
        if not real_directory(trash):
            return False
        with contextlib.suppress(FileNotFoundError):  # gone already: nothing to remove
            entry.path.rename(away)
        seal_path(root, entry.bucket, entry.key).unlink(missing_ok=True)
        lock.unlink(missing_ok=True)
    finally:
        os.close(descriptor)
    remove_tree(away)
    return True


def _abandoned_scratch(root: Path, now: float) -> None:
    """Half-made entries and trash left by commands that were killed, after a day."""
    for bucket in Bucket:
        if bucket.info.shape is Shape.TOOL:
            continue
        directory = root / bucket.info.directory
        if not real_directory(directory):
            continue
        candidates = [child for child in directory.iterdir() if child.name.startswith(".")]
        for child in directory.iterdir():
            if not child.name.startswith(".") and real_directory(child):
                candidates += [leaf for leaf in child.iterdir() if leaf.name.startswith(".")]
        for path in candidates:
            with contextlib.suppress(OSError):
                if now - path.lstat().st_mtime > SCRATCH_GRACE:
                    remove_tree(path)
    if real_directory(root / TRASH):
        with contextlib.suppress(OSError):
            for path in (root / TRASH).iterdir():
                remove_tree(path)


def prune(root: Path, policy: PrunePolicy, now: float | None = None) -> PruneResult:
    """Remove what ``policy`` chooses, leaving every entry a running command holds.

    With ``policy.dry_run`` nothing is removed; the result says what would be.
    """
    now = time.time() if now is None else now
    every = entries(root)
    before = sum(entry.size for entry in every)
    chosen = _chosen(every, policy, now)
    if policy.dry_run:
        return PruneResult(tuple(chosen), (), before, before - sum(e.size for e in chosen), True)
    removed: list[CacheEntry] = []
    in_use: list[CacheEntry] = []
    for entry in chosen:
        (removed if _remove(root, entry) else in_use).append(entry)
    _abandoned_scratch(root, now)
    after = before - sum(entry.size for entry in removed)
    return PruneResult(tuple(removed), tuple(in_use), before, after, False)


def lock_directory(root: Path) -> Path:
    """Where the entries' lock files are (their times are the entries' last use)."""
    return root / LOCKS


_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kib": 1024,
    "kb": 1000,
    "m": 1024**2,
    "mib": 1024**2,
    "mb": 1000**2,
    "g": 1024**3,
    "gib": 1024**3,
    "gb": 1000**3,
    "t": 1024**4,
    "tib": 1024**4,
    "tb": 1000**4,
}


def parse_size(text: str, where: str = "max-size") -> int:
    """Bytes from ``500M``, ``2G``, ``1.5GiB``, ``800MB`` or ``1000000`` (K/M/G are 1024's).

    >>> parse_size("2G"), parse_size("10MB")
    (2147483648, 10000000)
    """
    cleaned = text.strip().lower().replace("_", "").replace(",", "")
    number = cleaned.rstrip("kmgtib")
    unit = cleaned[len(number) :]
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if unit not in _UNITS or math.isnan(value) or not 0 <= value < 1e18:
        raise InputError(
            f"{where} = {text!r:.40} is not a size",
            hint="give bytes, or a number with K, M or G (1024's; KB, MB, GB are 1000's): 500M, 2G",
        )
    return int(value * _UNITS[unit])


_AGE_UNITS = {"d": 86400.0, "h": 3600.0, "w": 7 * 86400.0}


def parse_days(text: str, where: str = "older") -> float:
    """Seconds from an age: days (``7``, ``0.5``), or with a unit: ``30d``, ``12h``, ``2w``.

    >>> parse_days("30d") == parse_days("30") == 30 * 86400
    True
    """
    unit = _AGE_UNITS.get(text.strip()[-1:].lower(), 0.0) if text.strip() else 0.0
    number = text.strip()[:-1] if unit else text
    try:
        days = float(number) * (unit / 86400.0 if unit else 1.0)
    except ValueError:
        days = -1.0
    if math.isnan(days) or not 0 <= days < 1e6:
        raise InputError(
            f"{where} = {text!r:.40} is not an age",
            hint="give days (30, 0.5) or an age with its unit: 30d, 12h, 2w",
        )
    return days * 86400.0
