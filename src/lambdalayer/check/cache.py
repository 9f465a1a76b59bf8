"""Check reports kept in the cache: the same zip, checked the same way, gives the same report.

A rebuild that produces the same bytes (the usual warm rebuild) need not import a single
module again. The key is the zip's sha256 with the check's request
(:meth:`~lambdalayer.check.request.CheckRequest.cache_key`): the target, the other zips
(by sha256) and the layers counted beneath, the options of the check, the interpreter
that imports (its path and X.Y.Z) and lambdalayer's own code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from lambdalayer.cache import Bucket, Cache
from lambdalayer.check.findings import CheckReport
from lambdalayer.check.providers import AskIndex
from lambdalayer.check.request import CheckRequest
from lambdalayer.check.rules import check
from lambdalayer.placement import Placement
from lambdalayer.targets import Target


class CheckCache:
    """Reports in the cache's checks bucket, by :meth:`CheckRequest.cache_key`."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache = Cache.at(cache_dir)

    def load(self, key: str, path: Path, target: Target) -> CheckReport | None:
        """The stored report of ``key``, for the zip now at ``path``; ``None`` when absent or unreadable."""
        if not self.cache.admit(Bucket.CHECKS, key):
            return None
        try:
            document = json.loads(self.cache.mark(Bucket.CHECKS, key).read_text("utf-8"))
            return CheckReport.from_json(document, path, target)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store(self, key: str, report: CheckReport) -> None:
        """Keep ``report`` under ``key``."""
        self.cache.bucket(Bucket.CHECKS)
        document = json.dumps(report.to_json()).encode("utf-8")
        self.cache.write(Bucket.CHECKS, key, document)


def checked(
    placement: Placement,
    request: CheckRequest,
    cache_dir: Path,
    notify: Callable[[str], None],
    what: str = "the layer",
    ask_index: AskIndex | None = None,
) -> CheckReport:
    """The check of ``placement``, or its report from the cache when the same files were
    checked alike (the key: the request with the placement's identity); only a report whose
    every part passed is kept — one with a part not verified is checked again, as what was
    missing (a sandbox, an interpreter, an image) may be here now."""
    target = request.target
    with Cache.open(cache_dir):
        reports = CheckCache(cache_dir)
        key = request.cache_key(placement.identity())
        cached = reports.load(key, placement.shown, target)
        if cached is not None:
            notify(f"checked before: the same bytes for {target.name} (cached report)")
            return cached
        notify(f"checking {what} for {target.name}")
        report = check(placement, request, cache_dir=cache_dir, ask_index=ask_index)
        if report.ok:
            reports.store(key, report)
        return report
