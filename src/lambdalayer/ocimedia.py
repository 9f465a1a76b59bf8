"""The media types of images, and the descriptors that point at blobs (OCI image spec)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from lambdalayer.errors import FetchError, LambdaLayerError
from lambdalayer.limits import IMAGE_LIMIT

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")  # the one digest algorithm images here use
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
# An artefact's empty config (OCI image spec 1.1, "Guidance for an empty descriptor").
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG = b"{}"

INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
GZIP_LAYERS = (OCI_LAYER_GZIP, DOCKER_LAYER_GZIP)
LAYER_TYPES = (*GZIP_LAYERS, OCI_LAYER)
OCI_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
# A manifest, an index or a token answer is read whole into memory: at most this much. The
# distribution spec asks registries to accept manifests of at least 4 MiB; none is larger.
MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
# The layer and config types that go with each manifest type (a manifest does not mix them).
FAMILY = {
    OCI_MANIFEST: (OCI_CONFIG, OCI_LAYER_GZIP),
    DOCKER_MANIFEST: (DOCKER_CONFIG, DOCKER_LAYER_GZIP),
}


def digest_of(data: bytes) -> str:
    """``sha256:<hex>`` of ``data``."""
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def descriptor(media_type: str, digest: str, size: int, **extra: Any) -> dict[str, Any]:
    """A content descriptor: what the blob is, its digest and size (and e.g. annotations)."""
    return {"mediaType": media_type, "digest": digest, "size": size, **extra}


def declared_size(
    item: dict[str, Any], what: str, error: type[LambdaLayerError] = FetchError
) -> int:
    """A descriptor's ``size``: a whole number of bytes, at most an image's 10 GB."""
    size = item.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= IMAGE_LIMIT:
        raise error(
            f"{what} declares a size of {size!r}, not a number of bytes up to {IMAGE_LIMIT:,}"
        )
    return size


def json_object(
    data: bytes, what: str, error: type[LambdaLayerError] = FetchError
) -> dict[str, Any]:
    """``data`` parsed as a JSON object; raises ``error`` (a registry's: :class:`FetchError`;
    a file's: :class:`~lambdalayer.errors.InputError`) when it is not one."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as failure:  # RecursionError: nested too deeply
        raise error(f"{what} is not JSON: {failure}") from failure
    if not isinstance(document, dict):
        raise error(f"{what} is not a JSON object")
    return document
