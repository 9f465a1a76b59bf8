"""Where a built image goes: an OCI layout archive on disk, or a registry.

The archive is written under a temporary name beside its path and renamed into place when
complete (the previous file stays until then). A push sends each blob the registry does
not have yet (``HEAD`` first; a base layer from another repository of the same registry
is mounted, not sent), the config, then the manifest under the tag; the image is then
named by its digest.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.blobstore import BlobStore
from lambdalayer.container.base import BaseImage
from lambdalayer.container.compose import ComposedImage
from lambdalayer.errors import FetchError
from lambdalayer.oci.client import RegistryClient
from lambdalayer.oci.credentials import Credentials
from lambdalayer.oci.layout import write_archive
from lambdalayer.oci.reference import ImageReference
from lambdalayer.ocimedia import (
    EMPTY_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_MANIFEST,
    digest_of,
    json_object,
)
from lambdalayer.progress import Notify


def _config_blob(image: ComposedImage, store: BlobStore) -> Path:
    if not store.has(image.config_digest):
        with store.writing() as scratch:
            scratch.write_bytes(image.config)
            store.keep(scratch, image.config_digest)
    return store.path(image.config_digest)


def _local(digest: str, base: BaseImage, store: BlobStore) -> Path:
    """A blob of the image in the store: ours are there; the base's are fetched once."""
    return store.path(digest) if store.has(digest) else base.local_blob(digest, store)


def write_image_archive(
    path: Path, image: ComposedImage, base: BaseImage, store: BlobStore, ref_name: str
) -> int:
    """Write the image as an OCI layout archive at ``path``; returns its size."""
    blobs: dict[str, Path | bytes] = {image.config_digest: _config_blob(image, store)}
    for layer in image.layers:
        blobs[str(layer["digest"])] = _local(str(layer["digest"]), base, store)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    scratch = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            write_archive(out, image.manifest, image.manifest_type, ref_name, blobs, image.platform)
        scratch.chmod(0o644)
        scratch.replace(path)
    finally:
        scratch.unlink(missing_ok=True)
    return path.stat().st_size


@dataclass(frozen=True)
class PushReport:
    """What a push sent: the image by digest, and each blob's fate."""

    image: ImageReference  # the destination, pinned by the manifest's digest
    uploaded: tuple[str, ...]  # digests sent
    uploaded_bytes: int
    present: int  # blobs the registry had
    mounted: int  # blobs mounted from the base's repository


def push_image(
    image: ComposedImage,
    base: BaseImage,
    destination: ImageReference,
    credentials: Credentials,
    store: BlobStore,
    notify: Notify,
) -> PushReport:
    """Push the image to ``destination`` (its tag, else ``latest``)."""
    same_registry = base.reference is not None and base.reference.registry == destination.registry
    sources = [base.reference.repository] if base.reference is not None and same_registry else []
    client = RegistryClient(destination, credentials, push=True, mount_from=sources)
    base_digests = {str(layer["digest"]) for layer in base.layers}
    blobs = [(image.config_digest, len(image.config))] + [
        (str(layer["digest"]), int(layer.get("size", 0))) for layer in image.layers
    ]
    uploaded: list[str] = []
    sent = present = mounted = 0
    try:
        for digest, size in blobs:
            if client.has_blob(digest):
                present += 1
                continue
            if digest in base_digests and client.mount_from and client.mount(digest, sources[0]):
                mounted += 1
                continue
            local = _config_blob(image, store) if digest == image.config_digest else None
            local = local or _local(digest, base, store)
            notify(f"pushing {digest[:19]}… ({size:,} bytes) to {destination.registry}")
            sent += client.upload(digest, local)
            uploaded.append(digest)
        tag = destination.tag or ("latest" if destination.digest is None else image.digest)
        digest = client.put_manifest(tag, image.manifest, image.manifest_type)
    except FetchError as error:
        if "NAME_UNKNOWN" in error.message and error.hint is None:
            raise FetchError(
                error.message,
                hint=f"create the repository {destination.repository} first (ECR: aws ecr"
                f" create-repository --repository-name {destination.repository})",
            ) from error
        raise
    return PushReport(destination.pinned(digest), tuple(uploaded), sent, present, mounted)


@dataclass(frozen=True)
class Attached:
    """An artefact pushed beside an image, referring to it: its manifest's digest, and how
    it can be found (``referrers``: the registry's referrers API; else the tag of the
    OCI spec's fallback, ``sha256-<the image's hex>``)."""

    digest: str
    artifact_type: str
    found_by: str


def attach_artefact(
    image: ComposedImage,
    destination: ImageReference,
    credentials: Credentials,
    store: BlobStore,
    document: tuple[str, bytes],
) -> Attached:
    """Push ``document`` (its media type, its bytes: an SBOM) as an OCI artefact whose
    ``subject`` is the pushed ``image``: an empty config, one blob, a manifest stored by its
    digest. A registry without the referrers API (no ``OCI-Subject`` in its answer) gets the
    referrers tag schema: the index under ``sha256-<hex>`` lists it beside what it held."""
    artifact_type, body = document
    client = RegistryClient(destination, credentials, push=True)
    for blob in (EMPTY_CONFIG, body):
        digest = digest_of(blob)
        if not client.has_blob(digest):
            with store.writing() as scratch:
                scratch.write_bytes(blob)
                client.upload(digest, scratch)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {
            "mediaType": OCI_EMPTY,
            "digest": digest_of(EMPTY_CONFIG),
            "size": len(EMPTY_CONFIG),
        },
        "layers": [{"mediaType": artifact_type, "digest": digest_of(body), "size": len(body)}],
        "subject": {
            "mediaType": image.manifest_type,
            "digest": image.digest,
            "size": len(image.manifest),
        },
    }
    encoded = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    digest, indexed = client.put_referrer(encoded, OCI_MANIFEST)
    if indexed:
        return Attached(digest, artifact_type, "referrers")
    tag = "sha256-" + image.digest.removeprefix("sha256:")
    descriptor = {
        "mediaType": OCI_MANIFEST,
        "digest": digest,
        "size": len(encoded),
        "artifactType": artifact_type,
    }
    client.put_manifest(tag, _referrers_index(client.referrers_tag(tag), descriptor), OCI_INDEX)
    return Attached(digest, artifact_type, f"tag {tag}")


def _referrers_index(held: bytes | None, descriptor: dict[str, object]) -> bytes:
    """The fallback tag's index: what it held (when it is an index) with ``descriptor``
    added once."""
    manifests: list[object] = []
    if held is not None:
        found = json_object(held, "the referrers tag's index").get("manifests")
        if isinstance(found, list):
            manifests = [item for item in found if item != descriptor]
    document = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [*manifests, descriptor]}
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
