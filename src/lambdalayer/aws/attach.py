"""Attach a layer version to a function: replace or append, never drop, always within limits.

The function's layer list is read, the given version replaces an older version of the
*same* layer in place (keeping the order, which decides which layer's files win) or is
appended, and the update is refused with the reason when Lambda would refuse it or the
function would break: more than 5 layers, an incompatible runtime or architecture, or —
where lambdalayer recorded the sizes — more than 262,144,000 bytes unzipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lambdalayer.aws.client import AwsSettings, call, client, parse_layer_arn, region_of_arn
from lambdalayer.aws.publish import MARKER
from lambdalayer.errors import AttachError
from lambdalayer.limits import MAX_LAYERS, UNZIPPED_LIMIT, quota_text

WAIT_DELAY_SECONDS = 2
WAIT_ATTEMPTS = 150


@dataclass(frozen=True)
class AttachResult:
    """The function's layers before and after, and warnings for the user."""

    function: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether the function's configuration was updated."""
        return self.before != self.after


def new_layer_list(current: list[str], arn: str) -> list[str]:
    """``current`` with ``arn`` replacing a version of the same layer in place, or appended."""
    base, _ = parse_layer_arn(arn)
    replaced = [arn if parse_layer_arn(existing)[0] == base else existing for existing in current]
    if arn not in replaced:
        replaced.append(arn)
    return replaced


def _unzipped_of(lambda_client: Any, arn: str) -> int | None:
    base, version = parse_layer_arn(arn)
    response = call(
        f"reading {arn}", lambda_client.get_layer_version, LayerName=base, VersionNumber=version
    )
    match = MARKER.search(response.get("Description", ""))
    return int(match.group(2)) if match and match.group(2) else None


def attach(settings: AwsSettings, function: str, arn: str) -> AttachResult:
    """Make ``function`` use layer version ``arn``; waits until the update has finished."""
    region = settings.region or region_of_arn(arn)
    lambda_client = client(settings, "lambda", region)
    config = call(
        f"reading function {function}",
        lambda_client.get_function_configuration,
        FunctionName=function,
    )
    before = [layer["Arn"] for layer in config.get("Layers", [])]
    after = new_layer_list(before, arn)
    warnings: list[str] = []
    if "PYTHONPATH" in config.get("Environment", {}).get("Variables", {}):
        warnings.append(
            f"{function} sets PYTHONPATH: Lambda then does not add /opt/python paths, so layer"
            " packages"
            " are not importable unless PYTHONPATH includes them"
        )
    if after == before:
        return AttachResult(function, tuple(before), tuple(after), tuple(warnings))
    base, version = parse_layer_arn(arn)
    layer = call(
        f"reading {arn}", lambda_client.get_layer_version, LayerName=base, VersionNumber=version
    )
    wanted = LayerFacts(
        arn,
        tuple(layer.get("CompatibleRuntimes") or ()),
        tuple(layer.get("CompatibleArchitectures") or ()),
        _unzipped_of(lambda_client, arn),
    )
    _refuse_incompatible(lambda_client, function, config, wanted, after)
    # The revision read above: if another change to the function lands in between (another
    # attach, a deploy), Lambda refuses this one (PreconditionFailedException) instead of
    # silently dropping that change's layers.
    revision = {"RevisionId": config["RevisionId"]} if config.get("RevisionId") else {}
    call(
        f"updating {function}",
        lambda_client.update_function_configuration,
        FunctionName=function,
        Layers=after,
        **revision,
    )
    wait_for_update(lambda_client, function)
    return AttachResult(function, tuple(before), tuple(after), tuple(warnings))


@dataclass(frozen=True)
class LayerFacts:
    """A layer version as attaching weighs it: what it is called (an ARN, or the name it will
    be published as), its runtimes and CPUs (none: any) and unzipped bytes when known."""

    shown: str
    runtimes: tuple[str, ...] = ()
    architectures: tuple[str, ...] = ()
    unzipped: int | None = None


def _refuse_incompatible(
    lambda_client: Any,
    function: str,
    config: dict[str, Any],
    layer: LayerFacts,
    after: list[str],
) -> None:
    """Raise :class:`AttachError` when Lambda would refuse ``function`` with the layers
    ``after`` (``layer`` among them, the others by ARN) or the function would break."""
    if len(after) > MAX_LAYERS:
        raise AttachError(
            f"{function} would have {len(after)} layers; Lambda allows {MAX_LAYERS}",
            hint="merge layers into one (lambdalayer build takes all the requirements at once)",
        )
    runtime = config.get("Runtime")
    if runtime and layer.runtimes and runtime not in layer.runtimes:
        raise AttachError(
            f"{layer.shown} is built for {', '.join(layer.runtimes)}; {function} runs {runtime}",
            hint=f"build and publish the layer for {runtime}",
        )
    function_arches = config.get("Architectures") or ["x86_64"]
    if layer.architectures and not set(function_arches) <= set(layer.architectures):
        raise AttachError(
            f"{layer.shown} is built for {', '.join(layer.architectures)}; {function} runs on"
            f" {', '.join(function_arches)}",
            hint=f"build and publish the layer with --arch {function_arches[0]}",
        )
    sizes = [
        layer.unzipped if item == layer.shown else _unzipped_of(lambda_client, item)
        for item in after
    ]
    known = sum(size for size in sizes if size is not None)
    if known > UNZIPPED_LIMIT:
        raise AttachError(
            f"{function}'s layers would unzip to {known:,} bytes; Lambda allows"
            f" {quota_text(UNZIPPED_LIMIT)} with the function",
            hint="slim the layers, or leave out what another layer already provides",
        )


def can_attach(settings: AwsSettings, function: str, layer_name: str, layer: LayerFacts) -> None:
    """Before publishing ``layer_name``: raise :class:`AttachError` when attaching its next
    version to ``function`` would be refused (runtime, CPU, the 5 layers, the unzipped
    quota) — so that a refusal leaves no orphan version behind. Nothing is changed."""
    lambda_client = client(settings, "lambda", settings.region)
    config = call(
        f"reading function {function}",
        lambda_client.get_function_configuration,
        FunctionName=function,
    )
    before = [item["Arn"] for item in config.get("Layers", [])]
    same = [item for item in before if _layer_name(item) == layer_name]
    after = [layer.shown if item in same else item for item in before]
    if not same:
        after.append(layer.shown)
    _refuse_incompatible(lambda_client, function, config, layer, after)


def _layer_name(arn: str) -> str:
    """The layer's name in a version's ARN (``arn:aws:lambda:…:layer:NAME:3``)."""
    return parse_layer_arn(arn)[0].rsplit(":", 1)[-1]


def wait_for_update(lambda_client: Any, function: str) -> None:
    """Wait until Lambda has finished updating ``function`` (its ``function_updated_v2`` waiter)."""
    waiter = lambda_client.get_waiter("function_updated_v2")
    call(
        f"waiting for {function} to finish updating",
        waiter.wait,
        FunctionName=function,
        WaiterConfig={"Delay": WAIT_DELAY_SECONDS, "MaxAttempts": WAIT_ATTEMPTS},
    )
