"""A published layer version's content, fetched through the Lambda API and kept by its hash.

``GetLayerVersion`` (the ARN's name and version) answers where the zip can be downloaded
(a pre-signed URL, valid for minutes) and its ``CodeSha256`` (base64). The zip is
downloaded once, verified against that hash, and kept in the cache's ``layers`` bucket
under it: the managed pandas layer (about 50 MB zipped) is fetched once per release, and a
zip whose bytes do not match is never used.
"""

from __future__ import annotations

import base64
import binascii
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.aws.client import AwsSettings, call, client, parse_layer_arn, region_of_arn
from lambdalayer.cache.buckets import Bucket
from lambdalayer.cache.store import entry_path
from lambdalayer.errors import AwsError, FetchError, InputError
from lambdalayer.fsutil import file_sha256
from lambdalayer.net.http import download_to, redact, with_retries


@dataclass(frozen=True)
class LayerContent:
    """Where a layer version's zip is, and what it must hash to."""

    arn: str
    location: str
    sha256: str  # hex, from the API's base64 CodeSha256
    size: int | None


def layer_content(arn: str, settings: AwsSettings) -> LayerContent:
    """``GetLayerVersion`` of ``arn`` (in the ARN's region): its content's location and hash."""
    name, version = parse_layer_arn(arn)
    lambda_client = client(
        AwsSettings(settings.profile, region_of_arn(arn), settings.endpoint_url), "lambda"
    )
    response = call(
        f"reading {arn}", lambda_client.get_layer_version, LayerName=name, VersionNumber=version
    )
    content = response.get("Content") or {}
    try:
        digest = base64.b64decode(str(content.get("CodeSha256") or ""), validate=True).hex()
    except (binascii.Error, ValueError):
        digest = ""
    if len(digest) != 64:
        raise AwsError(f"the Lambda API gave {arn} no CodeSha256 to verify its content by")
    size = content.get("CodeSize")
    return LayerContent(
        arn, str(content.get("Location") or ""), digest, size if isinstance(size, int) else None
    )


def cached_layer_zip(content: LayerContent, cache_dir: Path) -> Path:
    """The layer version's zip in the cache (downloaded and verified when not there yet)."""
    path = entry_path(cache_dir, Bucket.LAYERS, content.sha256)
    if path.is_file() and file_sha256(path) == content.sha256:
        return path
    if not content.location.startswith(("https://", "http://")):
        raise InputError(
            f"the Lambda API gave no downloadable location for {content.arn}"
            f" ({content.location.split(':', 1)[0] or 'none'})",
            hint="download the layer's zip yourself and use --on-top-of layer:PATH.zip",
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as spool:
        partial = Path(spool.name)
        try:

            def attempt() -> None:
                spool.seek(0)
                spool.truncate()
                download_to(content.location, spool, lambda _chunk: None, size=content.size)
                spool.flush()

            with_retries(f"download of {content.arn}", attempt)
            found = file_sha256(partial)
            if found != content.sha256:
                raise FetchError(
                    f"{content.arn}'s zip from {redact(content.location)} has sha256 {found},"
                    f" not the CodeSha256 the Lambda API gave ({content.sha256}); not used",
                    url=redact(content.location),
                )
            partial.replace(path)
        finally:
            partial.unlink(missing_ok=True)
    return path
