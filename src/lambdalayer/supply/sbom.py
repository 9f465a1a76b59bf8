"""SBOMs of an :class:`~lambdalayer.supply.inventory.Inventory`: CycloneDX 1.6 and SPDX 2.3 JSON.

CycloneDX is written with ``cyclonedx-python-lib`` (its model and JSON writer). SPDX is
written here as the SPDX 2.3 JSON schema lays it out — the SPDX project's own library
(``spdx-tools``) brings rdflib, beartype, click, PyYAML, xmltodict, ply and more for one
JSON document, so it is used by the tests, to parse and validate what this writes.

Both are byte-reproducible: the same inventory gives the same bytes. The serial number
(CycloneDX) and document namespace (SPDX) are a name-based UUID of the artefact's sha256
and of everything the document says; the timestamp is the date the artefact's own entries
carry (1980-01-01 for lambdalayer's zips) — never the clock, never ``SOURCE_DATE_EPOCH``.

In both, the artefact is the root; its distributions (purl, wheel sha256 and URL,
licence) hang from it, each with the native libraries it vendors; what the function also
loads without shipping it (the runtime's own packages, a managed layer beneath) is listed
as such: CycloneDX components of their provider, marked ``lambdalayer:provided-by``, and
SPDX packages in a ``PROVIDED_DEPENDENCY_OF`` relationship.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from enum import Enum

from lambdalayer.supply.inventory import Inventory

# The namespace of lambdalayer's name-based UUIDs (itself uuid5(NAMESPACE_URL, "lambdalayer")).
SBOM_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "lambdalayer")


class SbomFormat(Enum):
    """The SBOM formats lambdalayer writes."""

    CYCLONEDX = "cyclonedx"
    SPDX = "spdx"

    @property
    def suffix(self) -> str:
        """The file name's ending an SBOM of this format is given (``.cdx.json``, ``.spdx.json``)."""
        return ".spdx.json" if self is SbomFormat.SPDX else ".cdx.json"

    @property
    def media_type(self) -> str:
        """The document's media type (what an OCI artefact of it is called)."""
        return (
            "application/spdx+json" if self is SbomFormat.SPDX else "application/vnd.cyclonedx+json"
        )

    @classmethod
    def choices(cls) -> tuple[str, ...]:
        """The names the command line takes."""
        return tuple(item.value for item in cls)


def serial_uuid(inventory: Inventory, sbom_format: SbomFormat) -> uuid.UUID:
    """A UUID derived from the artefact's sha256 and everything the document will say."""
    facts = json.dumps(inventory.to_json(), sort_keys=True, separators=(",", ":"))
    said = hashlib.sha256(facts.encode()).hexdigest()
    return uuid.uuid5(
        SBOM_NAMESPACE,
        f"{sbom_format.value}:{inventory.artefact.sha256}:{said}:{inventory.tool_version}",
    )


def render(inventory: Inventory, sbom_format: SbomFormat) -> str:
    """The SBOM of ``inventory`` in ``sbom_format``, as JSON text ending in a newline."""
    if sbom_format is SbomFormat.SPDX:
        from lambdalayer.supply.spdx_json import spdx_document  # noqa: PLC0415 - see below

        return json.dumps(spdx_document(inventory), indent=2, ensure_ascii=False) + "\n"
    # Imported when a document is written: the CLI loads every command's module at start,
    # and the CycloneDX library's import is not free.
    from lambdalayer.supply.cyclonedx_json import cyclonedx_json  # noqa: PLC0415

    return cyclonedx_json(inventory)
