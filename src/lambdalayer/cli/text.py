"""Text output of the CLI: build summaries, check reports, the matrix table."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from lambdalayer.check.findings import CheckReport, Finding, Severity, Verdict
from lambdalayer.check.sizes import human_bytes
from lambdalayer.cli.common import Output, stderr, warn
from lambdalayer.cli.flags import in_flags
from lambdalayer.inputs.policy import FailOn
from lambdalayer.supply.review import Review, audit_lines
from lambdalayer.wording import counted
from lambdalayer.zipnames import printable

SLIM_NOISE = 1024  # bytes: a slimming rule that saved less is not named in the summary

if TYPE_CHECKING:
    from lambdalayer.builder import BuildResult
    from lambdalayer.builder.matrix import Outcome
    from lambdalayer.builder.ships import Ships


def print_timings(result: BuildResult, stream: TextIO) -> None:
    """Where the build's time went, one stage per line, with its share."""
    total = result.seconds or 1.0
    print(
        f"timings ({result.seconds:.2f} s in all;"
        f" {counted(result.contents.fragments_computed, 'wheel')}"
        " prepared):",
        file=stream,
    )
    for stage, seconds in result.timings.items():
        print(f"  {stage:<10} {seconds:7.2f} s  {seconds / total:4.0%}", file=stream)


def print_build(result: BuildResult) -> None:
    """The summary of one build: target, packages, sizes, hashes, what was left out, the check."""
    target = result.target
    runtime = target.runtime
    glibc = ".".join(map(str, target.glibc_floor))
    for notice in result.notices:
        warn(f"notice: {notice}")
    what = "the layer's files into" if result.output.is_dir() else ""
    print(
        f"built {what + ' ' if what else ''}{result.output} for {runtime.name} on {target.arch}"
        f" (Python {runtime.python_version}, {runtime.os}, glibc {glibc})"
    )
    # Sizes as the layer has them (after slimming, bytecode included), per distribution.
    in_layer = {row.name: row for row in result.layer.sizes.distributions}
    name_width = max([0, *(len(dist.name) for dist in result.distributions)])
    version_width = max([7, *(len(dist.version) for dist in result.distributions)])
    name_width = max(name_width, 7)
    if result.distributions:
        print(f"  {'package':<{name_width}}  {'version':<{version_width}}  {'unzipped':>10}  wheel")
    for dist in result.distributions:
        row = in_layer.get(dist.name)
        size = human_bytes(row.unzipped) if row else human_bytes(dist.unzipped_bytes)
        print(
            f"  {dist.name:<{name_width}}  {dist.version:<{version_width}}  {size:>10} "
            f" {dist.wheel}"
        )
    for note in result.locked.notes:
        print(f"  note: {note.package} {note.chosen}, not {note.newest}: {note.reason}")
    stats, fetched = result.layer.stats, result.fetched
    print(
        f"size: {human_bytes(stats.zipped_bytes)} zipped, {human_bytes(stats.unzipped_bytes)}"
        " unzipped,"
        f" {counted(stats.files, 'file')}; {fetched.downloads} downloaded"
        f" ({human_bytes(fetched.downloaded_bytes)})"
        f" in {result.seconds:.1f} s"
    )
    print(f"sha256: {result.sha256}  base64sha256: {result.base64sha256}")
    if result.locked.sources:
        left = (
            ", ".join(
                f"{name} {version}" for name, version in sorted(result.locked.provided.items())
            )
            or "nothing needed"
        )
        by = " and ".join(provided.source for provided in result.locked.sources)
        print(f"left out, provided by {by}: {left}")
    for arn, ssm in result.base_layers:
        where = f" (this release's version number: SSM parameter {ssm})" if ssm else ""
        print(f"attach with it: {arn}{':<version>' if ssm else ''}{where}")
    worth_saying = {
        rule: size for rule, size in result.contents.saved.items() if size >= SLIM_NOISE
    }
    if worth_saying:  # a rule that saved under 1 KiB is noise here (--json has every one)
        saved = ", ".join(
            f"{rule} {human_bytes(size)}" for rule, size in sorted(worth_saying.items())
        )
        print(f"slimmed: {saved}")
    if result.contents.compiled and result.compiler is not None:
        print(
            f"bytecode: {counted(result.contents.compiled, 'module')} compiled by {result.compiler.path}"
            f" ({result.layer.bytecode})"
        )
    if result.request.lock_output:
        print(f"lock: {result.request.lock_output}")
    if result.check_report is not None:
        print_check_report(result.check_report, sys.stdout)


def print_review(result: Review, notes: Sequence[str] = ()) -> None:
    """An audit's lines: what is vulnerable, ignored, not verified; licences; one closing line."""
    inventory = result.inventory
    shipped = result.shipped
    where = f"{shipped.api}'s JSON API" if shipped.api else "no JSON API"
    print(
        f"audit of {inventory.artefact.name}"
        f"{f' ({inventory.target})' if inventory.target else ''}:"
        f" {counted(len(shipped.packages), 'distribution')} against {where}"
    )
    for line in audit_lines(shipped):
        print(printable(line))
    beside = audit_lines(result.beside)
    if beside:
        print("beside it (loaded by the function, not in the artefact; never fails the audit):")
        for line in beside:
            print(printable(line))
    unknown = result.unknown_licences
    known = len(inventory.distributions) - len(unknown)
    print(f"licences: {known} of {len(inventory.distributions)} known as SPDX expressions")
    for dist in unknown:
        declared = dist.licence.declared or "nothing"
        print(printable(f"  not known     {dist.name} {dist.version}: declares {declared}"))
    for dist in result.denied:
        print(f"  DENIED        {dist.name} {dist.version}: {dist.licence.spdx}")
    for note in notes:
        stderr(f"note: {note}")
    print(audit_verdict_line(result))


def print_shipped(ships: Ships, *, review: bool) -> None:
    """Where a zip's SBOM and provenance were written (stderr), then its audit when
    ``review`` (not with ``--json``: the JSON holds it)."""
    for what, path in (("sbom", ships.sbom), ("provenance", ships.provenance)):
        if path is not None:
            stderr(f"{what}: {path}")
    if ships.review is not None and review:
        print_review(ships.review)


def audit_verdict_line(result: Review) -> str:
    """The audit's last line, in the check's words: ``ok`` only when it passed; else failed or
    not verified, with what counted, and what fails on it when the policy did not."""
    shipped = result.shipped
    verified = len(shipped.packages) - len(shipped.not_verified)
    if result.ok:
        return f"audit ok: {verified} verified, no known vulnerabilities; no licence denied"
    counts = (
        f"{counted(len(shipped.vulnerable), 'distribution')} vulnerable,"
        f" {verified} of {len(shipped.packages)} verified,"
        f" {counted(len(result.denied), 'licence')} denied"
        + (
            f", {counted(len(result.unknown_licences), 'licence')} not known"
            if result.deny and result.unknown_licences
            else ""
        )
    )
    failing = bool(result.failures())
    if result.verdict is Verdict.FAILED:
        why = "" if failing else f" (fail-on {result.fail_on.value}: not failing)"
        return f"audit FAILED: {counts}{why}"
    if failing:
        why = ""
    elif result.fail_on is FailOn.NONE:
        why = " (fail-on none: not failing)"
    else:
        why = " (--strict or --fail-on unverified fails on this)"
    return f"audit not verified: {counts}{why}"


def print_check_report(report: CheckReport, stream: TextIO) -> None:
    """The findings (alike ones folded into one line), the imports, and the verdict."""
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
        message = in_flags(finding.message)
        line = f"{finding.severity!s:<7} {finding.kind:<11}{where} {message}{package}{more}"
        # A hostile zip's names never reach the terminal raw; a message's own line breaks (an
        # import's traceback) are kept as lines, indented, never printed as a literal \n.
        text = printable(line, keep="\n").replace("\n", "\n" + " " * 8)
        print(text, file=stream)
        if finding.fix and finding.severity is not Severity.INFO:
            print(f"        fix: {in_flags(finding.fix)}", file=stream)
    if report.imports:
        failed = [item.module for item in report.imports if not item.ok]
        where = f" ({report.imports_ran_in})" if report.imports_ran_in else ""
        print(
            f"imports: {len(report.imports) - len(failed)} of {len(report.imports)} modules"
            f" import{where}",
            file=stream,
        )
    elif report.imports_skipped and not report.unverified:
        print(f"imports: {in_flags(report.imports_skipped)}", file=stream)
    for item in report.unverified:
        print(printable(f"{item.part}: not verified: {in_flags(item.why)}"), file=stream)
        if item.how:
            print(printable(f"        to verify: {in_flags(item.how)}"), file=stream)
    print(verdict_line(report), file=stream)


def verdict_line(report: CheckReport) -> str:
    """The check's last line: ``ok`` only when every part passed; else which did not."""
    errors = len(report.errors)
    warnings = sum(finding.severity is Severity.WARNING for finding in report.findings)
    if report.verdict is Verdict.FAILED:
        verdict = "FAILED"
    elif report.verdict is Verdict.NOT_VERIFIED:
        parts = ", ".join(str(item.part) for item in report.unverified)
        verdict = f"not verified ({parts} did not run; --strict fails on this)"
    else:
        verdict = "ok"
    return (
        f"check {verdict} for {report.target.name}: {counted(errors, 'error')}, {counted(warnings, 'warning')};"
        + (f" {human_bytes(report.zipped_bytes)} zipped," if report.zipped_bytes else "")
        + f" {human_bytes(report.unzipped_bytes)} unzipped"
        + (
            f", {human_bytes(report.total_unzipped_bytes)}"
            + (
                " the whole image (its base's layers too)"
                if report.container
                else " with the other zips"
            )
            if report.total_unzipped_bytes != report.unzipped_bytes
            else ""
        )
    )


def print_matrix_details(outcomes: Sequence[Outcome], *, timings: bool) -> None:
    """Under the table, per target: what was not verified, the warnings, version notes,
    notices and (with ``timings``) where its time went — what one row cannot show."""
    for outcome in outcomes:
        result = outcome.result
        if result is None:
            continue
        lines = []
        report = result.check_report
        for item in report.unverified if report else ():
            how = f"; to verify: {in_flags(item.how)}" if item.how else ""
            lines.append(f"not verified: {item.part}: {in_flags(item.why)}{how}")
        for finding in report.findings if report else ():
            if finding.severity is Severity.WARNING:
                where = f" {finding.member}:" if finding.member else ""
                lines.append(f"warning: {finding.kind}:{where} {in_flags(finding.message)}")
        for note in result.locked.notes:
            lines.append(f"note: {note.package} {note.chosen}, not {note.newest}: {note.reason}")
        if Output.shows_warnings():  # -qq leaves notices out, as a build of one target's
            lines += [f"notice: {notice}" for notice in result.notices]
        if timings:
            stages = ", ".join(
                f"{stage} {seconds:.2f} s" for stage, seconds in result.timings.items()
            )
            lines.append(f"timings: {result.seconds:.2f} s in all: {stages}")
        if lines:
            print(f"{outcome.job.name} {outcome.job.request.target.name}:")
            for line in lines:
                print(printable(f"  {line}"))


def row_status(outcome: Outcome) -> str:
    """A matrix row's status: the check's verdict (``ok`` only when every part passed)."""
    if outcome.result is None:
        return "FAILED"
    report = outcome.result.check_report
    if report is None:
        return "unchecked"
    return "ok" if report.ok else str(report.verdict)


def print_matrix(outcomes: Sequence[Outcome]) -> None:
    """One row per artefact and target, then what failed."""
    print(
        f"{'artefact':<16} {'target':<20} {'status':<12} {'pkgs':>4} {'zipped':>10}"
        f" {'unzipped':>10}  output"
    )
    for outcome in outcomes:
        job, result = outcome.job, outcome.result
        status = row_status(outcome)
        if result is None:
            print(
                f"{job.name:<16} {job.request.target.name:<20} {status:<12} {'-':>4} {'-':>10}"
                f" {'-':>10}  -"
            )
            continue
        print(
            f"{job.name:<16} {job.request.target.name:<20} {status:<12}"
            f" {len(result.distributions):>4}"
            f" {human_bytes(result.layer.stats.zipped_bytes):>10}"
            f" {human_bytes(result.layer.stats.unzipped_bytes):>10}  {result.output}"
        )
    for outcome in outcomes:
        if outcome.error is not None:
            print(
                f"error: {outcome.job.name} {outcome.job.request.target.name}:"
                f" {outcome.error.message}",
                file=sys.stderr,
            )
            if outcome.error.hint:
                print(f"hint: {outcome.error.hint}", file=sys.stderr)
