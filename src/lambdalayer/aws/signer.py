"""Code signing of a layer zip with AWS Signer, before it is published (``--signing-profile``).

Signer reads the zip from S3 and writes the signed copy to S3: the zip is put in the
bucket (which must have versioning on: a signing job names the object's version), a
signing job is started with the profile, and waited for; the layer is then published from
the signed object. The profile is read first (it must exist, be active and be for
``AWSLambda-SHA384-ECDSA``), so that a wrong name fails before any upload.

The local AWS the tests run (moto) implements signing profiles but not signing jobs: the
profile calls are tested against it, the job's requests against botocore's Stubber (which
checks them against Signer's service model), and a real signing job was not run here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdalayer.aws.client import call
from lambdalayer.errors import AwsError

LAMBDA_PLATFORM = "AWSLambda-SHA384-ECDSA"  # the platform of Lambda's code signing
POLL_SECONDS = 2.0
TIMEOUT_SECONDS = 600.0
UNSIGNED_PREFIX = "lambdalayer/unsigned/"
SIGNED_PREFIX = "lambdalayer/signed/"


@dataclass(frozen=True)
class SigningTarget:
    """The profile to sign with and the bucket Signer reads from and writes to."""

    profile: str
    bucket: str


@dataclass(frozen=True)
class SignedZip:
    """Where the signed zip is, and the job that signed it."""

    bucket: str
    key: str
    job_id: str


def check_profile(signer: Any, profile: str) -> dict[str, Any]:
    """The signing profile, if it can sign Lambda code; :class:`AwsError` otherwise."""
    found: dict[str, Any] = call(
        f"reading the signing profile {profile}", signer.get_signing_profile, profileName=profile
    )
    if found.get("platformId") != LAMBDA_PLATFORM:
        raise AwsError(
            f"signing profile {profile} is for {found.get('platformId')}, not {LAMBDA_PLATFORM}",
            hint=f"Lambda code signing needs a profile of the {LAMBDA_PLATFORM} platform",
        )
    if found.get("status") != "Active":
        raise AwsError(f"signing profile {profile} is {found.get('status')}, not Active")
    return found


def upload_unsigned(s3: Any, zip_path: Path, target: SigningTarget, sha256: str) -> tuple[str, str]:
    """Put the zip in the bucket; (key, version id). Signer needs the version."""
    key = f"{UNSIGNED_PREFIX}{sha256}.zip"
    with zip_path.open("rb") as body:
        put = call(
            f"uploading to s3://{target.bucket}/{key}",
            s3.put_object,
            Bucket=target.bucket,
            Key=key,
            Body=body,
        )
    version = put.get("VersionId")
    if not version or version == "null":
        raise AwsError(
            f"s3://{target.bucket} has no versioning: AWS Signer signs a given version of an object",
            hint=f"turn versioning on: aws s3api put-bucket-versioning --bucket {target.bucket}"
            " --versioning-configuration Status=Enabled",
        )
    return key, str(version)


def start_job(signer: Any, target: SigningTarget, key: str, version: str, token: str) -> str:
    """Start the signing job of ``key`` at ``version``; its id."""
    started = call(
        f"starting a signing job with {target.profile}",
        signer.start_signing_job,
        source={"s3": {"bucketName": target.bucket, "key": key, "version": version}},
        destination={"s3": {"bucketName": target.bucket, "prefix": SIGNED_PREFIX}},
        profileName=target.profile,
        clientRequestToken=token,
    )
    return str(started["jobId"])


def wait_for_job(
    signer: Any,
    job_id: str,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = TIMEOUT_SECONDS,
) -> str:
    """Wait for the job to end; the signed object's key, or :class:`AwsError` with its reason."""
    waited = 0.0
    while True:
        job = call(f"reading signing job {job_id}", signer.describe_signing_job, jobId=job_id)
        status = job.get("status")
        if status == "Succeeded":
            return str(job["signedObject"]["s3"]["key"])
        if status == "Failed":
            raise AwsError(
                f"signing job {job_id} failed: {job.get('statusReason', '')}".rstrip(": ")
            )
        if waited >= timeout:
            raise AwsError(f"signing job {job_id} is still {status} after {timeout:.0f} s")
        sleep(POLL_SECONDS)
        waited += POLL_SECONDS


def sign_zip(signer: Any, s3: Any, zip_path: Path, target: SigningTarget, sha256: str) -> SignedZip:
    """Sign ``zip_path`` with ``target.profile``: the profile checked, uploaded, signed, waited for."""
    check_profile(signer, target.profile)
    key, version = upload_unsigned(s3, zip_path, target, sha256)
    job_id = start_job(signer, target, key, version, sha256[:64])
    return SignedZip(target.bucket, wait_for_job(signer, job_id), job_id)
