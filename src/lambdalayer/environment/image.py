"""Pull a Lambda runtime image (``public.ecr.aws/lambda/python:X.Y``) into a root filesystem.

Through lambdalayer's own client of the OCI distribution API (:mod:`lambdalayer.oci`)
rather than a library or a program (python-dxf, or skopeo and umoci, would add a
dependency or a Go binary that a Lambda packaging tool's users do not otherwise need):

- anonymous bearer token, sent to the registry's host only (see :mod:`lambdalayer.oci.client`);
- index → the manifest for ``linux/<amd64|arm64>`` → gzip layers, each sha256-verified
  before it is unpacked (a blob that does not match is an error and nothing is kept);
- layers applied in order with whiteouts (``.wh.NAME`` removes NAME, ``.wh..wh..opq``
  empties a directory) by the one safe unpacker (:mod:`lambdalayer.unpack`: no member
  outside the root, hard links only to the image's own files, no device files, the image's
  10 GB limit);
- cached by manifest digest: ``<cache>/images/<digest>/rootfs``, written under a
  temporary name and renamed when complete.
"""

from __future__ import annotations

import contextlib
import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lambdalayer.blobstore import FetchBlob
from lambdalayer.cache import Bucket, Cache
from lambdalayer.errors import FetchError, InputError, option
from lambdalayer.limits import IMAGE_LIMIT
from lambdalayer.oci.client import RegistryClient, platform_manifest
from lambdalayer.oci.reference import ImageReference
from lambdalayer.ocimedia import LAYER_TYPES, declared_size
from lambdalayer.progress import Notify, quiet
from lambdalayer.targets import Target
from lambdalayer.unpack import Quota, Unpacker, unpack_tar

PUBLIC_REGISTRY = "https://public.ecr.aws"
REPOSITORY = "lambda/python"
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class PulledImage:
    """An image unpacked in the cache."""

    reference: str
    digest: str  # the platform manifest's digest
    machine: str
    rootfs: Path
    downloaded_bytes: int


def pull_image(
    target: Target,
    cache_dir: Path,
    *,
    registry_url: str = PUBLIC_REGISTRY,
    repository: str = REPOSITORY,
    tag: str | None = None,
    notify: Notify = quiet,
) -> PulledImage:
    """Pull the Lambda image of ``target`` (``lambda/python:X.Y`` for its CPU) into the cache."""
    parts = urlsplit(registry_url)
    image = ImageReference(
        parts.netloc, repository, tag or target.runtime.python_version, scheme=parts.scheme
    )
    client = RegistryClient(image)
    manifest, _body, digest = platform_manifest(client, image.reference, target.machine)
    where = ImageSource(str(image), digest, target.machine, client.blob)
    return unpacked_image(where, manifest, cache_dir, notify)


@dataclass(frozen=True)
class ImageSource:
    """An image by its manifest's digest, and how to have one of its blobs in a file."""

    reference: str
    digest: str
    machine: str
    fetch_blob: FetchBlob  # (digest, file, size) → bytes written, verified


def unpacked_image(
    source: ImageSource,
    manifest: dict[str, Any],
    cache_dir: Path,
    notify: Notify = quiet,
) -> PulledImage:
    """The root filesystem of the image ``manifest`` in the cache (its layers fetched and
    applied in order the first time; then found by the manifest's digest)."""
    reference, digest, machine = source.reference, source.digest, source.machine
    cache, key = Cache.at(cache_dir), digest.replace(":", "-")
    images = cache.bucket(Bucket.IMAGES)
    final = cache.hold(Bucket.IMAGES, key)
    rootfs = final / "rootfs"
    if cache.admit(Bucket.IMAGES, key) and rootfs.is_dir():
        return PulledImage(reference, digest, machine, rootfs, 0)
    layers = manifest.get("layers", [])
    for layer in layers:
        if layer.get("mediaType") not in LAYER_TYPES or not _DIGEST.fullmatch(
            str(layer.get("digest"))
        ):
            raise FetchError(
                f"{reference}: layer {layer.get('digest')} is {layer.get('mediaType')}, which"
                " lambdalayer cannot unpack"
            )
    images.mkdir(parents=True, exist_ok=True)
    downloaded = 0
    with tempfile.TemporaryDirectory(dir=images, prefix=".pull-") as scratch:
        work = Path(scratch)
        with Unpacker(
            work / "rootfs", Quota(IMAGE_LIMIT), f"image {reference}", rooted_links=True
        ) as rootfs_unpacker:
            for number, layer in enumerate(layers, start=1):
                notify(
                    f"pulling {reference} ({machine}): layer {number} of {len(layers)},"
                    f" {layer.get('size', 0):,} bytes"
                )
                blob = work / "layer.tar"
                size = declared_size(layer, f"{reference}: layer {layer['digest']}")
                downloaded += source.fetch_blob(str(layer["digest"]), blob, size=size)
                unpack_tar(blob, rootfs_unpacker, whiteouts=True)
                blob.unlink()
        (work / "image.json").write_text(
            json.dumps({"reference": reference, "digest": digest, "machine": machine}, indent=2)
        )
        cache.seal(Bucket.IMAGES, key, work)
        with contextlib.suppress(OSError):  # another pull of the same digest finished first
            (work).rename(final)
    if not rootfs.is_dir():
        raise FetchError(f"{reference} could not be stored in {final}")
    return PulledImage(reference, digest, machine, rootfs, downloaded)


def cached_image(cache_dir: Path, target: Target) -> Path | None:
    """The root of an image of ``target`` pulled before into ``cache_dir`` (newest first), if any."""
    found: list[tuple[float, Path]] = []
    cache = Cache.at(cache_dir)
    for record in (cache_dir / Bucket.IMAGES.info.directory).glob("*/image.json"):
        try:
            facts = json.loads(record.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        reference = str(facts.get("reference", ""))
        fits = facts.get("machine") == target.machine and reference.endswith(
            f":{target.runtime.python_version}"
        )
        if fits and (record.parent / "rootfs").is_dir():
            found.append((record.stat().st_mtime, record.parent / "rootfs"))
    if not found:
        return None
    newest = max(found)[1]
    cache.hold(Bucket.IMAGES, newest.parent.name)  # the imports will run in it: keep it
    return newest if cache.admit(Bucket.IMAGES, newest.parent.name) else None


def image_root(path: Path) -> Path:
    """An extracted root filesystem given with ``--image DIR`` (a pulled image's dir works too)."""
    if (path / "rootfs").is_dir() and (path / "image.json").is_file():
        path = path / "rootfs"
    if not path.is_dir():
        raise InputError(
            f"{option('ImportOptions.image', path)}: no such directory",
            hint=f"give an extracted root filesystem, or {option('ImportOptions.image', 'pull')}",
        )
    if not any((path / place).exists() for place in ("var/lang/bin", "usr/bin", "bin")):
        raise InputError(
            f"{option('ImportOptions.image', path)} does not look like a root filesystem (no"
            " var/lang/bin, usr/bin or"
            " bin)",
            hint="give the directory that holds the image's /, e.g. .../rootfs",
        )
    return path
