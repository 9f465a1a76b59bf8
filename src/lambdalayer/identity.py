"""Which lambdalayer made something: a hash of its own code and data.

Part of every cache key (fragments, resolutions, check reports): a changed stage or
rule makes new entries instead of reusing ones another version made.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from importlib.abc import Traversable


def _files(folder: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    found = []
    for item in folder.iterdir():
        name = f"{prefix}{item.name}"
        if item.is_dir() and item.name != "__pycache__":
            found += _files(item, f"{name}/")
        elif item.name.endswith((".py", ".toml")):
            found.append((name, item))
    return found


@functools.cache
def tool_identity() -> str:
    """The sha256 of every module and data file of the installed lambdalayer."""
    digest = hashlib.sha256()
    for name, item in sorted(_files(resources.files("lambdalayer")), key=lambda pair: pair[0]):
        digest.update(name.encode() + b"\0" + item.read_bytes() + b"\0")
    return digest.hexdigest()
