"""What one file of an artefact is, for trimming: a module's file, a library, metadata, data.

Paths here are relative to the ``sys.path`` directory that holds the file (``python/``, its
``site-packages``, ``/var/task``): ``numpy/core/__init__.py``. A module is one *unit*
whatever files it has — ``x.py``, ``__pycache__/x.cpython-312.pyc``, ``x.pyc`` with no
source, ``x.cpython-312-x86_64-linux-gnu.so`` — and is named by :func:`unit_of`: its source
(or its only file), so the manifest says ``pkg/x.py`` whether the trace saw the source or
the bytecode opened.

>>> unit_of("pkg/__pycache__/x.cpython-312.opt-1.pyc")
'pkg/x.py'
>>> module_name("pkg/sub/__init__.py")
'pkg.sub'
"""

from __future__ import annotations

import enum
import re

__all__ = ["Kind", "in_pycache", "kind_of", "module_name", "package_inits", "unit_of"]

_PYCACHE = re.compile(r"^(?P<dir>(?:.*/)?)__pycache__/(?P<stem>[^/.]+)\.[^/]*\.pyc\Z")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


class Kind(enum.StrEnum):
    """What a file is to the trim."""

    METADATA = "metadata"  # *.dist-info/…: always kept
    PTH = "pth"  # a .pth file: always kept (it runs at start-up)
    MODULE = "module"  # a module's source, bytecode or extension
    LIBRARY = "library"  # a shared library that is not a module (numpy.libs/libopenblas…so)
    DATA = "data"  # anything else: service models, templates, certificates


def _dist_info(rel: str) -> bool:
    head = rel.split("/", 1)[0]
    return head.endswith((".dist-info", ".egg-info"))


def _is_module_path(rel: str) -> bool:
    """Whether every directory and the file's stem are identifiers (importable at all)."""
    parts = rel.split("/")
    if parts[-2:-1] == ["__pycache__"]:
        parts = [*parts[:-2], parts[-1]]
    *directories, name = parts
    stem = name.split(".", 1)[0]
    return all(_IDENTIFIER.match(part) for part in [*directories, stem])


def kind_of(rel: str, elf: bool) -> Kind:
    """What the file at ``rel`` is (``elf``: whether its bytes are ELF)."""
    if _dist_info(rel):
        return Kind.METADATA
    name = rel.rsplit("/", 1)[-1]
    if name.endswith(".pth") and "/" not in rel:
        return Kind.PTH
    if name.endswith((".py", ".pyc")) and _is_module_path(rel):
        return Kind.MODULE
    if elf and name.endswith(".so") and _is_module_path(rel):
        return Kind.MODULE
    if elf or ".so." in name or name.endswith(".so"):
        return Kind.LIBRARY
    return Kind.DATA


def in_pycache(rel: str) -> bool:
    """Whether ``rel`` is bytecode in a ``__pycache__`` directory (used only beside its source)."""
    return _PYCACHE.match(rel) is not None


def unit_of(rel: str) -> str:
    """The path that names the module ``rel`` is a file of (itself for any other file)."""
    cached = _PYCACHE.match(rel)
    if cached is not None:
        return f"{cached['dir']}{cached['stem']}.py"
    if rel.endswith(".pyc"):
        return rel[:-1]
    return rel


def module_name(unit: str) -> str:
    """The dotted name a module unit is imported as."""
    path = unit.rsplit(".so", 1)[0] if unit.endswith(".so") else unit.rsplit(".", 1)[0]
    if unit.endswith(".so"):
        directory, _, name = path.rpartition("/")
        path = f"{directory}/{name.split('.', 1)[0]}" if directory else name.split(".", 1)[0]
    parts = path.split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def package_inits(rel: str) -> list[str]:
    """The ``__init__`` units of every package on ``rel``'s path (``a/b/c.py``: ``a/__init__.py``,
    ``a/b/__init__.py``)."""
    parts = rel.split("/")[:-1]
    if parts[-1:] == ["__pycache__"]:
        parts = parts[:-1]
    return ["/".join(parts[:depth]) + "/__init__.py" for depth in range(1, len(parts) + 1)]
