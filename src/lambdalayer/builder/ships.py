"""What ships, for a build just made: its SBOM, its audit, its provenance (``build --sbom``,
``--audit``, ``--provenance``), from the build's own lock, target and layers beneath."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lambdalayer.builder.provenance import write_provenance
from lambdalayer.builder.result import BuildResult
from lambdalayer.cache import Cache
from lambdalayer.errors import InputError
from lambdalayer.fsutil import atomic_write_bytes
from lambdalayer.inputs.policy import AuditPolicy
from lambdalayer.supply.inventory import (
    Inventory,
    inventory_of_zip,
    layer_provided,
    runtime_provided,
)
from lambdalayer.supply.review import Review, ReviewRequest, review
from lambdalayer.supply.sbom import SbomFormat, render


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


def sbom_of_zip(directory: Path, artefact: Path, sbom_format: SbomFormat) -> Path:
    """Where a run of several zips writes one zip's SBOM: in ``directory``, named as the zip
    is (``core-python3.12-arm64.cdx.json`` for ``core-python3.12-arm64.zip``)."""
    return directory / f"{artefact.stem}{sbom_format.suffix}"


def build_inventory(result: BuildResult) -> Inventory:
    """The built zip's inventory, with its lock's wheels and what is beneath it."""
    if result.output.is_dir():
        raise InputError(
            "--sbom, --audit and --provenance read the built zip; they cannot follow -o DIR/",
            hint="build a zip, or run 'lambdalayer sbom' on one",
        )
    provided = list(runtime_provided(result.target))
    for source in result.locked.sources:
        if not source.runtime:
            provided += layer_provided(source)
    return inventory_of_zip(result.output, result.locked.lock, provided, result.target.name)


def after_build(result: BuildResult, request: ShipsRequest, index_url: str) -> Ships:
    """Write the SBOM and provenance ``request`` asks for, and review what ships."""
    inventory = build_inventory(result)
    if request.sbom is not None:
        atomic_write_bytes(request.sbom, render(inventory, request.sbom_format).encode("utf-8"))
    found = None
    if request.audit is not None:
        with Cache.open(result.request.cache_dir) as cache:
            found = review(ReviewRequest(inventory, index_url, request.audit), cache)
    written = write_provenance(result, request.signing_key) if request.provenance else None
    return Ships(inventory, request.sbom, found, written)
