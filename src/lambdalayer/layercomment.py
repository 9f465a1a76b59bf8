"""The zip comment that records what a layer was built for (it adds no file to /opt).

``lambdalayer target=python3.12-arm64 layout=site-packages bytecode=unchecked-hash``: what
``check``, ``publish`` and ``report`` read when no runtime or architecture is given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.errors import InputError, TargetError
from lambdalayer.recipe import BytecodeMode
from lambdalayer.targets import Layout, Target, get_target
from lambdalayer.zipnames import open_zip

COMMENT_PREFIX = "lambdalayer"
_TARGET = re.compile(r"\btarget=(python[0-9.]+)-(x86_64|arm64)\b")
_LAYOUT = re.compile(r"\blayout=([a-z-]+)")
_BYTECODE = re.compile(r"\bbytecode=([a-z-]+)")


@dataclass(frozen=True)
class RecordedTarget:
    """What a lambdalayer-built zip says it was built for."""

    target: Target
    layout: Layout
    bytecode: BytecodeMode | None  # None: the comment does not say


def archive_comment(target: Target, layout: Layout, bytecode: BytecodeMode) -> str:
    """The zip comment that records what a layer was built for and which bytecode it holds."""
    return f"{COMMENT_PREFIX} target={target.name} layout={layout.value} bytecode={bytecode.value}"


def recorded_target(path: Path) -> RecordedTarget | None:
    """What the archive comment of the zip at ``path`` records, if lambdalayer built it."""
    try:
        with open_zip(path) as archive:
            comment = archive.comment.decode("utf-8", "replace")
    except InputError:
        return None
    match = _TARGET.search(comment)
    if not comment.startswith(COMMENT_PREFIX) or match is None:
        return None
    layout = _LAYOUT.search(comment)
    bytecode = _BYTECODE.search(comment)
    try:
        return RecordedTarget(
            get_target(match.group(1), match.group(2)),
            Layout(layout.group(1)) if layout else Layout.SITE_PACKAGES,
            BytecodeMode(bytecode.group(1)) if bytecode else None,
        )
    except (TargetError, ValueError):  # a runtime this version does not know, a made-up value
        return None
