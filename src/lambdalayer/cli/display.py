"""Drawing what the library says on stderr: lines, a live status line, colour.

On a terminal, progress (:class:`~lambdalayer.progress.Transfer` and
:class:`~lambdalayer.progress.Step`, typed data — nothing is recognised by its wording) is
one status line redrawn in place: the downloads with their bytes, rate and time left, or
the stage's step with a bar; every other message is printed above it. Anywhere else (a
pipe, a CI log) each download's start and each step is one plain line, so logs read the
same on every run. Colour (``error:``, ``warning:``, ``hint:`` lines) follows
``NO_COLOR`` and ``FORCE_COLOR`` (https://no-color.org, https://force-color.org), else
whether stderr is a terminal.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

from lambdalayer.check.sizes import human_bytes
from lambdalayer.progress import Step, Transfer

REDRAW_SECONDS = 0.1  # the status line is redrawn at most ten times a second
_STYLES = (("error:", "1;31"), ("warning:", "33"), ("hint:", "36"))


def colour_wanted(stream: TextIO, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether to colour ``stream``: ``NO_COLOR`` (any value) no — it wins, as no-color.org
    asks; ``FORCE_COLOR`` (not ``0``/``false``) yes; else whether it is a terminal that is
    not ``TERM=dumb``."""
    if environ.get("NO_COLOR", ""):
        return False
    if environ.get("FORCE_COLOR", "").lower() not in ("", "0", "false"):
        return True
    return stream.isatty() and environ.get("TERM", "") != "dumb"


def paint(line: str, coloured: bool) -> str:
    """``line`` coloured by its kind (``error:``, ``warning:``, ``hint:``) when ``coloured``."""
    if coloured:
        for prefix, code in _STYLES:
            if line.startswith(prefix):
                return f"\x1b[{code}m{prefix}\x1b[0m{line[len(prefix) :]}"
    return line


@dataclass
class _Downloads:
    """The downloads under way: each one's bytes so far and size (``None``: not known)."""

    started: float = 0.0
    sizes: dict[str, tuple[int, int | None]] = field(default_factory=dict)
    finished: set[str] = field(default_factory=set)

    def update(self, event: Transfer, now: float) -> None:
        if not self.sizes or self.finished >= set(self.sizes):
            self.started, self.sizes, self.finished = now, {}, set()
        self.sizes[event.name] = (event.done, event.total)
        if event.finished:
            self.finished.add(event.name)

    @property
    def active(self) -> bool:
        return bool(self.sizes) and not self.finished >= set(self.sizes)

    def describe(self, now: float) -> str:
        """``downloading: 3 of 5 done, 41.2 MiB of 96.0 MiB, 12.3 MiB/s, 4 s left``."""
        done = sum(item[0] for item in self.sizes.values())
        totals = [item[1] for item in self.sizes.values()]
        total = sum(size for size in totals if size is not None) if None not in totals else None
        elapsed = max(now - self.started, 1e-3)
        rate = done / elapsed
        text = f"downloading: {len(self.finished)} of {len(self.sizes)} done, {human_bytes(done)}"
        text += f" of {human_bytes(total)}" if total else ""
        if rate > 0 and elapsed >= 0.5:
            text += f", {human_bytes(int(rate))}/s"
            if total and total > done:
                text += f", {max(1, round((total - done) / rate))} s left"
        return text


class Display:
    """stderr as the command line draws it (one per process; every thread writes through
    it, each write whole)."""

    def __init__(self, stream: TextIO, environ: Mapping[str, str] = os.environ) -> None:
        self.stream = stream
        self.live = stream.isatty() and environ.get("TERM", "") != "dumb"
        self.coloured = colour_wanted(stream, environ)
        self._lock = threading.Lock()
        self._status = ""  # what the status line shows now ("" none)
        self._downloads = _Downloads()
        self._step: Step | None = None
        self._drawn_at = 0.0

    def line(self, text: str) -> None:
        """A line of its own (above the status line, on a terminal)."""
        with self._lock:
            self._clear()
            self.stream.write(paint(text, self.coloured) + "\n")
            self._draw(force=True)
            self.stream.flush()

    def progress(self, event: Transfer | Step) -> None:
        """Progress: the status line on a terminal; elsewhere a download's start and each
        step as a line."""
        if not self.live:
            if isinstance(event, Step) or (event.done == 0 and not event.finished):
                self.line(str(event))
            return
        with self._lock:
            now = time.monotonic()
            if isinstance(event, Transfer):
                self._downloads.update(event, now)
            else:
                self._step = None if event.done >= event.total else event
            self._draw(force=getattr(event, "finished", False) or isinstance(event, Step))
            self.stream.flush()

    def _clear(self) -> None:
        if self._status:
            self.stream.write("\r\x1b[2K")
            self._status = ""

    def _draw(self, *, force: bool) -> None:
        if not self.live:
            return
        now = time.monotonic()
        if not force and now - self._drawn_at < REDRAW_SECONDS:
            return
        self._drawn_at = now
        status = ""
        if self._downloads.active:
            status = self._downloads.describe(now)
        elif self._step is not None:
            step = self._step
            width = 20
            filled = width * step.done // max(step.total, 1)
            status = f"[{'#' * filled}{'-' * (width - filled)}] {step}"
        columns = shutil.get_terminal_size((80, 24)).columns
        status = status[: max(columns - 1, 10)]
        if status != self._status:
            self.stream.write("\r\x1b[2K" + status)
            self._status = status

    def close(self) -> None:
        """Leave the terminal with no status line."""
        with self._lock:
            if self._status:
                self._clear()
                self.stream.flush()
