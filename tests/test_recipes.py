"""Issue 13: the recipes in recipes/ and action.yml, run with the real tools.

Terraform runs offline (the machine's provider mirror, moto's server as the Lambda API).
SAM (aws-sam-cli from the package index, in its own virtual environment) and the CDK (npm)
are installed by the tests, so they carry the ``network`` marker. A tool that cannot be
had makes its test skip and say which.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from indexserver import LocalIndex
from moto.server import ThreadedMotoServer
from uv import find_uv_bin

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"
TOOL_BIN = str(Path(sys.executable).parent)  # where this environment's `lambdalayer` is
TF_PLUGINS = Path("/opt/tf-plugins")


def tool_env(index: LocalIndex, cache: Path, **extra: str) -> dict[str, str]:
    """The environment a deploy tool runs lambdalayer in: our PATH, the local index, a cache."""
    return {
        **os.environ,
        "PATH": f"{TOOL_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "UV_DEFAULT_INDEX": index.url,
        "LAMBDALAYER_CACHE_DIR": str(cache),
        **extra,
    }


def run(
    command: list[str], cwd: Path, env: dict[str, str], timeout: int = 900
) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert completed.returncode == 0, (
        f"{' '.join(command)}\n{completed.stdout[-3000:]}\n{completed.stderr[-3000:]}"
    )
    return completed


def lambdalayer(*args: str, env: dict[str, str], cwd: Path) -> str:
    return run([f"{TOOL_BIN}/lambdalayer", *args], cwd, env).stdout


def tree_of(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """relative path → (mode bits, bytes or None for a directory)."""
    found = {}
    for path in sorted(root.rglob("*")):
        mode = stat.S_IMODE(path.stat().st_mode)
        found[path.relative_to(root).as_posix()] = (
            mode,
            None if path.is_dir() else path.read_bytes(),
        )
    return found


# --- Terraform ---------------------------------------------------------------------------


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
@pytest.mark.skipif(
    not (TF_PLUGINS / "registry.terraform.io/hashicorp/aws").is_dir(),
    reason="no local copy of the AWS provider in /opt/tf-plugins",
)
def test_terraform_plans_no_change_after_a_rebuild_from_an_empty_cache(
    local_index, tmp_path, moto_endpoint
):
    work = tmp_path / "tf"
    shutil.copytree(RECIPES / "terraform", work)
    (work / "requirements.txt").write_text("beta==1.0\nalpha\n")
    cli_config = tmp_path / "terraformrc"
    cli_config.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{TF_PLUGINS}"\n    include = ["registry.terraform.io/hashicorp/aws"]\n  }}\n'
        '  direct { exclude = ["registry.terraform.io/hashicorp/aws"] }\n}\n'
    )
    env = tool_env(
        local_index,
        tmp_path / "cache-1",
        TF_CLI_CONFIG_FILE=str(cli_config),
        TF_IN_AUTOMATION="1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        CHECKPOINT_DISABLE="1",
        TF_VAR_lambda_endpoint=moto_endpoint,
    )
    build = [
        "build",
        "-r",
        "requirements.txt",
        "--runtime",
        "python3.12",
        "-o",
        "build/layer.zip",
        "--print",
        "base64sha256",
    ]
    first_hash = lambdalayer(*build, env=env, cwd=work).strip()
    run(["terraform", "init", "-input=false", "-no-color"], work, env)
    run(["terraform", "apply", "-auto-approve", "-input=false", "-no-color"], work, env)
    # The same inputs from an empty cache, on "another machine": the same bytes, so no change.
    second_hash = lambdalayer(
        *build, env={**env, "LAMBDALAYER_CACHE_DIR": str(tmp_path / "cache-2")}, cwd=work
    ).strip()
    assert second_hash == first_hash
    plan = subprocess.run(
        ["terraform", "plan", "-detailed-exitcode", "-input=false", "-no-color"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr
    # The same files zipped by hand (another order, another time): Terraform replaces the layer.
    tree = tmp_path / "files"
    with zipfile.ZipFile(work / "build" / "layer.zip") as archive:
        archive.extractall(tree)
    (work / "build" / "layer.zip").unlink()
    run(["zip", "-qr", str(work / "build" / "layer.zip"), "python"], tree, env)
    replanned = subprocess.run(
        ["terraform", "plan", "-detailed-exitcode", "-input=false", "-no-color"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert replanned.returncode == 2 and "must be replaced" in replanned.stdout


# --- the GitHub Action's script ------------------------------------------------------------


def test_github_action_script_writes_outputs_and_a_summary(local_index, tmp_path):
    (tmp_path / "requirements.txt").write_text("beta==1.0\n")
    outputs, summary = tmp_path / "outputs", tmp_path / "summary.md"
    env = tool_env(
        local_index,
        tmp_path / "cache",
        GITHUB_OUTPUT=str(outputs),
        GITHUB_STEP_SUMMARY=str(summary),
        LAMBDALAYER_SKIP_INSTALL="1",
        INPUT_RUNTIME="python3.12",
        INPUT_ARGS="--bytecode none",
        GITHUB_ACTION_PATH=str(REPO),
    )
    run(["bash", str(REPO / "scripts" / "github_action.sh")], tmp_path, env)
    values = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    digest = hashlib.sha256((tmp_path / "layer.zip").read_bytes()).digest()
    assert values == {
        "path": "layer.zip",
        "sha256": digest.hex(),
        "base64sha256": base64.b64encode(digest).decode(),
    }
    text = summary.read_text()
    assert "### Lambda layer for python3.12 (x86_64)" in text and "| beta | 1.0 |" in text
    action = (REPO / "action.yml").read_text()
    assert "scripts/github_action.sh" in action and "actions/cache@" in action


# --- SAM -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("sam-venv")
    uv = find_uv_bin()
    created = subprocess.run(
        [uv, "venv", "-q", "--python", sys.executable, str(venv)],
        capture_output=True,
        text=True,
        check=False,
    )
    installed = subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), "aws-sam-cli"],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if created.returncode or installed.returncode:
        pytest.skip(
            f"aws-sam-cli could not be installed: {(created.stderr + installed.stderr)[-300:]}"
        )
    return venv / "bin" / "sam"


@pytest.mark.network
def test_sam_build_with_the_makefile_gives_our_tree(sam, local_index, tmp_path):
    work = tmp_path / "app"
    shutil.copytree(RECIPES / "sam-makefile", work)
    (work / "requirements.txt").write_text(
        "beta==1.0\n"
    )  # the tests' index (the recipe's own: test_release)
    env = tool_env(local_index, tmp_path / "cache", SAM_CLI_TELEMETRY="0")
    run([str(sam), "build", "--template-file", "template.yaml"], work, env)
    built = work / ".aws-sam" / "build" / "DepsLayer"
    ours = tmp_path / "ours"
    # Ours from an empty cache (another machine, as far as the bytes go).
    fresh = {**env, "LAMBDALAYER_CACHE_DIR": str(tmp_path / "empty-cache")}
    lambdalayer(
        "build",
        "-r",
        "requirements.txt",
        "--runtime",
        "python3.12",
        "-o",
        f"{ours}/",
        env=fresh,
        cwd=work,
    )
    assert tree_of(built) == tree_of(ours)
    assert any(name.endswith("beta/__init__.py") for name in tree_of(built))


@pytest.mark.network
def test_sam_takes_a_prebuilt_zip_as_it_is(sam, local_index, tmp_path):
    work = tmp_path / "app"
    shutil.copytree(RECIPES / "sam-zip", work)
    (work / "requirements.txt").write_text("beta==1.0\n")
    env = tool_env(local_index, tmp_path / "cache", SAM_CLI_TELEMETRY="0")
    lambdalayer(
        "build",
        "-r",
        "requirements.txt",
        "--runtime",
        "python3.12",
        "-o",
        "build/layer.zip",
        env=env,
        cwd=work,
    )
    original = (work / "build" / "layer.zip").read_bytes()
    run([str(sam), "build", "--template-file", "template.yaml"], work, env)
    template = (work / ".aws-sam" / "build" / "template.yaml").read_text()
    uri = next(
        line.split(":", 1)[1].strip() for line in template.splitlines() if "ContentUri" in line
    )
    assert (work / ".aws-sam" / "build" / uri).resolve().read_bytes() == original


# --- CDK -------------------------------------------------------------------------------------


@pytest.mark.network
@pytest.mark.skipif(
    shutil.which("npm") is None or shutil.which("node") is None,
    reason="node and npm are not installed",
)
def test_cdk_synth_stages_our_zip_and_our_tree(local_index, tmp_path):
    work = tmp_path / "cdk"
    shutil.copytree(RECIPES / "cdk", work)
    (work / "layer" / "requirements.txt").write_text("beta==1.0\n")  # the tests' index
    env = tool_env(local_index, tmp_path / "cache", CDK_DISABLE_VERSION_CHECK="1", CI="true")
    installed = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    if installed.returncode != 0:
        pytest.skip(f"npm install of aws-cdk-lib failed: {installed.stderr[-300:]}")
    run(
        [
            "npx",
            "cdk",
            "synth",
            "--app",
            "node app.js",
            "--no-notices",
            "--output",
            "cdk.out",
            "--quiet",
        ],
        work,
        env,
    )
    assets = json.loads((work / "cdk.out" / "Layers.assets.json").read_text())["files"]
    paths = {work / "cdk.out" / asset["source"]["path"] for asset in assets.values()}
    zips = [path for path in paths if path.suffix == ".zip"]
    trees = [path for path in paths if path.is_dir()]
    assert len(zips) == 1 and zips[0].read_bytes() == (work / "build" / "layer.zip").read_bytes()
    assert len(trees) == 1
    ours = tmp_path / "ours"
    lambdalayer(
        "build",
        "-r",
        str(work / "layer" / "requirements.txt"),
        "--runtime",
        "python3.12",
        "-o",
        f"{ours}/",
        env=env,
        cwd=work,
    )
    assert tree_of(trees[0]) == tree_of(ours)


# --- container images: Terraform, SAM and the CDK take the pushed image by digest -------------


def _push_image(
    index: LocalIndex, cache: Path, work: Path, registry_host: str, base: str, field: str
) -> str:
    """``lambdalayer image build … --push … --print FIELD`` in ``work`` (beta and app.py)."""
    source = work / "src"
    if not source.exists():
        source.mkdir()
        (source / "app.py").write_text("def handler(event, context):\n    return 1\n")
    env = tool_env(index, cache, DOCKER_CONFIG=str(work / "no-docker-config"))
    return lambdalayer(
        "image", "build", "beta==1.0", "--runtime", "python3.12", "--function", "src",
        "--handler", "app.handler", "--base", base, "--push", f"{registry_host}/fn:latest",
        "--print", field, env=env, cwd=work,
    ).strip()  # fmt: skip


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
@pytest.mark.skipif(
    not (TF_PLUGINS / "registry.terraform.io/hashicorp/aws").is_dir(),
    reason="no local copy of the AWS provider in /opt/tf-plugins",
)
def test_terraform_deploys_the_image_by_digest_and_a_rebuild_plans_no_change(
    local_index, tmp_path, moto_endpoint, oci_registry, standin_base
):
    work = tmp_path / "tf"
    shutil.copytree(RECIPES / "terraform-image", work)
    (work / "build").mkdir()
    uri = _push_image(
        local_index, tmp_path / "cache-1", work, oci_registry.host, standin_base, "image-uri"
    )
    assert uri.startswith(f"{oci_registry.host}/fn@sha256:")
    (work / "build" / "image-uri").write_text(uri + "\n")
    cli_config = tmp_path / "terraformrc"
    cli_config.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{TF_PLUGINS}"\n    include = ["registry.terraform.io/hashicorp/aws"]\n  }}\n'
        '  direct { exclude = ["registry.terraform.io/hashicorp/aws"] }\n}\n'
    )
    env = tool_env(
        local_index,
        tmp_path / "cache-1",
        TF_CLI_CONFIG_FILE=str(cli_config),
        TF_IN_AUTOMATION="1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        CHECKPOINT_DISABLE="1",
        TF_VAR_aws_endpoint=moto_endpoint,
    )
    run(["terraform", "init", "-input=false", "-no-color"], work, env)
    run(["terraform", "apply", "-auto-approve", "-input=false", "-no-color"], work, env)
    # The same inputs from an empty cache ("another machine"): the same digest, no change.
    again = _push_image(
        local_index, tmp_path / "cache-2", work, oci_registry.host, standin_base, "image-uri"
    )
    assert again == uri
    # moto echoes an empty image_config that the provider would null out: the one
    # difference allowed; the image is not touched.
    plan = run(["terraform", "plan", "-input=false", "-no-color"], work, env).stdout
    assert "image_uri" not in plan and "must be replaced" not in plan, plan
    outputs = run(["terraform", "output", "-raw", "image_uri"], work, env).stdout
    assert outputs.strip() == uri
    # Another requirement, another digest: Terraform sees the new image.
    (work / "src" / "app.py").write_text("def handler(event, context):\n    return 2\n")
    other = _push_image(
        local_index, tmp_path / "cache-2", work, oci_registry.host, standin_base, "image-uri"
    )
    assert other != uri
    (work / "build" / "image-uri").write_text(other + "\n")
    plan = run(["terraform", "plan", "-input=false", "-no-color"], work, env).stdout
    assert f'~ image_uri                      = "{uri}" -> "{other}"' in plan or (
        "image_uri" in plan and other in plan
    ), plan


@pytest.mark.network
def test_sam_takes_the_pushed_image_without_docker(
    sam, local_index, tmp_path, oci_registry, standin_base
):
    work = tmp_path / "app"
    shutil.copytree(RECIPES / "sam-image", work)
    uri = _push_image(
        local_index, tmp_path / "cache", work, oci_registry.host, standin_base, "image-uri"
    )
    env = tool_env(local_index, tmp_path / "cache", SAM_CLI_TELEMETRY="0")
    run(
        [
            str(sam),
            "validate",
            "--lint",
            "--template-file",
            "template.yaml",
            "--region",
            "us-east-1",
        ],
        work,
        env,
    )
    built = run(
        [
            str(sam),
            "build",
            "--template-file",
            "template.yaml",
            "--parameter-overrides",
            f"ImageUri={uri}",
        ],
        work,
        env,
    )
    assert "It will not be built" in built.stdout + built.stderr  # no Docker asked for
    template = (work / ".aws-sam" / "build" / "template.yaml").read_text()
    assert "PackageType: Image" in template and "Ref: ImageUri" in template


@pytest.mark.network
@pytest.mark.skipif(
    shutil.which("npm") is None or shutil.which("node") is None,
    reason="node and npm are not installed",
)
def test_cdk_synth_runs_the_pushed_image_by_digest(
    local_index, tmp_path, oci_registry, standin_base
):
    work = tmp_path / "cdk"
    shutil.copytree(RECIPES / "cdk-image", work)
    (work / "build").mkdir()
    digest = _push_image(
        local_index, tmp_path / "cache", work, oci_registry.host, standin_base, "digest"
    )
    (work / "build" / "image-digest").write_text(digest + "\n")
    env = tool_env(local_index, tmp_path / "cache", CDK_DISABLE_VERSION_CHECK="1", CI="true")
    installed = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent"],
        cwd=work, env=env, capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    if installed.returncode != 0:
        pytest.skip(f"npm install of aws-cdk-lib failed: {installed.stderr[-300:]}")
    run(
        [
            "npx",
            "cdk",
            "synth",
            "--app",
            "node app.js",
            "--no-notices",
            "--output",
            "cdk.out",
            "--quiet",
        ],
        work,
        env,
    )
    template = json.loads((work / "cdk.out" / "ImageFunction.template.json").read_text())
    [function] = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"]
    assert function["Properties"]["PackageType"] == "Image"
    assert digest in json.dumps(function["Properties"]["Code"]["ImageUri"])
