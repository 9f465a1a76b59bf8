"""Versions known to have no wheel for a target, remembered between resolutions.

Resolving for the exact glibc floor (Amazon Linux 2: 2.26) takes a second uv round
whenever uv first picks a version with no fitting wheel (pyarrow's newest, for one); the
versions found unfit are excluded and uv runs again. Those facts outlive one build: a
version's files do not change unless its project page does. So they are kept per target
and index page, with the page's validator, and the next resolution — of any
requirements — starts with them excluded after one conditional GET per page confirms
the page is unchanged (a changed page forgets them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lambdalayer.cache import Bucket, Cache
from lambdalayer.errors import LambdaLayerError
from lambdalayer.net.http import redact
from lambdalayer.net.index import IndexConfig, page_unchanged, page_validator
from lambdalayer.targets import Target

FORMAT = 1
MAX_PARALLEL_CHECKS = 16


class UnfitVersions:
    """Per target, in the cache's unfit bucket: package → versions without a fitting wheel."""

    def __init__(self, cache_dir: Path, target: Target, index: IndexConfig) -> None:
        self.cache = Cache.at(cache_dir)
        self.key = target.name
        self.path = self.cache.mark(Bucket.UNFIT, self.key)
        self.index = index

    def _read(self) -> dict[str, dict[str, object]]:
        if not self.cache.admit(Bucket.UNFIT, self.key):
            return {}
        try:
            document = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            return {}
        pages = document.get("pages")
        return pages if isinstance(pages, dict) else {}

    def load(self) -> dict[str, set[str]]:
        """Package → versions known unfit, for every page of the indexes still unchanged."""
        pages = self._read()
        wanted = [
            (url, record)
            for url, record in pages.items()
            if isinstance(record, dict)
            and any(url.startswith(redact(base)) for base in self.index.urls)
        ]

        def fresh(item: tuple[str, dict[str, object]]) -> bool:
            return page_unchanged(self.index.authorized(item[0]), str(item[1].get("validator")))

        with ThreadPoolExecutor(max_workers=MAX_PARALLEL_CHECKS) as pool:
            still = list(pool.map(fresh, wanted))
        known: dict[str, set[str]] = {}
        for (_url, record), unchanged in zip(wanted, still, strict=True):
            versions = record.get("versions")
            if unchanged and isinstance(versions, list):
                known.setdefault(str(record.get("package")), set()).update(map(str, versions))
        return known

    def remember(self, excluded: dict[str, set[str]], packages: Iterable[str]) -> None:
        """Keep what this resolution found unfit for ``packages``, with their pages' validators."""
        pages = self._read()
        try:
            for name in packages:
                versions = sorted(excluded.get(name, ()))
                for base in self.index.urls:
                    url, validator = page_validator(base, name)
                    pages[redact(url)] = {
                        "package": name,
                        "validator": validator,
                        "versions": versions,
                    }
        except LambdaLayerError:  # a page that cannot be read now: nothing remembered
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {"format": FORMAT, "pages": pages}
        self.cache.write(
            Bucket.UNFIT, self.key, json.dumps(document, indent=1, sort_keys=True).encode()
        )
