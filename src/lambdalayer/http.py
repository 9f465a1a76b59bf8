"""Plain HTTP(S) GETs with retries, shared by the index reader and the wheel fetcher.

Standard library only: an index URL may carry ``user:password@`` (as uv and pip accept),
which becomes a Basic ``Authorization`` header and is never printed.
"""

from __future__ import annotations

import base64
import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import IO, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

from lambdalayer import __version__
from lambdalayer.errors import FetchError

ATTEMPTS = 3
BACKOFF_SECONDS = 0.5
TIMEOUT_SECONDS = 60
CHUNK_BYTES = 1 << 20
_TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})

T = TypeVar("T")


class TransientError(Exception):
    """A failure worth another attempt (dropped connection, 5xx, timeout)."""


def redact(url: str) -> str:
    """The URL without any ``user:password@`` part, for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def _request(url: str, accept: str | None) -> urllib.request.Request:
    parts = urlsplit(url)
    headers = {"User-Agent": f"lambdalayer/{__version__}"}
    if accept:
        headers["Accept"] = accept
    if parts.username is not None:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    return urllib.request.Request(redact(url), headers=headers)


def _open(url: str, accept: str | None) -> http.client.HTTPResponse:
    try:
        response: http.client.HTTPResponse = urllib.request.urlopen(
            _request(url, accept), timeout=TIMEOUT_SECONDS
        )
    except urllib.error.HTTPError as error:
        if error.code in _TRANSIENT_STATUS:
            raise TransientError(f"HTTP {error.code} from {redact(url)}") from error
        raise FetchError(f"HTTP {error.code} for {redact(url)}", url=redact(url)) from error
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", None) or error
        raise TransientError(f"cannot reach {redact(url)}: {reason}") from error
    return response


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


def get_bytes(url: str, *, accept: str | None = None) -> tuple[bytes, str]:
    """GET a (small) document; returns its body and content type."""

    def attempt() -> tuple[bytes, str]:
        with _open(url, accept) as response:
            try:
                body = response.read()
            except (OSError, http.client.HTTPException) as error:
                raise TransientError(f"connection dropped reading {redact(url)}") from error
            return body, response.headers.get("Content-Type", "")

    return with_retries(f"GET {redact(url)}", attempt)


def download_to(url: str, out: IO[bytes], on_chunk: Callable[[bytes], None]) -> int:
    """Stream one attempt of ``url`` into ``out``; returns the byte count.

    Raises :class:`TransientError` when the connection drops or the body is short, so the
    caller can start again from an empty file.
    """
    written = 0
    with _open(url, None) as response:
        expected = response.headers.get("Content-Length")
        try:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                on_chunk(chunk)
                written += len(chunk)
        except (OSError, http.client.HTTPException) as error:
            raise TransientError(f"connection dropped downloading {redact(url)}") from error
    if expected is not None and written != int(expected):
        raise TransientError(f"short download of {redact(url)}: {written} of {expected} bytes")
    return written
