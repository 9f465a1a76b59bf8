"""The uv executable that the ``uv`` package installed (found once, safely from any thread).

``uv.find_uv_bin()`` reads ``sysconfig`` config vars, whose lazy first initialisation is
not thread-safe: two builds of a matrix asking at once saw ``EXE`` as ``None``. The
lookup is therefore serialised and cached.
"""

from __future__ import annotations

import functools
import threading

_LOCK = threading.Lock()


@functools.cache
def _find() -> str:
    from uv import find_uv_bin  # noqa: PLC0415 - only needed when uv actually runs

    return str(find_uv_bin())


def uv_binary() -> str:
    """The path of the uv executable."""
    with _LOCK:
        return _find()
