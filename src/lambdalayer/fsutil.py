"""Atomic file writes: a file appears complete at its path, or not at all."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from lambdalayer.errors import OutputError


def ensure_writable_parent(path: Path) -> None:
    """Create ``path``'s directory if needed and prove a file can be created there.

    Called before any work starts, so an unwritable ``-o`` fails in a second, not after a
    download of hundreds of megabytes.
    """
    if path.is_dir():
        raise OutputError(
            f"output path {path} is a directory", hint="give a file name, e.g. -o layer.zip"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as error:
        raise OutputError(
            f"cannot write to {path.parent}: {error.strerror}",
            hint="choose another -o path, or fix the directory's permissions",
        ) from error


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """Write to a temporary file beside ``path``; rename it over ``path`` only on success.

    On any exception the temporary file is removed and an existing ``path`` is untouched.
    """
    try:
        descriptor, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror}") from error
    try:
        with os.fdopen(descriptor, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        umask = os.umask(0)
        os.umask(umask)
        Path(temporary).chmod(0o666 & ~umask)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
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
    try:
        descriptor, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror}") from error
    os.close(descriptor)
    staging = Path(temporary)
    try:
        yield staging
        staging.replace(path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
