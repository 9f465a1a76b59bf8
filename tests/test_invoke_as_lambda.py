"""``lambdalayer invoke`` holds to Lambda's order, words and limits (issue 31).

The runtime's exact ``sys.path`` and ``.pth`` processing (AWS's ``/var/runtime/bootstrap.py``
steps), ``INIT_START`` and the init's output before ``START``, ``INIT_REPORT`` for a failed
init, Lambda's timeout and exit messages word for word, the check of the code and layers
before the first invocation, and resident memory enforced without root (a watchdog, tested
as an ordinary user through ``runuser``). AWS's runtime interface client comes from the
public index (marker ``network``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from cliutil import run_cli
from elfsamples import compile_shared_object
from ordinary import give, ordinary_user, run_here_as, workdir

from lambdalayer.environment.output import RuntimeOutput
from lambdalayer.environment.runtimeapi import platform_error_type
from lambdalayer.interpreters import find_interpreter

needs_runtime = [
    pytest.mark.network,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
    pytest.mark.skipif(find_interpreter("3.12") is None, reason="no CPython 3.12 here"),
]

HANDLER = """\
import json, os, sys, time
print("init: module imported")

def handler(event, context):
    print("handling", json.dumps(event))
    if event.get("path"):
        return {"path": sys.path, "PYTHONPATH": os.environ.get("PYTHONPATH"),
                "boto3": __import__("boto3").__file__}
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("exit"):
        os._exit(event["exit"])
    if event.get("map_mb"):  # address space, barely touched
        import mmap
        held = mmap.mmap(-1, event["map_mb"] * 1024 * 1024)
        held[0] = 1
        return {"mapped": len(held)}
    if event.get("touch_mb"):  # resident memory
        held = bytearray(event["touch_mb"] * 1024 * 1024)
        for at in range(0, len(held), 4096):
            held[at] = 1
        return {"touched": len(held)}
    return {"ok": True}
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


def invoke(capsys, cache: Path, function: Path, event: dict[str, object], *args: str):  # type: ignore[no-untyped-def]
    event_file = function.parent / "event.json"
    event_file.write_text(json.dumps(event))
    return run_cli(
        capsys,
        "invoke",
        "app.handler",
        "--function",
        str(function),
        "--runtime",
        "python3.12",
        "--cache-dir",
        str(cache),
        "--event",
        str(event_file),
        *args,
    )


def with_runtime(test):  # type: ignore[no-untyped-def]
    for mark in needs_runtime:
        test = mark(test)
    return test


@with_runtime
def test_sys_path_and_pth_files_are_the_runtimes_and_pythonpath_changes_them(
    capsys, cache, function
):
    """As AWS's bootstrap.py builds it: /var/task, the layers' two directories, /var/lang's
    site-packages, /var/runtime, the standard library; .pth files in /var/task and in the
    /opt paths processed; a PYTHONPATH set by the function leaves /opt out and puts
    /var/runtime (its boto3) before the function's own directories."""
    (function / "extra.pth").write_text("/var/task/extra\n/var/task/absent\n")
    (function / "extra").mkdir()
    (function / "extra" / "inextra.py").write_text("X = 1\n")
    (function / "lib" / "boto3").mkdir(parents=True)
    (function / "lib" / "boto3" / "__init__.py").write_text("VENDORED = True\n")
    layer = function.parent / "layer.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        for name, text in (
            ("python/lib/python3.12/site-packages/fromlayer.pth", "/opt/python/fromlayer\n"),
            ("python/fromopt.pth", "/opt/python/fromopt\n"),
            ("python/fromlayer/a.py", "A = 1\n"),  # a .pth line names a directory that exists
            ("python/fromopt/b.py", "B = 1\n"),
        ):
            member = zipfile.ZipInfo(name)
            member.external_attr = 0o644 << 16  # readable, as every built layer's files are
            archive.writestr(member, text)
    code, out, err = invoke(capsys, cache, function, {"path": 1}, "--layer", str(layer))
    assert code == 0, err
    result = json.loads(out)
    site = "/opt/python/lib/python3.12/site-packages"
    assert result["path"][:8] == [
        "/var/task",
        site,
        "/opt/python",
        "/var/lang/lib/python3.12/site-packages",
        "/var/runtime",
        "/var/lang/lib/python312.zip",
        "/var/lang/lib/python3.12",
        "/var/lang/lib/python3.12/lib-dynload",
    ]
    # each .pth adds its existing directories after them, in the order the bootstrap adds
    # the site directories
    assert result["path"][8:] == [
        "/var/task/extra",
        "/opt/python/fromlayer",
        "/opt/python/fromopt",
    ]
    assert result["PYTHONPATH"] == "/var/runtime"  # set by the bootstrap, as the function sees it
    assert result["boto3"].startswith("/var/runtime/boto3/")

    code, out, err = invoke(
        capsys,
        cache,
        function,
        {"path": 1},
        "--layer",
        str(layer),
        "--env",
        "PYTHONPATH=/var/task/lib",
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["path"][:3] == ["/var/task", "/var/runtime", "/var/task/lib"]
    assert not any(path.startswith("/opt") for path in result["path"])
    assert "/var/task/extra" in result["path"]  # /var/task is a site directory still
    assert result["boto3"].startswith("/var/runtime/boto3/")  # the vendored one loses, as there


@with_runtime
def test_init_start_and_the_inits_output_come_before_start(capsys, cache, function):
    code, _, err = invoke(capsys, cache, function, {}, "--repeat", "2")
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0].startswith("INIT_START Runtime Version: python:3.12")
    imported = lines.index("init: module imported")
    starts = [at for at, line in enumerate(lines) if line.startswith("START RequestId: ")]
    ends = [at for at, line in enumerate(lines) if line.startswith("END RequestId: ")]
    handled = [at for at, line in enumerate(lines) if line.startswith("handling ")]
    assert 0 < imported < starts[0] < handled[0] < ends[0] < starts[1] < handled[1] < ends[1]
    assert sum(line.startswith("INIT_START") for line in lines) == 1
    assert not any(line.startswith("INIT_REPORT") for line in lines)  # init succeeded


@with_runtime
def test_an_init_that_fails_gets_init_report_then_the_invocation_fails(capsys, cache, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "app.py").write_text(
        'print("init output")\nraise ValueError("init boom")\n\ndef handler(e, c):\n    return 1\n'
    )
    code, out, err = run_cli(
        capsys,
        "invoke",
        "app.handler",
        "--function",
        str(source),
        "--runtime",
        "python3.12",
        "--cache-dir",
        str(cache),
    )
    assert code == 1
    assert json.loads(out)["errorMessage"] == "init boom"
    lines = err.splitlines()
    [report] = [at for at, line in enumerate(lines) if line.startswith("INIT_REPORT ")]
    assert re.fullmatch(
        r"INIT_REPORT Init Duration: \d+\.\d\d ms\tPhase: init\tStatus: error\t"
        r"Error Type: Runtime\.Unknown",
        lines[report],
    )
    assert (
        lines.index("init output")
        < report
        < next(at for at, line in enumerate(lines) if line.startswith("START RequestId: "))
    )
    assert "\xa0" not in err and "\\xa0" not in err  # the traceback's indent shows as spaces
    assert '    raise ValueError("init boom")' in err
    assert lines[-4].endswith("\tStatus: error\tError Type: Runtime.Unknown")


@with_runtime
def test_timeout_and_exit_are_lambdas_words(capsys, cache, function):
    code, out, err = invoke(capsys, cache, function, {"sleep": 30}, "--timeout", "2")
    assert code == 1
    document = json.loads(out)
    request_id = document["requestId"]
    assert document["errorType"] == "Sandbox.Timedout"
    assert document["errorMessage"] == (
        f"RequestId: {request_id} Error: Task timed out after 2.00 seconds"
    )
    assert re.search(
        rf"^\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z {request_id} Task timed out after 2.00"
        r" seconds$",
        err,
        re.MULTILINE,
    )
    [report] = [line for line in err.splitlines() if line.startswith("REPORT ")]
    assert report.endswith("\tStatus: timeout")
    assert not report.split("Max Memory Used: ")[1].startswith("0 MB")  # measured before the end

    code, out, err = invoke(capsys, cache, function, {"exit": 3})
    assert code == 1
    document = json.loads(out)
    message = f"RequestId: {document['requestId']} Error: Runtime exited with error: exit status 3"
    assert document == {
        "errorType": "Runtime.ExitError",
        "errorMessage": message,
        "requestId": document["requestId"],
    }
    lines = err.splitlines()
    assert lines[lines.index(message) + 1] == "Runtime.ExitError"
    [report] = [line for line in lines if line.startswith("REPORT ")]
    assert report.endswith("\tStatus: error\tError Type: Runtime.ExitError")


NEW_GLIBC_C = "#include <stdlib.h>\nunsigned f(void) { return arc4random(); }\n"  # GLIBC_2.36


@with_runtime
@pytest.mark.skipif(os.uname().machine != "x86_64", reason="gcc here builds for the host CPU")
def test_a_layer_needing_a_newer_glibc_fails_before_the_runtime_starts(
    capsys, cache, function, tmp_path
):
    """Its extension needs GLIBC_2.36 (this machine's, python3.12 has 2.34): the check made
    before the first invocation fails it as the import fails on Lambda, naming the finding;
    nothing runs. ``--no-check`` runs it anyway (here, on this machine's glibc, it loads)."""
    shared = compile_shared_object(NEW_GLIBC_C, tmp_path / "new.so")
    layer = tmp_path / "newglibc.zip"
    member = "python/lib/python3.12/site-packages/newglibc.cpython-312-x86_64-linux-gnu.so"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(member, shared)
    code, out, err = invoke(capsys, cache, function, {}, "--layer", str(layer))
    assert code == 1
    document = json.loads(out)
    assert document["errorType"] == "Runtime.ImportModuleError"
    assert document["errorMessage"].startswith(
        "Unable to import module 'app': needs GLIBC_2.36, python3.12 has glibc 2.34"
    )
    assert [item["member"] for item in document["lambdalayerCheck"]] == [member]
    assert "init: module imported" not in err and "INIT_START" not in err
    assert "Error Type: Runtime.ImportModuleError" in err
    code, out, err = invoke(capsys, cache, function, {}, "--layer", str(layer), "--no-check")
    assert code == 0, err
    assert json.loads(out) == {"ok": True}


def test_platform_lines_name_error_types_as_lambdas_emulator_does():
    assert platform_error_type("Runtime.ImportModuleError") == "Runtime.ImportModuleError"
    assert platform_error_type("Function.ResponseSizeTooLarge") == "Function.ResponseSizeTooLarge"
    assert platform_error_type("ValueError") == "Runtime.Unknown"
    assert platform_error_type("Function.bad type") == "Function.Unknown"
    assert platform_error_type(None) == "Runtime.Unknown"
    assert platform_error_type("Sandbox.Failure Runtime.Ab") == "Runtime.Unknown"


def test_the_runtimes_output_is_logged_as_lines_when_pumped(tmp_path):
    """What was written before a moment is logged by a drain at that moment (no thread of
    its own races the platform's lines); a record's \\r starts a line; a last line without
    its newline is kept."""
    read, write = os.pipe()
    logged: list[str] = []
    with os.fdopen(read, "rb", buffering=0) as stream:
        output = RuntimeOutput([stream], logged.append)
        os.write(write, b"one\ntwo\rthree\n\xc2\xa0\xc2\xa0indented\nlast")
        output.drain()
        assert logged == ["one", "two", "three", "  indented"]
        os.close(write)
        output.close()
    assert logged[-1] == "last"


MEMORY_FUNCTION_TIMEOUT = "60"


@with_runtime
def test_as_an_ordinary_user_resident_memory_is_limited_as_on_lambda_never_address_space():
    """No cgroup can be made without root here (cgroup v1, no systemd): a watchdog reads the
    sandbox's resident memory every 10 ms and kills at the limit. A handler that maps 1 GB
    but touches one page passes at 128 MB (an address-space limit failed it with
    MemoryError); one that touches 300 MB is killed as Lambda kills it (Runtime.OutOfMemory,
    "signal: killed", Max Memory Used at the memory size). Tolerance: the watchdog may see
    a process up to one interval's allocation past the limit; the REPORT says the limit."""
    interpreter = find_interpreter("3.12")
    assert interpreter is not None
    user = ordinary_user()
    with workdir(user) as work:
        source = work / "src"
        source.mkdir()
        (source / "app.py").write_text(HANDLER)
        for name, event in (("map", {"map_mb": 1024}), ("touch", {"touch_mb": 300})):
            (work / f"{name}.json").write_text(json.dumps(event))
        give(work, user)
        environment = {"HOME": str(work), "LAMBDALAYER_CACHE_DIR": str(work / "cache")}

        def run(name: str) -> subprocess.CompletedProcess[str]:
            return run_here_as(
                user,
                [
                    "invoke",
                    "app.handler",
                    "--function",
                    str(source),
                    "--runtime",
                    "python3.12",
                    "--python",
                    str(interpreter.path),
                    "--memory",
                    "128",
                    "--timeout",
                    MEMORY_FUNCTION_TIMEOUT,
                    "--event",
                    str(work / f"{name}.json"),
                ],
                environment,
                interpreters=(interpreter.path,),
            )

        mapped = run("map")
        assert mapped.returncode == 0, mapped.stderr
        assert json.loads(mapped.stdout) == {"mapped": 1024 * 1024 * 1024}
        assert "128 MB of resident memory, enforced by a watchdog" in mapped.stderr
        [report] = [line for line in mapped.stderr.splitlines() if line.startswith("REPORT ")]
        used = int(report.split("Max Memory Used: ")[1].split(" MB")[0])
        assert 5 < used < 128  # the same measure: resident memory, not the 1 GB mapped

        touched = run("touch")
        assert touched.returncode == 1, touched.stderr
        document = json.loads(touched.stdout)
        assert document["errorType"] == "Runtime.OutOfMemory"
        assert document["errorMessage"].endswith("Runtime exited with error: signal: killed")
        assert "Max Memory Used: 128 MB" in touched.stderr
        assert "Status: error\tError Type: Runtime.OutOfMemory" in touched.stderr


CONTEXT_HANDLER = """\
import logging
logging.getLogger().info("init log record")

def handler(event, context):
    logging.getLogger().warning("a warning\\nits second line")
    client = context.client_context
    return {
        "custom": client.custom if client else None,
        "env": client.env if client else None,
        "identity": [
            context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id
        ],
    }
"""


@with_runtime
def test_client_context_identity_and_json_logs_as_lambdas(capsys, cache, tmp_path):
    """--client-context and --identity reach the handler's context (the Runtime API's
    headers, as Lambda sends them); --log-format json makes the platform's lines JSON
    records of the Telemetry API's types, and awslambdaric's records JSON; in text, a
    record's second line is a line of its own."""
    source = tmp_path / "src"
    source.mkdir()
    (source / "app.py").write_text(CONTEXT_HANDLER)
    base = ("invoke", "app.handler", "--function", str(source), "--runtime", "python3.12",
            "--cache-dir", str(cache))  # fmt: skip
    code, out, err = run_cli(
        capsys, *base,
        "--client-context", '{"custom": {"a": 1}, "env": {"locale": "en"}}',
        "--identity", '{"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}',
        "--log-format", "json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out) == {
        "custom": {"a": 1},
        "env": {"locale": "en"},
        "identity": ["id-1", "pool-1"],
    }
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    platform = [record["type"] for record in records if "type" in record]
    assert platform == [
        "platform.initStart",
        "platform.start",
        "platform.runtimeDone",
        "platform.report",
    ]
    [report] = [record["record"] for record in records if record.get("type") == "platform.report"]
    assert report["status"] == "success" and report["metrics"]["memorySizeMB"] == 128
    logged = [record for record in records if "level" in record]
    assert [(record["level"], record["message"]) for record in logged] == [
        ("INFO", "init log record"),
        ("WARNING", "a warning\nits second line"),
    ]
    code, out, err = run_cli(capsys, *base)
    assert code == 0, err
    assert json.loads(out)["custom"] is None
    lines = err.splitlines()
    warning = next(at for at, line in enumerate(lines) if line.startswith("[WARNING]"))
    assert lines[warning].endswith("\ta warning") and lines[warning + 1] == "its second line"
    code, _, err = run_cli(capsys, *base, "--client-context", "[1, 2]")
    assert code == 1 and "the client context is not a JSON object" in err
