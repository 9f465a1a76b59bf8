"""The image built on: a registry's image (AWS's base image by default), or an OCI layout.

The base is pinned by its platform manifest's digest (recorded in the output), and must be
one image for ``linux/<the target's CPU>``: a registry's index is followed to that
platform's manifest, as Lambda takes one single-platform manifest per function
("Lambda provides multi-architecture base images. However, the image you build for your
function must target only one of the architectures. Lambda does not support functions that
use multi-architecture container images." — docs.aws.amazon.com/lambda/latest/dg/images-create.html).
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdalayer.blobstore import BlobStore, FetchBlob
from lambdalayer.errors import FetchError, InputError, option
from lambdalayer.limits import IMAGE_LIMIT
from lambdalayer.oci.client import RegistryClient, platform_manifest
from lambdalayer.oci.credentials import Credentials
from lambdalayer.oci.layout import LayoutReader
from lambdalayer.oci.reference import ImageReference
from lambdalayer.ocimedia import (
    GZIP_LAYERS,
    LAYER_TYPES,
    MANIFEST_TYPES,
    OCI_ARCH,
    declared_size,
    json_object,
)
from lambdalayer.targets import Target


@dataclass(frozen=True)
class BaseImage:
    """A base image's manifest and config, and where its blobs come from."""

    name: str  # as given
    digest: str  # its platform manifest's
    manifest_type: str
    manifest: dict[str, Any]
    config: dict[str, Any]
    config_bytes: bytes
    fetch_blob: FetchBlob
    reference: ImageReference | None = None  # a registry's image (None: a layout on disk)

    @property
    def layers(self) -> list[dict[str, Any]]:
        """Its layers' descriptors, in order."""
        layers = self.manifest.get("layers", [])
        return (
            [item for item in layers if isinstance(item, dict)] if isinstance(layers, list) else []
        )

    @property
    def pinned(self) -> str:
        """The base named by its digest: ``host/repository@sha256:…`` or ``PATH@sha256:…``."""
        if self.reference is not None:
            return self.reference.pinned(self.digest).uri
        return f"{self.name}@{self.digest}"

    def declared_size(self, digest: str) -> int:
        """The size its manifest declares for the blob ``digest`` (its config or a layer)."""
        for item in [self.manifest.get("config"), *self.layers]:
            if isinstance(item, dict) and item.get("digest") == digest:
                return declared_size(item, f"the base {self.name}'s blob {digest}", InputError)
        raise InputError(f"the base {self.name} has no blob {digest}")

    def uncompressed_bytes(self, store: BlobStore) -> int:
        """Its layers' size uncompressed (what Lambda's 10 GB counts), each layer read once
        from the store; counting stops past the limit."""
        total = 0
        for layer in self.layers:
            digest, gzipped = str(layer.get("digest")), layer.get("mediaType") in GZIP_LAYERS
            total += _unpacked_size(self.local_blob(digest, store), gzipped=gzipped)
            if total > IMAGE_LIMIT:
                break
        return total

    def local_blob(self, digest: str, store: BlobStore) -> Path:
        """One of its blobs in the cache's store (fetched the first time, to its declared size)."""
        size = self.declared_size(digest)
        if store.has(digest, size):
            return store.path(digest)
        with store.writing() as scratch:
            self.fetch_blob(digest, scratch, size=size)
            return store.keep(scratch, digest)


def resolve_base(
    name: str, target: Target, store: BlobStore, credentials: Credentials
) -> BaseImage:
    """The base ``name`` for ``target``: an OCI layout (directory or archive) when such a path
    exists, else a registry's image. Raises :class:`InputError` for one that does not fit."""
    path = Path(name)
    if path.exists():
        reader = LayoutReader(path)
        manifest, _body, digest = reader.manifest(target.machine)
        fetch: FetchBlob = reader.copy_blob
        reference = None
    else:
        reference = ImageReference.parse(name)
        client = RegistryClient(reference, credentials)
        manifest, _body, digest = platform_manifest(client, reference.reference, target.machine)
        fetch = client.blob
    manifest_type = str(manifest.get("mediaType") or "")
    if manifest_type not in MANIFEST_TYPES:
        manifest_type = _guess_type(manifest, name)
    config_descriptor = manifest.get("config")
    if not isinstance(config_descriptor, dict) or "digest" not in config_descriptor:
        raise InputError(f"the base {name}'s manifest {digest} names no config")
    base = BaseImage(name, digest, manifest_type, manifest, {}, b"", fetch, reference)
    config_bytes = base.local_blob(str(config_descriptor["digest"]), store).read_bytes()
    config = json_object(config_bytes, f"the base {name}'s config", InputError)
    _check_fits(name, manifest, config, target)
    return BaseImage(name, digest, manifest_type, manifest, config, config_bytes, fetch, reference)


DEFAULT_BASE_EXAMPLE = "127.0.0.1:5000/lambda/python:3.12"


def reachable_base(
    name: str, target: Target, store: BlobStore, credentials: Credentials, *, default: bool
) -> BaseImage:
    """:func:`resolve_base`, said in one line with the way out when the base's registry cannot
    be reached (``default``: the base was not given, AWS's own was taken)."""
    try:
        return resolve_base(name, target, store, credentials)
    except FetchError as error:
        why = "the runtime's AWS base image" if default else "the base image"
        raise FetchError(
            f"{why} {name} cannot be reached: {error.message}",
            hint=f"give a base this machine can reach: {option('ImageRequest.base')} with a"
            f" mirror of it (e.g. {DEFAULT_BASE_EXAMPLE}) or an OCI layout or archive on disk"
            " (what lambdalayer image pull, skopeo copy or docker save wrote)",
        ) from error


def _unpacked_size(blob: Path, *, gzipped: bool) -> int:
    """A layer's tar stream's size: the blob's own, or what its gzip stream inflates to."""
    if not gzipped:
        return blob.stat().st_size
    total = 0
    try:
        with gzip.open(blob, "rb") as stream:
            while total <= IMAGE_LIMIT and (chunk := stream.read(1 << 20)):
                total += len(chunk)
    except (OSError, EOFError, zlib.error) as error:
        raise InputError(
            f"a layer of the base ({blob.name}) is not a gzip stream: {error}"
        ) from error
    return total


def _guess_type(manifest: dict[str, Any], name: str) -> str:
    """A manifest without ``mediaType`` (allowed by the OCI spec): its config's type says."""
    config_type = str(manifest.get("config", {}).get("mediaType", ""))
    if "docker" in config_type:
        return MANIFEST_TYPES[1]
    if "oci" in config_type:
        return MANIFEST_TYPES[0]
    raise InputError(f"the base {name} is not an image manifest lambdalayer can build on")


def _check_fits(
    name: str, manifest: dict[str, Any], config: dict[str, Any], target: Target
) -> None:
    wanted = OCI_ARCH[target.machine]
    if config.get("os", "linux") != "linux" or config.get("architecture") != wanted:
        raise InputError(
            f"the base {name} is for {config.get('os')}/{config.get('architecture')}; the"
            f" target is linux/{wanted}",
            hint=f"give a base for {target.arch} ({option('ImageRequest.base')}), or build for the"
            f" base's CPU ({option('Target.arch')})",
        )
    for layer in manifest.get("layers", []):
        if layer.get("mediaType") not in LAYER_TYPES:
            raise InputError(
                f"the base {name} has a layer of type {layer.get('mediaType')}, which Lambda"
                " does not run"
            )
