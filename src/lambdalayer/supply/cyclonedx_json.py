"""The CycloneDX 1.6 JSON SBOM, written with ``cyclonedx-python-lib`` (its model and writer).

The artefact is ``metadata.component``; each distribution a ``library`` component (purl,
the wheel's sha256 as its hash and its URL as a ``distribution`` reference, the declared
licence) with the native libraries it vendors nested in it; what the function also loads
without shipping it sits under a ``platform`` component per provider, each marked
``lambdalayer:provided-by``. Components are sorted by the library; every ``bom-ref`` is
derived from what it names, so the bytes are the same on every run.
"""

from __future__ import annotations

from typing import Any

from cyclonedx.model import (
    ExternalReference,
    ExternalReferenceType,
    HashAlgorithm,
    HashType,
    Property,
    XsUri,
)
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import DisjunctiveLicense, LicenseAcknowledgement, LicenseExpression
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from lambdalayer.supply.inventory import (
    Inventory,
    ProvidedPackage,
    ShippedDistribution,
    VendoredLibrary,
)
from lambdalayer.supply.sbom import SbomFormat, serial_uuid

_PROPERTY = "lambdalayer:"


def _cdx_licences(dist: ShippedDistribution) -> list[Any]:

    declared = LicenseAcknowledgement.DECLARED
    if dist.licence.spdx is not None:
        return [LicenseExpression(dist.licence.spdx, acknowledgement=declared)]
    if dist.licence.declared:
        return [DisjunctiveLicense(name=dist.licence.declared, acknowledgement=declared)]
    return []


def _sha256(value: str) -> Any:

    return HashType(alg=HashAlgorithm.SHA_256, content=value)


def _properties(**values: str | None) -> list[Any]:

    return [
        Property(name=_PROPERTY + name.replace("_", "-"), value=value)
        for name, value in values.items()
        if value
    ]


def _cdx_library(lib: VendoredLibrary) -> Any:

    return Component(
        type=ComponentType.LIBRARY,
        name=lib.name,
        bom_ref=f"artefact-file:{lib.path}",
        hashes=[_sha256(lib.sha256)],
        properties=_properties(path=lib.path, bundled_by=lib.distribution),
    )


def _cdx_distribution(dist: ShippedDistribution, libraries: list[VendoredLibrary]) -> Any:

    references = []
    if dist.wheel is not None:
        references.append(
            ExternalReference(
                type=ExternalReferenceType.DISTRIBUTION,
                url=XsUri(dist.wheel.url),
                hashes=[_sha256(dist.wheel.sha256)],
                comment=dist.wheel.filename,
            )
        )
    return Component(
        type=ComponentType.LIBRARY,
        name=dist.name,
        version=dist.version,
        bom_ref=f"artefact:{dist.purl}",
        purl=PackageURL.from_string(dist.purl),
        licenses=_cdx_licences(dist),
        hashes=[_sha256(dist.wheel.sha256)] if dist.wheel else [],
        external_references=references,
        components=[_cdx_library(lib) for lib in libraries],
        properties=_properties(
            licence_source=dist.licence.source.value,
            licence_known="true" if dist.licence.known else "false",
            wheel=dist.wheel.filename if dist.wheel else None,
        ),
    )


def _cdx_provider(provider: str, packages: list[ProvidedPackage]) -> Any:

    return Component(
        type=ComponentType.PLATFORM,
        name=provider,
        bom_ref=f"provider:{provider}",
        properties=_properties(provided_by=provider),
        components=[
            Component(
                type=ComponentType.LIBRARY,
                name=item.name,
                version=item.version,
                bom_ref=f"provided:{provider}:{item.purl}",
                purl=PackageURL.from_string(item.purl),
                properties=_properties(provided_by=provider),
            )
            for item in packages
        ],
    )


def _cdx_root(inventory: Inventory) -> Any:

    artefact = inventory.artefact
    return Component(
        type=ComponentType.FILE,
        name=artefact.name,
        bom_ref="artefact",
        hashes=[_sha256(artefact.sha256)],
        properties=_properties(kind=artefact.kind, target=inventory.target),
    )


def cyclonedx_json(inventory: Inventory) -> str:
    """The CycloneDX 1.6 JSON SBOM of ``inventory``."""

    root = _cdx_root(inventory)
    tool = Component(
        type=ComponentType.APPLICATION, name="lambdalayer", version=inventory.tool_version
    )
    distributions = [
        _cdx_distribution(
            dist, [lib for lib in inventory.libraries if lib.distribution == dist.name]
        )
        for dist in inventory.distributions
    ]
    unowned = [
        _cdx_library(lib)
        for lib in inventory.libraries
        if lib.distribution not in {dist.name for dist in inventory.distributions}
    ]
    providers = sorted({item.provider for item in inventory.provided})
    provided = [
        _cdx_provider(name, [item for item in inventory.provided if item.provider == name])
        for name in providers
    ]
    metadata = BomMetaData(
        component=root,
        timestamp=inventory.artefact.created,
        tools=ToolRepository(components=[tool]),
    )
    bom = Bom(
        components=[*distributions, *unowned, *provided],
        metadata=metadata,
        serial_number=serial_uuid(inventory, SbomFormat.CYCLONEDX),
    )
    bom.register_dependency(root, [*distributions, *unowned, *provided])
    for dist in distributions:
        bom.register_dependency(dist, [])
    return str(JsonV1Dot6(bom).output_as_string(indent=2)) + "\n"
