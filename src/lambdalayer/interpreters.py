"""Finding a CPython of a given X.Y on this machine (for import checks and bytecode).

Users keep interpreters on PATH, under pyenv and as uv-managed installs; each candidate is
run once to prove what it is (a pyenv shim for an unselected version exits with an error,
and a name can lie). The host's own ``sys.executable`` is just one more candidate: it is
used only when it *is* the version asked for.

A CPython for another CPU (``uv python install cpython-3.12-linux-aarch64-gnu`` puts one
among uv's installs) is run through ``qemu-<cpu>-static`` to prove what it is; the import
check of an arm64 layer uses one (see :mod:`lambdalayer.environment.synthroot`). Bytecode never
does: it asks for this machine's CPU.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lambdalayer.elf import ELF_MAGIC, MACHINES


def _probe_source() -> str:
    """The child program (:mod:`lambdalayer._probe_child`), passed with ``-c``."""
    return resources.files("lambdalayer").joinpath("_probe_child.py").read_text("utf-8")


PROBE_TIMEOUT_SECONDS = 15


@dataclass(frozen=True)
class Interpreter:
    """A verified CPython executable."""

    path: Path
    version: tuple[int, int]
    machine: str
    micro: int = 0  # the X.Y.Z's Z: bytecode from two micro releases may differ
    prefix: Path | None = None  # sys.base_prefix: where its standard library lives

    @property
    def version_text(self) -> str:
        """``"3.12"``."""
        return f"{self.version[0]}.{self.version[1]}"

    def cache_identity(self) -> object:
        """What decides what it makes (bytecode, imports): its X.Y.Z and CPU, not its path."""
        return [*self.version, self.micro, self.machine]


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.name)) or (0,)


def _installs(root: Path, pattern: str) -> list[Path]:
    """The installs under ``root`` matching ``pattern``, newest first (none if unreadable)."""
    try:
        return sorted(root.glob(pattern), key=_version_key, reverse=True)
    except OSError:  # another user's pyenv or uv directory: nothing of ours is there
        return []


def candidates(version: str, environ: Mapping[str, str] = os.environ) -> Iterator[Path]:
    """Possible executables for ``version`` (``"3.12"``): PATH, pyenv, uv-managed, newest first."""
    name = f"python{version}"
    for directory in environ.get("PATH", "").split(os.pathsep):
        if directory:
            yield Path(directory) / name
    pyenv_root = Path(environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    for install in _installs(pyenv_root / "versions", f"{version}.*"):
        yield install / "bin" / name
    data_home = Path(environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    uv_root = Path(environ.get("UV_PYTHON_INSTALL_DIR") or data_home / "uv" / "python")
    for install in _installs(uv_root, f"cpython-{version}.*-linux-*"):
        yield install / "bin" / name


def unreadable_places(version: str, environ: Mapping[str, str] = os.environ) -> list[str]:
    """The places :func:`candidates` looks in that this user may not read (said when none fits)."""
    places = [str(path.parent) for path in candidates(version, environ)]
    pyenv_root = Path(environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    data_home = Path(environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    uv_root = Path(environ.get("UV_PYTHON_INSTALL_DIR") or data_home / "uv" / "python")
    places += [str(pyenv_root / "versions"), str(uv_root)]
    unreadable = []
    for place in dict.fromkeys(places):
        try:
            with os.scandir(place):
                pass
        except PermissionError:
            unreadable.append(place)
        except OSError:
            continue
    return unreadable


def emulator(machine: str) -> str | None:
    """``qemu-<machine>-static`` (or ``qemu-<machine>``) on PATH, to run that CPU's programs."""
    for name in (f"qemu-{machine}-static", f"qemu-{machine}"):
        found = shutil.which(name)
        if found:
            return found
    return None


def program_machine(path: Path) -> str | None:
    """The CPU an ELF program is for (``"aarch64"``), from its header; ``None`` if not ELF."""
    try:
        with path.open("rb") as stream:
            head = stream.read(20)
    except OSError:
        return None
    if len(head) < 20 or head[:4] != ELF_MAGIC:
        return None
    number = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    return MACHINES.get(number, f"EM_{number}")


def _command(path: Path) -> list[str] | None:
    """How to run ``path`` here: as it is, or through qemu-user when it is for another CPU."""
    machine = program_machine(path.resolve())
    if machine is None or machine == platform.machine():
        return [str(path)]
    runner = emulator(machine)
    return [runner, str(path)] if runner else None


@functools.cache
def probe(path: Path) -> Interpreter | None:
    """Run ``path`` once and return what it is, or ``None`` if it is not a working CPython.

    A program for another CPU runs through qemu-user (``None`` when there is none).
    """
    try:
        if not path.is_file() or not os.access(path, os.X_OK):
            return None
    except OSError:  # a directory this user may not enter (another user's pyenv shims)
        return None
    command = _command(path)
    if command is None:
        return None
    try:
        completed = subprocess.run(
            [*command, "-I", "-S", "-c", _probe_source()],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = completed.stdout.splitlines()
    fields = lines[0].split() if lines else []
    if completed.returncode != 0 or len(fields) != 5 or fields[0] != "cpython":
        return None
    prefix = Path(lines[1]) if len(lines) > 1 and lines[1] else None
    return Interpreter(
        path=path,
        version=(int(fields[1]), int(fields[2])),
        machine=fields[4],
        micro=int(fields[3]),
        prefix=prefix,
    )


def find_interpreter(
    version: str,
    *,
    explicit: Path | None = None,
    environ: Mapping[str, str] = os.environ,
    machine: str | None = None,
) -> Interpreter | None:
    """The first verified CPython ``version`` (``"3.11"``): ``explicit``, then PATH, pyenv, uv.

    ``machine`` (``"aarch64"``) asks for one built for that CPU; without it, this machine's.
    """
    wanted = tuple(int(part) for part in version.split("."))
    cpu = machine or platform.machine()
    paths = [explicit] if explicit is not None else []
    for path in [*paths, *candidates(version, environ)]:
        try:
            resolved = path.resolve()
        except OSError:
            continue
        if program_machine(resolved) not in (cpu, None):
            continue  # another CPU's program: not even run through qemu
        found = probe(path)
        if found is not None and found.version == wanted and found.machine == cpu:
            return found
    return None


PROVISION_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Provisioned:
    """The outcome of :func:`provision_interpreter`: the interpreter, or why there is none."""

    interpreter: Interpreter | None
    failure: str | None = None


def uv_python_request(version: str, machine: str | None = None) -> str:
    """What ``uv python install`` is asked for: ``3.12``, or ``cpython-3.12-linux-aarch64-gnu``
    for another CPU."""
    return version if machine is None else f"cpython-{version}-linux-{machine}-gnu"


def provision_interpreter(
    version: str,
    uv_bin: str,
    environ: Mapping[str, str] = os.environ,
    *,
    machine: str | None = None,
) -> Provisioned:
    """Install CPython ``version`` with ``uv python install`` (into uv's own directory);
    ``machine``: one built for that CPU (``aarch64``), run through qemu-user.

    Returns the verified interpreter, or the last line of uv's message when it could not
    (no network to uv's download host, an unknown version): the caller decides what then.
    """
    request = uv_python_request(version, machine)
    command = [uv_bin, "python", "install", request, "--no-progress"]
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=PROVISION_TIMEOUT_SECONDS,
            check=False,
            env={**environ, "NO_COLOR": "1"},
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return Provisioned(None, f"uv python install {request}: {error}")
    if completed.returncode != 0:
        lines = [line.strip() for line in completed.stderr.splitlines() if line.strip()]
        return Provisioned(None, f"uv python install {request}: {lines[-1] if lines else 'failed'}")
    found = find_interpreter(version, environ=environ, machine=machine)
    if found is None:
        return Provisioned(
            None, f"uv python install {request} ran, but no CPython {version} was found after it"
        )
    return Provisioned(found)
