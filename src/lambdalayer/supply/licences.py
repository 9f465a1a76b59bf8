"""A distribution's licence as an SPDX expression, where what it declares says so unambiguously.

In order (the first that gives one wins): PEP 639's ``License-Expression``; the older
``License`` field when it already is an SPDX expression or a name the table knows; the
``License ::`` classifiers when every one of them maps to the same SPDX id. The table
(``data/licences.toml``) is data: a new spelling is a new row. A licence that none of
them settles is *not known*: it is reported with what the distribution declared, never
guessed.

Expressions are parsed by ``license-expression`` (the library cyclonedx-python-lib uses)
against the SPDX licence list; ``LicenseRef-…`` identifiers are accepted as SPDX allows.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from typing import Any

from lambdalayer.distinfo import LicenceFields
from lambdalayer.errors import InputError
from lambdalayer.zipnames import printable

MAX_EXPRESSION = 512  # an SPDX expression is a line; a longer "License" is a licence's text
MAX_DECLARED = 200  # what is kept of a declaration that is not an expression (its first line)
_TOKEN = re.compile(r"[^\s()]+")
# PEP 639 allows LicenseRef- ids of one's own; a DocumentRef- points into another SPDX
# document, which a distribution's metadata cannot bring along: not known.
_REF = re.compile(r"LicenseRef-[A-Za-z0-9.-]+")


class LicenceSource(Enum):
    """Where a licence was read from."""

    EXPRESSION = "License-Expression"
    FIELD = "License"
    CLASSIFIERS = "classifiers"
    NONE = "nothing declared"


@dataclass(frozen=True)
class Licence:
    """An SPDX expression (``None`` when not known) and what the distribution declared."""

    spdx: str | None
    declared: str
    source: LicenceSource

    @property
    def known(self) -> bool:
        """Whether an SPDX expression could be given."""
        return self.spdx is not None

    def to_json(self) -> dict[str, object]:
        """``{"spdx": ..., "declared": ..., "source": ...}``."""
        return {"spdx": self.spdx, "declared": self.declared, "source": self.source.value}


@functools.cache
def _table() -> dict[str, Any]:
    text = resources.files("lambdalayer").joinpath("data/licences.toml").read_text("utf-8")
    return tomllib.loads(text)


@functools.cache
def _licensing() -> Any:
    # Imported here: reading the SPDX list takes a tenth of a second, paid only when needed.
    from license_expression import get_spdx_licensing  # noqa: PLC0415

    return get_spdx_licensing()


def _listed(token: str) -> bool:
    from cyclonedx.spdx import fixup_id  # noqa: PLC0415

    return fixup_id(token) is not None or bool(_REF.fullmatch(token))


def _only_listed_ids(text: str) -> bool:
    """Whether every licence in ``text`` is spelled as an SPDX id (or a LicenseRef).

    The parser also knows aliases ("GPL" → GPL-1.0-or-later, "Apache 2"): taking one of
    those would be a guess, so a licence must name an id of the list itself.
    """
    after_with = False
    for token in _TOKEN.findall(text):
        if token.upper() in {"AND", "OR"}:
            after_with = False
        elif token.upper() == "WITH":
            after_with = True
        elif not after_with and not _listed(token.removesuffix("+")):
            return False
    return True


def _parsed(text: str) -> Any | None:
    """The parsed expression, or ``None`` when ``text`` is not a valid SPDX expression."""
    if not text or len(text) > MAX_EXPRESSION or "\n" in text or not _only_listed_ids(text):
        return None
    licensing = _licensing()
    try:
        parsed = licensing.parse(text, validate=False, strict=True)
        if parsed is None:
            return None
        unknown = licensing.unknown_license_keys(parsed)
    except Exception:  # the parser raises several kinds, AttributeError on some input
        return None
    if any(not _REF.fullmatch(str(key)) for key in unknown):
        return None
    return parsed


def licence_refs(expression: str) -> tuple[str, ...]:
    """The ``LicenseRef-…`` ids an expression uses, in order, each once."""
    return tuple(dict.fromkeys(t for t in _TOKEN.findall(expression) if _REF.fullmatch(t)))


def spdx_expression(text: str) -> str | None:
    """``text`` as a normalised SPDX expression, or ``None`` when it is not one.

    >>> spdx_expression("mit or apache-2.0")
    'MIT OR Apache-2.0'
    >>> spdx_expression("BSD") is None
    True
    """
    parsed = _parsed(text.strip())
    return None if parsed is None else str(parsed.render())


def _first_line(text: str) -> str:
    """The first non-blank line, control characters escaped, at most :data:`MAX_DECLARED` long."""
    lines = (printable(part).strip() for part in text.splitlines())
    line = next((part for part in lines if part), "")
    return line if len(line) <= MAX_DECLARED else line[: MAX_DECLARED - 1] + "…"


def _from_field(text: str) -> str | None:
    expression = spdx_expression(text)
    if expression is not None:
        return expression
    key = " ".join(text.split()).casefold()
    names: dict[str, str] = _table()["names"]
    return names.get(key)


def _from_classifiers(classifiers: Iterable[str]) -> str | None:
    table: dict[str, str] = _table()["classifiers"]
    mapped = {table.get(line) for line in classifiers}
    if len(mapped) == 1 and None not in mapped:
        return mapped.pop()
    return None


def licence_of(fields: LicenceFields) -> Licence:
    """The licence of a distribution from its ``METADATA`` fields.

    >>> from lambdalayer.distinfo import LicenceFields
    >>> licence_of(LicenceFields(text="Apache License, Version 2.0")).spdx
    'Apache-2.0'
    """
    if fields.expression is not None:
        # PEP 639: where License-Expression is given, it alone says the licence.
        return Licence(
            spdx_expression(fields.expression),
            _first_line(fields.expression),
            LicenceSource.EXPRESSION,
        )
    if fields.text is not None:
        found = _from_field(fields.text)
        if found is not None:
            return Licence(found, _first_line(fields.text), LicenceSource.FIELD)
    if fields.classifiers:
        found = _from_classifiers(fields.classifiers)
        if found is not None:
            return Licence(found, "; ".join(fields.classifiers), LicenceSource.CLASSIFIERS)
    if fields.text is not None:
        return Licence(None, _first_line(fields.text), LicenceSource.FIELD)
    if fields.classifiers:
        declared = "; ".join(line.rsplit(" :: ", 1)[-1] for line in fields.classifiers)
        return Licence(None, _first_line(declared), LicenceSource.CLASSIFIERS)
    return Licence(None, "", LicenceSource.NONE)


def spdx_id(value: str, where: str) -> str:
    """One SPDX licence id as the list spells it; :class:`InputError` naming ``where`` otherwise.

    >>> spdx_id("gpl-3.0-only", "--deny-licence")
    'GPL-3.0-only'
    """
    parsed = _parsed(value.strip())
    if parsed is None or not hasattr(parsed, "key"):
        raise InputError(
            f"{where} {value!r:.80} is not one SPDX licence id",
            hint="use an id of the SPDX licence list, e.g. GPL-3.0-only or AGPL-3.0-or-later",
        )
    return str(parsed.key)


def _allowed(node: Any, deny: frozenset[str]) -> bool:
    licensing = _licensing()
    if isinstance(node, licensing.AND):
        return all(_allowed(arg, deny) for arg in node.args)
    if isinstance(node, licensing.OR):
        return any(_allowed(arg, deny) for arg in node.args)
    symbol = getattr(node, "license_symbol", node)  # "X WITH exception" is X's licence
    return str(symbol.key).casefold() not in deny


def denied(licence: Licence, deny: Iterable[str]) -> bool:
    """Whether every way of taking ``licence`` needs a licence of ``deny`` (``OR`` is a choice).

    >>> denied(Licence("GPL-3.0-only OR MIT", "", LicenceSource.EXPRESSION), ["GPL-3.0-only"])
    False
    """
    denied_ids = frozenset(item.casefold() for item in deny)
    if not denied_ids or licence.spdx is None:
        return False
    parsed = _parsed(licence.spdx)
    return parsed is not None and not _allowed(parsed, denied_ids)
