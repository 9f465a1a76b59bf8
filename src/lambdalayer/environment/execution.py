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
import queue
import signal
import subprocess
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lambdalayer.environment.imports import SandboxRun, place_files, set_tree_mode
from lambdalayer.environment.limits import Cgroups, MemoryLimit, ProcessLimit, descendants
from lambdalayer.environment.output import Log, RuntimeOutput
from lambdalayer.environment.platformlog import TEXT, PlatformLog
from lambdalayer.environment.runtimeapi import Event, Outcome, RuntimeApi, platform_error_type
from lambdalayer.environment.sandbox import SANDBOX_TMP, Confinement, Launch, Mount, start
from lambdalayer.environment.sandbox import command as sandbox_command
from lambdalayer.errors import InputError
from lambdalayer.fsutil import parse_json
from lambdalayer.placement import read_zip
from lambdalayer.sourcetree import SourceFile, read_source_tree
from lambdalayer.targets import Layout

INSIDE = f"{SANDBOX_TMP}/.lambdalayer-invoke"  # the launcher, the bootstrap, the API's socket
PORT = 9001  # where AWS_LAMBDA_RUNTIME_API points, inside the sandbox
INIT_LIMIT_SECONDS = 10.0  # Lambda's limit on a function's init phase
# Under qemu-user the other CPU's CPython runs many times slower than on that CPU (the
# emulator's time counts too): Lambda's init limit is stretched by this much there.
EMULATED_SLOWDOWN = 10


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
    borrowed: bool = False  # the task tree is an image's own (never made writable here)

    @classmethod
    def of_image(cls, scratch: Path, task: Path) -> Code:
        """An image's own ``/var/task`` and an empty ``/opt`` (an image has no layers)."""
        opt = scratch / "opt"
        opt.mkdir(parents=True)
        set_tree_mode(opt, writable=False)
        return cls(opt, task, borrowed=True)

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
        for tree in (self.opt,) if self.borrowed else (self.opt, self.task):
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
    log_format: str = TEXT  # LoggingConfig's LogFormat: the platform's lines as text or JSON
    client_context: str | None = None  # what each event's caller says of itself (compact JSON)
    cognito_identity: str | None = None


@dataclass(frozen=True)
class Invocation:
    """One call: its result or Lambda's error document, and the REPORT line's figures.

    ``status`` is what Lambda's REPORT line adds when the platform ended the call
    (``timeout``, or ``error`` with ``error_type``: the runtime exited, ran out of memory,
    or failed its init); empty for a result or an error of the handler's own.
    """

    request_id: str
    payload: bytes
    error: dict[str, object] | None
    duration_ms: float
    billed_ms: int
    init_ms: float | None
    max_memory_mb: int
    memory_mb: int
    status: str = ""
    error_type: str = ""
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
        if self.status:
            line += f"\tStatus: {self.status}"
        if self.error_type:
            line += f"\tError Type: {self.error_type}"
        return line

    def report_record(self) -> dict[str, object]:
        """The same as ``platform.report``'s record (JSON logs)."""
        metrics: dict[str, object] = {
            "durationMs": round(self.duration_ms, 2),
            "billedDurationMs": self.billed_ms,
            "memorySizeMB": self.memory_mb,
            "maxMemoryUsedMB": self.max_memory_mb,
        }
        if self.init_ms is not None:
            metrics["initDurationMs"] = round(self.init_ms, 2)
        record: dict[str, object] = {
            "requestId": self.request_id,
            "metrics": metrics,
            "status": self.status or ("error" if self.error else "success"),
        }
        if self.error_type:
            record["errorType"] = self.error_type
        return record


def _child_source(name: str) -> str:
    return resources.files("lambdalayer.environment").joinpath(name).read_text("utf-8")


@dataclass(frozen=True)
class _Init:
    """How a cold environment's init ended, when it did not end by asking for an event."""

    status: str  # "error" or "timeout" (INIT_REPORT's Status)
    outcome: Outcome | None  # the init error the runtime posted, if it posted one
    error_type: str = ""


class Environment:
    """The runtime, started in its sandbox, waiting for events (one process, warm after the first)."""

    def __init__(self, root: Root, code: Code, settings: Settings, scratch: Path, log: Log) -> None:
        self.root, self.settings, self.log = root, settings, log
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
        confinement = Confinement(
            root.run.root,
            _mounts(root, code, launch),
            _launch_argv(root),
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
        self.platform = PlatformLog(log, settings.log_format)
        self.platform.init_start(_runtime_version(settings.variables))
        self.started = time.monotonic()
        self.process = start(
            started,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            before=self.limit.enter(),
        )
        self.limit.watch(self.process.pid)
        streams = [stream for stream in (self.process.stdout, self.process.stderr) if stream]
        self.output = RuntimeOutput(streams, log)
        self.cold = True

    @property
    def alive(self) -> bool:
        """Whether the runtime's process still runs."""
        return self.process.poll() is None

    def invoke(self, payload: bytes, function_arn: str) -> Invocation:
        """Hand one event to the runtime and wait for what it says (or for the deadline).

        A cold environment first finishes its init (its output logged before ``START``);
        one whose init failed logs ``INIT_REPORT`` and the invocation fails with its error.
        """
        timeout_ms = int(self.settings.timeout * 1000)
        event = Event(
            payload,
            timeout_ms=timeout_ms,
            function_arn=function_arn,
            client_context=self.settings.client_context,
            cognito_identity=self.settings.cognito_identity,
        )
        init_ms, failed = None, None
        if self.cold:
            failed = self._await_init()
            first = self.api.first_next or time.monotonic()
            init_ms = (first - min(self.output.started, default=self.started)) * 1000
            self.cold = False
            if failed is not None:
                self.platform.init_report(init_ms, failed.status, failed.error_type)
        self.platform.start(event.request_id)
        queued = time.monotonic()
        if failed is None or failed.status == "timeout":
            self.api.handed_out = None
            self.api.events.put(event)
            outcome = self._await(queued)
        else:
            outcome = failed.outcome
        self.output.drain()
        ended = outcome.at if outcome is not None else time.monotonic()
        began = self.api.handed_out or queued
        taken_at = time.time() - (time.monotonic() - began)
        duration = max(0.0, (ended - began) * 1000)
        peak = self.limit.peak_megabytes(descendants(self.process.pid))  # before a timeout ends it
        error = self._error_of(outcome, event)
        status, error_type = _status_of(error, failed)
        memory = min(peak, self.settings.memory_mb)
        if error_type == "Runtime.OutOfMemory":
            memory = self.settings.memory_mb
        self.platform.end(event.request_id, status or ("error" if error else "success"), error_type)
        payload_out = outcome.body if outcome is not None and outcome.kind == "response" else b""
        return Invocation(
            event.request_id,
            payload_out,
            error,
            duration,
            int(-(-(duration + (init_ms or 0.0)) // 1)),
            init_ms,
            memory,
            self.settings.memory_mb,
            status,
            error_type,
            taken_at,
        )

    def _await_init(self) -> _Init | None:
        """Wait until the runtime asks for its first event (``None``: its init is done), posts
        an init error, ends, or passes Lambda's init limit."""
        seconds = INIT_LIMIT_SECONDS * (EMULATED_SLOWDOWN if self.root.run.sandbox.emulator else 1)
        while self.api.first_next is None:
            posted = _next_outcome(self.api)
            if posted is not None:
                return _Init("error", posted, platform_error_type(posted.error_type))
            if not self.alive:
                self.output.drain()
                posted = _next_outcome(self.api, wait=0.2)
                if posted is not None:
                    return _Init("error", posted, platform_error_type(posted.error_type))
                return _Init("error", None, "Runtime.ExitError")
            # Lambda's limit counts from the runtime's start (the sandbox's making is ours)
            if time.monotonic() >= min(self.output.started, default=self.started) + seconds:
                return _Init("timeout", None)
            self.output.pump(0.05)
        self.output.drain()
        return None

    def _await(self, queued: float) -> Outcome | None:
        """The runtime's outcome, or ``None`` when the deadline passed or the process ended.

        The timeout counts from when the runtime took the event; before that, it counts from
        when the event was queued (a runtime that never asks again times out as on Lambda).
        """
        timeout = self.settings.timeout
        while True:
            taken = self.api.handed_out
            if time.monotonic() >= (taken if taken is not None else queued) + timeout:
                return None
            posted = _next_outcome(self.api)
            if posted is not None:
                return posted
            if not self.alive:
                self.output.drain()
                return _next_outcome(self.api, wait=0.2)
            self.output.pump(0.05)

    def _error_of(self, outcome: Outcome | None, event: Event) -> dict[str, object] | None:
        """Lambda's error document for what happened, or ``None`` for a response; the lines
        Lambda logs for a timeout or a runtime that exited."""
        if outcome is not None and outcome.kind == "response":
            return None
        if outcome is not None:
            document = _error_document(outcome.body)
            document.setdefault("errorType", outcome.error_type or "Runtime.Unknown")
            document["requestId"] = event.request_id
            return document
        if self.alive:  # the deadline passed: Lambda ends the environment
            self.close()
            seconds = f"{self.settings.timeout:.2f}"
            self.platform.timed_out(event.request_id, seconds)
            return {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {event.request_id} Error: Task timed out after"
                f" {seconds} seconds",
                "requestId": event.request_id,
            }
        self.process.wait()
        kind = "Runtime.OutOfMemory" if self.limit.killed_for_memory() else "Runtime.ExitError"
        message = f"RequestId: {event.request_id} Error: Runtime exited with error: {_how(self.process.returncode)}"
        self.platform.exited(message, kind)
        return {"errorType": kind, "errorMessage": message, "requestId": event.request_id}

    def close(self) -> None:
        """End the runtime and everything it started; remove the cgroup and the socket."""
        self.limit.unwatch()
        if self.settings.tracer and self.alive:
            self._end_traced()
        if self.alive:
            self.process.kill()
        self.limit.groups.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)
        self.output.close()
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


def _mounts(root: Root, code: Code, launch: Path) -> tuple[Mount, ...]:
    """The root's own mounts, the layers at /opt, the code at /var/task, the launcher, and
    the runtime's packages at /var/runtime when the root has none of its own."""
    mounts = [
        *root.run.host_mounts,
        Mount(code.opt, "/opt"),
        Mount(code.task, "/var/task"),
        Mount(launch, INSIDE),
    ]
    if root.runtime_packages is not None:
        mounts.append(Mount(root.runtime_packages, "/var/runtime"))
    return tuple(mounts)


def _launch_argv(root: Root) -> tuple[str, ...]:
    """The launcher (the Runtime API relay), then the root's bootstrap."""
    return (
        root.run.interpreter,
        "-I",
        "-S",
        f"{INSIDE}/launcher.py",
        f"{INSIDE}/runtime.sock",
        str(PORT),
        *root.bootstrap,
    )


def _runtime_version(variables: dict[str, str]) -> str:
    """What ``INIT_START`` names: the runtime, run here (``python:3.12.local``)."""
    runtime = variables.get("AWS_EXECUTION_ENV", "").removeprefix("AWS_Lambda_")
    name = runtime.replace("python", "python:", 1) if runtime.startswith("python") else runtime
    return f"{name}.local"


def _status_of(error: dict[str, object] | None, failed: _Init | None) -> tuple[str, str]:
    """The REPORT line's ``Status`` and ``Error Type`` when the platform ended the call."""
    kind = str(error.get("errorType", "")) if error else ""
    if kind == "Sandbox.Timedout":
        return "timeout", ""
    if kind in ("Runtime.ExitError", "Runtime.OutOfMemory"):
        return "error", kind
    if failed is not None and failed.status == "error":
        return "error", failed.error_type
    return "", ""


def _how(status: int | None) -> str:
    """How the runtime ended, in Lambda's words (``exit status 1``, ``signal: killed``)."""
    signals = {-9: "killed", 137: "killed", -11: "segmentation fault", 139: "segmentation fault"}
    return f"signal: {signals[status]}" if status in signals else f"exit status {status}"


def _next_outcome(api: RuntimeApi, wait: float = 0.0) -> Outcome | None:
    """What the runtime posted next, if anything (waiting up to ``wait`` seconds)."""
    try:
        return api.outcomes.get(timeout=wait) if wait else api.outcomes.get_nowait()
    except queue.Empty:
        return None


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
