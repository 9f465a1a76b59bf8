"""Running a program inside a root filesystem (a Lambda image) without Docker.

Three ways, the first that works is used (or the one asked for):

- ``bubblewrap`` (``bwrap``): user namespaces, no root needed; the image is mounted
  read-only as ``/``, the layer read-only at ``/opt``, no network;
- ``unshare`` + ``chroot``: for root where bubblewrap is missing (a private mount
  namespace, bind mounts, then chroot);
- ``proot``: ptrace, no namespaces at all (slower, works where both others are refused).

For an image of another CPU, ``qemu-<cpu>-static`` (Debian's qemu-user-static) runs the
image's interpreter: it is mounted into the sandbox and named as the command.
"""

from __future__ import annotations

import os
import platform
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.errors import InputError

KINDS = ("bubblewrap", "unshare", "proot")
SANDBOX_TMP = "/tmp"  # noqa: S108 - the sandbox's own fresh tmpfs, not the host's /tmp
EMULATOR_INSIDE = f"{SANDBOX_TMP}/.lambdalayer-qemu"
_PROGRAMS = {"bubblewrap": "bwrap", "unshare": "unshare", "proot": "proot"}


@dataclass(frozen=True)
class Mount:
    """A host directory or file made visible inside the sandbox."""

    host: Path
    inside: str
    writable: bool = False


@dataclass(frozen=True)
class Sandbox:
    """How programs are run inside an image: the sandbox program, and the emulator if any."""

    kind: str
    program: str
    emulator: str | None = None

    def describe(self) -> str:
        """One line for reports: ``bubblewrap``, ``bubblewrap + qemu-aarch64-static``."""
        return self.kind + (f" + {Path(self.emulator).name}" if self.emulator else "")


def _emulator(machine: str, host_machine: str) -> str | None:
    if machine == host_machine:
        return None
    for name in (f"qemu-{machine}-static", f"qemu-{machine}"):
        found = shutil.which(name)
        if found:
            return found
    raise InputError(
        f"the image is for {machine} and this machine is {host_machine}: no qemu-{machine}-static to run it",
        hint="install qemu-user-static (apt-get install qemu-user-static), or check on a machine of that CPU",
    )


def _usable(kind: str) -> str | None:
    program = shutil.which(_PROGRAMS[kind])
    if program is None:
        return None
    if kind == "unshare" and os.geteuid() != 0:
        return None  # mounting in a new namespace without user namespaces needs root
    return program


def find_sandbox(
    machine: str, preferred: str | None = None, host_machine: str | None = None
) -> Sandbox:
    """The sandbox to run an image of ``machine`` here; raises :class:`InputError` naming what is missing."""
    host = host_machine or platform.machine()
    emulator = _emulator(machine, host)
    kinds = [preferred] if preferred and preferred != "auto" else list(KINDS)
    for kind in kinds:
        if kind not in KINDS:
            raise InputError(
                f"unknown sandbox {kind!r}", hint=f"choose one of: auto, {', '.join(KINDS)}"
            )
        program = _usable(kind)
        if program is not None:
            return Sandbox(kind, program, emulator)
    wanted = " or ".join(_PROGRAMS[kind] for kind in kinds)
    raise InputError(
        f"no sandbox to run the image with: {wanted} not found (unshare needs root)",
        hint="install bubblewrap (apt-get install bubblewrap) or proot",
    )


def command(
    sandbox: Sandbox,
    root: Path,
    mounts: Sequence[Mount],
    environment: Mapping[str, str],
    argv: Sequence[str],
    workdir: str,
) -> tuple[list[str], dict[str, str]]:
    """The command line (and the environment to start it with) that runs ``argv`` inside ``root``."""
    run = [EMULATOR_INSIDE, *argv] if sandbox.emulator else list(argv)
    extra = [Mount(Path(sandbox.emulator), EMULATOR_INSIDE)] if sandbox.emulator else []
    if sandbox.kind == "bubblewrap":
        return _bubblewrap(sandbox, root, [*extra, *mounts], environment, run, workdir), {}
    if sandbox.kind == "proot":
        return _proot(sandbox, root, [*extra, *mounts], run, workdir), dict(environment)
    return _unshare(sandbox, root, [*extra, *mounts], run, workdir), dict(environment)


def _bubblewrap(
    sandbox: Sandbox, root: Path, mounts: Sequence[Mount], environment: Mapping[str, str],
    run: Sequence[str], workdir: str,
) -> list[str]:  # fmt: skip
    args = [sandbox.program, "--ro-bind", str(root), "/", "--proc", "/proc", "--dev", "/dev",
            "--tmpfs", SANDBOX_TMP, "--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]  # fmt: skip
    for mount in mounts:
        args += ["--bind" if mount.writable else "--ro-bind", str(mount.host), mount.inside]
    for name, value in environment.items():
        args += ["--setenv", name, value]
    return [*args, "--chdir", workdir, *run]


def _proot(
    sandbox: Sandbox, root: Path, mounts: Sequence[Mount], run: Sequence[str], workdir: str
) -> list[str]:
    args = [sandbox.program, "-r", str(root), "-b", "/proc", "-b", "/dev", "-w", workdir]
    for mount in mounts:
        if mount.inside == EMULATOR_INSIDE:
            continue  # proot runs the emulator itself (-q), outside the guest
        args += ["-b", f"{mount.host}:{mount.inside}"]
    if sandbox.emulator:
        args += ["-q", sandbox.emulator]
        run = run[1:]
    return [*args, *run]


def _unshare(
    sandbox: Sandbox, root: Path, mounts: Sequence[Mount], run: Sequence[str], workdir: str
) -> list[str]:
    # A private mount namespace: the bind mounts vanish with the process; the image's own
    # files are never written (mounted read-only over themselves first). Mount points
    # outside /tmp must exist in the image (/opt and /var/task do in Lambda's images).
    del workdir  # chroot starts at /; the import child does not depend on its directory
    script = ["set -e", 'root="$1"', 'mount --bind "$root" "$root"', 'mount -o remount,bind,ro "$root"',
              'mount -t tmpfs tmpfs "$root/tmp"', 'mount -t proc proc "$root/proc"']  # fmt: skip
    positional = [str(root)]
    for index, mount in enumerate(mounts, start=2):
        positional.append(str(mount.host))
        target = f'"$root{mount.inside}"'
        if mount.inside.startswith(f"{SANDBOX_TMP}/"):
            script.append(f"mkdir -p {target}" if mount.host.is_dir() else f"touch {target}")
        script.append(f'mount --bind "${{{index}}}" {target}')
        if not mount.writable:
            script.append(f"mount -o remount,bind,ro {target}")
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    mount_program = shutil.which("mount") or "/bin/mount"
    script = [
        line.replace("mount ", f"{mount_program} ", 1) if line.startswith("mount ") else line
        for line in script
    ]
    script.append(f'shift {len(positional)}; exec {chroot} "$root" "$@"')
    return [sandbox.program, "--mount", "--pid", "--net", "--fork", "--propagation", "private",
            "/bin/sh", "-c", "\n".join(script), "sh", *positional, *run]  # fmt: skip
