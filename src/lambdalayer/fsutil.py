"""Atomic file writes (a file appears complete at its path, or not at all) and bounded reads."""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import secrets
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from lambdalayer.errors import InputError, InputTooLargeError, OutputError, option

MAX_INPUT_BYTES = 16 * 1024 * 1024  # a requirements, config or lock file is kB, never GB


def read_input(path: Path | None, what: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of an input the user names, read to at most ``limit``; ``None`` is stdin (``-``).

    A device (``/dev/zero``), a named FIFO nothing writes to, a pipe that never ends
    (``--event <(yes)``, ``--event -``), or one that cannot be read is one clear error, never a read of gigabytes or a traceback:
    :class:`InputTooLargeError` past the limit (it carries the limit), else :class:`InputError`.
    """
    name = "stdin" if path is None else str(path)
    try:
        if path is None:
            data = sys.stdin.buffer.read(limit + 1)
        else:
            data = _read_named(path, f"{what} {name}", limit + 1)
    except OSError as error:
        raise InputError(f"cannot read {what} {name}: {error.strerror or error}") from error
    if len(data) > limit:
        raise InputTooLargeError(
            f"{what} {name} is over {limit:,} bytes: not a file of that kind", limit=limit
        )
    return data


@functools.cache
def _pipe_device() -> int:
    """The device of this system's anonymous pipes (Linux's pipefs), which no named FIFO has."""
    read_end, write_end = os.pipe()
    try:
        return os.fstat(read_end).st_dev
    finally:
        os.close(read_end)
        os.close(write_end)


def _read_named(path: Path, what: str, limit: int) -> bytes:
    """At most ``limit`` bytes of the file the user named at ``path``, never waiting for ever.

    A regular file is read. So is a pipe: one the shell opened (``<(cmd)`` is ``/dev/fd/N``,
    an anonymous pipe whose writer the shell started) or a named FIFO something writes to.
    A named FIFO nothing writes to (opening it would wait for a writer; reading it without
    waiting finds its end at once) and a device (``/dev/zero``, a terminal) are one
    :class:`InputError` each, with a hint.
    """
    # O_NONBLOCK: opening a FIFO never waits for a writer; blocking is set back for reading.
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        facts = os.fstat(descriptor)
        if stat.S_ISCHR(facts.st_mode) or stat.S_ISBLK(facts.st_mode):
            raise InputError(
                f"{what} is a device, not a file", hint="give the path of a regular file"
            )
        chunks = []
        if stat.S_ISFIFO(facts.st_mode) and facts.st_dev != _pipe_device():
            try:
                chunks.append(os.read(descriptor, min(limit, 1 << 20)))
            except BlockingIOError:  # a writer holds it open, with nothing written yet
                pass
            else:
                if not chunks[0]:  # no writer: a blocking read would wait for one for ever
                    raise InputError(
                        f"{what} is a FIFO nothing writes to: reading it would wait for ever",
                        hint="give a regular file, or start what writes to the FIFO first"
                        " (cmd > FIFO &)",
                    )
        os.set_blocking(descriptor, True)
        taken = sum(map(len, chunks))
        while taken < limit and (chunk := os.read(descriptor, min(limit - taken, 1 << 20))):
            chunks.append(chunk)
            taken += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)


def read_small_file(path: Path | str, limit: int, dir_fd: int | None = None) -> bytes:
    """At most ``limit`` bytes of the regular file at ``path`` (relative to the directory
    ``dir_fd`` when given): never a FIFO, a device or a link (``OSError`` for those), never
    a read that waits or does not end.

    For files lambdalayer itself placed (a seal, a key file, a result a child wrote), where
    anything but a regular file is an attack, not an input.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    descriptor = os.open(path, flags, dir_fd=dir_fd)
    with os.fdopen(descriptor, "rb") as stream:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return stream.read(limit)


def read_text_file(path: Path, what: str, limit: int = MAX_INPUT_BYTES) -> str:
    """The UTF-8 text of an input file, read to at most ``limit`` bytes (:func:`read_input`);
    :class:`InputError` otherwise (a binary file among them)."""
    return decode_text(read_input(path, what, limit), f"{what} {path}")


def decode_text(data: bytes, what: str) -> str:
    """``data`` as UTF-8 text; one :class:`InputError` naming the first bad byte otherwise."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(
            f"{what} is not UTF-8 text (byte {error.start}:"
            f" {data[error.start : error.start + 1]!r})",
            hint="save it as UTF-8",
        ) from error


def _not_json(constant: str) -> object:
    raise ValueError(f"{constant} is not JSON (RFC 8259 has no such number)")


def parse_json(data: bytes | str, what: str, hint: str | None = None) -> object:
    """``data`` as JSON (RFC 8259: no ``NaN`` or ``Infinity``, which Python's decoder would
    take), or one :class:`InputError`: not JSON, or nested deeper than Python reads (the
    decoder's recursion limit: a RecursionError is never let through)."""
    try:
        return json.loads(data, parse_constant=_not_json)
    except RecursionError:
        raise InputError(
            f"{what} nests deeper than {sys.getrecursionlimit()} levels: no Python runtime reads it",
            hint=hint,
        ) from None
    except ValueError as error:  # UnicodeDecodeError among them
        raise InputError(f"{what} is not JSON: {error}", hint=hint) from error


def _created_parents(directory: Path) -> list[Path]:
    """The directories that ``directory.mkdir(parents=True)`` would create, deepest first."""
    missing = []
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    return missing


def ensure_writable_parent(path: Path, what: str = "-o") -> list[Path]:
    """Create ``path``'s directory if needed and prove a file can be created there; ``what``
    (the option naming ``path``) is named in the error.

    Called before any work starts, so an unwritable ``-o`` fails in a second, not after a
    download of hundreds of megabytes. Returns the directories it created (deepest first)
    so that a failed build can remove them again (:func:`remove_empty_dirs`).
    """
    if path.is_dir():
        raise OutputError(
            f"output path {path} is a directory",
            hint=f"give {what} a file name, e.g. {what} layer.zip"
            if what == "-o"
            else f"give {what} the path of a file",
        )
    created = _created_parents(path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as error:
        remove_empty_dirs(created)
        # a file where a directory goes: mkdir says "File exists" or "Not a directory"
        above = next((item for item in (path.parent, *path.parent.parents) if item.exists()), None)
        why = f"{above} is not a directory" if above and not above.is_dir() else error.strerror
        raise OutputError(
            f"{what}: cannot write to {path.parent}: {why}",
            hint=f"{_elsewhere(what)}: one whose directory exists or can be made, and is writable",
        ) from error
    return created


def remove_empty_dirs(directories: list[Path]) -> None:
    """Remove ``directories`` (deepest first) that are still empty; others are left alone."""
    for directory in directories:
        with contextlib.suppress(OSError):
            directory.rmdir()


def _create_beside(path: Path) -> tuple[int, Path]:
    """A new, empty file beside ``path`` with the permissions a plain ``open()`` would give.

    ``mkstemp`` creates 0600 files; opening with mode 0666 lets the process umask decide,
    as for any other file the user writes, without reading or changing the umask (which
    is process-wide and would race with other threads creating files).
    """
    for _attempt in range(100):
        candidate = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as error:
            raise OutputError(f"cannot write {path}: {error.strerror}") from error
        return descriptor, candidate
    raise OutputError(f"cannot create a temporary file beside {path}")


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """Write to a temporary file beside ``path``; rename it over ``path`` only on success.

    On any exception the temporary file is removed and an existing ``path`` is untouched.
    """
    descriptor, temporary = _create_beside(path)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` atomically."""
    with atomic_writer(path) as stream:
        stream.write(content)


@contextlib.contextmanager
def staged_path(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` that is renamed to ``path`` if the block succeeds.

    For outputs that must be inspected before they are published at their real name.
    """
    descriptor, staging = _create_beside(path)
    os.close(descriptor)
    try:
        yield staging
        staging.replace(path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise


def file_sha256(path: Path) -> str:
    """The hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def remove_tree(path: Path) -> None:
    """Remove ``path`` and everything below it, read-only directories included.

    Symbolic links are removed, never followed; a path that is already gone is fine.
    """
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(mode):
        path.unlink(missing_ok=True)
        return
    for directory, dirs, _files in os.walk(path):
        for name in dirs:
            child = Path(directory) / name
            if not child.is_symlink():
                with contextlib.suppress(OSError):
                    child.chmod(0o700)
    with contextlib.suppress(OSError):
        path.chmod(0o700)
    shutil.rmtree(path, ignore_errors=True)


def not_a_file(path: Path) -> tuple[str, str] | None:
    """Why the zip (or other file) a command reads at ``path`` cannot be read, with a hint;
    ``None`` for a regular file (or a link to one). A device, FIFO or directory is named as
    such: it was said to be no file at all (``check /dev/zero``: 'no such file')."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"no such file: {path}", "give the path of the zip"
    except OSError as error:
        return f"cannot read {path}: {error.strerror}", "give the path of the zip"
    if stat.S_ISREG(mode):
        return None
    return f"{path} is {_kind(mode)}, not a file", "give the path of the zip (a regular file)"


def _kind(mode: int) -> str:
    """What a file that is not a regular one is, said as a noun."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def check_side_output(
    path: Path, what: str, outputs: Sequence[tuple[str, Path | None]] = ()
) -> None:
    """Refuse a file the run would write at ``path`` (``what``: the option naming it) that
    is one of the run's other ``outputs`` (each with the option naming it), or where
    something other than a regular file is: a directory, FIFO, device or a symbolic link,
    dangling or not (a rename would replace the link, never write where it points) — the
    one rule for every file a build writes (:func:`~lambdalayer.layer.output.check_one_set`).
    Nothing is written; a missing directory is left to :func:`ensure_writable_parent`."""
    resolved = path.resolve()
    for other, output in outputs:
        if output is not None and output.resolve() == resolved:
            raise InputError(
                f"{what} {path} is also where the build writes {other}",
                hint=f"{_elsewhere(what)}: each file the build writes needs a path of its own",
            )
    try:
        mode = os.lstat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as error:
        raise InputError(f"{what} {path}: {error.strerror}", hint=_elsewhere(what)) from error
    if stat.S_ISDIR(mode):  # most likely the user's own: never a hint to remove it
        file = _elsewhere(what) if what == PROVENANCE else f"give {what} a file's path"
        raise InputError(
            f"{what} {path} exists and is not a regular file: it is {_kind(mode)}",
            hint=f"{file}: a directory is never replaced (only a regular file is, whole,"
            " atomically)",
        )
    if not stat.S_ISREG(mode):
        raise InputError(
            f"{what} {path} exists and is not a regular file: it is {_kind(mode)}",
            hint=f"remove what is there, or {_elsewhere(what)}: only a regular file is"
            " replaced (whole, atomically)",
        )


# How the provenance's file is named (the command line says its flag): it has no path of its own.
PROVENANCE = option("ShipsRequest.provenance", True)


def _elsewhere(what: str) -> str:
    """How a file named by the option ``what`` goes elsewhere: the provenance is beside the zip."""
    if what == PROVENANCE:
        return "build to another -o (the provenance is written beside the zip, as ZIP.intoto.json)"
    return f"give {what} another path"
