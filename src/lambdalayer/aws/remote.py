"""What the build reads from AWS: a published layer's contents, a managed layer's exact ARN.

Kept here, at the border with AWS, so that resolving (:mod:`lambdalayer.resolve.provided`)
never imports boto3; the build hands these functions to it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from lambdalayer.aws.client import (
    AwsSettings,
    call,
    client,
    parse_layer_arn,
    region_of_arn,
)
from lambdalayer.errors import AwsError, InputError
from lambdalayer.net.http import download_to, with_retries
from lambdalayer.resolve.provided import Provided, layer_zip


def managed_layer_arn(provided: Provided, settings: AwsSettings) -> str | None:
    """The exact layer version ARN of a managed layer, from AWS's public SSM parameter.

    ``None`` when it cannot be read (no credentials, no network, no such parameter): the
    caller then shows the ARN without its version and the parameter's name.
    """
    if provided.ssm_parameter is None:
        return None
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        ssm = client(settings, "ssm", quick=True)
        value = ssm.get_parameter(Name=provided.ssm_parameter)["Parameter"]["Value"]
    except (AwsError, BotoCoreError, ClientError, KeyError):
        return None
    return str(value) if str(value).startswith("arn:") else None


def published_layer(arn: str, settings: AwsSettings) -> Provided:
    """The distributions of a published layer version, downloaded through the Lambda API."""
    base, version = parse_layer_arn(arn)
    lambda_client = client(
        AwsSettings(settings.profile, region_of_arn(arn), settings.endpoint_url), "lambda"
    )
    response = call(
        f"reading {arn}", lambda_client.get_layer_version, LayerName=base, VersionNumber=version
    )
    location = str(response.get("Content", {}).get("Location") or "")
    if not location.startswith(("https://", "http://")):
        raise InputError(
            f"the Lambda API gave no downloadable location for {arn}"
            f" ({location.split(':', 1)[0] or 'none'})",
            hint="download the layer's zip yourself and use --on-top-of layer:PATH.zip",
        )
    with tempfile.NamedTemporaryFile(suffix=".zip") as downloaded:

        def attempt() -> None:
            downloaded.seek(0)
            downloaded.truncate()
            download_to(location, downloaded, lambda _chunk: None)
            downloaded.flush()

        with_retries(f"download of {arn}", attempt)
        provided = layer_zip(Path(downloaded.name))
    return Provided(source=f"layer {arn}", pins=provided.pins, layer_arn=arn)
