"""The build pipeline: each stage a function of the previous stage's result.

    BuildRequest
      → provided sets (what another layer or the runtime has; AWS is read here)
      → Prepared      (:func:`lambdalayer.prepare.prepare`: the lock, the wheels, the files
                       placed for the layout — the same stage an image and the runtime's
                       own packages use)
      → WrittenLayer  (archive, then check — the zip appears only when the check passed)
      → BuildResult

:func:`build` reads as that chain. The stages are the packages below (``prepare``,
``check``) and know nothing of this order. Nothing is written at the output paths until
every stage has succeeded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from lambdalayer.aws.beneath import Beneath, fetch_beneath, provided_sets
from lambdalayer.builder.checking import Checking, build_check, prepared_check
from lambdalayer.builder.compare import compare_without_beneath
from lambdalayer.builder.request import BuildRequest
from lambdalayer.builder.result import BuildResult, WrittenLayer
from lambdalayer.cache import Cache
from lambdalayer.check.findings import CheckReport, Kind
from lambdalayer.check.sizes import layer_sizes
from lambdalayer.errors import LayerCheckError, option
from lambdalayer.layer.archive import write_placement
from lambdalayer.layer.output import LayerOutput, ZipOutput, held, one_set, stop_if
from lambdalayer.layercomment import archive_comment
from lambdalayer.limits import UNZIPPED_LIMIT, quota_text
from lambdalayer.lock import Lock
from lambdalayer.placement import read_zip
from lambdalayer.prepare import (
    Preparation,
    Prepared,
    prepare,
    reserved_lock,
    trimmed,
    write_lock,
)
from lambdalayer.progress import Notify, quiet
from lambdalayer.resolve.stage import LockSource, explained, locked
from lambdalayer.targets import Layout, Target
from lambdalayer.timings import Stopwatch
from lambdalayer.wording import counted


@dataclass(frozen=True)
class Companions:
    """What a build writes for its zip once the zip is in place (an SBOM, a provenance, a
    report): ``paths(zip)`` names every file ``write(result)`` may write for that zip. Both
    run while the build still holds its output (:func:`~lambdalayer.layer.output.held`)."""

    paths: Callable[[Path], Sequence[Path]]
    write: Callable[[BuildResult], None]


def build(
    request: BuildRequest,
    notify: Notify = quiet,
    companions: Companions | None = None,
    abandoned: threading.Event | None = None,
) -> BuildResult:
    """Build one layer zip (or directory, or function package) for ``request.target``, then
    write its ``companions``, all under one hold of the output.

    Fails with a :class:`~lambdalayer.errors.LambdaLayerError` with the output, its lock and
    its companions as they were (:func:`~lambdalayer.layer.output.one_set`); directories it
    created for them are removed again. So it does once ``abandoned`` is set (the run was
    stopped while this build runs in a worker thread, where no signal is raised): while it
    waits for another build's hold on the output, before the output is written, or when
    what is written for it ends.
    """
    watch, target = Stopwatch(), request.target
    written = [request.output.path] if isinstance(request.output, ZipOutput) else []
    written += [request.lock_output] if request.lock_output is not None else []
    written += companions.paths(request.output.path) if companions is not None else []
    # The cache is held open for the whole build: what it relies on is not pruned under it.
    with (
        Cache.open(request.cache_dir),
        request.output.reserved(),
        held(request.output.path, notify, abandoned),
        reserved_lock(request.lock_output),
        one_set(written, abandoned),
    ):
        with watch("resolve"):
            provided = provided_sets(request.beneath, target)
        preparation = Preparation(
            target, request.source, request.recipe, provided, request.cache_dir, request.jobs
        )
        prepared = prepare(preparation, notify, watch)
        if request.trim is not None:
            with watch("trim"):
                prepared = trimmed(prepared, request.trim)
        compared = compare_without_beneath(preparation, prepared, notify, watch)
        checking = None
        if request.check:
            checking = _checking(request, prepared, notify)
        stop_if(abandoned)  # a directory's files are not put back: not written at all
        try:
            layer = write_layer(request.output, prepared, checking, watch, notify)
        except LayerCheckError as error:
            if compared is not None and compared.larger:  # the fix to say first
                error.hint = f"{compared.text()}; {error.hint}" if error.hint else compared.text()
            raise
        if request.lock_output is not None:
            write_lock(request.lock_output, prepared)
        seconds = watch.elapsed()
        result = BuildResult(request, prepared, layer, seconds, watch.rounded(), compared=compared)
        if companions is not None:
            companions.write(result)
    return result


def _checking(request: BuildRequest, prepared: Prepared, notify: Notify) -> Checking:
    """How the build checks its layer: with the layers beneath it that could be had (a
    published or managed layer's zip through the Lambda API, kept by its CodeSha256)."""
    locked = prepared.locked
    missing: tuple[str, ...] = ()
    if any(item.zip_path is None and item.layer_arn for item in locked.sources):
        notify("fetching the layers beneath through the Lambda API (GetLayerVersion)")
        fetched = fetch_beneath(locked.sources, request.beneath.aws, request.cache_dir)
        locked, missing = replace(locked, sources=fetched.sources), fetched.missing
    checking = build_check(
        request.target, request.recipe, locked, request.source.index, request.cache_dir, missing
    )
    if request.beneath.layers:  # checked with exactly the layers it will have
        with_zips = (*checking.request.with_zips, *request.beneath.layers)
        checking = replace(checking, request=replace(checking.request, with_zips=with_zips))
    return replace(checking, strict=request.strict)


def write_layer(
    output: LayerOutput,
    prepared: Prepared,
    checking: Checking | None,
    watch: Stopwatch,
    notify: Notify,
) -> WrittenLayer:
    """Archive the placed files, check them (unless ``checking`` is ``None``), then put them in place."""
    recipe = prepared.recipe
    comment = archive_comment(recipe.target, recipe.layout, prepared.bytecode)
    report = None
    with output.staged() as staging:
        with watch("archive"):
            stats = write_placement(staging, prepared.contents.placement, comment=comment)
        if checking is None:
            beneath = sum(
                item.unzipped_bytes or 0
                for item in prepared.locked.sources
                if item.zip_path is None and not item.runtime
            )
            _refuse_over_quota(stats.unzipped_bytes, beneath, output.path, recipe.target)
        else:
            with watch("check"):
                placed = replace(
                    prepared.contents.placement,
                    sha256=stats.sha256,
                    zipped_bytes=stats.zipped_bytes,
                    label=output.path,
                )
                report = prepared_check(placed, checking, notify)
            if report.failed or (checking.strict and not report.ok):
                raise failed_check(report, output.path, function=recipe.layout is Layout.FUNCTION)
        with watch("archive"):  # each distribution's share of the zip, read from it
            sizes = layer_sizes(read_zip(staging, recipe.layout))
    return WrittenLayer(stats, stats.sha256, sizes, prepared.bytecode, report)


def _refuse_over_quota(unzipped_bytes: int, beneath: int, output: Path, target: Target) -> None:
    """A layer over Lambda's unzipped quota (with the layers beneath it, at least what their
    wheels unpack to) can never deploy: not written, even unchecked."""
    if unzipped_bytes + beneath > UNZIPPED_LIMIT:
        with_beneath = f" with at least {beneath:,} beneath" if beneath else ""
        raise LayerCheckError(
            f"the layer is {unzipped_bytes:,} bytes unzipped{with_beneath}, over Lambda's"
            f" {quota_text(UNZIPPED_LIMIT)} for a function and all its layers; {output} was not"
            " written",
            None,
            hint=over_quota_hint(target),
        )


def over_quota_hint(target: Target) -> str:
    """What to do about a layer over Lambda's quota: an image first, then leaving things out."""
    return (
        "build a container image instead (up to 10 GB): lambdalayer image build, with the same"
        f" requirements and {option('Target.runtime', target.runtime.name)}"
        f" {option('Target.arch', target.arch)}, then"
        f" {option('ImageOutputs.push', 'REGISTRY/REPOSITORY:TAG')} or"
        f" {option('ImageOutputs.archive', 'image.tar')}; or leave out what another layer or the"
        f" runtime provides ({option('Beneath.on_top_of')},"
        f" {option('Beneath.runtime_provided', True)})"
    )


def failed_check(report: CheckReport, output: Path, *, function: bool) -> LayerCheckError:
    """The error of a build whose check failed, with a hint that fits what failed."""
    over_quota = any(finding.kind is Kind.SIZE for finding in report.errors)
    what = "the function package" if function else "the layer"
    if not report.failed:  # strict, and a part did not run
        parts = ", ".join(f"{item.part} ({item.why})" for item in report.unverified)
        how = "; ".join(item.how for item in report.unverified if item.how)
        return LayerCheckError(
            f"{what} passed every part of its check that ran, but strict mode wants every part"
            f" verified: {parts} not verified; {output} was not written",
            report,
            hint=how or "each part not verified says why it did not run",
        )
    if over_quota and len(report.errors) == 1:
        hint = f"{what} is over Lambda's quota and cannot deploy: {over_quota_hint(report.target)}"
    elif over_quota:
        hint = f"{what} is over Lambda's quota, and each other finding says what to fix"
    elif function:
        hint = (
            "each finding says what to fix: a handler that does not import here fails on Lambda too"
        )
    else:
        hint = f"each finding says what to fix; {option('BuildRequest.check', False)} writes the layer anyway"
    return LayerCheckError(
        f"{what} fails {counted(len(report.errors), 'check')} for {report.target.name};"
        f" {output} was not written",
        report,
        hint=hint,
    )


def lock_for(
    source: LockSource, target: Target, beneath: Beneath, cache_dir: Path, notify: Notify = quiet
) -> Lock:
    """The lock ``build`` would build for ``target``, without building anything."""
    with Cache.open(cache_dir):
        result = locked(source, target, provided_sets(beneath, target), cache_dir, notify)
        return explained(result, source, target, cache_dir).lock
