"""The ``lambdalayer`` command: a thin shell over the library.

One module per command (``cli/<command>.py``) with ``HELP``, ``DESCRIPTION``, ``EPILOG``,
``configure_parser(parser)`` and ``execute(args) -> int``; this module puts them together,
and turns every :class:`LambdaLayerError` into one ``error:`` line (plus ``hint:``) and exit
code 1, wherever it comes from.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from types import ModuleType

from lambdalayer import __version__
from lambdalayer.cli import (
    attach,
    build,
    cache,
    check,
    image,
    init,
    invoke,
    layers,
    lock,
    publish,
    report,
    targets,
)
from lambdalayer.cli.common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    Terminated,
    print_json,
    stderr,
)
from lambdalayer.cli.text import print_check_report
from lambdalayer.errors import LambdaLayerError, LayerCheckError
from lambdalayer.zipnames import printable

# The commands in the order ``--help`` lists them.
COMMANDS: dict[str, ModuleType] = {
    "init": init,
    "build": build,
    "lock": lock,
    "report": report,
    "check": check,
    "invoke": invoke,
    "image": image,
    "publish": publish,
    "attach": attach,
    "layers": layers,
    "targets": targets,
    "cache": cache,
}


def parser() -> argparse.ArgumentParser:
    """The whole command line: every command's parser, from its module."""
    top = argparse.ArgumentParser(
        prog="lambdalayer",
        description="Build AWS Lambda layers of Python packages, correct for the runtime and CPU.",
    )
    top.add_argument("--version", action="version", version=f"lambdalayer {__version__}")
    top.add_argument("-v", "--verbose", action="store_true", help="show tracebacks on errors")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        command = commands.add_parser(
            name,
            help=module.HELP,
            description=module.DESCRIPTION,
            epilog=module.EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure_parser(command)
        command.set_defaults(execute=module.execute)
    return top


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
    args = parser().parse_args(argv)
    execute: Callable[[argparse.Namespace], int] = args.execute
    as_json = bool(getattr(args, "json", False))
    try:
        return execute(args)
    except LambdaLayerError as error:
        _failed(error, as_json=as_json, verbose=args.verbose)
        return EXIT_ERROR
    except OSError as error:  # a full or read-only disk under the cache or the output
        place = f" ({error.filename})" if error.filename else ""
        failure = LambdaLayerError(
            f"{error.strerror or error}{place}",
            hint="free some space or fix the permissions, or choose another --cache-dir / -o",
        )
        _failed(failure, as_json=as_json, verbose=args.verbose)
        return EXIT_ERROR
    except Terminated:
        stderr("error: terminated (SIGTERM); nothing was left half-written")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        stderr("error: interrupted")
        return EXIT_INTERRUPTED


def _failed(error: LambdaLayerError, *, as_json: bool, verbose: bool) -> None:
    """Say what went wrong: the findings of a failed check, then the ``error:`` and ``hint:`` lines."""
    if verbose:
        traceback.print_exc()
    if as_json:
        print_json(_error_document(error))
    elif isinstance(error, LayerCheckError) and error.report is not None:
        print_check_report(error.report, sys.stderr)
    print_error(error)


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
