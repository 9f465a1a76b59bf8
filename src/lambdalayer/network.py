"""How lambdalayer reaches the network: proxies, trusted certificates, and which hosts may
receive a registry's credentials — one set of rules for its own HTTP client, for uv when it
runs uv, and for boto3.

Proxies, as pip and uv read them:

- ``--proxy URL`` (:class:`NetworkSettings`) for every scheme; otherwise ``HTTPS_PROXY``
  for ``https://`` URLs and ``HTTP_PROXY`` for ``http://`` ones, then ``ALL_PROXY`` (each
  also lower-case, which wins, as curl and Python's ``urllib`` read them);
- ``NO_PROXY`` (or ``no_proxy``): comma-separated hosts that go direct — ``*`` (every
  host), a domain (``example.com`` is that host and every host under it; a leading ``.`` or
  ``*.`` means the same), an IP address or a CIDR block (``10.0.0.0/8``, ``::1``), each
  optionally with ``:PORT``. It applies to ``--proxy`` too;
- a proxy is an ``http://`` or ``https://`` URL, with ``user:password@`` for a proxy that
  asks (sent only to the proxy). ``socks5://`` is an error naming the variable.

Certificates, as uv reads them (docs.astral.sh/uv/concepts/authentication/certificates):
``SSL_CERT_FILE`` (a PEM bundle) and ``SSL_CERT_DIR`` (directories of PEM files, ``:``
between them) replace the default trust when set; else ``REQUESTS_CA_BUNDLE`` (pip's and
requests') does; else the system's store. ``--native-tls`` (or ``UV_NATIVE_TLS`` /
``UV_SYSTEM_CERTS``) makes uv trust the system's store too — lambdalayer's own client
always does when no bundle is named, as pip does. uv is given the same proxy and bundle
(:func:`child_environment`).

Registry credentials go to the registry's own host only, or to a token service the user
allows: ``--allow-auth-host HOST`` (repeatable), ``LAMBDALAYER_ALLOW_AUTH_HOST`` (commas)
or ``allow-auth-host`` in ``[tool.lambdalayer]``.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import ssl
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from lambdalayer.errors import InputError

ALLOW_AUTH_ENV = "LAMBDALAYER_ALLOW_AUTH_HOST"
_TRUE = {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class NetworkSettings:
    """What the command line said about the network (the environment fills in the rest)."""

    proxy: str | None = None  # --proxy: every scheme, over the environment's variables
    native_tls: bool = False  # --native-tls: uv trusts the system's store too
    allow_auth_hosts: tuple[str, ...] = field(default=())  # --allow-auth-host


_lock = threading.Lock()
_current = NetworkSettings()


def configure(settings: NetworkSettings) -> None:
    """Set the process's network settings (the CLI does, once a command line is parsed)."""
    global _current  # noqa: PLW0603 - one HTTP client per process, one set of settings
    with _lock:
        _current = settings


def current() -> NetworkSettings:
    """The settings in force."""
    return _current


@contextmanager
def allowing_auth_hosts(hosts: tuple[str, ...]) -> Iterator[None]:
    """The settings with ``hosts`` allowed too (a project's ``allow-auth-host``), for a block."""
    before = current()
    configure(replace(before, allow_auth_hosts=(*before.allow_auth_hosts, *hosts)))
    try:
        yield
    finally:
        configure(before)


# -- proxies -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proxy:
    """A proxy to send a request through: its URL without credentials, and those (if any)."""

    url: str
    credentials: tuple[str, str] | None = None


def _variable(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    for key in (name.lower(), name.upper()):
        value = environ.get(key, "").strip()
        if value:
            return key, value
    return None


def proxy_for(url: str, environ: Mapping[str, str] = os.environ) -> Proxy | None:
    """The proxy a request of ``url`` goes through, or ``None`` (direct)."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return None
    settings = current()
    if settings.proxy:
        chosen: tuple[str, str] | None = ("--proxy", settings.proxy)
    else:
        chosen = _variable(environ, f"{parts.scheme}_proxy") or _variable(environ, "all_proxy")
    if chosen is None:
        return None
    no_proxy = _variable(environ, "no_proxy")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if no_proxy is not None and bypasses(parts.hostname, port, no_proxy[1]):
        return None
    return _parsed_proxy(*chosen)


@functools.cache
def _parsed_proxy(where: str, value: str) -> Proxy:
    text = value if "://" in value else f"http://{value}"  # curl's and pip's reading
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InputError(
            f"{where} names the proxy {_without_credentials(text)!r}: lambdalayer speaks to"
            " http:// and https:// proxies",
            hint="give an http:// proxy (a SOCKS proxy is not supported)",
        )
    try:
        port = parts.port
    except ValueError as error:
        raise InputError(f"{where} names a proxy with a bad port: {error}") from error
    netloc = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    clean = f"{parts.scheme}://{netloc}" + (f":{port}" if port else "")
    credentials = None
    if parts.username is not None:
        credentials = (unquote(parts.username), unquote(parts.password or ""))
    return Proxy(clean, credentials)


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return url if parts.username is None else url.replace(f"{parts.netloc.split('@')[0]}@", "")


def bypasses(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` sends ``host:port`` direct.

    >>> bypasses("files.example.com", 443, "localhost,.example.com")
    True
    >>> bypasses("10.1.2.3", 80, "10.0.0.0/8")
    True
    """
    host = host.strip("[]").lower().rstrip(".")
    for raw in no_proxy.replace(" ", ",").split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        entry, wanted_port = _split_port(entry)
        if wanted_port is not None and wanted_port != port:
            continue
        if _matches(host, entry):
            return True
    return False


def _split_port(entry: str) -> tuple[str, int | None]:
    if entry.startswith("["):  # [::1]:8080
        address, _, rest = entry[1:].partition("]")
        return address, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if entry.count(":") == 1:
        name, _, port = entry.partition(":")
        if port.isdigit():
            return name, int(port)
    return entry, None


def _matches(host: str, entry: str) -> bool:
    try:
        network = ipaddress.ip_network(entry, strict=False)
    except ValueError:
        network = None
    if network is not None:
        try:
            return ipaddress.ip_address(host) in network
        except ValueError:
            return False
    domain = entry.removeprefix("*.").removeprefix(".").rstrip(".")
    return bool(domain) and (host == domain or host.endswith(f".{domain}"))


# -- certificates ------------------------------------------------------------------------------


def trusted_bundles(environ: Mapping[str, str] = os.environ) -> tuple[str, tuple[Path, ...]]:
    """(the variable that names them, the files) of the certificates to trust instead of the
    system's store; ``("", ())`` for the system's store."""
    cert_file = environ.get("SSL_CERT_FILE", "").strip()
    cert_dirs = [part for part in environ.get("SSL_CERT_DIR", "").split(os.pathsep) if part]
    if cert_file or cert_dirs:
        files = [Path(cert_file)] if cert_file else []
        for directory in cert_dirs:
            try:
                files += sorted(path for path in Path(directory).iterdir() if path.is_file())
            except OSError as error:
                raise InputError(
                    f"SSL_CERT_DIR names {directory}, which cannot be read: {error.strerror}"
                ) from error
        return "SSL_CERT_FILE" if cert_file else "SSL_CERT_DIR", tuple(files)
    bundle = environ.get("REQUESTS_CA_BUNDLE", "").strip()
    if bundle:
        return "REQUESTS_CA_BUNDLE", (Path(bundle),)
    return "", ()


def ssl_context(environ: Mapping[str, str] = os.environ) -> ssl.SSLContext:
    """The TLS context of lambdalayer's client: the named bundles, else the system's store."""
    variable, files = trusted_bundles(environ)
    return _context(variable, files)


@functools.cache
def _context(variable: str, files: tuple[Path, ...]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=None)
    if not variable:
        return context
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # nothing trusted but the bundles
    loaded = 0
    for path in files:
        try:
            context.load_verify_locations(cafile=str(path))
            loaded += 1
        except (OSError, ssl.SSLError) as error:
            if variable != "SSL_CERT_DIR":  # a directory's other files are skipped, as uv does
                reason = getattr(error, "strerror", None) or error
                raise InputError(
                    f"{variable} names {path}, which is not a readable PEM bundle: {reason}",
                    hint="point it at a PEM file of CA certificates, or unset it",
                ) from error
    if not loaded:
        raise InputError(f"{variable} names no readable PEM certificate")
    return context


# -- credentials and children ------------------------------------------------------------------


def auth_host_allowed(host: str, port: int | None) -> bool:
    """Whether the user allows registry credentials to go to ``host[:port]``."""
    allowed = [*current().allow_auth_hosts, *os.environ.get(ALLOW_AUTH_ENV, "").split(",")]
    for entry in (item.strip().lower() for item in allowed):
        if not entry:
            continue
        name, wanted = _split_port(entry)
        if name == host.lower() and (wanted is None or wanted == port):
            return True
    return False


def native_tls(environ: Mapping[str, str] = os.environ) -> bool:
    """``--native-tls``, or uv's own variables for it."""
    return current().native_tls or any(
        environ.get(name, "").strip().lower() in _TRUE
        for name in ("UV_NATIVE_TLS", "UV_SYSTEM_CERTS")
    )


def child_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The network settings as the variables uv (or another child) reads: the ``--proxy``
    for every scheme, ``REQUESTS_CA_BUNDLE`` as ``SSL_CERT_FILE``, ``--native-tls`` as
    ``UV_SYSTEM_CERTS``. Only what changes is returned."""
    extra: dict[str, str] = {}
    proxy = current().proxy
    if proxy:
        for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
            extra[name] = proxy
    variable, files = trusted_bundles(environ)
    if variable == "REQUESTS_CA_BUNDLE":
        extra["SSL_CERT_FILE"] = str(files[0])
    if native_tls(environ):
        extra["UV_SYSTEM_CERTS"] = "true"
    return extra
