"""The importable top-level modules of a layer or function zip, from its member names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EXTENSION = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\.(?:cpython-[^.]+\.|abi3\.)?so")

NAMESPACE_DEPTH = (
    4  # namespace directories descended through (google/cloud/…, opentelemetry/util/…)
)


def top_level_modules(names: Iterable[str], prefixes: Sequence[str]) -> list[str]:
    """Importable top-level names directly under any of ``prefixes``.

    Packages (a directory with a module directly inside), modules (``.py``, or sourceless
    ``.pyc``) and extension modules. A namespace directory with no module of its own
    (``google/`` of protobuf, ``opentelemetry/util/`` of opentelemetry-util-http) stands for
    the packages inside it, however deep (``google.protobuf``,
    ``opentelemetry.util.http``): importing ``google`` alone would check nothing.
    """
    found: set[str] = set()
    with_module: set[tuple[str, ...]] = set()  # directories with a module directly inside
    children: dict[tuple[str, ...], set[str]] = {}
    for name in names:
        prefix = next((prefix for prefix in prefixes if name.startswith(prefix)), None)
        if prefix is None:
            continue
        *directories, leaf = name[len(prefix) :].split("/")
        if not directories:
            if leaf.endswith((".py", ".pyc")) and _IDENTIFIER.fullmatch(leaf.rsplit(".", 1)[0]):
                found.add(leaf.rsplit(".", 1)[0])
            elif match := _EXTENSION.fullmatch(leaf):
                found.add(match.group(1))
            continue
        if not all(_IDENTIFIER.fullmatch(part) and part != "__pycache__" for part in directories):
            continue
        for depth in range(len(directories)):
            children.setdefault(tuple(directories[:depth]), set()).add(directories[depth])
        if leaf.endswith((".py", ".pyc", ".so")):
            with_module.add(tuple(directories))

    def packages(path: tuple[str, ...]) -> list[str]:
        if path in with_module:
            return [".".join(path)]
        if len(path) >= NAMESPACE_DEPTH:
            return []
        return [name for child in children.get(path, ()) for name in packages((*path, child))]

    for head in children.get((), ()):
        if head not in found:
            found.update(packages((head,)))
    return sorted(found)
