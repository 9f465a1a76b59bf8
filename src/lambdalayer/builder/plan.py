"""From what the user said to build requests: flags over configuration over defaults.

Every decision about *what* is built lives here, on typed values (never argparse's
namespace), so that it is tested without the command line: which artefacts (the packages
and files given; else ``[tool.lambdalayer]``'s layers and function; else the project's own
lock or pyproject), for which targets, with which settings (a flag given wins; else the
configuration; else the default), and where each output and lock goes. Every value is
parsed into its type here: a wrong one is one error before anything runs.

A one-off build (requirements, a lock or a function named on the command line) of one
target writes ``-o`` (default ``layer.zip``, ``function.zip``; ``-o DIR/`` the layer's
files). A project's own build (``lambdalayer build`` with nothing named: its configuration,
lock, pyproject or requirements file) and any build of several targets write
``OUTPUT_DIR/NAME-python3.12-arm64.zip`` (default ``dist/``) with its lock beside it, named
as PEP 751 allows: ``pylock.NAME-python312-arm64.toml``; ``-o`` still names the one file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from lambdalayer.aws.beneath import Beneath
from lambdalayer.aws.client import AwsSettings
from lambdalayer.builder.request import BuildRecipe, BuildRequest, FunctionCode
from lambdalayer.cache import cache_root
from lambdalayer.container.request import ImageOutputs, ImageRequest, RegistryAuth
from lambdalayer.errors import InputError, option
from lambdalayer.inputs.config import Inputs, ProjectConfig, load_config
from lambdalayer.inputs.deploy import find_deploy_files
from lambdalayer.inputs.ontopof import OnTopOf
from lambdalayer.inputs.projects import discover_input
from lambdalayer.inputs.requirements import Gathered, gather
from lambdalayer.layer.output import LayerOutput, TreeOutput, ZipOutput
from lambdalayer.lock import read_pylock
from lambdalayer.net.index import IndexConfig
from lambdalayer.recipe import BytecodeMode, SlimOptions
from lambdalayer.resolve.stage import FromLock, LockSource, Resolve
from lambdalayer.targets import (
    DEFAULT_ARCH,
    Layout,
    Runtime,
    Target,
    canonical_arch,
    default_runtime,
    get_target,
    parse_target,
)
from lambdalayer.zipnames import printable


@dataclass(frozen=True)
class InputFlags:
    """What to build from: packages, files, the project, a lock, a function's code."""

    packages: tuple[str, ...] = ()
    requirements: tuple[Path, ...] = ()
    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    project: Path | None = None  # default: the current directory
    from_lock: Path | None = None
    function: Path | None = None
    handler: str | None = None

    @property
    def project_dir(self) -> Path:
        """The project directory (``--project``, else the current directory)."""
        return self.project or Path.cwd()


@dataclass(frozen=True)
class BeneathFlags:
    """What is beneath the layer, and how to reach AWS to read it."""

    on_top_of: str | None = None
    exclude_runtime_provided: bool = False
    aws: AwsSettings = field(default_factory=AwsSettings)


@dataclass(frozen=True)
class SourceFlags:
    """Where packages come from, what is beneath the layer, and the cache."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    allow_build: bool = True
    cache_dir: Path | None = None
    beneath: BeneathFlags = field(default_factory=BeneathFlags)


@dataclass(frozen=True)
class RecipeFlags:
    """How the layer is made and checked."""

    layout: str | None = None
    bytecode: str | None = None
    python: Path | None = None
    slim: SlimOptions = field(default_factory=SlimOptions)
    check: bool = True
    strict: bool = False  # a part not verified fails the build (or the configuration's strict)


@dataclass(frozen=True)
class OutputFlags:
    """Where the results go."""

    output: str | None = None  # a trailing slash (or an existing directory): the layer's files
    output_dir: Path | None = None
    lock: Path | None = None


@dataclass(frozen=True)
class Flags:
    """What the command line said; empty or ``None`` is "not given"."""

    inputs: InputFlags = field(default_factory=InputFlags)
    runtimes: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    sources: SourceFlags = field(default_factory=SourceFlags)
    recipe: RecipeFlags = field(default_factory=RecipeFlags)
    outputs: OutputFlags = field(default_factory=OutputFlags)
    targets: tuple[str, ...] = ()  # (runtime, CPU) pairs by name: --target python3.12-arm64


@dataclass(frozen=True)
class Artefact:
    """One thing to build (a layer, or the function package), for every target."""

    name: str
    inputs: Gathered
    function: FunctionCode | None = None
    on_top_of: OnTopOf | None = None


@dataclass(frozen=True)
class Job:
    """One artefact for one target."""

    name: str
    request: BuildRequest


@dataclass(frozen=True)
class BuildPlan:
    """Every build of one run; ``single``: one output named by ``-o``, not a matrix."""

    jobs: tuple[Job, ...]
    single: bool
    defaulted_runtime: Runtime | None = None  # the runtime chosen for the user, to be said


@dataclass(frozen=True)
class _Settings:
    """Flags, configuration and defaults weighed, for every artefact alike."""

    layout: Layout
    bytecode: BytecodeMode
    index: IndexConfig
    output_dir: Path
    cache_dir: Path
    strict: bool = False


def targets(
    named: tuple[str, ...],
    runtimes: tuple[str, ...],
    arches: tuple[str, ...],
    config: ProjectConfig | None,
) -> list[Target]:
    """The targets asked for, each once: named pairs (``--target``, ``targets =``), else every
    runtime with every CPU (``--runtime`` with ``--arch``, then the configuration's), else the
    defaults. Flags win over the configuration, as everywhere."""
    if named and (runtimes or arches):
        raise InputError(
            "--target names (runtime, CPU) pairs; --runtime and --arch make every combination:"
            " give one or the other",
            hint="e.g. --target python3.12-arm64 --target python3.11-x86_64",
        )
    pairs = named or (config.targets if config is not None and not (runtimes or arches) else ())
    if pairs:
        return [parse_target(name) for name in dict.fromkeys(pairs)]
    wanted_runtimes = (
        list(runtimes) or list(config.runtimes if config else ()) or [default_runtime().name]
    )
    wanted_arches = list(arches) or list(config.arches if config else ()) or [DEFAULT_ARCH]
    return [
        get_target(runtime, arch)
        for runtime in dict.fromkeys(wanted_runtimes)
        for arch in dict.fromkeys(canonical_arch(arch) for arch in wanted_arches)
    ]


def _settings(flags: Flags, config: ProjectConfig | None) -> _Settings:
    """Layout, bytecode, indexes, the output directory and the cache: flag, configuration, default."""
    recipe, sources = flags.recipe, flags.sources
    output_dir = flags.outputs.output_dir or (
        config.output_dir if config and config.output_dir else flags.inputs.project_dir / "dist"
    )
    layout = Layout(recipe.layout) if recipe.layout else None
    bytecode = BytecodeMode.parse(recipe.bytecode) if recipe.bytecode else None
    index = IndexConfig.from_options(
        sources.index_url or (config.index_url if config else None),
        sources.extra_index_urls or (config.extra_index_urls if config else ()),
    )
    return _Settings(
        layout or (config.layout if config else None) or Layout.SITE_PACKAGES,
        bytecode or (config.bytecode if config else None) or BytecodeMode.UNCHECKED_HASH,
        index,
        output_dir,
        cache_root(sources.cache_dir),
        recipe.strict or bool(config and config.strict),
    )


def _gather(
    inputs: Inputs, project_dir: Path, extras: tuple[str, ...], groups: tuple[str, ...]
) -> Gathered:
    """The configured inputs, else the project's own (with the extras and groups asked for)."""
    if not inputs.empty:
        files = list(inputs.files)
        if (inputs.extras or inputs.groups) and not files:
            files = [project_dir / "pyproject.toml"]
        only_groups = bool(inputs.groups) and not inputs.extras and not inputs.requirements
        return gather(
            inputs.requirements,
            files,
            extras=inputs.extras,
            groups=inputs.groups,
            include_dependencies=not only_groups,
        )
    return gather([], [discover_input(project_dir)], extras=extras, groups=groups)


def _explicit(flags: InputFlags) -> Gathered | None:
    """The inputs named on the command line, if any."""
    if flags.from_lock is not None:
        if flags.packages or flags.requirements:
            raise InputError(
                "--from-lock builds exactly the lock's wheels; requirements cannot be added to it",
                hint="drop the packages and -r files, or drop --from-lock to resolve again",
            )
        return Gathered(pylock=flags.from_lock)
    if flags.packages or flags.requirements:
        return gather(flags.packages, flags.requirements, extras=flags.extras, groups=flags.groups)
    return None


def function_code(source: Path, handler: str | None) -> FunctionCode:
    """``--function SOURCE``, refused before anything is resolved when it is not a directory
    (it was found only when the package was assembled, after resolving and preparing)."""
    if not source.is_dir():
        what = "is not a directory" if source.exists() else "does not exist"
        raise InputError(
            f"--function {printable(str(source))} {what}",
            hint="give --function the directory that holds the handler's module"
            " (for --handler app.handler, the directory with app.py)",
        )
    return FunctionCode(source, handler)


def artefacts(flags: InputFlags, config: ProjectConfig | None) -> list[Artefact]:
    """Every artefact to build: the explicit inputs, else the configuration's, else the project's."""
    project_dir = flags.project_dir
    wanted = (flags.extras, flags.groups)  # for the project's own inputs
    gathered = _explicit(flags)
    if flags.function is not None:
        code = function_code(flags.function, flags.handler)  # before anything is resolved
        inputs = gathered if gathered is not None else _gather(Inputs(), project_dir, *wanted)
        return [Artefact("function", inputs, code)]
    if gathered is not None:
        return [Artefact("layer", gathered)]
    if config is not None and (config.layers or config.function):
        found = [
            Artefact(
                layer.name,
                _gather(layer.inputs, project_dir, *wanted),
                on_top_of=layer.inputs.on_top_of,
            )
            for layer in config.layers
        ]
        if config.function is not None:
            spec = config.function
            code = FunctionCode(spec.source, spec.handler)
            inputs = _gather(spec.inputs, project_dir, *wanted)
            found.append(Artefact("function", inputs, code, spec.inputs.on_top_of))
        return found
    try:
        return [Artefact("layer", _gather(Inputs(), project_dir, *wanted))]
    except InputError as error:
        many = config is not None and config.functions
        if not (many or find_deploy_files(project_dir)):
            raise
        # A repository of functions (a deploy file, [tool.lambdalayer.functions]) and nothing
        # for a plain build: what the user wants is most likely --all.
        raise InputError(
            error.message,
            hint="this repository's functions (its deploy file or [tool.lambdalayer.functions])"
            " are built with 'lambdalayer build --all'; 'lambdalayer plan' shows what it builds",
        ) from None


def is_directory_output(output: str | None) -> bool:
    """``-o DIR/`` (a trailing slash) or ``-o DIR`` that exists as a directory."""
    return output is not None and (output.endswith(("/", os.sep)) or Path(output).is_dir())


def lock_name(artefact: str | None, target: Target) -> str:
    """A lock's file name as PEP 751 allows (``pylock.<name>.toml``, no dot in the name).

    >>> lock_name("core", get_target("python3.12", "arm64"))
    'pylock.core-python312-arm64.toml'
    """
    return f"pylock.{artefact + '-' if artefact else ''}{target.file_label}.toml"


def _source(inputs: Gathered, index: IndexConfig, allow_build: bool) -> LockSource:
    if inputs.pylock is not None:
        return FromLock(inputs.pylock, index)
    if inputs.requirements is None:  # pragma: no cover - gather always gives one
        raise InputError("nothing to build: give requirements or --from-lock")
    return Resolve(inputs.requirements, index, allow_build)


def _beneath(configured: OnTopOf | None, flags: BeneathFlags, source: LockSource) -> Beneath:
    """What is beneath the artefact: ``--on-top-of`` wins over the configuration's."""
    on_top_of = OnTopOf.parse(flags.on_top_of) if flags.on_top_of else configured
    beneath = Beneath(on_top_of, flags.exclude_runtime_provided, flags.aws)
    if isinstance(source, FromLock) and beneath.anything:
        raise InputError(
            "--from-lock builds the lock as it is; it cannot be combined with --on-top-of"
            " or --exclude-runtime-provided",
            hint="resolve again (without --from-lock) to build on top of another layer",
        )
    return beneath


def _single_output(flags: OutputFlags, artefact: Artefact, cache_dir: Path) -> LayerOutput:
    """Where the one layer of a run goes: ``-o`` (a zip, or a directory's files)."""
    path = Path(flags.output or ("function.zip" if artefact.function else "layer.zip"))
    return TreeOutput(path, cache_dir) if is_directory_output(flags.output) else ZipOutput(path)


def _matrix_outputs(name: str, target: Target, directory: Path) -> tuple[LayerOutput, Path]:
    """Where one layer of several goes, with its lock beside it."""
    return ZipOutput(directory / f"{name}-{target.name}.zip"), directory / lock_name(name, target)


def lock_target(
    path: Path, named: tuple[str, ...], runtimes: tuple[str, ...], arches: tuple[str, ...]
) -> Target | None:
    """The target a lock records (``--from-lock``), checked against what the flags name.

    A lock is for one target: the flags may repeat it (or half of it), never name another.
    """
    recorded = read_pylock(path).target
    if recorded is None:
        return None
    target = parse_target(recorded)
    disagree = (
        [text for text in named if parse_target(text) != target]
        + [text for text in runtimes if get_target(text, target.arch).runtime != target.runtime]
        + [text for text in arches if canonical_arch(text) != target.arch]
    )
    if disagree:
        raise InputError(
            f"{path} was locked for {target.name}; the flags ask for {', '.join(disagree)}",
            hint=f"drop {option('Target.runtime')} and {option('Target.arch')}: a lock's own"
            " target is built; or lock again for the other target",
        )
    return target


def plan_builds(flags: Flags) -> BuildPlan:
    """Every build one ``lambdalayer build`` run makes, each a complete :class:`BuildRequest`.

    ``--from-lock``: the target the lock records, unless the flags name it themselves.
    """
    config = load_config(flags.inputs.project_dir)
    chosen = targets(flags.targets, flags.runtimes, flags.arches, config)
    recorded = None
    if flags.inputs.from_lock is not None:
        recorded = lock_target(flags.inputs.from_lock, flags.targets, flags.runtimes, flags.arches)
        chosen = [recorded] if recorded is not None else chosen
    found = artefacts(flags.inputs, config)
    # One rule for where outputs go, whatever the input kind: a one-off build (requirements,
    # a lock or a function named on the command line) writes -o (default layer.zip or
    # function.zip); a project's own build writes --output-dir (default dist/), reported as
    # a table — unless -o names the one file.
    inputs = flags.inputs
    one_off = bool(inputs.packages or inputs.requirements or inputs.from_lock or inputs.function)
    single = len(chosen) * len(found) == 1 and (one_off or bool(flags.outputs.output))
    if not single and (flags.outputs.output or flags.outputs.lock):
        raise InputError(
            f"-o/--lock name one file, but this run builds {len(chosen) * len(found)} zips",
            hint="use --output-dir DIR: each zip is named NAME-TARGET.zip there, its lock beside it",
        )
    settings = _settings(flags, config)
    jobs = []
    for artefact in found:
        source = _source(artefact.inputs, settings.index, flags.sources.allow_build)
        beneath = _beneath(artefact.on_top_of, flags.sources.beneath, source)
        recipe = BuildRecipe(
            Layout.FUNCTION if artefact.function else settings.layout,
            flags.recipe.slim,
            settings.bytecode,
            flags.recipe.python,
            artefact.function,
        )
        for target in chosen:
            if single:
                output, lock = (
                    _single_output(flags.outputs, artefact, settings.cache_dir),
                    flags.outputs.lock,
                )
            else:
                output, lock = _matrix_outputs(artefact.name, target, settings.output_dir)
            request = BuildRequest(
                target,
                source,
                output,
                recipe,
                beneath,
                lock,
                flags.recipe.check,
                settings.cache_dir,
                strict=settings.strict,
            )
            jobs.append(Job(artefact.name, request))
    chose = flags.runtimes or flags.targets or (config and (config.runtimes or config.targets))
    defaulted = None if chose or recorded else chosen[0].runtime
    return BuildPlan(tuple(jobs), single, defaulted)


@dataclass(frozen=True)
class LockJob:
    """One lock ``lambdalayer lock`` writes: for which artefact and target, from what, where."""

    name: str
    target: Target
    source: LockSource
    beneath: Beneath
    cache_dir: Path
    path: Path


def plan_locks(flags: Flags) -> list[LockJob]:
    """Every lock one ``lambdalayer lock`` run writes (``-o`` for one, PEP 751 names for several)."""
    config = load_config(flags.inputs.project_dir)
    chosen = targets(flags.targets, flags.runtimes, flags.arches, config)
    found = artefacts(flags.inputs, config)
    single = len(chosen) * len(found) == 1
    if not single and flags.outputs.lock:
        raise InputError(
            f"-o names one file, but this run locks {len(chosen) * len(found)} targets",
            hint="use --output-dir DIR: each lock is written there as pylock.<name>-<target>.toml",
        )
    settings = _settings(flags, config)
    directory = flags.outputs.output_dir or Path.cwd()
    jobs = []
    for artefact in found:
        source = _source(artefact.inputs, settings.index, flags.sources.allow_build)
        beneath = _beneath(artefact.on_top_of, flags.sources.beneath, source)
        for target in chosen:
            if single:
                path = flags.outputs.lock or Path("pylock.toml")
            else:
                path = directory / lock_name(artefact.name if len(found) > 1 else None, target)
            jobs.append(LockJob(artefact.name, target, source, beneath, settings.cache_dir, path))
    return jobs


def plan_image(
    flags: Flags, outputs: ImageOutputs, base: str | None, auth: RegistryAuth
) -> ImageRequest:
    """The one image ``image build`` makes: its inputs and target weighed as a layer's are.

    The function's code (``flags.inputs.function``) is not an artefact of its own here: it
    goes into the image at /var/task, its handler the image's ``CMD``.
    """
    inputs = flags.inputs
    config = load_config(inputs.project_dir)
    chosen = targets(flags.targets, flags.runtimes, flags.arches, config)
    found = artefacts(replace(inputs, function=None, handler=None), config)
    if len(chosen) * len(found) != 1:
        raise InputError(
            f"one image a run: this one names {len(chosen) * len(found)} targets or artefacts",
            hint="give one --runtime and one --arch",
        )
    settings = _settings(flags, config)
    source = _source(found[0].inputs, settings.index, flags.sources.allow_build)
    beneath = _beneath(found[0].on_top_of, flags.sources.beneath, source)
    function = function_code(inputs.function, inputs.handler) if inputs.function else None
    recipe = BuildRecipe(
        Layout.IMAGE, flags.recipe.slim, settings.bytecode, flags.recipe.python, function
    )
    return ImageRequest(
        chosen[0],
        source,
        replace(outputs, lock=outputs.lock or flags.outputs.lock),
        recipe,
        beneath,
        base,
        auth,
        inputs.handler,
        flags.recipe.check,
        settings.cache_dir,
    )
