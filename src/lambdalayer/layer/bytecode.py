"""Compile a layer's modules to PEP 552 ``unchecked-hash`` bytecode with the target's CPython.

Lambda's ``/opt`` is read-only, so a module without a valid ``.pyc`` is compiled again on
every cold start. Timestamp-based pycs do not survive zipping reliably; hash-based ones
with ``unchecked-hash`` are valid wherever the source sits, without even hashing it. The
magic number must be the runtime's own, so the compiler is a CPython of the runtime's X.Y
(found by :mod:`lambdalayer.interpreters`), never the Python running the build.
"""

from __future__ import annotations

import enum
import json
import os
import subprocess
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

from lambdalayer.errors import LambdaLayerError
from lambdalayer.interpreters import Interpreter
from lambdalayer.layer.archive import FILE_MODE, Entry

COMPILE_TIMEOUT_SECONDS = 900


def _compiler_source() -> str:
    """The child program (:mod:`lambdalayer.layer._compile_child`), passed with ``-c``."""
    return resources.files("lambdalayer.layer").joinpath("_compile_child.py").read_text("utf-8")


class BytecodeMode(enum.StrEnum):
    """What ``--bytecode`` asks for."""

    AUTO = "auto"  # .pyc in __pycache__ beside every .py, when a target interpreter exists
    NONE = "none"  # sources only
    ONLY = "only"  # sourceless: .pyc in place of each .py (smaller; tracebacks lose lines)


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
    entries: Sequence[Entry],
    interpreter: Interpreter,
    mode: BytecodeMode,
    *,
    root: str = "python/",
    extracted_at: str = "/opt",
) -> BytecodeResult:
    """Add (or, for ``ONLY``, substitute) bytecode for every ``.py`` entry under ``root``.

    The ``.pyc`` records ``<extracted_at>/<arcname>`` as its source path (``/opt`` for a
    layer, ``/var/task`` for a function package), where Lambda will find the module, so
    tracebacks name the real file.
    """
    if mode is BytecodeMode.NONE:
        return BytecodeResult(tuple(entries), 0)
    cache_tag = f"cpython-{interpreter.version[0]}{interpreter.version[1]}"
    sources = [
        entry
        for entry in entries
        if entry.arcname.startswith(root) and entry.arcname.endswith(".py")
    ]
    with tempfile.TemporaryDirectory(prefix="lambdalayer-pyc-") as scratch:
        scratch_dir = Path(scratch)
        _write_sources(sources, scratch_dir / "src")
        jobs = [
            [
                str(scratch_dir / "src" / entry.arcname),
                str(scratch_dir / "pyc" / entry.arcname),
                f"{extracted_at}/{entry.arcname}",
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
            data = pyc.read_bytes()
            compiled += 1
            result.append(Entry(_pyc_name(entry.arcname, cache_tag, mode), FILE_MODE, data=data))
            if mode is BytecodeMode.AUTO:
                result.append(entry)
    return BytecodeResult(tuple(result), compiled)
