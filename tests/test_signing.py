"""Issue 36: ``publish --signing-profile`` — AWS Signer before publishing, S3 in and out.

The local AWS (moto, a real server on 127.0.0.1) implements signing profiles and S3 but not
signing jobs. So: the profile calls and the uploads run against moto; the signing job's
requests (start_signing_job, describe_signing_job) run against botocore's Stubber, which
checks every request against Signer's own service model — the one place these tests use a
stub, because no local component implements signing jobs. A real job was not run here.
"""

from __future__ import annotations

import boto3
import pytest
import test_publish
from botocore.stub import ANY, Stubber
from cliutil import run_cli
from test_publish import REGION, aws, layer_zip, unique

from lambdalayer.aws.signer import (
    LAMBDA_PLATFORM,
    SIGNED_PREFIX,
    SigningTarget,
    sign_zip,
    wait_for_job,
)
from lambdalayer.errors import AwsError
from lambdalayer.fsutil import file_sha256

# The local AWS of tests/test_publish.py (moto's server on 127.0.0.1) and its fake credentials.
moto_endpoint = test_publish.moto_endpoint
fake_credentials = test_publish.fake_credentials


def _bucket(moto_endpoint: str, versioned: bool = True) -> str:
    name = unique("signing")
    s3 = aws(moto_endpoint, "s3")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    if versioned:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def _profile(moto_endpoint: str, platform: str = LAMBDA_PLATFORM) -> str:
    name = unique("profile").replace("-", "_")
    aws(moto_endpoint, "signer").put_signing_profile(profileName=name, platformId=platform)
    return name


def _publish(capsys, moto_endpoint: str, zip_path, *extra: str) -> tuple[int, str, str]:
    return run_cli(
        capsys,
        "publish",
        str(zip_path),
        "--name",
        unique("signed"),
        "--region",
        REGION,
        "--endpoint-url",
        moto_endpoint,
        *extra,
    )


def test_the_profile_is_read_from_the_local_aws_and_the_zip_uploaded_for_signer(
    moto_endpoint, tmp_path, capsys
):
    bucket, profile = _bucket(moto_endpoint), _profile(moto_endpoint)
    zip_path = layer_zip(tmp_path / "layer.zip")
    code, out, err = _publish(
        capsys, moto_endpoint, zip_path, "--signing-profile", profile, "--s3-bucket", bucket
    )
    # The profile passed and the zip went to S3; moto has no signing jobs, so the job fails.
    assert code == 1
    assert "starting a signing job" in out + err
    keys = [
        item["Key"] for item in aws(moto_endpoint, "s3").list_objects_v2(Bucket=bucket)["Contents"]
    ]
    assert keys == [f"lambdalayer/unsigned/{file_sha256(zip_path)}.zip"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        # AWS answers ResourceNotFoundException; moto answers 500: either way, one line
        ("missing", "while reading the signing profile no_such_profile"),
        ("platform", "is for AmazonFreeRTOS-Default, not AWSLambda-SHA384-ECDSA"),
        ("unversioned", "has no versioning: AWS Signer signs a given version of an object"),
        ("no-bucket", "signing with AWS Signer goes through S3"),
    ],
)
def test_what_signer_cannot_use_is_said_before_publishing(
    moto_endpoint, tmp_path, capsys, case, expected
):
    bucket = _bucket(moto_endpoint, versioned=case != "unversioned")
    profile = {
        "missing": "no_such_profile",
        "platform": _profile(moto_endpoint, "AmazonFreeRTOS-Default"),
    }.get(case) or _profile(moto_endpoint)
    extra = [] if case == "no-bucket" else ["--s3-bucket", bucket]
    zip_path = layer_zip(tmp_path / "layer.zip")
    code, out, err = _publish(capsys, moto_endpoint, zip_path, "--signing-profile", profile, *extra)
    assert code == 1
    assert expected in out + err
    contents = aws(moto_endpoint, "s3").list_objects_v2(Bucket=bucket).get("Contents", [])
    if case in {"missing", "platform", "no-bucket"}:
        assert contents == []  # nothing uploaded for a profile that cannot sign


def _stubbed_signer(moto_endpoint: str) -> tuple[object, Stubber]:
    signer = boto3.client("signer", region_name=REGION, endpoint_url=moto_endpoint)
    return signer, Stubber(signer)


def test_the_signing_jobs_requests_match_signers_model(moto_endpoint, tmp_path):
    bucket = _bucket(moto_endpoint)
    zip_path = layer_zip(tmp_path / "layer.zip")
    sha256 = file_sha256(zip_path)
    signer, stub = _stubbed_signer(moto_endpoint)
    stub.add_response(
        "get_signing_profile",
        {"profileName": "lambda_profile", "platformId": LAMBDA_PLATFORM, "status": "Active"},
        {"profileName": "lambda_profile"},
    )
    stub.add_response(
        "start_signing_job",
        {"jobId": "job-1"},
        {
            "source": {
                "s3": {
                    "bucketName": bucket,
                    "key": f"lambdalayer/unsigned/{sha256}.zip",
                    "version": ANY,
                }
            },
            "destination": {"s3": {"bucketName": bucket, "prefix": SIGNED_PREFIX}},
            "profileName": "lambda_profile",
            "clientRequestToken": sha256,
        },
    )
    stub.add_response(
        "describe_signing_job",
        {
            "jobId": "job-1",
            "status": "Succeeded",
            "signedObject": {"s3": {"bucketName": bucket, "key": f"{SIGNED_PREFIX}job-1.zip"}},
        },
        {"jobId": "job-1"},
    )
    with stub:
        signed = sign_zip(
            signer,
            aws(moto_endpoint, "s3"),
            zip_path,
            SigningTarget("lambda_profile", bucket),
            sha256,
        )
    stub.assert_no_pending_responses()
    assert (signed.bucket, signed.key, signed.job_id) == (
        bucket,
        f"{SIGNED_PREFIX}job-1.zip",
        "job-1",
    )


def test_a_job_is_waited_for_and_a_failed_one_is_one_error(moto_endpoint):
    signer, stub = _stubbed_signer(moto_endpoint)
    stub.add_response(
        "describe_signing_job", {"jobId": "j", "status": "InProgress"}, {"jobId": "j"}
    )
    stub.add_response(
        "describe_signing_job",
        {"jobId": "j", "status": "Failed", "statusReason": "the profile was revoked"},
        {"jobId": "j"},
    )
    slept: list[float] = []
    with stub, pytest.raises(AwsError) as raised:
        wait_for_job(signer, "j", sleep=slept.append)
    assert raised.value.message == "signing job j failed: the profile was revoked"
    assert slept == [2.0]
