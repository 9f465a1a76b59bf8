"""A function's container image, to be booted as Lambda boots it (``invoke --image IMAGE``).

An OCI image layout (a directory or its tar archive, e.g. what ``image build -o`` wrote) or
a registry's image: its platform manifest for the target's CPU, its config (``Entrypoint``,
``Cmd``, ``Env``, ``WorkingDir``) and its root filesystem, unpacked into the cache by the
same safe unpacker as a pulled runtime image (:func:`~lambdalayer.environment.image.unpacked_image`).
Lambda runs an image by its ``ENTRYPOINT`` with its ``CMD`` (the handler) as arguments, with
``AWS_LAMBDA_RUNTIME_API`` set (AWS: "Create a Lambda function using a container image";
the Runtime Interface Emulator does the same in Docker).
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdalayer.blobstore import FetchBlob
from lambdalayer.environment.image import ImageSource, unpacked_image
from lambdalayer.errors import InputError
from lambdalayer.oci.client import RegistryClient, platform_manifest
from lambdalayer.oci.credentials import docker_credentials
from lambdalayer.oci.layout import LayoutReader
from lambdalayer.oci.reference import ImageReference
from lambdalayer.ocimedia import MAX_DOCUMENT_BYTES, declared_size, json_object
from lambdalayer.progress import Notify, quiet

_PYTHON = re.compile(r"python(3\.\d+)")


@dataclass(frozen=True)
class LambdaImage:
    """A function's image: its root filesystem and how it starts."""

    reference: str
    digest: str
    rootfs: Path
    entrypoint: tuple[str, ...]
    command: tuple[str, ...]
    variables: tuple[tuple[str, str], ...]  # its config's Env
    working_dir: str

    @property
    def python_versions(self) -> tuple[str, ...]:
        """The CPython versions where the runtime's interpreter is looked for (a Lambda
        Python image has one, at ``/var/lang/bin``; a stand-in's may be at ``/usr/bin``)."""
        for place in ("var/lang/bin", "usr/bin", "usr/local/bin"):
            found = {
                match.group(1)
                for path in (self.rootfs / place).glob("python3.*")
                if (match := _PYTHON.fullmatch(path.name))
            }
            if found:
                return tuple(sorted(found))
        return ()


def is_image_reference(spec: str) -> bool:
    """Whether ``--image SPEC`` names an image (a layout, its archive, a registry's image)
    rather than an extracted root filesystem, ``pull`` or ``host``."""
    path = Path(spec)
    if path.is_file() or (path / "oci-layout").is_file():
        return True
    return not path.exists() and spec not in ("pull", "host") and ":" in spec


def open_image(spec: str, machine: str, cache_dir: Path, notify: Notify = quiet) -> LambdaImage:
    """The image ``spec`` for ``machine``, unpacked in the cache (once per manifest digest)."""
    path = Path(spec)
    fetch: FetchBlob
    if path.exists():
        reader = LayoutReader(path)
        manifest, _body, digest = reader.manifest(machine)
        fetch = reader.copy_blob
    else:
        reference = ImageReference.parse(spec)
        client = RegistryClient(reference, docker_credentials)
        manifest, _body, digest = platform_manifest(client, reference.reference, machine)
        fetch = client.blob
    config = _config(manifest, fetch, spec)
    unpacked = unpacked_image(
        ImageSource(spec, digest, machine, fetch), manifest, cache_dir, notify
    )
    return LambdaImage(
        spec,
        digest,
        unpacked.rootfs,
        _strings(config.get("Entrypoint"), spec, "Entrypoint"),
        _strings(config.get("Cmd"), spec, "Cmd"),
        tuple(
            (key, value)
            for key, _, value in (
                item.partition("=") for item in _strings(config.get("Env"), spec, "Env")
            )
            if key
        ),
        str(config.get("WorkingDir") or "/var/task"),
    )


def _config(manifest: dict[str, Any], fetch: FetchBlob, spec: str) -> dict[str, Any]:
    """The image config's ``config`` object (read to a bound, checked against its digest)."""
    descriptor = manifest.get("config")
    if not isinstance(descriptor, dict) or "digest" not in descriptor:
        raise InputError(f"the image {spec}'s manifest names no config")
    size = declared_size(descriptor, f"the image {spec}'s config", InputError)
    if size > MAX_DOCUMENT_BYTES:
        raise InputError(f"the image {spec}'s config is {size:,} bytes, more than an image config")
    with tempfile.TemporaryDirectory(prefix="lambdalayer-config-") as scratch:
        blob = Path(scratch) / "config.json"
        fetch(str(descriptor["digest"]), blob, size=size)
        document = json_object(blob.read_bytes(), f"the image {spec}'s config", InputError)
    inner = document.get("config")
    return inner if isinstance(inner, dict) else {}


def _strings(value: object, spec: str, name: str) -> tuple[str, ...]:
    """A config list of strings (``Entrypoint``, ``Cmd``, ``Env``); absent is empty."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InputError(f"the image {spec}'s config {name} is not a list of strings")
    return tuple(value)
