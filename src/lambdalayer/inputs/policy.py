"""The audit policy a project states: when to fail, licences it denies, advisories it accepts.

    [tool.lambdalayer.audit]
    fail-on = "any"                     # any (the default), unverified, none
    deny-licences = ["AGPL-3.0-only", "GPL-3.0-only"]

    [[tool.lambdalayer.audit.ignore]]
    id = "PYSEC-2026-4242"              # an advisory's id or one of its aliases (CVE-…)
    reason = "the affected function is never called"
    expires = 2027-01-31                # a TOML date: after it, the advisory counts again

Every ignore needs a reason and an expiry; the command-line flags (``--fail-on``,
``--deny-licence``) add to or override the file. Denied licence ids are checked against
the SPDX list where the list is (:func:`lambdalayer.supply.licences.spdx_id`).
"""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdalayer.errors import InputError

_KEYS = {"fail-on", "deny-licences", "ignore"}
_IGNORE_KEYS = {"id", "reason", "expires"}


class FailOn(enum.StrEnum):
    """When an audit fails the command."""

    ANY = "any"  # a known vulnerability (or a denied licence) in what ships
    UNVERIFIED = "unverified"  # that, or a distribution whose data could not be looked up
    NONE = "none"  # never: the report only


@dataclass(frozen=True)
class Ignore:
    """An advisory accepted, why, and until when."""

    id: str
    reason: str
    expires: datetime.date


@dataclass(frozen=True)
class AuditPolicy:
    """``[tool.lambdalayer.audit]``, typed."""

    fail_on: FailOn | None = None
    deny_licences: tuple[str, ...] = ()
    ignores: tuple[Ignore, ...] = ()


def with_flags(
    policy: AuditPolicy,
    fail_on_flag: str | None,
    deny_flags: tuple[str, ...],
    *,
    strict: bool = False,
    config_strict: bool = False,
) -> AuditPolicy:
    """The policy with the command line's say: ``--deny-licence`` adds; what fails is, first
    found, ``--fail-on``, ``--strict`` (``unverified``: as a check's strict, a release not
    looked up fails), the configuration's ``audit.fail-on``, its ``strict = true``
    (``unverified``), else the default (``any``)."""
    if fail_on_flag:
        chosen: FailOn | None = fail_on(fail_on_flag, "--fail-on")
    elif strict:
        chosen = FailOn.UNVERIFIED
    elif policy.fail_on is not None:
        chosen = policy.fail_on
    else:
        chosen = FailOn.UNVERIFIED if config_strict else None
    return AuditPolicy(
        fail_on=chosen,
        deny_licences=(*policy.deny_licences, *deny_flags),
        ignores=policy.ignores,
    )


def fail_on(value: str, where: str) -> FailOn:
    """``value`` as a :class:`FailOn`; :class:`InputError` naming ``where`` otherwise."""
    try:
        return FailOn(value)
    except ValueError as error:
        choices = ", ".join(item.value for item in FailOn)
        raise InputError(f"{where} {value!r:.40} is not one of {choices}") from error


def _ignore(entry: Any, where: str) -> Ignore:
    if not isinstance(entry, dict):
        raise InputError(f"{where} must be a table with id, reason and expires")
    unknown = sorted(set(entry) - _IGNORE_KEYS)
    if unknown:
        raise InputError(
            f"unknown key '{where}.{unknown[0]}'", hint="known keys: expires, id, reason"
        )
    identifier, reason, expires = entry.get("id"), entry.get("reason"), entry.get("expires")
    if not isinstance(identifier, str) or not identifier.strip():
        raise InputError(f"{where}.id must be an advisory's id (a string)")
    if not isinstance(reason, str) or not reason.strip():
        raise InputError(
            f"{where} ({identifier:.60}) has no reason",
            hint='say why the advisory does not apply: reason = "..."',
        )
    if not isinstance(expires, datetime.date) or isinstance(expires, datetime.datetime):
        raise InputError(
            f"{where} ({identifier:.60}) needs expires = a date (2027-01-31), not {expires!r:.40}",
            hint="an ignore must end: give the date after which the advisory counts again",
        )
    return Ignore(identifier.strip(), reason.strip(), expires)


def parse_policy(table: Any, where: str, path: Path) -> AuditPolicy:
    """The ``audit`` table of the configuration at ``path`` (``where``: its key's prefix)."""
    if not isinstance(table, dict):
        raise InputError(f"{path}: {where} must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise InputError(
            f"unknown key '{where}.{unknown[0]}' in {path}",
            hint=f"known keys here: {', '.join(sorted(_KEYS))}",
        )
    chosen = table.get("fail-on")
    if chosen is not None and not isinstance(chosen, str):
        raise InputError(f"{path}: {where}.fail-on must be a string")
    deny = table.get("deny-licences", [])
    if not isinstance(deny, list) or not all(isinstance(item, str) for item in deny):
        raise InputError(f"{path}: {where}.deny-licences must be a list of SPDX ids")
    ignores = table.get("ignore", [])
    if not isinstance(ignores, list):
        raise InputError(f"{path}: {where}.ignore must be an array of tables ([[...ignore]])")
    return AuditPolicy(
        fail_on=fail_on(chosen, f"{path}: {where}.fail-on =") if chosen is not None else None,
        deny_licences=tuple(deny),
        ignores=tuple(
            _ignore(entry, f"{path}: {where}.ignore[{number}]")
            for number, entry in enumerate(ignores)
        ),
    )
