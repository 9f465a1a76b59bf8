"""After a build: the artefact published, then attached to a function — or invoked — as one
request says, in the library (the command line only reads its flags into a
:class:`Delivery` and prints the :class:`Delivered`).

    BuildResult + Delivery
      → Published…   (every region; a version is new only for new bytes)
      → attached     (when every region published: the function uses the new version)
      or
      → InvokeReport (a function package's handler called with an event)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lambdalayer.aws.attach import AttachResult, LayerFacts, attach, can_attach
from lambdalayer.aws.client import AwsSettings, default_region, region_of_arn
from lambdalayer.aws.publish import Published, PublishRequest, publish
from lambdalayer.builder.result import BuildResult
from lambdalayer.errors import InputError, LambdaLayerError
from lambdalayer.invoke import FunctionConfig, InvokeReport, InvokeRequest, invoke
from lambdalayer.progress import Notify, quiet

Progress = Callable[[str, int, int], None]  # (region, bytes sent, bytes in all)


@dataclass(frozen=True)
class Invoking:
    """A built function package's handler called with ``event``, ``repeat`` times."""

    event: bytes
    config: FunctionConfig = field(default_factory=FunctionConfig)
    repeat: int = 1
    python: Path | None = None


@dataclass(frozen=True)
class Delivery:
    """What becomes of the built zip: ``publish`` (its ``zip_path``, runtimes and CPUs are
    the build's) in ``regions`` (none: the settings' one), then ``attach`` (a function) to
    use the new version; or ``invoke``, for a function package."""

    aws: AwsSettings = field(default_factory=AwsSettings)
    publish: PublishRequest | None = None
    regions: tuple[str, ...] = ()
    attach: str | None = None
    invoke: Invoking | None = None

    def check(self) -> None:
        """Refuse what cannot be done: attaching what is not published, both at once."""
        if self.attach is not None and self.publish is None:
            raise InputError(
                f"attaching {self.attach} uses the version published: a layer name to publish"
                " it as is needed"
            )
        if self.invoke is not None and self.publish is not None:
            raise InputError("a build is either invoked (a function) or published (a layer)")


@dataclass(frozen=True)
class Delivered:
    """What happened: each region's publishing, each attachment (or the error that stopped
    it, after the versions were published), the invocations."""

    published: tuple[Published, ...] = ()
    attached: tuple[tuple[str, AttachResult], ...] = ()  # (the version's ARN, what changed)
    attach_error: LambdaLayerError | None = None
    invoked: InvokeReport | None = None

    @property
    def ok(self) -> bool:
        """Whether every region published and every attachment was made."""
        return self.attach_error is None and not any(item.error for item in self.published)


def deliver(
    result: BuildResult,
    delivery: Delivery,
    notify: Notify = quiet,
    progress: Progress | None = None,
) -> Delivered:
    """Publish (then attach) or invoke what ``result`` built, as ``delivery`` says."""
    delivery.check()
    if delivery.invoke is not None:
        return Delivered(invoked=_invoke(result, delivery.invoke, notify))
    if delivery.publish is None:
        return Delivered()
    target = result.target
    request = dataclasses.replace(delivery.publish, zip_path=result.output).from_zip(
        [target.runtime.name], [target.arch]
    )
    if delivery.attach is not None:
        layer = LayerFacts(
            f"{request.name} (about to be published)",
            request.runtimes,
            request.architectures,
            request.unzipped_bytes,
        )
        _attachable(request.name, layer, delivery, delivery.attach)
    published = tuple(publish(request, delivery.aws, delivery.regions, progress))
    if delivery.attach is None or any(item.error for item in published):
        return Delivered(published)
    attached: list[tuple[str, AttachResult]] = []
    try:
        for item in published:
            if item.arn:
                settings = dataclasses.replace(delivery.aws, region=region_of_arn(item.arn))
                attached.append((item.arn, attach(settings, delivery.attach, item.arn)))
    except LambdaLayerError as error:
        return Delivered(published, tuple(attached), error)
    return Delivered(published, tuple(attached))


def _attachable(name: str, layer: LayerFacts, delivery: Delivery, function: str) -> None:
    """Refuse (``AttachError``) before anything is published when ``function`` could not use
    ``layer`` (the version of ``name`` about to be published) in any region of
    ``delivery``: no orphan version is left behind."""
    settings = delivery.aws
    for region in list(dict.fromkeys(delivery.regions)) or [default_region(settings)]:
        can_attach(dataclasses.replace(settings, region=region), function, name, layer)


def _invoke(result: BuildResult, invoking: Invoking, notify: Notify) -> InvokeReport:
    """The built function package's handler, called as Lambda calls it."""
    function = result.request.recipe.function
    if function is None or function.handler is None:
        raise InputError(
            "invoking calls the built function: it needs the function's code and handler"
        )
    request = InvokeRequest(
        function.handler,
        result.target,
        result.output,
        config=invoking.config,
        python=invoking.python,
        cache_dir=result.request.cache_dir,
        index=result.request.source.index,
    )
    return invoke(request, invoking.event, invoking.repeat, notify)
