"""The uv executable that the ``uv`` package installed (found once, safely from any thread).

``uv.find_uv_bin()`` reads ``sysconfig`` config vars, whose lazy first initialisation is
not thread-safe: two builds of a matrix asking at once saw ``EXE`` as ``None``. The
lookup is therefore serialised and cached.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from lambdalayer.network import child_environment
from lambdalayer.targets import Target

_LOCK = threading.Lock()
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


@functools.cache
def _find() -> str:
    from uv import find_uv_bin  # noqa: PLC0415 - only needed when uv actually runs

    return str(find_uv_bin())


def uv_binary() -> str:
    """The path of the uv executable."""
    with _LOCK:
        return _find()


def uv_message(stderr: str) -> list[str]:
    """uv's error as lines: colours and warnings dropped, its line breaks kept.

    >>> uv_message("warning: x\\nerror: No solution\\n  cause: Because ...")
    ['No solution', 'cause: Because ...']
    """
    lines = []
    for raw in ANSI_ESCAPE.sub("", stderr).splitlines():
        line = raw.strip()
        if not line or line.startswith(("warning:", "hint:", "Resolved")):
            continue
        lines.append(line.removeprefix("error:").strip())
    return lines or ["uv failed without a message"]


def uv_environment(
    cache_dir: Path | None = None, environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """The environment uv runs in: never downloads an interpreter, no colours in its messages.

    With ``cache_dir`` (lambdalayer's), uv keeps its own cache in ``cache_dir/uv`` unless
    ``UV_CACHE_DIR`` says otherwise, so a build writes nowhere but its output and the cache.
    """
    environment = {
        **environ,
        **child_environment(environ),  # --proxy, REQUESTS_CA_BUNDLE, --native-tls as uv reads them
        "UV_PYTHON_DOWNLOADS": "never",
        "NO_COLOR": "1",
    }
    if cache_dir is not None and not environ.get("UV_CACHE_DIR"):
        environment["UV_CACHE_DIR"] = str(cache_dir / "uv")
    return environment


def pip_compile_command(
    requirements_in: Path,
    target: Target,
    output: Path,
    *,
    only_binary: bool = True,
    extra: Sequence[str] = (),
) -> list[str]:
    """``uv pip compile`` to a PEP 751 lock for the target's Python version and platform, quietly.

    The one place that knows how lambdalayer asks uv for a resolution (the resolver, and
    the source builder looking for an sdist, both use it).
    """
    return [
        uv_binary(),
        "pip",
        "compile",
        str(requirements_in),
        "--python-version",
        target.runtime.python_version,
        "--python-platform",
        target.uv_platform,
        *(["--only-binary", ":all:"] if only_binary else []),
        "--format",
        "pylock.toml",
        "-o",
        str(output),
        "--no-header",
        "--no-annotate",
        "--no-progress",
        "--no-python-downloads",
        "--quiet",
        *extra,
    ]
