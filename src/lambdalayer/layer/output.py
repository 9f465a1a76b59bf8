"""Where a finished layer goes: a zip file, or a directory of the layer's files.

Either way the layer is first written as a zip beside its destination (or in the cache,
for a directory), checked there, and only then put in place: :meth:`staged` yields that
zip's path, and when the block succeeds the output appears; when it fails, nothing at the
output has changed. :meth:`reserved` proves the destination writable before any work
and removes the directories it had to create if the build then fails.

:func:`held` is a build's hold on its output for its whole life: an exclusive ``flock`` on
a hidden lock file beside it (``.NAME.lambdalayer-lock``, removed when the build ends). A
second build of the same output waits for the first and says so, then writes its own: the
output is one build's, never a mix of two, and the last one's. The hold covers everything
written for the output (the zip, its lock, its SBOM, provenance and report), and
:func:`one_set` replaces those files as one set: a failure part-way puts back what was there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.cache import Cache
from lambdalayer.cache.store import acquire
from lambdalayer.errors import OutputError, leave_behind
from lambdalayer.fsutil import (
    check_side_output,
    ensure_writable_parent,
    read_small_file,
    remove_empty_dirs,
    staged_path,
)
from lambdalayer.layer.tree import install_tree
from lambdalayer.progress import Notice, Notify, quiet


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


# How often a build waiting for another's hold looks whether its run was stopped meanwhile.
_WAIT_POLL_SECONDS = 0.25


@contextlib.contextmanager
def held(
    output: Path, notify: Notify = quiet, abandoned: threading.Event | None = None
) -> Iterator[None]:
    """``output`` held by this build alone for the block: another build of it waits (said
    through ``notify``, with the other's process id when it wrote one). The lock file is
    removed while still held (a waiter then locks a new one, see ``acquire``). A wait
    ends when ``abandoned`` is set (:func:`stop_if`: a worker thread, where no signal is
    raised, of a run that was stopped)."""
    path = lock_file(output)
    try:
        descriptor = acquire(path, exclusive=True, wait=False)
        if descriptor is None:
            notify(Notice(f"waiting: another lambdalayer build is writing {output}{_holder(path)}"))
        while descriptor is None:  # said once, then waited for (a waiting acquire locks)
            if abandoned is None:
                descriptor = acquire(path, exclusive=True)
            else:  # looked at now and then: a worker thread is not interrupted
                abandoned.wait(_WAIT_POLL_SECONDS)
                stop_if(abandoned)
                descriptor = acquire(path, exclusive=True, wait=False)
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


def previous_file(path: Path) -> Path:
    """Where :func:`one_set` keeps what was at ``path`` while a build replaces it, beside it."""
    return path.parent / f".{path.name}.lambdalayer-previous"


def stop_if(abandoned: threading.Event | None) -> None:
    """Raise :class:`OutputError` once ``abandoned`` is set: the run was stopped (a signal
    the main thread took, while this build runs in another)."""
    if abandoned is not None and abandoned.is_set():
        raise OutputError("stopped: the run was interrupted; the previous output is kept")


@contextlib.contextmanager
def one_set(paths: Sequence[Path], abandoned: threading.Event | None = None) -> Iterator[None]:
    """The files at ``paths`` (an output and everything written for it) replaced as one set:
    if the block fails, each is put back as it was (kept meanwhile as a hard link beside it,
    :func:`previous_file`) and what the block made where nothing was is removed — a failure
    part-way never leaves a new zip beside the previous build's SBOM. Held under
    :func:`held`. Only files and links are kept: a directory (``-o DIR/``) is not put back.
    What could not be put back stays at its previous file, to be moved back by hand: each
    such file is noted on the propagating error (:func:`~lambdalayer.errors.leave_behind`).
    ``abandoned`` set by the time the block ends (:func:`stop_if`) puts the set back too."""
    kept: dict[Path, Path | None] = {}  # a path → what it was (None: nothing)
    try:
        for path in dict.fromkeys(paths):
            if _keepable(path):
                kept[path] = _keep(path)
    except BaseException:
        _drop(kept)
        raise
    try:
        yield
        stop_if(abandoned)
    except BaseException as error:
        left: list[str] = []
        try:
            with signals_held():
                for path, previous in kept.items():
                    try:
                        _put_back(path, previous)
                    except OSError as failure:
                        left.append(_not_put_back(path, previous, failure))
        except BaseException as signalled:  # a signal held during the put-back, raised now
            for what in left:
                leave_behind(signalled, what)
            raise
        for what in left:
            leave_behind(error, what)
        raise
    _drop(kept)


def _not_put_back(path: Path, previous: Path | None, failure: OSError) -> str:
    """What the user is to do by hand for ``path``, which :func:`_put_back` could not."""
    why = failure.strerror or str(failure)
    if previous is None:
        return f"{path} was not there before and could not be removed ({why}): remove it by hand"
    return (
        f"{path} could not be put back ({why}): its previous content is at {previous};"
        " move it back by hand"
    )


_HELD_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM wait for the block (a put-back that must not stop half-way): the
    first that came is raised after it, by the handler it would have met. In the main
    thread, where Python raises them; elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    handlers = {  # None: a handler not set from Python, left alone
        number: handler
        for number in _HELD_SIGNALS
        if (handler := signal.getsignal(number)) is not None
    }
    for number in handlers:
        signal.signal(number, lambda received, _frame: came.append(received))
    try:
        yield
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
        if came:
            signal.raise_signal(came[0])


def _keepable(path: Path) -> bool:
    """Nothing, a file or a link is at ``path`` (not a directory or a device)."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return True
    except OSError as error:
        raise OutputError(f"cannot read {path}: {error.strerror}") from error
    return stat.S_ISREG(mode) or stat.S_ISLNK(mode)


def _keep(path: Path) -> Path | None:
    """A hard link (or copy) of the file or link at ``path``; None: nothing is there."""
    if not os.path.lexists(path):
        return None
    previous = previous_file(path)
    try:
        if _stale_previous(path):  # an interrupted build's: a plain file only
            previous.unlink()
        try:
            os.link(path, previous, follow_symlinks=False)
        except OSError:  # a file system without hard links
            shutil.copy2(path, previous, follow_symlinks=False)
    except OSError as error:
        raise OutputError(
            f"cannot keep {path} while it is replaced: {previous}: {error.strerror}",
            hint=f"make {path.parent} writable, or build to another -o",
        ) from error
    return previous


def _stale_previous(path: Path, what: str = "") -> bool:
    """A previous file of ``path`` (:func:`previous_file`) an interrupted build left: a
    regular file (True), or nothing (False); anything else is refused, naming the option
    ``what`` when given (``OSError`` when it cannot be looked at)."""
    previous = previous_file(path)
    if not os.path.lexists(previous):
        return False
    if not stat.S_ISREG(os.lstat(previous).st_mode):
        named = f"{what} {path}: cannot keep it" if what else f"cannot keep {path}"
        raise OutputError(
            f"{named} while it is replaced: {previous} is not a regular file",
            hint="remove what is at that path (lambdalayer's copy of the previous"
            " file), or build to another -o",
        )
    return True


def check_one_set(named: Sequence[tuple[str, Path]]) -> list[Path]:
    """Every file a run will write (``named``: each with the option naming it — the zips,
    their locks and companions, of every target), checked before anything is resolved or
    built with the rules of an output: none is a directory, FIFO, device or symbolic link
    (:func:`~lambdalayer.fsutil.check_side_output`), none is another's file, where one is
    kept while it is replaced (:func:`previous_file`) is free or a stale regular file, and
    its directory is made if missing and is writable
    (:func:`~lambdalayer.fsutil.ensure_writable_parent`). Nothing else is written; returns
    the directories it made (deepest first) for the caller to remove if the run fails —
    if a path is refused, they are already removed."""
    created: list[Path] = []
    try:
        for index, (what, path) in enumerate(named):
            check_side_output(path, what, named[:index])
            try:
                if os.path.lexists(path):
                    _stale_previous(path, what)
            except OSError as error:
                raise OutputError(
                    f"{what} {path}: {error.strerror}", hint=f"give {what} another path"
                ) from error
        for what, path in named:
            created += ensure_writable_parent(path, what)
            created.sort(key=lambda directory: len(directory.parts), reverse=True)
    except BaseException:
        remove_empty_dirs(created)
        raise
    return created


def _put_back(path: Path, previous: Path | None) -> None:
    if previous is None:
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                path.unlink()
    elif os.path.lexists(path) and os.path.samestat(os.lstat(path), os.lstat(previous)):
        # unchanged (a rename onto its own hard link would do nothing): its copy is stale,
        # replaced by the next build when it cannot be removed now
        with contextlib.suppress(OSError):
            previous.unlink()
    else:
        previous.replace(path)


def _drop(kept: dict[Path, Path | None]) -> None:
    for previous in kept.values():
        if previous is not None:
            with contextlib.suppress(OSError):
                previous.unlink()
