"""A real OCI registry (distribution API subset) on 127.0.0.1, with a blob host beside it.

What ``public.ecr.aws`` does that a client must get right: a 401 with a bearer challenge,
an anonymous token from the realm, an image index with one manifest per CPU, and blobs
that redirect to another host (where the token must not be sent). Layers are gzip
tarballs made by the tests; a tag can be marked to serve a corrupted blob.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "anonymous-test-token"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"


def layer_tarball(files: Mapping[str, bytes | None]) -> bytes:
    """A gzip tarball: ``None`` makes a directory, bytes a file (names may be whiteouts)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.mtime = 0
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                archive.addfile(info)
            else:
                info.size = len(data)
                info.mode = 0o755 if name.endswith(("python3.12", ".so")) else 0o644
                archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Registry:
    """Blobs and manifests by digest, tags to index digests, and what was asked of it."""

    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # digest → (type, body)
    tags: dict[str, str] = field(default_factory=dict)
    corrupt: set[str] = field(default_factory=set)  # blob digests served with other bytes
    seen_by_blob_host: list[tuple[str, str | None]] = field(default_factory=list)
    seen_by_registry: list[tuple[str, str | None]] = field(default_factory=list)

    def add_image(self, tag: str, layers_by_arch: Mapping[str, list[bytes]]) -> str:
        """Publish ``tag`` as an index with one manifest per architecture; returns its digest."""
        entries = []
        for arch, layers in layers_by_arch.items():
            config = json.dumps({"architecture": arch, "os": "linux"}).encode()
            self.blobs[_digest(config)] = config
            descriptors = []
            for layer in layers:
                self.blobs[_digest(layer)] = layer
                descriptors.append(
                    {"mediaType": LAYER_TYPE, "digest": _digest(layer), "size": len(layer)}
                )
            manifest = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": MANIFEST_TYPE,
                    "config": {
                        "mediaType": "application/vnd.oci.image.config.v1+json",
                        "digest": _digest(config),
                        "size": len(config),
                    },
                    "layers": descriptors,
                }
            ).encode()
            self.manifests[_digest(manifest)] = (MANIFEST_TYPE, manifest)
            entries.append(
                {
                    "mediaType": MANIFEST_TYPE,
                    "digest": _digest(manifest),
                    "size": len(manifest),
                    "platform": {"architecture": arch, "os": "linux"},
                }
            )
        index = json.dumps(
            {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": entries}
        ).encode()
        self.manifests[_digest(index)] = (INDEX_TYPE, index)
        self.tags[tag] = _digest(index)
        return _digest(index)


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler], host: str) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.host = host
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class RegistryServer:
    """The registry on ``127.0.0.1`` and its blob host on ``localhost`` (another host to a client)."""

    def __init__(self, registry: Registry, repository: str = "lambda/python") -> None:
        self.registry = registry
        state = registry
        outer = self

        class BlobHost(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                state.seen_by_blob_host.append((self.path, self.headers.get("Authorization")))
                digest = self.path.rsplit("/", 1)[-1]
                body = state.blobs.get(digest)
                if body is None:
                    self.send_error(404)
                    return
                if digest in state.corrupt:
                    body = body[:-1] + bytes([body[-1] ^ 0xFF])
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Api(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _send(
                self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                state.seen_by_registry.append((self.path, self.headers.get("Authorization")))
                if self.path.startswith("/token"):
                    self._send(200, json.dumps({"token": TOKEN}).encode())
                    return
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    challenge = (
                        f'Bearer realm="{outer.api.url}/token",service="test-registry",'
                        f'scope="repository:{repository}:pull"'
                    )
                    self._send(
                        401,
                        b'{"errors":[{"code":"UNAUTHORIZED"}]}',
                        {"WWW-Authenticate": challenge},
                    )
                    return
                prefix = f"/v2/{repository}/"
                if self.path.startswith(prefix + "manifests/"):
                    reference = self.path.removeprefix(prefix + "manifests/")
                    found = state.manifests.get(state.tags.get(reference, reference))
                    if found is None:
                        self._send(404)
                        return
                    self._send(200, found[1], {"Content-Type": found[0]})
                elif self.path.startswith(prefix + "blobs/"):
                    digest = self.path.removeprefix(prefix + "blobs/")
                    self._send(307, headers={"Location": f"{outer.blob_host.url}/blobs/{digest}"})
                else:
                    self._send(404)

        self.blob_host = _Server(BlobHost, "localhost")
        self.api = _Server(Api, "127.0.0.1")

    @property
    def url(self) -> str:
        return self.api.url

    def close(self) -> None:
        self.api.close()
        self.blob_host.close()
