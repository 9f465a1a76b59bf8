"""HTTP(S) GETs with pooling and retries (urllib3), shared by the index reader and the fetcher.

- One pool manager per process and route: connections to an index are reused across wheels.
- Proxies (``--proxy``, ``HTTPS_PROXY`` …, ``NO_PROXY``) and trusted certificates
  (``SSL_CERT_FILE``, ``SSL_CERT_DIR``, ``REQUESTS_CA_BUNDLE``, else the system's store) as
  :mod:`lambdalayer.network` reads them; redirects are followed hop by hop, each on its own
  route, to ``http(s)://`` URLs only.
- A body is read to a bound (a document's, or the size the caller declared), within a time
  limit that follows the declared size or what arrived — never ``Content-Length``.
- Connection failures and 408/429/5xx answers are retried with exponential back-off;
  a ``Retry-After`` header is honoured.
- Credentials come from the URL (``https://user:token@host/simple``, as uv and pip
  accept) or from ``~/.netrc`` (``$NETRC``) for the URL's host. They are sent as a Basic
  ``Authorization`` header that urllib3 drops when a redirect leads to another host (a
  CDN, an attacker's server), and they are never printed.
- ``file://`` URLs (wheels built on this machine) are read from disk.
"""

from __future__ import annotations

import base64
import io
import json
import netrc
import os
import stat
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit
from urllib.request import url2pathname

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import MaxRetryError
from urllib3.util.retry import Retry

from lambdalayer import __version__
from lambdalayer.errors import FetchError, TransientError
from lambdalayer.network import Proxy, proxy_for, ssl_context

ATTEMPTS = 3
BACKOFF_SECONDS = 0.5
TIMEOUT_SECONDS = 60
CHUNK_BYTES = 1 << 20
# A whole download (not one read) must end in time: at least MIN_DEADLINE_SECONDS, more
# for a large file at MIN_RATE bytes a second. An index that trickles a byte at a time
# never ends a read's timeout; this ends it.
MIN_DEADLINE_SECONDS = 120.0
MIN_RATE = 100_000
MAX_DOCUMENT_BYTES = 256 * 1024 * 1024  # an index page or manifest read whole into memory
MAX_LOCAL_BYTES = 10 * 1024**3  # a file:// download of no declared size (a local wheel)
_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_REDIRECTS = 10

T = TypeVar("T")


def redact(url: str) -> str:
    """The URL without any ``user:password@`` part, for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def _netrc_credentials(host: str, environ: Mapping[str, str]) -> tuple[str, str] | None:
    path = Path(environ.get("NETRC") or Path.home() / ".netrc")
    if not path.is_file():
        return None
    try:
        entry = netrc.netrc(str(path)).authenticators(host)
    except (netrc.NetrcParseError, OSError):
        return None
    if entry is None:
        return None
    login, _account, password = entry
    return login or "", password or ""


def request_headers(
    url: str, accept: str | None = None, environ: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """The headers of a GET of ``url``: user agent, ``Accept``, and credentials for its host.

    >>> request_headers("https://u:p%40ss@example.com/simple")["Authorization"]
    'Basic dTpwQHNz'
    """
    parts = urlsplit(url)
    headers = {"User-Agent": f"lambdalayer/{__version__}"}
    if accept:
        headers["Accept"] = accept
    credentials: tuple[str, str] | None = None
    if parts.username is not None:
        credentials = (unquote(parts.username), unquote(parts.password or ""))
    elif parts.hostname:
        credentials = _netrc_credentials(parts.hostname, environ)
    if credentials is not None:
        token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return headers


_managers: dict[tuple[Proxy | None, int], urllib3.PoolManager] = {}
_managers_lock = threading.Lock()


def _manager(url: str) -> urllib3.PoolManager:
    """The connection pools for ``url``: through its proxy (see :mod:`lambdalayer.network`)
    or direct, trusting the certificates the environment names. One per process and route:
    connections to an index are reused across wheels."""
    proxy, context = proxy_for(url), ssl_context()
    key = (proxy, id(context))
    with _managers_lock:
        manager = _managers.get(key)
        if manager is None:
            if proxy is None:
                manager = urllib3.PoolManager(
                    num_pools=16, maxsize=16, timeout=TIMEOUT_SECONDS, ssl_context=context
                )
            else:
                auth = ":".join(proxy.credentials) if proxy.credentials else None
                manager = urllib3.ProxyManager(
                    proxy.url,
                    num_pools=16,
                    maxsize=16,
                    timeout=TIMEOUT_SECONDS,
                    proxy_headers=urllib3.make_headers(proxy_basic_auth=auth) if auth else None,
                    ssl_context=context,
                    proxy_ssl_context=context,
                )
            _managers[key] = manager
    return manager


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


_SECRET_HEADERS = {"authorization", "cookie", "proxy-authorization"}


def _urlopen(
    method: str,
    url: str,
    headers: Mapping[str, str],
    *,
    body: bytes | IO[bytes] | None = None,
    retries: Retry,
    follow: bool,
) -> urllib3.BaseHTTPResponse:
    """One request, following redirects (``follow``) hop by hop: each hop takes its own
    route (a proxy, or direct by ``NO_PROXY``), only to ``http(s)://`` URLs, and
    credentials are dropped when a hop leaves the scheme, host and port they were for."""
    for _hop in range(_REDIRECTS + 1):
        response = _manager(url).request(
            method,
            redact(url),
            headers=dict(headers),
            body=body,
            retries=retries,
            redirect=False,
            timeout=TIMEOUT_SECONDS,
            preload_content=False,
            decode_content=False,
        )
        location = response.get_redirect_location() if follow else False
        if not location:
            return response
        response.drain_conn()
        response.release_conn()
        target = urljoin(url, location)
        if urlsplit(target).scheme not in {"http", "https"}:
            raise FetchError(f"{redact(url)} redirects to {redact(target)}, not an http(s) URL")
        if _origin(target) != _origin(url):
            headers = {k: v for k, v in headers.items() if k.lower() not in _SECRET_HEADERS}
        if response.status == 303 and method != "HEAD":
            method, body = "GET", None
        url = target
    raise FetchError(f"{redact(url)}: more than {_REDIRECTS} redirects", url=redact(url))


def _retry() -> Retry:
    # Built per request so that BACKOFF_SECONDS is read when it is used (tests shorten it).
    return Retry(
        total=ATTEMPTS - 1,
        redirect=_REDIRECTS,
        backoff_factor=BACKOFF_SECONDS,
        status_forcelist=_TRANSIENT_STATUS,
        respect_retry_after_header=True,
        raise_on_status=False,
        allowed_methods=frozenset({"GET"}),
    )


@contextmanager
def _open(
    url: str,
    accept: str | None,
    extra_headers: Mapping[str, str] | None = None,
    passthrough: frozenset[int] = frozenset(),
) -> Iterator[urllib3.BaseHTTPResponse]:
    headers = {**request_headers(url, accept), **(extra_headers or {})}
    try:
        response = _urlopen("GET", url, headers, retries=_retry(), follow=True)
    except MaxRetryError as error:
        raise FetchError(
            f"cannot reach {redact(url)}: {error.reason}",
            hint="check the network or the index URL, then run the same command again",
            url=redact(url),
        ) from error
    except (Urllib3Error, OSError) as error:
        raise TransientError(f"cannot reach {redact(url)}: {error}") from error
    try:
        if response.status >= 400 and response.status not in passthrough:
            what = "still failing after retries" if response.status in _TRANSIENT_STATUS else ""
            raise FetchError(
                f"HTTP {response.status} for {redact(url)} {what}".strip(), url=redact(url)
            )
        yield response
    except BaseException:
        # A body left unread (over a limit, too slow) cannot serve another request: the
        # connection is closed, not handed back to the pool with the rest still coming.
        response.close()
        raise
    finally:
        response.release_conn()


def with_retries(what: str, attempt: Callable[[], T]) -> T:
    """Run ``attempt`` until it returns, retrying :class:`TransientError` with backoff."""
    for number in range(1, ATTEMPTS + 1):
        try:
            return attempt()
        except TransientError as error:
            if number == ATTEMPTS:
                raise FetchError(
                    f"{what} failed after {ATTEMPTS} attempts: {error}",
                    hint="check the network or the index URL, then run the same command again",
                ) from error
            time.sleep(BACKOFF_SECONDS * 2 ** (number - 1))
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Response:
    """A small response read whole: status, headers (lower-case names) and body."""

    status: int
    headers: dict[str, str]
    body: bytes


def get_response(
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    passthrough: frozenset[int] = frozenset({401}),
    limit: int = MAX_DOCUMENT_BYTES,
) -> Response:
    """GET a small document with extra headers; statuses in ``passthrough`` are returned, not raised.

    For protocols with their own authentication dance (the OCI registry's bearer tokens):
    ``Authorization`` given here is dropped like any other on a redirect to another host.
    The body is read (and inflated) to at most ``limit`` bytes.
    """

    local = _local_file(url)
    if local is not None:
        return Response(200, {}, _read_local(local, limit))

    def attempt() -> Response:
        with _open(url, None, headers, passthrough) as response:
            buffer = io.BytesIO()
            _stream(response, url, buffer, lambda _chunk: None, limit=limit)
            body = buffer.getvalue()
            encoding = response.headers.get("Content-Encoding", "")
            if encoding in {"gzip", "deflate"}:
                body = _decoded(body, encoding, url, limit)
            names = {name.lower(): value for name, value in response.headers.items()}
            return Response(response.status, names, body)

    return with_retries(f"GET {redact(url)}", attempt)


def _local_file(url: str) -> Path | None:
    parts = urlsplit(url)
    return Path(url2pathname(parts.path)) if parts.scheme == "file" else None


def _read_local(path: Path, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    buffer = io.BytesIO()
    _copy_local(path, buffer, lambda _chunk: None, limit)
    return buffer.getvalue()


def _copy_local(
    path: Path, out: IO[bytes], on_chunk: Callable[[bytes], None], limit: int | None = None
) -> int:
    """A ``file://`` download: a regular file (never a FIFO or a device), copied chunk by
    chunk (never whole in memory), to at most ``limit`` bytes."""
    written = 0
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(descriptor, "rb") as stream:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                raise FetchError(f"{path} is not a regular file", url=path.as_uri())
            os.set_blocking(descriptor, True)
            while chunk := stream.read(CHUNK_BYTES):
                if limit is not None and written + len(chunk) > limit:
                    raise FetchError(f"{path} is over {limit:,} bytes", url=path.as_uri())
                out.write(chunk)
                on_chunk(chunk)
                written += len(chunk)
    except OSError as error:
        raise FetchError(f"cannot read {path}: {error.strerror}", url=path.as_uri()) from error
    return written


def _deadline(declared: int | None, written: int) -> float:
    """Seconds a transfer may have taken so far: at least :data:`MIN_DEADLINE_SECONDS`, more
    for a large file at :data:`MIN_RATE` bytes a second — of the size the caller declared
    (a lock's, a manifest's), else of what has arrived. Never of the server's own
    ``Content-Length``, which a hostile server sets to make the limit endless."""
    return max(MIN_DEADLINE_SECONDS, max(declared or 0, written) / MIN_RATE)


def _stream(
    response: urllib3.BaseHTTPResponse,
    url: str,
    out: IO[bytes],
    on_chunk: Callable[[bytes], None],
    *,
    limit: int | None = None,
    declared: int | None = None,
) -> int:
    """Copy the body to ``out`` as it arrives, ending it at the transfer's deadline, or past
    ``limit`` bytes (a document's bound, or the size the caller ``declared``)."""
    bound = declared if declared is not None else limit
    started, written = time.monotonic(), 0
    try:
        while chunk := response.read1(CHUNK_BYTES):
            if bound is not None and written + len(chunk) > bound:
                what = "declared" if declared is not None else "a document of this kind may be"
                raise FetchError(
                    f"{redact(url)} sent more than the {bound:,} bytes {what}; cut off there",
                    url=redact(url),
                )
            out.write(chunk)
            on_chunk(chunk)
            written += len(chunk)
            allowed = _deadline(declared, written)
            if time.monotonic() - started > allowed:
                raise FetchError(
                    f"{redact(url)} is too slow: {written:,} bytes in {allowed:.0f} s",
                    hint="the server sends too slowly to finish; try again later or use another one",
                    url=redact(url),
                )
    except (Urllib3Error, OSError) as error:
        raise TransientError(f"connection dropped reading {redact(url)}") from error
    return written


def _decoded(body: bytes, encoding: str, url: str, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """A gzip or deflate body decoded, to at most ``limit`` bytes."""
    decompressor = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        decoded = decompressor.decompress(body, limit)
    except zlib.error as error:
        raise TransientError(f"a damaged {encoding} body from {redact(url)}") from error
    if decompressor.unconsumed_tail:
        raise FetchError(f"{redact(url)} inflates past {limit:,} bytes; not read", url=redact(url))
    return decoded


def download_to(
    url: str,
    out: IO[bytes],
    on_chunk: Callable[[bytes], None],
    headers: Mapping[str, str] | None = None,
    *,
    size: int | None = None,
) -> int:
    """Stream one attempt of ``url`` into ``out`` (with extra ``headers``); returns the byte count.

    ``size``: the bytes the caller knows the file has (a lock's or a manifest's): a body
    longer is cut off there and refused, a ``Content-Length`` that disagrees is refused
    before the body is read, and the time limit follows it. Raises :class:`TransientError`
    when the connection drops or the body is short, so the caller can start again from an
    empty file.
    """
    local = _local_file(url)
    if local is not None:
        return _copy_local(local, out, on_chunk, size if size is not None else MAX_LOCAL_BYTES)
    with _open(url, None, headers) as response:
        expected = response.headers.get("Content-Length")
        if size is not None and expected is not None and expected != str(size):
            raise FetchError(
                f"{redact(url)} announces {expected} bytes; {size:,} were declared",
                url=redact(url),
            )
        written = _stream(response, url, out, on_chunk, declared=size)
    wanted = (
        size if size is not None else int(expected) if expected and expected.isdigit() else None
    )
    if wanted is not None and written != wanted:
        raise TransientError(f"short download of {redact(url)}: {written} of {wanted} bytes")
    return written


def send(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | IO[bytes] | None = None,
    passthrough: frozenset[int] = frozenset({401, 404}),
    limit: int = MAX_DOCUMENT_BYTES,
) -> Response:
    """One request of a protocol beyond plain downloads (an OCI registry's HEAD, POST, PATCH, PUT).

    GET and HEAD are retried and follow redirects like :func:`get_response`; a request with
    a body is sent once and never redirected (the caller starts its exchange again on a
    :class:`TransientError`). ``Authorization`` is dropped on a redirect to another host.
    Statuses in ``passthrough`` and every 2xx/3xx are returned; others raise
    :class:`FetchError`. The body read back is at most ``limit`` bytes.
    """
    idempotent = method in {"GET", "HEAD"}
    retries = _retry() if idempotent else Retry(total=0, redirect=0, raise_on_status=False)
    headers = {**request_headers(url), **(headers or {})}

    def attempt() -> Response:
        try:
            response = _urlopen(method, url, headers, body=body, retries=retries, follow=idempotent)
        except MaxRetryError as error:
            if idempotent:
                raise FetchError(f"cannot reach {redact(url)}: {error.reason}") from error
            raise TransientError(f"cannot reach {redact(url)}: {error.reason}") from error
        except (Urllib3Error, OSError) as error:
            raise TransientError(f"{method} {redact(url)} failed: {error}") from error
        try:
            if response.status >= 400 and response.status not in passthrough:
                detail = _registry_error(response)
                raise FetchError(
                    f"HTTP {response.status} for {method} {redact(url)}{detail}", url=redact(url)
                )
            buffer = io.BytesIO()
            if method != "HEAD":
                _stream(response, url, buffer, lambda _chunk: None, limit=limit)
            names = {name.lower(): value for name, value in response.headers.items()}
            return Response(response.status, names, buffer.getvalue())
        finally:
            response.release_conn()

    if idempotent:
        return with_retries(f"{method} {redact(url)}", attempt)
    return attempt()


def _registry_error(response: urllib3.BaseHTTPResponse) -> str:
    """``: CODE message`` of an error body in the registry's format (``{"errors": [...]}``)."""
    try:
        document = json.loads(response.read(65536) or b"{}")
        first = document["errors"][0]
        return f": {first.get('code', '')} {first.get('message', '')}".rstrip()
    except (ValueError, KeyError, IndexError, TypeError, AttributeError, Urllib3Error, OSError):
        return ""
