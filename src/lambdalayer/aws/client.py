"""The border with AWS: boto3 clients with retries, and AWS errors as one readable line.

boto3 is imported here only, and only when a command that talks to AWS runs. Credentials
come from the standard chain (``--profile``, environment, config files, instance roles)
and are never printed: messages carry only the error code and AWS's own message.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from lambdalayer import __version__, network
from lambdalayer.errors import AwsError, LambdaLayerError

T = TypeVar("T")
MAX_ATTEMPTS = 8  # botocore's "standard" retry mode: throttling and transient errors, with backoff
LAYER_ARN = re.compile(
    r"arn:(aws[a-z-]*):lambda:([a-z0-9-]+):(\d{12}):layer:([A-Za-z0-9_-]+):(\d+)"
)

# AWS error code → what the user can do about it.
_HINTS = {
    "AccessDeniedException": "the credentials lack a lambda:* permission this command needs",
    "AccessDenied": "the credentials lack an s3:PutObject permission on the bucket",
    "UnrecognizedClientException": "the credentials are not valid for this account or region",
    "InvalidClientTokenId": "the credentials are not valid for this account or region",
    "ExpiredTokenException": "the session token has expired; log in again (aws sso login, ...)",
    "CodeStorageExceededException": "the region's 75 GB code storage is full: lambdalayer layers NAME --prune --keep 3",
    "TooManyRequestsException": "throttled even after retries; try again in a minute",
    "ResourceNotFoundException": "check the name, the region and the account",
    "RequestEntityTooLargeException": "publish through S3 with --s3-bucket",
    "PreconditionFailedException": "the function changed while its layers were being set"
    " (another attach or deploy): run the command again to attach to what it is now",
    "NoSuchBucket": "create the bucket, or give another --s3-bucket",
}


@dataclass(frozen=True)
class AwsSettings:
    """How to reach AWS: ``--profile``, ``--region`` and ``--endpoint-url``."""

    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None


def client(
    settings: AwsSettings, service: str, region: str | None = None, *, quick: bool = False
) -> Any:
    """A boto3 client for ``service`` with retries; raises :class:`AwsError` without credentials or region.

    ``quick`` is for optional look-ups: one attempt, short timeouts.
    """
    import boto3  # noqa: PLC0415 - only commands that talk to AWS pay for importing boto3
    from botocore.config import Config  # noqa: PLC0415
    from botocore.exceptions import BotoCoreError  # noqa: PLC0415

    try:
        session = boto3.session.Session(profile_name=settings.profile)
        chosen = region or settings.region or session.region_name
        if not chosen:
            raise AwsError(
                "no AWS region given", hint="pass --region, or set AWS_REGION / a profile region"
            )
        config = Config(
            retries={"mode": "standard", "max_attempts": 1 if quick else MAX_ATTEMPTS},
            user_agent_extra=f"lambdalayer/{__version__}",
            **({"connect_timeout": 3, "read_timeout": 5} if quick else {}),
            **_network(settings.endpoint_url, chosen, service),
        )
        return session.client(
            service,
            region_name=chosen,
            endpoint_url=settings.endpoint_url,
            config=config,
            **_verify(),
        )
    except BotoCoreError as error:
        raise translate(error, f"connecting to {service}") from error


def _network(endpoint_url: str | None, region: str, service: str) -> dict[str, Any]:
    """``--proxy`` for botocore (which reads ``HTTPS_PROXY`` and ``NO_PROXY`` itself, but not
    our flag), unless ``NO_PROXY`` sends the endpoint direct."""
    proxy = network.current().proxy
    if not proxy:
        return {}
    url = endpoint_url or f"https://{service}.{region}.amazonaws.com"
    if network.proxy_for(url) is None:
        return {}
    return {"proxies": {"http": proxy, "https": proxy}}


def _verify() -> dict[str, Any]:
    """``SSL_CERT_FILE`` as botocore's bundle (it reads ``AWS_CA_BUNDLE`` and
    ``REQUESTS_CA_BUNDLE`` itself), so that AWS is trusted as the rest of lambdalayer trusts."""
    variable, files = network.trusted_bundles()
    if variable == "SSL_CERT_FILE" and not os.environ.get("AWS_CA_BUNDLE"):
        return {"verify": str(files[0])}
    return {}


def default_region(settings: AwsSettings) -> str:
    """``--region``, else the region of the profile or environment; raises :class:`AwsError` if none."""
    if settings.region:
        return settings.region
    import boto3  # noqa: PLC0415

    region = boto3.session.Session(profile_name=settings.profile).region_name
    if not region:
        raise AwsError(
            "no AWS region given", hint="pass --region, or set AWS_REGION / a profile region"
        )
    return str(region)


def translate(error: Exception, doing: str) -> AwsError:
    """One readable :class:`AwsError` for a botocore exception raised while ``doing``."""
    from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError  # noqa: PLC0415

    if isinstance(error, AwsError):
        return error
    if isinstance(error, NoCredentialsError):
        return AwsError(
            f"no AWS credentials found while {doing}",
            hint="set AWS_PROFILE or --profile, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
            code="NoCredentials",
        )
    if isinstance(error, NoRegionError):
        return AwsError(
            "no AWS region given", hint="pass --region, or set AWS_REGION", code="NoRegion"
        )
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code", "Unknown"))
        message = str(details.get("Message", "")).strip()
        return AwsError(
            f"AWS {code} while {doing}: {message}".rstrip(": "), hint=_HINTS.get(code), code=code
        )
    return AwsError(f"AWS call failed while {doing}: {error}")


def call(doing: str, function: Callable[..., T], **kwargs: Any) -> T:
    """Call a boto3 method, turning any botocore error into :class:`AwsError`."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        return function(**kwargs)
    except (BotoCoreError, ClientError) as error:
        raise translate(error, doing) from error


def parse_layer_arn(arn: str) -> tuple[str, int]:
    """(the layer's ARN without version, version number) of a layer version ARN."""
    match = LAYER_ARN.fullmatch(arn)
    if match is None:
        raise LambdaLayerError(
            f"not a layer version ARN: {arn}",
            hint="expected arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION",
        )
    return arn.rsplit(":", 1)[0], int(match.group(5))


def region_of_arn(arn: str) -> str:
    """The region named in a layer version ARN."""
    parse_layer_arn(arn)
    return arn.split(":")[3]
