"""The ``lambdalayer`` command: a thin shell over the library.

``main(argv)`` parses arguments, calls the library, prints, and turns every
:class:`LambdaLayerError` into one ``error:`` line (plus ``hint:``) and exit code 1.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import traceback
from collections.abc import Sequence
from pathlib import Path

from lambdalayer import __version__
from lambdalayer.check.image import PUBLIC_REGISTRY, REPOSITORY, PulledImage, pull_image
from lambdalayer.check.imports import DEFAULT_IMPORT_DEADLINE
from lambdalayer.check.importstage import HOST
from lambdalayer.check.rules import check
from lambdalayer.check.sandbox import KINDS as SANDBOXES
from lambdalayer.check.target import target_for_zip
from lambdalayer.cli import aws as cli_aws
from lambdalayer.cli import build as cli_build
from lambdalayer.cli import init as cli_init
from lambdalayer.cli import lock as cli_lock
from lambdalayer.cli import report as cli_report
from lambdalayer.cli.common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    Terminated,
    print_json,
    stderr,
)
from lambdalayer.cli.text import print_check_report
from lambdalayer.errors import FetchError, LambdaLayerError, LayerCheckError
from lambdalayer.net.fetch import default_cache_dir
from lambdalayer.targets import ARCH_ALIASES, Target, get_target, runtimes
from lambdalayer.zipnames import printable

_IMAGE_EPILOG = """\
examples:
  lambdalayer image pull python3.12 --arch arm64
  lambdalayer check layer.zip --runtime python3.12 --arch arm64 --image pull

The image is kept under the cache (images/<manifest digest>/rootfs) and used by
'check --image pull' without downloading it again. Its token is sent to the registry only.
"""

_CHECK_EPILOG = """\
examples:
  lambdalayer check layer.zip --runtime python3.11 --arch x86_64
  lambdalayer check layer.zip --runtime python3.12 --arch arm64 --with other-layer.zip --with function.zip
  lambdalayer check layer.zip --runtime python3.12 --import pandas,pyarrow.parquet --json

  lambdalayer check layer.zip --runtime python3.12 --arch arm64 --image pull
  lambdalayer check layer.zip --runtime python3.12 --image ./rootfs --sandbox proot

Exit code 0 when nothing is an error (warnings allowed), 1 otherwise. Every ELF file's
needed libraries are resolved against Lambda's own library set (no interpreter needed).
Without --image, imports are tried where a CPython of the runtime's version runs on this
machine's CPU, on this machine's libraries (the report says so); with --image they run
inside the image, under qemu-user for the other CPU.
"""


def add_image_options(parser: argparse.ArgumentParser) -> None:
    """Where images come from and how they run (shared by ``check`` and ``image pull``)."""
    parser.add_argument(
        "--registry", default=PUBLIC_REGISTRY, metavar="URL",
        help=f"the OCI registry holding {REPOSITORY} (default: {PUBLIC_REGISTRY})",
    )  # fmt: skip
    parser.add_argument(
        "--cache-dir", type=Path, metavar="DIR",
        help="where pulled images are kept (default: the wheel cache's, $LAMBDALAYER_CACHE_DIR)",
    )  # fmt: skip
    if parser.prog.endswith("check"):
        parser.add_argument(
            "--sandbox", choices=["auto", *SANDBOXES], default="auto",
            help="how to run inside the image: bubblewrap (no root needed), unshare (root), proot",
        )  # fmt: skip


def _seconds(text: str) -> float:
    """A positive number of seconds, for argparse."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < 86400:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds between 0 and 86400")
    return value


def _add_check(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``check`` command's options."""
    check = commands.add_parser(
        "check",
        help="check that a layer zip will load on its runtime",
        description="Check any layer zip: ELF machine and glibc, CPython ABI, layout, sizes, conflicts, imports.",
        epilog=_CHECK_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("zip", type=Path, help="the layer zip to check")
    check.add_argument(
        "--runtime",
        metavar="NAME",
        help="Lambda runtime, e.g. python3.12 or 3.12 (default: recorded in the zip, else what the zip shows: python/lib/pythonX.Y/, extension tags)",
    )
    check.add_argument(
        "--arch",
        metavar="ARCH",
        help=f"CPU: {ARCH_ALIASES} (default: recorded in the zip, else its ELF files' CPU, else x86_64)",
    )
    check.add_argument(
        "--with", dest="with_zips", action="append", default=[], type=Path, metavar="ZIP",
        help="another layer or the function zip it will be deployed with (repeatable)",
    )  # fmt: skip
    check.add_argument(
        "--import",
        dest="imports",
        metavar="MODULES",
        help="comma-separated modules to import (default: every top-level module)",
    )
    check.add_argument("--no-imports", action="store_true", help="skip the import check")
    check.add_argument(
        "--import-timeout", type=_seconds, default=DEFAULT_IMPORT_DEADLINE, metavar="SECONDS",
        help=f"how long the imports may take before the one under way is reported (default: {DEFAULT_IMPORT_DEADLINE:g})",
    )  # fmt: skip
    check.add_argument(
        "--function", action="store_true",
        help="the zip is a function package (code at its root, extracted to /var/task); default: as recorded in the zip",
    )  # fmt: skip
    check.add_argument(
        "--handler",
        metavar="MODULE.FUNCTION",
        help="with --function: the handler that must exist and import",
    )
    check.add_argument(
        "--python",
        type=Path,
        metavar="PATH",
        help="the CPython to import with (default: found on PATH, pyenv, uv)",
    )
    check.add_argument(
        "--image", metavar="pull|DIR|host",
        help="where the imports run: 'pull' fetches public.ecr.aws/lambda/python:X.Y for the CPU"
        " (cached by digest), DIR is an extracted root filesystem, 'host' this machine's own"
        " libraries; default: an image pulled before, else a root with only the runtime's libraries",
    )  # fmt: skip
    add_image_options(check)
    check.add_argument("--json", action="store_true", help="print the report as one JSON object")


def _add_image(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``image`` command and its ``pull`` action."""
    image = commands.add_parser(
        "image", help="fetch Lambda's runtime images for in-image checks",
        description="Pull public.ecr.aws/lambda/python:X.Y for one CPU into the cache (no Docker).",
        epilog=_IMAGE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    image_commands = image.add_subparsers(dest="image_command", required=True, metavar="ACTION")
    pull = image_commands.add_parser("pull", help="pull a runtime's image into the cache")
    pull.add_argument("runtime", metavar="RUNTIME", help="e.g. python3.12")
    pull.add_argument("--arch", metavar="ARCH", help=f"CPU: {ARCH_ALIASES} (default: x86_64)")
    add_image_options(pull)
    pull.add_argument("--json", action="store_true", help="print where the image is as JSON")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lambdalayer",
        description="Build AWS Lambda layers of Python packages, correct for the runtime and CPU.",
    )
    parser.add_argument("--version", action="version", version=f"lambdalayer {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    cli_init.register(commands)
    cli_build.register(commands)
    cli_lock.register(commands)
    cli_report.register(commands)

    _add_check(commands)
    _add_image(commands)
    cli_aws.register(commands)

    targets = commands.add_parser(
        "targets", help="list the runtimes and architectures lambdalayer knows",
        description="The Lambda Python runtimes lambdalayer builds for: Python, OS, glibc floor, CPUs.",
    )  # fmt: skip
    targets.add_argument("--json", action="store_true", help="print the table as JSON")
    return parser


def _run_check(args: argparse.Namespace) -> int:

    if not args.zip.is_file():
        raise LambdaLayerError(f"no such file: {args.zip}")
    chosen = target_for_zip(args.zip, args.runtime, args.arch)
    target = chosen.target
    imports = (
        [name.strip() for name in args.imports.split(",") if name.strip()] if args.imports else None
    )
    image = None
    if args.image == "host":
        image = HOST
    elif args.image and not args.no_imports:
        image = _pulled(args, target).rootfs if args.image == "pull" else Path(args.image)
    report = check(
        args.zip,
        target,
        with_zips=args.with_zips,
        imports=imports,
        python=args.python,
        run_import_check=not args.no_imports,
        function=args.function or chosen.function,
        handler=args.handler,
        image=image,
        sandbox=args.sandbox,
        import_deadline=args.import_timeout,
        cache_dir=args.cache_dir or default_cache_dir(),
    )
    if args.json:
        print_json({**report.to_json(), "target_source": chosen.source})
    else:
        print(f"checking for {target.name} ({chosen.source})")
        print_check_report(report, sys.stdout)
    return EXIT_OK if report.ok else EXIT_ERROR


def _pulled(args: argparse.Namespace, target: Target) -> PulledImage:
    cache = args.cache_dir or default_cache_dir()
    try:
        return pull_image(target, cache, registry_url=args.registry, notify=stderr)
    except FetchError as error:
        raise FetchError(
            error.message,
            hint=f"check the network and --registry ({args.registry}); or give an extracted image"
            " with --image DIR (no registry needed)",
        ) from error


def _run_image(args: argparse.Namespace) -> int:
    target = get_target(args.runtime, args.arch)
    pulled = _pulled(args, target)
    if args.json:
        print_json({"ok": True, "reference": pulled.reference, "digest": pulled.digest,
                    "machine": pulled.machine, "rootfs": str(pulled.rootfs),
                    "downloaded_bytes": pulled.downloaded_bytes})  # fmt: skip
    else:
        print(f"{pulled.reference} ({target.arch}) {pulled.digest}: {pulled.rootfs}")
    return EXIT_OK


def _run_targets(args: argparse.Namespace) -> int:
    table = runtimes()
    if args.json:
        rows = [
            {
                "runtime": runtime.name,
                "python": runtime.python_version,
                "os": runtime.os,
                "glibc": ".".join(map(str, runtime.glibc)),
                "architectures": list(runtime.architectures),
            }
            for runtime in table
        ]
        print_json({"ok": True, "targets": rows})
        return EXIT_OK
    print(f"{'runtime':<12} {'python':<7} {'os':<18} {'glibc':<6} architectures")
    for runtime in table:
        glibc = ".".join(map(str, runtime.glibc))
        print(
            f"{runtime.name:<12} {runtime.python_version:<7} {runtime.os:<18} {glibc:<6} {', '.join(runtime.architectures)}"
        )
    return EXIT_OK


def _raise_terminated(_signal: int, _frame: object) -> None:
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    SIGTERM (a CI runner's timeout, ``kill``) ends a command like Ctrl-C: every temporary
    file and directory is removed on the way out, one ``error:`` line, exit code 143.
    """
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if in_main_thread else None
    try:
        return _main(argv)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _main(argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    handlers = {
        "init": cli_init.run,
        "build": cli_build.run,
        "lock": cli_lock.run,
        "report": cli_report.run,
        "check": _run_check,
        "targets": _run_targets,
        "image": _run_image,
        "publish": cli_aws.run,
        "attach": cli_aws.run,
        "layers": cli_aws.run,
    }
    try:
        return handlers[args.command](args)
    except LambdaLayerError as error:
        if args.verbose:
            traceback.print_exc()
        if getattr(args, "json", False):
            print_json(_error_document(error))
        elif isinstance(error, LayerCheckError) and error.report is not None:
            print_check_report(error.report, sys.stderr)
        print_error(error)
        return EXIT_ERROR
    except OSError as error:  # a full or read-only disk under the cache or the output
        if args.verbose:
            traceback.print_exc()
        place = f" ({error.filename})" if error.filename else ""
        failure = LambdaLayerError(
            f"{error.strerror or error}{place}",
            hint="free some space or fix the permissions, or choose another --cache-dir / -o",
        )
        if getattr(args, "json", False):
            print_json(_error_document(failure))
        print_error(failure)
        return EXIT_ERROR
    except Terminated:
        stderr("error: terminated (SIGTERM); nothing was left half-written")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        stderr("error: interrupted")
        return EXIT_INTERRUPTED


def print_error(error: LambdaLayerError) -> None:
    """``error:`` and ``hint:`` lines; a message of several lines (uv's) is indented under it."""
    first, *rest = error.message.splitlines() or [""]
    stderr(f"error: {printable(first)}")
    for line in rest:
        stderr(f"  {printable(line)}")
    if error.hint:
        stderr(f"hint: {printable(error.hint)}")


def _error_document(error: LambdaLayerError) -> dict[str, object]:
    """The JSON a failed command prints: the error, its hint, and a failed check's findings."""
    document: dict[str, object] = {"ok": False, "error": error.message, "hint": error.hint}
    if isinstance(error, LayerCheckError) and error.report is not None:
        document["check"] = error.report.to_json()
    return document


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
