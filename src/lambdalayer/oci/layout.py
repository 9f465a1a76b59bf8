"""The OCI image layout (image-spec ``image-layout.md``): a directory, or a tar of one,
holding ``oci-layout``, ``index.json`` and ``blobs/sha256/<hex>``.

:func:`write_archive` writes the tar lambdalayer's ``image build -o image.tar`` gives
(readable by ``skopeo copy oci-archive:…``, ``umoci`` after extraction, ``podman load``):
members sorted, dated 1980-01-01, owned by 0:0, so the same image gives the same archive.
:class:`LayoutReader` reads one as a base image, each blob checked against its digest.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from lambdalayer.errors import InputError
from lambdalayer.oci.media import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    OCI_ARCH,
    OCI_INDEX,
    descriptor,
    json_object,
)
from lambdalayer.oci.reference import DIGEST

LAYOUT_FILE = b'{"imageLayoutVersion":"1.0.0"}'
REF_NAME = "org.opencontainers.image.ref.name"
_EPOCH = 315532800  # 1980-01-01, as every zip member and layer member


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
    """An OCI image layout, a directory or a tar archive of one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.archive = path.is_file()
        if self.archive:
            try:
                with tarfile.open(path):
                    pass
            except (tarfile.TarError, OSError) as error:
                reason = "not a tar archive" if isinstance(error, tarfile.TarError) else error
                raise InputError(
                    f"{path} is not an OCI image layout archive ({reason})",
                    hint="give an OCI layout directory or its tar (skopeo copy … oci-archive:FILE),"
                    " or a registry's image",
                ) from error
        elif not (path / "oci-layout").is_file():
            raise InputError(f"{path} is not an OCI image layout (no oci-layout file)")

    @contextlib.contextmanager
    def _open(self, name: str) -> Iterator[IO[bytes]]:
        """One file of the layout, open for reading (an archive is opened for each)."""
        if not self.archive:
            try:
                stream = (self.path / name).open("rb")
            except OSError as error:
                raise InputError(f"{self.path}: cannot read {name}: {error.strerror}") from error
            with stream:
                yield stream
            return
        with tarfile.open(self.path) as archive:
            member = None
            for candidate in (name, f"./{name}"):
                with contextlib.suppress(KeyError):
                    member = archive.getmember(candidate)
                    break
            found = archive.extractfile(member) if member is not None and member.isfile() else None
            if found is None:
                raise InputError(f"{self.path} has no file {name}")
            with found:
                yield found

    def _read(self, name: str) -> bytes:
        with self._open(name) as stream:
            return stream.read()

    def blob(self, digest: str) -> bytes:
        """A blob's bytes, checked against its digest."""
        if not DIGEST.fullmatch(digest):
            raise InputError(f"{self.path} names a blob {digest!r}")
        data = self._read(f"blobs/sha256/{digest.removeprefix('sha256:')}")
        if f"sha256:{hashlib.sha256(data).hexdigest()}" != digest:
            raise InputError(f"{self.path}: blob {digest} does not match its digest")
        return data

    def copy_blob(self, digest: str, out: Path) -> int:
        """Copy a blob into the file ``out``, checked against its digest; returns its size."""
        if not DIGEST.fullmatch(digest):
            raise InputError(f"{self.path} names a blob {digest!r}")
        name = f"blobs/sha256/{digest.removeprefix('sha256:')}"
        sha, size = hashlib.sha256(), 0
        with self._open(name) as source, out.open("wb") as target:
            while chunk := source.read(1 << 20):
                sha.update(chunk)
                target.write(chunk)
                size += len(chunk)
        if f"sha256:{sha.hexdigest()}" != digest:
            out.unlink(missing_ok=True)
            raise InputError(f"{self.path}: blob {digest} does not match its digest")
        return size

    def manifest(
        self, machine: str, ref_name: str | None = None
    ) -> tuple[dict[str, Any], bytes, str]:
        """The image manifest for ``linux/<machine>`` (tagged ``ref_name``, if given):
        the manifest, its bytes and its digest."""
        index = json_object(self._read("index.json"), f"{self.path}/index.json", InputError)
        wanted = OCI_ARCH[machine]
        candidates = [
            item
            for item in index.get("manifests", [])
            if isinstance(item, dict)
            and (ref_name is None or item.get("annotations", {}).get(REF_NAME) == ref_name)
        ]
        for _depth in range(3):  # an index may name an index
            chosen = _choose(candidates, wanted)
            if chosen is None:
                break
            body = self.blob(str(chosen["digest"]))
            document = json_object(body, f"{self.path}: manifest {chosen['digest']}", InputError)
            if chosen.get("mediaType") in MANIFEST_TYPES or "layers" in document:
                return document, body, str(chosen["digest"])
            if chosen.get("mediaType") in INDEX_TYPES or "manifests" in document:
                candidates = [m for m in document.get("manifests", []) if isinstance(m, dict)]
                continue
            break
        named = f" tagged {ref_name}" if ref_name else ""
        raise InputError(f"{self.path} holds no image{named} for linux/{wanted}")


def _choose(candidates: list[dict[str, Any]], wanted: str) -> dict[str, Any] | None:
    fitting = [
        item
        for item in candidates
        if item.get("platform") is None
        or (
            item["platform"].get("os") == "linux" and item["platform"].get("architecture") == wanted
        )
    ]
    return fitting[0] if len(fitting) >= 1 else None
