"""The new image's config and manifest: the base's, with lambdalayer's layers on top.

The config keeps the base's ``Entrypoint``, ``Env`` and ``WorkingDir`` (AWS's base images
start ``/lambda-entrypoint.sh``, which runs the runtime interface client); ``Cmd`` becomes
the handler, as a Dockerfile's ``CMD [ "app.handler" ]`` does; ``rootfs.diff_ids`` and
``history`` gain one entry per layer; ``created`` stays the base's, so the same inputs
give the same config. The manifest is of the base's kind — Docker's image manifest v2
schema 2 or OCI's, the two Lambda accepts — with the base's layers as they are (never
recompressed), then ours; an OCI manifest also names its base
(``org.opencontainers.image.base.name`` and ``.base.digest`` annotations).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lambdalayer.container.base import BaseImage
from lambdalayer.container.layers import ImageLayer
from lambdalayer.ocimedia import FAMILY, OCI_MANIFEST, descriptor, digest_of

BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"


@dataclass(frozen=True)
class ComposedImage:
    """The image's manifest and config, as bytes, with their digests."""

    manifest: bytes
    manifest_type: str
    config: bytes
    layers: tuple[dict[str, Any], ...]  # every layer's descriptor, the base's first
    platform: dict[str, str]

    @property
    def digest(self) -> str:
        """The manifest's digest: the image's identity (``…@sha256:…``)."""
        return digest_of(self.manifest)

    @property
    def config_digest(self) -> str:
        """The config blob's digest."""
        return digest_of(self.config)


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def compose(base: BaseImage, layers: Sequence[ImageLayer], handler: str | None) -> ComposedImage:
    """The config and manifest of ``base`` with ``layers`` on top and ``handler`` as ``Cmd``."""
    config = copy.deepcopy(base.config)
    settings = config.setdefault("config", {})
    if handler:
        settings["Cmd"] = [handler]
    rootfs = config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
    rootfs["diff_ids"] = [*rootfs.get("diff_ids", []), *(layer.blob.diff_id for layer in layers)]
    if isinstance(config.get("history"), list):
        stamp = {"created": config["created"]} if "created" in config else {}
        config["history"] += [
            {**stamp, "created_by": f"lambdalayer image build: {layer.what}"} for layer in layers
        ]
    config_bytes = _json(config)
    config_type = str(base.manifest["config"].get("mediaType") or FAMILY[base.manifest_type][0])
    layer_type = FAMILY[base.manifest_type][1]
    descriptors = (
        *base.layers,
        *(descriptor(layer_type, layer.blob.digest, layer.blob.size) for layer in layers),
    )
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": base.manifest_type,
        "config": descriptor(config_type, digest_of(config_bytes), len(config_bytes)),
        "layers": list(descriptors),
    }
    if base.manifest_type == OCI_MANIFEST:
        manifest["annotations"] = {BASE_NAME: base.name, BASE_DIGEST: base.digest}
    platform = {"architecture": str(config.get("architecture")), "os": "linux"}
    return ComposedImage(_json(manifest), base.manifest_type, config_bytes, descriptors, platform)
