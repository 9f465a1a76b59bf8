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
from typing import TYPE_CHECKING, TextIO

from lambdalayer import __version__, cli_aws
from lambdalayer.bytecode import BytecodeMode
from lambdalayer.check import CheckReport, Finding, Severity, check
from lambdalayer.errors import LambdaLayerError, LayerCheckError
from lambdalayer.slim import SlimOptions
from lambdalayer.slim import rules as slim_rules
from lambdalayer.targets import ARCHITECTURES, Layout, default_runtime, get_target, runtimes

if TYPE_CHECKING:
    from lambdalayer.build import BuildResult

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130

_CHECK_EPILOG = """\
examples:
  lambdalayer check layer.zip --runtime python3.11 --arch x86_64
  lambdalayer check layer.zip --runtime python3.12 --arch arm64 --with other-layer.zip --with function.zip
  lambdalayer check layer.zip --runtime python3.12 --import pandas,pyarrow.parquet --json

Exit code 0 when nothing is an error (warnings allowed), 1 otherwise. Imports are tried
only where a CPython of the runtime's version runs on this machine's CPU; otherwise the
report says they were skipped.
"""

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
    build.add_argument(
        "--bytecode", choices=[mode.value for mode in BytecodeMode], default=BytecodeMode.AUTO.value,
        help="auto (default): add unchecked-hash .pyc compiled by a CPython of the runtime's version, so "
        "cold starts skip compiling (no bytecode, with a notice, if none is found); none: sources only; "
        "only: .pyc instead of .py (smaller, but tracebacks show no source lines)",
    )  # fmt: skip
    build.add_argument("--no-slim", action="store_true", help="keep everything the wheels contain")
    build.add_argument(
        "--skip-rule", action="append", default=[], metavar="RULE",
        help=f"turn one slimming rule off (repeatable): {', '.join(rule.name for rule in slim_rules())}",
    )  # fmt: skip
    build.add_argument(
        "--keep", action="append", default=[], metavar="GLOB",
        help="never drop or strip these paths (relative to the package directory, e.g. 'pkg/tests/**')",
    )  # fmt: skip
    build.add_argument(
        "--drop",
        action="append",
        default=[],
        metavar="GLOB",
        help="also leave these paths out (e.g. '**/*.md')",
    )
    build.add_argument(
        "--no-check", action="store_true", help="do not run 'lambdalayer check' on the built layer"
    )
    build.add_argument(
        "--python", type=Path, metavar="PATH",
        help="a CPython of the runtime's version for the import check (default: found on PATH, pyenv, uv)",
    )  # fmt: skip
    build.add_argument("--json", action="store_true", help="print the summary as one JSON object")

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
        help="Lambda runtime (default: recorded in the zip, else the newest)",
    )
    check.add_argument(
        "--arch", choices=ARCHITECTURES, help="CPU (default: recorded in the zip, else x86_64)"
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
        "--python",
        type=Path,
        metavar="PATH",
        help="the CPython to import with (default: found on PATH, pyenv, uv)",
    )
    check.add_argument("--json", action="store_true", help="print the report as one JSON object")

    build.add_argument(
        "--publish", metavar="NAME", help="publish the built layer as NAME (see 'publish --help')"
    )
    build.add_argument(
        "--attach", metavar="FUNCTION", help="then make FUNCTION use it (needs --publish)"
    )
    cli_aws.add_publish_options(build)
    cli_aws.add_aws_options(build, regions=True)
    cli_aws.register(commands)

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
    if args.attach and not args.publish:
        raise LambdaLayerError(
            "--attach needs --publish NAME", hint="or use 'lambdalayer attach FUNCTION --layer ARN'"
        )
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
        check=not args.no_check,
        python=args.python,
        slim=SlimOptions(
            enabled=not args.no_slim,
            skip_rules=frozenset(args.skip_rule),
            keep=tuple(args.keep),
            drop=tuple(args.drop),
        ),
        bytecode=BytecodeMode(args.bytecode),
    )
    try:
        result = build(options, notify=_stderr)
    except LayerCheckError as failure:
        if isinstance(failure.report, CheckReport):
            _print_report(failure.report, sys.stderr)
        raise
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        _print_build(result)
    if args.publish:  # with --json, its lines go to stderr so that stdout stays one JSON object
        return cli_aws.publish_zip(
            args, result.output, args.publish, [target.runtime.name], [target.arch]
        )
    return EXIT_OK


def _print_build(result: BuildResult) -> None:
    target = result.target
    runtime = target.runtime
    glibc = ".".join(map(str, target.glibc_floor))
    for notice in result.notices:
        _stderr(f"notice: {notice}")
    print(
        f"built {result.output} for {runtime.name} on {target.arch} (Python {runtime.python_version}, {runtime.os}, glibc {glibc})"
    )
    for dist in result.distributions:
        print(
            f"  {dist.name:<28} {dist.version:<14} {_human_bytes(dist.unzipped_bytes):>10}  {dist.wheel}"
        )
    for backoff in result.backoffs:
        print(
            f"  note: {backoff.package} {backoff.chosen}, not {backoff.newest_excluded}:"
            f" newer versions have no wheel for {target.name} (glibc {glibc})"
        )
    print(
        f"size: {_human_bytes(result.zipped_bytes)} zipped, {_human_bytes(result.unzipped_bytes)} unzipped,"
        f" {result.files} files; {result.downloads} downloaded ({_human_bytes(result.downloaded_bytes)})"
        f" in {result.seconds:.1f} s"
    )
    if result.slim_saved:
        saved = ", ".join(
            f"{rule} {_human_bytes(size)}" for rule, size in sorted(result.slim_saved.items())
        )
        print(f"slimmed: {saved}")
    if result.bytecode_compiled:
        print(
            f"bytecode: {result.bytecode_compiled} modules compiled by {result.bytecode_python} (unchecked-hash)"
        )
    if result.lock_path:
        print(f"lock: {result.lock_path}")
    if result.check_report is not None:
        _print_report(result.check_report, sys.stdout)


def _print_report(report: CheckReport, stream: TextIO) -> None:
    # One line per kind of problem: the same finding on 40 extension modules of one
    # package is one line naming the first member and how many more there are.
    groups: dict[tuple[object, ...], list[Finding]] = {}
    for finding in report.findings:
        key = (finding.severity, finding.kind, finding.message, finding.package, finding.fix)
        groups.setdefault(key, []).append(finding)
    for members in groups.values():
        finding = members[0]
        where = f" {finding.member}:" if finding.member else ""
        more = f" (and {len(members) - 1} more like it)" if len(members) > 1 else ""
        owner = finding.package
        package = f" [{owner}]" if owner and owner not in (finding.member or "") else ""
        line = f"{finding.severity!s:<7} {finding.kind:<11}{where} {finding.message}{package}{more}"
        print(line, file=stream)
        if finding.fix and finding.severity is not Severity.INFO:
            print(f"        fix: {finding.fix}", file=stream)
    if report.imports:
        failed = [item.module for item in report.imports if not item.ok]
        print(
            f"imports: {len(report.imports) - len(failed)} of {len(report.imports)} modules import",
            file=stream,
        )
    elif report.imports_skipped:
        print(f"imports: skipped: {report.imports_skipped}", file=stream)
    errors = len(report.errors)
    warnings = sum(finding.severity is Severity.WARNING for finding in report.findings)
    verdict = "ok" if report.ok else "FAILED"
    print(
        f"check {verdict} for {report.target.name}: {errors} error(s), {warnings} warning(s);"
        f" {_human_bytes(report.zipped_bytes)} zipped, {_human_bytes(report.unzipped_bytes)} unzipped"
        + (
            f", {_human_bytes(report.total_unzipped_bytes)} with the other zips"
            if report.total_unzipped_bytes != report.unzipped_bytes
            else ""
        ),
        file=stream,
    )


def _run_check(args: argparse.Namespace) -> int:
    from lambdalayer.build import recorded_target  # noqa: PLC0415

    if not args.zip.is_file():
        raise LambdaLayerError(f"no such file: {args.zip}")
    recorded = recorded_target(args.zip)
    runtime = args.runtime or (recorded[0] if recorded else None)
    arch = args.arch or (recorded[1] if recorded else None)
    target = get_target(runtime, arch)
    imports = (
        [name.strip() for name in args.imports.split(",") if name.strip()] if args.imports else None
    )
    report = check(
        args.zip,
        target,
        with_zips=args.with_zips,
        imports=imports,
        python=args.python,
        run_import_check=not args.no_imports,
    )
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        _print_report(report, sys.stdout)
    return EXIT_OK if report.ok else EXIT_ERROR


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
    handlers = {
        "build": _run_build,
        "check": _run_check,
        "targets": _run_targets,
        "publish": cli_aws.run,
        "attach": cli_aws.run,
        "layers": cli_aws.run,
    }
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
