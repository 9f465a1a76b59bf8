"""The ``check`` command: will this zip (anyone's) load on its runtime?"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lambdalayer.builder.checking import Checking, check_any_zip
from lambdalayer.cache import cache_root
from lambdalayer.check.request import CheckRequest, ImportOptions
from lambdalayer.cli.common import EXIT_ERROR, EXIT_OK, print_json, stderr
from lambdalayer.cli.image import add_registry, chosen_image, refuse_unread_registry
from lambdalayer.cli.options import add_strict, refuse_given, split
from lambdalayer.cli.text import print_check_report
from lambdalayer.environment.imports import DEFAULT_IMPORT_DEADLINE
from lambdalayer.environment.sandbox import KINDS as SANDBOXES
from lambdalayer.errors import LambdaLayerError
from lambdalayer.fsutil import not_a_file
from lambdalayer.inputs.config import load_config
from lambdalayer.net.index import IndexConfig
from lambdalayer.progress import quiet
from lambdalayer.targets import ARCH_ALIASES, Target
from lambdalayer.ziptarget import target_for_zip

DESCRIPTION = (
    "Check any layer zip: ELF machine and glibc, needed libraries, CPython ABI, layout, sizes,"
    " conflicts, imports."
)
EPILOG = """\
examples:
  lambdalayer check layer.zip --runtime python3.11 --arch x86_64
  lambdalayer check layer.zip --runtime python3.12 --arch arm64 --with other-layer.zip --with function.zip
  lambdalayer check layer.zip --runtime python3.12 --import pandas,pyarrow.parquet --json

  lambdalayer check layer.zip --runtime python3.12 --arch arm64 --image pull
  lambdalayer check layer.zip --runtime python3.12 --image ./rootfs --sandbox proot

Every part of the check is passed, failed or not verified (it did not run: the report says
why and what gets it run); "check ok" only when every part passed. Exit code 1 when a part
failed; 0 otherwise (warnings allowed), unless --strict (or strict = true in the project's
configuration) and a part is not verified. Every ELF file's
needed libraries are resolved against Lambda's own library set (no interpreter needed).
The imports run confined: inside an image (--image, or one pulled before), else in a root
holding only the runtime's libraries and a CPython of its version from this machine, under
qemu-user for the other CPU (an arm64 layer on x86_64 needs this machine's aarch64
libraries, e.g. apt-get install libc6:arm64 …, and an aarch64 CPython, which is installed
with uv python install cpython-3.12-linux-aarch64-gnu when none is here); the report says
where they ran. The report is kept in the cache by the zip's sha256 and the check's
request: the same bytes checked alike again are not imported again.
"""


def _seconds(text: str) -> float:
    """A positive number of seconds, for argparse."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < 86400:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds between 0 and 86400")
    return value


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``check``'s arguments."""
    parser.add_argument("zip", type=Path, help="the layer zip to check")
    parser.add_argument(
        "--runtime",
        metavar="NAME",
        help="Lambda runtime, e.g. python3.12 or 3.12 (default: recorded in the zip, else what the"
        " zip shows: python/lib/pythonX.Y/, extension tags)",
    )
    parser.add_argument(
        "--arch",
        metavar="ARCH",
        help=f"CPU: {ARCH_ALIASES} (default: recorded in the zip, else its ELF files' CPU, else x86_64)",
    )
    parser.add_argument(
        "--with",
        dest="with_zips",
        action="append",
        default=[],
        type=Path,
        metavar="ZIP",
        help="another layer or the function zip it will be deployed with (repeatable)",
    )
    parser.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULES",
        help="comma-separated modules to import (default: every top-level module)",
    )
    parser.add_argument("--no-imports", action="store_true", help="skip the import check")
    parser.add_argument(
        "--import-timeout",
        type=_seconds,
        default=DEFAULT_IMPORT_DEADLINE,
        metavar="SECONDS",
        help=f"how long the imports may take before the one under way is reported (default: {DEFAULT_IMPORT_DEADLINE:g})",
    )
    parser.add_argument(
        "--function",
        action="store_true",
        help="the zip is a function package (code at its root, extracted to /var/task); default: as recorded in the zip",
    )
    parser.add_argument(
        "--handler",
        metavar="MODULE.FUNCTION",
        help="with --function: the handler that must exist and import",
    )
    parser.add_argument(
        "--python",
        type=Path,
        metavar="PATH",
        help="the CPython to import with, built for the layer's CPU (default: found on PATH,"
        " pyenv, uv's installs)",
    )
    parser.add_argument(
        "--image",
        metavar="pull|DIR|host",
        help="where the imports run: 'pull' fetches public.ecr.aws/lambda/python:X.Y for the CPU"
        " (cached by digest), DIR is an extracted root filesystem, 'host' this machine's own"
        " libraries; default: an image pulled before, else a root with only the runtime's"
        " libraries",
    )
    parser.add_argument(
        "--sandbox",
        choices=["auto", *SANDBOXES],
        default="auto",
        help="how to confine the imports: bubblewrap (no root needed), unshare (root), proot",
    )
    parser.add_argument(
        "--index-url",
        metavar="URL",
        help="where the runtime's own packages (boto3, awslambdaric, …) are fetched from when a"
        " module needs them at /var/runtime (default: PyPI, or $UV_DEFAULT_INDEX)",
    )
    add_strict(parser)
    add_registry(parser)


def execute(args: argparse.Namespace) -> int:
    """Run ``check``."""
    if args.no_imports:
        imports = {"imports", "import_timeout", "python", "image", "sandbox", "registry"}
        refuse_given(args, configure_parser, imports, "--no-imports")
    refuse_unread_registry(args)
    if (why := not_a_file(args.zip)) is not None:
        raise LambdaLayerError(why[0], hint=why[1])
    chosen = target_for_zip(args.zip, args.runtime, args.arch)
    cache_dir = cache_root(args.cache_dir)
    request = CheckRequest(
        chosen.target,
        with_zips=tuple(args.with_zips),
        function=args.function or chosen.function,
        handler=args.handler,
        imports=None if args.no_imports else _import_options(args, chosen.target),
    )
    index = IndexConfig.from_options(args.index_url, ())
    # The report is kept by the zip's sha256 and the request (the interpreter, the image, …):
    # checking the same bytes alike again reads it back, and says so on stderr.
    notify = quiet if args.json else stderr
    report = check_any_zip(args.zip, Checking(request, cache_dir, index), notify)
    if args.json:
        print_json({**report.to_json(), "target_source": chosen.source})
    else:
        print(f"checking for {chosen.target.name} ({chosen.source})")
        print_check_report(report, sys.stdout)
    if report.failed:
        return EXIT_ERROR
    strict = args.strict or bool((config := load_config(Path())) and config.strict)
    return EXIT_ERROR if strict and not report.ok else EXIT_OK


def _import_options(args: argparse.Namespace, target: Target) -> ImportOptions:
    image = chosen_image(args, target)
    return ImportOptions(
        modules=split(args.imports) or None,
        python=args.python,
        image=image,
        sandbox=None if args.sandbox == "auto" else args.sandbox,
        deadline=args.import_timeout,
    )
