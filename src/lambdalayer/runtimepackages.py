"""The runtime's own packages in ``/var/runtime``, as data (``data/runtime_packages.toml``).

Every Python runtime ships them beside the function: its AWS SDK (boto3 and what it needs)
and AWS's runtime interface client (awslambdaric). Which versions, and where that is known
from, is data; so is the part of them that ``--exclude-runtime-provided`` leaves out of a
layer (the SDK and its dependencies: :func:`runtime_sdk`).
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from lambdalayer.targets import Target


@dataclass(frozen=True)
class RuntimePackages:
    """What a runtime has in ``/var/runtime``: distribution → version, and how that is known."""

    runtime: str
    pins: dict[str, str]
    modules: frozenset[str]  # their top-level import names
    source: str
    assumed: str | None = None  # why these versions are assumed, not listed

    def describe(self) -> str:
        """``python3.12's own boto3 1.40.4 … (listed inside each runtime by …)``."""
        versions = ", ".join(f"{name} {version}" for name, version in sorted(self.pins.items()))
        return f"{self.runtime}'s own {versions} ({self.assumed or self.source})"

    def brief(self) -> str:
        """``python3.12's own awslambdaric 3.1.1 and boto3 1.40.4 (with 8 of their dependencies)``."""
        named = [
            f"{name} {self.pins[name]}" for name in ("awslambdaric", "boto3") if name in self.pins
        ]
        rest = len(self.pins) - len(named)
        return f"{self.runtime}'s own {' and '.join(named)} (with {rest} of their dependencies)"


@dataclass(frozen=True)
class RuntimeTree:
    """The runtime's packages laid out as ``/var/runtime`` holds them."""

    path: Path
    packages: RuntimePackages

    def cache_identity(self) -> object:
        """What the tree holds (its packages), not where this cache keeps it."""
        return self.packages


@functools.cache
def _data() -> dict[str, Any]:
    return tomllib.loads(
        resources.files("lambdalayer").joinpath("data/runtime_packages.toml").read_text("utf-8")
    )


def runtime_packages(target: Target) -> RuntimePackages | None:
    """The runtime's packages, or ``None`` when the data does not know the runtime."""
    data = _data()
    entry = data.get("runtime", {}).get(target.runtime.name)
    if entry is None:
        return None
    pins = {}
    for line in entry["packages"]:
        requirement = Requirement(line)
        pins[str(canonicalize_name(requirement.name))] = str(requirement.specifier).removeprefix(
            "=="
        )
    return RuntimePackages(
        target.runtime.name,
        pins,
        frozenset(data["modules"]),
        str(data["source"]),
        entry.get("assumed"),
    )


def lang_modules(target: Target) -> dict[str, str]:
    """The import names the runtime's ``/var/lang`` site-packages provide (pip, and setuptools
    up to python3.11), each with its distribution and version: ``pkg_resources`` →
    ``setuptools 65.5.0``; empty when the data does not know the runtime."""
    data = _data()
    entry = data.get("runtime", {}).get(target.runtime.name) or {}
    found: dict[str, str] = {}
    for line in entry.get("lang", ()):
        requirement = Requirement(line)
        name = str(canonicalize_name(requirement.name))
        version = str(requirement.specifier).removeprefix("==")
        for module in data.get("lang_modules", {}).get(name, ()):
            found[str(module)] = f"{name} {version}"
    return found


@functools.cache
def _stdlib() -> dict[str, Any]:
    return tomllib.loads(
        resources.files("lambdalayer").joinpath("data/stdlib_modules.toml").read_text("utf-8")
    )


def stdlib_modules(target: Target) -> frozenset[str]:
    """The top-level module names of the runtime's CPython standard library (its
    ``sys.stdlib_module_names``, ``data/stdlib_modules.toml``); empty when not known."""
    entry = _stdlib().get(target.runtime.python_version) or {}
    return frozenset(str(name) for name in entry.get("modules", ()))


def runtime_sdk() -> tuple[str, ...]:
    """The runtime's packages a layer may leave out to use the runtime's own
    (``--exclude-runtime-provided``): its AWS SDK and what that needs, in the data's order."""
    return tuple(str(name) for name in _data()["sdk"])


@dataclass(frozen=True)
class RemovedModule:
    """A standard-library module the target's CPython no longer has, and what provides it."""

    module: str
    removed_in: str  # the first CPython without it: "3.12"
    why: str | None  # "PEP 632"
    add: str | None  # the distribution to add, verified by a real import; None: none known
    how: str | None  # how that distribution provides it, when not as a plain module

    def describe(self) -> str:
        """``distutils left the standard library in Python 3.12 (PEP 632)``."""
        why = f" ({self.why})" if self.why else ""
        return f"{self.module} left the standard library in Python {self.removed_in}{why}"


@functools.cache
def _removed() -> dict[str, Any]:
    text = resources.files("lambdalayer").joinpath("data/stdlib_removed.toml").read_text("utf-8")
    removed: dict[str, Any] = tomllib.loads(text)["removed"]
    return removed


def _minor(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def removed_from_stdlib(name: str, target: Target) -> RemovedModule | None:
    """The standard-library module ``name`` (its top-level part) when the target's CPython
    removed it: an earlier CPython of ``data/stdlib_modules.toml`` has it, the target's
    does not; with what provides it since (``data/stdlib_removed.toml``). None otherwise,
    or when the data does not know the target's CPython."""
    module = name.partition(".")[0]
    version = target.runtime.python_version
    table = _stdlib()
    if version not in table or module in stdlib_modules(target):
        return None
    had = False
    for minor in sorted(table, key=_minor):
        if _minor(minor) > _minor(version):
            break
        present = module in table[minor].get("modules", ())
        if had and not present:
            entry = _removed().get(module, {})
            return RemovedModule(
                module, minor, entry.get("why"), entry.get("add"), entry.get("how")
            )
        had = had or present
    return None
