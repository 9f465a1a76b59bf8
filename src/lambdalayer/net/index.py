"""Which package indexes a build uses, and reading one project's file list from them.

The resolver needs one read of a project's index page when the version uv chose has no
wheel for the target's exact glibc floor (see :mod:`lambdalayer.resolve.resolver`). Both the JSON
(PEP 691) and the HTML (PEP 503) forms of the simple API are understood.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from lambdalayer.errors import FetchError, LambdaLayerError, option
from lambdalayer.net.http import MAX_DOCUMENT_BYTES, Response, get_response, redact

PYPI_SIMPLE = "https://pypi.org/simple"
_ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"


@dataclass(frozen=True)
class IndexFile:
    """One file listed on a project's index page."""

    filename: str
    url: str
    yanked: bool = False
    requires_python: str | None = None


@dataclass(frozen=True)
class IndexConfig:
    """The index URLs of a build: explicit flags, else what uv's environment says, else PyPI."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()

    @classmethod
    def from_options(
        cls,
        index_url: str | None,
        extra_index_urls: tuple[str, ...] = (),
        environ: Mapping[str, str] = os.environ,
    ) -> IndexConfig:
        """Fill in what the user left out from the variables uv itself honours."""
        main = index_url or environ.get("UV_DEFAULT_INDEX") or environ.get("UV_INDEX_URL")
        extras = list(extra_index_urls)
        extras += environ.get("UV_EXTRA_INDEX_URL", "").split()
        # UV_INDEX entries may be "name=url".
        extras += [entry.split("=", 1)[-1] for entry in environ.get("UV_INDEX", "").split()]
        return cls(index_url=main, extra_index_urls=tuple(dict.fromkeys(extras)))

    def authorized(self, url: str) -> str:
        """``url`` with the credentials of the index on its host, if the index URL carries some.

        A private index's files need the same credentials as its pages; they are added
        only for that index's own scheme, host and port, never for another host.

        >>> IndexConfig("https://u:p@pkgs.example/simple").authorized("https://pkgs.example/f/a.whl")
        'https://u:p@pkgs.example/f/a.whl'
        """
        target = urlsplit(url)
        if target.username is not None:
            return url
        for base in self.urls:
            index = urlsplit(base)
            same_place = (index.scheme, index.hostname, index.port) == (
                target.scheme,
                target.hostname,
                target.port,
            )
            if index.username is not None and same_place:
                return urlunsplit(target._replace(netloc=index.netloc))
        return url

    @property
    def urls(self) -> tuple[str, ...]:
        """All index URLs, the main one first."""
        return (self.index_url or PYPI_SIMPLE, *self.extra_index_urls)

    def uv_args(self) -> list[str]:
        """The matching ``uv pip compile`` options."""
        args: list[str] = []
        if self.index_url:
            args += ["--index-url", self.index_url]
        for extra in self.extra_index_urls:
            args += ["--extra-index-url", extra]
        return args


class _AnchorParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[tuple[str, bool, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            values = dict(attrs)
            href = values.get("href")
            if href:
                self.anchors.append(
                    (href, "data-yanked" in values, values.get("data-requires-python"))
                )


def _file_from_href(
    page_url: str, href: str, yanked: bool, requires_python: str | None
) -> IndexFile:
    url = urljoin(page_url, href)
    filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    return IndexFile(filename=filename, url=url, yanked=yanked, requires_python=requires_python)


def _file_from_entry(page_url: str, entry: object) -> IndexFile:
    """One ``files`` entry of a JSON page; :class:`ValueError` for one that is not a file's."""
    if not isinstance(entry, dict):
        raise ValueError("a file entry is not an object")
    filename, url = entry.get("filename"), entry.get("url")
    requires_python = entry.get("requires-python")
    if not isinstance(filename, str) or not isinstance(url, str):
        raise ValueError("a file entry's filename or url is not text")
    if requires_python is not None and not isinstance(requires_python, str):
        raise ValueError("a file entry's requires-python is not text")
    return IndexFile(
        filename=filename,
        url=urljoin(page_url, url),
        yanked=bool(entry.get("yanked")),
        requires_python=requires_python,
    )


def parse_project_page(page_url: str, body: bytes, content_type: str) -> list[IndexFile]:
    """The files of a simple-API project page, JSON or HTML; :class:`ValueError` for a body
    that is no such page, whatever an index sent (not JSON, JSON nested deeper than Python
    reads, no list of files, a file whose name, URL or requires-python is not text)."""
    if "json" in content_type:
        try:
            document = json.loads(body)
        except RecursionError as error:
            raise ValueError("JSON nested too deep to read") from error
        files = document.get("files", []) if isinstance(document, dict) else None
        if not isinstance(files, list):
            raise ValueError("no list of files")
        return [_file_from_entry(page_url, entry) for entry in files]
    parser = _AnchorParser()
    parser.feed(body.decode("utf-8", "replace"))
    return [_file_from_href(page_url, *anchor) for anchor in parser.anchors]


@dataclass(frozen=True)
class ProjectPage:
    """One project's page on one index, and what tells whether it changed since."""

    url: str
    files: tuple[IndexFile, ...]
    validator: str  # the ETag, or "sha256:<hex>" of the body when the index sends none


_PAGES: dict[str, ProjectPage] = {}
_PAGES_LOCK = threading.Lock()


def _validator_of(response: Response) -> str:
    """What tells later whether a page changed: its ETag, else the sha256 of its body."""
    return response.headers.get("etag") or f"sha256:{hashlib.sha256(response.body).hexdigest()}"


def project_page(base: str, project: str) -> ProjectPage:
    """The page of ``project`` on the index at ``base``: read once per process."""
    page_url = f"{base.rstrip('/')}/{project}/"
    with _PAGES_LOCK:
        cached = _PAGES.get(page_url)
    if cached is not None:
        return cached
    response = get_response(page_url, headers={"Accept": _ACCEPT}, passthrough=frozenset())
    validator = _validator_of(response)
    kind = response.headers.get("content-type", "")
    try:
        files = parse_project_page(page_url, response.body, kind)
    except ValueError as error:
        raise FetchError(
            f"{redact(page_url)} is not a project page of the simple API ({error})",
            hint=f"check the index's URL ({option('IndexConfig.index_url')}): what answers"
            " there is not a package index",
            url=redact(page_url),
        ) from error
    page = ProjectPage(page_url, tuple(files), validator)
    with _PAGES_LOCK:
        _PAGES[page_url] = page
    return page


ABSENT = "absent"  # the validator of a page the index answered 404 for (an extra index without it)


def page_validator(base: str, project: str) -> tuple[str, str]:
    """(page URL, validator) of ``project`` on ``base``: its ETag or body hash, or :data:`ABSENT`."""
    page_url = f"{base.rstrip('/')}/{project}/"
    with _PAGES_LOCK:
        cached = _PAGES.get(page_url)
    if cached is not None:
        return page_url, cached.validator
    response = get_response(page_url, headers={"Accept": _ACCEPT}, passthrough=frozenset({404}))
    if response.status == 404:
        return page_url, ABSENT
    return page_url, _validator_of(response)


_DISTRIBUTION_FILES = (".whl", ".tar.gz", ".zip")


def has_files(base: str, project: str, limit: int = MAX_DOCUMENT_BYTES) -> bool:
    """Whether the index at ``base`` lists a file of ``project`` to install: a wheel or an
    sdist that is not yanked. A 404, a page of no such file (every release deleted, a name
    held back, a portal answering 200 for any path) or a body that is no project page is
    ``False``; an index that does not answer (or answers past ``limit`` bytes) raises
    :class:`LambdaLayerError`."""
    page_url = f"{base.rstrip('/')}/{project}/"
    response = get_response(
        page_url, headers={"Accept": _ACCEPT}, passthrough=frozenset({404}), limit=limit
    )
    if response.status == 404:
        return False
    try:
        files = parse_project_page(
            page_url, response.body, response.headers.get("content-type", "")
        )
    except ValueError:  # a body that is not a page
        return False
    return any(
        not file.yanked and file.filename.lower().endswith(_DISTRIBUTION_FILES) for file in files
    )


# the answer for each (page, validator) asked while :func:`checked_once` is active
_CHECKED: list[dict[tuple[str, str], Future[bool]]] = []
# pages asked at once: the connections to an index are reused instead of a new TLS
# handshake per question (four targets' plans asking together made ~60 at once, 10 s)
MAX_PAGE_CHECKS = 8
_CHECK_SLOTS = threading.BoundedSemaphore(MAX_PAGE_CHECKS)


@contextlib.contextmanager
def checked_once() -> Iterator[None]:
    """While the block runs, each page is asked once (whoever asks it, however many at the
    same time): a plan of many functions takes a resolution of each from the cache, and
    they share their pages."""
    with _PAGES_LOCK:
        _CHECKED.append({})
    try:
        yield
    finally:
        with _PAGES_LOCK:
            _CHECKED.pop()


def page_unchanged(url: str, validator: str) -> bool:
    """Whether the page at ``url`` still answers to ``validator`` (a conditional GET when it is an ETag)."""
    mine: Future[bool] = Future()
    with _PAGES_LOCK:
        answers = _CHECKED[-1] if _CHECKED else None
        asked = answers.get((url, validator)) if answers is not None else None
        if answers is not None and asked is None:
            answers[(url, validator)] = mine
    if answers is None:
        return _page_checked(url, validator)
    if asked is not None:  # asked already, or being asked by another thread: its answer
        return asked.result()
    try:
        answer = _page_checked(url, validator)
    except BaseException as error:
        mine.set_exception(error)
        raise
    mine.set_result(answer)
    return answer


def _page_checked(url: str, validator: str) -> bool:
    with _CHECK_SLOTS:
        return _page_unchanged(url, validator)


def _page_unchanged(url: str, validator: str) -> bool:
    headers = {"Accept": _ACCEPT}
    if not validator.startswith("sha256:") and validator != ABSENT:
        headers["If-None-Match"] = validator
    try:
        response = get_response(url, headers=headers, passthrough=frozenset({304, 404}))
    except LambdaLayerError:
        return False
    if response.status == 304:
        return True
    if response.status == 404 or validator == ABSENT:
        return response.status == 404 and validator == ABSENT
    return response.status == 200 and _validator_of(response) == validator


def project_files(config: IndexConfig, project: str) -> list[IndexFile]:
    """Every file of ``project`` on every configured index (one GET per index and process)."""
    files: list[IndexFile] = []
    for base in config.urls:
        files += project_page(base, project).files
    return files
