"""Pull a Lambda runtime image (``public.ecr.aws/lambda/python:X.Y``) into a root filesystem.

A small client of the OCI distribution API rather than a library or a program: the pull
needs four requests (token, index, manifest, blobs), the verification is one sha256 per
blob, and python-dxf or skopeo/umoci would add a dependency (or a Go binary) that a
Lambda packaging tool's users do not otherwise need. What it does:

- anonymous bearer token: a 401's ``WWW-Authenticate: Bearer realm=…,service=…`` is
  answered by a GET of the realm for ``repository:<name>:pull``; the token is sent to the
  registry's host only (urllib3 drops ``Authorization`` when a blob redirects elsewhere);
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
import hashlib
import json
import re
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from lambdalayer.errors import FetchError, InputError
from lambdalayer.net.http import download_to, get_response, redact, with_retries
from lambdalayer.targets import Target
from lambdalayer.zipnames import unsafe_reason

PUBLIC_REGISTRY = "https://public.ecr.aws"
REPOSITORY = "lambda/python"
_INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
_MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
_GZIP_LAYERS = (
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.oci.image.layer.v1.tar",
)
_OCI_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class PulledImage:
    """An image unpacked in the cache."""

    reference: str
    digest: str  # the platform manifest's digest
    machine: str
    rootfs: Path
    downloaded_bytes: int


class _Registry:
    """One repository on one registry, with the bearer token once it has one."""

    def __init__(self, base: str, repository: str) -> None:
        self.base = base.rstrip("/")
        self.repository = repository
        self.token: str | None = None

    def _headers(self, accept: str | None = None) -> dict[str, str]:
        headers = {"Accept": accept} if accept else {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _authenticate(self, challenge: str) -> None:
        if not challenge.lower().startswith("bearer"):
            raise FetchError(
                f"{self.base} asks for {challenge.split(' ', maxsplit=1)[0]} authentication, not a"
                " bearer token"
            )
        fields = dict(_CHALLENGE.findall(challenge))
        realm = fields.get("realm")
        if not realm:
            raise FetchError(f"{self.base} gave no token realm in its challenge")
        query = {"scope": f"repository:{self.repository}:pull"}
        if fields.get("service"):
            query["service"] = fields["service"]
        response = get_response(f"{realm}?{urlencode(query)}", passthrough=frozenset())
        document = json.loads(response.body)
        token = document.get("token") or document.get("access_token")
        if not isinstance(token, str):
            raise FetchError(f"the token service {redact(realm)} answered without a token")
        self.token = token

    def get(self, path: str, accept: str) -> tuple[bytes, str]:
        """GET ``/v2/<repository>/<path>``, authenticating once when asked to."""
        url = f"{self.base}/v2/{self.repository}/{path}"
        response = get_response(url, headers=self._headers(accept))
        if response.status == 401 and self.token is None:
            self._authenticate(response.headers.get("www-authenticate", ""))
            response = get_response(url, headers=self._headers(accept))
        if response.status == 401:
            raise FetchError(f"{redact(url)} refused the token", url=redact(url))
        return response.body, response.headers.get("content-type", "")

    def blob(self, digest: str, out: Path, on_chunk: Callable[[bytes], None]) -> int:
        """Download a blob to ``out`` and verify its digest; raises :class:`FetchError` if it differs."""
        url = f"{self.base}/v2/{self.repository}/blobs/{digest}"

        def attempt() -> int:
            sha = hashlib.sha256()
            with out.open("wb") as stream:

                def both(chunk: bytes) -> None:
                    sha.update(chunk)
                    on_chunk(chunk)

                size = download_to(url, stream, both, self._headers())
            if f"sha256:{sha.hexdigest()}" != digest:
                out.unlink(missing_ok=True)
                raise FetchError(
                    f"blob {digest} from {redact(url)} does not match its digest (got"
                    f" sha256:{sha.hexdigest()})",
                    hint="the registry or a proxy served other bytes; nothing of the image was kept",
                )
            return size

        return with_retries(f"download of {digest}", attempt)


def _json(body: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except json.JSONDecodeError as error:
        raise FetchError(f"{what} is not JSON: {error}") from error
    if not isinstance(document, dict):
        raise FetchError(f"{what} is not a JSON object")
    return document


def _platform_manifest(registry: _Registry, tag: str, machine: str) -> tuple[dict[str, Any], str]:
    """The image manifest for linux/<arch> and its digest (following an index when there is one)."""
    body, content_type = registry.get(
        f"manifests/{tag}", ", ".join((*_INDEX_TYPES, *_MANIFEST_TYPES))
    )
    document = _json(body, f"the manifest of {tag}")
    media_type = document.get("mediaType") or content_type
    if media_type in _INDEX_TYPES or "manifests" in document:
        wanted = _OCI_ARCH[machine]
        entry = next(
            (
                item
                for item in document.get("manifests", [])
                if item.get("platform", {}).get("os") == "linux"
                and item.get("platform", {}).get("architecture") == wanted
            ),
            None,
        )
        if entry is None:
            raise FetchError(f"{registry.repository}:{tag} has no image for linux/{wanted}")
        digest = str(entry["digest"])
        body, _ = registry.get(f"manifests/{digest}", ", ".join(_MANIFEST_TYPES))
        if f"sha256:{hashlib.sha256(body).hexdigest()}" != digest:
            raise FetchError(f"the manifest {digest} does not match its digest")
        return _json(body, f"manifest {digest}"), digest
    return document, f"sha256:{hashlib.sha256(body).hexdigest()}"


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
    tag = tag or target.runtime.python_version
    reference = f"{urlsplit(registry_url).netloc}/{repository}:{tag}"
    registry = _Registry(registry_url, repository)
    manifest, digest = _platform_manifest(registry, tag, target.machine)
    images = cache_dir / "images"
    final = images / digest.replace(":", "-")
    rootfs = final / "rootfs"
    if rootfs.is_dir():
        return PulledImage(reference, digest, target.machine, rootfs, 0)
    layers = manifest.get("layers", [])
    for layer in layers:
        if layer.get("mediaType") not in _GZIP_LAYERS or not _DIGEST.match(
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
                f"pulling {reference} ({target.machine}): layer {number} of {len(layers)},"
                f" {layer.get('size', 0):,} bytes"
            )
            blob = work / "layer.tar"
            downloaded += registry.blob(str(layer["digest"]), blob, lambda _chunk: None)
            apply_layer(blob, work / "rootfs")
            blob.unlink()
        (work / "image.json").write_text(
            json.dumps(
                {"reference": reference, "digest": digest, "machine": target.machine}, indent=2
            )
        )
        with contextlib.suppress(OSError):  # another pull of the same digest finished first
            (work).rename(final)
    if not rootfs.is_dir():
        raise FetchError(f"{reference} could not be stored in {final}")
    return PulledImage(reference, digest, target.machine, rootfs, downloaded)


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
