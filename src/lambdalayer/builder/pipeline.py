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

from dataclasses import replace
from pathlib import Path

from lambdalayer.aws.beneath import Beneath, provided_sets
from lambdalayer.builder.checking import Checking, build_check, prepared_check
from lambdalayer.builder.request import BuildRequest
from lambdalayer.builder.result import BuildResult, WrittenLayer
from lambdalayer.cache import Cache
from lambdalayer.check.findings import CheckReport, Kind
from lambdalayer.check.sizes import layer_sizes
from lambdalayer.errors import LayerCheckError, option
from lambdalayer.layer.archive import write_placement
from lambdalayer.layer.output import LayerOutput
from lambdalayer.layercomment import archive_comment
from lambdalayer.limits import UNZIPPED_LIMIT
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
from lambdalayer.resolve.provided import Provided
from lambdalayer.resolve.stage import LockSource, explained, locked
from lambdalayer.targets import Layout, Target
from lambdalayer.timings import Stopwatch


def build(request: BuildRequest, notify: Notify = quiet) -> BuildResult:
    """Build one layer zip (or directory, or function package) for ``request.target``.

    Fails with a :class:`~lambdalayer.errors.LambdaLayerError` before anything is written at
    the output or the lock; directories it created for them are removed again.
    """
    watch, target = Stopwatch(), request.target
    # The cache is held open for the whole build: what it relies on is not pruned under it.
    with (
        Cache.open(request.cache_dir),
        request.output.reserved(),
        reserved_lock(request.lock_output),
    ):
        with watch("resolve"):
            provided = provided_sets(request.beneath, target)
        prepared = prepare(_preparation(request, provided), notify, watch)
        if request.trim is not None:
            with watch("trim"):
                prepared = trimmed(prepared, request.trim)
        checking = None
        if request.check:
            index = request.source.index
            checking = build_check(
                target, request.recipe, prepared.locked, index, request.cache_dir
            )
            if request.beneath.layers:  # checked with exactly the layers it will have
                with_zips = (*checking.request.with_zips, *request.beneath.layers)
                checking = replace(checking, request=replace(checking.request, with_zips=with_zips))
        layer = write_layer(request.output, prepared, checking, watch, notify)
        if request.lock_output is not None:
            write_lock(request.lock_output, prepared)
    seconds = watch.elapsed()
    return BuildResult(request, prepared, layer, seconds, watch.rounded())


def _preparation(request: BuildRequest, provided: tuple[Provided, ...]) -> Preparation:
    """What a build prepares: its target, source and recipe, with what is beneath."""
    return Preparation(
        request.target, request.source, request.recipe, provided, request.cache_dir, request.jobs
    )


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
            _refuse_over_quota(stats.unzipped_bytes, output.path, recipe.target)
        else:
            with watch("check"):
                placed = replace(
                    prepared.contents.placement,
                    sha256=stats.sha256,
                    zipped_bytes=stats.zipped_bytes,
                    label=output.path,
                )
                report = prepared_check(placed, checking, notify)
            if not report.ok:
                raise failed_check(report, output.path, function=recipe.layout is Layout.FUNCTION)
        with watch("archive"):  # each distribution's share of the zip, read from it
            sizes = layer_sizes(read_zip(staging, recipe.layout))
    return WrittenLayer(stats, stats.sha256, sizes, prepared.bytecode, report)


def _refuse_over_quota(unzipped_bytes: int, output: Path, target: Target) -> None:
    """A layer over Lambda's unzipped quota can never deploy: not written, even unchecked."""
    if unzipped_bytes > UNZIPPED_LIMIT:
        raise LayerCheckError(
            f"the layer is {unzipped_bytes:,} bytes unzipped, over Lambda's {UNZIPPED_LIMIT:,} for"
            f" a function and all its layers; {output} was not written",
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
        f"{what} fails {len(report.errors)} check(s) for {report.target.name}; {output} was not"
        " written",
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
