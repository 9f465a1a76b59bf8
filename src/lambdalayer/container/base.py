"""The image built on: a registry's image (AWS's base image by default), or an OCI layout.

The base is pinned by its platform manifest's digest (recorded in the output), and must be
one image for ``linux/<the target's CPU>``: a registry's index is followed to that
platform's manifest, as Lambda takes one single-platform manifest per function
("Lambda provides multi-architecture base images. However, the image you build for your
function must target only one of the architectures. Lambda does not support functions that
use multi-architecture container images." — docs.aws.amazon.com/lambda/latest/dg/images-create.html).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdalayer.blobstore import BlobStore, FetchBlob
from lambdalayer.errors import InputError, option
from lambdalayer.oci.client import RegistryClient, platform_manifest
from lambdalayer.oci.credentials import Credentials
from lambdalayer.oci.layout import LayoutReader
from lambdalayer.oci.reference import ImageReference
from lambdalayer.ocimedia import LAYER_TYPES, MANIFEST_TYPES, OCI_ARCH, declared_size, json_object
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
