"""The build pipeline, one named (and timed) step per stage.

    resolve (or read the lock; cached while the index is unchanged)
      → fetch (wheels by sha256)
      → fragments (each wheel assembled, slimmed, compiled, compressed; cached)
      → archive (fragments copied raw into a deterministic zip)
      → check (static checks, imports; cached by the zip's sha256)
      → output (renamed into place, or unpacked into a directory) and the lock

:func:`build` drives the stages; the stages are the packages below (``resolve``,
``net``, ``layer``, ``check``) and know nothing of this order. Nothing is written at the
output paths until every stage has succeeded.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from lambdalayer.aws.client import AwsSettings
from lambdalayer.aws.remote import managed_layer_arn, published_layer
from lambdalayer.check.cache import CheckCache, check_key
from lambdalayer.check.findings import CheckReport
from lambdalayer.check.image import cached_image
from lambdalayer.check.rules import check
from lambdalayer.check.sizes import LayerSizes, layer_sizes
from lambdalayer.errors import InputError, LayerCheckError
from lambdalayer.fsutil import (
    atomic_write_bytes,
    ensure_writable_parent,
    file_sha256,
    remove_empty_dirs,
    staged_path,
)
from lambdalayer.inputs.requirements import Requirements
from lambdalayer.interpreters import Interpreter, find_interpreter, probe, provision_interpreter
from lambdalayer.layer.archive import ArchiveStats, write_zip
from lambdalayer.layer.assemble import Distribution
from lambdalayer.layer.bytecode import BytecodeMode
from lambdalayer.layer.contents import LayerContents, layer_contents
from lambdalayer.layer.fragments import Recipe
from lambdalayer.layer.slim import SlimOptions
from lambdalayer.layer.tree import install_tree
from lambdalayer.layercomment import archive_comment
from lambdalayer.limits import UNZIPPED_LIMIT
from lambdalayer.lock import Lock, dump_pylock, read_pylock
from lambdalayer.net.fetch import DEFAULT_JOBS, FetchReport, WheelCache, default_cache_dir, fetch
from lambdalayer.net.index import IndexConfig
from lambdalayer.resolve.cache import CachedResolution, ResolutionCache, resolution_key
from lambdalayer.resolve.explain import VersionNote, explain
from lambdalayer.resolve.provided import Provided, on_top_of, runtime_provided
from lambdalayer.resolve.resolver import Backoff, narrow_lock, resolve
from lambdalayer.resolve.sdist import SourceBuilder
from lambdalayer.targets import Layout, Target, runtimes
from lambdalayer.timings import Stopwatch
from lambdalayer.uvtool import uv_binary

Notify = Callable[[str], None]


@dataclass(frozen=True)
class BuildOptions:
    """Everything a build needs; exactly one of ``requirements`` and ``from_lock`` is set."""

    target: Target
    output: Path
    requirements: Requirements | None = None
    from_lock: Path | None = None
    lock_output: Path | None = None
    layout: Layout = Layout.SITE_PACKAGES
    index: IndexConfig = field(default_factory=IndexConfig)
    cache_dir: Path = field(default_factory=default_cache_dir)
    jobs: int = DEFAULT_JOBS
    check: bool = True
    python: Path | None = None
    slim: SlimOptions = field(default_factory=SlimOptions)
    bytecode: BytecodeMode = BytecodeMode.AUTO
    on_top_of: str | None = None  # aws-sdk-pandas[==V], layer:PATH.zip, layer:arn:...
    exclude_runtime_provided: bool = False
    region: str | None = None  # for the managed layer's ARN, and layer:arn: lookups
    endpoint_url: str | None = None
    profile: str | None = None  # the AWS profile for those look-ups
    allow_build: bool = True  # build pure wheels from source-only packages (--no-build: never)
    function_source: Path | None = None  # with Layout.FUNCTION: the handler code's directory
    handler: str | None = None  # module.function, verified in the built zip
    as_directory: bool = False  # write the layer's tree at ``output`` (a directory), not a zip

    def output_tree_staging(self) -> Path:
        """Where the zip of a directory output is made and checked before it is unpacked."""
        (self.cache_dir / "tmp").mkdir(parents=True, exist_ok=True)
        return self.cache_dir / "tmp" / f"tree-{os.getpid()}-{threading.get_ident()}.zip"


@dataclass(frozen=True)
class BuildResult:
    """What a build produced, for the summary and ``--json``."""

    target: Target
    layout: Layout
    output: Path
    lock_path: Path | None
    distributions: tuple[Distribution, ...]
    zipped_bytes: int
    sha256: str  # of the zip; Lambda's CodeSha256 and Terraform's filebase64sha256 are base64sha256
    unzipped_bytes: int
    files: int
    downloads: int
    downloaded_bytes: int
    backoffs: tuple[Backoff, ...]
    notices: tuple[str, ...]
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)  # stage → wall seconds
    fragments_computed: int = 0  # wheels whose layer fragment was not in the cache
    beneath: tuple[tuple[str, int], ...] = ()  # layers counted beneath it (estimated sizes)
    sizes: LayerSizes | None = None  # the layer's size model (per distribution, after slimming)
    check_report: CheckReport | None = None
    slim_saved: dict[str, int] = field(default_factory=dict)
    bytecode_compiled: int = 0
    bytecode_python: str | None = None
    provided: dict[str, str] = field(default_factory=dict)  # needed, but left to another layer
    provided_by: tuple[str, ...] = ()
    version_notes: tuple[VersionNote, ...] = ()
    base_layers: tuple[
        tuple[str | None, str | None], ...
    ] = ()  # (ARN, SSM parameter naming its version)

    @property
    def base64sha256(self) -> str:
        """The zip's sha256 in base64: what Lambda reports as CodeSha256 (Terraform: filebase64sha256)."""
        return base64.b64encode(bytes.fromhex(self.sha256)).decode()

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict with the same facts as the text summary."""
        return {
            "target": self.target.to_json(),
            "layout": self.layout.value,
            "output": str(self.output),
            "lock": str(self.lock_path) if self.lock_path else None,
            "packages": [
                {
                    "name": dist.name,
                    "version": dist.version,
                    "wheel": dist.wheel,
                    "unzipped_bytes": dist.unzipped_bytes,
                }
                for dist in self.distributions
            ],
            "zipped_bytes": self.zipped_bytes,
            "sha256": self.sha256,
            "base64sha256": self.base64sha256,
            "unzipped_bytes": self.unzipped_bytes,
            "files": self.files,
            "downloads": self.downloads,
            "downloaded_bytes": self.downloaded_bytes,
            "backoffs": [
                {
                    "package": item.package,
                    "chosen": item.chosen,
                    "newest_excluded": item.newest_excluded,
                }
                for item in self.backoffs
            ],
            "notices": list(self.notices),
            "slim_saved_bytes": dict(sorted(self.slim_saved.items())),
            "bytecode": {"compiled": self.bytecode_compiled, "python": self.bytecode_python},
            "provided": {
                "by": list(self.provided_by),
                "packages": dict(sorted(self.provided.items())),
            },
            "base_layers": [{"arn": arn, "ssm_parameter": ssm} for arn, ssm in self.base_layers],
            "version_notes": [
                {
                    "package": note.package,
                    "chosen": note.chosen,
                    "newest": note.newest,
                    "reason": note.reason,
                }
                for note in self.version_notes
            ],
            "sizes": self.sizes.to_json() if self.sizes else None,
            "check": self.check_report.to_json() if self.check_report else None,
            "seconds": round(self.seconds, 3),
            "timings": self.timings,
            "fragments_computed": self.fragments_computed,
        }


@dataclass(frozen=True)
class _Locked:
    lock: Lock
    backoffs: tuple[Backoff, ...] = ()
    provided: dict[str, str] = field(default_factory=dict)
    sources: tuple[Provided, ...] = ()
    notes: tuple[VersionNote, ...] = ()


def _provided_sets(options: BuildOptions) -> tuple[Provided, ...]:
    """What the function already has beneath this layer (AWS is read here, not in resolve)."""
    sets = []
    settings = AwsSettings(
        profile=options.profile, region=options.region, endpoint_url=options.endpoint_url
    )
    if options.on_top_of is not None:
        provided = on_top_of(
            options.on_top_of,
            options.target,
            region=options.region,
            published_layer=lambda arn: published_layer(arn, settings),
        )
        exact = managed_layer_arn(provided, settings) if options.region else None
        if exact is not None:
            provided = replace(provided, layer_arn=exact, ssm_parameter=None)
        sets.append(provided)
    if options.exclude_runtime_provided:
        sets.append(runtime_provided(options.target))
    return tuple(sets)


def _locked(options: BuildOptions, notify: Notify) -> _Locked:
    target = options.target
    sources = _provided_sets(options)
    if options.from_lock is not None and sources:
        raise InputError(
            "--from-lock builds the lock as it is; it cannot be combined with --on-top-of"
        )
    if options.from_lock is not None:
        lock = read_pylock(options.from_lock)
        if lock.target and lock.target != target.name:
            raise InputError(
                f"{options.from_lock} was made for {lock.target}, not {target.name}",
                hint=f"pass the lock's own target, or resolve again for {target.name}",
            )
        chosen, unfit = narrow_lock(lock, target, Requirements())
        if unfit:
            names = ", ".join(f"{package.name}=={package.version}" for package in unfit)
            raise InputError(
                f"{options.from_lock} pins packages with no wheel for {target.name}: {names}",
                hint="a lock is kept as is; resolve again for this target instead of --from-lock",
            )
        return _Locked(Lock(tuple(chosen), lock.requires_python, target.name))
    if options.requirements is None:
        raise InputError("nothing to build: give requirements or --from-lock")
    requirements = options.requirements
    if sources:
        constraints = tuple(line for provided in sources for line in provided.constraints())
        requirements = replace(requirements, constraints=(*requirements.constraints, *constraints))
    cache = ResolutionCache(options.cache_dir)
    key = resolution_key(requirements, target, options.index, allow_build=options.allow_build,
                         held_by_pins=bool(sources))  # fmt: skip
    cached = cache.load(key, options.index) if key else None
    if cached is not None:
        notify(f"resolved for {target.name}: unchanged since the last build (index pages checked)")
        return _Locked(cached.lock, cached.backoffs, cached.provided, sources, cached.notes)
    notify(f"resolving for {target.name}: {target.resolution_plan}")
    builder = None
    if options.allow_build:
        builder = SourceBuilder(options.cache_dir, options.index, uv_binary())
    resolution = resolve(
        requirements, target, options.index, builder=builder, cache_dir=options.cache_dir
    )
    notes = explain(resolution.lock.packages, target, options.index, held_by_pins=bool(sources))
    if key is not None:
        result = CachedResolution(resolution.lock, resolution.backoffs, resolution.provided, notes)
        depends_on = [package.name for package in resolution.lock.packages] + list(
            resolution.provided
        )
        cache.store(key, result, options.index, depends_on)
    return _Locked(resolution.lock, resolution.backoffs, resolution.provided, sources, notes)


def _bytecode_interpreter(options: BuildOptions, notify: Notify) -> Interpreter:
    """The CPython that compiles the layer's bytecode: given, found, or installed by uv.

    A layer must not depend on what happens to be installed: without an interpreter of
    the runtime's X.Y the build fails instead of silently leaving the bytecode out.
    """
    target = options.target
    version = target.runtime.python_version
    if options.python is not None:
        given = probe(options.python)
        if given is None or given.version_text != version:
            found = f"CPython {given.version_text}" if given else "not a working CPython"
            raise InputError(
                f"--python {options.python} is {found}; {target.runtime.name} needs {version}",
                hint=f"give a python{version} executable, or leave --python out to search for one",
            )
        return given
    found_here = find_interpreter(version)
    if found_here is not None:
        return found_here
    notify(f"no CPython {version} on this machine: installing one with uv python install {version}")
    provisioned = provision_interpreter(version, uv_binary())
    if provisioned.interpreter is None:
        here = [runtime.name for runtime in runtimes() if find_interpreter(runtime.python_version)]
        other = (
            f", or build for a runtime whose CPython is here: --runtime {' or '.join(here)}"
            if here
            else ""
        )
        raise InputError(
            f"bytecode for {target.runtime.name} needs a CPython {version}: none on PATH, pyenv or"
            f" uv-managed, and installing one failed ({provisioned.failure})",
            hint=f"give --python PATH to a CPython {version}, or --bytecode none (no .pyc: every"
            f" module is compiled on each cold start){other}",
        )
    return provisioned.interpreter


def _check_layer(
    staging: Path,
    zip_sha256: str,
    options: BuildOptions,
    locked: _Locked,
    contents: LayerContents,
    notify: Notify,
) -> CheckReport:
    """The check of the staged zip, or its cached report when the same bytes were checked alike."""
    target = options.target
    absent = [provided.source for provided in locked.sources if provided.zip_path is None]
    with_zips = [provided.zip_path for provided in locked.sources if provided.zip_path]
    beneath = [
        (provided.source, provided.unzipped_bytes)
        for provided in locked.sources
        if provided.zip_path is None and provided.unzipped_bytes
    ]
    skip_imports = (
        f"the layer relies on {' and '.join(absent)}, which is not on this machine"
        if absent
        else None
    )
    interpreter = find_interpreter(target.runtime.python_version, explicit=options.python)
    settings = {
        "with": [file_sha256(path) for path in with_zips],
        "beneath": beneath,
        "function": options.layout is Layout.FUNCTION,
        "handler": options.handler,
        "skip_imports": skip_imports,
        "python": [str(interpreter.path), *interpreter.version, interpreter.micro]
        if interpreter
        else None,
        "image": str(cached_image(options.cache_dir, target) or ""),  # a pulled image is better
    }
    cache = CheckCache(options.cache_dir)
    key = check_key(zip_sha256, target, settings)
    cached = cache.load(key, options.output, target)
    if cached is not None:
        notify(f"checked before: the same bytes for {target.name} (cached report)")
        return cached
    notify(f"checking the layer for {target.name}")
    report = check(
        staging, target, with_zips=with_zips, python=options.python,
        function=options.layout is Layout.FUNCTION, handler=options.handler,
        skip_imports=skip_imports, beneath=beneath, elf_facts=contents.elf_facts,
        member_files=contents.member_files, scratch_dir=options.cache_dir / "tmp",
        cache_dir=options.cache_dir,
    )  # fmt: skip
    report = replace(report, path=options.output)
    if report.ok:
        cache.store(key, report)
    return report


def _refuse_over_quota(unzipped_bytes: int, options: BuildOptions) -> None:
    """A layer over Lambda's unzipped quota can never deploy: not written, --no-check or not."""
    if unzipped_bytes > UNZIPPED_LIMIT:
        raise LayerCheckError(
            f"the layer is {unzipped_bytes:,} bytes unzipped, over Lambda's {UNZIPPED_LIMIT:,} for"
            f" a function and all its layers; {options.output} was not written",
            None,
            hint="leave out what another layer or the runtime provides (--on-top-of,"
            " --exclude-runtime-provided), slim further (--drop GLOB), or split the function",
        )


def _failed_check(report: CheckReport, options: BuildOptions) -> LayerCheckError:
    only_quota = all(finding.kind == "size" for finding in report.errors)
    function = options.layout is Layout.FUNCTION
    what = "the function package" if function else "the layer"
    if only_quota:
        hint = f"{what} is over Lambda's quota and cannot deploy; leave out what another layer provides or split it"
    elif function:
        hint = (
            "each finding says what to fix: a handler that does not import here fails on Lambda too"
        )
    else:
        hint = "each finding says what to fix; --no-check writes the layer anyway"
    return LayerCheckError(
        f"{what} fails {len(report.errors)} check(s) for {options.target.name};"
        f" {options.output} was not written",
        report,
        hint=hint,
    )


def lock_for(options: BuildOptions, notify: Notify = lambda _message: None) -> Lock:
    """The lock ``build`` would build for ``options.target``, without building anything.

    >>> lock_for(BuildOptions(get_target("python3.12"), Path("unused.zip"), requirements))  # doctest: +SKIP
    """
    return _locked(options, notify).lock


def build(options: BuildOptions, notify: Notify = lambda _message: None) -> BuildResult:
    """Build one layer zip (and optionally its lock) for ``options.target``.

    The stages, in order: resolve (or read the lock) → fetch → assemble → slim → bytecode
    → archive → check. Fails with a :class:`~lambdalayer.errors.LambdaLayerError` before
    anything is written at ``options.output`` or ``options.lock_output``; directories it
    created for them are removed again.
    """
    created = ensure_writable_parent(
        options.output / "x" if options.as_directory else options.output
    )
    if options.lock_output is not None:
        created += ensure_writable_parent(options.lock_output)
    try:
        return _build(options, notify)
    except BaseException:
        remove_empty_dirs(created)
        raise


@dataclass(frozen=True)
class _Written:
    """What the archive and check steps produced."""

    stats: ArchiveStats
    sha256: str
    sizes: LayerSizes
    recorded_bytecode: str
    check_report: CheckReport | None


def _build(options: BuildOptions, notify: Notify) -> BuildResult:
    """The pipeline, one named step per stage (each timed)."""
    started = time.perf_counter()
    watch = Stopwatch()
    with watch("resolve"):
        locked = _locked(options, notify)
    _refuse_nothing_left(locked)
    with watch("fetch"):
        fetched = fetch(
            [package.wheels[0] for package in locked.lock.packages],
            WheelCache(options.cache_dir),
            jobs=options.jobs,
            on_download=lambda wheel: notify(f"downloading {wheel.filename}"),
            index=options.index,
        )
    interpreter = None
    if options.bytecode is not BytecodeMode.NONE:
        interpreter = _bytecode_interpreter(options, notify)
    recipe = Recipe(options.target, options.layout, options.slim, options.bytecode, interpreter)
    with watch("fragments"):
        contents = layer_contents(
            fetched.wheels, recipe, options.cache_dir, options.function_source, notify
        )
    written = _write_and_check(options, locked, contents, interpreter, watch, notify)
    if options.lock_output is not None:
        lock_text = dump_pylock(replace(locked.lock, bytecode=written.recorded_bytecode))
        atomic_write_bytes(options.lock_output, lock_text.encode("utf-8"))
    notices = [warning for provided in locked.sources for warning in provided.warnings]
    notices += [
        f"cached {name} did not match its hash; downloaded again"
        for name in fetched.replaced_corrupt
    ]
    return _result(options, locked, fetched, contents, written, interpreter, (*notices, *contents.notices),
                   watch, time.perf_counter() - started)  # fmt: skip


def _refuse_nothing_left(locked: _Locked) -> None:
    if not locked.lock.packages and locked.sources:
        by = " and ".join(provided.source for provided in locked.sources)
        raise InputError(
            f"nothing left to put in the layer: everything asked for is provided by {by}"
            f" ({', '.join(f'{name} {version}' for name, version in sorted(locked.provided.items()))})",
            hint="attach that layer alone; no layer of your own is needed",
        )


def _write_and_check(
    options: BuildOptions, locked: _Locked, contents: LayerContents, interpreter: Interpreter | None,
    watch: Stopwatch, notify: Notify,
) -> _Written:  # fmt: skip
    """Archive (then unpack, for a directory output) — nothing appears unless the check passed."""
    recorded = "none"
    if interpreter is not None:
        recorded = "only" if options.bytecode is BytecodeMode.ONLY else "unchecked-hash"
    check_report: CheckReport | None = None
    comment = archive_comment(options.target, options.layout, recorded)
    zip_output = options.output_tree_staging() if options.as_directory else options.output
    with staged_path(zip_output) as staging:
        with watch("archive"):
            stats = write_zip(staging, contents.entries, comment=comment)
            zip_sha256 = file_sha256(staging)
            sizes = layer_sizes(staging)
        _refuse_over_quota(stats.unzipped_bytes, options)
        if options.check:
            with watch("check"):
                check_report = _check_layer(staging, zip_sha256, options, locked, contents, notify)
            if not check_report.ok:
                raise _failed_check(check_report, options)
    if options.as_directory:
        with watch("tree"):
            install_tree(zip_output, options.output, options.cache_dir)
        zip_output.unlink()
    return _Written(stats, zip_sha256, sizes, recorded, check_report)


def _result(
    options: BuildOptions, locked: _Locked, fetched: FetchReport, contents: LayerContents,
    written: _Written, interpreter: Interpreter | None, notices: tuple[str, ...], watch: Stopwatch,
    seconds: float,
) -> BuildResult:  # fmt: skip
    sources = locked.sources
    return BuildResult(
        target=options.target, layout=options.layout, output=options.output, lock_path=options.lock_output,
        distributions=contents.distributions, zipped_bytes=written.stats.zipped_bytes, sha256=written.sha256,
        sizes=written.sizes, unzipped_bytes=written.stats.unzipped_bytes, files=written.stats.files,
        downloads=fetched.downloads, downloaded_bytes=fetched.downloaded_bytes, backoffs=locked.backoffs,
        notices=notices, seconds=seconds, timings=watch.rounded(), check_report=written.check_report,
        slim_saved=contents.saved, bytecode_compiled=contents.compiled,
        bytecode_python=str(interpreter.path) if interpreter else None,
        fragments_computed=contents.fragments_computed,
        beneath=tuple((p.source, p.unzipped_bytes) for p in sources if p.zip_path is None and p.unzipped_bytes),
        provided=locked.provided, provided_by=tuple(p.source for p in sources), version_notes=locked.notes,
        base_layers=tuple((p.layer_arn, p.ssm_parameter) for p in sources if p.layer_arn),
    )  # fmt: skip
