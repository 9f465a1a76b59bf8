"""The runtime's output (the function's logs), read by whoever waits on the runtime.

No thread of its own reads it: :class:`RuntimeOutput` is pumped by the code that waits for
the runtime, so a line is logged before Lambda's own line that follows it — what the
runtime wrote before it asked for its first event comes before ``START``; what it wrote
before it posted a result, before ``END``, as in Lambda's log stream.

A line is at most CloudWatch's largest event (256 KB; a longer one continues on the next);
the ``\\r`` that separates a log record's lines starts a line of its own (as the console
shows a record of several lines); control characters (a terminal's escape sequences) are
escaped as everywhere else (:func:`~lambdalayer.zipnames.printable`); the no-break
spaces awslambdaric indents a record's lines with are shown as the spaces they look like. The launcher's line
saying the bootstrap starts is noted (its moment), not shown.
"""

from __future__ import annotations

import contextlib
import os
import select
import time
from collections.abc import Callable
from typing import IO

from lambdalayer.zipnames import printable

STARTING = b"\x00lambdalayer: the bootstrap starts\n"  # the launcher says so (see _launcher.py)
LOG_LINE_LIMIT = 256 * 1024  # CloudWatch Logs' largest event (AWS: CloudWatch Logs quotas)
READ_SIZE = 65536
Log = Callable[[str], None]


class RuntimeOutput:
    """The runtime's stdout and stderr, as lines for ``log``."""

    def __init__(self, streams: list[IO[bytes]], log: Log) -> None:
        self.log = log
        self.started: list[float] = []  # when the launcher started the bootstrap
        self._pending: dict[int, bytes] = {}
        self._streams = {stream.fileno(): stream for stream in streams}
        for descriptor in self._streams:
            os.set_blocking(descriptor, False)
            self._pending[descriptor] = b""

    def pump(self, timeout: float) -> bool:
        """Log what the runtime wrote, waiting up to ``timeout`` seconds for something;
        whether anything was read."""
        if not self._streams:
            time.sleep(timeout)
            return False
        ready, _, _ = select.select(list(self._streams), [], [], timeout)
        for descriptor in ready:
            try:
                chunk = os.read(descriptor, READ_SIZE)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self._close(descriptor)
                continue
            self._lines(descriptor, self._pending[descriptor] + chunk)
        return bool(ready)

    def drain(self) -> None:
        """Log everything the runtime has written so far (nothing waited for)."""
        while self.pump(0.0):
            pass

    def close(self) -> None:
        """Log the rest, a last line without its newline too, and close the streams."""
        self.drain()
        for descriptor in list(self._streams):
            self._close(descriptor)

    def _close(self, descriptor: int) -> None:
        rest = self._pending.pop(descriptor, b"")
        if rest:
            self._line(rest)
        stream = self._streams.pop(descriptor)
        with contextlib.suppress(OSError):
            stream.close()

    def _lines(self, descriptor: int, data: bytes) -> None:
        """Log each complete line of ``data`` (and each over the limit); keep the rest."""
        while True:
            end = data.find(b"\n", 0, LOG_LINE_LIMIT)
            if end < 0 and len(data) < LOG_LINE_LIMIT:
                break
            cut = end + 1 if end >= 0 else LOG_LINE_LIMIT
            self._line(data[:cut])
            data = data[cut:]
        self._pending[descriptor] = data

    def _line(self, line: bytes) -> None:
        if line == STARTING:
            self.started.append(time.monotonic())
            return
        text = line.decode("utf-8", "replace").removesuffix("\n")
        for part in text.split("\r"):
            # awslambdaric indents a traceback with no-break spaces; the console shows spaces
            self.log(printable(part.replace("\u00a0", " "), keep="\t"))
