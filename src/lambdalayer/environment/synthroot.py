"""A root laid out like Lambda's, holding only the runtime's libraries: the default place for imports.

Without an image, the import check used to run on this machine's libraries, where a
library Lambda lacks but this machine has (``libpq.so`` for psycopg, which finds it with
ctypes at import: no ELF names it) passes here and fails there. This root holds:

- ``/var/lang``: a CPython of the runtime's X.Y found here (its ``bin/pythonX.Y``, its
  standard library with its bytecode, ``libpython``), with the libraries that CPython links
  (Lambda's ``/var/lang`` carries its own too);
- ``/usr/lib64`` (``/lib64`` and ``/lib`` link to it): every soname of the runtime's
  library set (``data/runtime_libraries/``) that this machine has, and nothing else;
- empty ``/opt``, ``/var/task``, ``/var/runtime``, ``/tmp``, ``/proc``, ``/dev``, ``/etc``.

For an arm64 layer on an x86_64 machine the same root is made of the machine's aarch64
builds (Debian's multiarch ``/usr/lib/aarch64-linux-gnu``, e.g. ``apt-get install
libc6:arm64 libssl3:arm64 …``) and an aarch64 CPython (``uv python install
cpython-3.12-linux-aarch64-gnu``), and the imports run through qemu-user.

So a library Lambda does not have is missing here too. Its limits, said in the report:
the libraries are this machine's builds of those sonames, the CPython is this machine's
(its patch release may differ from Lambda's). Files are hard links where they can be (the
root is mounted read-only by the sandbox), kept under ``<cache>/roots/<key>/rootfs`` and
made again when the target, the interpreter, the library data or lambdalayer changes.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.cache import Bucket, Cache, key_of
from lambdalayer.elf import ELF_MAGIC, read_elf
from lambdalayer.interpreters import Interpreter, program_machine
from lambdalayer.libraryset import runtime_libraries
from lambdalayer.targets import Target

FORMAT = 1
# Where this machine keeps its shared libraries, per CPU (Debian's multiarch, then the rest).
HOST_LIBRARY_DIRS = {
    "x86_64": ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64"),
    "aarch64": ("/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64"),
}
_SKELETON = (
    "opt",
    "var/task",
    "var/runtime",
    "var/lang/bin",
    "var/lang/lib",
    "tmp",
    "proc",
    "dev",
    "etc",
    "usr/lib64",
)
# The standard library's own bytecode stays (Lambda's /var/lang has it: without it every
# import of the standard library compiles anew in the read-only root, five times slower);
# the optimized variants nothing runs with do not.
_LEFT_OUT = (
    "test",
    "tests",
    "idlelib",
    "tkinter",
    "turtledemo",
    "site-packages",
    "*.opt-1.pyc",
    "*.opt-2.pyc",
)


@dataclass(frozen=True)
class SynthesizedRoot:
    """The root and what it holds, for the report."""

    rootfs: Path
    libraries: int  # sonames of the runtime's set this machine had
    missing: int  # sonames of the runtime's set this machine lacks (absent from the root too)

    def describe(self, target: Target, interpreter: Interpreter) -> str:
        """``a root with python3.12's library set (…)``, for the imports line."""
        cpython = f"CPython {interpreter.version_text}.{interpreter.micro}"
        if interpreter.machine != platform.machine():
            cpython = f"{interpreter.machine} {cpython} ({interpreter.prefix})"
        return (
            f"in a root with {target.runtime.name}'s library set ({self.libraries} of its"
            f" {self.libraries + self.missing} libraries, this machine's {target.machine} builds"
            f" of them) and this machine's {cpython}"
        )


def _host_library(soname: str, machine: str) -> Path | None:
    """This machine's build of ``soname`` for ``machine`` (``/lib64`` may hold another CPU's)."""
    for directory in HOST_LIBRARY_DIRS.get(machine, ()):
        candidate = (Path(directory) / soname).resolve()
        if candidate.is_file() and program_machine(candidate) == machine:
            return candidate
    return None


def has_libraries_for(machine: str) -> bool:
    """Whether this machine has a C library built for ``machine`` to make a root from."""
    return _host_library("libc.so.6", machine) is not None


def _link(source: Path, destination: Path) -> None:
    """A hard link (a copy across filesystems) of one file."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _key(target: Target, interpreter: Interpreter) -> str:
    """What a root is made of: the target, the interpreter's files (its path and prefix, and
    its X.Y.Z) and the runtime's library set (its data and what of it this machine has)."""
    libraries = runtime_libraries(target)
    files = [str(interpreter.path), str(interpreter.prefix), interpreter]
    return key_of(FORMAT, target, files, [libraries.source, sorted(libraries.present)])


def _copy_interpreter(interpreter: Interpreter, root: Path) -> list[Path]:
    """The interpreter and its standard library into ``/var/lang``; returns its ELF files."""
    assert interpreter.prefix is not None  # noqa: S101 - the caller checks
    version = interpreter.version_text
    prefix = interpreter.prefix
    binary = root / f"var/lang/bin/python{version}"
    _link(_executable(interpreter), binary)
    (root / "var/lang/bin/python3").symlink_to(f"python{version}")
    shutil.copytree(
        prefix / "lib" / f"python{version}",
        root / f"var/lang/lib/python{version}",
        symlinks=True,
        copy_function=_link_function,
        ignore=shutil.ignore_patterns(*_LEFT_OUT),
    )
    elves = [binary]
    for library in (prefix / "lib").glob("libpython*.so*"):
        if library.is_file():
            _link(library.resolve(), root / "var/lang/lib" / library.name)
            elves.append(root / "var/lang/lib" / library.name)
    elves += list((root / f"var/lang/lib/python{version}/lib-dynload").glob("*.so"))
    return elves


def _executable(interpreter: Interpreter) -> Path:
    """The interpreter's own ELF program: the one in its prefix, not a shim or a venv's link."""
    assert interpreter.prefix is not None  # noqa: S101 - the caller checks
    installed = interpreter.prefix / "bin" / f"python{interpreter.version_text}"
    for candidate in (installed.resolve(), interpreter.path.resolve()):
        with contextlib.suppress(OSError), candidate.open("rb") as stream:
            if stream.read(4) == ELF_MAGIC:
                return candidate
    return installed


def _link_function(source: str, destination: str) -> None:
    _link(Path(source), Path(destination))


def _needed(paths: list[Path]) -> set[str]:
    needed: set[str] = set()
    for path in paths:
        try:
            needed.update(read_elf(path.read_bytes()).needed)
        except (ValueError, OSError):
            continue
    return needed


def _build(target: Target, interpreter: Interpreter, root: Path) -> tuple[int, int]:
    for place in _SKELETON:
        (root / place).mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    for link in ("lib64", "lib"):
        (root / link).symlink_to("usr/lib64")
    present = set(runtime_libraries(target).present)
    found = 0
    for soname in sorted(present):
        library = _host_library(soname, target.machine)
        if library is not None:
            _link(library, root / "usr/lib64" / soname)
            found += 1
    # What the interpreter itself links, beyond the runtime's set, goes with it to /var/lang/lib
    # (Lambda's own CPython carries its own libraries there too); followed through its chain.
    pending = _needed(_copy_interpreter(interpreter, root))
    seen: set[str] = set()
    while pending:
        soname = pending.pop()
        if soname in seen or soname in present or soname.startswith("libpython"):
            continue
        seen.add(soname)
        library = _host_library(soname, target.machine)
        if library is not None:
            _link(library, root / "var/lang/lib" / soname)
            pending |= _needed([library])
    return found, len(present) - found


def synthesized_root(
    target: Target, interpreter: Interpreter, cache_dir: Path
) -> SynthesizedRoot | None:
    """The synthesized root for ``target`` with ``interpreter`` (built once, then from the cache).

    ``None`` when it cannot be made here: the interpreter is for another CPU, or its
    standard library is not where its prefix says.
    """
    version = interpreter.version_text
    if (
        interpreter.machine != target.machine
        or interpreter.prefix is None
        or not (interpreter.prefix / "lib" / f"python{version}" / "os.py").is_file()
    ):
        return None
    cache, key = Cache.at(cache_dir), _key(target, interpreter)
    final = cache.hold(Bucket.ROOTS, key)
    record = final / "root.json"
    if cache.admit(Bucket.ROOTS, key) and record.is_file():
        try:
            counts = json.loads(record.read_text("utf-8"))
            return SynthesizedRoot(
                final / "rootfs", int(counts["libraries"]), int(counts["missing"])
            )
        except (OSError, ValueError, KeyError, TypeError):
            shutil.rmtree(final, ignore_errors=True)
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=final.parent, prefix=".build-"))
    try:
        found, missing = _build(target, interpreter, scratch / "rootfs")
        (scratch / "root.json").write_text(json.dumps({"libraries": found, "missing": missing}))
        scratch.chmod(0o755)
        cache.seal(Bucket.ROOTS, key, scratch)
        try:
            scratch.rename(final)
        except OSError:  # another check built the same root first
            shutil.rmtree(scratch, ignore_errors=True)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    counts = json.loads(record.read_text("utf-8"))
    return SynthesizedRoot(final / "rootfs", int(counts["libraries"]), int(counts["missing"]))
