"""Archives of any shape for the hostile tests: tar members of every type, zip members with
Unix modes (links), and an image made of such layers, unpacked as lambdalayer unpacks one."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


@dataclass(frozen=True)
class Member:
    """One tar member: ``kind`` is a tarfile type (``tarfile.REGTYPE``, ``LNKTYPE`` …)."""

    name: str
    kind: bytes = tarfile.REGTYPE
    data: bytes = b""
    link: str = ""
    mode: int = 0o644
    uid: int = 0
    declared_size: int | None = None  # a header that lies about the size
    pax: dict[str, str] = field(default_factory=dict)


def tar_bytes(members: Sequence[Member], *, compress: bool = True) -> bytes:
    """A tar (gzip unless ``compress`` is false) of ``members`` in the order given."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type, info.mode, info.uid, info.gid = (
                member.kind,
                member.mode,
                member.uid,
                member.uid,
            )
            info.mtime = 1_000_000
            info.linkname = member.link
            info.pax_headers = dict(member.pax)
            if member.kind in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE):
                info.size = len(member.data)
                archive.addfile(info, io.BytesIO(member.data))
            else:
                archive.addfile(info)
    data = raw.getvalue()
    return gzip.compress(data, mtime=0) if compress else data


def lying_tar(name: str, declared: int, actual: bytes) -> bytes:
    """A gzip tar of one regular member whose header declares ``declared`` bytes."""
    info = tarfile.TarInfo(name)
    info.size = declared
    header = info.tobuf(format=tarfile.GNU_FORMAT)
    return gzip.compress(header + actual, mtime=0)


def zip_bytes(members: Sequence[tuple[str, bytes, int]]) -> bytes:
    """A zip of (name, data, Unix mode with file type) members; a link's data is its target."""
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w") as archive:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = (mode & 0xFFFF) << 16
            if stat.S_ISDIR(mode):
                info.external_attr |= 0x10
            with warnings.catch_warnings():  # a name twice is one of the hostile cases
                warnings.simplefilter("ignore", UserWarning)
                archive.writestr(info, data)
    return raw.getvalue()


def symlink_mode() -> int:
    """The Unix mode of a symbolic link member."""
    return stat.S_IFLNK | 0o777


def digest(data: bytes) -> str:
    """``sha256:<hex>``."""
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def unpack_image(layers: Sequence[bytes], cache: Path) -> Path:
    """The root lambdalayer unpacks from an image of ``layers`` (as ``image pull`` does)."""
    from lambdalayer.environment.image import ImageSource, unpacked_image

    blobs = {digest(layer): layer for layer in layers}

    def fetch(wanted: str, out: Path, *, size: int | None = None) -> int:
        assert size == len(blobs[wanted])
        out.write_bytes(blobs[wanted])
        return len(blobs[wanted])

    manifest = {
        "layers": [
            {"mediaType": LAYER_TYPE, "digest": digest(layer), "size": len(layer)}
            for layer in layers
        ]
    }
    source = ImageSource("test/image:1", digest(json.dumps(manifest).encode()), "x86_64", fetch)
    return unpacked_image(source, manifest, cache).rootfs


def snapshot(
    root: Path, skip: Sequence[Path] = ()
) -> dict[str, tuple[int, int, int, int, int, str]]:
    """Every path under ``root`` but ``skip``: (mode, uid, size, mtime, links, sha256)."""
    found: dict[str, tuple[int, int, int, int, int, str]] = {}
    for directory, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(directory) / name
            if any(path == place or place in path.parents for place in skip):
                continue
            info = path.lstat()
            content = ""
            if stat.S_ISREG(info.st_mode):
                content = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(root))] = (
                info.st_mode,
                info.st_uid,
                info.st_size,
                int(info.st_mtime),
                info.st_nlink,
                content,
            )
    return found
