"""The ``lambdalayer`` command: a thin shell over the library.

One module per command (``cli/<command>.py``) with ``DESCRIPTION``, ``EPILOG``,
``configure_parser(parser)`` and ``execute(args) -> int``; this module puts them together,
and turns every :class:`LambdaLayerError` into one ``error:`` line (plus ``hint:``) and exit
code 1, wherever it comes from.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import NoReturn

from lambdalayer import __version__
from lambdalayer.cli.common import (
    EXIT_BROKEN_PIPE,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    Output,
    Terminated,
    print_json,
    say,
)
from lambdalayer.cli.options_global import VALUE_OPTIONS, add_global_options
from lambdalayer.errors import (
    LambdaLayerError,
    LayerCheckError,
    PolicyError,
    left_behind,
    with_left_behind,
)

# The commands in the order ``--help`` lists them, with their one line of help. A
# command's module is imported only when that command runs (or its --help is asked for):
# ``lambdalayer --version`` and ``--help`` import none of the library.
COMMANDS: dict[str, str] = {
    "init": "write a [tool.lambdalayer] table (or lambdalayer.toml) for this project",
    "build": "build a layer (or function) .zip from requirements",
    "lock": "write the target's pylock.toml without building",
    "plan": "plan the layers a repository's functions share (SAM, CDK, serverless.yml)",
    "report": "show what takes the space in a layer (terminal or HTML)",
    "sbom": "write a CycloneDX or SPDX SBOM of a zip",
    "audit": "known vulnerabilities and licences of what a zip ships",
    "verify": "check an artefact against its provenance: signature and rebuild",
    "check": "check that a layer zip will load on its runtime",
    "invoke": "run the function's handler with its layers as Lambda would (no Docker)",
    "trim": "keep only what the function's own events touch (trace, manifest, verify)",
    "image": "build, push and deploy Lambda container images (no Docker); pull runtime images",
    "publish": "publish a layer zip as a Lambda layer version",
    "attach": "make a function use a layer version",
    "layers": "list a layer's versions; --prune deletes old ones",
    "targets": "list the runtimes and architectures lambdalayer knows",
    "cache": "show or prune lambdalayer's cache",
}


def command_module(name: str) -> ModuleType:
    """The module of command ``name`` (``lambdalayer.cli.<name>``), imported now."""
    return importlib.import_module(f"lambdalayer.cli.{name}")


def _merged(args: argparse.Namespace) -> argparse.Namespace:
    """The global options given before and after the command's name, as one value each."""
    args.verbose = args.verbose + getattr(args, "sub_verbose", 0)
    args.quiet = args.quiet + getattr(args, "sub_quiet", 0)
    args.json = args.json or getattr(args, "sub_json", False)
    args.proxy = getattr(args, "sub_proxy", None) or args.proxy
    args.native_tls = args.native_tls or getattr(args, "sub_native_tls", False)
    args.allow_auth_host = [*args.allow_auth_host, *getattr(args, "sub_allow_auth_host", [])]
    return args


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The command named in ``argv`` (global options may come before it)."""
    skip = False
    for argument in argv:
        if skip:
            skip = False
            continue
        if argument == "--":
            return None
        if argument in VALUE_OPTIONS:
            skip = True
        elif not argument.startswith("-"):
            return argument if argument in COMMANDS else None
    return None


class _Parser(argparse.ArgumentParser):
    """argparse's parser, except that with ``--json`` a usage error is JSON too."""

    as_json = False

    def error(self, message: str) -> NoReturn:
        """Say what is wrong with the command line, and exit 2 (argparse's code)."""
        if _Parser.as_json:
            print_json({"ok": False, "error": f"{self.prog}: {message}", "hint": None})
            sys.exit(2)
        super().error(message)


def parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only``, just that command's options are set up."""
    top = _Parser(
        prog="lambdalayer",
        description="Build AWS Lambda layers of Python packages, correct for the runtime and CPU.",
    )
    top.add_argument("--version", action="version", version=f"lambdalayer {__version__}")
    add_global_options(top, top=True)
    commands = top.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )
    for name, help_text in COMMANDS.items():
        if only is not None and name != only:
            commands.add_parser(name, help=help_text)
            continue
        module = command_module(name)
        command = commands.add_parser(
            name,
            help=help_text,
            description=module.DESCRIPTION,
            epilog=module.EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure_parser(command)
        add_global_options(command, top=False)
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
        code = _main(argv)
        sys.stdout.flush()  # here, not at exit: a reader that left is said below
        return code
    except BrokenPipeError:
        # The reader of stdout left (``| head``): nothing more to say, and no traceback when
        # Python flushes stdout at exit (https://docs.python.org/3/library/signal.html#note-on-sigpipe).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    finally:
        Output.end_progress()
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _main(argv: Sequence[str] | None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    _Parser.as_json = "--json" in arguments[: arguments.index("--") if "--" in arguments else None]
    if not arguments and not _Parser.as_json:  # 'lambdalayer' alone: the commands, not argparse's
        parser("").print_help(sys.stderr)  # 'arguments are required: COMMAND'
        print("\nerror: name a command; 'lambdalayer COMMAND --help' says more", file=sys.stderr)
        return 2
    args = _merged(parser(_chosen_command(arguments) or "").parse_args(arguments))
    execute: Callable[[argparse.Namespace], int] = args.execute
    as_json = bool(args.json)
    Output.configure(verbosity=args.verbose - args.quiet, as_json=as_json)
    from lambdalayer import network  # noqa: PLC0415 - --help and --version import no library

    network.configure(
        network.NetworkSettings(args.proxy, args.native_tls, tuple(args.allow_auth_host))
    )
    try:
        return execute(args)
    except LambdaLayerError as error:
        _failed(with_left_behind(error, error), as_json=as_json, verbose=args.verbose >= 2)
        return EXIT_ERROR
    except BrokenPipeError:
        raise  # the reader of stdout left: main's to handle, not a disk's error
    except OSError as error:  # a full or read-only disk under the cache or the output
        place = f" ({error.filename})" if error.filename else ""
        failure = LambdaLayerError(
            f"{error.strerror or error}{place}",
            hint="free some space or fix the permissions, or choose another --cache-dir / -o",
        )
        _failed(with_left_behind(failure, error), as_json=as_json, verbose=args.verbose >= 2)
        return EXIT_ERROR
    except Terminated as stopped:  # whole, unless a file could not be put back
        whole = "" if left_behind(stopped) else "; nothing was left half-written"
        failure = with_left_behind(LambdaLayerError(f"terminated (SIGTERM){whole}"), stopped)
        _failed(failure, as_json=as_json, verbose=False)
        return EXIT_TERMINATED
    except KeyboardInterrupt as stopped:
        failure = with_left_behind(LambdaLayerError("interrupted"), stopped)
        _failed(failure, as_json=as_json, verbose=False)
        return EXIT_INTERRUPTED


def _failed(error: LambdaLayerError, *, as_json: bool, verbose: bool) -> None:
    """Say what went wrong: the findings of a failed check, then the ``error:`` and ``hint:`` lines."""
    Output.end_progress()
    if verbose:
        import traceback  # noqa: PLC0415 - only for -vv: --version and --help stay quick

        traceback.print_exc()
    if as_json:  # the JSON says it all: nothing on stderr a script would have to ignore
        print_json(_error_document(error))
        return
    if isinstance(error, LayerCheckError) and error.report is not None:
        from lambdalayer.cli.text import print_check_report  # noqa: PLC0415 - the check's printer is heavy

        print_check_report(error.report, sys.stderr)
    print_error(error)


def print_error(error: LambdaLayerError) -> None:
    """``error:`` and ``hint:`` lines; a message of several lines (uv's) is indented under it."""
    from lambdalayer.zipnames import printable  # noqa: PLC0415 - only once something failed

    first, *rest = error.message.splitlines() or [""]
    say(f"error: {printable(first)}")
    for line in rest:
        say(f"  {printable(line)}")
    if error.hint:
        say(f"hint: {printable(error.hint)}")


def _error_document(error: LambdaLayerError) -> dict[str, object]:
    """The JSON a failed command prints: the error, its hint, and a failed check's findings."""
    document: dict[str, object] = {"ok": False, "error": error.message, "hint": error.hint}
    if isinstance(error, LayerCheckError) and error.report is not None:
        document["check"] = error.report.to_json()
    if isinstance(error, PolicyError) and error.review is not None:
        document["review"] = error.review
    return document


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
