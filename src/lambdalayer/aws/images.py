"""Container images and AWS: an ECR login through boto3, and a function's image updated.

- :func:`ecr_credentials`: ``ecr:GetAuthorizationToken`` for the registry's account and
  region (read from its host, ``<account>.dkr.ecr.<region>.amazonaws.com``): a base64
  ``AWS:<password>`` good for 12 hours, used as the registry's basic credentials;
- :func:`deploy_image`: ``lambda:UpdateFunctionCode`` with ``ImageUri`` (the image named
  by its digest), then the ``function_updated_v2`` waiter, as ``attach`` does for layers.
  A function made from a .zip cannot take an image (Lambda cannot change a function's
  package type), which is said before anything changes.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from lambdalayer.aws.attach import wait_for_update
from lambdalayer.aws.client import AwsSettings, call, client
from lambdalayer.errors import AttachError, AwsError

ECR_HOST = re.compile(r"(\d{12})\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?")


def is_ecr(host: str) -> bool:
    """Whether ``host`` is a private ECR registry's."""
    return ECR_HOST.fullmatch(host) is not None


def ecr_credentials(host: str, settings: AwsSettings) -> tuple[str, str]:
    """The basic credentials ECR gives for the registry at ``host`` (user ``AWS``)."""
    match = ECR_HOST.fullmatch(host)
    account, region = (match.group(1), match.group(2)) if match else (None, settings.region)
    ecr = client(settings, "ecr", region)
    answer = call(
        f"logging in to {host} (ecr:GetAuthorizationToken)",
        ecr.get_authorization_token,
        **({"registryIds": [account]} if account else {}),
    )
    try:
        token = answer["authorizationData"][0]["authorizationToken"]
        user, _, password = base64.b64decode(token).decode().partition(":")
    except (KeyError, IndexError, TypeError, binascii.Error, UnicodeDecodeError) as error:
        raise AwsError(f"ECR answered no usable authorization token for {host}") from error
    return user, password


@dataclass(frozen=True)
class DeployResult:
    """A function now running an image."""

    function: str
    function_arn: str
    image_uri: str
    code_sha256: str  # the manifest's sha256, as Lambda reports it


def deploy_image(settings: AwsSettings, function: str, image_uri: str) -> DeployResult:
    """Make ``function`` run ``image_uri``; waits until the update has finished."""
    lambda_client = client(settings, "lambda")
    config = call(
        f"reading function {function}",
        lambda_client.get_function_configuration,
        FunctionName=function,
    )
    if config.get("PackageType", "Zip") != "Image":
        raise AttachError(
            f"{function} is a .zip function; Lambda cannot change a function's package type",
            hint="create a function from the image (PackageType Image, ImageUri) and use that",
        )
    updated = call(
        f"updating {function}'s image",
        lambda_client.update_function_code,
        FunctionName=function,
        ImageUri=image_uri,
    )
    wait_for_update(lambda_client, function)
    return DeployResult(
        function,
        str(updated.get("FunctionArn", function)),
        image_uri,
        str(updated.get("CodeSha256", "")),
    )
