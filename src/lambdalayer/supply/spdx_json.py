"""The SPDX 2.3 JSON SBOM, laid out as the SPDX 2.3 JSON schema asks.

Written here rather than with the SPDX project's ``spdx-tools``, whose dependencies
(rdflib, beartype, click, PyYAML, xmltodict, ply, uritools, semantic_version) are many
for one JSON document; the tests parse and validate every document this writes with it.
The artefact is the described package; each distribution a package it ``CONTAINS`` (purl,
wheel sha256 and URL, ``licenseDeclared``: the SPDX expression, else a ``LicenseRef-n``
carrying what was declared, else ``NOASSERTION``); each vendored library a package its
distribution ``CONTAINS``; what the function also loads beside it a package in a
``PROVIDED_DEPENDENCY_OF`` relationship with the artefact.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from lambdalayer.supply.inventory import (
    Inventory,
    ProvidedPackage,
    ShippedDistribution,
    VendoredLibrary,
)
from lambdalayer.supply.licences import licence_refs
from lambdalayer.supply.sbom import SbomFormat, serial_uuid

_NOASSERTION = "NOASSERTION"
_ID_CHARACTERS = re.compile(r"[^A-Za-z0-9.-]+")


def _spdx_id(kind: str, number: int, name: str) -> str:
    """``SPDXRef-<kind>-<n>-<name>``: numbered, so two names that clean up alike never collide."""
    return f"SPDXRef-{kind}-{number}-{_ID_CHARACTERS.sub('-', name)[:60]}"


# SPDX 2.3's download location (clause 7.7) is a URL whose host ends in a top-level domain
# of 2-5 letters: an index at an IP address or "localhost" has none, so its URL is given
# as the package's sourceInfo instead, with NOASSERTION as the location.
_HOST = re.compile(r"[a-z0-9]+([-.][a-z0-9]+)*\.[a-z]{2,5}", re.IGNORECASE)
_SCHEMES = frozenset({"http", "https", "ftp", "sftp"})


def download_location(url: str) -> str | None:
    """``url`` when SPDX 2.3 takes it as a download location, else ``None``.

    >>> download_location("http://127.0.0.1:8080/files/a-1.0-py3-none-any.whl") is None
    True
    """
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname or "", parts.port
    except ValueError:
        return None
    if parts.scheme in _SCHEMES and _HOST.fullmatch(host) and not any(c.isspace() for c in url):
        return url
    return None


def _purl_ref(purl: str) -> list[dict[str, str]]:
    return [
        {
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": purl,
        }
    ]


class _SpdxLicences:
    """``licenseDeclared`` values, and the ``hasExtractedLicensingInfos`` they need.

    A declaration that is no SPDX expression gets a ``LicenseRef-lambdalayer-N`` carrying
    its text; a distribution's own ``LicenseRef-…`` (PEP 639 allows them) is declared in
    the document too, as SPDX requires of every reference an expression uses.
    """

    def __init__(self) -> None:
        self.extracted: dict[str, dict[str, str]] = {}

    def _extract(self, reference: str, text: str, comment: str) -> None:
        entry = self.extracted.setdefault(
            reference, {"licenseId": reference, "extractedText": text, "name": text}
        )
        entry["comment"] = "; ".join(filter(None, [entry.get("comment"), comment]))

    def declared(self, dist: ShippedDistribution) -> str:
        who = f"declared by {dist.name} {dist.version} ({dist.licence.source.value})"
        if dist.licence.spdx is not None:
            for reference in licence_refs(dist.licence.spdx):
                self._extract(reference, f"{reference} (its text is in the distribution)", who)
            return dist.licence.spdx
        if not dist.licence.declared:
            return _NOASSERTION
        reference = f"LicenseRef-lambdalayer-{len(self.extracted) + 1}"
        self._extract(reference, dist.licence.declared, f"{who}; not an SPDX expression")
        return reference


def _spdx_distribution(
    dist: ShippedDistribution, spdx_id: str, licences: _SpdxLicences
) -> dict[str, object]:
    package: dict[str, object] = {
        "SPDXID": spdx_id,
        "name": dist.name,
        "versionInfo": dist.version,
        "downloadLocation": (download_location(dist.wheel.url) if dist.wheel else None)
        or _NOASSERTION,
        "filesAnalyzed": False,
        "licenseConcluded": _NOASSERTION,
        "licenseDeclared": licences.declared(dist),
        "copyrightText": _NOASSERTION,
        "externalRefs": _purl_ref(dist.purl),
        "primaryPackagePurpose": "LIBRARY",
    }
    if dist.wheel is not None:
        if package["downloadLocation"] == _NOASSERTION:
            package["sourceInfo"] = f"downloaded from {dist.wheel.url}"
        package["packageFileName"] = dist.wheel.filename
        package["checksums"] = [{"algorithm": "SHA256", "checksumValue": dist.wheel.sha256}]
    return package


def _spdx_library(lib: VendoredLibrary, spdx_id: str) -> dict[str, object]:
    return {
        "SPDXID": spdx_id,
        "name": lib.name,
        "packageFileName": lib.path,
        "downloadLocation": _NOASSERTION,
        "filesAnalyzed": False,
        "checksums": [{"algorithm": "SHA256", "checksumValue": lib.sha256}],
        "licenseConcluded": _NOASSERTION,
        "licenseDeclared": _NOASSERTION,
        "copyrightText": _NOASSERTION,
        "primaryPackagePurpose": "LIBRARY",
        "comment": f"a native library vendored in {lib.distribution or 'a wheel'}'s .libs directory",
    }


def _spdx_provided(item: ProvidedPackage, spdx_id: str) -> dict[str, object]:
    return {
        "SPDXID": spdx_id,
        "name": item.name,
        "versionInfo": item.version,
        "downloadLocation": _NOASSERTION,
        "filesAnalyzed": False,
        "licenseConcluded": _NOASSERTION,
        "licenseDeclared": _NOASSERTION,
        "copyrightText": _NOASSERTION,
        "externalRefs": _purl_ref(item.purl),
        "primaryPackagePurpose": "LIBRARY",
        "comment": f"not in the artefact: provided by the {item.provider}, loaded by the function",
    }


def _relationship(element: str, kind: str, related: str) -> dict[str, str]:
    return {
        "spdxElementId": element,
        "relationshipType": kind,
        "relatedSpdxElement": related,
    }


def spdx_document(inventory: Inventory) -> dict[str, object]:
    """The SPDX 2.3 document of ``inventory`` (as JSON-ready data)."""
    artefact = inventory.artefact
    root = "SPDXRef-Artefact"
    packages: list[dict[str, object]] = [
        {
            "SPDXID": root,
            "name": artefact.name,
            "downloadLocation": _NOASSERTION,
            "filesAnalyzed": False,
            "checksums": [{"algorithm": "SHA256", "checksumValue": artefact.sha256}],
            "licenseConcluded": _NOASSERTION,
            "licenseDeclared": _NOASSERTION,
            "copyrightText": _NOASSERTION,
            "primaryPackagePurpose": "CONTAINER" if artefact.kind == "image" else "ARCHIVE",
            "comment": f"an AWS Lambda {artefact.kind}"
            + (f" for {inventory.target}" if inventory.target else ""),
        }
    ]
    relationships = [_relationship("SPDXRef-DOCUMENT", "DESCRIBES", root)]
    licences = _SpdxLicences()
    owners: dict[str, str] = {}
    for number, dist in enumerate(inventory.distributions, 1):
        spdx_id = _spdx_id("Package", number, f"{dist.name}-{dist.version}")
        owners[dist.name] = spdx_id
        packages.append(_spdx_distribution(dist, spdx_id, licences))
        relationships.append(_relationship(root, "CONTAINS", spdx_id))
    for number, lib in enumerate(inventory.libraries, 1):
        spdx_id = _spdx_id("Library", number, lib.name)
        packages.append(_spdx_library(lib, spdx_id))
        owner = owners.get(lib.distribution or "", root)
        relationships.append(_relationship(owner, "CONTAINS", spdx_id))
    for number, item in enumerate(inventory.provided, 1):
        spdx_id = _spdx_id("Provided", number, f"{item.name}-{item.version}")
        packages.append(_spdx_provided(item, spdx_id))
        relationships.append(_relationship(spdx_id, "PROVIDED_DEPENDENCY_OF", root))
    document: dict[str, object] = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{artefact.name} ({artefact.kind})",
        "documentNamespace": f"urn:uuid:{serial_uuid(inventory, SbomFormat.SPDX)}",
        "creationInfo": {
            "created": artefact.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "creators": [f"Tool: lambdalayer-{inventory.tool_version}"],
        },
        "packages": packages,
        "relationships": relationships,
    }
    if licences.extracted:
        document["hasExtractedLicensingInfos"] = list(licences.extracted.values())
    return document
