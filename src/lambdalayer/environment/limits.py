"""The function's memory and processes, limited as well as this machine allows, and measured.

Lambda gives a function ``--memory`` MB; past it, the runtime is killed. Here, best first:

- a memory cgroup of its own (cgroup v2 ``memory.max``, or v1 ``memory.limit_in_bytes``),
  joined by the sandbox before it starts, so every process inside counts; the kernel ends
  the runtime past the limit as Lambda does, and the cgroup's peak is "Max Memory Used";
- else a watchdog (:class:`ResidentWatchdog`): a thread of lambdalayer's that reads the
  resident memory of the sandbox's processes every few milliseconds and kills them all
  (``SIGKILL``, as the kernel would) once their sum passes the limit (for several
  processes, the sum of their proportional set sizes: pages shared after a fork count
  once, as a cgroup charges them); the largest sum it saw is "Max Memory Used". Never an address-space limit: address space is not memory in
  use, and such a limit fails allocations (``MemoryError``) that Lambda lets through. The
  watchdog sees memory only at its samples: a process may pass the limit by what it
  allocates in one interval (:data:`WATCH_INTERVAL`) before it is killed.

Lambda also stops a function at 1,024 processes and threads (:class:`ProcessLimit`):

- a pids cgroup (v2 ``pids.max`` in the same group as the memory limit, v1 a group of the
  ``pids`` hierarchy), which needs root (or a delegated cgroup);
- else, when the sandbox has its own user namespace and the caller is not root,
  ``RLIMIT_NPROC``, set by the sandbox's first program inside that namespace: since Linux
  5.14 the kernel counts it per user namespace (the caller's other processes do not
  count), and for root it is never enforced (the kernel exempts root's processes);
- else it is not enforced, and the report says so.

The report says which it was.
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

_V2 = Path("/sys/fs/cgroup")
_V1 = Path("/sys/fs/cgroup")
MIB = 1024 * 1024
WATCH_INTERVAL = 0.01  # seconds between the watchdog's readings of resident memory
TREE_INTERVAL = 0.1  # seconds between its readings of which processes the sandbox has
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MAX_PROCESSES = 1024  # Lambda's limit on a function's processes and threads
PER_NAMESPACE_NPROC = (5, 14)  # the kernel release that counts RLIMIT_NPROC per user namespace
NPROC_VARIABLE = "LAMBDALAYER_MAX_PROCESSES"  # tells the sandbox's first program to set it


class Cgroups:
    """The cgroups one sandbox joins before it starts: cgroup v2 one group holding every
    limit, v1 one group per controller. Made on demand by the limits that need them."""

    def __init__(self) -> None:
        self.name = f"lambdalayer-{uuid.uuid4().hex[:12]}"
        self.groups: dict[str, tuple[Path, int]] = {}  # controller → (group, cgroup version)

    def make(self, controller: str, settings: dict[int, dict[str, str]]) -> tuple[Path, int] | None:
        """A group with ``controller``, its files written as ``settings[version]`` says;
        ``None`` when none can be made here."""
        v2_listed = controller in _read(_V2 / "cgroup.controllers").split()
        for version, group in ((2, _V2 / self.name), (1, _V1 / controller / self.name)):
            if (version == 2) != v2_listed:
                continue
            existed = group.is_dir()
            try:
                group.mkdir(exist_ok=version == 2)
                for name, value in settings[version].items():
                    (group / name).write_text(value)
            except OSError:
                if not existed:
                    with contextlib.suppress(OSError):
                        group.rmdir()
                continue
            self.groups[controller] = (group, version)
            return group, version
        return None

    def join(self) -> None:
        """Move this process into every group (run in the sandbox's first process, after fork)."""
        for group in {group for group, _version in self.groups.values()}:
            (group / "cgroup.procs").write_text(str(os.getpid()))

    def kill(self) -> None:
        """End every process still in the groups: a sandboxed program that dropped its
        privileges is not ended with the sandbox program's parent (the kernel clears a
        parent-death signal when a process changes user), so this is what ends it."""
        for group in {group for group, _version in self.groups.values()}:
            for _attempt in range(50):
                pids = [int(pid) for pid in _read(group / "cgroup.procs").split() if pid.isdigit()]
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.02)

    def close(self) -> None:
        """Remove the groups once their processes are gone (the last ones may still be exiting
        for a moment after the sandbox's first process ended)."""
        for group in {group for group, _version in self.groups.values()}:
            for _attempt in range(50):
                try:
                    group.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
        self.groups.clear()


class ResidentWatchdog(threading.Thread):
    """Kills a process and everything below it once their resident memory passes a limit."""

    def __init__(self, pid: int, limit_bytes: int) -> None:
        super().__init__(name=f"lambdalayer-memory-{pid}", daemon=True)
        self.pid, self.limit_bytes = pid, limit_bytes
        self.peak_bytes = 0
        self.killed = False
        self._stop_event = threading.Event()

    def run(self) -> None:
        """Read, add up, compare; kill at the limit."""
        pids: list[int] = []
        next_tree = 0.0
        while not self._stop_event.wait(WATCH_INTERVAL):
            now = time.monotonic()
            if now >= next_tree:
                pids, next_tree = descendants(self.pid), now + TREE_INTERVAL
            resident = sum(_resident_bytes(pid) for pid in pids)
            if resident > self.limit_bytes and len(pids) > 1:
                # Forked processes share pages, which each one's resident set counts again:
                # their proportional share (what a cgroup charges once) decides.
                resident = sum(_proportional_bytes(pid) for pid in pids)
            self.peak_bytes = max(self.peak_bytes, resident)
            if resident > self.limit_bytes:
                for pid in descendants(self.pid):
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
                self.killed = True
                return

    def stop(self) -> None:
        """Stop watching (the sandbox ended)."""
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=2)


class MemoryLimit:
    """One function's memory limit: how it is enforced, and its peak."""

    def __init__(self, megabytes: int, groups: Cgroups | None = None) -> None:
        self.megabytes = megabytes
        self.groups = groups if groups is not None else Cgroups()
        made = self.groups.make(
            "memory",
            {
                2: {"memory.max": str(megabytes * MIB)},
                1: {"memory.limit_in_bytes": str(megabytes * MIB)},
            },
        )
        self.group: Path | None = made[0] if made else None
        self.version = made[1] if made else 0
        self.watchdog: ResidentWatchdog | None = None
        if self.group is not None and self.version == 2:
            with contextlib.suppress(OSError):
                (self.group / "memory.swap.max").write_text("0")

    def describe(self) -> str:
        """How the limit is enforced, for the report."""
        if self.group is not None:
            return f"{self.megabytes} MB, enforced by a memory cgroup (v{self.version})"
        return (
            f"{self.megabytes} MB of resident memory, enforced by a watchdog reading it every"
            f" {WATCH_INTERVAL * 1000:.0f} ms (no memory cgroup can be made here)"
        )

    def enter(self) -> Callable[[], None]:
        """What the sandbox's first process runs before it starts (in the child, after fork):
        it joins the groups (every limit's)."""
        return self.groups.join

    def watch(self, pid: int) -> None:
        """Without a memory cgroup, start the watchdog over ``pid`` and what it starts."""
        if self.group is None and self.watchdog is None:
            self.watchdog = ResidentWatchdog(pid, self.megabytes * MIB)
            self.watchdog.start()

    def unwatch(self) -> None:
        """Stop the watchdog (the sandbox ends)."""
        if self.watchdog is not None:
            self.watchdog.stop()

    def peak_megabytes(self, pids: list[int]) -> int:
        """The most memory the function's processes have used so far."""
        if self.group is not None:
            name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
            text = _read(self.group / name).strip()
            if text.isdigit():
                return -(-int(text) // MIB)
        if self.watchdog is not None:
            return -(-self.watchdog.peak_bytes // MIB)
        return max((_resident_peak(pid) for pid in pids), default=0)

    def killed_for_memory(self) -> bool:
        """Whether the kernel (or the watchdog) ended a process for want of memory."""
        if self.watchdog is not None and self.watchdog.killed:
            return True
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
        """Stop watching; remove the cgroups (their processes are gone)."""
        self.unwatch()
        self.groups.close()


class ProcessLimit:
    """Lambda's limit on processes and threads, enforced as well as this machine allows.

    ``user_namespace``: the sandbox runs its code in a user namespace of its own (where an
    ``RLIMIT_NPROC`` set inside counts only the sandbox's processes).
    """

    def __init__(
        self, groups: Cgroups, *, user_namespace: bool, maximum: int = MAX_PROCESSES
    ) -> None:
        self.maximum, self.groups = maximum, groups
        made = groups.make("pids", {2: {"pids.max": str(maximum)}, 1: {"pids.max": str(maximum)}})
        self.group: Path | None = made[0] if made else None
        self.version = made[1] if made else 0
        self.why_not = ""
        if self.group is None:
            self.why_not = _why_no_nproc(user_namespace=user_namespace)
        self.rlimit = maximum if self.group is None and not self.why_not else None

    def variables(self) -> dict[str, str]:
        """What the sandbox's first program is told (it sets ``RLIMIT_NPROC`` inside)."""
        return {NPROC_VARIABLE: str(self.rlimit)} if self.rlimit is not None else {}

    def describe(self) -> str:
        """How the limit is enforced, for the report."""
        if self.group is not None:
            return (
                f"{self.maximum} processes and threads, enforced by a pids cgroup (v{self.version})"
            )
        if self.rlimit is not None:
            return (
                f"{self.maximum} processes and threads, enforced by RLIMIT_NPROC inside the"
                " sandbox's own user namespace"
            )
        return f"processes and threads not limited (Lambda stops at {self.maximum}): {self.why_not}"

    def reached(self) -> bool:
        """Whether a fork or thread was refused at the limit (the pids cgroup counts them)."""
        if self.group is None:
            return False
        for line in _read(self.group / "pids.events").splitlines():
            name, _, count = line.partition(" ")
            if name == "max" and count.strip() not in ("", "0"):
                return True
        return False


def _kernel_release() -> tuple[int, ...]:
    numbers = []
    for part in platform.release().split("-")[0].split(".")[:2]:
        if not part.isdigit():
            break
        numbers.append(int(part))
    return tuple(numbers)


def _why_no_nproc(*, user_namespace: bool) -> str:
    """Why RLIMIT_NPROC cannot stand in for a pids cgroup here ("" when it can)."""
    if os.geteuid() == 0:
        return "no pids cgroup can be made here, and the kernel never applies RLIMIT_NPROC to root"
    if not user_namespace:
        return (
            "no pids cgroup can be made here, and the sandbox has no user namespace of its own"
            " (RLIMIT_NPROC would count every process of this user)"
        )
    if _kernel_release() < PER_NAMESPACE_NPROC:
        return (
            f"no pids cgroup can be made here, and Linux {platform.release()} counts RLIMIT_NPROC"
            " over every process of this user (per user namespace only since 5.14)"
        )
    return ""


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


def _resident_bytes(pid: int) -> int:
    """A process's resident memory now (``/proc/PID/statm``), 0 when it is gone."""
    fields = _read(Path(f"/proc/{pid}/statm")).split()
    return int(fields[1]) * PAGE_SIZE if len(fields) > 1 and fields[1].isdigit() else 0


def _proportional_bytes(pid: int) -> int:
    """A process's proportional set size (``Pss`` of ``/proc/PID/smaps_rollup``): its
    resident pages, each shared one divided among the processes sharing it."""
    for line in _read(Path(f"/proc/{pid}/smaps_rollup")).splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return _resident_bytes(pid)


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
