"""What ``strace`` saw: the files a traced sandbox opened, when (prose-parsed here only).

``lambdalayer trim`` starts the sandbox under Debian's ``strace`` on this machine (ptrace
from outside: nothing is added to the sandbox, and the paths are the ones the function
sees, ``/opt/...`` and ``/var/task/...``). :data:`STRACE_OPTIONS` asks for every process
and thread (``-f``), wall-clock timestamps (``-ttt``), only calls that succeeded (``-z``),
the path each returned descriptor names (``-y``, resolved by the kernel: relative names and
symbolic links come out absolute) and the system calls that open files (native code's too:
OpenSSL reading a CA bundle, the loader mapping a library, ``dlopen``).

One line of that output, as strace 6 writes it::

    26605 1796625907.345177 openat(AT_FDCWD</var/task>, "app.py", O_RDONLY|O_CLOEXEC) = 3</var/task/app.py>

A call another thread interrupted ends on a ``<... openat resumed>`` line, which carries the
result. The file is untrusted (the function can write to it no more than to any file of
the host, but the names are its own): every line is bounded, names are unescaped as strace
escaped them, and a line not understood is skipped and counted.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

__all__ = ["STRACE_OPTIONS", "Opened", "find_strace", "read_strace", "tracer_command"]

STRACE_OPTIONS = (
    "-f",
    "-qq",
    "-ttt",
    "-y",
    "-z",
    "-s",
    "4096",
    "-e",
    "trace=open,openat,openat2,creat,execve",
    "-e",
    "signal=none",
)
MAX_LINE = 16384
MAX_LINES = 5_000_000
_LINE = re.compile(
    r"^(?P<pid>\d+)\s+(?P<time>\d+\.\d+)\s+(?:<\.\.\. )?(?P<call>open|openat|openat2|creat|execve)\b"
    r"(?P<rest>.*)\Z"
)
_RESULT_FD = re.compile(r"\)\s+=\s+\d+<(?P<path>.*)>\Z")
_EXECVE = re.compile(r'^\((?P<path>"(?:[^"\\]|\\.)*")')


@dataclass(frozen=True)
class Opened:
    """One file a traced process opened (or executed): its absolute path and when."""

    path: str
    at: float  # wall-clock seconds (``time.time()``)


def find_strace() -> str | None:
    """This machine's ``strace``, or ``None``."""
    return shutil.which("strace")


def tracer_command(strace: str, output: Path) -> tuple[str, ...]:
    """The command that starts the sandbox under ``strace``, writing to ``output``."""
    return (strace, *STRACE_OPTIONS, "-o", str(output), "--")


_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|[\\\"'nrtvfab])")
_SIMPLE = {"n": 10, "r": 13, "t": 9, "v": 11, "f": 12, "a": 7, "b": 8, "\\": 92, '"': 34, "'": 39}


def _unescape(text: str) -> str | None:
    """A name as strace escaped it (``\\n``, ``\\x41``, ``\\101``, ``\\"``), or ``None``
    (an escape strace does not write, a character it would have escaped)."""
    out = bytearray()
    position = 0
    for found in _ESCAPE.finditer(text):
        plain = text[position : found.start()]
        if "\\" in plain or any(ord(char) > 0xFF for char in plain):
            return None
        out += plain.encode("latin-1")
        code = found[1]
        if code[0] == "x":
            out.append(int(code[1:], 16))
        elif code[0] in "01234567":
            out.append(int(code, 8) & 0xFF)
        else:
            out.append(_SIMPLE[code])
        position = found.end()
    rest = text[position:]
    if "\\" in rest or any(ord(char) > 0xFF for char in rest):
        return None
    out += rest.encode("latin-1")
    return os.fsdecode(bytes(out))


def parse_line(line: str) -> Opened | None:
    """The file one line says was opened, or ``None`` (another call, a failed one, unknown)."""
    matched = _LINE.match(line)
    if matched is None:
        return None
    rest = matched["rest"]
    if matched["call"] == "execve":
        if line.startswith("<... ", len(matched["pid"]) + 1) or " = 0" not in rest:
            return None
        quoted = _EXECVE.match(rest)
        path = _unescape(quoted["path"][1:-1]) if quoted else None
    else:
        result = _RESULT_FD.search(rest)
        path = _unescape(result["path"]) if result else None
    if not path or not path.startswith("/") or "\0" in path:
        return None
    return Opened(os.path.normpath(path), float(matched["time"]))


def read_strace(path: Path) -> tuple[list[Opened], int]:
    """Every file opened, in the trace's order, and how many lines were not understood."""
    opened: list[Opened] = []
    skipped = 0
    if not path.exists():
        return opened, skipped
    with path.open("r", encoding="utf-8", errors="replace", newline="\n") as stream:
        for count, line in enumerate(iter(lambda: stream.readline(MAX_LINE), "")):
            if count >= MAX_LINES:
                break
            if not line.endswith("\n") and len(line) >= MAX_LINE:
                skipped += 1
                continue
            found = parse_line(line.rstrip("\n"))
            if found is not None:
                opened.append(found)
            elif "<unfinished" not in line and "= -1" not in line and "+++" not in line:
                skipped += 1
    return opened, skipped
