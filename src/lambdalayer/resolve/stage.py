"""The resolve stage's one entry: requirements (or a lock) in, one wheel per package out.

:func:`locked` is what the build calls. It reads a given ``pylock.toml`` as it is, or
resolves the requirements for the target — from the resolution cache while the index
pages it depends on are unchanged, else with uv (:mod:`lambdalayer.resolve.resolver`,
which builds source-only packages and reads index pages from one loop) — and explains
why any package is not at its newest version (:mod:`lambdalayer.resolve.explain`).

What another layer already provides is handed in (:class:`Provided`, read by the build,
which alone talks to AWS); its pins hold the resolution and its packages are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from lambdalayer.errors import InputError, option
from lambdalayer.inputs.requirements import Requirements, asked_requirements
from lambdalayer.lock import Lock, read_pylock
from lambdalayer.net.index import IndexConfig
from lambdalayer.progress import Notify, quiet
from lambdalayer.resolve.cache import CachedResolution, ResolutionCache, resolution_key
from lambdalayer.resolve.explain import VersionNote, explain
from lambdalayer.resolve.provided import Provided
from lambdalayer.resolve.resolver import Backoff, narrow_lock, resolve
from lambdalayer.resolve.sdist import SourceBuilder
from lambdalayer.targets import Target
from lambdalayer.uvtool import uv_binary


@dataclass(frozen=True)
class Resolve:
    """Resolve requirements against indexes (building pure wheels from sdists if allowed)."""

    requirements: Requirements
    index: IndexConfig = field(default_factory=IndexConfig)
    allow_build: bool = True


@dataclass(frozen=True)
class FromLock:
    """Build exactly the wheels a ``pylock.toml`` names (``index``: credentials for its files)."""

    path: Path
    index: IndexConfig = field(default_factory=IndexConfig)


LockSource = Resolve | FromLock


@dataclass(frozen=True)
class Locked:
    """What the resolve stage produced: the lock, and why it is as it is.

    ``notes`` are known once :func:`explained` ran (or the resolution came from the cache);
    ``key`` is the resolution cache's key of a fresh resolution not stored yet.
    """

    lock: Lock
    backoffs: tuple[Backoff, ...] = ()
    provided: dict[str, str] = field(default_factory=dict)  # needed, but left to another layer
    sources: tuple[Provided, ...] = ()
    notes: tuple[VersionNote, ...] = ()
    key: str | None = None


def locked(
    source: LockSource,
    target: Target,
    provided: tuple[Provided, ...],
    cache_dir: Path,
    notify: Notify = quiet,
) -> Locked:
    """The lock for ``target``: read from a pylock, from the resolution cache, or resolved.

    A fresh resolution is explained and kept in the cache by :func:`explained`, which the
    build runs while it goes on with the wheels (it only reads index pages).
    """
    if isinstance(source, FromLock):
        return Locked(_read_lock(source.path, target))
    requirements = source.requirements
    if provided:
        pins = tuple(line for item in provided for line in item.constraints())
        requirements = replace(requirements, constraints=(*requirements.constraints, *pins))
    key = resolution_key(
        requirements,
        target,
        source.index,
        allow_build=source.allow_build,
        held_by_pins=bool(provided),
    )
    cached = ResolutionCache(cache_dir).load(key, source.index) if key else None
    if cached is not None:
        notify(f"resolved for {target.name}: unchanged since the last build (index pages checked)")
        return _something_left(
            Locked(cached.lock, cached.backoffs, cached.provided, provided, cached.notes)
        )
    notify(f"resolving for {target.name}: {target.resolution_plan}")
    builder = SourceBuilder(cache_dir, source.index, uv_binary()) if source.allow_build else None
    resolution = resolve(requirements, target, source.index, builder=builder, cache_dir=cache_dir)
    fresh = Locked(
        resolution.lock, resolution.backoffs, resolution.provided, provided, key=key or ""
    )
    return _something_left(fresh)


def explained(result: Locked, source: LockSource, target: Target, cache_dir: Path) -> Locked:
    """``result`` with a note for each package below its newest release, kept in the cache.

    Only a fresh resolution (``result.key`` set) needs it: a lock read or a cached
    resolution is returned as it is.
    """
    if result.key is None or isinstance(source, FromLock):
        return result
    notes = explain(
        result.lock.packages,
        target,
        source.index,
        held_by_pins=bool(result.sources),
        asked=asked_requirements(source.requirements),
    )
    if result.key:
        cached = CachedResolution(result.lock, result.backoffs, result.provided, notes)
        names = [package.name for package in result.lock.packages] + list(result.provided)
        ResolutionCache(cache_dir).store(result.key, cached, source.index, names)
    return replace(result, notes=notes, key=None)


def _something_left(result: Locked) -> Locked:
    """``result``, unless another layer provides everything asked for (then no layer is needed)."""
    if not result.lock.packages and result.sources:
        by = " and ".join(provided.source for provided in result.sources)
        packages = ", ".join(
            f"{name} {version}" for name, version in sorted(result.provided.items())
        )
        runtime_only = all(provided.runtime for provided in result.sources)
        raise InputError(
            f"nothing left to put in the layer: everything asked for is provided by {by}"
            f" ({packages})",
            hint="no layer is needed: the function imports the runtime's own copies; to ship"
            f" copies of your own, build without {option('Beneath.runtime_provided', True)}"
            if runtime_only
            else "attach that layer alone; no layer of your own is needed",
        )
    return result


def _read_lock(path: Path, target: Target) -> Lock:
    """A pylock's packages, each with its one wheel for ``target``; its pins kept as they are."""
    lock = read_pylock(path)
    if lock.target and lock.target != target.name:
        raise InputError(
            f"{path} was made for {lock.target}, not {target.name}",
            hint=f"pass the lock's own target, or resolve again for {target.name}",
        )
    chosen, unfit = narrow_lock(lock, target, Requirements())
    if unfit:
        names = ", ".join(f"{package.name}=={package.version}" for package in unfit)
        raise InputError(
            f"{path} pins packages with no wheel for {target.name}: {names}",
            hint="a lock is kept as is; resolve again for this target instead of building the lock",
        )
    return Lock(tuple(chosen), lock.requires_python, target.name)
