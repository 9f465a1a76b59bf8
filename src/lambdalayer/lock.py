"""PEP 751 ``pylock.toml``: the reproducible record of what a layer contains.

Read and validated with :mod:`packaging.pylock`; written here (packaging has no TOML
writer), deterministically: one wheel per package, sorted by name.

uv writes the first version (possibly several wheels per package); :mod:`resolve` narrows
it to exactly one wheel per package for the target, and :func:`dump_pylock` writes that
as the build's lock. ``--from-lock`` reads it back with :func:`parse_pylock`.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.pylock import Package, PackageWheel, Pylock, PylockValidationError
from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from lambdalayer.errors import InputError
from lambdalayer.fsutil import read_text_file

SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
MAX_LOCK_BYTES = 16 * 1024 * 1024  # a lock of a whole layer is tens of kB


@dataclass(frozen=True)
class LockedWheel:
    """One wheel file named by a lock: where it is and what its bytes hash to."""

    filename: str
    url: str
    sha256: str
    size: int | None = None


@dataclass(frozen=True)
class LockedPackage:
    """One distribution of a lock with the wheel(s) it may be installed from."""

    name: str
    version: str
    wheels: tuple[LockedWheel, ...]
    marker: str | None = None


@dataclass(frozen=True)
class LocalSource:
    """A package uv locked as a local directory or archive: it must be built into a wheel."""

    name: str
    path: Path


@dataclass(frozen=True)
class Lock:
    """A parsed pylock.toml; ``target`` is ours (``[tool.lambdalayer]``), if present.

    ``local`` holds the local projects of uv's own lock (see :func:`parse_pylock`).
    """

    packages: tuple[LockedPackage, ...]
    requires_python: str | None = None
    target: str | None = None
    bytecode: str | None = None  # ours: which bytecode the layer built from it holds
    local: tuple[LocalSource, ...] = ()


def _name_of(url: str | None, name: str | None) -> str:
    return name or unquote(urlsplit(url or "").path.rsplit("/", 1)[-1])


def _wheel(package: str, wheel: PackageWheel) -> LockedWheel:
    if not wheel.url:
        raise InputError(
            f"lock entry for {package} has a wheel without a url",
            hint="lambdalayer reads locks whose wheels come from an index (url = ...)",
        )
    sha256 = wheel.hashes.get("sha256")
    if not sha256:
        raise InputError(f"lock entry for {package} has a wheel without a sha256 hash: {wheel.url}")
    # Both become parts of a path in the cache: only a real digest and a wheel's file name.
    if not isinstance(sha256, str) or not SHA256_HEX.fullmatch(sha256):
        raise InputError(
            f"lock entry for {package} has a sha256 that is not 64 hex digits: {sha256!r}",
            hint="a lock's hashes are the wheels' sha256 digests; resolve again to write a fresh lock",
        )
    filename = _name_of(wheel.url, wheel.name)
    try:
        parse_wheel_filename(filename)
        valid = "/" not in filename and "\\" not in filename
    except InvalidWheelFilename:
        valid = False
    if not valid:
        raise InputError(
            f"lock entry for {package} names a wheel file that is not a wheel's name: {filename!r}"
        )
    return LockedWheel(filename=filename, url=wheel.url, sha256=sha256.lower(), size=wheel.size)


def _local_source(package: Package, base: Path) -> LocalSource | None:
    """A ``directory`` entry, or an ``archive`` entry with a local path, relative to ``base``."""
    place = (
        package.directory.path
        if package.directory
        else (package.archive.path if package.archive else None)
    )
    return LocalSource(str(package.name), (base / place).resolve()) if place else None


def _not_a_wheel(package: Package, source: str) -> InputError:
    kind = next(
        (key for key in ("sdist", "vcs", "directory", "archive") if getattr(package, key)), "?"
    )
    return InputError(
        f"{source}: {package.name} {package.version or ''} is locked as {kind}, not as a wheel",
        hint="check out the repository and give its directory (./path) instead"
        if kind == "vcs"
        else "lambdalayer installs wheels only; re-lock with --only-binary :all:",
    )


def parse_pylock(text: str, *, source: str = "pylock.toml", local_base: Path | None = None) -> Lock:
    """Read a PEP 751 lock (validated by :mod:`packaging.pylock`); :class:`InputError` naming ``source``.

    With ``local_base`` (uv's own output, in the directory it was written to), local
    directories and archives are returned in ``Lock.local`` to be built; otherwise only
    wheels are accepted.
    """
    try:
        pylock = Pylock.from_dict(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, RecursionError) as error:
        raise InputError(f"{source} is not valid TOML: {error}") from error
    except (PylockValidationError, TypeError, ValueError) as error:
        raise InputError(f"{source} is not a valid PEP 751 lock: {error}") from error
    packages: list[LockedPackage] = []
    local: list[LocalSource] = []
    for package in pylock.packages:
        if package.wheels and package.version is not None:
            wheels = tuple(_wheel(package.name, wheel) for wheel in package.wheels)
            marker = str(package.marker) if package.marker else None
            packages.append(LockedPackage(str(package.name), str(package.version), wheels, marker))
        elif local_base is not None and (found := _local_source(package, local_base)) is not None:
            local.append(found)
        else:
            raise _not_a_wheel(package, source)
    ours = (pylock.tool or {}).get("lambdalayer", {})
    if not isinstance(ours, dict) or not all(
        isinstance(ours.get(key, ""), str) for key in ("target", "bytecode")
    ):
        raise InputError(f"{source}: [tool.lambdalayer] must hold strings (target, bytecode)")
    return Lock(
        packages=tuple(packages),
        requires_python=str(pylock.requires_python) if pylock.requires_python else None,
        target=ours.get("target"),
        bytecode=ours.get("bytecode"),
        local=tuple(local),
    )


def read_pylock(path: Path) -> Lock:
    """Read a pylock.toml file from disk (UTF-8, at most :data:`MAX_LOCK_BYTES`)."""
    return parse_pylock(read_text_file(path, "lock file", MAX_LOCK_BYTES), source=str(path))


def _toml_string(value: str) -> str:
    # JSON string escapes are a subset of TOML basic-string escapes.
    return json.dumps(value)


def dump_pylock(lock: Lock) -> str:
    """Write a lock as PEP 751 TOML, one wheel per package, sorted by name: deterministic."""
    lines = [
        "# Written by lambdalayer: the exact wheels of one layer. Rebuild it with",
        "#   lambdalayer build --from-lock THIS_FILE",
        'lock-version = "1.0"',
        'created-by = "lambdalayer"',
    ]
    if lock.requires_python:
        lines.append(f"requires-python = {_toml_string(lock.requires_python)}")
    if not lock.packages:  # PEP 751 requires the array: a function's own part may be empty
        lines.append("packages = []")
    for package in sorted(lock.packages, key=lambda package: package.name):
        lines += ["", "[[packages]]", f"name = {_toml_string(package.name)}"]
        lines.append(f"version = {_toml_string(package.version)}")
        if package.marker:
            lines.append(f"marker = {_toml_string(package.marker)}")
        lines.append("wheels = [")
        for wheel in package.wheels:
            fields = [f"name = {_toml_string(wheel.filename)}", f"url = {_toml_string(wheel.url)}"]
            if wheel.size is not None:
                fields.append(f"size = {wheel.size}")
            fields.append(f"hashes = {{ sha256 = {_toml_string(wheel.sha256)} }}")
            lines.append(f"    {{ {', '.join(fields)} }},")
        lines.append("]")
    if lock.target or lock.bytecode:
        lines += ["", "[tool.lambdalayer]"]
        if lock.target:
            lines.append(f"target = {_toml_string(lock.target)}")
        if lock.bytecode:
            lines.append(f"bytecode = {_toml_string(lock.bytecode)}")
    return "\n".join(lines) + "\n"
