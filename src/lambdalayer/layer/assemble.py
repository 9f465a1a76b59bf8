"""Lay wheels out as a layer: each member mapped to its place the way an installer would.

Works from the wheel files themselves (no install tree): the result is a list of archive
entries, most of them raw members that :mod:`lambdalayer.layer.archive` copies without
recompressing. ``purelib``/``platlib`` and ``.data/purelib|platlib`` go to the layer's
site-packages directory; ``.data/data`` to the layer's prefix (``python/``); console
scripts and C headers are not needed on Lambda and are left out.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from lambdalayer.errors import AssembleError
from lambdalayer.layer.archive import EXEC_MODE, FILE_MODE, Entry, RawMember
from lambdalayer.sourcetree import read_source_tree
from lambdalayer.targets import Layout, Target
from lambdalayer.zipnames import open_zip, unsafe_reason

# .data/<scheme>/ of a wheel → where it goes, relative to the layer's python/ prefix
# (None: left out, as nothing on Lambda runs or compiles against it).
_DATA_SCHEMES: dict[str, str | None] = {
    "purelib": "{site}",
    "platlib": "{site}",
    "data": "{data}",  # sys.prefix: python/ in a layer (/opt/python), var/lang/ in an image
    "scripts": None,
    "headers": None,
}


@dataclass(frozen=True)
class Distribution:
    """One wheel as laid out in the layer."""

    name: str
    version: str
    wheel: str
    files: int
    unzipped_bytes: int


@dataclass(frozen=True)
class Assembly:
    """One wheel's members at their places in the layer, and the distribution they make."""

    entries: tuple[Entry, ...]
    distribution: Distribution


def _safe_member(wheel: str, name: str) -> PurePosixPath:
    """The member's path, refusing anything that would land outside the layer."""
    reason = unsafe_reason(name)
    if reason is not None:
        raise AssembleError(
            f"{wheel} has a member that would escape the layer: {name!r} {reason}",
            hint="this wheel is malformed or malicious; do not use it",
        )
    return PurePosixPath(name)


def _destination(member: PurePosixPath, data_dir: str, site: str, data: str) -> str | None:
    parts = member.parts
    if parts[0] != data_dir:
        return site + member.as_posix()
    if len(parts) < 3 or parts[1] not in _DATA_SCHEMES:
        raise AssembleError(f"unknown wheel data scheme in {member.as_posix()}")
    place = _DATA_SCHEMES[parts[1]]
    if place is None:
        return None
    return place.format(site=site, data=data) + "/".join(parts[2:])


def _mode(info: zipfile.ZipInfo) -> int:
    unix_mode = info.external_attr >> 16
    return EXEC_MODE if unix_mode & 0o111 else FILE_MODE


def assemble(wheel_path: Path, target: Target, layout: Layout = Layout.SITE_PACKAGES) -> Assembly:
    """Map the members of one wheel to layer paths for ``target``.

    Every entry's ``origin`` is the distribution's name. Raises :class:`AssembleError` for
    a wheel that does not fit the target or has a member whose path would leave the layer.
    """
    site = target.site_packages_prefix(layout)
    data = "var/lang/" if layout is Layout.IMAGE else "python/"
    wheel = wheel_path.name
    try:
        name, version, _, _ = parse_wheel_filename(wheel)
    except InvalidWheelFilename as error:
        raise AssembleError(f"not a wheel file name: {wheel}") from error
    if not target.fits(wheel):
        raise AssembleError(
            f"{wheel} does not fit {target.runtime.name} on {target.arch}",
            hint="the lock names a wheel for another platform; resolve again for this target",
        )
    data_dir = f"{wheel.split('-')[0]}-{wheel.split('-')[1]}.data"
    entries: dict[str, Entry] = {}
    try:
        with open_zip(wheel_path) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                destination = _destination(_safe_member(wheel, info.filename), data_dir, site, data)
                if destination is None or destination in entries:
                    continue  # a path twice in one wheel: the first is what an installer keeps
                if info.compress_type == zipfile.ZIP_DEFLATED:
                    raw = RawMember.of(wheel_path, info)
                    entry = Entry(destination, _mode(info), raw=raw, origin=name)
                else:
                    entry = Entry(destination, _mode(info), data=archive.read(info), origin=name)
                entries[destination] = entry
    except (zipfile.BadZipFile, OSError) as error:
        raise AssembleError(f"cannot read wheel {wheel}: {error}") from error
    unzipped = sum(entry.size for entry in entries.values())
    distribution = Distribution(name, str(version), wheel, len(entries), unzipped)
    return Assembly(tuple(entries.values()), distribution)


def function_entries(source: Path) -> list[Entry]:
    """The handler code of a function package, as entries at the zip's root.

    A directory with an ``__init__.py`` is a package and keeps its name (``app/...``);
    any other directory contributes its contents (``handler.py``, ``lib/...``). Read by
    :func:`~lambdalayer.sourcetree.read_source_tree` (links read as what they name inside the
    tree, never followed out of it; bytecode caches and hidden files left out).
    """
    if not source.is_dir():
        raise AssembleError(f"function source {source} is not a directory")
    prefix = f"{source.name}/" if (source / "__init__.py").is_file() else ""
    return [
        Entry(prefix + item.relative, EXEC_MODE if item.mode & 0o111 else FILE_MODE, data=item.data)
        for item in read_source_tree(source)
    ]
