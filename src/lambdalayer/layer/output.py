"""Where a finished layer goes: a zip file, or a directory of the layer's files.

Either way the layer is first written as a zip beside its destination (or in the cache,
for a directory), checked there, and only then put in place: :meth:`staged` yields that
zip's path, and when the block succeeds the output appears; when it fails, nothing at the
output has changed. :meth:`reserved` proves the destination writable before any work
and removes the directories it had to create if the build then fails.

:func:`held` is a build's hold on its output for its whole life: an exclusive ``flock`` on
a hidden lock file beside it (``.NAME.lambdalayer-lock``, removed when the build ends). A
second build of the same output waits for the first and says so, then writes its own: the
output is one build's, never a mix of two, and the last one's.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.cache import Cache
from lambdalayer.cache.store import acquire
from lambdalayer.errors import OutputError
from lambdalayer.fsutil import (
    ensure_writable_parent,
    read_small_file,
    remove_empty_dirs,
    staged_path,
)
from lambdalayer.layer.tree import install_tree
from lambdalayer.progress import Notify, quiet


@dataclass(frozen=True)
class ZipOutput:
    """The layer as one zip file at ``path``, renamed into place when complete."""

    path: Path

    @contextlib.contextmanager
    def reserved(self) -> Iterator[None]:
        """The output's directory exists and is writable; created directories go if the block fails."""
        created = ensure_writable_parent(self.path)
        try:
            yield
        except BaseException:
            remove_empty_dirs(created)
            raise

    @contextlib.contextmanager
    def staged(self) -> Iterator[Path]:
        """A temporary zip beside :attr:`path`, renamed to it when the block succeeds."""
        with staged_path(self.path) as staging:
            yield staging


@dataclass(frozen=True)
class TreeOutput:
    """The layer as the files of its zip under ``path`` (for SAM's and CDK's directories).

    Only what the layer owns is replaced (:mod:`lambdalayer.layer.tree`); the record of what
    it wrote is kept under ``cache_dir``, where the staged zip is made too.
    """

    path: Path
    cache_dir: Path

    @contextlib.contextmanager
    def reserved(self) -> Iterator[None]:
        """The directory (or its parent) is writable; created directories go if the block fails."""
        created = ensure_writable_parent(self.path / "x")
        try:
            yield
        except BaseException:
            remove_empty_dirs(created)
            raise

    @contextlib.contextmanager
    def staged(self) -> Iterator[Path]:
        """A zip in the cache, unpacked into :attr:`path` when the block succeeds, then removed."""
        with Cache.at(self.cache_dir).scratch("tree-") as scratch:
            staging = scratch / "layer.zip"
            yield staging
            install_tree(staging, self.path, self.cache_dir)


LayerOutput = ZipOutput | TreeOutput


def lock_file(output: Path) -> Path:
    """The lock file a build holds for ``output`` (a zip or a directory), beside it."""
    return output.parent / f".{output.name}.lambdalayer-lock"


@contextlib.contextmanager
def held(output: Path, notify: Notify = quiet) -> Iterator[None]:
    """``output`` held by this build alone for the block: another build of it waits (said
    through ``notify``, with the other's process id when it wrote one). The lock file is
    removed while still held (a waiter then locks a new one, see ``acquire``)."""
    path = lock_file(output)
    try:
        descriptor = acquire(path, exclusive=True, wait=False)
        while descriptor is None:  # a waiting acquire returns a lock: said once, then waited
            notify(f"waiting: another lambdalayer build is writing {output}{_holder(path)}")
            descriptor = acquire(path, exclusive=True)
    except OSError as error:
        raise _unlockable(output, path, error.strerror or str(error)) from error
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):  # a FIFO or a device put there
        os.close(descriptor)
        raise _unlockable(output, path, "not a regular file")
    try:
        os.ftruncate(descriptor, 0)
        os.write(descriptor, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(descriptor)


def _unlockable(output: Path, path: Path, why: str) -> OutputError:
    return OutputError(
        f"cannot lock {output} for this build: {path}: {why}",
        hint="remove what is at that path (lambdalayer's lock file, a plain file), or build"
        " to another -o",
    )


def _holder(path: Path) -> str:
    """`` (process N)`` of the build holding ``path``, when it wrote its id there."""
    try:
        text = read_small_file(path, 32).decode("ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""
    return f" (process {text})" if text.isdigit() else ""
