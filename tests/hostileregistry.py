"""A registry on 127.0.0.1 that answers as a test scripts it, and a second server (the
"other host", on ``localhost``) for token services elsewhere; both record every request
(server, method, path, ``Authorization``), so a test can prove where credentials went.

The script: a challenge (``WWW-Authenticate``) for requests without the token, the token
service's answer, the manifest's body and headers, and a blob's body and headers (a body
may be endless, or trickle).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GOOD_TOKEN = "the-registry-token"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


def digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


@dataclass
class Answer:
    """One scripted answer: status, headers and a body (``endless``: the body never ends;
    ``trickle``: seconds between bytes)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    endless: bool = False
    trickle: float = 0.0
    content_length: str | None = "auto"  # None: no header; "auto": the body's length


@dataclass
class Script:
    """What the registry says. ``challenge`` with ``{token_url}`` / ``{other_url}`` filled in."""

    challenge: str | None = 'Bearer realm="{token_url}",service="test"'
    token: Answer = field(
        default_factory=lambda: Answer(body=json.dumps({"token": GOOD_TOKEN}).encode())
    )
    manifest: Answer | None = None
    blobs: dict[str, Answer] = field(default_factory=dict)
    basic: str | None = None  # the Authorization a Basic challenge wants


@dataclass
class Seen:
    server: str
    method: str
    path: str
    authorization: str | None


class HostileRegistry:
    """The registry (``127.0.0.1``) and the other host (``localhost``), serving ``script``."""

    def __init__(
        self, script: Script, *, wrap: Callable[[ThreadingHTTPServer], None] | None = None
    ) -> None:
        self.script = script
        self.seen: list[Seen] = []
        self.registry = self._server("registry", wrap)
        self.other = self._server("other", None)

    def _server(
        self, name: str, wrap: Callable[[ThreadingHTTPServer], None] | None
    ) -> ThreadingHTTPServer:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                outer._answer(self, name)

            def do_HEAD(self) -> None:
                outer._answer(self, name)

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        if wrap is not None:
            wrap(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    @property
    def scheme(self) -> str:
        return "https" if hasattr(self.registry.socket, "context") else "http"

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.registry.server_address[1]}"

    @property
    def token_url(self) -> str:
        return f"{self.scheme}://{self.host}/token"

    @property
    def other_url(self) -> str:
        return f"http://localhost:{self.other.server_address[1]}/token"

    def challenge(self) -> str | None:
        if self.script.challenge is None:
            return None
        return self.script.challenge.replace("{token_url}", self.token_url).replace(
            "{other_url}", self.other_url
        )

    def _answer(self, handler: BaseHTTPRequestHandler, name: str) -> None:
        auth = handler.headers.get("Authorization")
        self.seen.append(Seen(name, handler.command, handler.path, auth))
        path = handler.path.split("?", 1)[0]
        if path.startswith("/token"):
            self._send(handler, self.script.token)
            return
        if name != "registry":
            self._send(handler, Answer(404))
            return
        allowed = {f"Bearer {GOOD_TOKEN}", self.script.basic} - {None}
        challenge = self.challenge()
        if challenge is not None and auth not in allowed:
            self._send(handler, Answer(401, {"WWW-Authenticate": challenge}, b'{"errors":[]}'))
            return
        if "/manifests/" in path and self.script.manifest is not None:
            self._send(handler, self.script.manifest)
        elif "/blobs/" in path and path.rsplit("/", 1)[1] in self.script.blobs:
            self._send(handler, self.script.blobs[path.rsplit("/", 1)[1]])
        else:
            self._send(handler, Answer(404, body=b'{"errors":[{"code":"NOT_FOUND"}]}'))

    def _send(self, handler: BaseHTTPRequestHandler, answer: Answer) -> None:
        try:
            handler.send_response(answer.status)
            for key, value in answer.headers.items():
                handler.send_header(key, value)
            if answer.content_length == "auto" and not answer.endless:
                handler.send_header("Content-Length", str(len(answer.body)))
            elif answer.content_length not in (None, "auto"):
                handler.send_header("Content-Length", str(answer.content_length))
            handler.send_header("Connection", "close")  # a body shorter than said ends, at EOF
            handler.close_connection = True
            handler.end_headers()
            if handler.command == "HEAD":
                return
            if answer.endless:
                chunk = answer.body or b"x" * 65536
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    handler.wfile.write(chunk)
                return
            if answer.trickle:
                for byte in answer.body:
                    handler.wfile.write(bytes([byte]))
                    handler.wfile.flush()
                    time.sleep(answer.trickle)
                return
            handler.wfile.write(answer.body)
        except OSError:
            return

    def credentials_seen_by(self, server: str, secret: str) -> list[Seen]:
        """The requests to ``server`` that carried ``secret`` (Basic credentials)."""
        return [
            item for item in self.seen if item.server == server and item.authorization == secret
        ]

    def close(self) -> None:
        for server in (self.registry, self.other):
            server.shutdown()
            server.server_close()


def image_manifest(
    layers: list[bytes], config: bytes = b'{"architecture":"amd64","os":"linux"}'
) -> bytes:
    """A manifest naming ``config`` and ``layers`` by digest and size."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest(config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": LAYER_TYPE, "digest": digest(layer), "size": len(layer)}
                for layer in layers
            ],
        }
    ).encode()
