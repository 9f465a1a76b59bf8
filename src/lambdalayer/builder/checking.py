"""How a build's files are checked: the request, and what the check needs prepared first.

The check itself fetches nothing (:mod:`lambdalayer.check`). What it needs from the network —
the runtime's own packages, mounted at ``/var/runtime`` — is prepared here, before it runs:
for a function package (its handler may import boto3 from the runtime, as on Lambda) and
for a layer built on the runtime's own SDK (``--exclude-runtime-provided``); for anything
else only when the check said modules failed for want of them, then it runs again with them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from lambdalayer.builder.provision import with_interpreter
from lambdalayer.check.cache import checked
from lambdalayer.check.findings import CheckReport
from lambdalayer.check.providers import index_asker
from lambdalayer.check.request import CheckRequest, ImportOptions
from lambdalayer.check.rules import check
from lambdalayer.environment.image import cached_image
from lambdalayer.environment.runtimepkgs import runtime_tree
from lambdalayer.errors import LambdaLayerError
from lambdalayer.fsutil import file_sha256
from lambdalayer.net.index import IndexConfig
from lambdalayer.placement import Placement, read_zip
from lambdalayer.prepare import BuildRecipe
from lambdalayer.progress import Notify, quiet
from lambdalayer.resolve.stage import Locked
from lambdalayer.targets import Layout, Target


@dataclass(frozen=True)
class Checking:
    """The check of a built layer, and the cache its report is kept in."""

    request: CheckRequest
    cache_dir: Path
    index: IndexConfig  # where the runtime's own packages come from, when they are needed
    runtime_first: bool = False  # prepare them before the check (see prepared_check)
    remember: bool = True  # reports kept in (and taken from) the cache
    strict: bool = False  # a part not verified fails, as an error does


def build_check(
    target: Target,
    recipe: BuildRecipe,
    lock: Locked,
    index: IndexConfig,
    cache_dir: Path,
    missing: tuple[str, ...] = (),
) -> Checking:
    """How a build checks what it made: with the layers beneath it that are on this machine.

    The imports run with the layer's own CPython (``recipe.python``), in an image pulled
    into the cache before if there is one; a layer relying on another that is not on this
    machine (the managed layer, when the Lambda API could not give it: ``missing`` says
    why) skips them and says why; the runtime's own packages are fetched from the build's
    index when a module needs them (:mod:`lambdalayer.environment.runtimepkgs`).
    """
    absent = [item.source for item in lock.sources if item.zip_path is None and not item.runtime]
    why = f" ({'; '.join(missing)})" if missing else ""
    skipped = (
        f"the layer relies on {' and '.join(absent)}, which is not on this machine{why}"
        if absent
        else None
    )
    how = (
        "give AWS credentials and a region (AWS_PROFILE, AWS_REGION): the layer's content is"
        " fetched with GetLayerVersion and checked beneath"
        if absent
        else None
    )
    checking = CheckRequest(
        target,
        with_zips=tuple(provided.zip_path for provided in lock.sources if provided.zip_path),
        function=recipe.layout is Layout.FUNCTION,
        handler=recipe.function.handler if recipe.function else None,
        beneath=tuple(
            (provided.source, provided.unzipped_bytes)
            for provided in lock.sources
            if provided.zip_path is None and provided.unzipped_bytes
        ),
        imports=ImportOptions(
            python=recipe.python,
            image=cached_image(cache_dir, target),
            skipped=skipped,
            skipped_how=how,
        ),
    )
    # A function's handler may import the runtime's own SDK; a layer may leave it out for it.
    runtime_first = checking.function or any(item.runtime for item in lock.sources)
    return Checking(checking, cache_dir, index, runtime_first)


def prepared_check(placement: Placement, checking: Checking, notify: Notify = quiet) -> CheckReport:
    """The check of ``placement`` (or its cached report), with the runtime's own packages
    prepared first when it is known to need them, or when it said it did."""
    request = checking.request
    options = request.imports
    if options is not None:
        options = with_interpreter(options, request.target, checking.cache_dir, notify)
        request = replace(request, imports=options)
    if options is not None and options.runtime is None and checking.runtime_first:
        request = replace(request, imports=_with_runtime(options, request.target, checking))
    report = _checked(placement, request, checking, notify)
    options = request.imports
    tried = options is not None and (options.runtime or options.runtime_unavailable)
    if report.runtime_wanted and options is not None and not tried:
        notify(f"{', '.join(report.runtime_wanted)}: checked again with the runtime's own packages")
        again = replace(request, imports=_with_runtime(options, request.target, checking))
        report = _checked(placement, again, checking, notify)
    return report


def _checked(
    placement: Placement, request: CheckRequest, checking: Checking, notify: Notify
) -> CheckReport:
    """The check, asking the index which project a missing module could come from (so that
    the hint names one, check.providers) between the imports and their judging."""
    ask = index_asker(checking.index, notify)
    if checking.remember:
        return checked(placement, request, checking.cache_dir, notify, ask_index=ask)
    return check(placement, request, cache_dir=checking.cache_dir, ask_index=ask)


def _with_runtime(options: ImportOptions, target: Target, checking: Checking) -> ImportOptions:
    """``options`` with the runtime's own packages prepared, or why they could not be."""
    try:
        tree = runtime_tree(target, checking.cache_dir, checking.index)
    except LambdaLayerError as error:
        return replace(options, runtime_unavailable=error.message)
    if tree is None:
        return replace(
            options, runtime_unavailable=f"the data does not know {target.runtime.name}'s"
        )
    return replace(options, runtime=tree)


def check_any_zip(path: Path, checking: Checking, notify: Notify = quiet) -> CheckReport:
    """Any zip (a function package's when ``checking.request.function``), read into placed
    files once, checked as :func:`prepared_check` does — its report kept in the cache by
    the zip's sha256 (with the request) when ``checking.remember``."""
    layout = Layout.FUNCTION if checking.request.function else Layout.SITE_PACKAGES
    return prepared_check(read_zip(path, layout, file_sha256(path)), checking, notify)
