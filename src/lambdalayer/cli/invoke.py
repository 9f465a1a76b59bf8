"""The ``invoke`` command: call the handler with its layers as Lambda would, no Docker."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from importlib import resources
from pathlib import Path

from lambdalayer.cache import cache_root
from lambdalayer.cli.common import EXIT_ERROR, EXIT_OK, print_json, stderr
from lambdalayer.cli.image import add_registry, chosen_image, refuse_unread_registry
from lambdalayer.cli.options import unread_options
from lambdalayer.environment.lambdaimage import is_image_reference, open_image
from lambdalayer.environment.platformlog import JSON, TEXT
from lambdalayer.environment.sandbox import KINDS as SANDBOXES
from lambdalayer.errors import InputError, InputTooLargeError
from lambdalayer.fsutil import parse_json, read_input
from lambdalayer.invoke import (
    MEMORY_RANGE,
    FunctionConfig,
    InvokeReport,
    InvokeRequest,
    check_event,
    event_too_large,
    invoke,
)
from lambdalayer.limits import SYNC_REQUEST_LIMIT
from lambdalayer.net.index import IndexConfig
from lambdalayer.targets import ARCH_ALIASES, Target, get_target
from lambdalayer.ziptarget import target_for_zips

SAMPLES = ("apigw-v2", "sqs", "s3", "eventbridge")
DESCRIPTION = (
    "Call a handler inside a root like Lambda's: the layers read-only at /opt, the code at"
    " /var/task, the runtime's own bootstrap and awslambdaric, Lambda's variables and limits."
)
EPILOG = """\
examples:
  lambdalayer invoke app.main.handler --function src/ --layer deps.zip --event event.json
  lambdalayer invoke --zip function.zip --handler app.main.handler --event - < event.json
  lambdalayer invoke app.main.handler --function src/ --layer deps.zip --runtime python3.12 \\
      --arch arm64 --image pull --memory 512 --timeout 30 --env STAGE=dev --repeat 3
  lambdalayer invoke --sample apigw-v2 > event.json
  lambdalayer build --function src --handler app.main.handler --invoke event.json

The handler's result is printed on stdout as JSON; its logs and Lambda's START, END and
REPORT lines on stderr. An error gives Lambda's error document (errorType, errorMessage,
requestId, stackTrace) and exit code 1. --repeat N calls it N times in one warm process
(the first REPORT has Init Duration). The function has no network here, and fake AWS
credentials unless --env gives real ones.
"""


def add_limits(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The function's configuration (``invoke``, and ``build --invoke``); its defaults are
    the library's (:class:`~lambdalayer.invoke.FunctionConfig`), said once there."""
    defaults = FunctionConfig()
    low, high = MEMORY_RANGE
    parser.add_argument(
        "--memory",
        type=int,
        default=defaults.memory_mb,
        metavar="MB",
        help=f"memory size, {low}-{high} (default {defaults.memory_mb})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=defaults.timeout,
        metavar="SECONDS",
        help=f"timeout, 1-900 (default {defaults.timeout:g})",
    )
    parser.add_argument(
        "--ephemeral-storage",
        type=int,
        default=defaults.ephemeral_mb,
        metavar="MB",
        help=f"the size of /tmp (default {defaults.ephemeral_mb})",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an environment variable (repeatable)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, metavar="N", help="invoke N times in one warm environment"
    )
    parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="the platform's lines (INIT_START, START, REPORT, …) and awslambdaric's log records"
        " as text or as JSON, as the function's LoggingConfig LogFormat does (default text)",
    )


def add_function_options(
    parser: argparse.ArgumentParser, *, code_required: bool, image: tuple[str, str]
) -> None:
    """The function and the root it runs in, as ``invoke`` and ``trim`` take them: its code
    (``--function DIR`` or ``--zip``), its layers, its target, its configuration
    (:func:`add_limits`), the root (``--image``: ``image`` is its metavar and help, which
    each command says), the
    sandbox, the runtime's Python and packages, the registry and the cache."""
    group = parser.add_argument_group("the function and where it runs")
    code = group.add_mutually_exclusive_group(required=code_required)
    code.add_argument(
        "--function", type=Path, metavar="DIR", help="the function's code, a directory"
    )
    code.add_argument("--zip", type=Path, metavar="FUNCTION.zip", help="the function package")
    group.add_argument(
        "--layer",
        action="append",
        default=[],
        type=Path,
        metavar="ZIP",
        help="a layer, in the order the function lists them (repeatable; a later layer's file wins)",
    )
    group.add_argument(
        "--runtime",
        metavar="NAME",
        help="e.g. python3.12 (default: recorded in a zip, else the newest)",
    )
    group.add_argument(
        "--arch",
        metavar="ARCH",
        help=f"CPU: {ARCH_ALIASES} (default: recorded in a zip, else x86_64)",
    )
    add_limits(group)
    group.add_argument("--image", metavar=image[0], help=image[1])
    group.add_argument(
        "--sandbox", choices=["auto", *SANDBOXES], default="auto", help="how to confine it"
    )
    group.add_argument(
        "--python", type=Path, metavar="PATH", help="a CPython of the runtime's version"
    )
    group.add_argument(
        "--index-url",
        metavar="URL",
        help="where the runtime's own packages (awslambdaric, boto3) come from",
    )
    add_registry(group)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``invoke``'s arguments."""
    parser.add_argument(
        "handler_name", nargs="?", metavar="HANDLER", help="module.function, e.g. app.main.handler"
    )
    parser.add_argument(
        "--handler", metavar="MODULE.FUNCTION", help="the handler (or give it first)"
    )
    add_function_options(
        parser,
        code_required=False,
        image=(
            "IMAGE|pull|DIR|host",
            "IMAGE (an OCI archive or layout, e.g. image build's -o, or a registry's"
            " image): the function's own image, booted by its ENTRYPOINT and CMD; else the root:"
            " 'pull' fetches Lambda's image, DIR is an extracted one, 'host' this machine's"
            " libraries; default: an image pulled before, else a root with only the runtime's"
            " libraries",
        ),
    )
    parser.add_argument(
        "--event", metavar="FILE|-", help="the event: a JSON file, or - for stdin (default {})"
    )
    parser.add_argument(
        "--sample", choices=SAMPLES, help="print a sample event of this kind and exit"
    )
    parser.add_argument(
        "--client-context",
        metavar="JSON",
        help='the caller\'s client context (context.client_context), e.g. \'{"custom": {"a": 1}}\'',
    )
    parser.add_argument(
        "--identity",
        metavar="JSON",
        help="the caller's Cognito identity (context.identity), e.g."
        ' \'{"cognitoIdentityId": "…", "cognitoIdentityPoolId": "…"}\'',
    )
    parser.add_argument(
        "--no-check",
        dest="static_check",
        action="store_false",
        help="run even when the check of the code and layers (made before the first"
        " invocation) finds what fails on Lambda",
    )


def variables_of(items: list[str]) -> tuple[tuple[str, str], ...]:
    """``--env KEY=VALUE`` flags as pairs."""
    variables = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--env {item!r} is not KEY=VALUE")
        variables.append((key, value))
    return tuple(variables)


def sample(name: str) -> str:
    """The sample event ``name`` (``data/events/NAME.json``)."""
    return resources.files("lambdalayer").joinpath(f"data/events/{name}.json").read_text("utf-8")


def event_bytes(spec: str | None) -> bytes:
    """The event's bytes: a file, stdin (``-``), or ``{}``; JSON, as Lambda's is, and no
    larger than Lambda takes (read to that bound, so an endless stream is one error)."""
    if spec is None:
        return b"{}"
    try:
        data = read_input(None if spec == "-" else Path(spec), "the event", SYNC_REQUEST_LIMIT)
    except InputTooLargeError as error:
        raise event_too_large(f"over {error.limit}") from error
    check_event(data)
    return data


def target_of(args: argparse.Namespace, zips: list[Path]) -> Target:
    """The flags' runtime and CPU, else what the zips record or show, else the defaults."""
    found = target_for_zips(zips, args.runtime, args.arch, required=False)
    return found.target if found is not None else get_target(args.runtime, args.arch)


def config_of(args: argparse.Namespace) -> FunctionConfig:
    """The function's configuration from ``--memory``, ``--timeout``, ``--ephemeral-storage``
    and ``--env``."""
    return FunctionConfig(
        args.memory,
        args.timeout,
        args.ephemeral_storage,
        variables_of(args.env),
        log_format=JSON if args.log_format == "json" else TEXT,
    )


def request_of(
    args: argparse.Namespace, handler: str, function: Path, target: Target
) -> InvokeRequest:
    """The invocation ``args`` describe."""
    image = chosen_image(args, target)
    return InvokeRequest(
        handler,
        target,
        function,
        tuple(args.layer),
        config_of(args),
        image,
        None if args.sandbox == "auto" else args.sandbox,
        args.python,
        cache_root(args.cache_dir),
        IndexConfig.from_options(args.index_url, ()),
    )


def execute(args: argparse.Namespace) -> int:
    """Run ``invoke``."""
    if args.sample:
        given = unread_options(args, configure_parser, {"sample"})
        if given:
            raise InputError(
                f"--sample prints a sample event and invokes nothing; {given[0]} does not mix"
                " with it",
                hint=f"lambdalayer invoke --sample {args.sample} > event.json, then invoke with"
                " --event event.json",
            )
        print(sample(args.sample), end="")
        return EXIT_OK
    refuse_unread_registry(args)
    if args.image and is_image_reference(args.image):
        return _invoke_image(args)
    handler = args.handler or args.handler_name
    function = args.zip or args.function
    if handler is None or function is None:
        raise InputError(
            "invoke needs a handler and the function's code",
            hint="lambdalayer invoke app.main.handler --function src/ (or --zip function.zip)",
        )
    target = target_of(args, [function, *args.layer])
    request = replace(
        request_of(args, handler, function, target),
        static_check=args.static_check,
        client_context=args.client_context,
        identity=args.identity,
    )
    report = invoke(request, event_bytes(args.event), args.repeat, stderr)
    return print_invocations(report, as_json=args.json)


def _invoke_image(args: argparse.Namespace) -> int:
    """``invoke --image IMAGE``: the function's own image booted by its ENTRYPOINT and CMD
    (the handler given replaces CMD, as Lambda's ImageConfig does)."""
    if args.zip or args.function or args.layer:
        raise InputError(
            "--image IMAGE holds the function's code: give no --function, --zip or --layer",
            hint="lambdalayer invoke --image image.tar --event event.json",
        )
    cache = cache_root(args.cache_dir)
    target = get_target(args.runtime, args.arch)
    image = open_image(args.image, target.machine, cache, stderr)
    if args.runtime is None and len(image.python_versions) == 1:
        target = get_target(f"python{image.python_versions[0]}", args.arch)
    handler = args.handler or args.handler_name
    if handler is not None:
        image = replace(image, command=(handler,))
    elif image.command:
        handler = image.command[0]
    else:
        raise InputError(f"the image {args.image} has no CMD: give the handler (--handler)")
    request = InvokeRequest(
        handler,
        target,
        image.rootfs / "var/task",
        (),
        config_of(args),
        None,
        None if args.sandbox == "auto" else args.sandbox,
        args.python,
        cache,
        IndexConfig.from_options(args.index_url, ()),
        lambda_image=image,
        client_context=args.client_context,
        identity=args.identity,
    )
    report = invoke(request, event_bytes(args.event), args.repeat, stderr)
    return print_invocations(report, as_json=args.json)


def print_invocations(report: InvokeReport, *, as_json: bool) -> int:
    """The last invocation's result (or error document) on stdout; the exit code."""
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "ran_in": report.ran_in,
                "memory": report.memory,
                "processes": report.processes,
                "runtime_packages": report.runtime_packages,
                "invocations": [
                    {
                        "request_id": item.request_id,
                        "result": _parsed(item.payload) if item.error is None else None,
                        "error": item.error,
                        "duration_ms": round(item.duration_ms, 2),
                        "billed_duration_ms": item.billed_ms,
                        "init_duration_ms": None
                        if item.init_ms is None
                        else round(item.init_ms, 2),
                        "max_memory_used_mb": item.max_memory_mb,
                        "memory_size_mb": item.memory_mb,
                    }
                    for item in report.invocations
                ],
            }
        )
    else:
        if report.memory:  # the runtime started (the check before it may have failed it)
            stderr(f"ran {report.ran_in}; /var/runtime: {report.runtime_packages}")
            stderr(f"memory {report.memory}")
            stderr(f"processes {report.processes}")
        last = report.invocations[-1]
        print(json.dumps(last.error) if last.error else last.payload.decode("utf-8", "replace"))
    return EXIT_OK if report.ok else EXIT_ERROR


def _parsed(payload: bytes) -> object:
    """The handler's result as JSON for ``--json``, or its text when it is not JSON that can
    be printed where it goes (the function wrote it: any bytes, any nesting)."""
    try:
        value = parse_json(payload, "the result")
        json.dumps({"invocations": [{"result": value}]})
    except (InputError, RecursionError, ValueError):
        return payload.decode("utf-8", "replace")
    return value
