"""A review of what ships: known vulnerabilities and licences, judged against the policy.

:func:`review` audits every distribution of an inventory (and, apart, what the function
also loads beside it: the runtime's packages, a managed layer) and sorts the licences into
known, not known and denied; :func:`enforce` raises one :class:`PolicyError` when the
policy says the result fails. What could not be verified is counted as such — a review
with a release not verified is never called ok.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping
from dataclasses import dataclass

from lambdalayer.cache import Cache
from lambdalayer.check.findings import Verdict as CheckVerdict
from lambdalayer.errors import PolicyError
from lambdalayer.inputs.policy import AuditPolicy, FailOn
from lambdalayer.lock import Lock
from lambdalayer.supply.audit import AuditReport, AuditRequest, PackageAudit, Verdict, audit
from lambdalayer.supply.inventory import Artefact, Inventory, ShippedDistribution
from lambdalayer.supply.licences import Licence, LicenceSource, denied, spdx_id
from lambdalayer.wording import counted


@dataclass(frozen=True)
class ReviewRequest:
    """What to review, against which index, under which policy."""

    inventory: Inventory
    index_url: str
    policy: AuditPolicy
    today: datetime.date | None = None  # None: today (UTC)


@dataclass(frozen=True)
class Review:
    """The audit and the licences of one artefact, and the policy they were judged by."""

    inventory: Inventory
    shipped: AuditReport  # the distributions in the artefact
    beside: AuditReport  # what the function also loads (never fails the review)
    deny: tuple[str, ...]
    fail_on: FailOn

    @property
    def denied(self) -> tuple[ShippedDistribution, ...]:
        """Distributions whose licence the policy denies (every choice of it)."""
        return tuple(d for d in self.inventory.distributions if denied(d.licence, self.deny))

    @property
    def unknown_licences(self) -> tuple[ShippedDistribution, ...]:
        """Distributions whose licence is not known as an SPDX expression."""
        return tuple(d for d in self.inventory.distributions if not d.licence.known)

    @property
    def verdict(self) -> CheckVerdict:
        """As a check's: failed when something shipped is known to be vulnerable or its
        licence is denied; else not verified when a release could not be looked up (or, under
        a deny list, a licence is not known); else passed. ``fail_on`` decides the exit."""
        if self.shipped.vulnerable or self.denied:
            return CheckVerdict.FAILED
        if self.shipped.not_verified or (self.deny and self.unknown_licences):
            return CheckVerdict.NOT_VERIFIED
        return CheckVerdict.PASSED

    @property
    def ok(self) -> bool:
        """Everything verified, nothing vulnerable, no licence denied or unknown under a deny list."""
        return self.verdict is CheckVerdict.PASSED

    def failures(self) -> list[str]:
        """What fails the review under its ``fail_on`` (empty: it passes)."""
        if self.fail_on is FailOn.NONE:
            return []
        found = [
            f"{p.name} {p.version}: {', '.join(a.id for a in p.advisories)}"
            for p in self.shipped.vulnerable
        ]
        found += [f"{d.name} {d.version}: licence {d.licence.spdx} denied" for d in self.denied]
        if self.fail_on is FailOn.UNVERIFIED:
            found += [f"{p.name} {p.version}: not verified" for p in self.shipped.not_verified]
            if self.deny:
                found += [f"{d.name} {d.version}: licence not known" for d in self.unknown_licences]
        return found

    def to_json(self) -> dict[str, object]:
        """The review as JSON-ready data."""
        return {
            "ok": self.ok,
            "verdict": self.verdict.value,
            "fail_on": self.fail_on.value,
            "vulnerabilities": self.shipped.to_json(),
            "beside": self.beside.to_json(),
            "licences": {
                "deny": list(self.deny),
                "denied": [d.name for d in self.denied],
                "not_known": [d.name for d in self.unknown_licences],
                "by_distribution": {
                    d.name: d.licence.to_json() for d in self.inventory.distributions
                },
            },
            "failures": self.failures(),
        }


def deny_list(values: tuple[str, ...], where: str) -> tuple[str, ...]:
    """Denied licence ids, each checked against the SPDX list (one error naming ``where``)."""
    return tuple(dict.fromkeys(spdx_id(value, where) for value in values))


def review(request: ReviewRequest, cache: Cache, now: float | None = None) -> Review:
    """Audit ``request.inventory`` (what ships and what is beside it) and judge its licences."""
    inventory = request.inventory
    today = (
        request.today
        or datetime.datetime.fromtimestamp(
            now if now is not None else time.time(), datetime.UTC
        ).date()
    )
    clock = (lambda: now) if now is not None else time.time
    policy = request.policy
    shipped = audit(
        AuditRequest(
            tuple((d.name, d.version) for d in inventory.distributions),
            request.index_url,
            policy.ignores,
            today,
        ),
        cache,
        clock,
    )
    beside = audit(
        AuditRequest(
            tuple(dict.fromkeys((p.name, p.version) for p in inventory.provided)),
            request.index_url,
            policy.ignores,
            today,
        ),
        cache,
        clock,
    )
    deny = deny_list(policy.deny_licences, "a denied licence")
    return Review(inventory, shipped, beside, deny, policy.fail_on or FailOn.ANY)


_POLICY_HINT = (
    "upgrade to a fixed version, or accept an advisory with [[tool.lambdalayer.audit.ignore]]"
    " (id, reason, expires); --fail-on none reports without failing"
)


def _shown(failures: list[str]) -> str:
    return "; ".join(failures[:5]) + (
        f"; and {len(failures) - 5} more" if len(failures) > 5 else ""
    )


def enforce(result: Review) -> None:
    """Raise one :class:`PolicyError` when the review fails its policy."""
    failures = result.failures()
    if not failures:
        return
    raise PolicyError(
        f"what ships breaks the policy (fail-on {result.fail_on.value}): {_shown(failures)}",
        hint=_POLICY_HINT,
        review=result.to_json(),
    )


def enforce_each(reviews: Mapping[str, Review]) -> None:
    """Raise one :class:`PolicyError` naming each artefact (by its name in ``reviews``) whose
    review fails its policy: the reviews of a run that built several zips."""
    failing = {name: result for name, result in reviews.items() if result.failures()}
    if not failing:
        return
    fail_on = ", ".join(dict.fromkeys(result.fail_on.value for result in failing.values()))
    failures = [
        f"{name}: {failure}" for name, result in failing.items() for failure in result.failures()
    ]
    raise PolicyError(
        f"what ships breaks the policy (fail-on {fail_on}) in {len(failing)} of"
        f" {counted(len(reviews), 'zip')}: {_shown(failures)}",
        hint=_POLICY_HINT,
        review={name: result.to_json() for name, result in failing.items()},
    )


def inventory_of_lock(lock: Lock, name: str, sha256: str) -> Inventory:
    """What a lock alone says ships: names and versions (licences are not in a lock)."""
    not_read = Licence(None, "", LicenceSource.NONE)
    return Inventory(
        artefact=Artefact(name, sha256, "lock"),
        distributions=tuple(
            sorted(
                (
                    ShippedDistribution(package.name, package.version, not_read, package.wheels[0])
                    for package in lock.packages
                    if package.wheels
                ),
                key=lambda dist: dist.name,
            )
        ),
    )


def audit_lines(report: AuditReport) -> list[str]:
    """One line per release that has something to say (vulnerable, ignored, not verified)."""
    lines: list[str] = []
    for package in report.packages:
        lines += _package_lines(package)
    return lines


def _package_lines(package: PackageAudit) -> list[str]:
    what = f"{package.name} {package.version}"
    if package.verdict is Verdict.NOT_VERIFIED:
        return [f"  not verified  {what}: {package.why_not_verified}"]
    lines = []
    for advisory in package.advisories:
        aliases = f" ({', '.join(advisory.aliases)})" if advisory.aliases else ""
        fixed = f"; fixed in {', '.join(advisory.fixed_in)}" if advisory.fixed_in else ""
        summary = f" {advisory.summary}" if advisory.summary else ""
        lines.append(f"  VULNERABLE    {what}: {advisory.id}{aliases}{summary}{fixed}")
    for advisory, ignore in package.ignored:
        lines.append(
            f"  ignored       {what}: {advisory.id} until {ignore.expires} ({ignore.reason})"
        )
    for ignore in package.expired:
        lines.append(f"  expired       {what}: the ignore of {ignore.id} ended {ignore.expires}")
    return lines
