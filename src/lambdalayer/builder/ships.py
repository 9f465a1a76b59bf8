"""What ships, for a build just made: its SBOM, its audit, its provenance (``build --sbom``,
``--audit``, ``--provenance``), from the build's own lock, target and layers beneath."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.builder.provenance import write_provenance
from lambdalayer.builder.result import BuildResult
from lambdalayer.cache import Cache
from lambdalayer.errors import InputError, LambdaLayerError
from lambdalayer.fsutil import atomic_write_bytes, check_side_output, ensure_writable_parent
from lambdalayer.inputs.policy import AuditPolicy
from lambdalayer.lock import Lock
from lambdalayer.resolve.provided import Provided, layer_zip
from lambdalayer.supply.inventory import (
    Inventory,
    inventory_of_zip,
    layer_provided,
    runtime_provided,
)
from lambdalayer.supply.review import Review, ReviewRequest, review
from lambdalayer.supply.sbom import SbomFormat, render
from lambdalayer.targets import Target
from lambdalayer.wording import counted


@dataclass(frozen=True)
class ShipsRequest:
    """What to say of a build: an SBOM (where, which format), an audit, a provenance."""

    sbom: Path | None = None
    sbom_format: SbomFormat = SbomFormat.CYCLONEDX
    audit: AuditPolicy | None = None  # None: no audit
    provenance: bool = False
    signing_key: Path | None = None


@dataclass(frozen=True)
class Ships:
    """What was written and found."""

    inventory: Inventory
    sbom: Path | None = None
    review: Review | None = None
    provenance: Path | None = None


def ships_json(ships: Ships | None) -> dict[str, object]:
    """What was written and found for one zip, as a JSON row's ``sbom``, ``provenance`` and
    ``audit`` (each ``None`` when not asked)."""
    return {
        "sbom": str(ships.sbom) if ships and ships.sbom else None,
        "provenance": str(ships.provenance) if ships and ships.provenance else None,
        "audit": ships.review.to_json() if ships and ships.review else None,
    }


def sbom_of_zip(directory: Path, artefact: Path, sbom_format: SbomFormat) -> Path:
    """Where a run of several zips writes one zip's SBOM: in ``directory``, named as the zip
    is (``core-python3.12-arm64.cdx.json`` for ``core-python3.12-arm64.zip``)."""
    return directory / f"{artefact.stem}{sbom_format.suffix}"


def check_sbom_directory(
    directory: Path,
    sbom_format: SbomFormat,
    zips: Sequence[Path],
    outputs: Sequence[tuple[str, Path]],
) -> None:
    """``--sbom DIR`` of a run of several zips: a directory (made if absent), where no SBOM
    (:func:`sbom_of_zip`) would replace one of ``outputs`` (the zips, their locks, each with
    the option naming it), another zip's SBOM (two zips of one name in other directories)
    or something that is not a regular file. Checked before anything is built."""
    if directory.exists() and not directory.is_dir():
        raise InputError(
            f"--sbom {directory} is a file, but this run builds {counted(len(zips), 'zip')}: one"
            " SBOM each",
            hint=f"give --sbom a directory (each zip's SBOM is named as the zip,"
            f" NAME-TARGET{sbom_format.suffix}), e.g. --sbom dist",
        )
    first: dict[Path, Path] = {}
    for artefact in zips:
        sbom = sbom_of_zip(directory, artefact, sbom_format)
        other = first.setdefault(sbom, artefact)
        if other != artefact:
            raise InputError(
                f"--sbom {directory}: {other} and {artefact} would write the same SBOM,"
                f" {sbom.name} (each is named as its zip)",
                hint="rename the function whose zip takes a shared layer's name, or build"
                " them in runs of their own",
            )
        check_side_output(sbom, "--sbom", outputs)
    if zips:
        ensure_writable_parent(sbom_of_zip(directory, zips[0], sbom_format), "--sbom")


def zip_inventory(
    path: Path,
    lock: Lock,
    target: Target,
    sources: Sequence[Provided] = (),
    layers: Sequence[Path] = (),
) -> Inventory:
    """A built zip's inventory: its lock's wheels, the runtime's own packages, and what the
    ``sources`` beneath (``--on-top-of``) and the layer zips it is deployed with provide."""
    provided = list(runtime_provided(target))
    for source in sources:
        if not source.runtime:
            provided += layer_provided(source)
    for layer in layers:
        provided += layer_provided(layer_zip(layer))
    return inventory_of_zip(path, lock, provided, target.name)


def build_inventory(result: BuildResult) -> Inventory:
    """The built zip's inventory, with its lock's wheels and what is beneath it."""
    if result.output.is_dir():
        raise InputError(
            "--sbom, --audit and --provenance read the built zip, but -o DIR/ writes the layer's"
            " files, not a zip",
            hint="build a zip, or run 'lambdalayer sbom' on one",
        )
    return zip_inventory(
        result.output,
        result.locked.lock,
        result.target,
        result.locked.sources,
        result.request.beneath.layers,
    )


def after_build(result: BuildResult, request: ShipsRequest, index_url: str) -> Ships:
    """Write the SBOM and provenance ``request`` asks for, and review what ships."""
    return ship(build_inventory(result), request, index_url, result.request.cache_dir, result)


def ship(
    inventory: Inventory,
    request: ShipsRequest,
    index_url: str,
    cache_dir: Path | None,
    built: BuildResult | None,
) -> Ships:
    """Write the SBOM ``request`` asks for of ``inventory``'s zip, review it, and write the
    provenance of ``built`` (the build that made the zip in this run: a provenance attests
    a build, so one that is not known here is an error, never a provenance left out)."""
    if request.sbom is not None:
        atomic_write_bytes(request.sbom, render(inventory, request.sbom_format).encode("utf-8"))
    found = None
    if request.audit is not None:
        with Cache.open(cache_dir) as cache:
            found = review(ReviewRequest(inventory, index_url, request.audit), cache)
    written = None
    if request.provenance:
        if built is None:
            raise LambdaLayerError(
                f"{inventory.artefact.name} was not built in this run: there is no build of it"
                " to write a provenance of"
            )
        written = write_provenance(built, request.signing_key)
    return Ships(inventory, request.sbom, found, written)
