"""A layer written as a directory tree (what SAM's ``$(ARTIFACTS_DIR)`` and CDK bundling take).

The tree holds exactly the zip's entries, with the zip's Unix modes and one fixed mtime
(1980-01-01, the zip's), so that a tool that zips the directory again gets the same
files whatever machine made them. Only what the layer owns is replaced: files of the
previous layer written here that the new one lacks are removed (the list of what was
written is kept in the cache, keyed by the directory, never inside it — the directory's
whole content would be packaged); other files are left alone. Each file is written under
a temporary name and renamed into place. A symbolic link inside the directory is never
followed, for writing or for removing: a tree whose ``python/`` is a link elsewhere is an
error, not a layer written (or files deleted) somewhere else.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import zipfile
from pathlib import Path

from lambdalayer.cache import Bucket, Cache, key_of
from lambdalayer.errors import OutputError
from lambdalayer.layer.archive import EARLIEST_ZIP_EPOCH
from lambdalayer.zipnames import extraction_path, is_safe


def _previous_files(cache: Cache, key: str) -> set[str]:
    """What lambdalayer wrote into the directory last time (a record it can trust), else none."""
    if not cache.admit(Bucket.OUTPUTS, key):
        return set()
    try:
        return set(json.loads(cache.mark(Bucket.OUTPUTS, key).read_text("utf-8"))["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def _symlink_within(directory: Path, target: Path) -> Path | None:
    """The first symbolic link on the way from ``directory`` (exclusive) to ``target``."""
    relative = target.relative_to(directory)
    place = directory
    for part in relative.parts:
        place = place / part
        if place.is_symlink():
            return place
    return None


def _refuse_symlinks(directory: Path, target: Path) -> None:
    link = _symlink_within(directory, target)
    if link is not None:
        raise OutputError(
            f"{link} is a symbolic link: lambdalayer writes a layer's tree only into real"
            " directories (a link would carry it elsewhere)",
            hint=f"remove the link, or choose another -o directory than {directory}",
        )


def _write_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, mode: int) -> None:
    """One file under a temporary name (created, never followed), then renamed over ``target``."""
    partial = target.with_name(f".{target.name}.lambdalayer-tmp")
    partial.unlink(missing_ok=True)  # a link planted there is removed, not written through
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with archive.open(info) as source, os.fdopen(descriptor, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
    partial.chmod(mode or 0o644)
    os.utime(partial, (EARLIEST_ZIP_EPOCH, EARLIEST_ZIP_EPOCH))
    partial.replace(target)


def install_tree(zip_path: Path, directory: Path, cache_dir: Path) -> int:
    """Write the members of ``zip_path`` under ``directory``; returns the number of files."""
    cache, key = Cache.at(cache_dir), key_of(str(directory.resolve()))
    previous = _previous_files(cache, key)
    written: list[str] = []
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(zip_path) as archive:
            for info in archive.infolist():  # before anything is written
                _refuse_symlinks(directory, directory / info.filename.rstrip("/"))
            for info in archive.infolist():
                target = extraction_path(directory, info.filename)
                if target is None:  # pragma: no cover - our own zips have only safe names
                    raise OutputError(f"{info.filename} would land outside {directory}")
                mode = (info.external_attr >> 16) & 0o777
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    target.chmod(mode or 0o755)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                _write_member(archive, info, target, mode)
                written.append(info.filename)
            for info in archive.infolist():  # directories last: writing files changed their times
                if (
                    info.is_dir()
                    and (target := extraction_path(directory, info.filename)) is not None
                ):
                    os.utime(target, (EARLIEST_ZIP_EPOCH, EARLIEST_ZIP_EPOCH))
    except OSError as error:
        raise OutputError(f"cannot write the layer into {directory}: {error.strerror}") from error
    for stale in sorted(previous - set(written)):
        if not is_safe(stale) or _symlink_within(directory, (directory / stale).parent) is not None:
            continue  # never removed through a link
        with contextlib.suppress(OSError, ValueError):
            (directory / stale).unlink()
    cache.bucket(Bucket.OUTPUTS)
    cache.write(
        Bucket.OUTPUTS,
        key,
        json.dumps({"directory": str(directory.resolve()), "files": sorted(written)}).encode(),
    )
    return len(written)
