"""What a function already has beneath an artefact, read where it lives (AWS among it).

The preparation stage takes what is beneath as pinned sets (:class:`Provided`) and never
talks to AWS; reading a published layer or the managed layer's exact ARN happens here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from lambdalayer.aws.client import AwsSettings, parse_layer_arn
from lambdalayer.aws.layercontent import cached_layer_zip, layer_content
from lambdalayer.aws.remote import managed_layer_arn, published_layer
from lambdalayer.errors import LambdaLayerError
from lambdalayer.inputs.ontopof import OnTopOf
from lambdalayer.resolve.provided import Provided, provided_by, runtime_provided
from lambdalayer.targets import Target


@dataclass(frozen=True)
class Beneath:
    """What the function already has beneath this artefact, left out of it.

    ``on_top_of``: another layer (its packages are pinned and left out);
    ``runtime_provided``: the runtime's own AWS SDK; ``aws``: how a published layer and the
    managed layer's exact ARN are read; ``layers``: layer zips it is deployed with (a plan's
    shared layers, whose packages the plan already left out): its check runs with them.
    """

    on_top_of: OnTopOf | None = None
    runtime_provided: bool = False
    aws: AwsSettings = field(default_factory=AwsSettings)
    layers: tuple[Path, ...] = ()

    @property
    def anything(self) -> bool:
        """Whether anything is beneath."""
        return self.on_top_of is not None or self.runtime_provided


def provided_sets(beneath: Beneath, target: Target) -> tuple[Provided, ...]:
    """What the function already has beneath, as pinned sets (AWS is read here, not in resolve)."""
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
class Fetched:
    """The layers beneath, with the zips of those fetched through the Lambda API; ``missing``:
    why the others are not here."""

    sources: tuple[Provided, ...]
    missing: tuple[str, ...] = ()


def fetch_beneath(sources: tuple[Provided, ...], settings: AwsSettings, cache_dir: Path) -> Fetched:
    """Each published layer beneath (the managed layer's exact version among them) with its
    zip, fetched with ``GetLayerVersion`` and kept by its CodeSha256, where AWS answers."""
    fetched, missing = [], []
    for item in sources:
        if item.zip_path is not None or item.runtime or item.layer_arn is None:
            fetched.append(item)
            continue
        try:
            parse_layer_arn(item.layer_arn)
        except LambdaLayerError:
            where = f" (SSM parameter {item.ssm_parameter})" if item.ssm_parameter else ""
            missing.append(f"{item.source}: its exact version is not known{where}")
            fetched.append(item)
            continue
        try:
            path = cached_layer_zip(layer_content(item.layer_arn, settings), cache_dir)
        except LambdaLayerError as error:
            missing.append(f"{item.source}: {error.message}")
            fetched.append(item)
            continue
        fetched.append(replace(item, zip_path=path))
    return Fetched(tuple(fetched), tuple(missing))
