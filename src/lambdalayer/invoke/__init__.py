"""``lambdalayer invoke``: the function run with its layers as Lambda runs it, without Docker.

:func:`invoke` starts an execution environment (:mod:`lambdalayer.environment.execution`) — the runtime's real
bootstrap and AWS's runtime interface client, talking to a Runtime API served here
(:mod:`lambdalayer.environment.runtimeapi`) — and hands it the event, ``repeat`` times in one warm process (a
new, cold one after a timeout or a crash, as Lambda makes). Each invocation returns the
handler's result or Lambda's error document, with the REPORT line's figures.

>>> report = invoke(InvokeRequest("app.handler", get_target("python3.12"), Path("src")), b"{}")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from lambdalayer.cache import Cache, cache_root
from lambdalayer.check.findings import Finding, Kind, Severity
from lambdalayer.check.request import CheckRequest
from lambdalayer.check.rules import check, check_zip
from lambdalayer.environment.execution import (
    INSIDE,
    PORT,
    Code,
    Environment,
    Invocation,
    Root,
    Settings,
)
from lambdalayer.environment.image import cached_image
from lambdalayer.environment.imports import LAMBDA_ENVIRONMENT
from lambdalayer.environment.lambdaimage import LambdaImage
from lambdalayer.environment.platformlog import JSON, TEXT, PlatformLog
from lambdalayer.environment.roots import HOST, host_run, image_run
from lambdalayer.environment.runtimepkgs import runtime_tree
from lambdalayer.environment.sandbox import EMULATOR_INSIDE
from lambdalayer.errors import InputError, option
from lambdalayer.fsutil import decode_text, parse_json
from lambdalayer.limits import ASYNC_REQUEST_LIMIT, SYNC_REQUEST_LIMIT, UNZIPPED_LIMIT
from lambdalayer.net.index import IndexConfig
from lambdalayer.placement import read_tree
from lambdalayer.sourcetree import read_source_tree
from lambdalayer.targets import Layout, Target
from lambdalayer.wording import counted

__all__ = [
    "FunctionConfig",
    "Invocation",
    "InvokeReport",
    "InvokeRequest",
    "check_event",
    "event_too_large",
    "invoke",
    "invoke_events",
    "static_findings",
]

# The Invoke API's ClientContext: "Up to 3,583 bytes of base64-encoded data" (AWS: API_Invoke).
CLIENT_CONTEXT_LIMIT = 3583
AWS_ENTRYPOINT = "/lambda-entrypoint.sh"  # AWS's base images' ENTRYPOINT
MEMORY_RANGE = (128, 10240)  # MB, what Lambda allows
EPHEMERAL_RANGE = (512, 10240)
# What the check finds that fails a function on Lambda before its handler runs: a binary
# the loader refuses (another CPU, another OS, a glibc too new, a library the runtime
# lacks, another Python's ABI) is the import's failure; a size over the quota is the
# deployment's refusal.
FAILS_ON_LAMBDA = frozenset(
    {Kind.BINARY, Kind.ELF_MACHINE, Kind.ELF_LOAD, Kind.GLIBC, Kind.LIBRARY, Kind.ABI, Kind.SIZE}
)
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",  # AWS's documented example key: it opens nothing
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "AWS_SESSION_TOKEN": "lambdalayer-invoke-has-no-real-credentials",
}


@dataclass(frozen=True)
class FunctionConfig:
    """The function's configuration as Lambda holds it: memory, timeout, /tmp's size, its
    own environment variables, its name and region."""

    memory_mb: int = 128
    timeout: float = 3.0
    ephemeral_mb: int = 512
    variables: tuple[tuple[str, str], ...] = ()
    name: str = "lambdalayer-invoke"
    region: str = "us-east-1"
    log_format: str = TEXT  # LoggingConfig's LogFormat: Text or JSON

    def check(self) -> None:
        """Refuse what Lambda refuses."""
        if not MEMORY_RANGE[0] <= self.memory_mb <= MEMORY_RANGE[1]:
            raise InputError(
                f"{option('FunctionConfig.memory_mb', self.memory_mb)}: Lambda allows 128 to"
                " 10240 MB"
            )
        if not EPHEMERAL_RANGE[0] <= self.ephemeral_mb <= EPHEMERAL_RANGE[1]:
            raise InputError(
                f"{option('FunctionConfig.ephemeral_mb', self.ephemeral_mb)}: Lambda allows 512"
                " to 10240 MB"
            )
        if self.log_format not in (TEXT, JSON):
            raise InputError(
                f"{option('FunctionConfig.log_format', self.log_format)}: Lambda's log formats"
                f" are {TEXT} and {JSON}"
            )
        if not 0 < self.timeout <= 900:
            raise InputError(
                f"{option('FunctionConfig.timeout', f'{self.timeout:g}')}: Lambda allows 1 to 900"
                " seconds"
            )


@dataclass(frozen=True)
class InvokeRequest:
    """Which handler to call, with which code and layers, on which runtime, configured how.

    ``function`` is the code's directory or a function zip; ``image`` a Lambda image's root
    (``None``: one pulled before, else the root synthesized from the runtime's library
    set; :data:`~lambdalayer.environment.roots.HOST` for this machine's libraries).
    """

    handler: str
    target: Target
    function: Path
    layers: tuple[Path, ...] = ()
    config: FunctionConfig = field(default_factory=FunctionConfig)
    image: Path | None = None
    sandbox: str | None = None
    python: Path | None = None
    cache_dir: Path = field(default_factory=cache_root)
    index: IndexConfig = field(default_factory=IndexConfig)
    static_check: bool = True  # the check of the code and layers before the first invocation
    client_context: str | None = None  # the caller's client context, JSON (Invoke's ClientContext)
    identity: str | None = None  # the caller's Cognito identity, JSON
    lambda_image: LambdaImage | None = None  # a function's image, booted by its ENTRYPOINT


@dataclass(frozen=True)
class InvokeReport:
    """Every invocation, in order, and where and how they ran."""

    invocations: tuple[Invocation, ...]
    ran_in: str
    memory: str  # how the memory size was enforced
    runtime_packages: str  # what was at /var/runtime
    processes: str = ""  # how Lambda's limit on processes and threads was enforced

    @property
    def ok(self) -> bool:
        """Whether every invocation returned a result (no error document)."""
        return all(invocation.error is None for invocation in self.invocations)


def _check_code(handler: str, paths: tuple[Path, ...]) -> None:
    if "." not in handler.strip(".") or handler.startswith("."):
        raise InputError(
            f"handler {handler!r} is not module.function",
            hint="give the handler as Lambda does, e.g. app.main.handler",
        )
    for path in paths:
        if not path.exists():
            raise InputError(f"no such file or directory: {path}")


def execution_root(request: InvokeRequest) -> Root:
    """The root the runtime runs in, its bootstrap, and the runtime's packages to mount."""
    target = request.target
    if request.lambda_image is not None:
        return image_boot_root(request.lambda_image, target, request.sandbox)
    image = request.image if request.image is not None else cached_image(request.cache_dir, target)
    if image is not None and image != HOST:
        run, why_not = image_run(image, target, request.sandbox)
        if run is None or run.root is None:
            raise InputError(f"cannot run {target.name} in the image: {why_not}")
        # Under qemu-user every program must be started through the emulator (no binfmt
        # here), so the image's shell bootstrap is replaced by ours, which does the same.
        emulator = (EMULATOR_INSIDE,) if run.sandbox.emulator else ()
        if not emulator and (run.root / "var/runtime/bootstrap").exists():
            return Root(run, ("/var/runtime/bootstrap",), None, "the image's own /var/runtime")
        if (run.root / "var/runtime/awslambdaric").is_dir():
            ours = (*emulator, run.interpreter, f"{INSIDE}/bootstrap.py")
            return Root(run, ours, None, "the image's own /var/runtime")
    else:
        cache = None if image == HOST else request.cache_dir
        run, why_not = host_run(target, request.python, request.sandbox, cache)
        if run is None:
            raise InputError(
                f"cannot run {target.name} here: {why_not}",
                hint="give a Lambda image of the runtime"
                f" ({option('ImportOptions.image', 'pull')}, or {option('ImportOptions.image', 'DIR')}):"
                " it has its own CPython, run under qemu-user for the other CPU",
            )
    tree = runtime_tree(target, request.cache_dir, request.index)
    if tree is None:
        raise InputError(f"the runtime's own packages for {target.runtime.name} are not known")
    emulator = (EMULATOR_INSIDE,) if run.sandbox.emulator else ()
    bootstrap = (*emulator, run.interpreter, f"{INSIDE}/bootstrap.py")
    return Root(run, bootstrap, tree.path, tree.packages.brief())


def image_boot_root(image: LambdaImage, target: Target, sandbox: str | None) -> Root:
    """The function's image booted as Lambda boots it: its ``ENTRYPOINT`` with its ``CMD``.

    Under qemu-user (no binfmt here) a script cannot be started by the kernel: AWS's
    entrypoint's steps are done by lambdalayer instead (``_HANDLER`` from ``CMD``, then the
    image's ``/var/runtime/bootstrap.py`` by its CPython), and the report says so.
    """
    run, why_not = image_run(image.rootfs, target, sandbox)
    if run is None or run.root is None:
        raise InputError(f"cannot run {target.name} in the image {image.reference}: {why_not}")
    argv = (*image.entrypoint, *image.command)
    if not argv:
        raise InputError(f"the image {image.reference} has no ENTRYPOINT or CMD to start")
    if not run.sandbox.emulator:
        label = f"the image's own ENTRYPOINT and CMD ({' '.join(argv)})"
        return Root(run, argv, None, label)
    own = run.root / "var/runtime/bootstrap.py"
    if image.entrypoint != (AWS_ENTRYPOINT,) or not own.is_file():
        raise InputError(
            f"the image {image.reference} starts with {' '.join(argv)}: under qemu-user (no"
            " binfmt) lambdalayer boots only AWS's entrypoint"
            f" ({AWS_ENTRYPOINT} → /var/runtime/bootstrap.py)",
            hint="boot it on a machine of its CPU",
        )
    label = (
        f"the image's /var/runtime/bootstrap.py (under qemu-user without binfmt, lambdalayer"
        f" does {AWS_ENTRYPOINT}'s steps: _HANDLER from CMD {' '.join(image.command)})"
    )
    return Root(run, (EMULATOR_INSIDE, run.interpreter, "/var/runtime/bootstrap.py"), None, label)


def lambda_variables(handler: str, target: Target, config: FunctionConfig) -> dict[str, str]:
    """The environment Lambda gives a Python function (AWS: "Defined runtime environment
    variables"), with fake credentials unless the function's own variables set real ones."""
    name = config.name
    today = datetime.now(UTC).strftime("%Y/%m/%d")
    variables = {
        # PYTHONPATH is what the function sees once the bootstrap set it; Lambda starts the
        # bootstrap without it, and one the function sets changes sys.path (_bootstrap.py).
        **{
            key: value
            for key, value in LAMBDA_ENVIRONMENT.items()
            if key not in ("HOME", "PYTHONPATH")
        },
        "_HANDLER": handler,
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{PORT}",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{target.runtime.name}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"{today}/[$LATEST]{uuid.uuid4().hex}",
        "AWS_REGION": config.region,
        "AWS_DEFAULT_REGION": config.region,
        **FAKE_CREDENTIALS,
    }
    if config.log_format == JSON:  # what Lambda sets for LoggingConfig LogFormat JSON
        variables.update(AWS_LAMBDA_LOG_FORMAT=JSON, AWS_LAMBDA_LOG_LEVEL="INFO")
    variables.update(dict(config.variables))
    return variables


def event_too_large(size: str) -> InputError:
    """Lambda's own refusal of a synchronous event of ``size`` bytes (AWS's Invoke API)."""
    return InputError(
        f"RequestEntityTooLargeException: Request must be smaller than {SYNC_REQUEST_LIMIT}"
        f" bytes for the InvokeFunction operation (the event is {size} bytes)",
        hint=f"Lambda takes at most {SYNC_REQUEST_LIMIT:,} bytes synchronously"
        f" ({ASYNC_REQUEST_LIMIT:,} asynchronously): pass a larger payload by reference (S3)",
    )


def context_header(text: str | None, what: str, limit: int) -> str | None:
    """A caller's client context or identity as the Runtime API passes it: a JSON object,
    compact (one header line); no larger than Lambda takes (``limit`` bytes base64-encoded)."""
    if text is None:
        return None
    document = parse_json(
        text.encode(), f"the {what}", hint='give a JSON object, e.g. {"custom": {}}'
    )
    if not isinstance(document, dict):
        raise InputError(f"the {what} is not a JSON object")
    compact = json.dumps(document, separators=(",", ":"))
    encoded = len(base64.b64encode(compact.encode()))
    if encoded > limit:
        raise InputError(
            f"the {what} is {encoded:,} bytes base64-encoded; Lambda takes at most {limit:,}"
        )
    return compact


def check_event(event: bytes) -> None:
    """Refuse an event Lambda refuses: over its synchronous limit, or not UTF-8 JSON."""
    if len(event) > SYNC_REQUEST_LIMIT:
        raise event_too_large(f"{len(event):,}")
    parse_json(
        decode_text(event, "the event"),
        "the event",
        hint="give a JSON file (lambdalayer invoke --sample sqs)",
    )


def invoke(
    request: InvokeRequest, event: bytes, repeat: int = 1, log: Callable[[str], None] = print
) -> InvokeReport:
    """Call the handler with ``event``, ``repeat`` times; the runtime's logs and Lambda's
    START/END/REPORT lines go to ``log``."""
    return invoke_events(request, [event] * max(1, repeat), log)


def invoke_events(
    request: InvokeRequest,
    events: Sequence[bytes],
    log: Callable[[str], None] = print,
    tracer: tuple[str, ...] = (),
) -> InvokeReport:
    """Call the handler with each of ``events`` in order, in one warm environment (a new,
    cold one after a timeout or a crash); ``tracer``: a command the sandbox is started
    under (``lambdalayer trim`` traces with ``strace``). The cache is held open while it
    runs: the root and the runtime's packages it runs with are not pruned under it."""
    for event in events:
        check_event(event)
    with Cache.open(request.cache_dir):
        return _invoke(request, events, log, tracer)


def _invoke(
    request: InvokeRequest,
    events: Sequence[bytes],
    log: Callable[[str], None],
    tracer: tuple[str, ...],
) -> InvokeReport:
    config = request.config
    _check_code(request.handler, (request.function, *request.layers))
    config.check()
    # The function's tree is read (never followed) before anything is prepared or started.
    image = request.lambda_image
    files = read_source_tree(request.function) if request.function.is_dir() and not image else None
    root = execution_root(request)
    variables = {
        **dict(image.variables if image else ()),  # the image's ENV, beneath Lambda's own
        **lambda_variables(request.handler, request.target, config),
    }
    settings = Settings(
        config.memory_mb,
        config.timeout,
        config.ephemeral_mb,
        variables,
        tracer,
        config.log_format,
        context_header(request.client_context, "client context", CLIENT_CONTEXT_LIMIT),
        context_header(request.identity, "identity", CLIENT_CONTEXT_LIMIT),
    )
    arn = f"arn:aws:lambda:{config.region}:123456789012:function:{config.name}"
    invocations: list[Invocation] = []
    with Cache.at(request.cache_dir).scratch("invoke-") as scratch:
        if image is not None:
            code = Code.of_image(Path(scratch), image.rootfs / "var/task")
        else:
            code = Code.extracted(Path(scratch), request.function, request.layers, files)
        environment: Environment | None = None
        try:
            found = (
                static_findings(request.target, request.layers, code)
                if request.static_check and image is None
                else ()
            )
            if found:
                platform = PlatformLog(log, config.log_format)
                refusal = refused(found, request.handler, config.memory_mb, platform)
                platform.report(refusal.report_line(), refusal.report_record())
                return InvokeReport((refusal,), "nowhere: the check failed first", "", "")
            for number, event in enumerate(events):
                if environment is None or not environment.alive:
                    if environment is not None:
                        environment.close()
                    place = Path(scratch) / f"environment-{number}"
                    environment = Environment(root, code, settings, place, log)
                invocation = environment.invoke(event, arn)
                environment.platform.report(invocation.report_line(), invocation.report_record())
                invocations.append(invocation)
        finally:
            if environment is not None:
                environment.close()
            code.release()
    memory = environment.limit.describe() if environment else ""
    processes = environment.processes.describe() if environment else ""
    if root.run.sandbox.emulator:
        memory += "; under qemu-user the emulator's own memory and time are counted too"
    return InvokeReport(
        tuple(invocations), root.run.describe(request.target), memory, root.runtime_label, processes
    )


def static_findings(target: Target, layers: tuple[Path, ...], code: Code) -> tuple[Finding, ...]:
    """What the check finds in the function's code and its layers that fails on Lambda
    (:data:`FAILS_ON_LAMBDA`), each once; no imports (the invocation is the import)."""
    reports = [
        check(
            read_tree(code.task, Layout.FUNCTION),
            CheckRequest(target, with_zips=layers, function=True, imports=None),
        ),
        *(check_zip(layer, CheckRequest(target, imports=None)) for layer in layers),
    ]
    found: dict[tuple[str, str, str], Finding] = {}
    for report in reports:
        for finding in report.errors:
            if finding.kind in FAILS_ON_LAMBDA:
                found.setdefault((finding.kind, finding.message, finding.member or ""), finding)
    return tuple(found.values())


def refused(
    findings: tuple[Finding, ...], handler: str, memory_mb: int, platform: PlatformLog
) -> Invocation:
    """The invocation the check stopped before the runtime started: Lambda's error for the
    first finding (the import's failure, or the deployment's refusal for a size), with
    every finding in ``lambdalayerCheck``; the findings and Lambda's lines logged."""
    request_id, log = str(uuid.uuid4()), platform.log
    first = findings[0]
    log(
        f"lambdalayer: the check before the first invocation found {counted(len(findings), 'thing')}"
        " that fail on Lambda:"
    )
    for finding in findings:
        where = f"{finding.member}: " if finding.member else ""
        fix = f" (fix: {finding.fix})" if finding.fix else ""
        log(f"  {Severity.ERROR}: {where}{finding.message}{fix}")
    if first.kind is Kind.SIZE:
        kind = "InvalidParameterValueException"
        message = f"Unzipped size must be smaller than {UNZIPPED_LIMIT} bytes"
    else:
        kind = "Runtime.ImportModuleError"
        module = handler.rpartition(".")[0]
        where = f" ({first.member})" if first.member else ""
        message = f"Unable to import module '{module}': {first.message}{where}"
    log(f"[ERROR] {kind}: {message}")
    platform.start(request_id)
    platform.end(request_id, "error", kind)
    document: dict[str, object] = {
        "errorType": kind,
        "errorMessage": message,
        "requestId": request_id,
        "lambdalayerCheck": [finding.to_json() for finding in findings],
    }
    return Invocation(request_id, b"", document, 0.0, 0, None, 0, memory_mb, "error", kind)
