"""The function's memory size, enforced as well as this machine allows, and measured.

Lambda gives a function ``--memory`` MB; past it, the runtime is killed. Here, best first:

- a memory cgroup of its own (cgroup v2 ``memory.max``, or v1 ``memory.limit_in_bytes``),
  joined by the sandbox before it starts, so every process inside counts; the kernel ends
  the runtime past the limit as Lambda does, and the cgroup's peak is "Max Memory Used";
- else an address-space limit (``RLIMIT_AS``) on the sandbox's processes: an allocation past
  it fails (``MemoryError``) instead of the process being killed, and address space is more
  than memory in use, so the limit is set at twice the memory size; the peak is then the
  largest resident set of the runtime's processes.

The report says which it was.
"""

from __future__ import annotations

import contextlib
import os
import resource
import uuid
from collections.abc import Callable
from pathlib import Path

_V2 = Path("/sys/fs/cgroup")
_V1 = Path("/sys/fs/cgroup/memory")
MIB = 1024 * 1024


class MemoryLimit:
    """One function's memory limit: how it is enforced, and its peak."""

    def __init__(self, megabytes: int) -> None:
        self.megabytes = megabytes
        self.group: Path | None = None
        self.version = 0
        for version, parent in ((2, _V2), (1, _V1)):
            if self._make(version, parent):
                break

    def _make(self, version: int, parent: Path) -> bool:
        limit = "memory.max" if version == 2 else "memory.limit_in_bytes"
        if version == 2 and "memory" not in _read(parent / "cgroup.controllers"):
            return False
        group = parent / f"lambdalayer-{uuid.uuid4().hex[:12]}"
        try:
            group.mkdir()
        except OSError:
            return False
        try:
            (group / limit).write_text(str(self.megabytes * MIB))
            if version == 2:
                with contextlib.suppress(OSError):
                    (group / "memory.swap.max").write_text("0")
        except OSError:
            with contextlib.suppress(OSError):
                group.rmdir()
            return False
        self.group, self.version = group, version
        return True

    def describe(self) -> str:
        """How the limit is enforced, for the report."""
        if self.group is not None:
            return f"{self.megabytes} MB, enforced by a memory cgroup (v{self.version})"
        return (
            f"{self.megabytes} MB, approximated by an address-space limit of {2 * self.megabytes} MB"
            " (no memory cgroup can be made here)"
        )

    def enter(self) -> Callable[[], None]:
        """What the sandbox's first process runs before it starts (in the child, after fork)."""
        group = self.group
        address_space = 2 * self.megabytes * MIB

        def join() -> None:
            if group is not None:
                (group / "cgroup.procs").write_text(str(os.getpid()))
            else:
                resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))

        return join

    def peak_megabytes(self, pids: list[int]) -> int:
        """The most memory the function's processes have used so far."""
        if self.group is not None:
            name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
            text = _read(self.group / name).strip()
            if text.isdigit():
                return -(-int(text) // MIB)
        return max((_resident_peak(pid) for pid in pids), default=0)

    def killed_for_memory(self) -> bool:
        """Whether the kernel ended a process of the group for want of memory."""
        if self.group is None:
            return False
        events = _read(
            self.group / ("memory.events" if self.version == 2 else "memory.oom_control")
        )
        for line in events.splitlines():
            name, _, count = line.partition(" ")
            if name == "oom_kill" and count.strip() not in ("", "0"):
                return True
        return False

    def close(self) -> None:
        """Remove the cgroup (its processes are gone)."""
        if self.group is not None:
            with contextlib.suppress(OSError):
                self.group.rmdir()


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _resident_peak(pid: int) -> int:
    """``VmHWM`` of a process, in MB (0 when it is gone)."""
    for line in _read(Path(f"/proc/{pid}/status")).splitlines():
        if line.startswith("VmHWM:"):
            return -(-int(line.split()[1]) // 1024)
    return 0


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _read(entry / "stat").rsplit(")", 1)
        parts = fields[1].split() if len(fields) == 2 else []
        if len(parts) > 1 and parts[1].isdigit():
            children.setdefault(int(parts[1]), []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending += children.get(current, [])
    return found
