"""One execution environment: the runtime started once, confined, and handed events.

Like Lambda's: the layers extracted in order into a read-only ``/opt`` (a later layer's
file wins), the function's code read-only at ``/var/task``, a fresh ``/tmp`` of the
ephemeral-storage size, Lambda's environment variables, the runtime's bootstrap talking to
the Runtime API (:mod:`.runtimeapi`). The root is a Lambda image (``--image``), else the
root synthesized from the runtime's library set with the runtime's own packages at
``/var/runtime`` (:mod:`lambdalayer.environment.synthroot`, :mod:`lambdalayer.environment.runtimepkgs`).
The same sandboxes as the import check confine it (no network: the Runtime API is relayed
in over a Unix socket), under qemu-user for the other CPU.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import IO

from lambdalayer.environment.imports import SandboxRun, place_files, set_tree_mode
from lambdalayer.environment.limits import Cgroups, MemoryLimit, ProcessLimit, descendants
from lambdalayer.environment.runtimeapi import Event, Outcome, RuntimeApi
from lambdalayer.environment.sandbox import SANDBOX_TMP, Confinement, Launch, Mount, start
from lambdalayer.environment.sandbox import command as sandbox_command
from lambdalayer.errors import InputError
from lambdalayer.fsutil import parse_json
from lambdalayer.placement import read_zip
from lambdalayer.sourcetree import SourceFile, read_source_tree
from lambdalayer.targets import Layout
from lambdalayer.zipnames import printable

INSIDE = f"{SANDBOX_TMP}/.lambdalayer-invoke"  # the launcher, the bootstrap, the API's socket
PORT = 9001  # where AWS_LAMBDA_RUNTIME_API points, inside the sandbox
STARTING = b"\x00lambdalayer: the bootstrap starts\n"  # the launcher says so (see _launcher.py)
INIT_LIMIT_SECONDS = 10.0  # Lambda's limit on a function's init phase
LOG_LINE_LIMIT = 256 * 1024  # CloudWatch Logs' largest event (AWS: CloudWatch Logs quotas)
Log = Callable[[str], None]


@dataclass(frozen=True)
class Root:
    """Where the runtime runs: the sandbox's root, its bootstrap, and the runtime's packages."""

    run: SandboxRun
    bootstrap: tuple[str, ...]  # the command inside the root that starts the runtime
    runtime_packages: Path | None  # mounted at /var/runtime (None: the image has its own)
    runtime_label: str = ""  # what those packages are, for the report


@dataclass(frozen=True)
class Code:
    """The function's code and layers, extracted read-only where Lambda puts them."""

    opt: Path
    task: Path

    @classmethod
    def extracted(
        cls,
        scratch: Path,
        function: Path,
        layers: tuple[Path, ...],
        files: list[SourceFile] | None = None,
    ) -> Code:
        """Layers into ``opt`` in order, the function into ``task``: its zip, or its
        directory's ``files`` (:func:`~lambdalayer.sourcetree.read_source_tree`, read here
        when not given)."""
        opt, task = scratch / "opt", scratch / "task"
        place_files([read_zip(layer, Layout.SITE_PACKAGES) for layer in layers], opt, link=False)
        if function.is_dir():
            _write_tree(files if files is not None else read_source_tree(function), task)
        else:
            place_files([read_zip(function, Layout.FUNCTION)], task, link=False)
        for tree in (opt, task):
            set_tree_mode(tree, writable=False)
        return cls(opt, task)

    def release(self) -> None:
        """Make the trees removable again."""
        for tree in (self.opt, self.task):
            set_tree_mode(tree, writable=True)


def _write_tree(files: list[SourceFile], destination: Path) -> None:
    """The function's files (:mod:`lambdalayer.sourcetree`), written as plain files."""
    destination.mkdir(parents=True, exist_ok=True)
    for item in files:
        path = destination / item.relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(item.data)
        path.chmod(item.mode)


@dataclass(frozen=True)
class Settings:
    """The function's configuration: memory, time, /tmp, variables."""

    memory_mb: int
    timeout: float
    ephemeral_mb: int
    variables: dict[str, str]
    tracer: tuple[str, ...] = ()  # a command the sandbox is started under (``strace … --``)


@dataclass(frozen=True)
class Invocation:
    """One call: its result or Lambda's error document, and the REPORT line's figures."""

    request_id: str
    payload: bytes
    error: dict[str, object] | None
    duration_ms: float
    billed_ms: int
    init_ms: float | None
    max_memory_mb: int
    memory_mb: int
    taken_at: float | None = None  # wall-clock time the runtime took the event (``time.time()``)

    def report_line(self) -> str:
        """Lambda's ``REPORT RequestId: … Duration: … Init Duration: …`` line."""
        line = (
            f"REPORT RequestId: {self.request_id}\tDuration: {self.duration_ms:.2f} ms\t"
            f"Billed Duration: {self.billed_ms} ms\tMemory Size: {self.memory_mb} MB\t"
            f"Max Memory Used: {self.max_memory_mb} MB"
        )
        if self.init_ms is not None:
            line += f"\tInit Duration: {self.init_ms:.2f} ms"
        return line


def _child_source(name: str) -> str:
    return resources.files("lambdalayer.environment").joinpath(name).read_text("utf-8")


class Environment:
    """The runtime, started in its sandbox, waiting for events (one process, warm after the first)."""

    def __init__(self, root: Root, code: Code, settings: Settings, scratch: Path, log: Log) -> None:
        self.root, self.settings, self.log = root, settings, log
        self.started = time.monotonic()
        self.bootstrap_started: list[float] = []  # when the launcher started the bootstrap
        groups = Cgroups()
        self.limit = MemoryLimit(settings.memory_mb, groups)
        self.processes = ProcessLimit(groups, user_namespace=root.run.sandbox.own_user_namespace)
        launch = scratch / "launch"
        launch.mkdir(parents=True)
        launch.chmod(0o755)
        (launch / "launcher.py").write_text(_child_source("_launcher.py"), "utf-8")
        (launch / "bootstrap.py").write_text(_child_source("_bootstrap.py"), "utf-8")
        self.api = RuntimeApi(launch / "runtime.sock")
        self.api.__enter__()
        argv = (
            root.run.interpreter,
            "-I",
            "-S",
            f"{INSIDE}/launcher.py",
            f"{INSIDE}/runtime.sock",
            str(PORT),
            *root.bootstrap,
        )
        mounts = [
            *root.run.host_mounts,
            Mount(code.opt, "/opt"),
            Mount(code.task, "/var/task"),
            Mount(launch, INSIDE),
        ]
        if root.runtime_packages is not None:
            mounts.append(Mount(root.runtime_packages, "/var/runtime"))
        confinement = Confinement(
            root.run.root,
            tuple(mounts),
            argv,
            scratch,
            settings.variables,
            "/var/task",
            root.run.host_symlinks,
            settings.ephemeral_mb * 1024 * 1024,
            self.processes.variables(),
        )
        started = sandbox_command(root.run.sandbox, confinement)
        if settings.tracer:
            started = Launch((*settings.tracer, *started.argv), started.environment, started.data)
        self.process = start(
            started,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            before=self.limit.enter(),
        )
        self._relays = [
            threading.Thread(target=_relay, args=(stream, log, self.bootstrap_started), daemon=True)
            for stream in (self.process.stdout, self.process.stderr)
            if stream is not None
        ]
        for relay in self._relays:
            relay.start()
        self.cold = True

    @property
    def alive(self) -> bool:
        """Whether the runtime's process still runs."""
        return self.process.poll() is None

    def invoke(self, payload: bytes, function_arn: str) -> Invocation:
        """Hand one event to the runtime and wait for what it says (or for the deadline)."""
        timeout_ms = int(self.settings.timeout * 1000)
        event = Event(payload, timeout_ms=timeout_ms, function_arn=function_arn)
        self.log(f"START RequestId: {event.request_id} Version: $LATEST")
        queued = time.monotonic()
        self.api.handed_out = None
        self.api.events.put(event)
        outcome = self._await(queued)
        init_ms = None
        if self.cold:
            first = self.api.first_next or time.monotonic()
            init_ms = (first - min(self.bootstrap_started, default=self.started)) * 1000
            self.cold = False
        began = self.api.handed_out or queued
        taken_at = time.time() - (time.monotonic() - began)
        ended = outcome.at if outcome is not None else time.monotonic()
        duration = max(0.0, (ended - began) * 1000)
        peak = self.limit.peak_megabytes(descendants(self.process.pid))
        memory = min(peak, self.settings.memory_mb)
        error = self._error_of(outcome, event)
        billed = int(-(-(duration + (init_ms or 0.0)) // 1))
        if error is not None and error.get("errorType") == "Runtime.OutOfMemory":
            memory = self.settings.memory_mb
        self.log(f"END RequestId: {event.request_id}")
        payload_out = outcome.body if outcome is not None and outcome.kind == "response" else b""
        return Invocation(
            event.request_id,
            payload_out,
            error,
            duration,
            billed,
            init_ms,
            memory,
            self.settings.memory_mb,
            taken_at,
        )

    def _await(self, queued: float) -> Outcome | None:
        """The runtime's outcome, or ``None`` when the deadline passed or the process ended.

        The timeout counts from when the runtime took the event; before that, a cold
        environment has Lambda's init limit more.
        """
        timeout = self.settings.timeout
        start_limit = queued + timeout + (INIT_LIMIT_SECONDS if self.cold else 0.0)
        while True:
            taken = self.api.handed_out
            if time.monotonic() >= (taken + timeout if taken is not None else start_limit):
                return None
            with contextlib.suppress(Exception):
                return self.api.outcomes.get(timeout=0.05)
            if not self.alive:
                with contextlib.suppress(Exception):
                    return self.api.outcomes.get(timeout=0.2)
                return None

    def _error_of(self, outcome: Outcome | None, event: Event) -> dict[str, object] | None:
        """Lambda's error document for what happened, or ``None`` for a response."""
        if outcome is not None and outcome.kind == "response":
            return None
        if outcome is not None:
            document = _error_document(outcome.body)
            document.setdefault("errorType", outcome.error_type or "Runtime.Unknown")
            document["requestId"] = event.request_id
            return document
        if self.alive:  # the deadline passed: Lambda ends the environment
            self.close()
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            message = f"{stamp} {event.request_id} Task timed out after {self.settings.timeout:.2f} seconds"
            self.log(message)
            return {
                "errorType": "Sandbox.Timedout",
                "errorMessage": message,
                "requestId": event.request_id,
            }
        status = self.process.returncode
        signal_name = {
            -9: "killed",
            137: "killed",
            -11: "segmentation fault",
            139: "segmentation fault",
        }
        how = f"signal: {signal_name[status]}" if status in signal_name else f"exit status {status}"
        kind = "Runtime.OutOfMemory" if self.limit.killed_for_memory() else "Runtime.ExitError"
        return {
            "errorType": kind,
            "errorMessage": f"RequestId: {event.request_id} Error: Runtime exited with error: {how}",
            "requestId": event.request_id,
        }

    def close(self) -> None:
        """End the runtime and everything it started; remove the cgroup and the socket."""
        if self.settings.tracer and self.alive:
            self._end_traced()
        if self.alive:
            self.process.kill()
        self.limit.groups.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        for relay in self._relays:
            relay.join(timeout=2)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        self.api.__exit__(None, None, None)
        self.limit.close()

    def _end_traced(self) -> None:
        """End what the tracer traces, not the tracer: it then writes out what it buffered
        and exits by itself (killed, its last lines would be lost)."""
        tracer = self.process.pid
        for pid in descendants(tracer):
            if pid != tracer:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


def _error_document(body: bytes) -> dict[str, object]:
    """The error document the runtime posted (the function's code wrote it: any bytes, any
    nesting); its text as ``errorMessage`` when it is not a JSON object that can be printed."""
    try:
        document = parse_json(body or b"{}", "the error document")
        if isinstance(document, dict):
            json.dumps(document)  # printed later: nesting that cannot be printed is refused now
            return document
    except (InputError, RecursionError, ValueError):
        pass
    return {"errorMessage": body.decode("utf-8", "replace")}


def _relay(stream: IO[bytes], log: Log, started: list[float]) -> None:
    """The runtime's output (the function's logs), line by line, as CloudWatch has it; the
    launcher's line saying the bootstrap starts is noted in ``started``, not shown.

    A line is at most CloudWatch's largest event (256 KB; a longer one continues on the
    next); the ``\r`` that separates a log record's lines starts a line of its own (as the
    console shows it); control characters (a terminal's escape sequences) are escaped as
    everywhere else (:func:`~lambdalayer.zipnames.printable`).
    """
    for line in iter(lambda: stream.readline(LOG_LINE_LIMIT), b""):
        if line == STARTING:
            started.append(time.monotonic())
            continue
        text = line.decode("utf-8", "replace").removesuffix("\n")
        for part in text.split("\r"):
            log(printable(part, keep="\t"))
