"""Reading a ``*.dist-info`` directory with the formats' own parsers.

``METADATA`` and ``WHEEL`` are email headers (core metadata spec): only the header block
counts, so a README line ``Name: MyStack`` in the body is never taken for the name.
``RECORD`` is CSV: paths may hold commas and quotes.
"""

from __future__ import annotations

import csv
import email.parser
import email.policy
import io
from dataclasses import dataclass

from packaging.utils import canonicalize_name


@dataclass(frozen=True)
class DistMetadata:
    """A distribution's canonical name, version and ``Requires-Dist`` lines from ``METADATA``."""

    name: str
    version: str
    requires: tuple[str, ...] = ()


def _headers(data: bytes) -> email.message.Message:
    text = data.decode("utf-8", "replace")
    parser = email.parser.HeaderParser(policy=email.policy.compat32)
    return parser.parsestr(text)


def parse_metadata(data: bytes) -> DistMetadata | None:
    """Name and version of a ``METADATA`` file, or ``None`` when either header is missing.

    >>> parse_metadata(b"Name: six\\nVersion: 1.17.0\\n\\nName: MyStack").name
    'six'
    """
    headers = _headers(data)
    name, version = headers.get("Name"), headers.get("Version")
    if not name or not version:
        return None
    requires = tuple(str(line).strip() for line in headers.get_all("Requires-Dist") or [])
    return DistMetadata(str(canonicalize_name(str(name).strip())), str(version).strip(), requires)


@dataclass(frozen=True)
class LicenceFields:
    """What a ``METADATA`` file declares of its licence, as written (nothing normalised here).

    ``expression`` is PEP 639's ``License-Expression``; ``text`` the older ``License`` field
    (a name, an SPDX id, or a whole licence text); ``classifiers`` the ``License ::``
    Trove classifiers.
    """

    expression: str | None = None
    text: str | None = None
    classifiers: tuple[str, ...] = ()


def parse_licence_fields(data: bytes) -> LicenceFields:
    """The licence headers of a ``METADATA`` file (only the header block counts).

    >>> parse_licence_fields(b"Name: a\nLicense-Expression: MIT\n").expression
    'MIT'
    """
    headers = _headers(data)

    def field(name: str) -> str | None:
        value = headers.get(name)
        text = str(value).strip() if value is not None else ""
        return text or None

    classifiers = tuple(
        str(line).strip()
        for line in headers.get_all("Classifier") or []
        if str(line).strip().startswith("License ::")
    )
    return LicenceFields(field("License-Expression"), field("License"), classifiers)


def parse_wheel_tags(data: bytes) -> list[str]:
    """The ``Tag:`` headers of a ``WHEEL`` file."""
    return [str(tag).strip() for tag in _headers(data).get_all("Tag") or []]


def parse_record_paths(data: bytes) -> list[str]:
    """The paths listed in a ``RECORD`` file (first CSV column), relative to site-packages."""
    reader = csv.reader(io.StringIO(data.decode("utf-8", "replace")))
    return [row[0] for row in reader if row and row[0]]
