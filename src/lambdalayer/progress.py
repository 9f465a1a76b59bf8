"""What the library says while it works: one ``notify(message)`` callable, handed down.

The library never prints; a caller that wants the progress lines passes its own
``notify`` (the command line passes one that writes to stderr).
"""

from __future__ import annotations

from collections.abc import Callable

Notify = Callable[[str], None]


def quiet(_message: str) -> None:
    """The default ``notify``: say nothing."""
