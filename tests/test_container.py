"""``image build``: Lambda container images without Docker, checked by tools that are not ours.

A real registry (Debian's docker-registry, distribution 2.x) is served on 127.0.0.1; the
base is a stand-in Lambda image made from the x86_64 stand-in root by umoci and pushed by
skopeo; what lambdalayer pushes is read back by skopeo (inspect, copy — which checks every
blob's digest) and unpacked by umoci, and the unpacked root imports the dependencies and
the handler. ECR's login and update-function-code run against moto's server. A test
whose program is missing skips and says which (.ci/run installs them all); the fixtures
that start or use those programs (conftest.py) say so.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import socket
import subprocess
import tarfile
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from cliutil import run_cli
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from indexserver import LocalIndex
from moto.server import ThreadedMotoServer
from ocitools import (
    REGISTRY,
    DistributionRegistry,
    skopeo_copy,
    skopeo_inspect,
    umoci_unpack,
)
from wheelmaker import make_wheel

from lambdalayer.aws.client import AwsSettings
from lambdalayer.aws.images import ecr_credentials
from lambdalayer.environment.image import pull_image
from lambdalayer.lock import read_pylock
from lambdalayer.ocimedia import OCI_INDEX, OCI_MANIFEST
from lambdalayer.targets import get_target

REGION = "eu-west-1"
HANDLER = "def handler(event, context):\n    import alpha\n    return {'alpha': alpha.__name__}\n"
SITE = "var/lang/lib/python3.12/site-packages"
ROOT_TMP = "/tmp"  # noqa: S108 - the confined root's own /tmp, a tmpfs


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("image-cache")


@pytest.fixture
def function(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    (source / "app.py").write_text(HANDLER)
    return source


def image_build(capsys, index: LocalIndex, cache: Path, *args: str) -> tuple[int, Any, str]:  # type: ignore[no-untyped-def]
    code, out, err = run_cli(
        capsys,
        "image",
        "build",
        "--runtime",
        "python3.12",
        "--index-url",
        index.url,
        "--cache-dir",
        str(cache),
        "--json",
        *args,
    )
    if code != 0:  # with --json the error is in the JSON only: said as the CLI says it
        document = json.loads(out)
        err += f"error: {document['error']}\n" + (
            f"hint: {document['hint']}\n" if document.get("hint") else ""
        )
    return code, json.loads(out) if code == 0 else None, err


def raw_manifest(reference: str) -> bytes:
    return subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{reference}"],
        check=True,
        capture_output=True,
    ).stdout


def run_in_root(root: Path, code: str) -> str:
    """Python code run by the root's own CPython, confined to that root (bubblewrap)."""
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap)")
    done = subprocess.run(
        ["bwrap", "--ro-bind", str(root), "/", "--proc", "/proc", "--dev", "/dev",
         "--tmpfs", ROOT_TMP, "--chdir", "/var/task", "--unshare-all", "--clearenv",
         "--setenv", "LD_LIBRARY_PATH", "/var/lang/lib:/lib64:/usr/lib64",
         "/var/lang/bin/python3.12", "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_pushed_image_is_one_platform_with_our_cmd_and_runs_its_handler(
    capsys, local_index, cache, oci_registry, standin_base, function, tmp_path, x86_image
):
    destination = f"{oci_registry.host}/fn/one:v1"
    code, built, err = image_build(
        capsys, local_index, cache, "alpha", "bigpkg==1.0", "--function", str(function),
        "--handler", "app.handler", "--base", standin_base, "--push", destination,
    )  # fmt: skip
    assert code == 0, err
    manifest = raw_manifest(destination)
    document = json.loads(manifest)
    # One single-platform manifest, as Lambda takes (no index), named by its own digest.
    assert document["mediaType"] in {
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    }
    assert "manifests" not in document
    digest = f"sha256:{hashlib.sha256(manifest).hexdigest()}"
    assert built["digest"] == digest
    assert built["image_uri"] == f"{oci_registry.host}/fn/one@{digest}"
    assert built["base"]["pinned"].startswith(f"{oci_registry.host}/lambda/python@sha256:")
    # Lambda's 10 GB counts the whole image: the base's layers (uncompressed) too
    base_files = sum(
        path.lstat().st_size
        for path in x86_image.rglob("*")
        if path.is_file() and not path.is_symlink()
    )  # the stand-in base is this root in one layer: its tar stream holds at least these bytes
    assert built["check"]["uncompressed_bytes"] > base_files + (5 << 20)  # bigpkg's 5 MiB
    config = skopeo_inspect(f"docker://{destination}", config=True)
    assert config["config"]["Cmd"] == ["app.handler"]  # type: ignore[index]
    assert config["config"]["Entrypoint"] == ["/lambda-entrypoint.sh"]  # type: ignore[index]
    assert [layer["what"] for layer in built["layers"]] == [
        "bigpkg 1.0",
        "2 smaller distributions",
        "the function's code",
    ]
    # skopeo copies every blob, checking its digest; umoci unpacks the layout it wrote.
    layout = tmp_path / "copied"
    skopeo_copy(f"docker://{destination}", f"oci:{layout}:v1")
    rootfs = umoci_unpack(layout, "v1", tmp_path / "bundle")
    assert (rootfs / SITE / "alpha" / "__init__.py").is_file()
    assert (rootfs / SITE / "bigpkg" / "data.bin").stat().st_size == 5 << 20
    assert (rootfs / "var/task/app.py").read_text() == HANDLER
    assert (rootfs / "var/task/__pycache__/app.cpython-312.pyc").is_file()
    out = run_in_root(
        rootfs,
        "import sys, bigpkg; sys.path.insert(0, '/var/task'); import app;"
        " print(app.handler({}, None), bigpkg.__file__)",
    )
    assert out.split() == ["{'alpha':", "'alpha'}", f"/{SITE}/bigpkg/__init__.py"]


def _registry_get(host: str, path: str, accept: str = "") -> bytes:
    request = urllib.request.Request(f"http://{host}/v2/{path}", headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


def test_an_images_sbom_is_written_and_pushed_as_an_artefact_referring_to_it(
    capsys, local_index, cache, oci_registry, standin_base, function, tmp_path
):
    """#36: the image's SBOM (CycloneDX, validated by its project's validator) is written and
    pushed beside the image with the image as its ``subject``; the tests' registry has no
    referrers API, so it is found by the OCI spec's ``sha256-<hex>`` tag, once per push."""
    destination = f"{oci_registry.host}/fn/sbom:v1"
    sbom = tmp_path / "out" / "image.cdx.json"
    args = ("alpha", "--function", str(function), "--handler", "app.handler")
    code, built, err = image_build(
        capsys, local_index, cache, *args, "--base", standin_base, "--push", destination,
        "--sbom", str(sbom),
    )  # fmt: skip
    assert code == 0, err
    text = sbom.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    document = json.loads(text)
    components = {item["name"]: item for item in document["components"]}
    assert {"alpha", "beta"} <= set(components)
    assert components["alpha"]["purl"] == "pkg:pypi/alpha@1.0"
    digest = built["digest"]
    assert built["sbom"]["pushed"]["found_by"] == f"tag sha256-{digest.removeprefix('sha256:')}"
    tag = "sha256-" + digest.removeprefix("sha256:")
    index = json.loads(_registry_get(oci_registry.host, f"fn/sbom/manifests/{tag}", OCI_INDEX))
    [descriptor] = index["manifests"]
    assert descriptor["artifactType"] == "application/vnd.cyclonedx+json"
    assert descriptor["digest"] == built["sbom"]["pushed"]["digest"]
    manifest = json.loads(
        _registry_get(oci_registry.host, f"fn/sbom/manifests/{descriptor['digest']}", OCI_MANIFEST)
    )
    assert manifest["subject"]["digest"] == digest
    [layer] = manifest["layers"]
    assert _registry_get(oci_registry.host, f"fn/sbom/blobs/{layer['digest']}") == text.encode()
    # The same image pushed again: the tag's index still lists the SBOM once.
    code, again, err = image_build(
        capsys, local_index, cache, *args, "--base", standin_base, "--push", destination,
        "--sbom", str(tmp_path / "again.cdx.json"),
    )  # fmt: skip
    assert code == 0 and again["digest"] == digest, err
    index = json.loads(_registry_get(oci_registry.host, f"fn/sbom/manifests/{tag}", OCI_INDEX))
    assert len(index["manifests"]) == 1
    assert (tmp_path / "again.cdx.json").read_bytes() == sbom.read_bytes()  # reproducible


def test_a_rebuild_sends_nothing_and_a_changed_requirement_sends_one_layer(
    capsys, local_index, cache, oci_registry, standin_base, function
):
    destination = f"{oci_registry.host}/fn/two:v1"
    args = ("--function", str(function), "--handler", "app.handler", "--base", standin_base)
    code, first, err = image_build(
        capsys, local_index, cache, "alpha", "bigpkg==1.0", *args, "--push", destination
    )
    assert code == 0, err
    layers = {layer["what"]: layer["digest"] for layer in first["layers"]}

    mark = len(oci_registry.requests())
    code, again, err = image_build(
        capsys, local_index, cache, "alpha", "bigpkg==1.0", *args, "--push", destination
    )
    assert code == 0, err
    assert again["digest"] == first["digest"]
    assert oci_registry.uploaded(mark) == []  # every blob was there: not one sent twice
    assert again["pushed"]["uploaded_bytes"] == 0

    # One small requirement more: the shared small layer and the config, nothing else.
    mark = len(oci_registry.requests())
    code, small, err = image_build(
        capsys, local_index, cache, "alpha", "bigpkg==1.0", "storedpkg", *args,
        "--push", destination,
    )  # fmt: skip
    assert code == 0, err
    changed = {layer["what"]: layer["digest"] for layer in small["layers"]}
    assert changed["bigpkg 1.0"] == layers["bigpkg 1.0"]
    assert changed["the function's code"] == layers["the function's code"]
    config_digest = json.loads(raw_manifest(destination))["config"]["digest"]
    assert sorted(oci_registry.uploaded(mark)) == sorted(
        [changed["3 smaller distributions"], config_digest]
    )

    # The large requirement changed: its own layer and the config.
    mark = len(oci_registry.requests())
    code, large, err = image_build(
        capsys, local_index, cache, "alpha", "bigpkg==2.0", "storedpkg", *args,
        "--push", destination,
    )  # fmt: skip
    assert code == 0, err
    now = {layer["what"]: layer["digest"] for layer in large["layers"]}
    config_digest = json.loads(raw_manifest(destination))["config"]["digest"]
    assert sorted(oci_registry.uploaded(mark)) == sorted([now["bigpkg 2.0"], config_digest])


def test_an_archive_is_an_oci_layout_and_the_same_bytes_from_a_cold_cache(
    capsys, local_index, cache, standin_base, function, tmp_path, monkeypatch
):
    args = (
        "alpha",
        "--function",
        str(function),
        "--handler",
        "app.handler",
        "--base",
        standin_base,
    )
    first = tmp_path / "one" / "image.tar"
    code, built, err = image_build(capsys, local_index, cache, *args, "-o", str(first))
    assert code == 0, err
    inspected = skopeo_inspect(f"oci-archive:{first}")
    assert inspected["Digest"] == built["digest"]
    assert inspected["Architecture"] == "amd64"
    with tarfile.open(first) as archive:
        names = archive.getnames()
        assert {"oci-layout", "index.json"} <= set(names)
        index = json.loads(archive.extractfile("index.json").read())  # type: ignore[union-attr]
    assert [item["digest"] for item in index["manifests"]] == [built["digest"]]
    # Another machine, as far as this one can tell: an empty cache, another umask and zone.
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    second = tmp_path / "two" / "image.tar"
    code, again, err = image_build(
        capsys, local_index, tmp_path / "cold-cache", *args, "-o", str(second)
    )
    assert code == 0, err
    assert again["digest"] == built["digest"]
    assert second.read_bytes() == first.read_bytes()


def test_an_image_gets_its_lock_as_a_layer_does_and_the_lock_rebuilds_the_same_image(
    capsys, local_index, cache, standin_base, function, tmp_path
):
    args = ("--function", str(function), "--handler", "app.handler", "--base", standin_base)
    lock = tmp_path / "locks" / "pylock.toml"
    code, built, err = image_build(
        capsys, local_index, cache, "alpha", *args, "-o", str(tmp_path / "image.tar"),
        "--lock", str(lock),
    )  # fmt: skip
    assert code == 0, err
    written = read_pylock(lock)
    assert {package.name: package.version for package in written.packages} == {
        "alpha": "1.0",
        "beta": "2.0",
    }
    assert written.target == "python3.12-x86_64"
    assert written.bytecode == "unchecked-hash"
    code, again, err = image_build(
        capsys, local_index, cache, "--from-lock", str(lock), *args,
        "-o", str(tmp_path / "again.tar"),
    )  # fmt: skip
    assert code == 0, err
    assert again["digest"] == built["digest"]
    # A build that fails writes no lock (and leaves no directory made for it).
    failed = tmp_path / "failed" / "pylock.toml"
    code, _, err = image_build(
        capsys, local_index, cache, "alpha", "--base", str(tmp_path / "no-such-base"),
        "-o", str(tmp_path / "x.tar"), "--lock", str(failed),
    )  # fmt: skip
    assert code != 0 and err.count("error:") == 1
    assert not failed.parent.exists()


def test_the_pull_client_reads_the_real_registry(oci_registry, standin_base, tmp_path):
    pulled = pull_image(
        get_target("python3.12"),
        tmp_path / "cache",
        registry_url=f"http://{oci_registry.host}",
        repository="lambda/python",
        tag="3.12",
    )
    assert (pulled.rootfs / "var/lang/bin/python3.12").is_file()
    assert pulled.digest == f"sha256:{hashlib.sha256(raw_manifest(standin_base)).hexdigest()}"


def test_a_base_for_the_other_cpu_is_refused_before_anything_is_written(
    capsys, local_index, cache, standin_base, tmp_path
):
    out = tmp_path / "image.tar"
    code, _, err = run_cli(
        capsys, "image", "build", "alpha", "--runtime", "python3.12", "--arch", "arm64",
        "--index-url", local_index.url, "--cache-dir", str(cache), "--base", standin_base, "-o", str(out),
    )  # fmt: skip
    assert code == 1
    assert "is for linux/amd64; the target is linux/arm64" in err
    assert not out.exists()


# --- credentials ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def locked_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributionRegistry]:
    """A registry asking for basic credentials: user ``tester``, and moto's ECR login."""
    if REGISTRY is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    bcrypt = pytest.importorskip("bcrypt")
    root = tmp_path_factory.mktemp("locked-registry")
    lines = [
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()}"
        for user, password in (("tester", "s3cret"), ("AWS", "123456789012-auth-token"))
    ]
    (root / "htpasswd").write_text("\n".join(lines) + "\n")
    with DistributionRegistry(root, htpasswd=root / "htpasswd") as served:
        yield served


@pytest.fixture(scope="module")
def base_archive(standin_layout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stand-in base as an OCI layout archive (a base read from disk, no registry)."""
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed (apt-get install skopeo)")
    archive = tmp_path_factory.mktemp("base-archive") / "base.tar"
    skopeo_copy(f"oci:{standin_layout}:3.12", f"oci-archive:{archive}:3.12")
    return archive


def test_a_registry_asking_for_credentials_gets_them_from_the_flag_or_docker_login(
    capsys, local_index, cache, locked_registry, base_archive, tmp_path, monkeypatch
):
    destination = f"{locked_registry.host}/fn/locked:v1"
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    monkeypatch.delenv("LAMBDALAYER_REGISTRY_AUTH", raising=False)
    args = ("alpha", "--base", str(base_archive), "--push", destination, "--no-check")
    code, _, err = image_build(capsys, local_index, cache, *args)
    assert code == 1
    assert f"error: {locked_registry.host} asks for a user name and password" in err
    assert "docker login" in err
    code, _, err = image_build(capsys, local_index, cache, *args, "--registry-auth", "tester:wrong")
    assert code == 1 and "refused the credentials" in err
    code, built, err = image_build(
        capsys, local_index, cache, *args, "--registry-auth", "tester:s3cret"
    )
    assert code == 0, err
    assert "s3cret" not in err
    # docker login's file, as Docker writes it
    config = tmp_path / "docker"
    config.mkdir()
    token = base64.b64encode(b"tester:s3cret").decode()
    (config / "config.json").write_text(
        json.dumps({"auths": {locked_registry.host: {"auth": token}}})
    )
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    code, again, err = image_build(capsys, local_index, cache, *args)
    assert code == 0, err
    assert again["digest"] == built["digest"]


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    monkeypatch.delenv("LAMBDALAYER_REGISTRY_AUTH", raising=False)


def test_ecr_login_through_boto3_pushes_to_a_registry_that_takes_it(
    capsys, local_index, cache, locked_registry, base_archive, moto_endpoint, aws_env
):
    settings = AwsSettings(region=REGION, endpoint_url=moto_endpoint)
    host = f"123456789012.dkr.ecr.{REGION}.amazonaws.com"
    assert ecr_credentials(host, settings) == ("AWS", "123456789012-auth-token")
    code, built, err = image_build(
        capsys, local_index, cache, "alpha", "--base", str(base_archive), "--no-check",
        "--push", f"{locked_registry.host}/fn/ecr:v1", "--registry-auth", "ecr",
        "--endpoint-url", moto_endpoint, "--region", REGION,
    )  # fmt: skip
    assert code == 0, err
    assert built["pushed"]["uploaded_blobs"] >= 2


def _image_function(moto_endpoint: str, name: str, package: str) -> None:
    iam = boto3.client("iam", region_name=REGION, endpoint_url=moto_endpoint)
    role = iam.create_role(
        RoleName=f"role-{name}",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    lam = boto3.client("lambda", region_name=REGION, endpoint_url=moto_endpoint)
    if package == "Image":
        code = {"ImageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/old:v0"}
        lam.create_function(FunctionName=name, Role=role, PackageType="Image", Code=code)
    else:
        lam.create_function(
            FunctionName=name, Role=role, Runtime="python3.12", Handler="app.handler",
            Code={"ZipFile": b"PK\x05\x06" + bytes(18)},
        )  # fmt: skip


def test_deploy_points_an_image_function_at_the_pushed_digest(
    capsys, local_index, cache, oci_registry, standin_base, function, moto_endpoint, aws_env
):
    name = f"fn-{uuid.uuid4().hex[:8]}"
    _image_function(moto_endpoint, name, "Image")
    code, built, err = image_build(
        capsys, local_index, cache, "alpha", "--function", str(function), "--handler",
        "app.handler", "--base", standin_base, "--push", f"{oci_registry.host}/fn/deployed:v1",
        "--deploy", name, "--endpoint-url", moto_endpoint, "--region", REGION,
    )  # fmt: skip
    assert code == 0, err
    lam = boto3.client("lambda", region_name=REGION, endpoint_url=moto_endpoint)
    code_location = lam.get_function(FunctionName=name)["Code"]
    assert code_location["ImageUri"] == built["image_uri"]
    assert built["deployed"].endswith(f":function:{name}")


def test_deploy_refuses_a_zip_function_and_changes_nothing(
    capsys, local_index, cache, oci_registry, standin_base, moto_endpoint, aws_env
):
    name = f"zipfn-{uuid.uuid4().hex[:8]}"
    _image_function(moto_endpoint, name, "Zip")
    code, _, err = image_build(
        capsys, local_index, cache, "alpha", "--base", standin_base, "--no-check",
        "--push", f"{oci_registry.host}/fn/zip:v1", "--deploy", name,
        "--endpoint-url", moto_endpoint, "--region", REGION,
    )  # fmt: skip
    assert code == 1
    assert f"{name} is a .zip function; Lambda cannot change a function's package type" in err
    lam = boto3.client("lambda", region_name=REGION, endpoint_url=moto_endpoint)
    assert lam.get_function_configuration(FunctionName=name)["PackageType"] == "Zip"


# --- what outgrows a layer: the real thing, from the public index ---------------------------

BIG_HANDLER = """\
import pandas, pyarrow.parquet, scipy.optimize, sklearn.linear_model


def handler(event, context):
    model = sklearn.linear_model.LinearRegression().fit([[0], [1], [2]], [1, 3, 5])
    return {"slope": round(float(model.coef_[0]), 6), "rows": len(pandas.DataFrame(event))}
"""


@pytest.mark.network
def test_a_stack_over_the_layer_quota_becomes_an_image_that_runs_its_handler(
    capsys, oci_registry, standin_base, tmp_path, monkeypatch
):
    """pandas, pyarrow, scipy and scikit-learn: over Lambda's 262,144,000 bytes for a function
    and its layers, so `build` refuses them and points here; the image is built, pushed,
    verified by skopeo and umoci, and its handler runs in the unpacked root."""
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap)")
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "no-docker-config"))
    cache = tmp_path / "cache"
    packages = ("pandas", "pyarrow", "scipy", "scikit-learn")
    target = ("--runtime", "python3.12", "--cache-dir", str(cache))
    code, _, err = run_cli(capsys, "build", *packages, *target, "-o", str(tmp_path / "l.zip"))
    assert code == 1 and "over Lambda's" in err
    assert "hint: " in err and "lambdalayer image build" in err
    source = tmp_path / "src"
    source.mkdir()
    (source / "app.py").write_text(BIG_HANDLER)
    destination = f"{oci_registry.host}/fn/big:v1"
    code, out, err = run_cli(
        capsys, "image", "build", *packages, *target, "--function", str(source),
        "--handler", "app.handler", "--base", standin_base, "--push", destination, "--json",
    )  # fmt: skip
    assert code == 0, err
    built = json.loads(out)
    dependencies = sum(layer["unzipped"] for layer in built["layers"][:-1])
    assert dependencies > 262_144_000
    layout = tmp_path / "copied"
    skopeo_copy(f"docker://{destination}", f"oci:{layout}:v1")
    rootfs = umoci_unpack(layout, "v1", tmp_path / "bundle")
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"a": [1, 2, 3]}))
    code, out, err = run_cli(
        capsys, "invoke", "app.handler", "--function", str(rootfs / "var/task"),
        "--image", str(rootfs), *target, "--memory", "1024", "--timeout", "120",
        "--event", str(event),
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out) == {"slope": 2.0, "rows": 3}


def test_a_base_that_is_no_image_or_an_unwritable_output_is_one_error_line(
    capsys, local_index, cache, tmp_path
):
    def build(*args: str) -> tuple[int, str]:
        code, _, err = run_cli(
            capsys, "image", "build", "alpha", "--runtime", "python3.12",
            "--index-url", local_index.url, "--cache-dir", str(cache), *args,
        )  # fmt: skip
        return code, err

    out = tmp_path / "image.tar"
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all")
    code, err = build("--base", str(junk), "-o", str(out))
    assert code == 1 and err.count("error:") == 1
    assert "is not an OCI image layout archive (not a tar archive)" in err
    # A layout whose index names a blob outside blobs/sha256 (or no digest at all).
    layout = tmp_path / "hostile"
    layout.mkdir()
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text(
        json.dumps({"schemaVersion": 2, "manifests": [{"digest": "sha256:../../../etc/passwd"}]})
    )
    code, err = build("--base", str(layout), "-o", str(out))
    assert code == 1 and "names a blob 'sha256:../../../etc/passwd'" in err
    assert not out.exists()
    # An output that cannot be written fails before anything is resolved or fetched.
    code, err = build("-o", "/proc/no-such-dir/image.tar")
    assert code == 1 and "cannot write to /proc/no-such-dir" in err
    assert "resolving" not in err


def test_a_base_that_cannot_be_reached_is_said_first_with_the_way_out(
    capsys, local_index, cache, tmp_path
):
    """AWS's base (public.ecr.aws, out of reach here) or a registry that does not answer: one
    error line saying so, a hint naming --base with an example, before anything is resolved
    or fetched (no wheel is asked of the index)."""
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    asked_before = len(local_index.requests)
    for base in ([], ["--base", f"127.0.0.1:{port}/lambda/python:3.12"]):
        code, err = _build(capsys, local_index, cache, *base, "-o", str(tmp_path / "image.tar"))
        assert code == 1 and err.count("error:") == 1, err
        assert "cannot be reached" in err
        assert "hint: give a base this machine can reach: --base" in err
        assert "127.0.0.1:5000/lambda/python:3.12" in err
        assert "resolving" not in err
    assert (
        "the runtime's AWS base image public.ecr.aws/lambda/python:3.12"
        in _build(capsys, local_index, cache, "-o", str(tmp_path / "image.tar"))[1]
    )
    assert len(local_index.requests) == asked_before
    assert not (tmp_path / "image.tar").exists()


def test_a_missing_module_in_an_image_names_what_to_add_after_asking_the_index(
    capsys, cache, standin_layout, tmp_path
):
    """An image's check asks its index about a module no requirement provides, as a layer's
    build does (check.providers.index_asker): a project the index has is named (its
    providing the module not verified), one it lacks is said so — never "the index was
    not asked" — and nothing is written."""
    root = tmp_path / "index"
    root.mkdir()
    make_wheel(
        root,
        "usesmissing",
        "1.0",
        files={
            "usesmissing/__init__.py": "import numpyish\n",
            "usesother.py": "import helperish\n",
        },
    )
    make_wheel(root, "helperish", "1.0")  # on the index, not required
    out = tmp_path / "image.tar"
    with LocalIndex(root) as index:
        code, err = _build_of(
            capsys, index, cache, "usesmissing", "--base", str(standin_layout), "-o", str(out)
        )
        asked = list(index.requests)
    assert code == 1, err
    assert "the index has no project named numpyish)" in err, err
    assert "helperish (a project of that name is on the index" in err, err
    # the fix names what to add; why (or the caveat) is said once, in the message above it
    assert "fix: add the distribution that provides numpyish to the requirements\n" in err, err
    assert err.count("no project is known to provide it") == 1, err
    # the total counts the base image's layers: no "other zips" in an image
    assert "the whole image (its base's layers too)" in err and "other zips" not in err, err
    assert "the index was not asked" not in err, err
    assert "/simple/numpyish/" in asked and "/simple/helperish/" in asked, asked
    assert not out.exists()


def _build(capsys, index: LocalIndex, cache: Path, *args: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    return _build_of(capsys, index, cache, "alpha", *args)


def _build_of(
    capsys, index: LocalIndex, cache: Path, requirement: str, *args: str
) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    code, _, err = run_cli(
        capsys, "image", "build", requirement, "--runtime", "python3.12",
        "--index-url", index.url, "--cache-dir", str(cache), *args,
    )  # fmt: skip
    return code, err


# --- the pieces ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "base_url"),
    [
        ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/fn:v1", "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "fn", "v1", "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com"),
        ("127.0.0.1:5000/lambda/python:3.12", "127.0.0.1:5000", "lambda/python", "3.12", "http://127.0.0.1:5000"),
        ("localhost/a/b", "localhost", "a/b", None, "http://localhost"),
        ("python:3.12", "docker.io", "library/python", "3.12", "https://registry-1.docker.io"),
        ("https://127.0.0.1:5000/x:y", "127.0.0.1:5000", "x", "y", "https://127.0.0.1:5000"),
    ],
)  # fmt: skip
def test_image_references_parse_as_docker_reads_them(text, registry, repository, tag, base_url):
    from lambdalayer.oci.reference import ImageReference

    parsed = ImageReference.parse(text)
    assert (parsed.registry, parsed.repository, parsed.tag, parsed.base_url) == (
        registry,
        repository,
        tag,
        base_url,
    )


def test_docker_login_credentials_come_from_auths_and_credential_helpers(tmp_path, monkeypatch):
    from lambdalayer.oci.credentials import docker_credentials

    helper = tmp_path / "bin" / "docker-credential-fake"
    helper.parent.mkdir()
    helper.write_text(
        '#!/bin/sh\nread host\necho "{\\"Username\\": \\"helper-user\\", \\"Secret\\": \\"for-$host\\"}"\n'
    )
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}:/usr/bin:/bin")
    config = {
        "auths": {
            "https://plain.example:5000/v1/": {
                "auth": base64.b64encode(b"u:p:with:colons").decode()
            },
            "other.example": {"username": "named", "password": "pw"},
        },
        "credHelpers": {"helped.example": "fake"},
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    environ = {"DOCKER_CONFIG": str(tmp_path)}
    assert docker_credentials("plain.example:5000", environ) == ("u", "p:with:colons")
    assert docker_credentials("other.example", environ) == ("named", "pw")
    assert docker_credentials("helped.example", environ) == ("helper-user", "for-helped.example")
    assert docker_credentials("unknown.example", environ) is None


def test_a_layer_tarball_depends_on_its_files_only_and_reads_as_one_gzip_stream(tmp_path):
    import gzip
    import io

    from lambdalayer.oci.tarlayer import CHUNK_BYTES, TarMember, write_layer

    big = bytes(range(256)) * ((CHUNK_BYTES * 2) // 256 + 7)  # spans several gzip members
    members = [
        TarMember("var/task/app.py", 0o644, b"x = 1\n"),
        TarMember("var/lang/lib/python3.12/site-packages/pkg/data.bin", 0o755, big),
    ]
    first, second = io.BytesIO(), io.BytesIO()
    blob = write_layer(members, first)
    assert write_layer(list(reversed(members)), second) == blob
    assert first.getvalue() == second.getvalue()
    assert blob.digest == f"sha256:{hashlib.sha256(first.getvalue()).hexdigest()}"
    tar = gzip.decompress(first.getvalue())
    assert blob.diff_id == f"sha256:{hashlib.sha256(tar).hexdigest()}"
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        infos = archive.getmembers()
        assert [info.name for info in infos] == sorted(info.name for info in infos)
        assert {(info.uid, info.gid, info.uname, info.mtime) for info in infos} == {
            (0, 0, "", 315532800)
        }
        data = archive.extractfile("var/lang/lib/python3.12/site-packages/pkg/data.bin")
        assert data is not None and data.read() == big
        assert archive.getmember("var/task").mode == 0o755


def test_an_arm64_image_on_an_arm64_base_is_checked_under_qemu(
    capsys, local_index, cache, arm_image, function, tmp_path
):
    if shutil.which("umoci") is None or shutil.which("skopeo") is None:
        pytest.skip("umoci and skopeo are not installed (apt-get)")
    if shutil.which("qemu-aarch64-static") is None or shutil.which("bwrap") is None:
        pytest.skip("qemu-user-static and bubblewrap are not installed (apt-get)")
    from ocitools import make_base_layout

    layout = make_base_layout(arm_image, tmp_path / "arm-base", "3.11", "arm64")
    out = tmp_path / "image.tar"
    code, out_text, err = run_cli(
        capsys, "image", "build", "alpha", "--runtime", "python3.11", "--arch", "arm64",
        "--index-url", local_index.url, "--cache-dir", str(cache), "--function", str(function),
        "--handler", "app.handler", "--base", str(layout), "-o", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert "qemu-aarch64" in out_text and "modules import" in out_text
    inspected = skopeo_inspect(f"oci-archive:{out}")
    assert inspected["Architecture"] == "arm64"


def test_image_build_trim_keeps_what_the_manifest_keeps_and_its_finder(
    capsys, local_index, cache, standin_base, function, tmp_path
):
    manifest = tmp_path / "lambdalayer.trim.toml"
    manifest.write_text(
        'format = 1\nlevel = "modules"\nevents = ["init"]\n\n[distribution."alpha"]\n'
        'keep = [\n    "alpha/__init__.py",\n]\n'
    )
    out = tmp_path / "image.tar"
    code, _, err = image_build(
        capsys, local_index, cache, "alpha", "--function", str(function), "--handler",
        "app.handler", "--base", standin_base, "-o", str(out), "--trim", str(manifest),
    )  # fmt: skip
    assert code == 0, err
    layout = tmp_path / "layout"
    skopeo_copy(f"oci-archive:{out}", f"oci:{layout}:v1")
    root = umoci_unpack(layout, "v1", tmp_path / "bundle")
    site = root / SITE
    assert (site / "alpha" / "__init__.py").is_file()
    assert not (site / "beta").exists()  # no traced event imported it
    assert list(site.glob("beta-*.dist-info/METADATA"))
    assert list(site.glob("_lambdalayer_trim_*.pth"))
    assert (root / "var/task/app.py").is_file()  # the function's own code is never trimmed


def test_the_10_gb_of_an_image_counts_its_base(tmp_path):
    """Lambda's 10 GB is the whole image uncompressed, base included: files well under it
    on a base that takes the rest are over it."""
    from lambdalayer.check.request import CheckRequest
    from lambdalayer.check.rules import check
    from lambdalayer.limits import IMAGE_LIMIT
    from lambdalayer.placement import read_tree
    from lambdalayer.targets import Layout

    site = tmp_path / SITE / "small"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text("X = 1\n" * 100)
    placement = read_tree(tmp_path, Layout.IMAGE)
    alone = CheckRequest(get_target("python3.12"), imports=None, container=True)
    assert not check(placement, alone).errors
    on_a_base = CheckRequest(
        get_target("python3.12"),
        imports=None,
        container=True,
        beneath=(("the base lambda/python:3.12", IMAGE_LIMIT - 100),),
    )
    report = check(placement, on_a_base)
    [size] = [finding for finding in report.errors if finding.kind == "size"]
    assert "with the base lambda/python:3.12" in size.message
    assert report.total_unzipped_bytes > IMAGE_LIMIT
