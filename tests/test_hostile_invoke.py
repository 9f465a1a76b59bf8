"""``invoke`` against a hostile function: its result, its requests to the Runtime API, its logs.

Run through the real runtime interface client (awslambdaric, from the public index: marker
``network``) in the sandbox; lambdalayer runs in a child process whose peak memory is read.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cliutil import run_cli
from hostilecases import PEAK_RSS_LIMIT_KIB, case_environment, run_case

from lambdalayer.interpreters import find_interpreter

pytestmark = [
    pytest.mark.network,
    pytest.mark.hostile,
    pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed"),
    pytest.mark.skipif(find_interpreter("3.12") is None, reason="no CPython 3.12 here"),
]

HANDLERS = """
import http.client, os

def seven_megabytes(event, context):
    return "x" * 7_000_000

def floods_the_api(event, context):
    host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    size = 800_000_000
    path = f"/2018-06-01/runtime/invocation/{context.aws_request_id}/response"
    connection.putrequest("POST", path)
    connection.putheader("Content-Length", str(size))
    connection.endheaders()
    block, sent = b"x" * (1 << 20), 0
    while sent < size:
        piece = block[: min(len(block), size - sent)]
        connection.send(piece)
        sent += len(piece)
    return {"status": connection.getresponse().status}

def paints_the_terminal(event, context):
    print("\\x1b[2J\\x1b]0;owned\\x07 cleared\\rsecond line\\tend")
    return "done"
"""


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("invoke-cache")


@pytest.fixture
def source(tmp_path: Path) -> Path:
    code = tmp_path / "src"
    code.mkdir()
    (code / "app.py").write_text(HANDLERS)
    return code


def _invoke(handler: str, source: Path, cache: Path, *extra: str) -> list[str]:
    return [
        "invoke",
        f"app.{handler}",
        "--function",
        str(source),
        "--runtime",
        "python3.12",
        "--cache-dir",
        str(cache),
        "--timeout",
        "120",
        *extra,
    ]


def test_a_7_mb_result_is_lambdas_response_size_too_large(capsys, cache, source):
    code, out, err = run_cli(capsys, *_invoke("seven_megabytes", source, cache))
    assert code == 1, err
    document = json.loads(out)
    assert document["errorType"] == "Function.ResponseSizeTooLarge"
    assert document["errorMessage"] == (
        "Response payload size (7000002 bytes) exceeded maximum allowed payload size"
        " (6291556 bytes)."
    )


def test_an_800_mb_response_leaves_lambdalayer_small(tmp_path, cache, source):
    [outcome] = (
        case := run_case(
            [_invoke("floods_the_api", source, cache, "--memory", "512")],
            case_environment(tmp_path),
            tmp_path,
            timeout=600,
        )
    ).outcomes
    assert outcome.code == 1, outcome.err
    document = json.loads(outcome.out)
    assert document["errorType"] == "Function.ResponseSizeTooLarge"
    assert "(800000000 bytes)" in document["errorMessage"]
    assert case.peak_rss_kib <= PEAK_RSS_LIMIT_KIB, f"{case.peak_rss_kib // 1024} MiB"
    print(f"peak RSS of lambdalayer while the function sent 800 MB: {case.peak_rss_kib} KiB")


def test_terminal_escapes_in_the_logs_are_escaped(capsys, cache, source):
    code, _out, err = run_cli(capsys, *_invoke("paints_the_terminal", source, cache))
    assert code == 0, err
    assert "\x1b" not in err and "\x07" not in err and "\r" not in err
    lines = err.splitlines()
    [at] = [number for number, line in enumerate(lines) if line.endswith("cleared")]
    assert lines[at].endswith("\\x1b[2J\\x1b]0;owned\\x07 cleared")
    assert lines[at + 1].endswith("second line\tend")  # a log record's \r starts a line
