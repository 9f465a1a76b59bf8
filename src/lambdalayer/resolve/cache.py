"""Resolutions kept in the cache, reused while their inputs and the index pages are unchanged.

A resolution (the lock, back-offs, provided pins and version notes) is keyed by
everything it was made from: the requirement lines and the bytes of every requirements
file they include, the constraints, ``--hash`` pins, the target, the index URLs,
whether source builds are allowed, uv's version and lambdalayer's own code. Files are
keyed by their content and the content of what they include (``-r``/``-c``), not by
where they are: two machines (or two cache directories) with the same files at different
paths share a resolution. A file whose text depends on where it is (``--find-links``,
a ``path =`` source) keeps its path in the key. It stays valid
while every project page it depends on (each locked or provided package, on every index)
answers to the validator recorded with it — an ``ETag`` (a conditional GET answered
``304``) or the sha256 of the page. A new release anywhere in the closure changes a page
and the next build resolves again.

Inputs that point at local projects or VCS URLs are never cached (their content lies
outside what the key can see).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from lambdalayer.cache import Bucket, Cache, key_of
from lambdalayer.errors import LambdaLayerError
from lambdalayer.fsutil import read_text_file
from lambdalayer.inputs.requirements import Requirements
from lambdalayer.lock import Lock, dump_pylock, parse_pylock
from lambdalayer.net.http import redact
from lambdalayer.net.index import IndexConfig, page_unchanged, page_validator
from lambdalayer.resolve.explain import VersionNote
from lambdalayer.resolve.resolver import Backoff
from lambdalayer.targets import Target

FORMAT = 2  # 2: files keyed by content, not by path
MAX_PARALLEL_CHECKS = 16
_INCLUDE = re.compile(r"^\s*(?:-r|--requirement|-c|--constraint)[=\s]+(\S+)", re.MULTILINE)
# text whose meaning depends on the file's place (uv reads these paths relative to it)
_WHERE = re.compile(r"(^|\s)(-f|--find-links)\b|\bpath\s*=", re.MULTILINE)
_LOCAL = re.compile(
    r"(^|\s|@\s*)(\.{1,2}/|/|~|file:|git\+|hg\+|svn\+|bzr\+|-e\b|--editable\b)", re.MULTILINE
)


@dataclass(frozen=True)
class CachedResolution:
    """What a resolution produced, as the build uses it."""

    lock: Lock
    backoffs: tuple[Backoff, ...]
    provided: dict[str, str]
    notes: tuple[VersionNote, ...]


def _files_with_includes(files: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    """Every file ``files`` read (includes too), each once, with its text."""
    seen: set[Path] = set()
    pending = [path.resolve() for path in files]
    while pending:
        path = pending.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        text = read_text_file(path, "requirements file")
        yield path, text
        pending += [(path.parent / match).resolve() for match in _INCLUDE.findall(text)]


def _content_identity(path: Path, texts: Mapping[Path, str], within: frozenset[Path]) -> object:
    """What ``path`` stands for, by content: its sha256 and, for each file it includes (in
    its order, by the name it gives), the same of that file. Not where it is."""
    resolved = path.resolve()
    if resolved in within:  # an include cycle: named, not followed again
        return ["cycle"]
    text = texts.get(resolved)
    if text is None:  # absent: uv will say so; the name is all there is
        return ["absent", path.name]
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    includes = [
        [match, _content_identity(resolved.parent / match, texts, within | {resolved})]
        for match in _INCLUDE.findall(text)
    ]
    return [digest, includes]


@dataclass(frozen=True)
class ResolutionRequest:
    """What a resolution depends on: with the bytes of its files and uv's release, its key."""

    requirements: Requirements
    target: Target
    index: IndexConfig
    allow_build: bool
    held_by_pins: bool


def resolution_key(
    requirements: Requirements,
    target: Target,
    index: IndexConfig,
    *,
    allow_build: bool,
    held_by_pins: bool,
) -> str | None:
    """The cache key of a resolution, or ``None`` when its inputs cannot be cached safely.

    Derived from the whole :class:`ResolutionRequest` (a field added to it changes every
    key), the bytes of every requirements file it reads (``-r`` includes too, by content
    and not by path) and uv's release.
    """
    files = dict(_files_with_includes(requirements.files))
    texts = [*requirements.specifiers, *files.values()]
    if any(_LOCAL.search(text) for text in texts):
        return None
    # the files by content (what they include by name), their paths only where they matter
    where = sorted(str(path) for path, text in files.items() if _WHERE.search(text))
    contents = [_content_identity(path, files, frozenset()) for path in requirements.files]
    request = ResolutionRequest(
        replace(requirements, files=()), target, index, allow_build, held_by_pins
    )
    return key_of(FORMAT, request, contents, where, importlib.metadata.version("uv"))


class ResolutionCache:
    """Resolutions in the cache's resolutions bucket, by :func:`resolution_key`."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache = Cache.at(cache_dir)
        self.root = cache_dir / Bucket.RESOLUTIONS.info.directory

    def load(self, key: str, index: IndexConfig) -> CachedResolution | None:
        """The stored resolution of ``key`` if every page it depends on is unchanged.

        Pages are stored without credentials; ``index`` lends them back for the checks.
        """
        path = self.cache.mark(Bucket.RESOLUTIONS, key)
        if not self.cache.admit(Bucket.RESOLUTIONS, key):
            return None
        try:
            stored = json.loads(path.read_text("utf-8"))
            pages: dict[str, str] = stored["pages"]
            checks = [
                (index.authorized(str(url)), str(validator)) for url, validator in pages.items()
            ]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        with ThreadPoolExecutor(max_workers=MAX_PARALLEL_CHECKS) as pool:
            fresh = all(pool.map(lambda item: page_unchanged(*item), checks))
        if not fresh:
            return None
        try:
            return CachedResolution(
                lock=parse_pylock(stored["lock"], source="a cached resolution"),
                backoffs=tuple(
                    Backoff(b["package"], b["chosen"], tuple(b["excluded"]))
                    for b in stored["backoffs"]
                ),
                provided=dict(stored["provided"]),
                notes=tuple(VersionNote(**note) for note in stored["notes"]),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def store(
        self, key: str, resolution: CachedResolution, index: IndexConfig, names: Iterable[str]
    ) -> None:
        """Keep ``resolution`` with the validators of the pages of ``names`` on every index."""
        pages: dict[str, str] = {}
        try:
            for name in sorted(set(names)):
                for base in index.urls:
                    url, validator = page_validator(base, name)
                    pages[redact(url)] = validator  # never a password on disk
        except LambdaLayerError:  # a page that cannot be read now just means no caching
            return
        document = {
            "lock": dump_pylock(resolution.lock),
            "backoffs": [
                {"package": b.package, "chosen": b.chosen, "excluded": list(b.excluded)}
                for b in resolution.backoffs
            ],
            "provided": resolution.provided,
            "notes": [note.__dict__ for note in resolution.notes],
            "pages": pages,
        }
        # Keys hash the index URLs, credentials included: only this user may list them.
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.root.chmod(0o700)
        self.cache.write(Bucket.RESOLUTIONS, key, json.dumps(document, indent=1).encode("utf-8"))
