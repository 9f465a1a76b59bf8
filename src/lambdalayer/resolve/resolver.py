"""Resolve requirements to exactly one wheel per package for a target, with uv.

uv resolves for a Python version and one of its closed list of manylinux platforms. A
runtime whose glibc floor is not on that list (Amazon Linux 2: 2.26) is resolved at the
next platform up, and then this module picks each package's wheel itself with the
target's exact tag set. When the version uv chose has no wheel that fits, the project's
index page is read once, every version without a fitting wheel is excluded by a
constraint, and uv runs again, until every package fits.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from lambdalayer.errors import LambdaLayerError, ResolutionError, SourceOnlyError, option
from lambdalayer.inputs.requirements import Requirements
from lambdalayer.lock import Lock, LockedPackage, LockedWheel, parse_pylock
from lambdalayer.net.index import IndexConfig, IndexFile, project_files
from lambdalayer.resolve.sdist import alternative_to
from lambdalayer.resolve.unfit import UnfitVersions
from lambdalayer.targets import Target, all_targets
from lambdalayer.uvtool import UvFailure, pip_compile_command, uv_environment, uv_failure

if TYPE_CHECKING:
    from lambdalayer.resolve.sdist import SourceBuilder

MAX_ROUNDS = 8


@dataclass(frozen=True)
class Backoff:
    """A package for which newer versions were skipped because none of their wheels fit."""

    package: str
    chosen: str
    excluded: tuple[str, ...]

    @property
    def newest_excluded(self) -> str:
        """The newest version that was left out."""
        return max(self.excluded, key=Version)


@dataclass(frozen=True)
class Resolution:
    """The outcome of :func:`resolve`: a one-wheel-per-package lock and what it cost."""

    lock: Lock
    backoffs: tuple[Backoff, ...] = ()
    provided: dict[str, str] = field(default_factory=dict)  # needed, but left to another layer


def best_wheel(wheels: Iterable[LockedWheel], target: Target) -> LockedWheel | None:
    """The wheel an installer on the target would pick, or ``None`` when none fits."""
    items = []
    for wheel in sorted(wheels, key=lambda item: item.filename):
        try:
            items.append((wheel, parse_wheel_filename(wheel.filename)[3]))
        except InvalidWheelFilename:
            continue
    return target.best(items)


def marker_applies(marker: str | None, target: Target) -> bool:
    """Whether a lock entry's marker holds on the target (``True`` when there is none)."""
    if not marker:
        return True
    try:
        return Marker(marker).evaluate(target.marker_environment())
    except InvalidMarker:
        return True


def _versions_by_fit(files: Sequence[IndexFile], target: Target) -> tuple[set[str], set[str]]:
    """(versions with a fitting wheel, all versions seen) on an index page."""
    fitting: set[str] = set()
    seen: set[str] = set()
    for file in files:
        if file.filename.endswith(".whl"):
            try:
                _, version, _, _ = parse_wheel_filename(file.filename)
            except InvalidWheelFilename:
                continue
            seen.add(str(version))
            if not file.yanked and target.fits(file.filename):
                fitting.add(str(version))
    return fitting, seen


def _no_wheel_error(
    package: str, version: str | None, files: Sequence[IndexFile], target: Target
) -> ResolutionError:
    """The error for a package with no wheel for the target, with the best hint we can give."""
    what = f"{package}=={version}" if version else package
    if not any(file.filename.endswith(".whl") for file in files):
        alternative = alternative_to(package)
        return SourceOnlyError(
            f"{package} is published only as source (no wheels)",
            hint=f"use {alternative}"
            if alternative
            else "look for a package of the same purpose that ships wheels, or a version that does",
            package=package,
        )
    fitting, _ = _versions_by_fit(files, target)
    floor = ".".join(map(str, target.glibc_floor))
    message = f"no wheel of {what} for {target.runtime.name} on {target.arch} (glibc {floor})"
    hints = []
    if fitting:
        newest = max(fitting, key=Version)
        message += f"; newest usable is {newest}"
        hints.append(f"pin {package}=={newest}")
    others = [
        other.runtime.name
        for other in all_targets()
        if other.arch == target.arch
        and other != target
        and any(
            (version is None or _wheel_version(file.filename) == version)
            and other.fits(file.filename)
            for file in files
        )
    ]
    if others:
        hints.append(f"build for {others[0]}, which has one")
    if not hints:
        hints.append(
            f"{package} has no wheel for Linux on {target.machine}; look for a binary variant"
            " (e.g. psycopg2-binary) or another version"
        )
    return ResolutionError(message, hint=" or ".join(hints), package=package)


def _within(files: Sequence[IndexFile], specifier: str | None) -> list[IndexFile]:
    """The files of the versions uv's range allows (``amazon-ion>=0.7.0,<=0.9.3``: what
    pyqldb needs has no wheel, though newer amazon-ion does), or all of them."""
    if specifier is None:
        return list(files)
    try:
        allowed = SpecifierSet(specifier)
    except InvalidSpecifier:
        return list(files)
    kept = []
    for file in files:
        try:
            version = (
                parse_wheel_filename(file.filename)[1]
                if file.filename.endswith(".whl")
                else parse_sdist_filename(file.filename)[1]
            )
        except (InvalidWheelFilename, InvalidSdistFilename):
            continue
        if allowed.contains(version, prereleases=True):
            kept.append(file)
    return kept


def _wheel_version(filename: str) -> str | None:
    try:
        return str(parse_wheel_filename(filename)[1])
    except InvalidWheelFilename:
        return None


FilesOf = Callable[[IndexConfig, str], list[IndexFile]]


def _unreachable_hint(host: str) -> str:
    where = host or "the index"
    return (
        f"{where} could not be reached from this machine (DNS or connection failed);"
        f" check the network or proxy, or point {option('IndexConfig.index_url')} at an index"
        " you can reach"
    )


def _no_version_hint(
    name: str, target: Target, index: IndexConfig, files_of: FilesOf
) -> str | None:
    try:
        files = files_of(index, name)
    except LambdaLayerError:
        return None
    fitting, _ = _versions_by_fit(files, target)
    if not fitting:
        return None
    newest = sorted(fitting, key=Version)[-5:]
    return f"versions of {name} with a wheel for {target.name}: {', '.join(newest)}"


def _uv_error(
    failure: UvFailure,
    target: Target,
    index: IndexConfig,
    excluded: dict[str, set[str]],
    files_of: FilesOf = project_files,
    built: frozenset[str] | set[str] = frozenset(),
) -> ResolutionError:
    """uv's failure as a :class:`ResolutionError`: the cases we can explain better, else uv's own words."""
    if failure.not_found is not None:
        return ResolutionError(
            f"package {failure.not_found} was not found on the index",
            hint="check the spelling, or give the index that has it with"
            f" {option('IndexConfig.index_url')}",
            package=failure.not_found,
        )
    if failure.no_wheels is not None:
        name, version = failure.no_wheels
        # the first package uv names that was not built here from source already (pyqldb,
        # built, then its amazon-ion)
        name, version, within = next(
            (item for item in failure.every_no_wheels if item[0] not in built),
            (name, version, None),
        )
        return _no_wheel_error(name, version, _within(files_of(index, name), within), target)
    for name in excluded if failure.no_solution else ():
        if failure.mentions(name):
            version = failure.required_version(name)
            return _no_wheel_error(name, version, files_of(index, name), target)
    first, *rest = failure.lines
    hint = _unreachable_hint(failure.unreachable) if failure.unreachable is not None else None
    if hint is None and failure.no_version is not None:
        hint = _no_version_hint(failure.no_version, target, index, files_of)
    message = "\n".join([f"cannot resolve for {target.name}: {first}", *rest])
    return ResolutionError(message, hint=hint)


@dataclass
class Learned:
    """What the resolution loop has learned so far: versions to exclude (no fitting wheel),
    and directories of pure wheels built here from source-only packages."""

    excluded: dict[str, set[str]] = field(default_factory=dict)
    find_links: list[Path] = field(default_factory=list)
    built: set[str] = field(default_factory=set)


def run_uv_compile(
    requirements: Requirements,
    target: Target,
    index: IndexConfig,
    workdir: Path,
    learned: Learned | None = None,
    cache_dir: Path | None = None,
) -> Lock:
    """One ``uv pip compile`` to pylock.toml for the target; returns uv's lock.

    ``cache_dir`` is lambdalayer's cache, where uv keeps its own (see :func:`uv_environment`).
    """
    learned = learned or Learned()
    requirements_in = workdir / "requirements.in"
    requirements_in.write_text(requirements.as_requirements_in(), "utf-8")
    output = workdir / "pylock.toml"
    command = pip_compile_command(requirements_in, target, output, extra=index.uv_args())
    for directory in learned.find_links:  # pure wheels built here from source-only packages
        command += ["--find-links", str(directory)]
    if requirements.pinned_by is not None:
        command.append("--no-deps")  # a lock's export is its whole closure, markers included
    constraint_lines = list(requirements.constraints) + [
        f"{name}{','.join(f'!={version}' for version in sorted(versions, key=Version))}"
        for name, versions in sorted(learned.excluded.items())
    ]
    if constraint_lines:
        constraints = workdir / "constraints.txt"
        constraints.write_text("\n".join(constraint_lines) + "\n", "utf-8")
        command += ["--constraint", str(constraints)]
    environment = uv_environment(cache_dir)
    completed = subprocess.run(
        command, capture_output=True, text=True, env=environment, check=False
    )
    if completed.returncode != 0:
        failure = uv_failure(completed.returncode, completed.stderr)
        raise _uv_error(failure, target, index, learned.excluded, built=learned.built)
    return parse_pylock(output.read_text("utf-8"), source="uv's pylock.toml", local_base=workdir)


def narrow_lock(
    lock: Lock, target: Target, requirements: Requirements, provided: frozenset[str] = frozenset()
) -> tuple[list[LockedPackage], list[LockedPackage]]:
    """Split a lock into (packages with their one chosen wheel, packages with no fitting wheel).

    Packages named in ``provided`` (another layer has them) are left out of both.
    """
    chosen: list[LockedPackage] = []
    unfit: list[LockedPackage] = []
    for package in lock.packages:
        if not marker_applies(package.marker, target) or package.name in provided:
            continue
        candidates = package.wheels
        pins = requirements.hash_pins.get(package.name)
        if pins is not None:
            candidates = tuple(wheel for wheel in candidates if wheel.sha256.lower() in pins)
            if not candidates:
                raise ResolutionError(
                    f"hash mismatch: no wheel of {package.name} {package.version} has a hash"
                    " pinned in the requirements",
                    hint="update the --hash pins (they must include the target's wheel), or remove them",
                    package=package.name,
                )
        wheel = best_wheel(candidates, target)
        if wheel is None:
            unfit.append(package)
        else:
            chosen.append(LockedPackage(package.name, package.version, (wheel,)))
    return chosen, unfit


def resolve(
    requirements: Requirements,
    target: Target,
    index: IndexConfig,
    *,
    builder: SourceBuilder | None = None,
    cache_dir: Path | None = None,
) -> Resolution:
    """Resolve ``requirements`` for ``target``: exactly one fitting wheel per package.

    ``requirements.constraints`` (what another layer provides) are pinned and the packages
    they name are left out of the lock; ``builder`` turns source-only packages into pure
    wheels (``None``: such a package is an error); uv's own cache goes in ``cache_dir/uv``.

    >>> wanted = Requirements(specifiers=("requests==2.31.0",))
    >>> resolve(wanted, get_target("python3.12"), IndexConfig()).lock.packages  # doctest: +SKIP
    """
    unfit = UnfitVersions(cache_dir, target, index) if cache_dir is not None else None
    learned = Learned(excluded=unfit.load() if unfit else {})
    provided_names = {
        canonicalize_name(Requirement(line).name)
        for line in requirements.constraints
        if line.strip()
    }
    found_unfit: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="lambdalayer-resolve-") as scratch:
        for _round in range(MAX_ROUNDS):
            try:
                lock = run_uv_compile(
                    requirements, target, index, Path(scratch), learned, cache_dir
                )
            except SourceOnlyError as error:
                built = _build_source_only(error, requirements, target, builder, learned.built)
                learned.find_links.append(built)
                continue
            except ResolutionError as error:
                raise _explained(error, requirements) from error
            if lock.local:
                lock = replace(
                    lock, packages=(*lock.packages, *_built_locals(lock, target, builder))
                )
            provided = {
                package.name: package.version
                for package in lock.packages
                if package.name in provided_names
            }
            chosen, unfit_packages = narrow_lock(lock, target, requirements, frozenset(provided))
            if not unfit_packages:
                if unfit is not None and found_unfit:
                    unfit.remember(learned.excluded, found_unfit)
                return _resolution(chosen, learned.excluded, provided, target)
            for package in unfit_packages:
                _exclude_unfit(package, target, index, learned.excluded, requirements)
                found_unfit.add(package.name)
    raise ResolutionError(
        f"resolution for {target.name} did not settle after {MAX_ROUNDS} rounds",
        hint="pin the packages that keep changing to versions with wheels for the target",
    )


def _build_source_only(
    error: SourceOnlyError,
    requirements: Requirements,
    target: Target,
    builder: SourceBuilder | None,
    built: set[str],
) -> Path:
    """The directory holding a pure wheel built from a source-only package, or the error."""
    if builder is None:
        raise SourceOnlyError(
            f"{error.message}; {option('Resolve.allow_build', False)} forbids building it",
            hint=error.hint,
            package=error.package,
        ) from error
    if error.package is None or error.package in built:
        raise error
    built.add(error.package)
    return builder.wheel_dir(error.package, requirements, target)


def _explained(error: ResolutionError, requirements: Requirements) -> ResolutionError:
    """uv's failure in the words of the inputs: a conflict with what is provided, a lock's pin."""
    if requirements.constraints and error.package is None:
        return ResolutionError(
            f"the requirements conflict with what is already provided: {error.message}",
            hint=f"loosen your pin, or build without {option('Beneath.on_top_of')} /"
            f" {option('Beneath.runtime_provided', True)}",
        )
    if requirements.pinned_by is None or error.package is None:
        return error
    return ResolutionError(
        f"{error.message} (pinned by {requirements.pinned_by})",
        hint="a lock's pins are kept as they are: update the lock, or choose another runtime",
        package=error.package,
    )


def _resolution(
    chosen: list[LockedPackage],
    excluded: dict[str, set[str]],
    provided: dict[str, str],
    target: Target,
) -> Resolution:
    backoffs = tuple(
        Backoff(package.name, package.version, tuple(sorted(excluded[package.name], key=Version)))
        for package in chosen
        if package.name in excluded
        and any(Version(v) > Version(package.version) for v in excluded[package.name])
    )
    final = Lock(
        packages=tuple(chosen),
        requires_python=f"=={target.runtime.python_version}.*",
        target=target.name,
    )
    return Resolution(lock=final, backoffs=backoffs, provided=provided)


def _exclude_unfit(
    package: LockedPackage,
    target: Target,
    index: IndexConfig,
    excluded: dict[str, set[str]],
    requirements: Requirements,
) -> None:
    """Exclude every version of ``package`` with no wheel for the target (one read of its page).

    When no version fits and the requirements do not name it, it is a dependency: all its
    versions are excluded, so that uv resolves again to releases of its dependents that do
    not need it (dbt-core<1.11 for python3.11 arm64, before dbt-core-experimental-parser).
    """
    files = project_files(index, package.name)
    fitting, seen = _versions_by_fit(files, target)
    if not fitting and _named_in(requirements, package.name):
        raise _no_wheel_error(package.name, None, files, target)
    bad = {version for version in seen | {package.version} if version not in fitting}
    excluded.setdefault(package.name, set()).update(_valid_versions(bad))


_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)", re.MULTILINE)


def _named_in(requirements: Requirements, name: str) -> bool:
    """Whether the requirements (their strings and files, read bounded) name ``name``."""
    texts = list(requirements.specifiers)
    for path in requirements.files:
        try:
            with path.open("rb") as stream:
                texts.append(stream.read(1 << 20).decode("utf-8", "replace"))
        except OSError:
            return True  # not readable here: taken as named (the error stays as it was)
    wanted = canonicalize_name(name)
    return any(
        canonicalize_name(match.group(1)) == wanted
        for text in texts
        for match in _REQUIREMENT_NAME.finditer(text)
    )


def _built_locals(lock: Lock, target: Target, builder: SourceBuilder | None) -> list[LockedPackage]:
    """The local projects of uv's lock, each built into a pure wheel (``None``: refused)."""
    packages = []
    for source in lock.local:
        if builder is None:
            raise ResolutionError(
                f"{source.name} is a local project ({source.path}) and must be built into a wheel;"
                f" {option('Resolve.allow_build', False)} forbids building",
                hint=f"drop {option('Resolve.allow_build', False)}, or build the wheel yourself and"
                " give its path",
                package=source.name,
            )
        wheel = builder.local_wheel(source, target)
        _, version, _, _ = parse_wheel_filename(wheel.filename)
        packages.append(LockedPackage(source.name, str(version), (wheel,)))
    return packages


def _valid_versions(versions: Iterable[str]) -> set[str]:
    valid = set()
    for version in versions:
        try:
            Version(version)
        except InvalidVersion:
            continue
        valid.add(version)
    return valid
