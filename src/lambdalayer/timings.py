"""Where a build's time goes: wall seconds per named stage, in the order they ran."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


class Stopwatch:
    """Accumulates wall time per stage name (a stage that runs twice adds up).

    >>> watch = Stopwatch()
    >>> with watch("resolve"):
    ...     pass
    >>> list(watch.seconds)
    ['resolve']
    """

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        """Wall seconds since the stopwatch was made."""
        return time.perf_counter() - self.started

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        """Time the ``with`` block as ``stage``."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - started

    def rounded(self) -> dict[str, float]:
        """The stages with their seconds rounded to milliseconds (for JSON)."""
        return {stage: round(value, 3) for stage, value in self.seconds.items()}
