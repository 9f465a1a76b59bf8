"""A real PEP 503 package index over HTTP on 127.0.0.1, serving wheels the tests build.

Faults for failure tests are per file name: ``drop`` closes the connection half way
through the body, ``corrupt`` serves other bytes than the page's ``#sha256=`` announces.
With ``authorization`` set (an ``Authorization`` header's value), every request without
it is answered 401, pages and files alike, as private indexes do.

``/pypi/<project>/<version>/json`` answers as PyPI's JSON API does for a release that has
files here: ``info``, ``urls`` and ``vulnerabilities`` (the OSV records planted in
:attr:`LocalIndex.vulnerabilities`, keyed by project and version). With ``json_api``
false it answers 404, as an index without that API; ``json_bodies`` serves raw bodies
(hostile answers) for a (project, version).
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from packaging.utils import canonicalize_name


def _project_of(filename: str) -> str:
    if filename.endswith(".whl"):
        return canonicalize_name(filename.split("-", maxsplit=1)[0])
    return canonicalize_name(re.sub(r"-[0-9][^-]*\.tar\.gz$", "", filename))


def _wheel_metadata(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return archive.read(name)


def _anchor(path: Path) -> str:
    """A PEP 503 link with the file's hash, and PEP 658 metadata for wheels.

    Serving the metadata separately is what real indexes do, and it lets uv resolve
    without downloading wheels, so download faults hit the fetcher, not the resolver.
    """
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    extra = ""
    if path.name.endswith(".whl"):
        metadata = _wheel_metadata(path)
        requires_python = re.search(rb"^Requires-Python: *(.+?)\s*$", metadata, re.MULTILINE)
        if requires_python:
            extra += f' data-requires-python="{html.escape(requires_python.group(1).decode())}"'
        metadata_digest = hashlib.sha256(metadata).hexdigest()
        extra += f' data-dist-info-metadata="sha256={metadata_digest}" data-core-metadata="sha256={metadata_digest}"'
    name = html.escape(path.name)
    return f'<a href="../../files/{name}#sha256={digest}"{extra}>{name}</a><br>\n'


class LocalIndex:
    """Serves every file of ``root`` as a simple index at ``url`` (``.../simple``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.faults: dict[str, str] = {}
        # a file whose download (or ``PROJECT/VERSION/json``, whose release's JSON: an audit)
        # waits until its gate is set (a build held mid-way, for real)
        self.gates: dict[str, threading.Event] = {}
        self.gated = threading.Event()  # set when a gated download has begun waiting
        self.requests: list[str] = []
        self.authorization: str | None = None
        self.vulnerabilities: dict[tuple[str, str], list[dict[str, object]]] = {}
        self.json_api = True
        self.json_bodies: dict[tuple[str, str], bytes] = {}
        index = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                index.requests.append(self.path)
                if index.authorization and self.headers.get("Authorization") != index.authorization:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="index"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path.startswith("/simple/"):
                    self._project_page(self.path.removeprefix("/simple/").strip("/"))
                elif self.path.startswith("/files/"):
                    self._file(self.path.removeprefix("/files/"))
                elif self.path.startswith("/pypi/") and index.json_api:
                    self._release_json(self.path.removeprefix("/pypi/").split("/"))
                else:
                    self.send_error(404)

            def _project_page(self, project: str) -> None:
                files = [
                    path
                    for path in sorted(index.root.iterdir())
                    if _project_of(path.name) == canonicalize_name(project)
                ]
                if not files:
                    self.send_error(404)
                    return
                links = "".join(_anchor(path) for path in files)
                body = f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _release_json(self, parts: list[str]) -> None:
                if len(parts) != 3 or parts[2] != "json":
                    self.send_error(404)
                    return
                project, version = canonicalize_name(parts[0]), parts[1]
                self._wait_at(f"{project}/{version}/json")
                body = index.json_bodies.get((project, version))
                if body is None:
                    files = [
                        path
                        for path in sorted(index.root.iterdir())
                        if _project_of(path.name) == project
                        and path.name.split("-")[1] == version.replace("-", "_")
                    ]
                    if not files:
                        self.send_error(404)
                        return
                    document = {
                        "info": {"name": project, "version": version},
                        "urls": [
                            {"filename": path.name, "url": f"../../files/{path.name}"}
                            for path in files
                        ],
                        "vulnerabilities": index.vulnerabilities.get((project, version), []),
                    }
                    body = json.dumps(document).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _file(self, name: str) -> None:
                if name.endswith(".metadata"):
                    self._metadata(index.root / name.removesuffix(".metadata"))
                    return
                path = index.root / name
                if not path.is_file():
                    self.send_error(404)
                    return
                body = path.read_bytes()
                self._wait_at(name)
                fault = index.faults.get(name)
                if fault == "corrupt":
                    body = body[:-1] + bytes([body[-1] ^ 0xFF])
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if fault == "drop":
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def _wait_at(self, name: str) -> None:
                gate = index.gates.get(name)
                if gate is not None:
                    index.gated.set()
                    gate.wait(60)

            def _metadata(self, wheel: Path) -> None:
                if not wheel.is_file():
                    self.send_error(404)
                    return
                body = _wheel_metadata(wheel)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/simple"

    def downloads(self) -> list[str]:
        """Wheel downloads seen so far (uv reads only the .metadata files)."""
        return [
            path for path in self.requests if path.startswith("/files/") and path.endswith(".whl")
        ]

    def __enter__(self) -> LocalIndex:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(root: Path) -> Iterator[LocalIndex]:
    with LocalIndex(root) as index:
        yield index
