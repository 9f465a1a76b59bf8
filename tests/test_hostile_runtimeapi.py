"""The Runtime API's client is the function's own code: whatever it sends, the host holds.

Raw bytes over the API's Unix socket, as a hostile handler would send them: requests
generated from a model of HTTP (request line, headers, body, how the client leaves), and the
classes seen to break the server before — a bad ``Content-Length``, thousands of
connections, extra ``/next`` requests, an 800 MB body. Each case asserts the promise: a 4xx
to a malformed request (or the connection closed), never an exception in the server, a
bounded number of threads, and the server still serving the runtime afterwards.
"""

from __future__ import annotations

import contextlib
import json
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostilecases import generated
from hypothesis import given
from hypothesis import strategies as st

from lambdalayer.environment.runtimeapi import Event, RuntimeApi

pytestmark = pytest.mark.hostile

API = "/2018-06-01/runtime"
NEXT = f"{API}/invocation/next"


@pytest.fixture
def server_errors() -> Iterator[list[str]]:
    """Every exception a server thread lets escape (there must be none)."""
    seen: list[str] = []
    previous = threading.excepthook

    def record(arguments: threading.ExceptHookArgs) -> None:
        seen.append(f"{arguments.exc_type.__name__}: {arguments.exc_value}")

    threading.excepthook = record
    yield seen
    threading.excepthook = previous


@contextlib.contextmanager
def running_api(place: Path) -> Iterator[tuple[RuntimeApi, Path]]:
    place.mkdir(parents=True, exist_ok=True)
    path = place / "runtime.sock"
    api = RuntimeApi(path)
    api.__enter__()
    try:
        yield api, path
    finally:
        api.__exit__(None, None, None)


def exchange(path: Path, data: bytes, *, timeout: float = 5.0, shut: bool = True) -> bytes:
    """Send ``data`` on a new connection; everything the server answers until it closes or
    goes quiet."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout)
        client.connect(str(path))
        with contextlib.suppress(OSError):
            client.sendall(data)
            if shut:
                client.shutdown(socket.SHUT_WR)
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := client.recv(65536):
                answer += chunk
        return answer


def status_of(answer: bytes) -> int | None:
    """The first status code of an answer, or ``None`` when the server just closed."""
    if not answer:
        return None
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer[9:12])


def _next(path: Path) -> socket.socket:
    """A connection whose /next is waiting (a /next that left a moment ago may still hold
    the place for one poll of the server's: then asked again)."""
    for _attempt in range(40):
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(10)
        client.connect(str(path))
        client.sendall(f"GET {NEXT} HTTP/1.1\r\nHost: r\r\n\r\n".encode())
        client.settimeout(0.1)
        try:
            refused = client.recv(65536)
        except TimeoutError:
            client.settimeout(10)
            return client  # waiting: no answer before an event
        client.close()
        assert status_of(refused) == 403, refused
        time.sleep(0.05)
    raise AssertionError("/next was refused for two seconds")


def round_trip(api: RuntimeApi, path: Path) -> None:
    """The runtime's own exchange still works: /next gets the event, its response is taken."""
    event = Event(b'{"still": "serving"}')
    with _next(path) as client:
        api.events.put(event)
        answer = b""
        while b'"serving"}' not in answer:
            chunk = client.recv(65536)
            assert chunk, answer
            answer += chunk
        assert status_of(answer) == 200, answer
        body = f"POST {API}/invocation/{event.request_id}/response HTTP/1.1\r\nContent-Length: 2\r\n\r\nok"
        client.sendall(body.encode())
        assert status_of(client.recv(65536)) == 202
    outcome = api.outcomes.get(timeout=5)
    assert (outcome.kind, outcome.body) == ("response", b"ok")


# --- the classes seen before -----------------------------------------------------------


@pytest.mark.parametrize(
    "length", ["abc", "-5", "5, 5", "1e3", "\u0661\u0662", " ", "99999999999999999999999"]
)
def test_a_bad_content_length_is_a_400_never_a_traceback(tmp_path, server_errors, length):
    with running_api(tmp_path) as (api, path):
        request = f"POST {API}/init/error HTTP/1.1\r\nContent-Length: {length}\r\n\r\n{{}}"
        answer = exchange(path, request.encode("utf-8"))
        assert status_of(answer) == 400, answer
        round_trip(api, path)
    assert server_errors == []


def test_thousands_of_connections_make_no_thread_each(tmp_path, server_errors):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    clients: list[socket.socket] = []
    try:
        with running_api(tmp_path) as (api, path):
            before = threading.active_count()
            for _ in range(3000):
                client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                client.setblocking(False)
                with contextlib.suppress(BlockingIOError, ConnectionRefusedError):
                    client.connect(str(path))
                clients.append(client)
                if len(clients) % 500 == 0:
                    assert threading.active_count() - before <= 2, threading.active_count()
            time.sleep(0.5)
            assert threading.active_count() - before <= 2
            assert api.server.open_connections <= 32
            for client in clients:
                client.close()
            clients.clear()
            time.sleep(0.5)
            round_trip(api, path)
    finally:
        for client in clients:
            client.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    assert server_errors == []


def test_an_extra_next_cannot_take_the_next_event(tmp_path, server_errors):
    """Only one /next waits; another is 403 at once, and the waiting one gets the event."""
    with running_api(tmp_path) as (api, path):
        first = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        first.settimeout(10)
        first.connect(str(path))
        first.sendall(f"GET {NEXT} HTTP/1.1\r\n\r\n".encode())
        time.sleep(0.2)
        extra = exchange(path, f"GET {NEXT} HTTP/1.1\r\n\r\n".encode(), timeout=3)
        assert status_of(extra) == 403 and b"InvalidStateTransition" in extra, extra
        event = Event(b"{}")
        api.events.put(event)
        answer = first.recv(65536)
        assert status_of(answer) == 200 and event.request_id.encode() in answer
        running = exchange(path, f"GET {NEXT} HTTP/1.1\r\n\r\n".encode(), timeout=3)
        assert status_of(running) == 403  # the invocation runs: no /next until it ends
        first.close()
    assert server_errors == []


def test_a_next_whose_client_left_gives_its_place_up(tmp_path, server_errors):
    with running_api(tmp_path) as (api, path):
        for _ in range(5):  # clients that ask, then leave before the event comes
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as gone:
                gone.connect(str(path))
                gone.sendall(f"GET {NEXT} HTTP/1.1\r\n\r\n".encode())
                time.sleep(0.1)
        time.sleep(0.2)
        round_trip(api, path)
    assert server_errors == []


def test_a_stale_request_id_is_lambdas_400(tmp_path, server_errors):
    with running_api(tmp_path) as (_api, path):
        request = (
            f"POST {API}/invocation/not-this-one/response HTTP/1.1\r\nContent-Length: 2\r\n\r\n{{}}"
        )
        answer = exchange(path, request.encode())
        assert status_of(answer) == 400
        assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {
            "errorMessage": "Invalid request ID",
            "errorType": "InvalidRequestID",
        }
    assert server_errors == []


BIG_BODY_DRIVER = r"""
import socket, sys, threading, time
from pathlib import Path
from lambdalayer.environment.runtimeapi import Event, RuntimeApi

size = int(sys.argv[2])
path = Path(sys.argv[1]) / "runtime.sock"
api = RuntimeApi(path)
api.__enter__()
event = Event(b"{}")
client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
client.connect(str(path))
client.sendall(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n\r\n")
time.sleep(0.1)
api.events.put(event)
client.recv(65536)
head = (
    f"POST /2018-06-01/runtime/invocation/{event.request_id}/response HTTP/1.1\r\n"
    f"Content-Length: {size}\r\n\r\n"
)
client.sendall(head.encode())
block = b"x" * (1 << 20)
sent = 0
while sent < size:
    piece = block[: min(len(block), size - sent)]
    client.sendall(piece)
    sent += len(piece)
answer = client.recv(65536)
outcome = api.outcomes.get(timeout=60)
print(answer.split(b"\r\n", 1)[0].decode())
print(outcome.kind, outcome.error_type, outcome.body.decode())
# VmHWM: this process's own peak; ru_maxrss keeps the test process's across execve.
with open("/proc/self/status") as status:
    print(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
api.__exit__(None, None, None)
"""


def test_an_800_mb_response_is_counted_not_kept(tmp_path):
    """AWS's emulator: over 6,291,556 bytes is 413 to the runtime and the invocation's
    Function.ResponseSizeTooLarge naming the size. The server's process stays small."""
    size = 800_000_000
    completed = subprocess.run(
        [sys.executable, "-c", BIG_BODY_DRIVER, str(tmp_path), str(size)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    status_line, outcome, peak_kib = completed.stdout.splitlines()
    assert status_line == "HTTP/1.1 413 Request Entity Too Large"
    assert outcome == (
        "error Function.ResponseSizeTooLarge "
        + json.dumps(
            {
                "errorMessage": f"Response payload size ({size} bytes) exceeded maximum allowed"
                " payload size (6291556 bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }
        )
    )
    assert int(peak_kib) <= 300 * 1024, f"peak RSS {int(peak_kib) // 1024} MiB"


# --- generated from a model of HTTP requests --------------------------------------------

METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "G ET", "", "get", "PO\x00ST"])
PATHS = st.one_of(
    st.sampled_from(
        [
            NEXT,
            f"{API}/init/error",
            f"{API}/invocation/abc/response",
            f"{API}/invocation/abc/error",
            f"{API}/invocation/next/extra",
            "/",
            "*",
            "",
            "/%00",
            f"{API}/../../etc/passwd",
        ]
    ),
    st.text(min_size=1, max_size=40).map(lambda text: "/" + text),
    st.integers(9000, 20000).map(lambda size: "/" + "a" * size),
)
VERSIONS = st.sampled_from(["HTTP/1.1", "HTTP/1.0", "HTTP/2", "HTTP/1.1 extra", "", "http/1.1"])
HEADER_NAMES = st.one_of(
    st.sampled_from(["Content-Length", "Transfer-Encoding", "Host", "Connection", "X-A"]),
    st.text(min_size=0, max_size=12),
)
HEADER_VALUES = st.one_of(
    st.sampled_from(
        ["0", "5", "-1", "abc", "chunked", "gzip, chunked", "close", "keep-alive", "1" * 30]
    ),
    st.text(max_size=30),
    st.integers(40000, 70000).map(lambda size: "v" * size),
)
HEADERS = st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=8).map(
    lambda pairs: b"".join(
        f"{name}: {value}\r\n".encode("utf-8", "replace") for name, value in pairs
    )
)
MANY_HEADERS = st.integers(101, 400).map(lambda count: b"X-A: b\r\n" * count)
BODIES = st.one_of(
    st.binary(max_size=64),
    st.just(b"5\r\nhello\r\n0\r\n\r\n"),
    st.just(b"zz\r\nhello\r\n"),
    st.just(b"ffffffffffffffffff\r\n"),
    st.just(b"5\r\nhelloXX0\r\n\r\n"),
)
LINE_ENDS = st.sampled_from([b"\r\n", b"\n", b"\r", b""])


@st.composite
def raw_requests(draw: st.DrawFn) -> bytes:
    """One request as a hostile client may write it (it may be well formed, too)."""
    line = f"{draw(METHODS)} {draw(PATHS)} {draw(VERSIONS)}".encode("utf-8", "replace")
    headers = draw(st.one_of(HEADERS, MANY_HEADERS))
    end = draw(LINE_ENDS)
    return line + b"\r\n" + headers + end + draw(BODIES)


@generated(120)
@given(requests=st.lists(raw_requests(), min_size=1, max_size=3), shut=st.booleans())
def test_any_request_is_answered_or_closed_never_a_server_error(
    tmp_path_factory, server_errors, requests, shut
):
    place = tmp_path_factory.mktemp("api")
    with running_api(place) as (api, path):
        before = threading.active_count()
        answer = exchange(path, b"".join(requests), timeout=2, shut=shut)
        statuses = [
            int(part[9:12]) for part in answer.split(b"\r\n\r\n") if part.startswith(b"HTTP/1.1 ")
        ]
        assert all(100 <= status < 600 for status in statuses), answer[:300]
        assert not [status for status in statuses if status >= 500 and status != 501], answer[:300]
        assert threading.active_count() - before <= 1
        api.events.queue.clear()
        round_trip(api, path)
    assert server_errors == []
