"""The one rule for zip member names: what may be written, extracted or trusted.

Every place that reads or writes a zip (the zip writer, assemble, the import check's
extraction, the check itself) asks :func:`unsafe_reason`. A member name that is absolute,
climbs out with ``..``, is empty, uses a backslash or a drive letter, or holds a NUL would
land somewhere other than where it says on Lambda (``unzip`` strips a leading ``/``;
Python's ``zipfile`` drops ``..``) — or, extracted naively, outside the directory meant
to hold it. Nothing is written for such a member anywhere.

Every zip is opened by :func:`open_zip`: a zip that cannot be read (not a zip, truncated, a
member name that is not UTF-8 though its flag says it is) is one :class:`InputError`, and a
member without a name — which ``zipfile`` itself cannot handle (``ZipInfo.is_dir()``
fails on it) — is taken out of the member list and counted, so no reader meets it.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from lambdalayer.errors import InputError

NAME_MAX = 255  # bytes of one path segment on Linux filesystems
PATH_MAX = 4096
# Relative names of printable ASCII without a backslash, a colon or an empty segment.
_PLAIN = re.compile(r"[!-.0-9;-\[\]-~][ -.0-9;-\[\]-~]*(?:/[ -.0-9;-\[\]-~]+)*/?")


def unsafe_reason(name: str) -> str | None:
    """Why ``name`` is not a safe relative member name, or ``None`` when it is.

    >>> unsafe_reason("python/six.py") is None
    True
    >>> unsafe_reason("../../etc/passwd")
    "climbs out of the archive with '..'"
    """
    if (
        name != "."
        and _PLAIN.fullmatch(name)
        and ".." not in name.split("/")
        and len(name) <= NAME_MAX
    ):
        return None  # the common case, decided at once: printable ASCII, short, no dot-dot
    parts = PurePosixPath(name).parts
    rules = (
        (not name or name in {"/", "."}, "is empty"),
        ("\x00" in name, "holds a NUL byte"),
        (name.startswith("/"), "is an absolute path"),
        ("\\" in name, "holds a backslash (a Windows path)"),
        (".." in parts, "climbs out of the archive with '..'"),
        (bool(parts) and len(parts[0]) >= 2 and parts[0][1] == ":", "starts with a drive letter"),
        ("" in name.rstrip("/").split("/"), "has an empty path segment"),
        (any(not char.isprintable() for char in name), "holds a control character"),
        (
            len(name.encode("utf-8", "surrogateescape")) > PATH_MAX
            or any(len(part.encode("utf-8", "surrogateescape")) > NAME_MAX for part in parts),
            "is longer than a Linux path may be",
        ),
    )
    return next((reason for broken, reason in rules if broken), None)


def printable(name: str, keep: str = "") -> str:
    """``name`` with control characters escaped (but those in ``keep``), safe to print on a
    terminal.

    >>> printable("python/\x1b[2Jx.py")
    'python/\\x1b[2Jx.py'
    """
    return "".join(
        char if char.isprintable() or char in keep else repr(char)[1:-1] for char in name
    )


def is_safe(name: str) -> bool:
    """Whether ``name`` may be written or extracted as it is."""
    return unsafe_reason(name) is None


def extraction_path(root: Path, name: str, verified: set[Path] | None = None) -> Path | None:
    """Where member ``name`` goes under ``root``, or ``None`` when it would leave ``root``.

    Checks the name and, as a second guard, the resolved path (a symlink planted by an
    earlier member cannot redirect a later one outside ``root``). ``verified`` keeps the
    directories already proved to lie inside ``root`` during one extraction (which writes
    regular files only), so that each is resolved once.
    """
    if unsafe_reason(name) is not None:
        return None
    destination = root / name
    if verified is not None and destination.parent in verified:
        return destination
    try:
        destination.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    if verified is not None:
        verified.add(destination.parent)
    return destination


# What opening a damaged or hostile zip raises, besides zipfile's own BadZipFile.
_OPEN_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    ValueError,  # UnicodeDecodeError among them: a name not UTF-8 though flagged UTF-8
    IndexError,
    OverflowError,
    struct.error,
    zlib.error,
    NotImplementedError,
    RuntimeError,
)


class NamedMembersZip(zipfile.ZipFile):
    """A :class:`zipfile.ZipFile` whose member list holds only members with a name.

    ``nameless`` counts the members set aside (a name of zero bytes).
    """

    nameless = 0

    def _RealGetContents(self) -> None:  # noqa: N802 - zipfile's own name
        super()._RealGetContents()  # type: ignore[misc]
        named = [info for info in self.filelist if info.filename]
        self.nameless = len(self.filelist) - len(named)
        if self.nameless:
            self.filelist = named
            self.NameToInfo.pop("", None)


def _why_unreadable(error: BaseException) -> str:
    if isinstance(error, UnicodeDecodeError):
        raw = bytes(error.object)
        return (
            f"a member's name '{printable(raw.decode('utf-8', 'backslashreplace'))}' is not"
            " UTF-8, though the zip says it is"
        )
    return str(error) or type(error).__name__


def open_zip(path: Path) -> NamedMembersZip:
    """``path`` opened for reading; :class:`InputError` when it is not a zip that can be read.

    Members without a name are left out (see :class:`NamedMembersZip`).
    """
    try:
        return NamedMembersZip(path)
    except _OPEN_ERRORS as error:
        raise InputError(
            f"{path} is not a readable zip: {_why_unreadable(error)}",
            hint="give a zip made by a zip tool (zip -r, lambdalayer build)",
        ) from error
