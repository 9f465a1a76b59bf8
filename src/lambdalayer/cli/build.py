"""The ``build`` command: flags into a build plan (:mod:`lambdalayer.builder.plan`), run, print.

What is built, for which targets and where it goes is decided by the plan; this module
only reads the flags and prints what the builds produced.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
from pathlib import Path

from lambdalayer.builder.deliver import Delivered, Delivery, Invoking, deliver
from lambdalayer.builder.matrix import Outcome, run_jobs
from lambdalayer.builder.pipeline import Companions
from lambdalayer.builder.plan import BuildPlan, Flags, OutputFlags, RecipeFlags, plan_builds
from lambdalayer.builder.provenance import provenance_path
from lambdalayer.builder.result import BuildResult
from lambdalayer.builder.ships import (
    Ships,
    ShipsRequest,
    after_build,
    build_inventory,
    check_sbom_directory,
    sbom_of_zip,
    ships_json,
)
from lambdalayer.check.request import CheckRequest
from lambdalayer.cli import attach as cli_attach
from lambdalayer.cli import invoke as cli_invoke
from lambdalayer.cli import plan as cli_plan
from lambdalayer.cli import publish as cli_publish
from lambdalayer.cli.common import EXIT_ERROR, EXIT_OK, print_json, stderr
from lambdalayer.cli.options import (
    add_aws,
    add_publish_settings,
    add_recipe,
    add_requirement_inputs,
    add_sources,
    add_strict,
    add_targets,
    aws_settings,
    input_flags,
    refuse_unread,
    regions_of,
    slim_options,
    source_flags,
    split,
    unread_options,
)
from lambdalayer.cli.report import write_report
from lambdalayer.cli.text import (
    print_build,
    print_check_report,
    print_matrix,
    print_matrix_details,
    print_shipped,
    print_timings,
)
from lambdalayer.errors import InputError, LambdaLayerError
from lambdalayer.fsutil import PROVENANCE, remove_empty_dirs
from lambdalayer.inputs.config import load_config
from lambdalayer.inputs.policy import AuditPolicy, FailOn, with_flags
from lambdalayer.layer.output import TreeOutput, check_one_set
from lambdalayer.net.index import IndexConfig
from lambdalayer.report import BuildFacts, WhatShips, layer_report
from lambdalayer.supply.review import enforce, enforce_each
from lambdalayer.supply.sbom import SbomFormat
from lambdalayer.trim.manifest import read_manifest

DESCRIPTION = "Resolve, download and lay out wheels as a Lambda layer .zip."
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


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``build``'s arguments, in groups."""
    add_requirement_inputs(parser)
    parser.add_argument(
        "--from-lock",
        type=Path,
        metavar="FILE",
        help="skip resolution: build exactly this pylock.toml",
    )
    parser.add_argument(
        "--function",
        type=Path,
        metavar="SRC",
        help="build a function .zip: dependencies at the root beside SRC's code",
    )
    parser.add_argument(
        "--handler",
        metavar="MODULE.FUNCTION",
        help="the function's handler, verified in the built zip",
    )
    add_targets(parser)
    _add_outputs(parser)
    add_sources(parser)
    add_recipe(parser)
    add_strict(
        parser,
        "exit non-zero when a part of the check is not verified (the imports did not run), not"
        " only when one failed, and with --audit when a distribution could not be looked up;"
        " for CI (the configuration's strict = true does the same)",
    )
    _add_reporting(parser)
    _add_ships(parser)
    fleet = parser.add_argument_group("many functions (see 'plan --help')")
    fleet.add_argument(
        "--all",
        action="store_true",
        help="build every layer and function package of the repository's plan (its deploy files"
        " or [tool.lambdalayer.functions]), each once",
    )
    fleet.add_argument(
        "--deploy-file", action="append", default=[], type=Path, metavar="FILE", help="with --all"
    )
    fleet.add_argument("--only-target", metavar="RUNTIME-CPU", help="with --all: one target's")
    cli_plan.add_fleet_build(fleet, recipe=False)
    parser.add_argument(
        "--publish", metavar="NAME", help="publish the built layer as NAME (see 'publish --help')"
    )
    parser.add_argument(
        "--attach", metavar="FUNCTION", help="then make FUNCTION use it (needs --publish)"
    )
    invoking = parser.add_argument_group("invoking the built function (see 'invoke --help')")
    invoking.add_argument(
        "--invoke",
        metavar="EVENT.json",
        help="with --function and --handler: then call the handler with this event (- for stdin)",
    )
    cli_invoke.add_limits(invoking)
    add_publish_settings(parser)
    add_aws(parser, regions=True)


def _add_outputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--trim",
        type=Path,
        metavar="FILE",
        help="keep only what this lambdalayer.trim.toml keeps (written by 'lambdalayer trim');"
        " --keep GLOB keeps more",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="the zip to write, for one target (default for requirements, a lock or a function"
        " named here: layer.zip or function.zip; a project's own build writes --output-dir); a"
        " directory (DIR/ with a trailing slash, or one that exists) gets the layer's files"
        " instead, for SAM and CDK. The zip and its --lock, --sbom, --provenance and --report"
        " are one set: each path is checked before anything is resolved, and if one cannot be"
        " written, every one is put back as it was",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="where a project's build and several targets' zips go, each with its lock"
        " (default: dist)",
    )
    parser.add_argument(
        "--lock",
        type=Path,
        metavar="FILE",
        help="also write the target's pylock.toml (PEP 751) to FILE",
    )


def _add_reporting(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--print",
        dest="print_field",
        choices=["path", "sha256", "base64sha256", "terraform"],
        help="print only this, for scripts: the output's path, the zip's sha256, its base64sha256"
        " (Lambda's CodeSha256, Terraform's filebase64sha256), or 'terraform': one flat JSON object"
        " of strings for Terraform's external data source",
    )
    parser.add_argument(
        "--report",
        type=Path,
        metavar="FILE.html",
        help="also write the layer's size report (see 'lambdalayer report --help')",
    )
    parser.add_argument(
        "--timings",
        action="store_true",
        help="print where the build's time went, per stage (always in --json)",
    )


def _add_ships(parser: argparse.ArgumentParser) -> None:
    ships = parser.add_argument_group("what ships (see 'sbom', 'audit' and 'verify --help')")
    ships.add_argument(
        "--sbom",
        type=Path,
        metavar="FILE|DIR",
        help="also write the layer's SBOM; a run of several zips writes one per zip in DIR,"
        " named as the zip (NAME-TARGET.cdx.json or .spdx.json)",
    )
    ships.add_argument(
        "--sbom-format",
        choices=SbomFormat.choices(),
        default=SbomFormat.CYCLONEDX.value,
        help="CycloneDX 1.6 (default) or SPDX 2.3 JSON",
    )
    ships.add_argument(
        "--audit",
        action="store_true",
        help="look what ships up in the index's vulnerability data; check licences",
    )
    ships.add_argument("--fail-on", choices=[item.value for item in FailOn], help="see 'audit'")
    ships.add_argument(
        "--deny-licence", action="append", default=[], metavar="SPDX-ID", help="see 'audit'"
    )
    ships.add_argument(
        "--provenance",
        action="store_true",
        help="also write an in-toto/SLSA provenance statement beside the zip (ZIP.intoto.json)",
    )
    ships.add_argument(
        "--signing-key",
        type=Path,
        metavar="PEM",
        help="sign the provenance (a DSSE envelope) with this ed25519 private key",
    )


def ships_request(args: argparse.Namespace) -> ShipsRequest | None:
    """What ``--sbom``, ``--audit`` and ``--provenance`` ask of the build (None: nothing);
    where the SBOMs go is checked once the zips are known (:func:`_check_sbom`)."""
    if args.signing_key and not args.provenance:
        raise InputError("--signing-key signs the provenance: add --provenance")
    if not (args.sbom or args.audit or args.provenance):
        return None
    policy = None
    if args.audit:
        config = load_config(args.project or Path())
        policy = with_flags(
            config.audit if config else AuditPolicy(),
            args.fail_on,
            tuple(args.deny_licence),
            strict=args.strict,
            config_strict=bool(config and config.strict),
        )
    return ShipsRequest(
        args.sbom, SbomFormat(args.sbom_format), policy, args.provenance, args.signing_key
    )


def _check_sbom(args: argparse.Namespace, plan: BuildPlan) -> None:
    """``--sbom``'s path with several zips, before anything is built: a directory where each
    zip's SBOM is named as the zip (:func:`sbom_of_zip`). One zip's SBOM file is checked
    with the other files the build writes (:func:`_written_paths`)."""
    if args.sbom is None or plan.single:
        return
    zips = [job.request.output.path for job in plan.jobs]
    locks = [lock for job in plan.jobs if (lock := job.request.lock_output) is not None]
    outputs = [("--output-dir", path) for path in (*zips, *locks)]
    check_sbom_directory(args.sbom, SbomFormat(args.sbom_format), zips, outputs)


def _written_paths(plan: BuildPlan, written: _Written) -> list[tuple[str, Path]]:
    """Every file the builds of ``plan`` write — each zip, its lock and companions — with
    the option naming it, for :func:`check_one_set`. Refused first: ``--sbom``,
    ``--audit``, ``--provenance`` and ``--report`` with ``-o DIR/`` (they read a zip)."""
    named: list[tuple[str, Path]] = []
    for job in plan.jobs:
        output, lock = job.request.output, job.request.lock_output
        if isinstance(output, TreeOutput):
            given = [flag for flag, on in written.reading_the_zip() if on]
            if given:
                raise _reads_the_zip(given, output.path)
        else:
            named.append(("-o" if plan.single else "--output-dir", output.path))
        if lock is not None:
            named.append(("--lock" if plan.single else "--output-dir", lock))
        named += written.named(output.path)
    return named


# What a user runs on a built zip for each option that reads it (a provenance has none).
_ON_A_ZIP = {"--sbom": "sbom", "--audit": "audit", "--report": "report"}


def _reads_the_zip(given: list[str], directory: Path) -> InputError:
    """The one error for ``given`` options that read the built zip, with ``-o DIR/``."""
    options = " and ".join([", ".join(given[:-1]), given[-1]] if len(given) > 1 else given)
    commands = [f"'lambdalayer {_ON_A_ZIP[flag]}'" for flag in given if flag in _ON_A_ZIP]
    run = f", or run {' and '.join(commands)} on one" if commands else ""
    return InputError(
        f"{options} {'read' if len(given) > 1 else 'reads'} the built zip, but -o"
        f" {directory}/ writes the layer's files, not a zip",
        hint=f"build a zip (-o FILE.zip){run}",
    )


@dataclasses.dataclass
class _Written:
    """What ``build`` writes for each zip once it is in place — its SBOM, provenance (the
    audit with them) and ``--report`` — as the build's companions: under the same hold of the
    output as the zip, and put back with it if one cannot be written. What ships, by zip."""

    args: argparse.Namespace
    request: ShipsRequest | None
    single: bool
    shipped: dict[Path, Ships] = dataclasses.field(default_factory=dict)

    def companions(self) -> Companions | None:
        """The companions to build with (None: nothing is written beside the zips)."""
        if self.request is None and self.args.report is None:
            return None
        return Companions(self.paths, self.write)

    def _sbom(self, output: Path) -> Path | None:
        request = self.request
        if request is None or request.sbom is None:
            return None
        return (
            request.sbom if self.single else sbom_of_zip(request.sbom, output, request.sbom_format)
        )

    def named(self, output: Path) -> list[tuple[str, Path]]:
        """Every file written for the zip at ``output``, with the option naming it."""
        sbom, report = self._sbom(output), self.args.report if self.single else None
        provenance = provenance_path(output) if self.request and self.request.provenance else None
        named = (("--sbom", sbom), (PROVENANCE, provenance), ("--report", report))
        return [(what, path) for what, path in named if path is not None]

    def paths(self, output: Path) -> list[Path]:
        """Every file written for the zip at ``output``."""
        return [path for _, path in self.named(output)]

    def reading_the_zip(self) -> list[tuple[str, bool]]:
        """Each option that reads the built zip, and whether it was given."""
        request = self.request
        return [
            ("--sbom", request is not None and request.sbom is not None),
            ("--audit", request is not None and request.audit is not None),
            ("--provenance", request is not None and request.provenance),
            ("--report", self.args.report is not None),
        ]

    def write(self, result: BuildResult) -> None:
        """Write the SBOM and provenance of ``result``, audit it, then write its report."""
        ships = None
        if self.request is not None:
            index_url = IndexConfig.from_options(self.args.index_url).urls[0]
            request = dataclasses.replace(self.request, sbom=self._sbom(result.output))
            ships = self.shipped[result.output] = after_build(result, request, index_url)
        if self.single and self.args.report is not None:
            _write_build_report(self.args.report, result, ships)


def flags_of(args: argparse.Namespace) -> Flags:
    """The command line's answers as the plan's typed flags."""
    slim = slim_options(args)
    return Flags(
        inputs=input_flags(args),
        runtimes=split(args.runtime),
        arches=split(args.arch),
        targets=split(args.target),
        sources=source_flags(args),
        recipe=RecipeFlags(
            args.layout, args.bytecode, args.python, slim, not args.no_check, args.strict
        ),
        outputs=OutputFlags(args.output, args.output_dir, args.lock),
    )


# An option → the option it works with: given without it, it would be ignored.
_NEEDS = {
    **dict.fromkeys(("deploy_file", "only_target", "cache_url", "changed_since"), ("all", "--all")),
    **dict.fromkeys(("fail_on", "deny_licence"), ("audit", "--audit")),
    "sbom_format": ("sbom", "--sbom"),
    **dict.fromkeys(
        ("memory", "timeout", "ephemeral_storage", "env", "repeat", "log_format"),
        ("invoke", "--invoke"),
    ),
    **dict.fromkeys(
        (
            "description",
            "license_info",
            "s3_bucket",
            "force",
            "public",
            "account",
            "org",
            "signing_profile",
            "regions",
        ),
        ("publish", "--publish"),
    ),
}


def execute(args: argparse.Namespace) -> int:
    """Run ``build``."""
    if args.all:
        return _build_all(args)
    refuse_unread(args, configure_parser, _NEEDS)
    if args.invoke and not (args.function and args.handler):
        raise InputError(
            "--invoke calls the built function: it needs --function SRC and --handler M.F",
            hint="or build the layer, then: lambdalayer invoke M.F --function SRC --layer layer.zip",
        )
    if args.attach and not args.publish:
        raise LambdaLayerError(
            "--attach needs --publish NAME", hint="or use 'lambdalayer attach FUNCTION --layer ARN'"
        )
    plan = plan_builds(flags_of(args))
    ships = ships_request(args)
    _check_sbom(args, plan)
    if args.trim is not None:  # read (and a bad one refused) before anything is built
        manifest = read_manifest(args.trim).with_keep(tuple(args.keep))
        jobs = tuple(
            dataclasses.replace(job, request=dataclasses.replace(job.request, trim=manifest))
            for job in plan.jobs
        )
        plan = dataclasses.replace(plan, jobs=jobs)
    if plan.defaulted_runtime is not None:
        stderr(f"runtime: {plan.defaulted_runtime.name}, the newest (--runtime to choose another)")
    if args.publish and not plan.single:
        raise InputError(
            "--publish takes one built layer; build one target, or publish each zip with"
            " 'lambdalayer publish'"
        )
    for flag, value, instead in (
        ("--print", args.print_field, "read each zip's row in --json"),
        ("--report", args.report, "run 'lambdalayer report' on each zip"),
        ("--invoke", args.invoke, "run 'lambdalayer invoke' with each zip"),
    ):
        if value and not plan.single:
            raise InputError(
                f"{flag} takes one built zip, but this run builds {len(plan.jobs)}",
                hint=f"build one target, or {instead}",
            )
    # Every file the builds write is checked (and its directory proved writable) before
    # anything is resolved; directories made for them go again if nothing is written there.
    written = _Written(args, ships, plan.single)
    created = check_one_set(_written_paths(plan, written))
    try:
        outcomes = run_jobs(plan.jobs, stderr, written.companions())
    finally:
        remove_empty_dirs(created)
    return _said(args, plan, outcomes, written)


def _said(
    args: argparse.Namespace, plan: BuildPlan, outcomes: list[Outcome], written: _Written
) -> int:
    """What the builds made and what ships, printed; the exit code (an audit that fails its
    policy raises, after everything is written)."""
    for outcome in outcomes:  # each audit under its own header, in the jobs' order
        if outcome.result is not None and outcome.result.output in written.shipped:
            print_shipped(written.shipped[outcome.result.output], review=not args.json)
    if plan.single:
        result = outcomes[0].result
        shipped = written.shipped.get(result.output) if result else None
        if shipped is not None and shipped.review is not None and args.json:
            # stdout holds one JSON object: a failure's is the error's, with the review
            enforce(shipped.review)
        code = _report_one(args, outcomes[0])
        if shipped is not None and shipped.review is not None:
            enforce(shipped.review)
        return code
    return _report_matrix(args, outcomes, written.shipped)


# What ``build --all`` reads (``plan --build``'s options, what ships, --strict); any other
# option given with it is refused, never ignored.
_ALL_READS = frozenset(
    {
        "all",
        "project",
        "deploy_file",
        "only_target",
        "index_url",
        "extra_index_url",
        "cache_dir",
        "no_build",
        "output_dir",
        "bytecode",
        "python",
        "no_check",
        "strict",
        "cache_url",
        "changed_since",
        "sbom",
        "sbom_format",
        "audit",
        "fail_on",
        "deny_licence",
        "provenance",
        "signing_key",
        "region",
        "profile",
        "endpoint_url",
    }
)


def _build_all(args: argparse.Namespace) -> int:
    """``build --all``: the plan of every function, built; other inputs do not mix with it.

    ``--sbom DIR``, ``--audit`` and ``--provenance`` apply to every zip of the plan, as to a
    matrix's: with ``--provenance`` every zip is built in this run (a provenance attests a
    build made here), so it does not mix with ``--changed-since`` or ``--cache-url``.
    """
    given = unread_options(args, configure_parser, _ALL_READS)
    if given:
        raise InputError(
            f"--all builds what the deploy files (or [tool.lambdalayer.functions]) say; {given[0]}"
            " does not mix with it",
            hint="drop it, or build one layer without --all",
        )
    refuse_unread(args, configure_parser, {**_NEEDS, **cli_plan.AWS_NEEDS})
    ships = ships_request(args)
    if ships is not None and ships.provenance:
        other = (
            "--changed-since" if args.changed_since else "--cache-url" if args.cache_url else None
        )
        if other is not None:
            raise InputError(
                f"--provenance attests a build made in this run, of every zip; {other} leaves"
                " zips as they were or takes them from elsewhere",
                hint=f"drop {other} to build (and attest) every zip here, or drop --provenance",
            )
    return cli_plan.plan_and_build(args, cli_plan.fleet_of(args), ships)


def _report_matrix(
    args: argparse.Namespace, outcomes: list[Outcome], shipped: dict[Path, Ships]
) -> int:
    failing = {
        output: ships.review
        for output, ships in shipped.items()
        if ships.review is not None and ships.review.failures()
    }
    if args.json:
        rows = [_matrix_row(outcome, shipped) for outcome in outcomes]
        # "ok" only when every build was made and every check that ran passed in every part
        verified = all(row["verdict"] in ("passed", None) for row in rows)
        made = not any(o.error for o in outcomes) and not failing
        print_json({"ok": verified and made, "builds": rows})
    else:
        for outcome in outcomes:
            label = f"{outcome.job.name} {outcome.job.request.target.name}"
            if (report := outcome.failed_check) is not None:
                stderr(f"findings: [{label}]")
                print_check_report(report, sys.stderr)
        print_matrix(outcomes)
        print_matrix_details(outcomes, timings=args.timings)
        # One error line naming each zip whose audit fails (after the table).
        enforce_each(
            {out.name: ships.review for out, ships in shipped.items() if ships.review is not None}
        )
    return EXIT_ERROR if any(outcome.error for outcome in outcomes) or failing else EXIT_OK


def _matrix_row(outcome: Outcome, shipped: dict[Path, Ships]) -> dict[str, object]:
    """One build of a matrix as JSON: its check in one place, passed or failed; what ships."""
    result = outcome.result.to_json() if outcome.result else None
    check = result.pop("check", None) if result else None
    if check is None and (failed := outcome.failed_check) is not None:
        check = failed.to_json()
    ships = shipped.get(outcome.result.output) if outcome.result else None
    return {
        "name": outcome.job.name,
        "target": outcome.job.request.target.to_json(),
        "ok": outcome.error is None and not (ships and ships.review and ships.review.failures()),
        "verdict": check.get("verdict") if isinstance(check, dict) else None,
        "result": result,
        "check": check,
        "error": outcome.error.message if outcome.error else None,
        "hint": outcome.error.hint if outcome.error else None,
        **ships_json(ships),
    }


def _write_build_report(path: Path, result: BuildResult, shipped: Ships | None) -> None:
    request = CheckRequest(result.target, beneath=result.beneath, imports=None)
    built = BuildFacts(
        result.check_report,
        result.layer.sizes,
        result.sha256,
        result.contents.saved,
        result.request.lock_output,
    )
    report = layer_report(result.output, request, built)
    ships = (
        WhatShips(shipped.inventory, shipped.review)
        if shipped
        else WhatShips(build_inventory(result))
    )
    write_report(dataclasses.replace(report, ships=ships), path)
    stderr(f"report: {path}")


def printed_field(result: BuildResult, field: str) -> str:
    """What ``--print FIELD`` prints: one value, or Terraform's flat JSON of strings."""
    values = {
        "path": str(result.output),
        "sha256": result.sha256,
        "base64sha256": result.base64sha256,
    }
    if field == "terraform":
        flat = {
            **values,
            "target": result.target.name,
            "zipped_bytes": str(result.layer.stats.zipped_bytes),
        }
        return json.dumps(flat, sort_keys=True)
    return values[field]


def _report_one(args: argparse.Namespace, outcome: Outcome) -> int:
    result = outcome.result
    if result is None:  # pragma: no cover - a single job raises instead
        raise LambdaLayerError("the build produced nothing")
    if args.print_field:
        print(printed_field(result, args.print_field))
    elif args.json:
        print_json({"ok": True, **result.to_json()})
    else:
        # With --invoke, stdout is the handler's result; the summary goes to stderr.
        with contextlib.redirect_stdout(sys.stderr) if args.invoke else contextlib.nullcontext():
            print_build(result)
            if args.timings:
                print_timings(result, sys.stdout)
    delivered = deliver(result, _delivery(args), stderr, cli_publish.progress)
    if delivered.invoked is not None:
        return cli_invoke.print_invocations(delivered.invoked, as_json=args.json)
    return _print_delivered(args, delivered)


def _delivery(args: argparse.Namespace) -> Delivery:
    """What ``--publish``/``--attach`` or ``--invoke`` ask of the built zip."""
    invoking = None
    if args.invoke:
        event = cli_invoke.event_bytes(args.invoke)
        invoking = Invoking(event, cli_invoke.config_of(args), args.repeat, args.python)
    publish = cli_publish.publish_request(args, Path(), args.publish) if args.publish else None
    regions = tuple(regions_of(args))
    return Delivery(aws_settings(args), publish, regions, args.attach, invoking)


def _print_delivered(args: argparse.Namespace, delivered: Delivered) -> int:
    """Each region's version, then what attaching changed; the exit code."""
    if not delivered.published:
        return EXIT_OK
    # With --json, publishing says its lines on stderr, so that stdout stays one JSON object.
    out = sys.stderr if args.json else sys.stdout
    code = cli_publish.print_published(delivered.published, out)
    for arn, attached in delivered.attached:
        cli_attach.print_attached(args.attach, arn, attached, out)
    if delivered.attach_error is not None:
        raise delivered.attach_error
    return code
