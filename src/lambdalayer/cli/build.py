"""The ``build`` command: turn arguments and ``[tool.lambdalayer]`` into jobs, run, print.

What is built: the packages and ``-r`` files given; else the configuration's layers and
function; else the project's own lock or pyproject (``--project``, default: the current
directory). For every ``--runtime`` and every ``--arch`` (or the configuration's lists). One job
writes ``-o``; several write ``OUTPUT_DIR/NAME-TARGET.zip`` with its lock beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from lambdalayer.build import BuildOptions, BuildResult
from lambdalayer.check.findings import CheckReport
from lambdalayer.cli import aws as cli_aws
from lambdalayer.cli.common import EXIT_ERROR, EXIT_OK, print_json, stderr
from lambdalayer.cli.report import write_report
from lambdalayer.cli.text import print_build, print_check_report, print_matrix, print_timings
from lambdalayer.errors import InputError, LambdaLayerError, LayerCheckError
from lambdalayer.fsutil import ensure_writable_parent, remove_empty_dirs
from lambdalayer.inputs.config import ProjectConfig, load_config
from lambdalayer.inputs.plan import Artefact, Flags, settings
from lambdalayer.inputs.plan import artefacts as plan_artefacts
from lambdalayer.inputs.plan import targets as plan_targets
from lambdalayer.layer.bytecode import BytecodeMode
from lambdalayer.layer.slim import SlimOptions
from lambdalayer.layer.slim import rules as slim_rules
from lambdalayer.matrix import Job, Outcome, artefact_paths, run_jobs
from lambdalayer.net.fetch import default_cache_dir
from lambdalayer.report import layer_report
from lambdalayer.targets import (
    ARCH_ALIASES,
    Layout,
    Target,
    default_runtime,
)

EPILOG = """\
examples:
  lambdalayer build requests==2.31.0
  lambdalayer build -r requirements.txt --runtime python3.12 --arch arm64 -o dist/layer.zip
  lambdalayer build -r requirements.txt --runtime python3.11 --lock pylock.toml
  lambdalayer build -r pyproject.toml --extra aws --group lambda
  lambdalayer build -r uv.lock --runtime python3.11,python3.12 --arch x86_64,arm64
  lambdalayer build --function src/app --handler app.main.handler -r requirements.txt
  lambdalayer build                      # the project's [tool.lambdalayer] layers, or its lock

-r takes requirements files, pyproject.toml, uv.lock, poetry.lock and pylock*.toml (by
name). A lock's pins are kept; a pin with no wheel for the target is an error. Only
wheels are installed, chosen for the runtime's Python, CPU and glibc floor (never the
machine running the build). The zip is reproducible: the same inputs and tool version give
the same bytes on any machine (every entry is dated 1980-01-01; SOURCE_DATE_EPOCH is not read).
"""


def _split(values: list[str]) -> list[str]:
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``build`` to the CLI."""
    build = commands.add_parser(
        "build", help="build a layer (or function) .zip from requirements",
        description="Resolve, download and lay out wheels as a Lambda layer .zip.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    _add_inputs(build)
    _add_targets_and_outputs(build)
    _add_sources_and_bytecode(build)
    _add_slimming_and_checks(build)
    _add_reporting_and_aws(build)


def _add_inputs(build: argparse.ArgumentParser) -> None:
    """``build``'s options: what to build from: packages, files, projects, a lock, a function."""
    build.add_argument(
        "packages", nargs="*", metavar="PACKAGE", help="requirements, e.g. requests==2.31.0"
    )
    build.add_argument(
        "-r", "--requirements", action="append", default=[], type=Path, metavar="FILE",
        help="requirements file, pyproject.toml, uv.lock, poetry.lock or pylock.toml (repeatable)",
    )  # fmt: skip
    build.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME",
        help="an optional-dependency extra (repeatable)",
    )
    build.add_argument(
        "--group",
        action="append",
        default=[],
        metavar="NAME",
        help="a PEP 735 dependency group (repeatable)",
    )
    build.add_argument(
        "--project", type=Path, metavar="DIR", help="the project (default: the current directory)"
    )
    build.add_argument(
        "--from-lock",
        type=Path,
        metavar="FILE",
        help="skip resolution: build exactly this pylock.toml",
    )
    build.add_argument(
        "--function",
        type=Path,
        metavar="SRC",
        help="build a function .zip: dependencies at the root beside SRC's code",
    )
    build.add_argument(
        "--handler",
        metavar="MODULE.FUNCTION",
        help="the function's handler, verified in the built zip",
    )


def _add_targets_and_outputs(build: argparse.ArgumentParser) -> None:
    """``build``'s options: for which targets, and where the results go."""
    build.add_argument(
        "--runtime", action="append", default=[], metavar="NAME",
        help=f"Lambda runtime(s), repeatable or comma-separated (default: {default_runtime().name}; 'lambdalayer targets')",
    )  # fmt: skip
    build.add_argument(
        "--arch",
        action="append",
        default=[],
        metavar="ARCH",
        help=f"CPU(s): {ARCH_ALIASES}; repeatable or comma-separated (default: x86_64)",
    )
    build.add_argument(
        "--layout", choices=[Layout.SITE_PACKAGES.value, Layout.PYTHON.value],
        help="where packages go: python/lib/pythonX.Y/site-packages/ (default) or python/",
    )  # fmt: skip
    build.add_argument(
        "-o", "--output", metavar="PATH",
        help="the zip to write, for one target (default: layer.zip); a directory (DIR/ with a"
        " trailing slash, or one that exists) gets the layer's files instead, for SAM and CDK",
    )  # fmt: skip
    build.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="where several targets' zips go (default: dist)",
    )
    build.add_argument(
        "--lock",
        type=Path,
        metavar="FILE",
        help="also write the target's pylock.toml (PEP 751) to FILE",
    )


def _add_sources_and_bytecode(build: argparse.ArgumentParser) -> None:
    """``build``'s options: indexes, the cache, what is provided, bytecode."""
    build.add_argument(
        "--index-url", metavar="URL", help="the package index (default: PyPI, or $UV_DEFAULT_INDEX)"
    )
    build.add_argument(
        "--extra-index-url",
        action="append",
        default=[],
        metavar="URL",
        help="another index (repeatable)",
    )
    build.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="wheel cache (default: $LAMBDALAYER_CACHE_DIR or ~/.cache/lambdalayer)",
    )
    build.add_argument(
        "--on-top-of", metavar="SPEC",
        help="build on top of what another layer provides: aws-sdk-pandas[==VERSION] (AWS's managed layer), "
        "layer:PATH.zip or layer:arn:...; its packages are kept at its versions and left out of this layer",
    )  # fmt: skip
    build.add_argument(
        "--exclude-runtime-provided", action="store_true",
        help="leave out boto3, botocore and what they need: the runtime's copies are used (they may change under you)",
    )  # fmt: skip
    build.add_argument(
        "--no-build", action="store_true",
        help="never build source-only packages (by default a pure-Python sdist is built into a wheel; native ones are refused)",
    )  # fmt: skip
    build.add_argument(
        "--bytecode", choices=[mode.value for mode in BytecodeMode],
        help="auto (default): add unchecked-hash .pyc compiled by a CPython of the runtime's version, so "
        "cold starts skip compiling; that CPython is found here (--python, PATH, pyenv, uv) or installed "
        "with 'uv python install', and the build stops with a hint when neither works; none: sources "
        "only; only: .pyc instead of .py (smaller, but tracebacks show no source lines)",
    )  # fmt: skip


def _add_slimming_and_checks(build: argparse.ArgumentParser) -> None:
    """``build``'s options: slimming and the check."""
    build.add_argument("--no-slim", action="store_true", help="keep everything the wheels contain")
    build.add_argument(
        "--skip-rule", action="append", default=[], metavar="RULE",
        help=f"turn one slimming rule off (repeatable): {', '.join(rule.name for rule in slim_rules())}",
    )  # fmt: skip
    build.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="GLOB",
        help="never drop or strip these paths (relative to the package directory)",
    )
    build.add_argument(
        "--drop",
        action="append",
        default=[],
        metavar="GLOB",
        help="also leave these paths out (e.g. '**/*.md')",
    )
    build.add_argument(
        "--no-check", action="store_true", help="do not run 'lambdalayer check' on what is built"
    )
    build.add_argument(
        "--python",
        type=Path,
        metavar="PATH",
        help="a CPython of the runtime's version (bytecode, import check)",
    )


def _add_reporting_and_aws(build: argparse.ArgumentParser) -> None:
    """``build``'s options: what is printed, and publishing."""
    build.add_argument("--json", action="store_true", help="print the summary as JSON")
    build.add_argument(
        "--print", dest="print_field", choices=["path", "sha256", "base64sha256", "terraform"],
        help="print only this, for scripts: the output's path, the zip's sha256, its base64sha256"
        " (Lambda's CodeSha256, Terraform's filebase64sha256), or 'terraform': one flat JSON object"
        " of strings for Terraform's external data source",
    )  # fmt: skip
    build.add_argument(
        "--report", type=Path, metavar="FILE.html",
        help="also write the layer's size report (see 'lambdalayer report --help')",
    )  # fmt: skip
    build.add_argument(
        "--timings", action="store_true",
        help="print where the build's time went, per stage (always in --json)",
    )  # fmt: skip
    build.add_argument(
        "--publish", metavar="NAME", help="publish the built layer as NAME (see 'publish --help')"
    )
    build.add_argument(
        "--attach", metavar="FUNCTION", help="then make FUNCTION use it (needs --publish)"
    )
    cli_aws.add_publish_options(build)
    cli_aws.add_aws_options(build, regions=True)


def is_directory_output(output: str | None) -> bool:
    """``-o DIR/`` (a trailing slash) or ``-o DIR`` that exists as a directory."""
    return output is not None and (output.endswith(("/", os.sep)) or Path(output).is_dir())


def flags_of(args: argparse.Namespace) -> Flags:
    """The command line's answers as typed flags (what :mod:`lambdalayer.inputs.plan` weighs)."""
    return Flags(
        packages=tuple(args.packages), requirements=tuple(args.requirements), extras=tuple(args.extra),
        groups=tuple(args.group), from_lock=args.from_lock, function=args.function, handler=args.handler,
        runtimes=tuple(_split(args.runtime)), arches=tuple(_split(args.arch)), layout=args.layout,
        bytecode=args.bytecode, index_url=args.index_url, extra_index_urls=tuple(args.extra_index_url),
        output_dir=args.output_dir, on_top_of=args.on_top_of,
    )  # fmt: skip


def jobs_of(
    args: argparse.Namespace, config: ProjectConfig | None, project_dir: Path, single: bool,
    artefacts: list[Artefact], targets: list[Target],
) -> list[Job]:  # fmt: skip
    """One build job per artefact and target, with the weighed settings."""
    chosen = settings(flags_of(args), config, project_dir)
    slim = SlimOptions(
        not args.no_slim, frozenset(args.skip_rule), tuple(args.keep), tuple(args.drop)
    )
    jobs = []
    for artefact in artefacts:
        for target in targets:
            if single:
                default = "function.zip" if artefact.function_source else "layer.zip"
                output, lock_output = Path(args.output or default), args.lock
            else:
                output, lock_output = artefact_paths(chosen.output_dir, artefact.name, target)
            options = BuildOptions(
                target=target, output=output, requirements=artefact.inputs.requirements,
                from_lock=artefact.inputs.pylock, lock_output=lock_output,
                layout=Layout.FUNCTION if artefact.function_source else chosen.layout,
                index=chosen.index, cache_dir=args.cache_dir or default_cache_dir(), check=not args.no_check,
                python=args.python, slim=slim, bytecode=BytecodeMode(chosen.bytecode),
                function_source=artefact.function_source, handler=artefact.handler, allow_build=not args.no_build,
                on_top_of=args.on_top_of or artefact.on_top_of, exclude_runtime_provided=args.exclude_runtime_provided,
                region=args.region, endpoint_url=args.endpoint_url, profile=args.profile,
                as_directory=single and is_directory_output(args.output),
            )  # fmt: skip
            jobs.append(Job(artefact.name, options))
    return jobs


def run(args: argparse.Namespace) -> int:
    """Run ``build``."""
    if args.attach and not args.publish:
        raise LambdaLayerError(
            "--attach needs --publish NAME", hint="or use 'lambdalayer attach FUNCTION --layer ARN'"
        )
    project_dir = args.project or Path.cwd()
    config = load_config(project_dir)
    targets = plan_targets(flags_of(args), config)
    if not args.runtime and not (config and config.runtimes):
        stderr(f"runtime: {targets[0].runtime.name}, the newest (--runtime to choose another)")
    artefacts = plan_artefacts(flags_of(args), config, project_dir)
    configured = config is not None and bool(config.layers or config.function)
    single = len(targets) * len(artefacts) == 1 and (not configured or bool(args.output))
    if not single and (args.output or args.lock):
        raise InputError(
            f"-o/--lock name one file, but this run builds {len(targets) * len(artefacts)} zips",
            hint="use --output-dir DIR: each zip is named NAME-TARGET.zip there, its lock beside it",
        )
    if args.publish and not single:
        raise InputError(
            "--publish takes one built layer; build one target, or publish each zip with 'lambdalayer publish'"
        )
    jobs = jobs_of(args, config, project_dir, single, artefacts, targets)
    # Every output is proved writable before the first is replaced (the layer, then the report).
    report_dirs = ensure_writable_parent(args.report) if args.report is not None else []
    try:
        outcomes = run_jobs(jobs, stderr)
    except BaseException:
        remove_empty_dirs(report_dirs)
        raise
    if single:
        return _report_one(args, outcomes[0])
    if args.json:
        rows = [_matrix_row(outcome) for outcome in outcomes]
        print_json({"ok": not any(outcome.error for outcome in outcomes), "builds": rows})
    else:
        for outcome in outcomes:
            for notice in outcome.result.notices if outcome.result else ():
                stderr(f"notice: [{outcome.job.name} {outcome.job.options.target.name}] {notice}")
            if (report := _failed_report(outcome)) is not None:
                stderr(f"findings: [{outcome.job.name} {outcome.job.options.target.name}]")
                print_check_report(report, sys.stderr)
        print_matrix(outcomes)
    return EXIT_ERROR if any(outcome.error for outcome in outcomes) else EXIT_OK


def _write_build_report(path: Path, result: BuildResult) -> None:
    if result.output.is_dir():
        raise InputError(
            "--report reads the layer's zip; it cannot follow -o DIR/",
            hint="build a zip for the report",
        )
    report = layer_report(result.output, result.target, beneath=list(result.beneath), check_report=result.check_report,
                          sizes=result.sizes, sha256=result.sha256,
                          slim_saved=result.slim_saved, lock=result.lock_path)  # fmt: skip
    write_report(report, path)
    stderr(f"report: {path}")


def printed_field(result: BuildResult, field: str) -> str:
    """What ``--print FIELD`` prints: one value, or Terraform's flat JSON of strings."""
    values = {
        "path": str(result.output),
        "sha256": result.sha256,
        "base64sha256": result.base64sha256,
    }
    if field == "terraform":
        flat = {**values, "target": result.target.name, "zipped_bytes": str(result.zipped_bytes)}
        return json.dumps(flat, sort_keys=True)
    return values[field]


def _matrix_row(outcome: Outcome) -> dict[str, object]:
    """One build of a matrix as JSON: its check in one place, passed or failed."""
    result = outcome.result.to_json() if outcome.result else None
    check = result.pop("check", None) if result else None
    if check is None and (failed := _failed_report(outcome)) is not None:
        check = failed.to_json()
    return {
        "name": outcome.job.name,
        "target": outcome.job.options.target.to_json(),
        "ok": outcome.error is None,
        "result": result,
        "check": check,
        "error": outcome.error.message if outcome.error else None,
        "hint": outcome.error.hint if outcome.error else None,
    }


def _failed_report(outcome: Outcome) -> CheckReport | None:
    """The check report of a job that failed its check (printed before the table says so)."""
    error = outcome.error
    if isinstance(error, LayerCheckError) and error.report is not None:
        return error.report
    return None


def _report_one(args: argparse.Namespace, outcome: Outcome) -> int:
    result = outcome.result
    if result is None:  # pragma: no cover - a single job raises instead
        raise LambdaLayerError("the build produced nothing")
    if args.report is not None:
        _write_build_report(args.report, result)
    if args.print_field:
        print(printed_field(result, args.print_field))
    elif args.json:
        print_json({"ok": True, **result.to_json()})
    else:
        print_build(result)
        if args.timings:
            print_timings(result, sys.stdout)
    if args.publish:  # with --json, its lines go to stderr so that stdout stays one JSON object
        return cli_aws.publish_zip(
            args, result.output, args.publish, [result.target.runtime.name], [result.target.arch]
        )
    return EXIT_OK
