"""The child program of the ``unshare`` sandbox: builds the root, pivots into it, runs the program.

Run by this machine's Python with ``-I -S -c`` inside ``unshare --mount --pid --net ...``
(as root, in a private mount namespace: nothing it mounts is seen outside, and it all
vanishes with the process); never imported. Its one argument is the number of a descriptor
it reads a JSON object from, then closes (so no argument shows the spec, and the program
inherits no descriptor): ``new_root`` (an empty directory), ``image`` (a root to mount
read-only as ``/``, or null for an empty tmpfs root), ``mounts`` (``[host, inside,
writable]``), ``symlinks`` (``[inside, points_to]``), ``workdir``, ``argv`` and
``environment`` (the program's whole environment: this program itself is started with
none).

Unlike ``chroot``, ``pivot_root`` followed by detaching the old root leaves no path back
to this machine's files: there is nothing to climb out to. Every mount is ``nosuid`` and
``nodev``, and all but ``/tmp`` and the writable ones read-only; the program started
(the import child) drops to an unprivileged user before it runs any of the layer's code.
It runs on the Python lambdalayer itself runs on (standard library only).
"""

import ctypes
import json
import os
import platform
import sys
from pathlib import Path

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC = 32, 4096, 16384
MNT_DETACH = 2
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}  # syscall numbers (glibc has no wrapper)
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
SANDBOX_TMP = "/tmp"  # noqa: S108 - the sandbox's own fresh tmpfs

_libc = ctypes.CDLL(None, use_errno=True)


def _call(result: int, what: str) -> None:
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")


def _encoded(text: str | None) -> bytes | None:
    return text.encode() if text else None


def mount(
    source: str | None, target: Path, fstype: str | None, flags: int, data: str | None = None
) -> None:
    """mount(2), raising OSError."""
    result = _libc.mount(
        _encoded(source), bytes(target), _encoded(fstype), ctypes.c_ulong(flags), _encoded(data)
    )
    _call(result, f"mount {source} on {target}")


def bind(source: Path, target: Path, *, writable: bool, device: bool = False) -> None:
    """A bind mount, read-only unless ``writable``, never setuid (nor a device, unless one)."""
    mount(str(source), target, None, MS_BIND | MS_REC)
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | (0 if device else MS_NODEV)
    flags |= 0 if writable else MS_RDONLY
    mount(None, target, None, flags)


def _place(target: Path, *, is_dir: bool, may_create: bool) -> None:
    """Make the mount point ``target`` unless it exists (only where the root is ours to change)."""
    if target.is_symlink() or target.exists():
        return
    if not may_create:
        raise OSError(f"{target} is not in the image (a mount point must exist)")
    if is_dir:
        target.mkdir(parents=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()


def main() -> None:
    """Build the root from the spec, pivot into it and exec the program."""
    descriptor = int(sys.argv[1])
    chunks = []
    while chunk := os.read(descriptor, 1 << 16):
        chunks.append(chunk)
    os.close(descriptor)
    spec = json.loads(b"".join(chunks))
    new_root = Path(spec["new_root"])
    empty_root = spec["image"] is None
    if empty_root:
        mount("tmpfs", new_root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    else:
        bind(Path(spec["image"]), new_root, writable=False)

    def inside(path: str) -> Path:
        return new_root / path.lstrip("/")

    for place in ("/proc", SANDBOX_TMP, "/dev"):
        _place(inside(place), is_dir=True, may_create=empty_root)
    mount("proc", inside("/proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    size = f",size={spec['tmp_bytes']}" if spec.get("tmp_bytes") else ""
    mount("tmpfs", inside(SANDBOX_TMP), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777" + size)
    mount("tmpfs", inside("/dev"), "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755")
    for device in DEVICES:
        if (Path("/dev") / device).exists():
            _place(inside(f"/dev/{device}"), is_dir=False, may_create=True)
            bind(Path("/dev") / device, inside(f"/dev/{device}"), writable=True, device=True)
    for link, points_to in spec["symlinks"]:
        inside(link).symlink_to(points_to)
    for host, place, writable in spec["mounts"]:
        may_create = empty_root or place.startswith(f"{SANDBOX_TMP}/")
        _place(inside(place), is_dir=Path(host).is_dir(), may_create=may_create)
        bind(Path(host), inside(place), writable=writable)
    os.chdir(new_root)
    # pivot_root(".", "."): the old root is stacked on the new one, then detached.
    _call(_libc.syscall(PIVOT_ROOT[platform.machine()], b".", b"."), "pivot_root")
    _call(_libc.umount2(b".", MNT_DETACH), "detach the old root")
    os.chdir(spec["workdir"])
    argv = spec["argv"]
    os.execve(argv[0], argv, spec["environment"])  # noqa: S606 - the confined program, by its full path


if __name__ == "__main__":
    main()
