"""Tracing a function: which files it opened, during init and for which event.

The handler runs under :func:`lambdalayer.invoke.invoke_events` — the sandbox, the
runtime's root, the real runtime interface client — with the sandbox started under
``strace`` on this machine (:mod:`.strace`): every file opened at the system-call level
by every process and thread of the sandbox, native code's included; libraries the loader
maps are opened first, so they are in the trace too. What happened before the runtime took
the first event is the handler module's import (``init``); what happened after it took an
event, until it took the next, is that event's.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.cache import Cache
from lambdalayer.errors import TrimError
from lambdalayer.invoke import InvokeReport, InvokeRequest, invoke_events
from lambdalayer.trace.strace import Opened, find_strace, read_strace, tracer_command

__all__ = ["INIT", "Trace", "TracedEvent", "trace"]

INIT = "init"  # the handler module's import, before the first event


@dataclass(frozen=True)
class TracedEvent:
    """One of the user's events: what it is called (its file) and its bytes."""

    label: str
    payload: bytes


@dataclass(frozen=True)
class Trace:
    """What one traced run opened, per event, and what the function answered."""

    events: tuple[str, ...]  # INIT, then each event's label
    opened: tuple[tuple[str, tuple[str, ...]], ...]  # event label → paths opened, in order
    report: InvokeReport
    skipped_lines: int
    how: str

    def first_event(self) -> dict[str, str]:
        """Path → the first event that opened it."""
        first: dict[str, str] = {}
        for label, paths in self.opened:
            for path in paths:
                first.setdefault(path, label)
        return first


def _strace_version(strace: str) -> str:
    try:
        out = subprocess.run(
            [strace, "-V"], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "strace"
    first = out.splitlines()[0] if out else "strace"
    return first.replace("strace -- version", "strace").strip()


def _split(opened: list[Opened], report: InvokeReport, labels: Sequence[str]) -> list[list[str]]:
    """Each opened path under the event the runtime was handling (init before the first)."""
    taken = [invocation.taken_at for invocation in report.invocations]
    per_event: list[list[str]] = [[] for _ in range(len(labels) + 1)]
    for item in opened:
        slot = 0
        for number, at in enumerate(taken):
            if at is not None and item.at >= at:
                slot = number + 1
        per_event[slot].append(item.path)
    return per_event


def trace(
    request: InvokeRequest, events: Sequence[TracedEvent], log: Callable[[str], None]
) -> Trace:
    """Run every event once, in order, in one traced environment (see the module)."""
    strace = find_strace()
    if strace is None:
        raise TrimError(
            "tracing needs strace, which is not installed here",
            hint="install Debian's strace (apt-get install strace)",
        )
    with Cache.open(request.cache_dir) as cache, cache.scratch("trace-") as scratch:
        output = Path(scratch) / "strace.txt"
        report = invoke_events(
            request, [event.payload for event in events], log, tracer_command(strace, output)
        )
        opened, skipped = read_strace(output)
    if not opened:
        raise TrimError(
            f"strace saw no file opened while {request.handler} ran ({report.ran_in})",
            hint="tracing cannot work under proot (it is itself a ptrace sandbox): install bubblewrap",
        )
    labels = [event.label for event in events]
    per_event = _split(opened, report, labels)
    kept = tuple(
        (label, tuple(paths)) for label, paths in zip([INIT, *labels], per_event, strict=True)
    )
    how = f"{_strace_version(strace)} on this machine, attached from outside the sandbox"
    return Trace((INIT, *labels), kept, report, skipped, how)


def strace_available() -> bool:
    """Whether this machine can trace (for tests that skip)."""
    return shutil.which("strace") is not None
