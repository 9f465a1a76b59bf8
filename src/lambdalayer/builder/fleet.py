"""``lambdalayer plan``: every function of a repository resolved for its target, and the
layers they share chosen (:mod:`lambdalayer.builder.sharing`).

For each target the functions' requirements are first resolved together (one lock for
all of them), then each function is resolved alone with that lock's pins as constraints:
so functions that share a distribution agree on its version, and each function gets only
the distributions its own requirements need. When they cannot be resolved together, each
is resolved alone and the distributions whose versions then disagree are conflicts, kept
in the functions' own packages with the reason (the resolver's first line).

Sizes come from the wheels themselves (fetched into the cache, as a build would): the
unzipped bytes are the sum of a wheel's members, the zipped bytes its file's size — an
estimate of the built layer (slimming and bytecode change both), said as such. What a
plan read is kept in the cache by the wheels' sha256s: the same plan made again, or on a
fresh machine through the fleet's shared cache, reads no wheel.

>>> plan = plan_fleet(read_fleet(Path(".")), FleetSettings())  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from lambdalayer.aws.beneath import Beneath
from lambdalayer.builder.pipeline import lock_for
from lambdalayer.builder.sharing import Needs, SharePlan, Sized, share
from lambdalayer.cache import Bucket, Cache, cache_root, key_of
from lambdalayer.errors import InputError, ResolutionError
from lambdalayer.fsutil import file_sha256, read_small_file
from lambdalayer.inputs.config import load_config
from lambdalayer.inputs.fleet import Fleet, FleetFunction
from lambdalayer.inputs.requirements import Requirements
from lambdalayer.lock import Lock, LockedPackage, LockedWheel
from lambdalayer.net.fetch import DEFAULT_JOBS, WheelCache, fetch
from lambdalayer.net.index import IndexConfig, checked_once
from lambdalayer.progress import Notify, quiet
from lambdalayer.resolve.stage import Resolve
from lambdalayer.targets import Target

MAX_CODE_FILES = 100_000  # a function's code directory larger than this is not code
MAX_SIZES_BYTES = 16 << 20  # the sizes a plan read: ~100 bytes a wheel


@dataclass(frozen=True)
class FleetSettings:
    """Where packages come from and where the cache is, for every function alike."""

    index: IndexConfig = field(default_factory=IndexConfig)
    cache_dir: Path = field(default_factory=cache_root)
    allow_build: bool = True
    jobs: int = DEFAULT_JOBS
    # called with the wheels a target needs before they are fetched (a shared cache's read-through)
    prefetch: Callable[[Sequence[LockedWheel]], None] | None = field(default=None, compare=False)


def fleet_settings(
    project_dir: Path,
    index_url: str | None = None,
    extra_index_urls: tuple[str, ...] = (),
    cache_dir: Path | None = None,
    allow_build: bool = True,
) -> FleetSettings:
    """The settings of a plan: a flag given wins, else ``[tool.lambdalayer]``, else the default."""
    config = load_config(project_dir)
    index = IndexConfig.from_options(
        index_url or (config.index_url if config else None),
        extra_index_urls or (config.extra_index_urls if config else ()),
    )
    return FleetSettings(index, cache_root(cache_dir), allow_build)


@dataclass(frozen=True)
class TargetPlan:
    """One target's plan: its functions' locks, the shared layers, why they were resolved apart."""

    target: Target
    share: SharePlan
    locks: dict[str, Lock]  # each function's own lock (every distribution it needs)
    apart: str | None = None  # why the functions could not be resolved together


@dataclass(frozen=True)
class FleetPlan:
    """The plan of a repository: one :class:`TargetPlan` per target, and what was not planned."""

    fleet: Fleet
    targets: tuple[TargetPlan, ...]

    @property
    def over_quota(self) -> list[str]:
        """The functions over Lambda's unzipped quota, whatever the layers."""
        return [
            f"{plan.target.name}/{function.function}"
            for plan in self.targets
            for function in plan.share.functions
            if function.over_quota
        ]


def plan_fleet(fleet: Fleet, settings: FleetSettings, notify: Notify = quiet) -> FleetPlan:
    """The plan of every target of ``fleet`` (targets planned concurrently)."""
    targets = fleet.targets()
    with checked_once(), ThreadPoolExecutor(max_workers=max(1, min(4, len(targets)))) as pool:
        plans = list(
            pool.map(
                lambda target: plan_target(
                    target,
                    [function for function in fleet.functions if function.target == target],
                    settings,
                    notify,
                ),
                targets,
            )
        )
    return FleetPlan(fleet, tuple(plans))


def _requirements(function: FleetFunction) -> Requirements:
    if function.inputs.requirements is None:
        raise InputError(
            f"function {function.name}: a pylock.toml is built as it is and cannot be planned"
            " with other functions",
            hint="give the function a requirements.txt or pyproject.toml",
        )
    return function.inputs.requirements


def _union(functions: Sequence[FleetFunction]) -> Requirements:
    """One set of requirements standing for every function's."""
    specifiers: dict[str, None] = {}
    files: dict[Path, None] = {}
    for function in functions:
        requirements = _requirements(function)
        specifiers.update(dict.fromkeys(requirements.specifiers))
        files.update(dict.fromkeys(requirements.files))
    return Requirements(tuple(specifiers), tuple(files))


def plan_target(
    target: Target,
    functions: Sequence[FleetFunction],
    settings: FleetSettings,
    notify: Notify = quiet,
) -> TargetPlan:
    """The locks of ``functions`` (all of ``target``), resolved together where they can be."""

    def resolved(requirements: Requirements) -> Lock:
        source = Resolve(requirements, settings.index, settings.allow_build)
        return lock_for(source, target, Beneath(), settings.cache_dir, notify)

    apart: str | None = None
    agreed: tuple[Path, ...] = ()
    try:
        union = resolved(_union(functions))
        pins = [f"{package.name}=={package.version}" for package in union.packages]
        agreed = (constraints_file(settings.cache_dir, pins),)
    except ResolutionError as error:
        apart = (error.message.splitlines() or [""])[0]
    locks = {}
    for function in functions:
        requirements = _requirements(function)
        constrained = replace(requirements, files=(*requirements.files, *agreed))
        locks[function.name] = resolved(constrained)
    sizes = _sizes([package for lock in locks.values() for package in lock.packages], settings)
    needs = [
        Needs(
            function.name,
            {
                package.name: sizes[(package.name, package.version)]
                for package in locks[function.name].packages
            },
            code_bytes(function.code_dir),
            len(function.layers),
        )
        for function in functions
    ]
    return TargetPlan(target, share(needs), locks, apart)


def constraints_file(cache_dir: Path, pins: Sequence[str]) -> Path:
    """A requirements file that only constrains (``-c``) to ``pins``, kept in the cache by content.

    The resolver's constraints mean "provided by another layer" (left out of the lock);
    these only hold versions, so they go to uv as a ``-c`` file of their own. The paths
    are stable (content-addressed), so the resolution cache keeps such resolutions.
    """
    pinned = _content_entry(cache_dir, "".join(f"{pin}\n" for pin in sorted(pins)))
    return _content_entry(cache_dir, f"-c {pinned.name}\n")


def _content_entry(cache_dir: Path, text: str) -> Path:
    """A file of the pins bucket, addressed by its sha256 (written when absent or changed)."""
    data = text.encode("utf-8")
    cache = Cache.at(cache_dir)
    key = hashlib.sha256(data).hexdigest()
    path = cache.mark(Bucket.PINS, key)
    if not (path.is_file() and file_sha256(path) == key):
        path = cache.write(Bucket.PINS, key, data)
    return path


def _sizes(
    packages: Sequence[LockedPackage], settings: FleetSettings
) -> dict[tuple[str, str], Sized]:
    """Each distribution's bytes, read from its wheel (fetched into the cache once)."""
    unique = {(package.name, package.version): package for package in packages}
    wheels = [package.wheels[0] for package in unique.values()]
    key = key_of("wheel sizes", sorted(wheel.sha256.lower() for wheel in wheels))
    known = _known_sizes(key, settings.cache_dir)
    if known is not None and all(wheel.sha256.lower() in known for wheel in wheels):
        return {
            name_version: Sized(package.version, *known[package.wheels[0].sha256.lower()])
            for name_version, package in unique.items()
        }
    if settings.prefetch is not None:
        settings.prefetch(wheels)
    # Sizes are an estimate read from the central directory: a wheel already in the
    # content-addressed cache is read as it is (the build verifies each one it uses).
    cache = WheelCache(settings.cache_dir)
    missing = [wheel for wheel in wheels if not cache.path_for(wheel).is_file()]
    report = fetch(missing, cache, jobs=settings.jobs, index=settings.index)
    by_file = {wheel.filename: cache.path_for(wheel) for wheel in wheels}
    by_file.update({item.wheel.filename: item.path for item in report.wheels})
    sizes = {}
    for name_version, package in unique.items():
        path = by_file[package.wheels[0].filename]
        try:
            with zipfile.ZipFile(path) as wheel:
                unzipped = sum(info.file_size for info in wheel.infolist())
        except zipfile.BadZipFile as error:
            raise InputError(f"{path.name} is not a readable wheel: {error}") from None
        sizes[name_version] = Sized(package.version, unzipped, path.stat().st_size)
    document = {
        package.wheels[0].sha256.lower(): [sizes[name_version].unzipped, sizes[name_version].zipped]
        for name_version, package in unique.items()
    }
    Cache.at(settings.cache_dir).write(Bucket.SIZES, key, json.dumps(document).encode("utf-8"))
    return sizes


def _known_sizes(key: str, cache_dir: Path) -> dict[str, tuple[int, int]] | None:
    """The wheels' (unzipped, zipped) bytes a plan read before, by sha256; ``None``: not kept."""
    cache = Cache.at(cache_dir)
    if not cache.admit(Bucket.SIZES, key):
        return None
    try:
        stored = json.loads(read_small_file(cache.mark(Bucket.SIZES, key), MAX_SIZES_BYTES))
        return {
            str(sha): (int(unzipped), int(zipped))
            for sha, (unzipped, zipped) in stored.items()
            if isinstance(unzipped, int) and isinstance(zipped, int)
        }
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def code_bytes(code_dir: Path) -> int:
    """The bytes of a function's own code (its directory's regular files, links not followed)."""
    total, count = 0, 0
    for root, _dirs, files in os.walk(code_dir):
        for name in files:
            count += 1
            if count > MAX_CODE_FILES:
                raise InputError(
                    f"{code_dir} holds over {MAX_CODE_FILES:,} files: not a function's code",
                    hint="point the function's code directory (CodeUri, source) at its code",
                )
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
    return total
