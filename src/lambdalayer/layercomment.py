"""The zip comment that records what a layer was built for (it adds no file to /opt).

``lambdalayer target=python3.12-arm64 layout=site-packages bytecode=unchecked-hash``: what
``check``, ``publish`` and ``report`` read when no runtime or architecture is given.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from lambdalayer.targets import Layout, Target

COMMENT_PREFIX = "lambdalayer"


def archive_comment(target: Target, layout: Layout, bytecode: str = "none") -> str:
    """The zip comment that records what a layer was built for (it adds no file to /opt).

    ``bytecode`` says which bytecode is inside (``unchecked-hash``, ``only`` or ``none``).
    """
    return f"{COMMENT_PREFIX} target={target.name} layout={layout.value} bytecode={bytecode}"


def recorded_target(path: Path) -> tuple[str, str, str] | None:
    """(runtime, arch, layout) from a zip's archive comment, if lambdalayer built it."""
    try:
        with zipfile.ZipFile(path) as archive:
            comment = archive.comment.decode("utf-8", "replace")
    except (OSError, zipfile.BadZipFile):
        return None
    match = re.search(r"\btarget=(python[0-9.]+)-(x86_64|arm64)\b", comment)
    if not comment.startswith(COMMENT_PREFIX) or match is None:
        return None
    layout = re.search(r"\blayout=([a-z-]+)", comment)
    return match.group(1), match.group(2), layout.group(1) if layout else Layout.SITE_PACKAGES.value
