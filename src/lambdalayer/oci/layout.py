"""The OCI image layout (image-spec ``image-layout.md``): a directory, or a tar of one,
holding ``oci-layout``, ``index.json`` and ``blobs/sha256/<hex>``.

:func:`write_archive` writes the tar lambdalayer's ``image build -o image.tar`` gives
(readable by ``skopeo copy oci-archive:…``, ``umoci`` after extraction, ``podman load``):
members sorted, dated 1980-01-01, owned by 0:0, so the same image gives the same archive.
:class:`LayoutReader` reads one as a base image, each blob checked against its digest.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import stat
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from lambdalayer.errors import InputError, UnsafeArchiveError
from lambdalayer.limits import IMAGE_LIMIT
from lambdalayer.ocimedia import (
    DIGEST,
    INDEX_TYPES,
    MANIFEST_TYPES,
    MAX_DOCUMENT_BYTES,
    OCI_ARCH,
    OCI_INDEX,
    descriptor,
    json_object,
)
from lambdalayer.unpack import Quota, tar_member

LAYOUT_FILE = b'{"imageLayoutVersion":"1.0.0"}'
REF_NAME = "org.opencontainers.image.ref.name"
_EPOCH = 315532800  # 1980-01-01, as every zip member and layer member
ARCHIVE_QUOTA = Quota(IMAGE_LIMIT, members=100_000)  # a layout archive read as Lambda's images
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _member(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.mtime, info.uid, info.gid, info.uname, info.gname = _EPOCH, 0, 0, "", ""
    return info


def write_archive(
    out: IO[bytes],
    manifest: bytes,
    manifest_type: str,
    ref_name: str,
    blobs: Mapping[str, Path | bytes],
    platform: Mapping[str, str],
) -> None:
    """Write the layout of one image as a tar to ``out``: the manifest (tagged
    ``ref_name``) and every blob it needs (``blobs``: digest → file or bytes)."""
    manifest_digest = f"sha256:{hashlib.sha256(manifest).hexdigest()}"
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            descriptor(
                manifest_type,
                manifest_digest,
                len(manifest),
                annotations={REF_NAME: ref_name},
                platform=dict(platform),
            )
        ],
    }
    everything: dict[str, Path | bytes] = {**blobs, manifest_digest: manifest}
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as archive:
        for name in ("blobs", "blobs/sha256"):
            archive.addfile(_member(name, 0, tarfile.DIRTYPE))
        for digest in sorted(everything):
            content = everything[digest]
            name = f"blobs/sha256/{digest.removeprefix('sha256:')}"
            if isinstance(content, bytes):
                archive.addfile(_member(name, len(content)), io.BytesIO(content))
            else:
                with content.open("rb") as stream:
                    archive.addfile(_member(name, content.stat().st_size), stream)
        index_bytes = json.dumps(index, separators=(",", ":")).encode()
        archive.addfile(_member("index.json", len(index_bytes)), io.BytesIO(index_bytes))
        archive.addfile(_member("oci-layout", len(LAYOUT_FILE)), io.BytesIO(LAYOUT_FILE))


class LayoutReader:
    """An OCI image layout, a directory or a tar archive of one.

    Every file of it is read as a regular file and to a bound: ``oci-layout``,
    ``index.json`` and manifests to :data:`MAX_DOCUMENT_BYTES`, a blob to the size its
    descriptor declares. A link, FIFO, device or directory where a file must be is one
    error (nothing waits on a FIFO or reads a device); the directory's own ``blobs`` and
    ``blobs/sha256`` are never followed through a link.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.archive = path.is_file()
        if self.archive:
            try:
                with tar_member(path, "oci-layout", ARCHIVE_QUOTA, str(path)):
                    pass
            except UnsafeArchiveError as error:
                not_tar = isinstance(error.__cause__, tarfile.ReadError)
                raise InputError(
                    f"{path} is not an OCI image layout archive"
                    f" ({'not a tar archive' if not_tar else error.message})",
                    hint="give an OCI layout directory or its tar (skopeo copy … oci-archive:FILE),"
                    " or a registry's image",
                ) from error
        elif not (path / "oci-layout").is_file():
            raise InputError(f"{path} is not an OCI image layout (no oci-layout file)")
        else:
            self._read("oci-layout")  # a regular file of the layout's own, not a link

    @contextlib.contextmanager
    def _open(self, name: str, limit: int) -> Iterator[tuple[IO[bytes], int]]:
        """One file of the layout open for reading, and its size (at most ``limit`` bytes)."""
        if self.archive:
            try:
                with tar_member(self.path, name, ARCHIVE_QUOTA, str(self.path)) as (stream, size):
                    _bounded(self.path, name, size, limit)
                    yield stream, size
            except UnsafeArchiveError as error:
                raise InputError(error.message) from error
            return
        with _regular_file(self.path, name) as (stream, size):
            _bounded(self.path, name, size, limit)
            yield stream, size

    def _read(self, name: str) -> bytes:
        with self._open(name, MAX_DOCUMENT_BYTES) as (stream, size):
            return stream.read(size)

    def blob(self, digest: str) -> bytes:
        """A small blob's bytes (a manifest, an index), checked against its digest."""
        if not DIGEST.fullmatch(digest):
            raise InputError(f"{self.path} names a blob {digest!r}")
        data = self._read(f"blobs/sha256/{digest.removeprefix('sha256:')}")
        if f"sha256:{hashlib.sha256(data).hexdigest()}" != digest:
            raise InputError(f"{self.path}: blob {digest} does not match its digest")
        return data

    def copy_blob(self, digest: str, out: Path, *, size: int | None = None) -> int:
        """Copy a blob of ``size`` declared bytes into the file ``out``, checked against its
        digest and size; returns its size."""
        if not DIGEST.fullmatch(digest):
            raise InputError(f"{self.path} names a blob {digest!r}")
        name = f"blobs/sha256/{digest.removeprefix('sha256:')}"
        sha, copied = hashlib.sha256(), 0
        limit = IMAGE_LIMIT if size is None else size
        with self._open(name, limit) as (source, found), out.open("wb") as target:
            if size is not None and found != size:
                raise InputError(
                    f"{self.path}: blob {digest} is {found:,} bytes; its descriptor says {size:,}"
                )
            while copied < found and (chunk := source.read(min(1 << 20, found - copied))):
                sha.update(chunk)
                target.write(chunk)
                copied += len(chunk)
        if f"sha256:{sha.hexdigest()}" != digest:
            out.unlink(missing_ok=True)
            raise InputError(f"{self.path}: blob {digest} does not match its digest")
        return copied

    def manifest(
        self, machine: str, ref_name: str | None = None
    ) -> tuple[dict[str, Any], bytes, str]:
        """The image manifest for ``linux/<machine>`` (tagged ``ref_name``, if given):
        the manifest, its bytes and its digest."""
        index = json_object(self._read("index.json"), f"{self.path}/index.json", InputError)
        wanted = OCI_ARCH[machine]
        candidates = [
            item
            for item in _list(index.get("manifests"))
            if ref_name is None or _dict(item.get("annotations")).get(REF_NAME) == ref_name
        ]
        for _depth in range(3):  # an index may name an index
            chosen = _choose(candidates, wanted)
            if chosen is None:
                break
            body = self.blob(str(chosen.get("digest")))
            document = json_object(body, f"{self.path}: manifest {chosen['digest']}", InputError)
            if chosen.get("mediaType") in MANIFEST_TYPES or "layers" in document:
                return document, body, str(chosen["digest"])
            if chosen.get("mediaType") in INDEX_TYPES or "manifests" in document:
                candidates = _list(document.get("manifests"))
                continue
            break
        named = f" tagged {ref_name}" if ref_name else ""
        raise InputError(f"{self.path} holds no image{named} for linux/{wanted}")


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _bounded(layout: Path, name: str, size: int, limit: int) -> None:
    if size > limit:
        raise InputError(f"{layout}: {name} is {size:,} bytes, over the {limit:,} it may be")


@contextlib.contextmanager
def _regular_file(layout: Path, name: str) -> Iterator[tuple[IO[bytes], int]]:
    """``layout/name`` open, every step below ``layout`` taken without following a link."""
    *directories, leaf = name.split("/")
    opened: list[int] = []
    try:
        fd = os.open(layout, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        opened.append(fd)
        for directory in directories:
            fd = os.open(directory, _OPEN_DIR, dir_fd=fd)
            opened.append(fd)
        fd = os.open(leaf, _OPEN_FILE, dir_fd=fd)
        opened.append(fd)
        info = os.fstat(fd)
    except OSError as error:
        for descriptor in opened:
            os.close(descriptor)
        why = "is a link" if error.errno == errno.ELOOP else error.strerror
        raise InputError(f"{layout}: cannot read {name}: {why}") from error
    for descriptor in opened[:-1]:
        os.close(descriptor)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise InputError(f"{layout}: {name} is not a regular file")
    os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as stream:
        yield stream, info.st_size


def _choose(candidates: list[dict[str, Any]], wanted: str) -> dict[str, Any] | None:
    fitting = [
        item
        for item in candidates
        if item.get("platform") is None
        or (
            _dict(item["platform"]).get("os") == "linux"
            and _dict(item["platform"]).get("architecture") == wanted
        )
    ]
    return fitting[0] if len(fitting) >= 1 else None
