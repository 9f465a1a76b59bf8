"""Publish a layer zip as a Lambda layer version, idempotently, in one or many regions.

The zip's sha256 (deterministic builds make it a content identity) is written into the
version's description; when the newest version already carries it, nothing is published
and that version is returned. Layers over the direct-upload limit go through S3. The
limits AWS enforces are checked here first, so that a bad name or description fails
before any upload (local servers such as moto do not enforce them).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdalayer.aws.client import AwsSettings, call, client, default_region, translate
from lambdalayer.aws.signer import SigningTarget, sign_zip
from lambdalayer.errors import InputError, LambdaLayerError
from lambdalayer.fsutil import file_sha256, not_a_file
from lambdalayer.limits import DIRECT_UPLOAD_LIMIT, quota_text
from lambdalayer.targets import ARCHITECTURES, canonical_arch, get_runtime
from lambdalayer.zipnames import open_zip
from lambdalayer.ziptarget import target_for_zips

NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,140}")
DESCRIPTION_LIMIT = 256
LICENSE_LIMIT = 512
RUNTIMES_LIMIT = 15
MARKER = re.compile(r"lambdalayer sha256:([0-9a-f]{64})(?: unzipped:(\d+))?")
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Upload:
    """How the zip reaches Lambda: its bytes, through S3, or signed by AWS Signer (S3 in/out)."""

    zip_path: Path
    name: str
    s3_bucket: str | None = None
    signing_profile: str | None = None


@dataclass(frozen=True)
class PublishRequest:
    """What to publish and how."""

    zip_path: Path
    name: str
    runtimes: tuple[str, ...] = ()
    architectures: tuple[str, ...] = ()
    description: str = ""
    license_info: str | None = None
    s3_bucket: str | None = None
    force: bool = False
    public: bool = False
    accounts: tuple[str, ...] = ()
    organization: str | None = None
    unzipped_bytes: int | None = None
    signing_profile: str | None = None  # AWS Signer's: the zip is signed before publishing

    def from_zip(
        self, runtimes: Sequence[str] = (), architectures: Sequence[str] = ()
    ) -> PublishRequest:
        """This request, completed from its zip: the runtimes and CPUs given, else those the zip
        records (lambdalayer's archive comment), and the zip's unzipped size."""
        if (why := not_a_file(self.zip_path)) is not None:
            raise InputError(why[0], hint=why[1])
        # What the zip records (the one decision of a zip's target), when nothing is given.
        recorded = target_for_zips([self.zip_path], None, None, required=False, shown=False)
        recorded_runtimes = [recorded.target.runtime.name] if recorded else []
        recorded_arches = [recorded.target.arch] if recorded else []
        with open_zip(self.zip_path) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
        return dataclasses.replace(
            self,
            runtimes=tuple(get_runtime(runtime).name for runtime in runtimes or recorded_runtimes),
            architectures=tuple(canonical_arch(arch) for arch in architectures or recorded_arches),
            unzipped_bytes=unzipped,
        )

    def principals(self) -> list[tuple[str, str, str | None]]:
        """(statement id, principal, organization) of each grant on a new version."""
        principals: list[tuple[str, str, str | None]] = (
            [("public", "*", None)] if self.public else []
        )
        principals += [(f"account-{account}", account, None) for account in self.accounts]
        if self.organization:
            principals.append((f"org-{self.organization}", "*", self.organization))
        return principals


@dataclass(frozen=True)
class Published:
    """The outcome in one region: the version's ARN, or the error that stopped it."""

    region: str
    arn: str | None = None
    version: int | None = None
    created: bool = False
    error: str | None = None
    hint: str | None = None


@dataclass(frozen=True)
class LayerVersion:
    """One version of a layer, as ``layers`` lists it."""

    version: int
    arn: str
    created: str
    runtimes: tuple[str, ...]
    architectures: tuple[str, ...]
    sha256: str | None
    description: str
    zipped_bytes: int | None = None
    unzipped_bytes: int | None = None


def functions_layers(settings: AwsSettings, functions: Sequence[str]) -> list[str]:
    """The layer version ARNs the ``functions`` use (what ``layers --prune`` must keep)."""
    if not functions:
        return []
    lambda_client = client(settings, "lambda")
    arns: list[str] = []
    for function in functions:
        config = call(
            f"reading {function}", lambda_client.get_function_configuration, FunctionName=function
        )
        arns += [layer["Arn"] for layer in config.get("Layers", [])]
    return arns


def description_with_marker(description: str, sha256: str, unzipped: int | None) -> str:
    """The user's description plus our content marker, validated against AWS's 256 chars."""
    marker = f"lambdalayer sha256:{sha256}" + (
        f" unzipped:{unzipped}" if unzipped is not None else ""
    )
    full = f"{description} [{marker}]" if description else marker
    if len(full) > DESCRIPTION_LIMIT:
        room = DESCRIPTION_LIMIT - len(marker) - 3
        raise InputError(
            f"description too long: AWS allows {DESCRIPTION_LIMIT} characters and the content"
            f" marker takes {len(marker) + 3}",
            hint=f"shorten --description to {room} characters",
        )
    return full


def validate(request: PublishRequest) -> None:
    """Check names and lengths the way AWS would, before anything is uploaded."""
    if not NAME_PATTERN.fullmatch(request.name):
        raise InputError(
            f"invalid layer name {request.name!r}",
            hint="1 to 140 characters of letters, digits, '-' and '_'",
        )
    if request.license_info is not None and len(request.license_info) > LICENSE_LIMIT:
        raise InputError(
            f"--license is {len(request.license_info)} characters; AWS allows {LICENSE_LIMIT}"
        )
    if len(request.runtimes) > RUNTIMES_LIMIT:
        raise InputError(f"{len(request.runtimes)} runtimes; AWS allows {RUNTIMES_LIMIT}")
    for runtime in request.runtimes:
        get_runtime(runtime)
    for arch in request.architectures:
        if arch not in ARCHITECTURES:
            raise InputError(
                f"unknown architecture {arch!r}", hint=f"choose from {', '.join(ARCHITECTURES)}"
            )
    for account in request.accounts:
        if not re.fullmatch(r"\d{12}", account):
            raise InputError(f"not an AWS account id: {account!r}", hint="12 digits")
    if request.organization is not None and not re.fullmatch(
        r"o-[a-z0-9]{10,32}", request.organization
    ):
        raise InputError(
            f"not an AWS organization id: {request.organization!r}",
            hint="o- followed by 10-32 letters/digits",
        )
    if request.signing_profile is not None and request.s3_bucket is None:
        raise InputError(
            "signing with AWS Signer goes through S3: it reads the zip from a bucket and writes"
            " the signed copy there",
            hint="give --s3-bucket BUCKET (versioning on, in each target region)",
        )
    size = request.zip_path.stat().st_size
    if size > DIRECT_UPLOAD_LIMIT and request.s3_bucket is None:
        raise InputError(
            f"{request.zip_path} is {size:,} bytes, over Lambda's"
            f" {quota_text(DIRECT_UPLOAD_LIMIT)} direct-upload limit",
            hint="give --s3-bucket BUCKET (in each target region) to upload it through S3",
        )


def newest_version(lambda_client: Any, name: str) -> dict[str, Any] | None:
    """The newest version of a layer, or None when it has none (or does not exist)."""
    versions = list_versions(lambda_client, name)
    return max(versions, key=lambda item: item["Version"]) if versions else None


def list_versions(lambda_client: Any, name: str) -> list[dict[str, Any]]:
    """Every version of a layer (all pages), newest first."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - boto3 only when used

    paginator = lambda_client.get_paginator("list_layer_versions")
    items: list[dict[str, Any]] = []
    try:
        for page in paginator.paginate(LayerName=name):
            items += page.get("LayerVersions", [])
    except (BotoCoreError, ClientError) as error:
        translated = translate(error, f"listing versions of {name}")
        if translated.code == "ResourceNotFoundException":
            return []
        raise translated from error
    return sorted(items, key=lambda item: item["Version"], reverse=True)


def _publish_one(
    request: PublishRequest,
    settings: AwsSettings,
    region: str,
    sha256: str,
    description: str,
    progress: Progress | None,
) -> Published:
    try:
        lambda_client = client(settings, "lambda", region)
        newest = newest_version(lambda_client, request.name)
        if newest is not None and not request.force:
            marker = MARKER.search(newest.get("Description", ""))
            if marker and marker.group(1) == sha256:
                return Published(
                    region, newest["LayerVersionArn"], newest["Version"], created=False
                )
        upload = Upload(request.zip_path, request.name, request.s3_bucket, request.signing_profile)
        content = _content(upload, settings, region, sha256, progress)
        arguments: dict[str, Any] = {
            "LayerName": request.name,
            "Description": description,
            "Content": content,
        }
        if request.runtimes:
            arguments["CompatibleRuntimes"] = list(request.runtimes)
        if request.architectures:
            arguments["CompatibleArchitectures"] = list(request.architectures)
        if request.license_info:
            arguments["LicenseInfo"] = request.license_info
        response = call(
            f"publishing {request.name} in {region}",
            lambda_client.publish_layer_version,
            **arguments,
        )
        version = int(response["Version"])
        _grant(lambda_client, request.name, version, request.principals())
        return Published(region, response["LayerVersionArn"], version, created=True)
    except LambdaLayerError as error:
        return Published(region, error=error.message, hint=error.hint)


def _content(
    request: Upload,
    settings: AwsSettings,
    region: str,
    sha256: str,
    progress: Progress | None,
) -> dict[str, Any]:
    """The layer's ``Content``: signed by AWS Signer, through S3 when large, else the bytes."""
    if request.signing_profile is not None and request.s3_bucket is not None:
        target = SigningTarget(request.signing_profile, request.s3_bucket)
        signed = sign_zip(
            client(settings, "signer", region),
            client(settings, "s3", region),
            request.zip_path,
            target,
            sha256,
        )
        return {"S3Bucket": signed.bucket, "S3Key": signed.key}
    if request.s3_bucket is not None and request.zip_path.stat().st_size > DIRECT_UPLOAD_LIMIT:
        key = f"lambdalayer/{request.name}/{sha256}.zip"
        s3 = client(settings, "s3", region)
        total = request.zip_path.stat().st_size
        sent = [0]

        def on_bytes(count: int) -> None:
            sent[0] += count
            if progress is not None:
                progress(region, sent[0], total)

        call(
            f"uploading to s3://{request.s3_bucket}/{key}",
            s3.upload_file,
            Filename=str(request.zip_path),
            Bucket=request.s3_bucket,
            Key=key,
            Callback=on_bytes,
        )
        return {"S3Bucket": request.s3_bucket, "S3Key": key}
    return {"ZipFile": request.zip_path.read_bytes()}


def _grant(
    lambda_client: Any, name: str, version: int, principals: Sequence[tuple[str, str, str | None]]
) -> None:
    """Let each principal use the new version (``lambda:GetLayerVersion``)."""
    for statement, principal, organization in principals:
        arguments: dict[str, Any] = {
            "LayerName": name,
            "VersionNumber": version,
            "StatementId": f"lambdalayer-{statement}",
            "Action": "lambda:GetLayerVersion",
            "Principal": principal,
        }
        if organization:
            arguments["OrganizationId"] = organization
        call(
            f"sharing {name}:{version} with {principal}",
            lambda_client.add_layer_version_permission,
            **arguments,
        )


def publish(
    request: PublishRequest,
    settings: AwsSettings,
    regions: Sequence[str] = (),
    progress: Progress | None = None,
) -> list[Published]:
    """Publish in every region (concurrently); one :class:`Published` per region, errors included."""
    validate(request)
    sha256 = file_sha256(request.zip_path)
    description = description_with_marker(request.description, sha256, request.unzipped_bytes)
    targets = list(dict.fromkeys(regions)) or [default_region(settings)]
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(targets)))) as pool:
        return list(
            pool.map(
                lambda region: _publish_one(
                    request, settings, region, sha256, description, progress
                ),
                targets,
            )
        )


def layer_versions(settings: AwsSettings, name: str) -> list[LayerVersion]:
    """A layer's versions, newest first, with their content hash and sizes."""
    lambda_client = client(settings, "lambda")
    versions = []
    for item in list_versions(lambda_client, name):
        detail = call(
            f"reading {name}:{item['Version']}",
            lambda_client.get_layer_version,
            LayerName=name,
            VersionNumber=item["Version"],
        )
        marker = MARKER.search(item.get("Description", ""))
        versions.append(
            LayerVersion(
                version=int(item["Version"]),
                arn=item["LayerVersionArn"],
                created=str(item.get("CreatedDate", "")),
                runtimes=tuple(item.get("CompatibleRuntimes", [])),
                architectures=tuple(item.get("CompatibleArchitectures", [])),
                sha256=marker.group(1) if marker else None,
                description=item.get("Description", ""),
                zipped_bytes=detail.get("Content", {}).get("CodeSize"),
                unzipped_bytes=int(marker.group(2)) if marker and marker.group(2) else None,
            )
        )
    return versions


def prunable(settings: AwsSettings, name: str, keep: int, in_use: Sequence[str] = ()) -> list[int]:
    """The versions :func:`prune` would delete: all but the ``keep`` newest, never one in ``in_use`` (ARNs)."""
    if keep < 1:
        raise InputError("--keep must be at least 1")
    protected = set(in_use)
    return [
        int(item["Version"])
        for item in list_versions(client(settings, "lambda"), name)[keep:]
        if item["LayerVersionArn"] not in protected
    ]


def prune(settings: AwsSettings, name: str, versions: Sequence[int]) -> list[int]:
    """Delete ``versions`` of layer ``name`` (from :func:`prunable`); returns those deleted.

    A deleted version cannot be brought back: the CLI shows the list first.
    """
    lambda_client = client(settings, "lambda")
    deleted = []
    for version in versions:
        call(
            f"deleting {name}:{version}",
            lambda_client.delete_layer_version,
            LayerName=name,
            VersionNumber=version,
        )
        deleted.append(version)
    return deleted
