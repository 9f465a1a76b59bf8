"""``image build`` → ``invoke --image``: the image boots as Lambda boots it.

The base is the tests' stand-in with a bootstrap like AWS's (``/lambda-entrypoint.sh``,
``/var/runtime/bootstrap``, awslambdaric from the public index at ``/var/runtime``); the
image ``image build`` wrote (an OCI archive) is unpacked and started by its own ENTRYPOINT
and CMD against lambdalayer's Runtime API, in the sandbox. FastAPI and Mangum come from
the public index (marker ``network``); arm64 runs under qemu-user (the only aarch64
CPython this machine can have is Debian's 3.11).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cliutil import run_cli

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
]

FASTAPI_APP = """\
from fastapi import FastAPI
from mangum import Mangum

print("init: the app is made")
app = FastAPI()


@app.get("/items/{item_id}")
def read_item(item_id: int, verbose: bool = False) -> dict[str, object]:
    return {"item_id": item_id, "verbose": verbose}


handler = Mangum(app, lifespan="off")
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("image-invoke-cache")


@pytest.mark.parametrize(("runtime", "arch"), [("python3.12", "x86_64"), ("python3.11", "arm64")])
def test_a_fastapi_image_built_on_the_standin_boots_by_its_own_entrypoint(
    capsys, cache, tmp_path, request, runtime, arch
):
    if arch == "arm64":
        if shutil.which("qemu-aarch64-static") is None:
            pytest.skip("qemu-user-static is not installed (arm64 runs under qemu-user)")
        base = request.getfixturevalue("lambda_arm_layout")
    else:
        base = request.getfixturevalue("lambda_standin_layout")
    source = tmp_path / "src"
    source.mkdir()
    (source / "app.py").write_text(FASTAPI_APP)
    image = tmp_path / "image.tar"
    code, _, err = run_cli(
        capsys, "image", "build", "fastapi", "mangum", "--function", str(source),
        "--handler", "app.handler", "--runtime", runtime, "--arch", arch, "--base", str(base),
        "--cache-dir", str(cache), "-o", str(image),
    )  # fmt: skip
    assert code == 0, err
    code, sample, _ = run_cli(capsys, "invoke", "--sample", "apigw-v2")
    event = tmp_path / "event.json"
    event.write_text(sample)
    code, out, err = run_cli(
        capsys, "invoke", "--image", str(image), "--arch", arch, "--memory", "512",
        "--timeout", "60", "--cache-dir", str(cache), "--event", str(event),
    )  # fmt: skip
    assert code == 0, err
    response = json.loads(out)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"item_id": 42, "verbose": True}
    lines = err.splitlines()
    assert lines.index("init: the app is made") < next(
        at for at, line in enumerate(lines) if line.startswith("START RequestId: ")
    )
    if arch == "x86_64":  # started by the image's own ENTRYPOINT and CMD
        assert "the image's own ENTRYPOINT and CMD (/lambda-entrypoint.sh app.handler)" in err
    else:  # no binfmt here: the entrypoint's steps are lambdalayer's, and it says so
        assert (
            "under qemu-user without binfmt, lambdalayer does /lambda-entrypoint.sh's steps" in err
        )


def test_an_image_runs_its_cmd_or_the_handler_given_instead(
    capsys, cache, tmp_path, lambda_standin_layout
):
    """The image's CMD is its handler; one given replaces it (Lambda's ImageConfig.Command),
    and one that is not there fails as awslambdaric says on Lambda."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "app.py").write_text("def handler(event, context):\n    return {'ok': 1}\n")
    image = tmp_path / "image.tar"
    code, _, err = run_cli(
        capsys, "image", "build", "--function", str(source), "--handler", "app.handler",
        "--runtime", "python3.12", "--base", str(lambda_standin_layout),
        "--cache-dir", str(cache), "-o", str(image),
    )  # fmt: skip
    assert code == 0, err
    code, out, err = run_cli(capsys, "invoke", "--image", str(image), "--cache-dir", str(cache))
    assert code == 0, err
    assert json.loads(out) == {"ok": 1}
    code, out, err = run_cli(
        capsys, "invoke", "--image", str(image), "--handler", "app.nothere",
        "--cache-dir", str(cache),
    )  # fmt: skip
    assert code == 1
    assert json.loads(out)["errorType"] == "Runtime.HandlerNotFound"
