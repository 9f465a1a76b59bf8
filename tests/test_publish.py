"""publish / attach / layers against moto's real server on 127.0.0.1 (Lambda, S3, IAM)."""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from lambdalayer.aws.attach import attach
from lambdalayer.aws.client import AwsSettings, client
from lambdalayer.aws.publish import PublishRequest, layer_versions, prunable, publish
from lambdalayer.cli.main import main
from lambdalayer.errors import AttachError, InputError, LambdaLayerError

REGION = "eu-west-1"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def settings(moto_endpoint: str) -> AwsSettings:
    return AwsSettings(region=REGION, endpoint_url=moto_endpoint)


def aws(moto_endpoint: str, service: str, region: str = REGION) -> Any:
    return boto3.client(service, region_name=region, endpoint_url=moto_endpoint)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def layer_zip(path: Path, content: str = "X = 1\n", target: str = "python3.12-x86_64") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("python/mod.py", content)
        archive.comment = f"lambdalayer target={target} layout=python".encode()
    return path


def make_function(
    moto_endpoint: str, layers: list[str], arch: str = "x86_64", env: dict[str, str] | None = None
) -> str:
    iam = aws(moto_endpoint, "iam")
    role_name = unique("role")
    role = iam.create_role(
        RoleName=role_name,
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def handler(event, context):\n    return 1\n")
    name = unique("fn")
    aws(moto_endpoint, "lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="handler.handler",
        Code={"ZipFile": code.getvalue()},
        Architectures=[arch],
        Layers=layers,
        Environment={"Variables": env or {}},
    )
    return name


def function_layers(moto_endpoint: str, name: str) -> list[str]:
    config = aws(moto_endpoint, "lambda").get_function_configuration(FunctionName=name)
    return [layer["Arn"] for layer in config.get("Layers", [])]


def test_publish_records_target_and_hash_and_republish_is_a_no_op(
    settings, moto_endpoint, tmp_path
):
    name = unique("deps")
    zip_path = layer_zip(tmp_path / "layer.zip", target="python3.12-arm64")
    [first] = publish(PublishRequest(zip_path, name, unzipped_bytes=6), settings)
    assert first.created and first.version == 1 and first.error is None
    version = aws(moto_endpoint, "lambda").get_layer_version(LayerName=name, VersionNumber=1)
    assert "lambdalayer sha256:" in version["Description"]
    [again] = publish(PublishRequest(zip_path, name), settings)
    assert not again.created and again.arn == first.arn
    layer_zip(zip_path, "X = 2\n")
    [changed] = publish(PublishRequest(zip_path, name), settings)
    assert changed.created and changed.version == 2
    [forced] = publish(PublishRequest(zip_path, name, force=True), settings)
    assert forced.created and forced.version == 3
    assert [item.version for item in layer_versions(settings, name)] == [3, 2, 1]


def test_cli_publish_takes_runtime_and_arch_from_the_zip(settings, moto_endpoint, tmp_path, capsys):
    name = unique("deps")
    zip_path = layer_zip(tmp_path / "layer.zip", target="python3.11-arm64")
    assert (
        main(
            [
                "publish",
                str(zip_path),
                "--name",
                name,
                "--endpoint-url",
                moto_endpoint,
                "--region",
                REGION,
            ]
        )
        == 0
    )
    assert "(published)" in capsys.readouterr().out
    version = aws(moto_endpoint, "lambda").get_layer_version(LayerName=name, VersionNumber=1)
    assert version["CompatibleRuntimes"] == ["python3.11"]
    assert version["CompatibleArchitectures"] == ["arm64"]


def test_large_layers_go_through_s3_or_fail_before_uploading(
    settings, moto_endpoint, tmp_path, monkeypatch
):
    monkeypatch.setattr("lambdalayer.aws.publish.DIRECT_UPLOAD_LIMIT", 100)
    name = unique("big")
    zip_path = layer_zip(tmp_path / "layer.zip", "X = '" + "x" * 500 + "'\n")
    with pytest.raises(InputError, match="direct-upload limit"):
        publish(PublishRequest(zip_path, name), settings)
    assert layer_versions(settings, name) == []
    bucket = unique("artifacts")
    aws(moto_endpoint, "s3").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    [result] = publish(PublishRequest(zip_path, name, s3_bucket=bucket), settings)
    assert result.created, result.error
    keys = [
        item["Key"] for item in aws(moto_endpoint, "s3").list_objects_v2(Bucket=bucket)["Contents"]
    ]
    assert (
        len(keys) == 1 and keys[0].startswith(f"lambdalayer/{name}/") and keys[0].endswith(".zip")
    )


@pytest.mark.parametrize("quiet", [[], ["-q"]])
def test_the_upload_through_s3_is_progress_that_q_leaves_out(
    moto_endpoint, tmp_path, monkeypatch, capsys, quiet
):
    monkeypatch.setattr("lambdalayer.aws.publish.DIRECT_UPLOAD_LIMIT", 100)
    bucket = unique("progress")
    aws(moto_endpoint, "s3").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    zip_path = layer_zip(tmp_path / "layer.zip", "X = '" + "x" * 500 + "'\n")
    argv = ["publish", str(zip_path), "--name", unique("big"), "--s3-bucket", bucket]
    code = main([*argv, "--endpoint-url", moto_endpoint, "--regions", REGION, *quiet])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "(published)" in captured.out
    shown = not quiet
    assert ("uploading to S3" in captured.err) is shown, captured.err


def test_many_regions_and_one_failing(settings, moto_endpoint, tmp_path, capsys):
    name = unique("multi")
    zip_path = layer_zip(tmp_path / "layer.zip")
    results = publish(PublishRequest(zip_path, name), settings, ["eu-west-1", "us-east-1"])
    assert [result.region for result in results] == ["eu-west-1", "us-east-1"]
    assert all(result.created for result in results)
    assert ":us-east-1:" in (results[1].arn or "")
    code = main(
        [
            "publish",
            str(zip_path),
            "--name",
            name,
            "--endpoint-url",
            moto_endpoint,
            "--regions",
            "eu-west-1,not a region",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "eu-west-1: arn:aws:lambda:eu-west-1:" in captured.out and "unchanged" in captured.out
    assert (
        "not a region: FAILED:" in captured.err
        and "error: publishing failed in 1 of 2" in captured.err
    )


def test_permissions_for_public_accounts_and_organizations(settings, moto_endpoint, tmp_path):
    name = unique("shared")
    request = PublishRequest(
        layer_zip(tmp_path / "l.zip"),
        name,
        public=True,
        accounts=("123456789012",),
        organization="o-abcdefghij",
    )
    [result] = publish(request, settings)
    policy = json.loads(
        aws(moto_endpoint, "lambda").get_layer_version_policy(
            LayerName=name, VersionNumber=result.version
        )["Policy"]
    )
    statements = {statement["Sid"]: statement for statement in policy["Statement"]}
    assert set(statements) == {
        "lambdalayer-public",
        "lambdalayer-account-123456789012",
        "lambdalayer-org-o-abcdefghij",
    }
    assert all(statement["Action"] == "lambda:GetLayerVersion" for statement in statements.values())


@pytest.mark.parametrize(
    ("request_kwargs", "message"),
    [
        ({"name": "bad name!"}, "invalid layer name"),
        ({"name": "x" * 141}, "invalid layer name"),
        ({"name": "deps\n"}, "invalid layer name"),
        ({"description": "d" * 200}, "description too long"),
        ({"license_info": "l" * 513}, "AWS allows 512"),
        ({"runtimes": ("python2.7",)}, "unknown runtime"),
        ({"accounts": ("12345",)}, "not an AWS account id"),
    ],
)
def test_aws_limits_are_enforced_before_any_call(tmp_path, request_kwargs, message):
    dead = AwsSettings(region=REGION, endpoint_url="http://127.0.0.1:9")  # nothing listens there
    arguments = {"name": "fine", **request_kwargs}
    with pytest.raises(LambdaLayerError, match=message):
        publish(PublishRequest(layer_zip(tmp_path / "l.zip"), **arguments), dead)


def test_no_credentials_is_one_clear_line(moto_endpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    code = main(
        [
            "publish",
            str(layer_zip(tmp_path / "l.zip")),
            "--name",
            "x",
            "--endpoint-url",
            moto_endpoint,
            "--region",
            REGION,
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "no AWS credentials found" in err and "testing" not in err


def test_attach_replaces_in_place_appends_and_keeps_other_layers(settings, moto_endpoint, tmp_path):
    ours, other, third = unique("ours"), unique("other"), unique("third")
    [ours_v1] = publish(PublishRequest(layer_zip(tmp_path / "a.zip"), ours), settings)
    [other_v1] = publish(PublishRequest(layer_zip(tmp_path / "b.zip", "Y = 1\n"), other), settings)
    function = make_function(moto_endpoint, [ours_v1.arn, other_v1.arn])  # type: ignore[list-item]
    [ours_v2] = publish(PublishRequest(layer_zip(tmp_path / "a.zip", "X = 2\n"), ours), settings)
    result = attach(settings, function, ours_v2.arn or "")
    assert result.after == (ours_v2.arn, other_v1.arn)
    assert function_layers(moto_endpoint, function) == [ours_v2.arn, other_v1.arn]
    [third_v1] = publish(PublishRequest(layer_zip(tmp_path / "c.zip", "Z = 1\n"), third), settings)
    attach(settings, function, third_v1.arn or "")
    assert function_layers(moto_endpoint, function) == [ours_v2.arn, other_v1.arn, third_v1.arn]
    assert not attach(settings, function, third_v1.arn or "").changed


def test_attach_refuses_a_sixth_layer_and_the_wrong_architecture(settings, moto_endpoint, tmp_path):
    arns = []
    for index in range(6):
        [published] = publish(
            PublishRequest(layer_zip(tmp_path / f"{index}.zip", f"V = {index}\n"), unique("many")),
            settings,
        )
        arns.append(published.arn)
    function = make_function(moto_endpoint, arns[:5])
    with pytest.raises(AttachError, match="would have 6 layers"):
        attach(settings, function, arns[5])
    assert function_layers(moto_endpoint, function) == arns[:5]
    [arm] = publish(
        PublishRequest(
            layer_zip(tmp_path / "arm.zip", target="python3.12-arm64"),
            unique("arm"),
            runtimes=("python3.12",),
            architectures=("arm64",),
        ),
        settings,
    )
    x86_function = make_function(moto_endpoint, [])
    with pytest.raises(AttachError, match="built for arm64"):
        attach(settings, x86_function, arm.arn or "")
    [old_runtime] = publish(
        PublishRequest(layer_zip(tmp_path / "r.zip"), unique("rt"), runtimes=("python3.11",)),
        settings,
    )
    with pytest.raises(AttachError, match=r"runs python3\.12"):
        attach(settings, x86_function, old_runtime.arn or "")


def test_attach_warns_about_pythonpath(settings, moto_endpoint, tmp_path):
    [layer] = publish(PublishRequest(layer_zip(tmp_path / "a.zip"), unique("pp")), settings)
    function = make_function(moto_endpoint, [], env={"PYTHONPATH": "/var/task/src"})
    result = attach(settings, function, layer.arn or "")
    assert result.changed and "sets PYTHONPATH" in result.warnings[0]


def test_prune_keeps_the_newest_and_what_a_function_uses(settings, moto_endpoint, tmp_path, capsys):
    name = unique("prune")
    zip_path = layer_zip(tmp_path / "l.zip")
    arns = [publish(PublishRequest(zip_path, name, force=True), settings)[0].arn for _ in range(5)]
    function = make_function(moto_endpoint, [arns[0]])
    prune_args = [
        "layers",
        name,
        "--prune",
        "--keep",
        "2",
        "--in-use-by",
        function,
        "--endpoint-url",
        moto_endpoint,
        "--region",
        REGION,
    ]
    assert main([*prune_args, "--dry-run"]) == 0
    assert "would delete 2 versions of" in capsys.readouterr().out
    assert len(layer_versions(settings, name)) == 5
    assert main(prune_args) == 1  # no terminal, no --yes: nothing is deleted
    assert "add --yes" in capsys.readouterr().err
    assert len(layer_versions(settings, name)) == 5
    assert main([*prune_args, "--yes"]) == 0
    assert "deleted 2 versions" in capsys.readouterr().out
    assert [item.version for item in layer_versions(settings, name)] == [5, 4, 1]
    assert prunable(settings, name, 3) == []


def test_build_publish_attach_flow_and_no_op_rebuild(
    local_index, cache_dir, moto_endpoint, tmp_path, capsys
):
    name = unique("flow")
    function = make_function(moto_endpoint, [])
    args = [
        "build",
        "alpha",
        "--runtime",
        "python3.12",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(cache_dir),
        "-o",
        str(tmp_path / "layer.zip"),
        "--publish",
        name,
        "--attach",
        function,
        "--endpoint-url",
        moto_endpoint,
        "--region",
        REGION,
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"layer:{name}:1 (published)" in out and f"to {function}" in out
    assert function_layers(moto_endpoint, function) == [
        f"arn:aws:lambda:{REGION}:123456789012:layer:{name}:1"
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "(unchanged, same content as the newest version)" in out and "already uses" in out
    assert [
        item.version
        for item in layer_versions(AwsSettings(region=REGION, endpoint_url=moto_endpoint), name)
    ] == [1]


@pytest.mark.parametrize(
    ("flags", "arch", "refused"),
    [
        (["--runtime", "python3.11"], "x86_64", r"runs python3\.12"),
        (["--runtime", "python3.12", "--arch", "arm64"], "x86_64", "runs on x86_64"),
        (["--runtime", "python3.12"], "arm64", "runs on arm64"),
    ],
)
def test_build_publish_attach_refuses_before_publishing_what_the_function_cannot_use(
    local_index, cache_dir, moto_endpoint, tmp_path, capsys, flags, arch, refused
):
    """#33 point 7: the function's runtime and CPU are read before publishing, so a refusal
    leaves no orphan layer version behind (it used to publish version 1, then refuse)."""
    name = unique("orphan")
    function = make_function(moto_endpoint, [], arch=arch)
    args = [
        *("build", "alpha", *flags, "--index-url", local_index.url),
        *("--cache-dir", str(cache_dir), "-o", str(tmp_path / "layer.zip")),
        *("--publish", name, "--attach", function),
        *("--endpoint-url", moto_endpoint, "--region", REGION),
    ]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert re.search(refused, err), err
    assert f"{name} (about to be published)" in err
    assert layer_versions(AwsSettings(region=REGION, endpoint_url=moto_endpoint), name) == []
    assert function_layers(moto_endpoint, function) == []


def test_build_publish_attach_refuses_a_sixth_layer_before_publishing(
    local_index, cache_dir, moto_endpoint, tmp_path, capsys, settings
):
    others = [
        publish(
            PublishRequest(layer_zip(tmp_path / f"{i}.zip", f"V = {i}\n"), unique("o")), settings
        )[0].arn
        or ""
        for i in range(5)
    ]
    function = make_function(moto_endpoint, others)
    name = unique("sixth")
    args = [
        *("build", "alpha", "--runtime", "python3.12", "--index-url", local_index.url),
        *("--cache-dir", str(cache_dir), "-o", str(tmp_path / "layer.zip")),
        *("--publish", name, "--attach", function),
        *("--endpoint-url", moto_endpoint, "--region", REGION),
    ]
    assert main(args) == 1
    assert "would have 6 layers" in capsys.readouterr().err
    assert layer_versions(settings, name) == []


def test_layers_lists_hash_sizes_and_runtimes(settings, moto_endpoint, tmp_path, capsys):
    name = unique("listed")
    zip_path = layer_zip(tmp_path / "l.zip")
    publish(PublishRequest(zip_path, name, runtimes=("python3.12",), unzipped_bytes=6), settings)
    assert (
        main(["layers", name, "--endpoint-url", moto_endpoint, "--region", REGION, "--json"]) == 0
    )
    [listed] = json.loads(capsys.readouterr().out)["versions"]
    assert listed["version"] == 1 and listed["runtimes"] == ["python3.12"]
    assert listed["zipped_bytes"] == zip_path.stat().st_size and listed["unzipped_bytes"] == 6
    assert len(listed["sha256"]) == 64


@pytest.mark.parametrize(
    ("code", "hint"),
    [
        ("AccessDeniedException", "lack a lambda:* permission"),
        ("CodeStorageExceededException", "--prune"),
        ("TooManyRequestsException", "throttled even after retries"),
    ],
)
def test_aws_error_codes_become_one_line_with_a_hint(code, hint):
    from botocore.exceptions import ClientError

    from lambdalayer.aws.client import translate

    error = ClientError({"Error": {"Code": code, "Message": "from AWS"}}, "PublishLayerVersion")
    translated = translate(error, "publishing x")
    assert translated.message == f"AWS {code} while publishing x: from AWS"
    assert translated.hint is not None and hint in translated.hint


def test_on_top_of_a_layer_arn_asks_the_lambda_api_and_explains_a_missing_location(
    settings, moto_endpoint, local_index, cache_dir, tmp_path, capsys
):
    base = tmp_path / "base.zip"
    common = [
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(cache_dir),
        "--runtime",
        "python3.12",
        "--bytecode",
        "none",
    ]
    assert main(["build", "alpha", "-o", str(base), *common]) == 0
    [published] = publish(PublishRequest(base, unique("base")), settings)
    capsys.readouterr()
    out = tmp_path / "layer.zip"
    code = main(
        [
            "build",
            "alpha",
            "datapkg",
            "-o",
            str(out),
            *common,
            "--on-top-of",
            f"layer:{published.arn}",
            "--endpoint-url",
            moto_endpoint,
            "--json",
        ]
    )
    captured = capsys.readouterr()
    # moto answers Content.Location with an s3:// placeholder where AWS gives a presigned
    # HTTPS URL, so against moto the download itself cannot happen: the error must say so.
    assert code == 1
    failure = json.loads(captured.out)  # with --json the error is in the JSON only
    assert (
        "gave no downloadable location" in failure["error"] and "layer:PATH.zip" in failure["hint"]
    )
    assert captured.err == ""


def test_managed_layer_arn_falls_back_to_the_parameter_name_when_aws_cannot_say(
    moto_endpoint, local_index, cache_dir, tmp_path, capsys
):
    # The exact ARN comes from AWS's public SSM parameter; moto refuses names under /aws/
    # and has none of AWS's own, so here the look-up fails and the name is printed instead.
    from lambdalayer.resolve.provided import managed_releases

    release = managed_releases()[0]
    code = main(
        [
            "build",
            "alpha",
            "--runtime",
            "python3.12",
            "--index-url",
            local_index.url,
            "--cache-dir",
            str(cache_dir),
            "-o",
            str(tmp_path / "l.zip"),
            "--on-top-of",
            f"aws-sdk-pandas=={release}",
            "--region",
            REGION,
            "--endpoint-url",
            moto_endpoint,
            "--bytecode",
            "none",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert (
        f"attach with it: arn:aws:lambda:{REGION}:336392948345:layer:AWSSDKPandas-Python312:<version>"
        in out
    )
    assert f"/aws/service/aws-sdk-pandas/{release}/py3.12/x86_64/layer-arn" in out


def test_attach_sends_the_functions_revision_id(settings, moto_endpoint, tmp_path, monkeypatch):
    """Lambda refuses an update whose RevisionId is not the function's latest, so a change
    made meanwhile (another attach, a deploy) is never silently dropped. moto neither returns
    a function's RevisionId (AWS's GetFunctionConfiguration does) nor checks it: the one
    field is added to moto's answer, and the request botocore really sends to the server is
    read, both with botocore's own event hooks."""
    import lambdalayer.aws.attach as attach_module

    sent: list[dict[str, object]] = []
    revision = "11111111-2222-3333-4444-555555555555"

    def with_revision(parsed: dict[str, object], **_: object) -> None:
        parsed["RevisionId"] = revision

    def record(request: object, **_: object) -> None:
        sent.append(json.loads(request.body or b"{}"))  # type: ignore[attr-defined]

    def hooked(*args: object, **kwargs: object) -> object:
        made = client(*args, **kwargs)  # type: ignore[arg-type]
        made.meta.events.register("after-call.lambda.GetFunctionConfiguration", with_revision)
        made.meta.events.register("before-send.lambda.UpdateFunctionConfiguration", record)
        return made

    monkeypatch.setattr(attach_module, "client", hooked)
    [layer] = publish(PublishRequest(layer_zip(tmp_path / "a.zip"), unique("rev")), settings)
    function = make_function(moto_endpoint, [])
    attach(settings, function, layer.arn or "")
    assert sent == [{"Layers": [layer.arn], "RevisionId": revision}]
    assert function_layers(moto_endpoint, function) == [layer.arn]


def test_a_layer_beneath_is_read_with_get_layer_version_and_kept_by_its_code_sha256(
    settings, tmp_path
):
    """#31: the managed layer's content through GetLayerVersion (the ARN's name and version):
    the API call against moto, whose location is no usable download (said as such)."""
    from lambdalayer.aws.beneath import fetch_beneath
    from lambdalayer.aws.layercontent import cached_layer_zip, layer_content
    from lambdalayer.fsutil import file_sha256
    from lambdalayer.resolve.provided import Provided

    zip_path = layer_zip(tmp_path / "beneath.zip")
    [published] = publish(PublishRequest(zip_path, unique("beneath")), settings)
    assert published.arn is not None
    content = layer_content(published.arn, settings)
    assert content.sha256 == file_sha256(zip_path) and content.size == zip_path.stat().st_size
    with pytest.raises(InputError, match=r"no downloadable location for .* \(s3\)"):
        cached_layer_zip(content, tmp_path / "cache")
    # in a build, the layer then stays absent, and the check says why
    managed = Provided(source="aws-sdk-pandas 3.17.1", pins={}, layer_arn=published.arn)
    fetched = fetch_beneath((managed,), settings, tmp_path / "cache")
    assert fetched.sources == (managed,)
    [why] = fetched.missing
    assert why.startswith("aws-sdk-pandas 3.17.1: the Lambda API gave no downloadable location")


def test_a_layer_versions_zip_is_downloaded_once_and_verified_against_its_code_sha256(tmp_path):
    """The download against a loopback HTTP server: verified, kept by its hash, never used
    when its bytes are not the ones the API named."""
    from indexserver import LocalIndex

    from lambdalayer.aws.layercontent import LayerContent, cached_layer_zip
    from lambdalayer.errors import FetchError
    from lambdalayer.fsutil import file_sha256

    served = tmp_path / "served"
    served.mkdir()
    zip_path = layer_zip(served / "layer.zip")
    digest, size = file_sha256(zip_path), zip_path.stat().st_size
    arn = f"arn:aws:lambda:{REGION}:336392948345:layer:AWSSDKPandas-Python312:7"
    cache = tmp_path / "cache"
    with LocalIndex(served) as index:
        location = index.url.removesuffix("/simple") + "/files/layer.zip"
        kept = cached_layer_zip(LayerContent(arn, location, digest, size), cache)
        assert kept.read_bytes() == zip_path.read_bytes() and digest in kept.name
        assert index.requests == ["/files/layer.zip"]
        assert cached_layer_zip(LayerContent(arn, location, digest, size), cache) == kept
        assert index.requests == ["/files/layer.zip"]  # the second time from the cache
        other = "0" * 64
        with pytest.raises(FetchError, match="not the CodeSha256 the Lambda API gave"):
            cached_layer_zip(LayerContent(arn, location, other, size), cache)
    assert sorted(path.name for path in kept.parent.iterdir()) == [kept.name]  # nothing else kept
