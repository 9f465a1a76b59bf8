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

from lambdalayer.aws.beneath import Beneath
from lambdalayer.cache import cache_root
from lambdalayer.layer.output import LayerOutput
from lambdalayer.net.fetch import DEFAULT_JOBS
from lambdalayer.prepare import BuildRecipe, FunctionCode
from lambdalayer.resolve.stage import LockSource
from lambdalayer.targets import Target
from lambdalayer.trim.manifest import Manifest

__all__ = ["Beneath", "BuildRecipe", "BuildRequest", "FunctionCode"]


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
    cache_dir: Path = field(default_factory=cache_root)
    jobs: int = DEFAULT_JOBS
    trim: Manifest | None = None  # ``build --trim``: keep only what the manifest keeps
    strict: bool = False  # a check part not verified fails the build, as an error would
