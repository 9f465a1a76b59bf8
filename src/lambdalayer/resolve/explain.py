"""Why a package is not at its newest version: the target's glibc, its Python, or the pins.

Read after resolution, from one index page per package (in parallel). A newer version
that exists on the index but was not chosen gets the first reason that holds: it needs a
newer Python than the runtime's; its wheels need a glibc above the runtime's floor; it
has no wheel for the runtime's CPython; or a requirement holds it back (a pin or range, the
user's or another package's, or what a base layer provides), or a dependency of that release
has no wheel for the target — when one of the user's own requirements excludes the release
the note names it, else which of these is not read here, so the note says how to see.
Explanations are best effort: an index that cannot be read leaves a package unexplained
rather than failing the build.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from lambdalayer.errors import LambdaLayerError
from lambdalayer.lock import LockedPackage
from lambdalayer.net.index import IndexConfig, IndexFile, project_files
from lambdalayer.targets import Target

MAX_PARALLEL_READS = 8


@dataclass(frozen=True)
class VersionNote:
    """A package held below the newest version on the index, and why."""

    package: str
    chosen: str
    newest: str
    reason: str


def _version_of(file: IndexFile) -> Version | None:
    try:
        if file.filename.endswith(".whl"):
            return parse_wheel_filename(file.filename)[1]
        return parse_sdist_filename(file.filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


def _admits_python(files: Sequence[IndexFile], target: Target) -> bool:
    python = Version(f"{target.runtime.python_version}.0")
    for file in files:
        try:
            if file.requires_python and python not in SpecifierSet(file.requires_python):
                return False
        except InvalidSpecifier:
            continue
    return True


def _wheel_reason(
    files: Sequence[IndexFile],
    target: Target,
    held_by_pins: bool,
    name: str,
    version: Version,
    asked: Sequence[Requirement],
) -> str:
    runtime = target.runtime
    wheels = [file.filename for file in files if file.filename.endswith(".whl")]
    if not wheels:
        return "it is published only as source"
    if not any(target.fits(name) for name in wheels):
        unlimited = replace(target, runtime=replace(runtime, glibc=(2, 99)))
        if any(unlimited.fits(name) for name in wheels):
            return f"its wheels need a glibc above {runtime.glibc[0]}.{runtime.glibc[1]} ({runtime.os})"
        return f"it has no wheel for CPython {runtime.python_version} on {target.machine}"
    # Its own wheels fit: a requirement holds it back — the user's, another package's, or
    # one of its own that has no wheel for the target (the resolution takes wheels only, so
    # uv backs off to an older release instead: hydra-core 0.11.3 for 1.3.8, whose
    # antlr4-python3-runtime is published as source only). Which of them is not read here.
    for requirement in asked:  # the user's own pin, when one of theirs excludes it
        if canonicalize_name(requirement.name) == canonicalize_name(name) and (
            not requirement.specifier.contains(version, prereleases=True)
        ):
            return f"the requirement '{requirement}' holds it back"
    base = " (or what a base layer provides)" if held_by_pins else ""
    return (
        f"a pin or range in the requirements or another package's{base}, or a dependency of"
        f" {name} {version} with no wheel for the target, holds it back: build"
        f" '{name}=={version}' to see which"
    )


def _note(
    package: LockedPackage,
    files: Sequence[IndexFile],
    target: Target,
    held_by_pins: bool,
    asked: Sequence[Requirement],
) -> VersionNote | None:
    chosen = Version(package.version)
    by_version: dict[Version, list[IndexFile]] = {}
    for file in files:
        version = _version_of(file)
        if version is None or file.yanked or (version.is_prerelease and not chosen.is_prerelease):
            continue
        by_version.setdefault(version, []).append(file)
    newest = max(by_version, default=chosen)
    if newest <= chosen:
        return None
    # The newest release this Python may install says more than the newest overall.
    for_python = max(
        (version for version, found in by_version.items() if _admits_python(found, target)),
        default=chosen,
    )
    if for_python > chosen:
        reason = _wheel_reason(
            by_version[for_python], target, held_by_pins, package.name, for_python, asked
        )
        if for_python < newest:
            reason += f"; {newest} needs a newer Python"
        return VersionNote(package.name, package.version, str(for_python), reason)
    runtime = target.runtime
    reason = f"newer releases need a newer Python than {runtime.name}'s {runtime.python_version}"
    return VersionNote(package.name, package.version, str(newest), reason)


def explain(
    packages: Sequence[LockedPackage],
    target: Target,
    index: IndexConfig,
    *,
    held_by_pins: bool = False,
    asked: Sequence[Requirement] = (),
) -> tuple[VersionNote, ...]:
    """A note for each package whose chosen version is below the newest release on the index.

    ``asked``: the requirements the user named; one that excludes the newer release is named
    as what holds it back (``requests==2.31.0``), rather than every possible cause.
    """

    def one(package: LockedPackage) -> VersionNote | None:
        try:
            files = project_files(index, package.name)
        except LambdaLayerError:
            return None
        return _note(package, files, target, held_by_pins, asked)

    with ThreadPoolExecutor(max_workers=MAX_PARALLEL_READS) as pool:
        return tuple(note for note in pool.map(one, packages) if note is not None)
