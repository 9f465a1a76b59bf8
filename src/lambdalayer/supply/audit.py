"""Known vulnerabilities of what ships, from the index's JSON API (the OSV data pip-audit uses).

For every distribution and version, ``<index>/pypi/<name>/<version>/json`` (PyPI's JSON
API; the index URL without its ``/simple``) and its ``vulnerabilities`` list: OSV's
records of that release (``id``, ``aliases``, ``summary``, ``fixed_in``, ``link``,
``withdrawn``). An index that answers 404 there, or an answer without that field, leaves
the distribution *not verified* — said as such, never counted as clean. An answer that is
not what the API gives (not JSON, wrong types, over the size bound) is one
:class:`AdvisoryError` naming the URL and the field.

Answers are kept for a day in the cache's advisories bucket (keyed by the redacted URL,
the name and the version, :func:`~lambdalayer.cache.key_of`). Ignores come from the
configuration, each with a reason and an expiry date; an expired one no longer applies
and the report says so.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum

from lambdalayer.cache import Bucket, Cache, key_of
from lambdalayer.errors import AdvisoryError
from lambdalayer.fsutil import atomic_write_bytes
from lambdalayer.inputs.policy import Ignore
from lambdalayer.net.http import get_response, redact

CACHE_SECONDS = 24 * 3600  # an answer is used for a day
MAX_ANSWER_BYTES = 8 * 1024 * 1024  # a release's JSON is kB; megabytes are hostile
MAX_FIELD = 1000  # characters kept of an advisory's summary
_WORKERS = 8
Now = Callable[[], float]


@dataclass(frozen=True)
class Advisory:
    """One known vulnerability of a release (an OSV record as the JSON API gives it)."""

    id: str
    aliases: tuple[str, ...] = ()
    summary: str = ""
    fixed_in: tuple[str, ...] = ()
    link: str | None = None

    def names(self) -> frozenset[str]:
        """Its id and aliases: what an ignore may name it by."""
        return frozenset({self.id, *self.aliases})

    def to_json(self) -> dict[str, object]:
        """The advisory as JSON-ready data."""
        return {
            "id": self.id,
            "aliases": list(self.aliases),
            "summary": self.summary,
            "fixed_in": list(self.fixed_in),
            "link": self.link,
        }


class Verdict(Enum):
    """What is known of one distribution's release."""

    CLEAN = "no known vulnerabilities"
    VULNERABLE = "known vulnerabilities"
    NOT_VERIFIED = "not verified"


@dataclass(frozen=True)
class PackageAudit:
    """One distribution's release: its advisories (those ignored apart), or why it is not verified."""

    name: str
    version: str
    verdict: Verdict
    advisories: tuple[Advisory, ...] = ()
    ignored: tuple[tuple[Advisory, Ignore], ...] = ()
    expired: tuple[Ignore, ...] = ()  # ignores of its advisories that no longer apply
    why_not_verified: str | None = None

    def to_json(self) -> dict[str, object]:
        """The result as JSON-ready data."""
        return {
            "name": self.name,
            "version": self.version,
            "verdict": self.verdict.value,
            "verified": self.verdict is not Verdict.NOT_VERIFIED,
            "advisories": [advisory.to_json() for advisory in self.advisories],
            "ignored": [
                {**advisory.to_json(), "reason": ignore.reason, "expires": str(ignore.expires)}
                for advisory, ignore in self.ignored
            ],
            "expired_ignores": [
                {"id": item.id, "expires": str(item.expires)} for item in self.expired
            ],
            "why_not_verified": self.why_not_verified,
        }


@dataclass(frozen=True)
class AuditReport:
    """The audit of every distribution, against one index's JSON API."""

    api: str | None  # where the JSON API was looked for (redacted), None when it cannot be
    packages: tuple[PackageAudit, ...]

    def with_verdict(self, verdict: Verdict) -> tuple[PackageAudit, ...]:
        """The distributions with ``verdict``."""
        return tuple(package for package in self.packages if package.verdict is verdict)

    @property
    def vulnerable(self) -> tuple[PackageAudit, ...]:
        """Distributions with a known vulnerability that no ignore covers."""
        return self.with_verdict(Verdict.VULNERABLE)

    @property
    def not_verified(self) -> tuple[PackageAudit, ...]:
        """Distributions whose release could not be looked up."""
        return self.with_verdict(Verdict.NOT_VERIFIED)

    def to_json(self) -> dict[str, object]:
        """The report as JSON-ready data."""
        return {
            "api": self.api,
            "vulnerable": len(self.vulnerable),
            "not_verified": len(self.not_verified),
            "packages": [package.to_json() for package in self.packages],
        }


@dataclass(frozen=True)
class AdvisoryLookup:
    """One release looked up: the frozen request an answer in the cache is keyed by."""

    url: str  # the JSON API's URL of the release, credentials removed
    name: str
    version: str


def json_api(index_url: str) -> str | None:
    """The JSON API's base of a simple index (``…/simple`` → ``…``), or ``None`` when unknown.

    >>> json_api("https://pypi.org/simple/")
    'https://pypi.org'
    """
    base = index_url.rstrip("/")
    return base.removesuffix("/simple") if base.endswith("/simple") else None


# --- reading the index's answer --------------------------------------------------------------


def _strings(value: object, where: str, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(item[:MAX_FIELD] for item in value[:100])
    raise AdvisoryError(f"{where}: {field} is not a list of strings ({type(value).__name__})")


def _text(value: object, where: str, field: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value[:MAX_FIELD]
    raise AdvisoryError(f"{where}: {field} is {type(value).__name__}, not a string")


def _advisory(record: object, where: str, number: int) -> Advisory | None:
    field = f"vulnerabilities[{number}]"
    if not isinstance(record, dict):
        raise AdvisoryError(f"{where}: {field} is {type(record).__name__}, not an object")
    identifier = record.get("id")
    if not isinstance(identifier, str) or not identifier or len(identifier) > 200:
        raise AdvisoryError(f"{where}: {field}.id is not a name ({identifier!r:.60})")
    if record.get("withdrawn"):
        return None  # withdrawn by its source: not a vulnerability any more
    return Advisory(
        id=identifier,
        aliases=_strings(record.get("aliases"), where, f"{field}.aliases"),
        summary=_text(record.get("summary") or record.get("details"), where, f"{field}.summary"),
        fixed_in=_strings(record.get("fixed_in"), where, f"{field}.fixed_in"),
        link=_text(record.get("link"), where, f"{field}.link") or None,
    )


def parse_answer(body: bytes, where: str) -> tuple[Advisory, ...] | None:
    """The advisories of one JSON API answer; ``None`` when it has no ``vulnerabilities`` field."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise AdvisoryError(f"{where}: the answer is not JSON ({error})") from error
    if not isinstance(document, dict):
        raise AdvisoryError(f"{where}: the answer is {type(document).__name__}, not an object")
    if "vulnerabilities" not in document:
        return None
    records = document["vulnerabilities"]
    if not isinstance(records, list):
        raise AdvisoryError(
            f"{where}: vulnerabilities is {type(records).__name__}, not a list",
        )
    found = (_advisory(record, where, number) for number, record in enumerate(records))
    return tuple(advisory for advisory in found if advisory is not None)


# --- looking up, with the cache -----------------------------------------------------------------


def _cached(cache: Cache, lookup: AdvisoryLookup, now: float) -> tuple[Advisory, ...] | None:
    path = cache.mark(Bucket.ADVISORIES, key_of(lookup))
    try:
        entry = json.loads(path.read_bytes())
        if now - float(entry["fetched"]) > CACHE_SECONDS or entry["url"] != lookup.url:
            return None
        return parse_answer(json.dumps(entry["answer"]).encode(), lookup.url)
    except (OSError, ValueError, KeyError, TypeError, AdvisoryError):
        return None  # absent, old or damaged: asked again


def _store(
    cache: Cache, lookup: AdvisoryLookup, advisories: tuple[Advisory, ...], now: float
) -> None:
    entry = {
        "url": lookup.url,
        "fetched": now,
        "answer": {
            "vulnerabilities": [
                {**advisory.to_json(), "withdrawn": None} for advisory in advisories
            ]
        },
    }
    cache.bucket(Bucket.ADVISORIES)
    atomic_write_bytes(cache.entry(Bucket.ADVISORIES, key_of(lookup)), json.dumps(entry).encode())


def lookup_release(
    api: str, name: str, version: str, cache: Cache, now: Now = time.time
) -> tuple[Advisory, ...] | str:
    """The advisories of ``name`` ``version``, or why they could not be looked up."""
    url = f"{api}/pypi/{name}/{version}/json"
    lookup = AdvisoryLookup(redact(url), name, version)
    moment = now()
    cached = _cached(cache, lookup, moment)
    if cached is not None:
        return cached
    response = get_response(url, passthrough=frozenset({404}), limit=MAX_ANSWER_BYTES)
    if response.status == 404:
        return f"{redact(api)} has no JSON API entry for {name} {version} (HTTP 404)"
    advisories = parse_answer(response.body, redact(url))
    if advisories is None:
        return f"{redact(url)} answers without a vulnerabilities field"
    _store(cache, lookup, advisories, moment)
    return advisories


def _applies(ignore: Ignore, advisory: Advisory, today: datetime.date) -> bool:
    """Whether ``ignore`` names ``advisory`` (by id or alias) and has not expired."""
    return ignore.id in advisory.names() and today <= ignore.expires


def judge(
    name: str,
    version: str,
    found: tuple[Advisory, ...] | str,
    ignores: Sequence[Ignore],
    today: datetime.date,
) -> PackageAudit:
    """One release's verdict: its advisories less those an unexpired ignore names."""
    if isinstance(found, str):
        return PackageAudit(name, version, Verdict.NOT_VERIFIED, why_not_verified=found)
    active, ignored, expired = [], [], []
    for advisory in found:
        ignore = next((item for item in ignores if _applies(item, advisory, today)), None)
        if ignore is not None:
            ignored.append((advisory, ignore))
            continue
        active.append(advisory)
        expired += [item for item in ignores if item.id in advisory.names()]
    verdict = Verdict.VULNERABLE if active else Verdict.CLEAN
    return PackageAudit(name, version, verdict, tuple(active), tuple(ignored), tuple(expired))


@dataclass(frozen=True)
class AuditRequest:
    """What to audit: releases, against which index, with which ignores, on which day."""

    releases: tuple[tuple[str, str], ...]  # (canonical name, version)
    index_url: str
    ignores: tuple[Ignore, ...] = ()
    today: datetime.date | None = None  # None: today, in UTC


def audit(request: AuditRequest, cache: Cache, now: Now = time.time) -> AuditReport:
    """Look every release of ``request`` up (in parallel, through the cache) and judge it."""
    today = request.today or datetime.datetime.fromtimestamp(now(), datetime.UTC).date()
    api = json_api(request.index_url)
    if api is None:
        why = (
            f"{redact(request.index_url)} does not end in /simple: where its JSON API is"
            " cannot be told"
        )
        return AuditReport(
            None,
            tuple(judge(name, version, why, (), today) for name, version in request.releases),
        )

    def one(release: tuple[str, str]) -> PackageAudit:
        name, version = release
        found = lookup_release(api, name, version, cache, now)
        return judge(name, version, found, request.ignores, today)

    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        packages = tuple(pool.map(one, request.releases))
    return AuditReport(redact(api), packages)
