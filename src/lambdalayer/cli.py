"""The ``lambdalayer`` command: a thin shell over the library.

``main(argv)`` parses arguments, calls the library, prints, and turns every
:class:`LambdaLayerError` into one ``error:`` line (plus ``hint:``) and exit code 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from lambdalayer import __version__
from lambdalayer.errors import LambdaLayerError
from lambdalayer.targets import ARCHITECTURES, Layout, default_runtime, get_target, runtimes

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130

_BUILD_EPILOG = """\
examples:
  lambdalayer build requests==2.31.0
  lambdalayer build -r requirements.txt --runtime python3.12 --arch arm64 -o dist/layer.zip
  lambdalayer build -r requirements.txt --runtime python3.11 --lock pylock.toml
  lambdalayer build --from-lock pylock.toml --runtime python3.11

Only wheels are installed, chosen for the runtime's Python version, CPU and glibc floor
(never the machine running the build). The zip is reproducible: the same input gives the
same bytes (set SOURCE_DATE_EPOCH to choose the entries' timestamp).
"""


def _human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def _stderr(message: str) -> None:
    # One write per line: fetch reports progress from several threads at once.
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lambdalayer",
        description="Build AWS Lambda layers of Python packages, correct for the runtime and CPU.",
    )
    parser.add_argument("--version", action="version", version=f"lambdalayer {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser(
        "build",
        help="build a layer .zip from requirements",
        description="Resolve, download and lay out wheels as a Lambda layer .zip.",
        epilog=_BUILD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument(
        "packages", nargs="*", metavar="PACKAGE", help="requirements, e.g. requests==2.31.0"
    )
    build.add_argument(
        "-r", "--requirements", action="append", default=[], type=Path, metavar="FILE",
        help="a requirements file (repeatable; -c constraints, markers, extras and --hash pins work)",
    )  # fmt: skip
    build.add_argument(
        "--runtime", metavar="NAME",
        help=f"Lambda runtime identifier (default: {default_runtime().name}; see 'lambdalayer targets')",
    )  # fmt: skip
    build.add_argument(
        "--arch", choices=ARCHITECTURES, default=None, help="CPU of the function (default: x86_64)"
    )
    build.add_argument(
        "--layout", choices=[layout.value for layout in Layout], default=Layout.SITE_PACKAGES.value,
        help="where packages go: python/lib/pythonX.Y/site-packages/ (default) or python/",
    )  # fmt: skip
    build.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("layer.zip"),
        help="the zip to write (default: layer.zip)",
    )
    build.add_argument(
        "--lock",
        type=Path,
        metavar="FILE",
        help="also write the target's pylock.toml (PEP 751) to FILE",
    )
    build.add_argument(
        "--from-lock", type=Path, metavar="FILE",
        help="skip resolution: build exactly the wheels of this pylock.toml",
    )  # fmt: skip
    build.add_argument(
        "--index-url", metavar="URL", help="the package index (default: PyPI, or $UV_DEFAULT_INDEX)"
    )
    build.add_argument(
        "--extra-index-url",
        action="append",
        default=[],
        metavar="URL",
        help="another index to use (repeatable)",
    )
    build.add_argument(
        "--cache-dir", type=Path, metavar="DIR",
        help="wheel cache (default: $LAMBDALAYER_CACHE_DIR or ~/.cache/lambdalayer)",
    )  # fmt: skip
    build.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    targets = commands.add_parser(
        "targets", help="list the runtimes and architectures lambdalayer knows"
    )
    targets.add_argument("--json", action="store_true", help="print the table as JSON")
    return parser


def _run_build(args: argparse.Namespace) -> int:
    from lambdalayer.build import BuildOptions, build  # noqa: PLC0415 - keeps `targets` fast
    from lambdalayer.fetch import default_cache_dir  # noqa: PLC0415
    from lambdalayer.index import IndexConfig  # noqa: PLC0415
    from lambdalayer.inputs import gather  # noqa: PLC0415

    target = get_target(args.runtime, args.arch)
    if args.from_lock is not None and (args.packages or args.requirements):
        raise LambdaLayerError(
            "--from-lock builds exactly the lock's wheels; requirements cannot be added to it",
            hint="drop the packages and -r files, or drop --from-lock to resolve again",
        )
    requirements = None if args.from_lock is not None else gather(args.packages, args.requirements)
    options = BuildOptions(
        target=target,
        output=args.output,
        requirements=requirements,
        from_lock=args.from_lock,
        lock_output=args.lock,
        layout=Layout(args.layout),
        index=IndexConfig.from_options(args.index_url, tuple(args.extra_index_url)),
        cache_dir=args.cache_dir or default_cache_dir(),
    )
    result = build(options, notify=_stderr)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return EXIT_OK
    for notice in result.notices:
        _stderr(f"notice: {notice}")
    runtime = target.runtime
    print(
        f"built {result.output} for {runtime.name} on {target.arch}"
        f" (Python {runtime.python_version}, {runtime.os}, glibc {'.'.join(map(str, target.glibc_floor))})"
    )
    for dist in result.distributions:
        print(
            f"  {dist.name:<28} {dist.version:<14} {_human_bytes(dist.unzipped_bytes):>10}  {dist.wheel}"
        )
    for backoff in result.backoffs:
        print(
            f"  note: {backoff.package} {backoff.chosen}, not {backoff.newest_excluded}:"
            f" newer versions have no wheel for {target.name} (glibc {'.'.join(map(str, target.glibc_floor))})"
        )
    print(
        f"size: {_human_bytes(result.zipped_bytes)} zipped, {_human_bytes(result.unzipped_bytes)} unzipped,"
        f" {result.files} files; {result.downloads} downloaded ({_human_bytes(result.downloaded_bytes)})"
        f" in {result.seconds:.1f} s"
    )
    if result.lock_path:
        print(f"lock: {result.lock_path}")
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
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    print(f"{'runtime':<12} {'python':<7} {'os':<18} {'glibc':<6} architectures")
    for runtime in table:
        glibc = ".".join(map(str, runtime.glibc))
        print(
            f"{runtime.name:<12} {runtime.python_version:<7} {runtime.os:<18} {glibc:<6} {', '.join(runtime.architectures)}"
        )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    args = _parser().parse_args(argv)
    handlers = {"build": _run_build, "targets": _run_targets}
    try:
        return handlers[args.command](args)
    except LambdaLayerError as error:
        if args.verbose:
            traceback.print_exc()
        _stderr(f"error: {error.message}")
        if error.hint:
            _stderr(f"hint: {error.hint}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        _stderr("error: interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
