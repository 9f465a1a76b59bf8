"""The Lambda Runtime API, served by lambdalayer to the runtime it runs.

What AWS documents for runtime API version 2018-06-01 ("Using the Lambda runtime API for
custom runtimes", https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html; the
OpenAPI specification ``runtime-api.zip`` linked there):

- ``GET /2018-06-01/runtime/invocation/next`` — blocks until there is an event; the body
  is the event, the headers ``Lambda-Runtime-Aws-Request-Id``,
  ``Lambda-Runtime-Deadline-Ms`` (Unix milliseconds), ``Lambda-Runtime-Invoked-Function-Arn``
  and ``Lambda-Runtime-Trace-Id`` say which invocation it is;
- ``POST /2018-06-01/runtime/invocation/{AwsRequestId}/response`` — the handler's result;
  answered ``202 Accepted``;
- ``POST /2018-06-01/runtime/invocation/{AwsRequestId}/error`` — an error document
  (``errorMessage``, ``errorType``, ``stackTrace``), with ``Lambda-Runtime-Function-Error-Type``;
  ``202``;
- ``POST /2018-06-01/runtime/init/error`` — the runtime could not start the handler
  (``Runtime.ImportModuleError``, …); ``202``.

A request for another invocation's id is ``400``; an unknown path ``404``. The server
listens on a Unix socket (the sandbox has no network; a small relay inside it offers the
socket on ``127.0.0.1``, where the runtime interface client expects a host and port), one
thread per connection, and hands each event's outcome to the caller with the moments it
happened, which the REPORT line is made of.
"""

from __future__ import annotations

import http.server
import json
import os
import queue
import socketserver
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

API = "/2018-06-01/runtime"


@dataclass(frozen=True)
class Event:
    """One invocation to hand to the runtime."""

    payload: bytes
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_ms: int = 3000  # the deadline is this long after the runtime takes the event
    function_arn: str = ""


@dataclass(frozen=True)
class Outcome:
    """What the runtime said about one invocation (or about its start)."""

    kind: str  # "response", "error" or "init-error"
    body: bytes
    request_id: str | None = None
    error_type: str | None = None
    at: float = 0.0  # time.monotonic() when it arrived


class RuntimeApi:
    """The Runtime API for one execution environment, on a Unix socket at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.events: queue.Queue[Event] = queue.Queue()
        self.outcomes: queue.Queue[Outcome] = queue.Queue()
        self.current: Event | None = None
        self.first_next: float | None = None  # when the runtime first asked for an event
        self.handed_out: float | None = None  # when the current event was handed out
        self._lock = threading.Lock()
        # A Unix socket's path must fit 108 bytes; a deep cache directory's does not, so a
        # long one is bound through /proc/self/fd/N/ of its directory (Linux resolves it).
        directory = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
        try:
            short = (
                str(path)
                if len(os.fsencode(path)) < 100
                else f"/proc/self/fd/{directory}/{path.name}"
            )
            self._server = _Server(short, _handler_for(self))
        finally:
            os.close(directory)
        path.chmod(0o777)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RuntimeApi:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.path.unlink(missing_ok=True)

    def next_event(self) -> Event:
        """Block until an event is queued (what ``/invocation/next`` waits for)."""
        with self._lock:
            if self.first_next is None:
                self.first_next = time.monotonic()
        event = self.events.get()
        with self._lock:
            self.current = event
            self.handed_out = time.monotonic()
        return event

    def accept(self, outcome: Outcome) -> int:
        """Record what the runtime posted; the HTTP status to answer with."""
        with self._lock:
            current = self.current
            if outcome.kind != "init-error" and (
                current is None or outcome.request_id != current.request_id
            ):
                return 400
            self.current = None
        self.outcomes.put(outcome)
        return 202


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def _handler_for(api: RuntimeApi) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the runtime's own logs are what the user reads."""

        def address_string(self) -> str:
            return "runtime"

        def _answer(
            self, status: int, body: bytes = b"", headers: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path != f"{API}/invocation/next":
                self._answer(404, b'{"errorMessage": "unknown path"}')
                return
            event = api.next_event()
            headers = {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": event.request_id,
                "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + event.timeout_ms),
                "Lambda-Runtime-Invoked-Function-Arn": event.function_arn,
                "Lambda-Runtime-Trace-Id": f"Root=1-{event.request_id[:8]}-{uuid.uuid4().hex[:24]};Sampled=0",
            }
            self._answer(200, event.payload, headers)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = self.path.removeprefix(API).strip("/").split("/")
            error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
            if parts == ["init", "error"]:
                outcome = Outcome("init-error", body, None, error_type, time.monotonic())
            elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                outcome = Outcome(parts[2], body, parts[1], error_type, time.monotonic())
            else:
                self._answer(404, b'{"errorMessage": "unknown path"}')
                return
            status = api.accept(outcome)
            self._answer(
                status, json.dumps({"status": "OK" if status == 202 else "stale"}).encode()
            )

    return Handler
