"""The Lambda Runtime API, served by lambdalayer to the runtime it runs.

What AWS documents for runtime API version 2018-06-01 ("Using the Lambda runtime API for
custom runtimes", https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html; the
OpenAPI specification ``runtime-api.zip`` linked there):

- ``GET /2018-06-01/runtime/invocation/next`` — blocks until there is an event; the body
  is the event, the headers ``Lambda-Runtime-Aws-Request-Id``,
  ``Lambda-Runtime-Deadline-Ms`` (Unix milliseconds), ``Lambda-Runtime-Invoked-Function-Arn``
  and ``Lambda-Runtime-Trace-Id`` say which invocation it is, ``Lambda-Runtime-Client-Context``
  and ``Lambda-Runtime-Cognito-Identity`` (JSON) what the caller said of itself, when it did;
- ``POST /2018-06-01/runtime/invocation/{AwsRequestId}/response`` — the handler's result;
  answered ``202 Accepted``;
- ``POST /2018-06-01/runtime/invocation/{AwsRequestId}/error`` — an error document
  (``errorMessage``, ``errorType``, ``stackTrace``), with ``Lambda-Runtime-Function-Error-Type``;
  ``202``;
- ``POST /2018-06-01/runtime/init/error`` — the runtime could not start the handler
  (``Runtime.ImportModuleError``, …); ``202``.

As AWS's Runtime Interface Emulator answers (internal/lambda/rapi): a request for another
invocation's id is ``400`` ``InvalidRequestID``; a body over 6,291,556 bytes
(``interop.MaxPayloadSize``) is ``413`` ``RequestEntityTooLarge``, and for a response the
invocation ends with ``Function.ResponseSizeTooLarge``, "Response payload size (N bytes)
exceeded maximum allowed payload size (6291556 bytes)."; an unknown path is ``404``, a wrong
method ``405``. One ``/next`` may wait at a time, and none while an invocation runs: another
is ``403`` ``InvalidStateTransition`` — an extra connection cannot take the next event. A
``/next`` whose client went away gives its place up before it takes an event.

The client is the function's code, so the server is :mod:`.runtimehttp`'s (every request
bounded, a fixed pool of threads, a bounded number of connections). It listens on a Unix
socket (the sandbox has no network; a small relay inside it offers the socket on
``127.0.0.1``, where the runtime interface client expects a host and port) and hands each
event's outcome to the caller with the moments it happened, which the REPORT line is made of.
"""

from __future__ import annotations

import json
import queue
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from lambdalayer.environment.runtimehttp import (
    Bounds,
    Connection,
    HttpServer,
    Reply,
    Request,
    json_reply,
)
from lambdalayer.limits import RESPONSE_LIMIT

API = "/2018-06-01/runtime"
# The error types Lambda's platform lines name as the runtime posted them; any other is
# Runtime.Unknown (Function.Unknown for one of the function's): AWS's Runtime Interface
# Emulator, GetValidRuntimeOrFunctionErrorType (internal/lambda/rapid/model).
_PLATFORM_ERROR_TYPE = re.compile(r"(Runtime|Function)\.[A-Z][a-zA-Z]+")


def platform_error_type(posted: str | None) -> str:
    """The ``Error Type`` of Lambda's INIT_REPORT and REPORT lines for the type the runtime
    posted (``Lambda-Runtime-Function-Error-Type``)."""
    if posted and _PLATFORM_ERROR_TYPE.fullmatch(posted):
        return posted
    return "Function.Unknown" if (posted or "").startswith("Function.") else "Runtime.Unknown"


@dataclass(frozen=True)
class Event:
    """One invocation to hand to the runtime."""

    payload: bytes
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timeout_ms: int = 3000  # the deadline is this long after the runtime takes the event
    function_arn: str = ""
    client_context: str | None = None  # compact JSON, as the Invoke API's ClientContext decoded
    cognito_identity: str | None = None  # compact JSON of the caller's Cognito identity


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

    def __init__(self, path: Path, bounds: Bounds | None = None) -> None:
        self.path = path
        self.events: queue.Queue[Event] = queue.Queue()
        self.outcomes: queue.Queue[Outcome] = queue.Queue()
        self.current: Event | None = None
        self.first_next: float | None = None  # when the runtime first asked for an event
        self.handed_out: float | None = None  # when the current event was handed out
        self._waiting = False  # a /next is waiting for an event
        self._lock = threading.Lock()
        self.server = HttpServer(path, self.answer, bounds or Bounds(body=RESPONSE_LIMIT))
        path.chmod(0o777)

    def __enter__(self) -> RuntimeApi:
        self.server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.stop()
        self.path.unlink(missing_ok=True)

    def answer(self, request: Request) -> Reply | None:
        """The reply to one request of the runtime's (see the module's docstring)."""
        route = request.path.removeprefix(API).strip("/").split("/")
        if not request.path.startswith(API + "/"):
            return _unknown_path()
        if route == ["invocation", "next"]:
            return self._next(request.connection) if request.method == "GET" else _wrong_method()
        if route == ["init", "error"]:
            kind, request_id = "init-error", None
        elif len(route) == 3 and route[0] == "invocation" and route[2] in ("response", "error"):
            kind, request_id = route[2], route[1]
        else:
            return _unknown_path()
        if request.method != "POST":
            return _wrong_method()
        error_type = request.headers.get("lambda-runtime-function-error-type")
        return self._posted(kind, request_id, error_type, request.body, request.body_size)

    def _next(self, connection: Connection) -> Reply | None:
        with self._lock:
            if self._waiting or self.current is not None:
                state = "Running" if self.current is not None else "Ready"
                return json_reply(
                    403,
                    {
                        "errorMessage": f"State transition from {state} to Ready failed for"
                        " runtime. Error: State transition is not allowed",
                        "errorType": "InvalidStateTransition",
                    },
                )
            self._waiting = True
            if self.first_next is None:
                self.first_next = time.monotonic()
        try:
            event = self._wait_for_event(connection)
        finally:
            with self._lock:
                self._waiting = False
        if event is None:
            return None
        headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": event.request_id,
            "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + event.timeout_ms),
            "Lambda-Runtime-Invoked-Function-Arn": event.function_arn,
            "Lambda-Runtime-Trace-Id": f"Root=1-{event.request_id[:8]}-{uuid.uuid4().hex[:24]};Sampled=0",
        }
        if event.client_context is not None:
            headers["Lambda-Runtime-Client-Context"] = event.client_context
        if event.cognito_identity is not None:
            headers["Lambda-Runtime-Cognito-Identity"] = event.cognito_identity
        return Reply(200, event.payload, headers)

    def _wait_for_event(self, connection: Connection) -> Event | None:
        """The next event, or ``None`` when the client left (or the server stops) first."""
        while not self.server.stopping:
            if connection.closed_by_peer():
                return None
            try:
                event = self.events.get(timeout=0.05)
            except queue.Empty:
                continue
            with self._lock:
                self.current = event
                self.handed_out = time.monotonic()
            return event
        return None

    def _posted(
        self,
        kind: str,
        request_id: str | None,
        error_type: str | None,
        body: bytes,
        body_size: int,
    ) -> Reply:
        too_large = body_size > len(body)
        if too_large:
            error_type = "Function.ResponseSizeTooLarge"
            message = (
                f"Response payload size ({body_size} bytes) exceeded maximum allowed"
                f" payload size ({RESPONSE_LIMIT} bytes)."
            )
            body = json.dumps({"errorMessage": message, "errorType": error_type}).encode()
            kind = "error" if kind == "response" else kind
        outcome = Outcome(kind, body, request_id, error_type, time.monotonic())
        if not self.accept(outcome):
            return json_reply(
                400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
            )
        if too_large:
            return json_reply(
                413,
                {
                    "errorMessage": f"Exceeded maximum allowed payload size ({RESPONSE_LIMIT} bytes).",
                    "errorType": "RequestEntityTooLarge",
                },
            )
        return json_reply(202, {"status": "OK"})

    def accept(self, outcome: Outcome) -> bool:
        """Record what the runtime posted; whether it was for the invocation that runs."""
        with self._lock:
            current = self.current
            if outcome.kind != "init-error" and (
                current is None or outcome.request_id != current.request_id
            ):
                return False
            self.current = None
        self.outcomes.put(outcome)
        return True


def _unknown_path() -> Reply:
    return json_reply(404, {"errorMessage": "unknown path", "errorType": "NotFound"})


def _wrong_method() -> Reply:
    return json_reply(405, {"errorMessage": "method not allowed", "errorType": "MethodNotAllowed"})
