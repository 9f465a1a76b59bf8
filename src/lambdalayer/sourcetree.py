"""A function's source directory, read and never followed: the one walker of function trees.

``build --function`` (the function zip), ``invoke --function`` (``/var/task``) and the
image's code layer read a function's directory through :func:`read_source_tree`. A source
tree is the user's, but what it holds may come from anywhere (a clone, an archive, a
generator), so it is read as a hostile input:

- a regular file is read (opened without following a link, checked to be a regular file
  once open, read to the bytes left of the budget);
- a symbolic link whose target lies inside the tree is read as what it names: a file's
  bytes at the link's path, a directory's files below it (zip tools disagree about links
  and AWS does not document what Lambda's extraction does with one, so the function
  package holds plain files either way);
- a link that leaves the tree (an absolute target, ``..`` past the root), one that names
  nothing, and one that loops (``.``, ``..``, a directory that holds the link, two links
  naming each other) is an error naming it; so is a device, a FIFO or a socket, which is
  never opened;
- everything together is at most Lambda's 262,144,000 unzipped bytes, 200,000 files and 64
  directories deep: a tree past that is an error, never a read of gigabytes.

A name a zip cannot hold safely (:func:`~lambdalayer.zipnames.unsafe_reason`: a control
character, bytes that are not UTF-8) is an error too: a function is deployed as a zip.
Hidden files and directories, ``__pycache__`` and ``.pyc``/``.pyo`` files are left out.

>>> [item.relative for item in read_source_tree(Path("src"))]  # doctest: +SKIP
['app.py', 'lib/util.py']
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from lambdalayer.errors import InputError
from lambdalayer.limits import UNZIPPED_LIMIT, quota_text
from lambdalayer.zipnames import printable, unsafe_reason

MAX_FILES = 200_000
MAX_DEPTH = 64
FILE_MODE, EXEC_MODE = 0o644, 0o755
_KINDS = {
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
}


@dataclass(frozen=True)
class SourceFile:
    """One file of a function's tree: its path inside it, its mode (0644 or 0755), its bytes."""

    relative: str
    mode: int
    data: bytes


@dataclass
class _Walk:
    """One walk: the tree's real root, what was read, and the directories being expanded."""

    root: Path
    budget: int
    limit: int
    files: list[SourceFile] = field(default_factory=list)
    expanding: list[Path] = field(default_factory=list)

    def refuse(self, place: Path, why: str) -> InputError:
        return InputError(
            f"function source {printable(str(place))} {why}",
            hint="keep the function's files inside its directory as files, directories and"
            " links to them (a link is read as what it names)",
        )


def _skipped(name: str) -> bool:
    return name.startswith(".") or name == "__pycache__" or name.endswith((".pyc", ".pyo"))


def read_source_tree(root: Path, budget: int = UNZIPPED_LIMIT) -> list[SourceFile]:
    """Every file of the function's directory ``root``, sorted by path (see the module)."""
    try:
        real_root = root.resolve(strict=True)
    except (OSError, RuntimeError) as error:
        raise InputError(f"function source {root} cannot be read: {error}") from error
    if not real_root.is_dir():
        raise InputError(f"function source {root} is not a directory")
    walk = _Walk(real_root, budget, budget)
    _directory(walk, real_root, "", root)
    return sorted(walk.files, key=lambda item: item.relative)


def _directory(walk: _Walk, real: Path, relative: str, shown: Path) -> None:
    """Read the directory ``real`` (inside the tree) as the tree's ``relative`` path."""
    if relative.count("/") >= MAX_DEPTH:
        raise walk.refuse(shown, f"is more than {MAX_DEPTH} directories deep")
    walk.expanding.append(real)
    try:
        with os.scandir(real) as entries:
            names = sorted(entry.name for entry in entries)
    except OSError as error:
        raise walk.refuse(shown, f"cannot be read: {error.strerror or error}") from error
    for name in names:
        if not _skipped(name):
            _entry(walk, real / name, f"{relative}{name}", shown / name)
    walk.expanding.pop()


def _entry(walk: _Walk, real: Path, relative: str, shown: Path) -> None:
    why_unsafe = unsafe_reason(relative)
    if why_unsafe is not None:  # what a zip cannot hold, the function cannot be deployed with
        raise walk.refuse(shown, f"has a name that {why_unsafe}")
    try:
        facts = real.lstat()
    except OSError as error:
        raise walk.refuse(shown, f"cannot be read: {error.strerror or error}") from error
    kind = stat.S_IFMT(facts.st_mode)
    if kind == stat.S_IFLNK:
        real = _link_target(walk, real, shown)
        facts = real.lstat()
        kind = stat.S_IFMT(facts.st_mode)
        if kind == stat.S_IFDIR and any(real == place for place in walk.expanding):
            raise walk.refuse(shown, "is a link to a directory that holds it: a loop")
    if kind == stat.S_IFDIR:
        _directory(walk, real, f"{relative}/", shown)
    elif kind == stat.S_IFREG:
        _file(walk, real, relative, shown)
    else:
        raise walk.refuse(shown, f"is {_KINDS.get(kind, 'not a file')}: it is never read")


def _link_target(walk: _Walk, link: Path, shown: Path) -> Path:
    """Where the link ``link`` leads, proved to lie inside the tree (never read from outside)."""
    written = link.readlink()
    target = str(written)
    if written.is_absolute():
        raise walk.refuse(shown, f"is a link to {printable(target)}, outside the source tree")
    try:
        real = link.resolve(strict=True)
    except RuntimeError as error:  # Python 3.11 and 3.12 say a loop this way
        raise walk.refuse(shown, f"is a link to {printable(target)}: a loop") from error
    except OSError as error:
        why = "a loop" if error.errno == 40 else "which names nothing"  # ELOOP
        raise walk.refuse(shown, f"is a link to {printable(target)}, {why}") from error
    if real != walk.root and walk.root not in real.parents:
        raise walk.refuse(shown, f"is a link to {printable(target)}, outside the source tree")
    return real


def _file(walk: _Walk, real: Path, relative: str, shown: Path) -> None:
    if len(walk.files) >= MAX_FILES:
        raise walk.refuse(shown, f"is past the {MAX_FILES:,} files a function's tree may hold")
    try:
        descriptor = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        raise walk.refuse(shown, f"cannot be read: {error.strerror or error}") from error
    with os.fdopen(descriptor, "rb") as stream:
        facts = os.fstat(stream.fileno())
        if not stat.S_ISREG(facts.st_mode):  # swapped since it was looked at
            raise walk.refuse(shown, "is not a regular file: it is never read")
        data = stream.read(walk.budget + 1)
    if len(data) > walk.budget:
        raise walk.refuse(
            shown,
            f"takes the tree past {walk.limit:,} bytes (Lambda's unzipped limit for a function"
            f" and its layers is {quota_text(UNZIPPED_LIMIT)})",
        )
    walk.budget -= len(data)
    mode = EXEC_MODE if facts.st_mode & 0o111 else FILE_MODE
    walk.files.append(SourceFile(relative, mode, data))
