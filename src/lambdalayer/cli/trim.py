"""The ``trim`` command: trace the handler on its events, keep only what they touched."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from lambdalayer.check.request import CheckRequest
from lambdalayer.cli.common import EXIT_OK, print_json, stderr, warn
from lambdalayer.cli.image import refuse_unread_registry
from lambdalayer.cli.invoke import (
    SAMPLES,
    add_function_options,
    event_bytes,
    request_of,
    sample,
    target_of,
)
from lambdalayer.cli.options import refuse_given
from lambdalayer.cli.report import write_report
from lambdalayer.environment.lambdaimage import is_image_reference
from lambdalayer.errors import InputError
from lambdalayer.report import layer_report
from lambdalayer.targets import Layout, Target
from lambdalayer.trace.run import TrimRequest, TrimResult, trim, trim_facts
from lambdalayer.trace.trace import TracedEvent
from lambdalayer.trim.manifest import MANIFEST_NAME, Level
from lambdalayer.wording import agreeing, counted
from lambdalayer.zipnames import printable

DESCRIPTION = (
    "Run the handler on its own events under a system-call trace, write lambdalayer.trim.toml"
    " (per distribution, what was opened and by which event), write the trimmed layers and"
    " function, and check that every event answers the same."
)
EPILOG = """\
examples:
  # trace two of the function's own events; write lambdalayer.trim.toml and trimmed/
  lambdalayer trim app.handler --function src/ --layer deps.zip --event get.json --event put.json
  # no event at hand yet: a sample one (apigw-v2, sqs, s3, eventbridge)
  lambdalayer trim app.handler --function src/ --layer deps.zip --sample apigw-v2
  # the function's zip, its event on stdin, only data files trimmed
  lambdalayer trim app.handler --zip function.zip --event - --level data < event.json
  # apply the manifest as reviewed and committed, keeping more by hand
  lambdalayer trim app.handler --function src/ --layer deps.zip --event e.json \\
      --reviewed --keep 'pandas/io/**'
  # every later build applies it
  lambdalayer build -r requirements.txt --trim lambdalayer.trim.toml -o layer.zip

levels (--level):
  data      remove only data files no traced event opened (botocore's service models);
            every module stays: the safe first step
  modules   (default) also remove modules no traced event imported: smaller, and a module
            imported only on a path no event took is gone (its ImportError names the
            manifest line to add)
  bytecode-only
            also remove the source of each kept module the events ran from its
            bytecode alone (its .pyc moves to the source's place): smaller still, and
            a traceback through it has no source lines. Only a .pyc the runtime's
            CPython imports moves: one a manifest line names with another Python's
            magic number, or truncated, or empty, is an error, nothing written
  Whatever the level, what a trace cannot see is kept (CA bundles: the sandbox has no
  network), and every event is run again on the trimmed zips: each must answer the same.

A path no traced event reached is trimmed: trace every kind of event the function gets.
Review lambdalayer.trim.toml (per distribution: what was opened, and by which event)
and commit it. The trace is strace's: --sandbox proot cannot be traced (it is a ptrace
sandbox itself).
"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``trim``'s arguments."""
    parser.add_argument("handler", metavar="HANDLER", help="module.function, e.g. app.handler")
    add_function_options(
        parser,
        code_required=True,
        image=(
            "pull|DIR|host",
            "the root, as invoke's: 'pull' fetches Lambda's image, DIR is an extracted one,"
            " 'host' this machine's libraries; a function's own image (invoke --image IMAGE) is"
            " refused: trim the code and layers it is built from, then 'image build --trim'",
        ),
    )
    parser.add_argument(
        "--event", action="append", default=[], metavar="FILE|-", help="an event (repeatable)"
    )
    parser.add_argument(
        "--sample",
        action="append",
        default=[],
        choices=SAMPLES,
        metavar="KIND",
        help=f"a sample event: {', '.join(SAMPLES)} (repeatable)",
    )
    parser.add_argument(
        "--level",
        choices=[level.value for level in Level],
        default="modules",
        help="data: remove only data files never opened; modules (default): also modules never"
        " imported; bytecode-only: also sources (see levels below)",
    )
    parser.add_argument(
        "--manifest",
        type=Path,
        default=Path(MANIFEST_NAME),
        metavar="FILE",
        help=f"where the manifest is written (default {MANIFEST_NAME})",
    )
    parser.add_argument(
        "--reviewed",
        action="store_true",
        help="apply --manifest as it is (reviewed, committed) instead of writing it from the trace",
    )
    parser.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="GLOB",
        help="keep these paths whatever the trace saw, e.g. 'pandas/io/**' (repeatable)",
    )
    parser.add_argument(
        "--ignore-json-path",
        action="append",
        default=[],
        metavar="A.B",
        help="a value of the response left out of the comparison (repeatable)",
    )
    parser.add_argument(
        "-o",
        "--output-dir",
        type=Path,
        default=Path("trimmed"),
        metavar="DIR",
        help="where the trimmed zips go (default trimmed/)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="FILE.html",
        help="also write the HTML report of the artefact that saved most, with its trim section",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=3,
        metavar="N",
        help="cold runs of the first event per side, for Init Duration and Duration medians"
        " (default 3; 0: no timings and no -X importtime)",
    )


def _events(args: argparse.Namespace) -> tuple[TracedEvent, ...]:
    events = [TracedEvent(spec, event_bytes(spec)) for spec in args.event]
    events += [TracedEvent(f"sample:{name}", sample(name).encode()) for name in args.sample]
    if not events:
        raise InputError(
            "trim needs at least one event",
            hint=f"--event FILE, or --sample KIND ({', '.join(SAMPLES)}); each repeatable",
        )
    return tuple(events)


def check_root(spec: str | None) -> None:
    """``trim --image``: the root the function runs in (``pull``, ``host``, an extracted root's
    directory), checked before anything runs or is written. A function's own image (an OCI
    archive or layout, a registry's image: what ``invoke --image`` boots) holds its code and
    dependencies in the image's own places, which trim neither traces as artefacts nor
    writes back: one error saying so, never the reference taken for a directory."""
    if spec is None or spec in ("pull", "host"):
        return
    if is_image_reference(spec):
        raise InputError(
            f"--image {spec} is a function's own image (an OCI archive or layout, or a"
            " registry's image), as 'invoke --image' boots it; trim traces and trims the code"
            " and layers it is given, not an image's files",
            hint="trim the code and layers the image is built from (lambdalayer trim HANDLER"
            " --function SRC --layer deps.zip --image pull), then build the image with --trim"
            f" {MANIFEST_NAME}",
        )
    if not Path(spec).is_dir():
        raise InputError(
            f"--image {spec}: no such directory",
            hint="trim's --image takes pull, host, or the directory of an extracted Lambda image",
        )


def execute(args: argparse.Namespace) -> int:
    """Run ``trim``."""
    check_root(args.image)
    refuse_unread_registry(args)
    if args.reviewed:  # the manifest as reviewed is applied at its own level
        refuse_given(args, configure_parser, {"level"}, "--reviewed (the manifest says its level)")
    function = args.zip or args.function
    target = target_of(args, [function, *args.layer])
    request = TrimRequest(
        request_of(args, args.handler, function, target),
        _events(args),
        args.output_dir,
        args.manifest,
        Level(args.level),
        tuple(args.keep),
        tuple(args.ignore_json_path),
        max(0, args.runs),
        retrace=not args.reviewed,
    )
    result = trim(request, stderr)
    if args.report is not None:
        _write_report(result, target, args.report)
    if args.json:
        print_json(as_json(result))
    else:
        for line in warning_lines(result):
            warn(line)  # stderr, as every command's warnings: -qq leaves them out
        for line in summary_lines(result):
            print(line)
    return EXIT_OK


def _write_report(result: TrimResult, target: Target, output: Path) -> None:
    artefact = max(result.artefacts, key=lambda item: item.before - item.after)
    function = artefact.layout is Layout.FUNCTION
    report = layer_report(artefact.output, CheckRequest(target, function=function, imports=None))
    write_report(dataclasses.replace(report, trim=trim_facts(result, artefact)), output)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def warning_lines(result: TrimResult) -> list[str]:
    """The ``warning:`` lines of ``trim`` (to stderr: ``-qq`` leaves them out)."""
    lines = []
    if result.dropped:
        count = len(result.dropped)
        shown = ", ".join(printable(line) for line in result.dropped[:5])
        lines.append(
            f"warning: this trace's manifest replaced {printable(str(result.manifest_path))},"
            f" whose {counted(count, 'line')} {shown}{', …' if count > 5 else ''}"
            f" {agreeing(count, 'is', 'are')} not in it: add {agreeing(count, 'it', 'them')}"
            " again (or --keep), or apply a reviewed manifest as it is with --reviewed"
        )
    for label, kind in result.errors_before:
        lines.append(
            f"warning: event {printable(label)} answered {printable(kind)} before trimming too:"
            " the trim keeps what that error path reached"
        )
    return lines


def summary_lines(result: TrimResult) -> list[str]:
    """What ``trim`` says on stdout (its warnings: :func:`warning_lines`)."""
    lines = [f"manifest: {printable(str(result.manifest_path))} (level {result.manifest.level})"]
    lines.append(f"traced with {result.traced_how}")
    for artefact in result.artefacts:
        ratio = artefact.after / artefact.before if artefact.before else 1.0
        lines.append(
            f"{printable(str(artefact.output))}: {artefact.after:,} of {artefact.before:,} bytes"
            f" unzipped ({ratio:.2f}x), {counted(artefact.trimmed_modules, 'module')} trimmed"
            + (
                f", {artefact.sourceless_modules:,} kept without their source (run from .pyc)"
                if artefact.sourceless_modules
                else ""
            )
        )
        for name, (before, after) in artefact.sizes.items():
            if before != after:
                lines.append(
                    f"  {printable(name)}: {before - after:,} bytes saved ({after:,} kept)"
                )
    lines.append(
        f"verified: {counted(result.events_verified, 'event')}"
        f" {agreeing(result.events_verified, 'answers', 'answer')} the same after trimming;"
        " the static check passes"
    )
    if result.before and result.after:
        lines.append(
            f"Init Duration (median of {result.before.runs}): {_ms(result.before.init_ms)} before,"
            f" {_ms(result.after.init_ms)} after; Duration {_ms(result.before.duration_ms)} before,"
            f" {_ms(result.after.duration_ms)} after"
        )
    if result.costliest_imports:
        lines.append(
            "costliest imports of the handler module (-X importtime, cumulative; defer these):"
        )
        lines += [
            f"  {micro / 1000:8.1f} ms  {printable(name)}"
            for name, micro in result.costliest_imports
        ]
    return lines


def as_json(result: TrimResult) -> dict[str, object]:
    """``trim --json``."""
    return {
        "manifest": str(result.manifest_path),
        "level": result.manifest.level.value,
        "traced_with": result.traced_how,
        "events_verified": result.events_verified,
        "errors_before": [
            {"event": label, "error_type": kind} for label, kind in result.errors_before
        ],
        "dropped_lines": list(result.dropped),
        "artefacts": [
            {
                "source": str(item.source),
                "output": str(item.output),
                "unzipped_before": item.before,
                "unzipped_after": item.after,
                "trimmed_modules": item.trimmed_modules,
                "sourceless_modules": item.sourceless_modules,
                "distributions": {
                    name: {"before": before, "after": after}
                    for name, (before, after) in item.sizes.items()
                },
            }
            for item in result.artefacts
        ],
        "init_ms": {
            "before": result.before.init_ms if result.before else None,
            "after": result.after.init_ms if result.after else None,
        },
        "duration_ms": {
            "before": result.before.duration_ms if result.before else None,
            "after": result.after.duration_ms if result.after else None,
        },
        "costliest_imports": [
            {"module": name, "cumulative_us": us} for name, us in result.costliest_imports
        ],
    }
