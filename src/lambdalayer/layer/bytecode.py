"""Compile a layer's modules to PEP 552 ``unchecked-hash`` bytecode with the target's CPython.

Lambda's ``/opt`` is read-only, so a module without a valid ``.pyc`` is compiled again on
every cold start. Timestamp-based pycs do not survive zipping reliably; hash-based ones
with ``unchecked-hash`` are valid wherever the source sits, without even hashing it. The
magic number must be the runtime's own, so the compiler is a CPython of the runtime's X.Y
(found by :mod:`lambdalayer.interpreters`), never the Python running the build.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

from lambdalayer.errors import InputError, LambdaLayerError, option
from lambdalayer.interpreters import (
    Interpreter,
    find_interpreter,
    probe,
    provision_interpreter,
    unreadable_places,
)
from lambdalayer.layer.archive import FILE_MODE, Entry
from lambdalayer.progress import Notify, quiet
from lambdalayer.recipe import BytecodeMode
from lambdalayer.targets import Layout, Runtime, runtimes
from lambdalayer.uvtool import uv_binary

COMPILE_TIMEOUT_SECONDS = 900


def _compiler_source() -> str:
    """The child program (:mod:`lambdalayer.layer._compile_child`), passed with ``-c``."""
    return resources.files("lambdalayer.layer").joinpath("_compile_child.py").read_text("utf-8")


@dataclass(frozen=True)
class BytecodeResult:
    """The layer's entries after compilation, and how many modules were compiled."""

    entries: tuple[Entry, ...]
    compiled: int


def _pyc_name(arcname: str, cache_tag: str, mode: BytecodeMode) -> str:
    """Where the bytecode of ``arcname`` goes (``handler.py`` at a zip's root included)."""
    source = PurePosixPath(arcname)
    if mode is BytecodeMode.ONLY:
        return source.with_suffix(".pyc").as_posix()
    return (source.parent / "__pycache__" / f"{source.stem}.{cache_tag}.pyc").as_posix()


def _write_sources(sources: Sequence[Entry], destination: Path) -> None:
    """Write the entries' bytes under ``destination``, opening each wheel once."""
    by_zip: dict[Path, dict[int, str]] = {}
    for entry in sources:
        path = destination / entry.arcname
        path.parent.mkdir(parents=True, exist_ok=True)
        if entry.raw is None:
            path.write_bytes(entry.new_bytes())
        else:
            by_zip.setdefault(entry.raw.zip_path, {})[entry.raw.header_offset] = entry.arcname
    for zip_path, wanted in by_zip.items():
        with zipfile.ZipFile(zip_path) as archive:
            for info in archive.infolist():
                if info.header_offset in wanted:
                    (destination / wanted[info.header_offset]).write_bytes(archive.read(info))


def _run_compilers(interpreter: Interpreter, jobs: list[list[str]], scratch_dir: Path) -> None:
    """Compile ``jobs`` with one child interpreter per core, each taking every n-th file."""
    workers = max(1, min(os.cpu_count() or 1, len(jobs) // 50 or 1))
    children = []
    for number in range(workers):
        job_file = scratch_dir / f"jobs-{number}.json"
        job_file.write_text(json.dumps(jobs[number::workers]))
        command = [str(interpreter.path), "-I", "-S", "-B", "-c", _compiler_source(), str(job_file)]
        children.append(
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        )
    failures = []
    for child in children:
        try:
            _, stderr = child.communicate(timeout=COMPILE_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            _, stderr = child.communicate()
        if child.returncode != 0:
            failures.append((stderr.strip().splitlines() or ["no output"])[-1])
    if failures:
        raise LambdaLayerError(f"compiling bytecode with {interpreter.path} failed: {failures[0]}")


def compile_entries(
    entries: Sequence[Entry], interpreter: Interpreter, mode: BytecodeMode, layout: Layout
) -> BytecodeResult:
    """Add (or, for ``ONLY``, substitute) bytecode for every ``.py`` entry of the layout's code.

    The ``.pyc`` records where Lambda will find the module (``/opt/<arcname>`` for a layer,
    ``/var/task/<arcname>`` for a function package), so tracebacks name the real file;
    it keeps its source's ``origin``.
    """
    if not mode.compiles:
        return BytecodeResult(tuple(entries), 0)
    cache_tag = f"cpython-{interpreter.version[0]}{interpreter.version[1]}"
    sources = [
        entry
        for entry in entries
        if entry.arcname.startswith(layout.code_root) and entry.arcname.endswith(".py")
    ]
    with tempfile.TemporaryDirectory(prefix="lambdalayer-pyc-") as scratch:
        scratch_dir = Path(scratch)
        _write_sources(sources, scratch_dir / "src")
        jobs = [
            [
                str(scratch_dir / "src" / entry.arcname),
                str(scratch_dir / "pyc" / entry.arcname),
                f"{layout.extracted_at}/{entry.arcname}",
            ]
            for entry in sources
        ]
        _run_compilers(interpreter, jobs, scratch_dir)
        source_names = {entry.arcname for entry in sources}
        result: list[Entry] = []
        compiled = 0
        for entry in entries:
            pyc = scratch_dir / "pyc" / entry.arcname
            if entry.arcname not in source_names or not pyc.is_file():
                result.append(entry)
                continue
            compiled += 1
            name = _pyc_name(entry.arcname, cache_tag, mode)
            result.append(Entry(name, FILE_MODE, data=pyc.read_bytes(), origin=entry.origin))
            if mode is BytecodeMode.UNCHECKED_HASH:
                result.append(entry)
    return BytecodeResult(tuple(result), compiled)


def bytecode_compiler(
    mode: BytecodeMode,
    runtime: Runtime,
    python: Path | None,
    notify: Notify = quiet,
) -> Interpreter | None:
    """The CPython that compiles a layer's bytecode: given, found, or installed by uv.

    ``None`` for :attr:`BytecodeMode.NONE`. A layer must not depend on what happens to be
    installed: without an interpreter of the runtime's X.Y the build fails instead of
    silently leaving the bytecode out.
    """
    if not mode.compiles:
        return None
    version = runtime.python_version
    if python is not None:
        given = probe(python)
        if given is None or given.version_text != version:
            found = f"CPython {given.version_text}" if given else "not a working CPython"
            raise InputError(
                f"{option('BuildRecipe.python', python)} is {found}; {runtime.name} needs {version}",
                hint=f"give a python{version} executable, or leave {option('BuildRecipe.python')}"
                " out to search for one",
            )
        return given
    found_here = find_interpreter(version)
    if found_here is not None:
        return found_here
    notify(f"no CPython {version} on this machine: installing one with uv python install {version}")
    provisioned = provision_interpreter(version, uv_binary())
    if provisioned.interpreter is None:
        raise _no_compiler(runtime, provisioned.failure)
    return provisioned.interpreter


def _no_compiler(runtime: Runtime, failure: str | None) -> InputError:
    version = runtime.python_version
    here = [other.name for other in runtimes() if find_interpreter(other.python_version)]
    other = (
        f", or build for a runtime whose CPython is here:"
        f" {option('Target.runtime', ' or '.join(here))}"
        if here
        else ""
    )
    unreadable = unreadable_places(version)
    skipped = f"; skipped, not readable by this user: {', '.join(unreadable)}" if unreadable else ""
    return InputError(
        f"bytecode for {runtime.name} needs a CPython {version}: none on PATH, pyenv or"
        f" uv-managed{skipped}, and installing one failed ({failure})",
        hint=f"give {option('BuildRecipe.python', 'PATH')} to a CPython {version}, or"
        f" {option('BuildRecipe.bytecode', 'none')} (no .pyc: every"
        f" module is compiled on each cold start){other}",
    )
