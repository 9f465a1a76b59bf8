"""Network pieces for the proxy, certificate and registry tests, all real and on 127.0.0.1:

- :class:`ConnectProxy`: an HTTP proxy (``CONNECT`` tunnels for https, absolute-form
  requests for http) that records every request it relays, and can ask for credentials;
- :func:`tinyproxy`: Debian's tinyproxy on a free port, when it is installed;
- :func:`private_ca`: a certificate authority and a server certificate for 127.0.0.1 and
  localhost, made here (``cryptography``), and :func:`serve_tls` to put a server behind it.
"""

from __future__ import annotations

import datetime
import ipaddress
import select
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path


class ConnectProxy:
    """A forwarding proxy on 127.0.0.1; ``seen`` holds (method, target, Proxy-Authorization)."""

    def __init__(self, required_auth: str | None = None) -> None:
        self.seen: list[tuple[str, str, str | None]] = []
        self.required_auth = required_auth
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer._handle(self.request)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                return
            head += chunk
        header, _, rest = head.partition(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        fields = {
            k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])
        }
        auth = fields.get("proxy-authorization")
        self.seen.append((method, target, auth))
        if self.required_auth is not None and auth != self.required_auth:
            client.sendall(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
            )
            return
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((host.strip("[]"), int(port)))
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _relay(client, upstream, rest)
            return
        # absolute-form: http://host:port/path
        without_scheme = target.split("://", 1)[1]
        hostport, _, path = without_scheme.partition("/")
        host, _, port = hostport.rpartition(":")
        upstream = socket.create_connection((host.strip("[]"), int(port or 80)))
        kept = [ln for ln in lines[1:] if not ln.lower().startswith(("proxy-", "connection"))]
        request = "\r\n".join([f"{method} /{path} HTTP/1.1", *kept, "Connection: close", "", ""])
        upstream.sendall(request.encode("latin-1") + rest)
        _relay(client, upstream, b"")


def _relay(client: socket.socket, upstream: socket.socket, first: bytes) -> None:
    if first:
        upstream.sendall(first)
    sockets = [client, upstream]
    try:
        while True:
            readable, _, _ = select.select(sockets, [], [], 30)
            if not readable:
                return
            for source in readable:
                data = source.recv(65536)
                if not data:
                    return
                (upstream if source is client else client).sendall(data)
    except OSError:
        return
    finally:
        upstream.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def tinyproxy(workdir: Path) -> Iterator[str]:
    """Debian's tinyproxy on 127.0.0.1 (its URL); the caller skips when it is not installed."""
    binary = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
    port = _free_port()
    config = workdir / "tinyproxy.conf"
    log = workdir / "tinyproxy.log"
    config.write_text(
        f"Port {port}\nListen 127.0.0.1\nTimeout 60\nAllow 127.0.0.1\nMaxClients 50\n"
        f'LogFile "{log}"\nLogLevel Connect\n'
    )
    process = subprocess.Popen([binary, "-d", "-c", str(config)], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass(frozen=True)
class Certificates:
    """A CA's certificate (PEM file) and a server's certificate and key signed by it."""

    ca: Path
    server_cert: Path
    server_key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert, self.server_key)
        return context


def private_ca(directory: Path) -> Certificates:
    """A new CA and a certificate for 127.0.0.1 / localhost / ::1 signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lambdalayer test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    certificates = Certificates(
        directory / "ca.pem", directory / "server.pem", directory / "server.key"
    )
    certificates.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    certificates.server_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    certificates.server_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificates


def serve_tls(server: ThreadingHTTPServer, certificates: Certificates) -> None:
    """Make ``server`` (not yet serving) answer over TLS with the private CA's certificate."""
    server.socket = certificates.server_context().wrap_socket(server.socket, server_side=True)
