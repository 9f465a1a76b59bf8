"""The build pipeline: each stage a function of the previous stage's result.

    BuildRequest
      → provided sets (what another layer or the runtime has; AWS is read here)
      → Locked      (resolve: the lock, from a pylock, the resolution cache or uv)
      → FetchReport (the lock's wheels, by sha256, from the cache or the index)
      → LayerContents (fragments: each wheel assembled, slimmed, compiled; cached)
      → WrittenLayer  (archive, then check — the zip appears only when the check passed)
      → BuildResult

:func:`build` reads as that chain. The stages are the packages below (``resolve``,
``net``, ``layer``, ``check``) and know nothing of this order. Nothing is written at the
output paths until every stage has succeeded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from lambdalayer.aws.remote import managed_layer_arn, published_layer
from lambdalayer.builder.request import Beneath, BuildRecipe, BuildRequest
from lambdalayer.builder.result import BuildResult, WrittenLayer
from lambdalayer.check.cache import CheckCache
from lambdalayer.check.findings import CheckReport, Kind
from lambdalayer.check.request import CheckRequest, ImportOptions, KnownFacts
from lambdalayer.check.rules import check
from lambdalayer.check.sizes import layer_sizes
from lambdalayer.environment.image import cached_image
from lambdalayer.errors import LayerCheckError
from lambdalayer.fsutil import (
    atomic_write_bytes,
    ensure_writable_parent,
    remove_empty_dirs,
)
from lambdalayer.layer.archive import write_zip
from lambdalayer.layer.bytecode import bytecode_compiler
from lambdalayer.layer.contents import LayerContents, layer_contents
from lambdalayer.layer.fragments import Recipe
from lambdalayer.layer.output import LayerOutput
from lambdalayer.layercomment import archive_comment
from lambdalayer.limits import UNZIPPED_LIMIT
from lambdalayer.lock import Lock, LockedWheel, dump_pylock
from lambdalayer.net.fetch import FetchReport, WheelCache, fetch
from lambdalayer.net.index import IndexConfig
from lambdalayer.recipe import BytecodeMode
from lambdalayer.resolve.provided import Provided, provided_by, runtime_provided
from lambdalayer.resolve.stage import Locked, LockSource, explained, locked
from lambdalayer.targets import Layout, Target
from lambdalayer.timings import Stopwatch

Notify = Callable[[str], None]


def _quiet(_message: str) -> None:
    """The default ``notify``: say nothing."""


def build(request: BuildRequest, notify: Notify = _quiet) -> BuildResult:
    """Build one layer zip (or directory, or function package) for ``request.target``.

    Fails with a :class:`~lambdalayer.errors.LambdaLayerError` before anything is written at
    the output or the lock; directories it created for them are removed again.
    """
    watch, target, cache_dir = Stopwatch(), request.target, request.cache_dir
    with request.output.reserved(), _reserved(request.lock_output), _Background() as background:
        with watch("resolve"):
            provided = provided_sets(request.beneath, target)
            lock = locked(request.source, target, provided, cache_dir, notify)
        explaining = background.submit(explained, lock, request.source, target, cache_dir)
        with watch("fetch"):
            fetched = fetch_lock(lock.lock, cache_dir, request.jobs, request.source.index, notify)
        made = request.recipe
        compiler = bytecode_compiler(made.bytecode, target.runtime, made.python, notify)
        recipe = Recipe(target, made.layout, made.slim, made.bytecode, compiler)
        with watch("fragments"):
            source = made.function.source if made.function else None
            contents = layer_contents(fetched.wheels, recipe, cache_dir, source, notify)
        checking = build_check(target, made, lock, request.source.index, cache_dir)
        layer = write_layer(
            request.output, recipe, contents, checking if request.check else None, watch, notify
        )
        if request.lock_output is not None:
            _write_lock(request.lock_output, lock.lock, layer)
        lock = explaining.result()
    seconds = watch.elapsed()
    return BuildResult(request, lock, fetched, contents, layer, compiler, seconds, watch.rounded())


def fetch_lock(
    lock: Lock, cache_dir: Path, jobs: int, index: IndexConfig, notify: Notify
) -> FetchReport:
    """Every wheel the lock names, from the cache or downloaded (in parallel, sha256-checked)."""
    wheels = [package.wheels[0] for package in lock.packages]

    def downloading(wheel: LockedWheel) -> None:
        notify(f"downloading {wheel.filename}")

    return fetch(wheels, WheelCache(cache_dir), jobs=jobs, on_download=downloading, index=index)


class _Background(ThreadPoolExecutor):
    """One thread for what the build need not wait for: explaining the resolution (index
    pages only), while the wheels are fetched, prepared and checked."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="lambdalayer-explain")

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _reserved(lock_output: Path | None) -> Iterator[None]:
    """The lock's directory exists and is writable; created directories go if the build fails."""
    created = ensure_writable_parent(lock_output) if lock_output is not None else []
    try:
        yield
    except BaseException:
        remove_empty_dirs(created)
        raise


def provided_sets(beneath: Beneath, target: Target) -> tuple[Provided, ...]:
    """What the function already has beneath this layer (AWS is read here, not in resolve)."""
    sets = []
    settings = beneath.aws
    if beneath.on_top_of is not None:
        provided = provided_by(
            beneath.on_top_of,
            target,
            region=settings.region,
            published_layer=lambda arn: published_layer(arn, settings),
        )
        exact = managed_layer_arn(provided, settings) if settings.region else None
        if exact is not None:
            provided = replace(provided, layer_arn=exact, ssm_parameter=None)
        sets.append(provided)
    if beneath.runtime_provided:
        sets.append(runtime_provided(target))
    return tuple(sets)


@dataclass(frozen=True)
class Checking:
    """The check of a built layer, and the cache its report is kept in."""

    request: CheckRequest
    cache_dir: Path
    what: str = "the layer"  # what is checked, for the progress line


def build_check(
    target: Target, recipe: BuildRecipe, lock: Locked, index: IndexConfig, cache_dir: Path
) -> Checking:
    """How a build checks what it made: with the layers beneath it that are on this machine.

    The imports run with the layer's own CPython (``recipe.python``), in an image pulled
    into ``cache_dir`` before if there is one; a layer relying on another that is not on
    this machine (the managed layer) skips them and says why; the runtime's own packages
    are fetched from ``index`` when a module needs them (:mod:`lambdalayer.environment.runtimepkgs`).
    """
    absent = [item.source for item in lock.sources if item.zip_path is None and not item.runtime]
    skipped = (
        f"the layer relies on {' and '.join(absent)}, which is not on this machine"
        if absent
        else None
    )
    request = CheckRequest(
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
            index=index,
        ),
    )
    return Checking(request, cache_dir)


def write_layer(
    output: LayerOutput,
    recipe: Recipe,
    contents: LayerContents,
    checking: Checking | None,
    watch: Stopwatch,
    notify: Notify,
) -> WrittenLayer:
    """Archive the contents, check them (unless ``checking`` is ``None``), then put them in place."""
    bytecode = recipe.bytecode if recipe.compiler is not None else BytecodeMode.NONE
    comment = archive_comment(recipe.target, recipe.layout, bytecode)
    report = None
    with output.staged() as staging:
        with watch("archive"):
            stats = write_zip(staging, contents.entries, comment=comment)
            sha256 = stats.sha256
            sizes = layer_sizes(staging)
        if checking is None:
            _refuse_over_quota(stats.unzipped_bytes, output.path, recipe.target)
        else:
            with watch("check"):
                report = checked_zip(staging, sha256, checking, contents, notify)
            report = replace(report, path=output.path)
            if not report.ok:
                raise failed_check(report, output.path, function=recipe.layout is Layout.FUNCTION)
    return WrittenLayer(stats, sha256, sizes, bytecode, report)


def checked_zip(
    staging: Path, sha256: str, checking: Checking, contents: LayerContents, notify: Notify
) -> CheckReport:
    """The check of the staged zip, or its cached report when the same bytes were checked alike."""
    target = checking.request.target
    cache = CheckCache(checking.cache_dir)
    key = checking.request.cache_key(sha256)
    cached = cache.load(key, staging, target)
    if cached is not None:
        notify(f"checked before: the same bytes for {target.name} (cached report)")
        return cached
    notify(f"checking {checking.what} for {target.name}")
    known = KnownFacts(
        contents.elf_facts, contents.member_files, checking.cache_dir / "tmp", contents.digests
    )
    report = check(staging, checking.request, known=known, cache_dir=checking.cache_dir)
    if report.ok:
        cache.store(key, report)
    return report


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
        f" requirements and --runtime {target.runtime.name} --arch {target.arch}, then --push"
        " REGISTRY/REPOSITORY:TAG or -o image.tar; or leave out what another layer or the"
        " runtime provides (--on-top-of, --exclude-runtime-provided)"
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
        hint = "each finding says what to fix; --no-check writes the layer anyway"
    return LayerCheckError(
        f"{what} fails {len(report.errors)} check(s) for {report.target.name}; {output} was not"
        " written",
        report,
        hint=hint,
    )


def _write_lock(path: Path, lock: Lock, layer: WrittenLayer) -> None:
    """The build's lock, recording which bytecode the layer holds."""
    atomic_write_bytes(
        path, dump_pylock(replace(lock, bytecode=layer.bytecode.value)).encode("utf-8")
    )


def lock_for(
    source: LockSource, target: Target, beneath: Beneath, cache_dir: Path, notify: Notify = _quiet
) -> Lock:
    """The lock ``build`` would build for ``target``, without building anything."""
    result = locked(source, target, provided_sets(beneath, target), cache_dir, notify)
    return explained(result, source, target, cache_dir).lock
