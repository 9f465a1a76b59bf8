"""Running a layer's code confined: it can write nowhere outside the sandbox's own tmpfs.

A layer is anyone's code, so it never runs on this machine as it is. Every way here gives
the same promise — no network, no view of this machine's processes, and nothing of this
machine writable: ``/`` and every mount read-only except a fresh ``/tmp`` and the results
directory; bubblewrap and unshare also run the code as an unprivileged user (uid 65534)
without capabilities:

- ``bubblewrap`` (``bwrap``): namespaces (its own user namespace where this machine allows
  one), every capability dropped; no root needed;
- ``unshare``: for root where bubblewrap is missing. A private mount, PID, network, IPC
  and UTS namespace; :mod:`lambdalayer.environment._confine_child` builds the root, moves into
  it with ``pivot_root`` and detaches this machine's root (a bare ``chroot`` can be left
  again by root), then the import child drops to uid 65534 before it imports anything;
- ``proot``: ptrace, no namespaces of its own: used only on a throw-away copy of the image
  (proot cannot make a bind read-only, so the code may write there and nowhere else that
  its paths can name), inside network and PID namespaces of its own (``unshare --net
  --pid``), and never for this machine's own root. Its code keeps the caller's user (the
  paths it reads are this machine's, through directories an unprivileged user cannot
  enter). The weakest of the three: ``auto`` takes it only when neither other works, and
  the report names it.

The root is either an image (its directory mounted read-only as ``/``) or this machine's
system directories (``/usr``, the loader's directories, the interpreter's prefix) mounted
read-only into an empty root: the last fallback, named as such in the report.

For an image of another CPU, ``qemu-<cpu>-static`` (Debian's qemu-user-static) runs the
image's interpreter: it is mounted into the sandbox and named as the command.

What the code sees of the caller, for every kind (:func:`command` and :func:`start`, the one
way any sandbox is started): its environment is exactly ``Confinement.environment`` (Lambda's
variables and the user's ``--env``), never a variable of the caller's; no descriptor but
stdin (``/dev/null``), stdout and stderr; ``/proc`` is a fresh one of the sandbox's own PID
namespace, so it lists only the sandbox's processes. Its PID 1 is the sandbox program's own
process, never lambdalayer's: bubblewrap's reaper, started with an empty environment and
reading its options from a memory file it closes (``--args``), so its command line shows no
host path or variable; for ``unshare``, the confined program itself (the set-up program
reads its spec the same way, then replaces itself with ``execve`` and the child's
environment); for proot, proot itself (it hands its environment, exactly the child's, on to
its guest, and its command line names the throw-away copy's path on this machine).
"""

from __future__ import annotations

import functools
import json
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO

from lambdalayer.environment.cpus import lambda_cpus
from lambdalayer.errors import InputError, option
from lambdalayer.interpreters import emulator

KINDS = ("bubblewrap", "unshare", "proot")
SANDBOX_TMP = "/tmp"  # noqa: S108 - the sandbox's own fresh tmpfs, not the host's /tmp
EMULATOR_INSIDE = f"{SANDBOX_TMP}/.lambdalayer-qemu"
SANDBOX_UID = 65534  # nobody: what the layer's code runs as (bubblewrap, unshare)
RUN_AS_VARIABLE = "LAMBDALAYER_RUN_AS"  # tells the import child to drop to SANDBOX_UID first
DATA_FD = "{lambdalayer-data-fd}"  # in a Launch's argv: the descriptor its set-up is read from
_PROGRAMS = {"bubblewrap": "bwrap", "unshare": "unshare", "proot": "proot"}
# This machine's directories a CPython needs to start, mounted read-only for the host root.
_HOST_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
_HOST_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "ssl", "localtime")
_PROBE_SECONDS = 20


@dataclass(frozen=True)
class Mount:
    """A host directory or file made visible inside the sandbox."""

    host: Path
    inside: str
    writable: bool = False


@dataclass(frozen=True)
class Symlink:
    """A symbolic link made inside an empty root (``/lib -> usr/lib`` on merged-/usr systems)."""

    inside: str
    points_to: str


@dataclass(frozen=True)
class Sandbox:
    """How programs are run confined: the sandbox program, and the emulator if any."""

    kind: str
    program: str
    emulator: str | None = None
    user_namespace: bool = False  # bubblewrap: the code runs as SANDBOX_UID in its own namespace
    machine: str | None = None  # the CPU the code is for: its /proc/cpuinfo is Lambda's of that CPU

    @property
    def enforces_read_only(self) -> bool:
        """Whether a read-only mount is read-only to the code (proot cannot make one)."""
        return self.kind != "proot"

    def describe(self) -> str:
        """One line for reports: ``bubblewrap``, ``bubblewrap + qemu-aarch64-static``."""
        return self.kind + (f" + {Path(self.emulator).name}" if self.emulator else "")

    @property
    def own_user_namespace(self) -> bool:
        """Whether the code runs in a user namespace of its own (bubblewrap's, or the one
        ``unshare --user`` makes for proot when the caller is not root)."""
        if self.kind == "proot":
            return os.geteuid() != 0
        return self.user_namespace


@dataclass(frozen=True)
class Confinement:
    """What runs where: the root, what is mounted into it, and the program.

    ``root`` is an image's directory (mounted read-only as ``/``) or ``None`` for an empty
    root that holds only ``mounts`` and ``symlinks``. ``scratch`` is a private directory of
    the caller's, used for the new root's mount point and proot's copy of the image.
    """

    root: Path | None
    mounts: tuple[Mount, ...]
    argv: tuple[str, ...]
    scratch: Path
    environment: Mapping[str, str] = field(default_factory=dict)
    workdir: str = "/"
    symlinks: tuple[Symlink, ...] = ()
    tmp_bytes: int | None = None  # the size of the fresh /tmp (bubblewrap and unshare)
    control: Mapping[str, str] = field(default_factory=dict)  # for the first program; it pops them


@dataclass(frozen=True)
class Launch:
    """The host command that starts a confined program, and everything it is given.

    ``environment`` is the host program's whole environment: none at all for bubblewrap and
    unshare (they set the child's from ``data``), the child's own for proot (which hands its
    environment on to its guest). ``data`` goes into a memory file whose descriptor number
    replaces :data:`DATA_FD` in ``argv``; the sandbox program reads and closes it before the
    code starts.
    """

    argv: tuple[str, ...]
    environment: Mapping[str, str]
    data: bytes = b""


def _emulator(machine: str, host_machine: str) -> str | None:
    if machine == host_machine:
        return None
    found = emulator(machine)
    if found:
        return found
    raise InputError(
        f"the image is for {machine} and this machine is {host_machine}: no qemu-{machine}-static"
        " to run it",
        hint="install qemu-user-static (apt-get install qemu-user-static), or check on a machine of that CPU",
    )


@functools.cache
def _bwrap_works(program: str, *, user_namespace: bool) -> bool:
    """Whether bubblewrap can start here (with its own user namespace, when asked)."""
    userns = ["--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    probe = [
        program,
        "--ro-bind",
        "/",
        "/",
        "--unshare-all",
        "--cap-drop",
        "ALL",
        *(userns if user_namespace else []),
        "true",
    ]
    try:
        completed = subprocess.run(probe, capture_output=True, timeout=_PROBE_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return completed.returncode == 0


@functools.cache
def _unshare_works(program: str, *, user_namespace: bool) -> bool:
    """Whether ``unshare`` can make a network namespace here (as root, or in a user namespace)."""
    flags = ["--user", "--map-root-user"] if user_namespace else []
    try:
        completed = subprocess.run(
            [program, *flags, "--net", "true"],
            capture_output=True,
            timeout=_PROBE_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return completed.returncode == 0


def _usable(kind: str, *, host_root: bool) -> tuple[Sandbox | None, str]:  # noqa: PLR0911 - one reason each
    """The sandbox of ``kind`` when it can keep its promise here, else why not."""
    program = shutil.which(_PROGRAMS[kind])
    if program is None:
        return None, f"{_PROGRAMS[kind]} is not installed"
    if kind == "bubblewrap":
        if _bwrap_works(program, user_namespace=True):
            return Sandbox(kind, program, user_namespace=True), ""
        if _bwrap_works(program, user_namespace=False):
            return Sandbox(kind, program), ""
        return None, "bwrap cannot create its namespaces here"
    if kind == "unshare":
        if os.geteuid() != 0:
            return None, "unshare needs root (mounts in a new namespace)"
        if not _unshare_works(program, user_namespace=False):
            return None, "unshare cannot create namespaces here"
        return Sandbox(kind, program), ""
    if host_root:
        return None, "proot cannot make this machine's own directories read-only to the code"
    unshare = shutil.which("unshare")
    if unshare is None or not (_unshare_works(unshare, user_namespace=os.geteuid() != 0)):
        return (
            None,
            "proot runs only without network, and unshare cannot make a network namespace here",
        )
    return Sandbox(kind, program), ""


def find_sandbox(
    machine: str,
    preferred: str | None = None,
    host_machine: str | None = None,
    *,
    host_root: bool = False,
) -> Sandbox:
    """The sandbox to run code for ``machine`` here; raises :class:`InputError` naming what is missing.

    ``host_root``: the root will be this machine's directories (no image), which only
    bubblewrap and unshare can make read-only.
    """
    host = host_machine or platform.machine()
    kinds = [preferred] if preferred and preferred != "auto" else list(KINDS)
    reasons = []
    for kind in kinds:
        if kind not in KINDS:
            raise InputError(
                f"unknown sandbox {kind!r}", hint=f"choose one of: auto, {', '.join(KINDS)}"
            )
        found, why_not = _usable(kind, host_root=host_root)
        if found is not None:
            emulator = _emulator(machine, host)
            return Sandbox(found.kind, found.program, emulator, found.user_namespace, machine)
        reasons.append(why_not)
    raise InputError(
        f"no sandbox can confine the layer's code here: {'; '.join(reasons)}",
        hint=_sandbox_hint(kinds, host_root=host_root),
    )


def _sandbox_hint(tried: Sequence[str], *, host_root: bool) -> str:
    """What gets a sandbox: another one that works here, else installing bubblewrap."""
    others = [kind for kind in KINDS if kind not in tried]
    usable = [kind for kind in others if _usable(kind, host_root=host_root)[0] is not None]
    if usable:
        return f"use {option('ImportOptions.sandbox', usable[0])}, which works here"
    if shutil.which(_PROGRAMS["bubblewrap"]) is not None:
        return (
            "bubblewrap is installed but cannot create its namespaces here: allow unprivileged"
            " user namespaces (sysctl kernel.unprivileged_userns_clone=1, or"
            " kernel.apparmor_restrict_unprivileged_userns=0), or run as root;"
            " a layer's code never runs unconfined"
        )
    return "install bubblewrap (apt-get install bubblewrap); a layer's code never runs unconfined"


def host_system(extra: Sequence[Path] = ()) -> tuple[tuple[Mount, ...], tuple[Symlink, ...]]:
    """This machine's system directories (and ``extra``, e.g. an interpreter's files), read-only.

    Only what a CPython needs to start is there: ``/usr``, the loader's directories and
    the loader's files of ``/etc``; no home directory, no ``/tmp``, no ``/var``. Each of
    ``extra`` (a file or a directory) is mounted at its own path unless it already lies in
    a mounted directory.
    """
    mounts: list[Mount] = []
    symlinks: list[Symlink] = []
    for place in _HOST_SYSTEM:
        path = Path(place)
        if path.is_symlink():
            symlinks.append(Symlink(place, str(path.readlink())))
        elif path.is_dir():
            mounts.append(Mount(path, place))
    for name in _HOST_ETC:
        path = Path("/etc") / name
        if path.exists():
            mounts.append(Mount(path, str(path)))
    bound = [mount.host for mount in mounts]
    for own in extra:
        if own.exists() and not any(own.is_relative_to(directory) for directory in bound):
            mounts.append(Mount(own, str(own)))
            if own.is_dir():
                bound.append(own)
    return tuple(mounts), tuple(symlinks)


def command(sandbox: Sandbox, confinement: Confinement) -> Launch:
    """How to start the confined program (see :func:`start`).

    For proot this copies the image into ``confinement.scratch`` first (the throw-away
    copy its code may write to).
    """
    run = [EMULATOR_INSIDE, *confinement.argv] if sandbox.emulator else list(confinement.argv)
    extra = [Mount(Path(sandbox.emulator), EMULATOR_INSIDE)] if sandbox.emulator else []
    mounts = [*extra, *confinement.mounts, *_lambda_views(sandbox, confinement.scratch)]
    environment = {**confinement.environment, **confinement.control}
    if sandbox.kind == "bubblewrap":
        options = _bubblewrap(sandbox, confinement, mounts, environment)
        data = b"".join(os.fsencode(option) + b"\0" for option in options)
        return Launch((sandbox.program, "--args", DATA_FD, "--", *run), {}, data)
    if sandbox.kind == "proot":
        return Launch(tuple(_proot(sandbox, confinement, mounts, run)), environment)
    environment[RUN_AS_VARIABLE] = str(SANDBOX_UID)
    argv, spec = _unshare(sandbox, confinement, mounts, run)
    spec["environment"] = environment
    return Launch(tuple(argv), {}, json.dumps(spec).encode())


def _lambda_views(sandbox: Sandbox, scratch: Path) -> list[Mount]:
    """Lambda's view of its CPUs over the sandbox's ``/proc`` (:mod:`lambdalayer.environment.cpus`),
    written into ``scratch``; none when the sandbox was not made for a CPU."""
    if sandbox.machine is None:
        return []
    views = scratch / "lambda-views"
    views.mkdir(parents=True, exist_ok=True)
    views.chmod(0o755)
    cpuinfo = views / "cpuinfo"
    cpuinfo.write_text(lambda_cpus(sandbox.machine).cpuinfo, "utf-8")
    cpuinfo.chmod(0o444)
    return [Mount(cpuinfo, "/proc/cpuinfo")]


def start(
    launch: Launch,
    *,
    stdout: int | IO[bytes] | None,
    stderr: int | IO[bytes] | None,
    before: Callable[[], None] | None = None,
) -> subprocess.Popen[bytes]:
    """Start a confined program: ``launch``'s environment and nothing else of this process's,
    stdin from ``/dev/null``, no other descriptor but the set-up's. ``before`` runs in the
    child before the sandbox program starts (joining the limits' cgroups)."""
    argv = list(launch.argv)
    descriptor = None
    if DATA_FD in argv:
        descriptor = os.memfd_create("lambdalayer-sandbox")
        with os.fdopen(os.dup(descriptor), "wb") as stream:
            stream.write(launch.data)
        os.lseek(descriptor, 0, os.SEEK_SET)
        argv = [str(descriptor) if part == DATA_FD else part for part in argv]
    try:
        return subprocess.Popen(
            argv,
            env=dict(launch.environment),  # a dict, empty or not: never None, which inherits
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            close_fds=True,
            pass_fds=() if descriptor is None else (descriptor,),
            preexec_fn=before,  # noqa: PLW1509 - joins the cgroups before anything runs
        )
    finally:
        if descriptor is not None:
            os.close(descriptor)


def _bubblewrap(
    sandbox: Sandbox,
    confinement: Confinement,
    mounts: Sequence[Mount],
    environment: Mapping[str, str],
) -> list[str]:
    """bubblewrap's options (read from a descriptor with ``--args``; the command follows)."""
    args: list[str] = []
    if confinement.root is not None:
        args += ["--ro-bind", str(confinement.root), "/"]
    size = ["--size", str(confinement.tmp_bytes)] if confinement.tmp_bytes else []
    args += ["--proc", "/proc", "--dev", "/dev", *size, "--tmpfs", SANDBOX_TMP]
    for link in confinement.symlinks:
        args += ["--symlink", link.points_to, link.inside]
    for mount in mounts:
        args += ["--bind" if mount.writable else "--ro-bind", str(mount.host), mount.inside]
    if confinement.root is None:
        args += [
            "--remount-ro",
            "/",
        ]  # the empty root bubblewrap made: nothing to write there either
    args += ["--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
    args += ["--cap-drop", "ALL"]
    if sandbox.user_namespace:
        args += ["--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
    for name, value in environment.items():
        args += ["--setenv", name, value]
    return [*args, "--chdir", confinement.workdir]


def _proot(
    sandbox: Sandbox, confinement: Confinement, mounts: Sequence[Mount], run: Sequence[str]
) -> list[str]:
    if confinement.root is None:
        raise InputError("proot cannot make this machine's own directories read-only to the code")
    copy = confinement.scratch / "proot-root"
    if not copy.exists():
        shutil.copytree(confinement.root, copy, symlinks=True)
    args = [
        sandbox.program,
        "-r",
        str(copy),
        "-b",
        "/dev",
        "-b",
        "/proc",
        "-w",
        confinement.workdir,
    ]
    for mount in mounts:
        if mount.inside == EMULATOR_INSIDE:
            continue  # proot runs the emulator itself (-q), outside the guest
        args += ["-b", f"{mount.host}:{mount.inside}"]
    if sandbox.emulator:
        args += ["-q", sandbox.emulator]
        run = run[1:]
    unshare = shutil.which("unshare") or "unshare"
    userns = ["--user", "--map-root-user"] if os.geteuid() != 0 else []
    # Its own network (none) and PID namespace, so the code reaches no socket and no
    # process of this machine; /proc is that namespace's.
    isolate = [
        unshare,
        *userns,
        "--net",
        "--pid",
        "--fork",
        "--kill-child",
        "--mount-proc",
        "--ipc",
        "--uts",
    ]
    return [*isolate, *args, *run]


def _confine_source() -> str:
    """The mount-and-pivot program (:mod:`lambdalayer.environment._confine_child`), passed with ``-c``."""
    return (
        resources.files("lambdalayer.environment").joinpath("_confine_child.py").read_text("utf-8")
    )


def _unshare(
    sandbox: Sandbox, confinement: Confinement, mounts: Sequence[Mount], run: Sequence[str]
) -> tuple[list[str], dict[str, object]]:
    """The command line, and the spec its set-up program reads from :data:`DATA_FD`."""
    new_root = confinement.scratch / "unshare-root"
    new_root.mkdir(parents=True, exist_ok=True)
    spec: dict[str, object] = {
        "new_root": str(new_root),
        "image": str(confinement.root) if confinement.root is not None else None,
        "mounts": [[str(mount.host), mount.inside, mount.writable] for mount in mounts],
        "symlinks": [[link.inside, link.points_to] for link in confinement.symlinks],
        "workdir": confinement.workdir,
        "argv": list(run),
        "tmp_bytes": confinement.tmp_bytes,
    }
    namespaces = [
        "--mount",
        "--pid",
        "--net",
        "--ipc",
        "--uts",
        "--fork",
        "--kill-child",
        "--propagation",
        "private",
    ]
    argv = [sandbox.program, *namespaces, sys.executable, "-I", "-S", "-c", _confine_source()]
    return [*argv, DATA_FD], spec
