"""A small HTTP/1.1 server on a Unix socket, for a client that may be hostile.

The Runtime API's client is the function's own code: anything the handler runs can connect
and send anything. So everything it sends is bounded (:class:`Bounds`): the request line, the
header lines (their number and their bytes), the body (a longer one is read to its end and
counted, never kept: the caller learns its size), the time a request may take to arrive, the
connections open at once (more are closed at once). A fixed pool of threads reads and
answers requests; an idle connection waits in one selector and costs no thread. A request
that is not HTTP as RFC 9112 writes it is answered with a 4xx and the connection closed —
never a traceback, never a thread per connection.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import selectors
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path

from lambdalayer.errors import ClientGone, RequestRefused

_CHUNK = 64 * 1024
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True)
class Bounds:
    """What one client may send, and how many may be served at once."""

    request_line: int = 8 * 1024
    header_bytes: int = 32 * 1024  # every header line together
    headers: int = 100
    body: int = 6 * 1024 * 1024 + 100  # bytes kept; past it, counted and dropped
    request_seconds: float = 30.0  # a request's head and kept body must arrive within this
    drain_seconds: float = 120.0  # a body past the limit is read (and counted) this long at most
    connections: int = 32
    workers: int = 4


@dataclass(frozen=True)
class Request:
    """One request: its method, path, headers (lower-case names) and body.

    ``body_size`` is what the client sent; when it is over the body limit, ``body`` is empty
    and ``complete`` says whether the whole body was read (within the drain time).
    """

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    body_size: int
    connection: Connection
    complete: bool = True

    @property
    def too_large(self) -> bool:
        """Whether the body was over the limit (and not kept)."""
        return self.body_size > len(self.body)


@dataclass(frozen=True)
class Reply:
    """What to answer: a status, a JSON body, headers. ``close`` ends the connection after."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    close: bool = False


def json_reply(status: int, document: Mapping[str, object], *, close: bool = False) -> Reply:
    """A reply with a JSON document, as the Runtime API answers."""
    return Reply(status, json.dumps(document).encode(), {"Content-Type": "application/json"}, close)


Handler = Callable[[Request], Reply | None]  # None: end the connection without an answer


class Connection:
    """One client connection, with what was read past the last request."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()

    def closed_by_peer(self) -> bool:
        """Whether the client has gone (without blocking)."""
        poller = select.poll()
        poller.register(self.sock, select.POLLIN | select.POLLRDHUP)
        try:
            events = poller.poll(0)
        except OSError:
            return True
        gone = select.POLLHUP | select.POLLRDHUP | select.POLLERR | select.POLLNVAL
        return any(mask & gone for _fd, mask in events)

    def receive(self, deadline: float) -> bytes:
        """Some bytes, or :class:`ClientGone` when the client left or the deadline passed."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ClientGone
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(_CHUNK)
        except OSError as error:  # a timeout among them
            raise ClientGone from error
        if not data:
            raise ClientGone
        return data

    def send(self, data: bytes, seconds: float) -> None:
        """Write ``data``; a client that does not read within ``seconds`` is given up."""
        self.sock.settimeout(seconds)
        self.sock.sendall(data)

    def close(self) -> None:
        """Close the socket."""
        with contextlib.suppress(OSError):
            self.sock.close()


def _read_head(connection: Connection, bounds: Bounds, deadline: float) -> bytes:
    limit = bounds.request_line + bounds.header_bytes + 4
    while (end := connection.buffer.find(b"\r\n\r\n")) < 0:
        if len(connection.buffer) > limit:
            raise RequestRefused(
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "the request's head is too long"
            )
        connection.buffer += connection.receive(deadline)
    head = bytes(connection.buffer[:end])
    del connection.buffer[: end + 4]
    return head


def _request_line(line: bytes, bounds: Bounds) -> tuple[str, str, str]:
    if len(line) > bounds.request_line:
        raise RequestRefused(HTTPStatus.REQUEST_URI_TOO_LONG, "the request line is too long")
    try:
        method, target, version = line.decode("ascii").split(" ")
    except (UnicodeDecodeError, ValueError):
        raise RequestRefused(HTTPStatus.BAD_REQUEST, "not an HTTP request line") from None
    if not method or not set(method) <= _TOKEN or version not in ("HTTP/1.1", "HTTP/1.0"):
        raise RequestRefused(HTTPStatus.BAD_REQUEST, "not an HTTP request line")
    if not target.startswith("/") or not target.isprintable():
        raise RequestRefused(HTTPStatus.BAD_REQUEST, "the request target is not a path")
    return method, target, version


def _headers(lines: list[bytes], bounds: Bounds) -> dict[str, str]:
    if len(lines) > bounds.headers or sum(map(len, lines)) > bounds.header_bytes:
        raise RequestRefused(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "too many header lines")
    headers: dict[str, str] = {}
    for line in lines:
        name, colon, value = line.partition(b":")
        text = name.decode("latin-1")
        if not colon or not text or not set(text) <= _TOKEN:
            raise RequestRefused(HTTPStatus.BAD_REQUEST, "a header line is not NAME: VALUE")
        key, content = text.lower(), value.decode("latin-1").strip(" \t")
        if any((ord(char) < 32 and char != "\t") or ord(char) == 127 for char in content):
            raise RequestRefused(HTTPStatus.BAD_REQUEST, "a header value holds a control character")
        if key in headers and key in ("content-length", "transfer-encoding", "host"):
            raise RequestRefused(HTTPStatus.BAD_REQUEST, f"{key} is given twice")
        headers[key] = content
    return headers


def _content_length(headers: Mapping[str, str]) -> int | None:
    if "transfer-encoding" in headers:
        if headers["transfer-encoding"].lower() != "chunked" or "content-length" in headers:
            raise RequestRefused(HTTPStatus.NOT_IMPLEMENTED, "only chunked transfer coding is read")
        return None
    text = headers.get("content-length", "0")
    if not text.isdigit() or not text.isascii() or len(text) > 18:
        raise RequestRefused(HTTPStatus.BAD_REQUEST, "Content-Length is not a number of bytes")
    return int(text)


class _Body:
    """A body being read: the bytes kept (up to the limit) and every byte counted."""

    def __init__(self, connection: Connection, bounds: Bounds) -> None:
        self.connection, self.bounds = connection, bounds
        self.kept = bytearray()
        self.size = 0
        started = time.monotonic()
        self.deadline = started + bounds.request_seconds
        self.drain_deadline = started + bounds.drain_seconds

    def _take(self, data: bytes) -> None:
        self.size += len(data)
        if self.size <= self.bounds.body:
            self.kept += data
        elif self.kept:
            self.kept.clear()  # over the limit: nothing is kept, only counted

    def _deadline(self) -> float:
        return self.drain_deadline if self.size > self.bounds.body else self.deadline

    def _next_bytes(self, wanted: int) -> bytes:
        buffer = self.connection.buffer
        if not buffer:
            buffer += self.connection.receive(self._deadline())
        data = bytes(buffer[:wanted])
        del buffer[:wanted]
        return data

    def read_exactly(self, length: int) -> None:
        """Read ``length`` bytes of body."""
        while length > 0:
            data = self._next_bytes(min(length, _CHUNK))
            self._take(data)
            length -= len(data)

    def line(self, limit: int = 1024) -> bytes:
        """One CRLF-ended line of the chunked coding (a chunk size or a trailer)."""
        buffer = self.connection.buffer
        while (end := buffer.find(b"\r\n")) < 0:
            if len(buffer) > limit:
                raise RequestRefused(HTTPStatus.BAD_REQUEST, "a chunk-size line is too long")
            buffer += self.connection.receive(self._deadline())
        line = bytes(buffer[:end])
        del buffer[: end + 2]
        return line

    def read_chunked(self) -> None:
        """Read a chunked body to its last chunk and its trailers."""
        while True:
            size_text = self.line().split(b";", 1)[0].strip()
            if not size_text or len(size_text) > 15:
                raise RequestRefused(HTTPStatus.BAD_REQUEST, "a chunk size is not hexadecimal")
            try:
                size = int(size_text, 16)
            except ValueError:
                raise RequestRefused(
                    HTTPStatus.BAD_REQUEST, "a chunk size is not hexadecimal"
                ) from None
            if size == 0:
                for _trailer in range(self.bounds.headers):
                    if not self.line():
                        return
                raise RequestRefused(
                    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "too many trailers"
                )
            self.read_exactly(size)
            if self.line(2):
                raise RequestRefused(HTTPStatus.BAD_REQUEST, "a chunk does not end with CRLF")


def read_request(connection: Connection, bounds: Bounds) -> tuple[Request, bool]:
    """The next request on ``connection``, and whether the connection may be kept open.

    Raises :class:`RequestRefused` (answer it, then close) or :class:`ClientGone` (just close).
    """
    head = _read_head(connection, bounds, time.monotonic() + bounds.request_seconds)
    line, *header_lines = head.split(b"\r\n")
    method, target, version = _request_line(line, bounds)
    headers = _headers(header_lines, bounds)
    length = _content_length(headers)
    body = _Body(connection, bounds)
    complete = True
    try:
        if length is None:
            body.read_chunked()
        else:
            body.read_exactly(length)
    except ClientGone:
        if body.size <= bounds.body:
            raise
        complete = False  # over the limit and still coming: counted so far, then closed
    connection_header = headers.get("connection", "").lower()
    keep = complete and (
        connection_header == "keep-alive" if version == "HTTP/1.0" else connection_header != "close"
    )
    path = target.split("?", 1)[0]
    request = Request(method, path, headers, bytes(body.kept), body.size, connection, complete)
    return request, keep


def _encode(reply: Reply, *, close: bool) -> bytes:
    phrase = (
        HTTPStatus(reply.status).phrase if reply.status in HTTPStatus._value2member_map_ else ""
    )
    lines = [f"HTTP/1.1 {reply.status} {phrase}"]
    lines += [f"{name}: {value}" for name, value in reply.headers.items()]
    lines.append(f"Content-Length: {len(reply.body)}")
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + reply.body


class HttpServer:
    """Serves ``handler`` on a Unix socket at ``path`` (see the module's docstring)."""

    def __init__(self, path: Path, handler: Handler, bounds: Bounds | None = None) -> None:
        self.handler, self.bounds = handler, bounds or Bounds()
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        # A Unix socket's path must fit 108 bytes; a deep cache directory's does not, so a
        # long one is bound through /proc/self/fd/N/ of its directory (Linux resolves it).
        directory = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
        try:
            short = (
                str(path)
                if len(os.fsencode(path)) < 100
                else f"/proc/self/fd/{directory}/{path.name}"
            )
            self.listener.bind(short)
        finally:
            os.close(directory)
        self.listener.listen(64)
        self.listener.setblocking(False)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ)
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_read.setblocking(False)
        self.selector.register(self._wake_read, selectors.EVENT_READ)
        self._ready: queue.Queue[Connection | None] = queue.Queue()
        self._returned: queue.Queue[Connection] = queue.Queue()
        self._connections: set[Connection] = set()  # every open client connection
        self._lock = threading.Lock()
        self.stopping = False
        self._threads = [threading.Thread(target=self._select, daemon=True)]
        self._threads += [
            threading.Thread(target=self._work, daemon=True) for _ in range(self.bounds.workers)
        ]

    def start(self) -> None:
        """Start the selector and the workers."""
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop serving; every connection is closed (a second call does nothing)."""
        if self.stopping:
            return
        self.stopping = True
        self._wake()
        self._threads[0].join(timeout=5)  # the selector: it accepts nothing more
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # a worker reading from one is woken by its end
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)
        for _worker in range(self.bounds.workers):
            self._ready.put(None)
        for thread in self._threads[1:]:
            thread.join(timeout=5)
        for connection in connections:
            connection.close()
        self.selector.close()
        for sock in (self.listener, self._wake_read, self._wake_write):
            sock.close()

    @property
    def open_connections(self) -> int:
        """How many client connections are open now."""
        return len(self._connections)

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_write.send(b"\0")

    def _select(self) -> None:
        while not self.stopping:
            for key, _events in self.selector.select(timeout=0.5):
                if key.fileobj is self.listener:
                    self._accept()
                elif key.fileobj is self._wake_read:
                    with contextlib.suppress(OSError):
                        self._wake_read.recv(4096)
                else:
                    self.selector.unregister(key.fileobj)
                    self._ready.put(key.data)
            while not self._returned.empty():
                connection = self._returned.get()
                self.selector.register(connection.sock, selectors.EVENT_READ, connection)

    def _accept(self) -> None:
        for _attempt in range(self.bounds.connections):
            try:
                sock, _address = self.listener.accept()
            except OSError:
                return
            with self._lock:
                full = len(self._connections) >= self.bounds.connections
                connection = None if full else Connection(sock)
                if connection is not None:
                    self._connections.add(connection)
            if connection is None:  # past the pool's size: closed at once, before it costs anything
                sock.close()
                continue
            sock.setblocking(True)
            self.selector.register(sock, selectors.EVENT_READ, connection)

    def _work(self) -> None:
        while (connection := self._ready.get()) is not None:
            keep = self._serve(connection)
            if keep and not self.stopping:
                self._returned.put(connection)
                self._wake()
            else:
                connection.close()
                with self._lock:
                    self._connections.discard(connection)

    def _serve(self, connection: Connection) -> bool:
        """Answer the requests waiting on ``connection`` (a client may send several at once);
        whether to keep it open."""
        while True:
            try:
                request, keep = read_request(connection, self.bounds)
            except RequestRefused as refusal:
                document = {"errorMessage": str(refusal), "errorType": "BadRequest"}
                with contextlib.suppress(OSError):
                    connection.send(_encode(json_reply(refusal.status, document), close=True), 5.0)
                return False
            except ClientGone:
                return False
            reply = self.handler(request)
            if reply is None or not request.complete:
                return False
            keep = keep and not reply.close
            try:
                connection.send(_encode(reply, close=not keep), self.bounds.request_seconds)
            except OSError:
                return False
            if not keep or not connection.buffer:
                return keep
