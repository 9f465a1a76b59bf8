"""One build's request: every input typed and validated before the first stage runs.

A :class:`BuildRequest` is made by :mod:`lambdalayer.builder.plan` (from flags and
``[tool.lambdalayer]``) or by a library user directly; :func:`lambdalayer.builder.build`
runs it. Each stage takes only its own part: the lock source (resolve), the recipe
(fragments), the output (archive), the check flag.

>>> request = BuildRequest(  # doctest: +SKIP
...     get_target("python3.12", "arm64"),
...     Resolve(Requirements(specifiers=("requests==2.31.0",))),
...     ZipOutput(Path("layer.zip")),
... )
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from lambdalayer.aws.client import AwsSettings
from lambdalayer.inputs.ontopof import OnTopOf
from lambdalayer.layer.output import LayerOutput
from lambdalayer.net.fetch import DEFAULT_JOBS, default_cache_dir
from lambdalayer.recipe import BytecodeMode, SlimOptions
from lambdalayer.resolve.stage import LockSource
from lambdalayer.targets import Layout, Target


@dataclass(frozen=True)
class FunctionCode:
    """A function package's own code: its directory, and the handler the check imports."""

    source: Path
    handler: str | None = None


@dataclass(frozen=True)
class BuildRecipe:
    """How the wheels become the layer's files: layout, slimming, bytecode, the function's code.

    ``python`` is the CPython that compiles the bytecode (and imports in the check);
    ``None``: one of the runtime's X.Y found here, or installed by uv.
    """

    layout: Layout = Layout.SITE_PACKAGES
    slim: SlimOptions = field(default_factory=SlimOptions)
    bytecode: BytecodeMode = BytecodeMode.UNCHECKED_HASH
    python: Path | None = None
    function: FunctionCode | None = None


@dataclass(frozen=True)
class Beneath:
    """What the function already has beneath this layer, left out of it.

    ``on_top_of``: another layer (its packages are pinned and left out);
    ``runtime_provided``: the runtime's own AWS SDK; ``aws``: how the build reads a
    published layer and the managed layer's exact ARN.
    """

    on_top_of: OnTopOf | None = None
    runtime_provided: bool = False
    aws: AwsSettings = field(default_factory=AwsSettings)

    @property
    def anything(self) -> bool:
        """Whether anything is beneath."""
        return self.on_top_of is not None or self.runtime_provided


@dataclass(frozen=True)
class BuildRequest:
    """One layer (or function package) for one target, and where it goes."""

    target: Target
    source: LockSource
    output: LayerOutput
    recipe: BuildRecipe = field(default_factory=BuildRecipe)
    beneath: Beneath = field(default_factory=Beneath)
    lock_output: Path | None = None
    check: bool = True
    cache_dir: Path = field(default_factory=default_cache_dir)
    jobs: int = DEFAULT_JOBS
