"""PEP 751 ``pylock.toml``: the reproducible record of what a layer contains.

uv writes the first version (possibly several wheels per package); :mod:`resolve` narrows
it to exactly one wheel per package for the target, and :func:`dump_pylock` writes that
as the build's lock. ``--from-lock`` reads it back with :func:`parse_pylock`.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.utils import canonicalize_name

from lambdalayer.errors import InputError


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


def _wheel_from_toml(package: str, entry: dict[str, object]) -> LockedWheel:
    url = entry.get("url")
    if not isinstance(url, str):
        raise InputError(
            f"lock entry for {package} has a wheel without a url",
            hint="lambdalayer reads locks whose wheels come from an index (url = ...)",
        )
    hashes = entry.get("hashes")
    sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
    if not isinstance(sha256, str):
        raise InputError(f"lock entry for {package} has a wheel without a sha256 hash: {url}")
    name = entry.get("name")
    filename = name if isinstance(name, str) else unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    size = entry.get("size")
    return LockedWheel(
        filename=filename, url=url, sha256=sha256, size=size if isinstance(size, int) else None
    )


def _local_source(entry: dict[str, Any], base: Path) -> LocalSource | None:
    """A ``directory`` entry, or an ``archive`` entry with a local path, relative to ``base``."""
    for key in ("directory", "archive"):
        place = entry.get(key)
        if isinstance(place, dict) and isinstance(place.get("path"), str):
            return LocalSource(
                str(canonicalize_name(entry["name"])), (base / place["path"]).resolve()
            )
    return None


def parse_pylock(text: str, *, source: str = "pylock.toml", local_base: Path | None = None) -> Lock:
    """Read a PEP 751 lock; raises :class:`InputError` naming ``source`` when it is unusable.

    With ``local_base`` (uv's own output, in the directory it was written to), local
    directories and archives are returned in ``Lock.local`` to be built; otherwise only
    wheels are accepted.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{source} is not valid TOML: {error}") from error
    packages: list[LockedPackage] = []
    local: list[LocalSource] = []
    for entry in document.get("packages", []):
        name = entry.get("name")
        version = entry.get("version")
        if local_base is not None and isinstance(name, str) and "wheels" not in entry:
            found = _local_source(entry, local_base)
            if found is not None:
                local.append(found)
                continue
        if not isinstance(name, str) or ("wheels" in entry and not isinstance(version, str)):
            raise InputError(f"{source}: a [[packages]] entry lacks a name or version")
        if "wheels" not in entry or not isinstance(version, str):
            kind = next(
                (key for key in ("sdist", "vcs", "directory", "archive") if key in entry), "?"
            )
            raise InputError(
                f"{source}: {name} {version or ''} is locked as {kind}, not as a wheel",
                hint="check out the repository and give its directory (./path) instead"
                if kind == "vcs"
                else "lambdalayer installs wheels only; re-lock with --only-binary :all:",
            )
        packages.append(
            LockedPackage(
                name=canonicalize_name(name),
                version=version,
                wheels=tuple(_wheel_from_toml(name, wheel) for wheel in entry["wheels"]),
                marker=entry.get("marker"),
            )
        )
    ours = document.get("tool", {}).get("lambdalayer", {})
    return Lock(
        packages=tuple(packages),
        requires_python=document.get("requires-python"),
        target=ours.get("target"),
        bytecode=ours.get("bytecode"),
        local=tuple(local),
    )


def read_pylock(path: Path) -> Lock:
    """Read a pylock.toml file from disk."""
    try:
        text = path.read_text("utf-8")
    except OSError as error:
        raise InputError(f"cannot read lock file {path}: {error.strerror}") from error
    return parse_pylock(text, source=str(path))


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
