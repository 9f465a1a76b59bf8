"""Which artefacts to build for which targets, with which settings: flags over config over defaults.

The precedence in one place, on typed values (not on argparse's namespace), so that it
is tested without the command line: a flag given wins; else ``[tool.lambdalayer]`` (or
``lambdalayer.toml``); else the default. What is built: the packages and files given;
else the configuration's layers and function; else the project's own lock or pyproject.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lambdalayer.errors import InputError
from lambdalayer.inputs.config import Inputs, ProjectConfig
from lambdalayer.inputs.projects import discover_input
from lambdalayer.inputs.requirements import Gathered, gather
from lambdalayer.net.index import IndexConfig
from lambdalayer.targets import (
    DEFAULT_ARCH,
    Layout,
    Target,
    canonical_arch,
    default_runtime,
    get_target,
)

DEFAULT_BYTECODE = "auto"


@dataclass(frozen=True)
class Flags:
    """What the command line said; empty or ``None`` is "not given"."""

    packages: tuple[str, ...] = ()
    requirements: tuple[Path, ...] = ()
    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    from_lock: Path | None = None
    function: Path | None = None
    handler: str | None = None
    runtimes: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    layout: str | None = None
    bytecode: str | None = None
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    output_dir: Path | None = None
    on_top_of: str | None = None


@dataclass(frozen=True)
class Artefact:
    """One thing to build (a layer, or the function package), for every target."""

    name: str
    inputs: Gathered
    function_source: Path | None = None
    handler: str | None = None
    on_top_of: str | None = None


@dataclass(frozen=True)
class Settings:
    """The build settings once flags, configuration and defaults are weighed."""

    layout: Layout
    bytecode: str
    index: IndexConfig
    output_dir: Path


def targets(flags: Flags, config: ProjectConfig | None) -> list[Target]:
    """Every runtime and architecture pair asked for (each once, arch names made canonical)."""
    runtimes = (
        list(flags.runtimes) or list(config.runtimes if config else ()) or [default_runtime().name]
    )
    arches = list(flags.arches) or list(config.arches if config else ()) or [DEFAULT_ARCH]
    return [
        get_target(runtime, arch)
        for runtime in dict.fromkeys(runtimes)
        for arch in dict.fromkeys(canonical_arch(arch) for arch in arches)
    ]


def settings(flags: Flags, config: ProjectConfig | None, project_dir: Path) -> Settings:
    """Layout, bytecode, indexes and the output directory: flag, else configuration, else default."""
    output_dir = flags.output_dir or (
        config.output_dir if config and config.output_dir else project_dir / "dist"
    )
    layout = flags.layout or (config.layout if config else None) or Layout.SITE_PACKAGES
    bytecode = flags.bytecode or (
        config.bytecode if config and config.bytecode else DEFAULT_BYTECODE
    )
    index = IndexConfig.from_options(
        flags.index_url or (config.index_url if config else None),
        flags.extra_index_urls or (config.extra_index_urls if config else ()),
    )
    return Settings(Layout(layout), bytecode, index, output_dir)


def _gather(inputs: Inputs, project_dir: Path, flags: Flags) -> Gathered:
    if not inputs.empty:
        files = list(inputs.files)
        if (inputs.extras or inputs.groups) and not files:
            files = [project_dir / "pyproject.toml"]
        only_groups = bool(inputs.groups) and not inputs.extras and not inputs.requirements
        return gather(inputs.requirements, files, extras=inputs.extras, groups=inputs.groups,
                      include_dependencies=not only_groups)  # fmt: skip
    return gather([], [discover_input(project_dir)], extras=flags.extras, groups=flags.groups)


def _explicit(flags: Flags) -> Gathered:
    if flags.from_lock is not None:
        if flags.packages or flags.requirements:
            raise InputError(
                "--from-lock builds exactly the lock's wheels; requirements cannot be added to it",
                hint="drop the packages and -r files, or drop --from-lock to resolve again",
            )
        return Gathered(pylock=flags.from_lock)
    return gather(flags.packages, flags.requirements, extras=flags.extras, groups=flags.groups)


def artefacts(flags: Flags, config: ProjectConfig | None, project_dir: Path) -> list[Artefact]:
    """Every artefact to build: the explicit inputs, else the configuration's, else the project's."""
    explicit = bool(flags.packages or flags.requirements or flags.from_lock)
    gathered = _explicit(flags) if explicit else None
    if flags.function is not None:
        inputs = gathered if gathered is not None else _gather(Inputs(), project_dir, flags)
        return [Artefact("function", inputs, flags.function, flags.handler)]
    if gathered is not None:
        return [Artefact("layer", gathered)]
    if config is not None and (config.layers or config.function):
        found = [
            Artefact(
                layer.name,
                _gather(layer.inputs, project_dir, flags),
                on_top_of=layer.inputs.on_top_of,
            )
            for layer in config.layers
        ]
        if config.function is not None:
            spec = config.function
            found.append(Artefact("function", _gather(spec.inputs, project_dir, flags), spec.source,
                                  spec.handler, spec.inputs.on_top_of))  # fmt: skip
        return found
    return [Artefact("layer", _gather(Inputs(), project_dir, flags))]
