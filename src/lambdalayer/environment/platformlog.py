"""Lambda's own log lines (the platform's): as text, or as JSON when the function's logging
configuration says ``LogFormat: JSON``.

Text: ``INIT_START``, ``START``, ``END``, ``REPORT``, ``INIT_REPORT``, a timeout's and an
exit's lines, worded as Lambda's (AWS: "Understanding the Lambda execution environment
lifecycle"). JSON: one object a line, ``{"time", "type", "record"}``, with the types and
records of AWS's Telemetry API schema (``platform.initStart``, ``platform.start``,
``platform.runtimeDone``, ``platform.report``, ``platform.initReport``; AWS: "Lambda
Telemetry API Event schema reference"), as a function configured for JSON logs writes them;
the timeout and the exit are said by their records' ``status`` and ``errorType``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

Log = Callable[[str], None]
TEXT, JSON = "Text", "JSON"  # LoggingConfig's LogFormat values


def now() -> str:
    """The time as Lambda's lines give it (UTC, milliseconds)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class PlatformLog:
    """Writes the platform's lines to ``log`` in the configured format."""

    def __init__(self, log: Log, log_format: str = TEXT) -> None:
        self.log, self.as_json = log, log_format == JSON

    def _record(self, kind: str, record: dict[str, object]) -> None:
        self.log(json.dumps({"time": now(), "type": kind, "record": record}))

    def init_start(self, runtime_version: str) -> None:
        """The init begins."""
        if self.as_json:
            self._record(
                "platform.initStart",
                {
                    "initializationType": "on-demand",
                    "phase": "init",
                    "runtimeVersion": runtime_version,
                    "runtimeVersionArn": None,
                },
            )
        else:
            self.log(
                f"INIT_START Runtime Version: {runtime_version}\tRuntime Version ARN: none"
                " (lambdalayer invoke)"
            )

    def init_report(self, init_ms: float, status: str, error_type: str) -> None:
        """An init that failed or passed its limit."""
        if self.as_json:
            record: dict[str, object] = {
                "initializationType": "on-demand",
                "phase": "init",
                "status": status,
                "metrics": {"durationMs": round(init_ms, 2)},
            }
            if error_type:
                record["errorType"] = error_type
            self._record("platform.initReport", record)
            return
        line = f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\tStatus: {status}"
        self.log(line + (f"\tError Type: {error_type}" if error_type else ""))

    def start(self, request_id: str) -> None:
        """An invocation begins."""
        if self.as_json:
            self._record("platform.start", {"requestId": request_id, "version": "$LATEST"})
        else:
            self.log(f"START RequestId: {request_id} Version: $LATEST")

    def timed_out(self, request_id: str, seconds: str) -> None:
        """The deadline passed (JSON: said by the records' status)."""
        if not self.as_json:
            self.log(f"{now()} {request_id} Task timed out after {seconds} seconds")

    def exited(self, message: str, error_type: str) -> None:
        """The runtime ended during the invocation (JSON: said by the records' errorType)."""
        if not self.as_json:
            self.log(message)
            self.log(error_type)

    def end(self, request_id: str, status: str, error_type: str) -> None:
        """The invocation ends."""
        if self.as_json:
            record: dict[str, object] = {"requestId": request_id, "status": status}
            if error_type:
                record["errorType"] = error_type
            self._record("platform.runtimeDone", record)
        else:
            self.log(f"END RequestId: {request_id}")

    def report(self, line: str, record: dict[str, object]) -> None:
        """The invocation's REPORT: its text ``line``, or its ``record``."""
        if self.as_json:
            self._record("platform.report", record)
        else:
            self.log(line)
