"""Pull a Lambda runtime image (``public.ecr.aws/lambda/python:X.Y``) into a root filesystem.

Through lambdalayer's own client of the OCI distribution API (:mod:`lambdalayer.oci`)
rather than a library or a program (python-dxf, or skopeo and umoci, would add a
dependency or a Go binary that a Lambda packaging tool's users do not otherwise need):

- anonymous bearer token, sent to the registry's host only (see :mod:`lambdalayer.oci.client`);
- index → the manifest for ``linux/<amd64|arm64>`` → gzip layers, each sha256-verified
  before it is unpacked (a blob that does not match is an error and nothing is kept);
- layers applied in order with whiteouts (``.wh.NAME`` removes NAME, ``.wh..wh..opq``
  empties a directory), through :mod:`tarfile`'s ``tar`` filter (no member outside the
  root, no device files);
- cached by manifest digest: ``<cache>/images/<digest>/rootfs``, written under a
  temporary name and renamed when complete.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lambdalayer.errors import FetchError, InputError
from lambdalayer.oci.client import RegistryClient, platform_manifest
from lambdalayer.oci.media import LAYER_TYPES
from lambdalayer.oci.reference import ImageReference
from lambdalayer.targets import Target
from lambdalayer.zipnames import unsafe_reason

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


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


def _inside(root: Path, name: str) -> Path | None:
    """Where a tar member named ``name`` goes under ``root``; ``None`` if it would leave it.

    Layer tarballs name members ``usr/bin/x`` or ``./usr/bin/x``; the check is the one of
    every zip (:mod:`lambdalayer.zipnames`), plus the resolved directory (a symlinked
    directory of an earlier layer must not redirect a later member outside the root).
    """
    relative = name.removeprefix("./").strip("/")
    if not relative or unsafe_reason(relative) is not None:
        return None
    place = root / relative
    try:  # the member itself may be a symlink to anywhere; the directory holding it may not
        place.parent.resolve().relative_to(root.resolve())
    except ValueError:
        return None
    return place


def apply_layer(archive_path: Path, root: Path) -> None:
    """Unpack one layer tarball over ``root``, applying its whiteouts first, as the OCI spec says.

    Raises :class:`FetchError` for a member (or whiteout) that would land outside ``root``:
    nothing outside it is ever written or removed.
    """
    with tarfile.open(archive_path) as archive:
        keep = []
        for member in archive.getmembers():
            if member.isdir() and not member.name.removeprefix("./").strip("/."):
                continue  # the root itself ("./", as umoci writes it): already there
            place = _inside(root, member.name)
            if place is None:
                raise FetchError(
                    f"image layer {archive_path.name}: member {member.name!r} would land outside"
                    " the root"
                )
            name = place.name
            if name == ".wh..wh..opq":
                if place.parent.is_dir() and not place.parent.is_symlink():
                    for child in list(place.parent.iterdir()):
                        _remove(child)
            elif name.startswith(".wh."):
                _remove(place.with_name(name.removeprefix(".wh.")))
            elif not (member.isdev() or member.isfifo()):  # no device files in a root we only read
                keep.append((member, place))
        for member, place in keep:
            if place.is_symlink() or (place.exists() and not place.is_dir()):
                place.unlink()
            try:
                archive.extract(member, root, filter="tar")
            except tarfile.TarError as error:
                raise FetchError(
                    f"image layer {archive_path.name}: cannot unpack {member.name!r}: {error}"
                ) from error


def pull_image(
    target: Target,
    cache_dir: Path,
    *,
    registry_url: str = PUBLIC_REGISTRY,
    repository: str = REPOSITORY,
    tag: str | None = None,
    notify: Callable[[str], None] = lambda _message: None,
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
    fetch_blob: Callable[[str, Path], int]  # (digest, file) → bytes written, verified


def unpacked_image(
    source: ImageSource,
    manifest: dict[str, Any],
    cache_dir: Path,
    notify: Callable[[str], None] = lambda _message: None,
) -> PulledImage:
    """The root filesystem of the image ``manifest`` in the cache (its layers fetched and
    applied in order the first time; then found by the manifest's digest)."""
    reference, digest, machine = source.reference, source.digest, source.machine
    images = cache_dir / "images"
    final = images / digest.replace(":", "-")
    rootfs = final / "rootfs"
    if rootfs.is_dir():
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
        (work / "rootfs").mkdir()
        for number, layer in enumerate(layers, start=1):
            notify(
                f"pulling {reference} ({machine}): layer {number} of {len(layers)},"
                f" {layer.get('size', 0):,} bytes"
            )
            blob = work / "layer.tar"
            downloaded += source.fetch_blob(str(layer["digest"]), blob)
            apply_layer(blob, work / "rootfs")
            blob.unlink()
        (work / "image.json").write_text(
            json.dumps({"reference": reference, "digest": digest, "machine": machine}, indent=2)
        )
        with contextlib.suppress(OSError):  # another pull of the same digest finished first
            (work).rename(final)
    if not rootfs.is_dir():
        raise FetchError(f"{reference} could not be stored in {final}")
    return PulledImage(reference, digest, machine, rootfs, downloaded)


def cached_image(cache_dir: Path, target: Target) -> Path | None:
    """The root of an image of ``target`` pulled before into ``cache_dir`` (newest first), if any."""
    found: list[tuple[float, Path]] = []
    for record in (cache_dir / "images").glob("*/image.json"):
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
    return max(found)[1] if found else None


def image_root(path: Path) -> Path:
    """An extracted root filesystem given with ``--image DIR`` (a pulled image's dir works too)."""
    if (path / "rootfs").is_dir() and (path / "image.json").is_file():
        path = path / "rootfs"
    if not path.is_dir():
        raise InputError(
            f"--image {path}: no such directory",
            hint="give an extracted root filesystem, or --image pull",
        )
    if not any((path / place).exists() for place in ("var/lang/bin", "usr/bin", "bin")):
        raise InputError(
            f"--image {path} does not look like a root filesystem (no var/lang/bin, usr/bin or"
            " bin)",
            hint="give the directory that holds the image's /, e.g. .../rootfs",
        )
    return path
