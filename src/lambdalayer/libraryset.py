"""The shared libraries each runtime OS has on each CPU (``data/runtime_libraries/``): what
Lambda's own root holds, used to judge a layer's needed libraries and to synthesize a root.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

from lambdalayer.targets import Target


@dataclass(frozen=True)
class RuntimeLibraries:
    """The shared libraries of one runtime OS on one CPU, and where that knowledge came from."""

    os: str
    machine: str
    source: str
    name: str  # the data file's stem: al2023-x86_64
    present: Mapping[str, Mapping[str, tuple[int, ...]]]  # soname → {family: highest version}
    absent: frozenset[str]
    remedies: Mapping[str, str]
    complete: bool = False  # the listing has every file of the loader's system directories


def version_tuple(text: str) -> tuple[int, ...]:
    """``"2.34"`` → ``(2, 34)``."""
    return tuple(int(part) for part in text.split("."))


@functools.cache
def _shared_data() -> dict[str, object]:
    text = resources.files("lambdalayer").joinpath("data/libraries.toml").read_text("utf-8")
    return tomllib.loads(text)


@functools.cache
def runtime_libraries(target: Target) -> RuntimeLibraries:
    """The library set of ``target``'s OS and CPU (``data/runtime_libraries/``)."""
    stem = f"{target.runtime.libraries}-{target.machine}"
    text = (
        resources.files("lambdalayer")
        .joinpath(f"data/runtime_libraries/{stem}.toml")
        .read_text("utf-8")
    )
    data = tomllib.loads(text)
    shared = _shared_data()
    absent = shared["absent"]
    remedies = shared["remedies"]
    assert isinstance(absent, dict) and isinstance(remedies, dict)  # noqa: S101 - our own data
    return RuntimeLibraries(
        os=data["os"],
        machine=data["machine"],
        source=data["source"],
        name=stem,
        present={
            soname: {family: version_tuple(value) for family, value in families.items()}
            for soname, families in data["libraries"].items()
        },
        absent=frozenset(absent["sonames"]),
        remedies=dict(remedies),
        complete=bool(data.get("complete", False)),
    )
