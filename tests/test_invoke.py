"""``lambdalayer invoke``: the handler run with its layers as Lambda runs it.

AWS's real runtime interface client (awslambdaric, from the public index: marker
``network``) talks to lambdalayer's Runtime API from inside the sandbox; what comes back
is Lambda's: the result, the error document, the timeout, the import error, the REPORT
lines.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from cliutil import run_cli

from lambdalayer.environment.limits import MemoryLimit
from lambdalayer.interpreters import find_interpreter

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
    pytest.mark.skipif(find_interpreter("3.12") is None, reason="no CPython 3.12 here"),
]

HANDLER = """\
import json, time
print("init: module imported")

def handler(event, context):
    print("handling", json.dumps(event))
    if event.get("raise"):
        raise ValueError("boom")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("write"):
        with open(event["write"], "w") as out:
            out.write("x")
        return {"wrote": event["write"]}
    if event.get("allocate_mb"):
        held = bytearray(event["allocate_mb"] * 1024 * 1024)
        return {"held": len(held)}
    return {"statusCode": 200, "body": json.dumps({"echo": event, "function": context.function_name})}
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("invoke-cache")


@pytest.fixture
def function(tmp_path: Path) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    (source / "app.py").write_text(HANDLER)
    return source


def call(capsys, cache: Path, *args: str, event: dict[str, object] | None = None):  # type: ignore[no-untyped-def]
    event_file = cache.parent / f"event-{abs(hash(json.dumps(event)))}.json"
    event_file.write_text(json.dumps(event or {}))
    return run_cli(
        capsys,
        "invoke",
        "--runtime",
        "python3.12",
        "--cache-dir",
        str(cache),
        "--event",
        str(event_file),
        *args,
    )


def test_a_handler_returns_its_result_as_json_with_lambdas_lines(capsys, cache, function):
    code, out, err = call(capsys, cache, "app.handler", "--function", str(function), event={"a": 1})
    assert code == 0, err
    result = json.loads(out)
    assert result["statusCode"] == 200
    assert json.loads(result["body"]) == {"echo": {"a": 1}, "function": "lambdalayer-invoke"}
    assert "init: module imported" in err and 'handling {"a": 1}' in err
    assert "START RequestId: " in err and "END RequestId: " in err
    [report] = [line for line in err.splitlines() if line.startswith("REPORT RequestId: ")]
    for field in (
        "Duration: ",
        "Billed Duration: ",
        "Memory Size: 128 MB",
        "Max Memory Used: ",
        "Init Duration: ",
    ):
        assert field in report


def test_an_exception_gives_lambdas_error_document_and_exit_1(capsys, cache, function):
    code, out, _ = call(
        capsys, cache, "app.handler", "--function", str(function), event={"raise": 1}
    )
    assert code == 1
    document = json.loads(out)
    assert document["errorType"] == "ValueError" and document["errorMessage"] == "boom"
    assert document["requestId"] and any(
        "raise ValueError" in line for line in document["stackTrace"]
    )


def test_a_handler_past_its_timeout_is_ended_as_lambda_ends_it(capsys, cache, function):
    code, out, err = call(
        capsys,
        cache,
        "app.handler",
        "--function",
        str(function),
        "--timeout",
        "1",
        event={"sleep": 30},
    )
    assert code == 1
    assert "Task timed out after 1.00 seconds" in json.loads(out)["errorMessage"]
    assert "Task timed out after 1.00 seconds" in err


def test_var_task_is_read_only_and_tmp_is_writable(capsys, cache, function):
    code, out, _ = call(
        capsys, cache, "app.handler", "--function", str(function), event={"write": "/var/task/x"}
    )
    assert code == 1 and "Read-only file system" in json.loads(out)["errorMessage"]
    in_lambda_tmp = "/tmp/x"  # noqa: S108 - Lambda's /tmp, inside the sandbox
    code, out, err = call(
        capsys, cache, "app.handler", "--function", str(function), event={"write": in_lambda_tmp}
    )
    assert code == 0, err
    assert json.loads(out) == {"wrote": in_lambda_tmp}


def test_a_layer_missing_a_module_is_a_runtime_import_module_error(capsys, cache, tmp_path):
    source = tmp_path / "needs"
    source.mkdir()
    (source / "app.py").write_text(
        "import missingdep\n\ndef handler(event, context):\n    return 1\n"
    )
    layer = tmp_path / "layer.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr("python/otherdep.py", "X = 1\n")
    code, out, _err = call(
        capsys, cache, "app.handler", "--function", str(source), "--layer", str(layer)
    )
    assert code == 1
    document = json.loads(out)
    assert document["errorType"] == "Runtime.ImportModuleError"
    assert document["errorMessage"] == "Unable to import module 'app': No module named 'missingdep'"


@pytest.mark.skipif(
    MemoryLimit(128).describe().find("cgroup") < 0, reason="no memory cgroup can be made here"
)
def test_a_handler_past_its_memory_is_killed_as_on_lambda(capsys, cache, function):
    code, out, err = call(
        capsys,
        cache,
        "app.handler",
        "--function",
        str(function),
        "--memory",
        "128",
        event={"allocate_mb": 400},
    )
    assert code == 1
    document = json.loads(out)
    assert document["errorType"] == "Runtime.OutOfMemory"
    assert "Runtime exited with error: signal: killed" in document["errorMessage"]
    assert "Max Memory Used: 128 MB" in err


def test_repeat_runs_warm_and_reports_init_duration_once(capsys, cache, function):
    code, _, err = call(capsys, cache, "app.handler", "--function", str(function), "--repeat", "3")
    assert code == 0, err
    reports = [line for line in err.splitlines() if line.startswith("REPORT RequestId: ")]
    assert len(reports) == 3
    assert ["Init Duration" in line for line in reports] == [True, False, False]
    assert err.count("init: module imported") == 1


def test_a_function_zip_and_its_directory_give_the_same_result(capsys, cache, function, tmp_path):
    package = tmp_path / "function.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.write(function / "app.py", "app.py")
    from_dir = call(capsys, cache, "app.handler", "--function", str(function), event={"same": True})
    from_zip = call(
        capsys, cache, "--zip", str(package), "--handler", "app.handler", event={"same": True}
    )
    assert from_dir[0] == from_zip[0] == 0
    assert json.loads(from_dir[1]) == json.loads(from_zip[1])


def test_sample_events_are_well_formed(capsys):
    for name in ("apigw-v2", "sqs", "s3", "eventbridge"):
        code, out, _ = run_cli(capsys, "invoke", "--sample", name)
        assert code == 0 and isinstance(json.loads(out), dict)


FASTAPI_APP = """\
from fastapi import FastAPI
from mangum import Mangum

app = FastAPI()


@app.get("/items/{item_id}")
def read_item(item_id: int, verbose: bool = False) -> dict[str, object]:
    return {"item_id": item_id, "verbose": verbose}


handler = Mangum(app, lifespan="off")
"""


def _image_with_its_own_runtime(arm_image: Path, place: Path, cache: Path) -> Path:
    """A copy of the arm64 stand-in with AWS's runtime interface client and SDK installed at
    /var/runtime, as the real image has them (the shared stand-in stays as it was)."""
    from lambdalayer.environment.runtimepkgs import runtime_tree
    from lambdalayer.net.index import IndexConfig
    from lambdalayer.targets import get_target

    subprocess.run(["cp", "-al", f"{arm_image}/.", str(place)], check=True)
    shutil.rmtree(place / "var/runtime")
    tree = runtime_tree(get_target("python3.11", "arm64"), cache, IndexConfig())
    assert tree is not None
    shutil.copytree(tree.path, place / "var/runtime", symlinks=True)
    return place


@pytest.mark.parametrize(
    ("arch", "root"), [("x86_64", "synthesized"), ("arm64", "image"), ("arm64", "synthesized")]
)
def test_a_fastapi_app_answers_an_api_gateway_v2_event_on_both_cpus(
    capsys, cache, tmp_path, request, monkeypatch, arch, root
):
    """FastAPI + Mangum from the public index, built for each CPU by lambdalayer, answering
    the sample API Gateway v2 event (GET /items/42?verbose=true) with 200 and its JSON: in
    the root synthesized from the runtime's library set (arm64: its aarch64 builds and an
    aarch64 CPython, through qemu), and in an arm64 image."""
    if arch == "x86_64":
        runtime, where = "python3.12", []  # the root synthesized from the library set
    elif shutil.which("qemu-aarch64-static") is None:
        pytest.skip("qemu-user-static is not installed (arm64 runs under qemu-user)")
    elif root == "image":
        image = request.getfixturevalue("arm_image")
        own = _image_with_its_own_runtime(image, tmp_path / "image", cache)
        runtime, where = "python3.11", ["--image", str(own)]  # Debian's arm64 CPython 3.11
    else:
        pythons = request.getfixturevalue("aarch64_pythons")
        monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(pythons))
        runtime, where = "python3.11", []
    layer = tmp_path / "deps.zip"
    code, _, err = run_cli(
        capsys,
        "build",
        "fastapi",
        "mangum",
        "--runtime",
        runtime,
        "--arch",
        arch,
        "--cache-dir",
        str(cache),
        "-o",
        str(layer),
    )
    assert code == 0, err
    source = tmp_path / "src"
    source.mkdir()
    (source / "app.py").write_text(FASTAPI_APP)
    event = tmp_path / "event.json"
    code, sample, _ = run_cli(capsys, "invoke", "--sample", "apigw-v2")
    assert code == 0
    event.write_text(sample)
    code, out, err = run_cli(
        capsys,
        "invoke",
        "app.handler",
        "--function",
        str(source),
        "--layer",
        str(layer),
        "--runtime",
        runtime,
        "--arch",
        arch,
        *where,
        "--memory",
        "512",
        "--timeout",
        "60",
        "--cache-dir",
        str(cache),
        "--event",
        str(event),
    )
    assert code == 0, err
    response = json.loads(out)
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"item_id": 42, "verbose": True}
    assert "Init Duration: " in err
    if arch == "arm64":
        assert "qemu-aarch64" in err
    if root == "image":
        assert "the image's own /var/runtime" in err
    elif arch == "arm64":
        assert "this machine's aarch64 CPython 3.11.2" in err
        assert "python3.11's own awslambdaric" in err
