"""Proxies and certificates (#33 point 1), as pip and uv read them: through a real proxy on
127.0.0.1 (a CONNECT proxy started here, and Debian's tinyproxy when installed), an index
over HTTPS with a private CA made here, ``NO_PROXY`` sending loopback servers direct, and
``--proxy`` / the bundle passed on to uv.
"""

from __future__ import annotations

import base64
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cliutil import run_cli
from indexserver import LocalIndex
from nettools import Certificates, ConnectProxy, private_ca, serve_tls, tinyproxy

from lambdalayer import network

PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture(autouse=True)
def clean_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in (*PROXY_VARIABLES, *(v.lower() for v in PROXY_VARIABLES)):
        monkeypatch.delenv(name, raising=False)
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "UV_NATIVE_TLS"):
        monkeypatch.delenv(name, raising=False)
    yield
    network.configure(network.NetworkSettings())


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    server = ConnectProxy()
    yield server
    server.close()


def _build(capsys, index_url: str, tmp_path: Path, *extra: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    code, _out, err = run_cli(
        capsys, "build", "alpha", "--runtime", "python3.12", "--bytecode", "none", "--no-check",
        "--index-url", index_url, "--cache-dir", str(tmp_path / "cache"),
        "-o", str(tmp_path / "layer.zip"), *extra,
    )  # fmt: skip
    return code, err


def _locked(capsys, local_index: LocalIndex, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    lock = tmp_path / "pylock.toml"
    code, err = _build(capsys, local_index.url, tmp_path / "first", "--lock", str(lock))
    assert code == 0, err
    return lock


def _from_lock(capsys, lock: Path, tmp_path: Path, *extra: str) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    code, _out, err = run_cli(
        capsys, "build", "--from-lock", str(lock), "--runtime", "python3.12", "--bytecode",
        "none", "--no-check", "--cache-dir", str(tmp_path / "cache"),
        "-o", str(tmp_path / "layer.zip"), *extra,
    )  # fmt: skip
    return code, err


def _wheels(seen: list[tuple[str, str, str | None]]) -> list[str]:
    return [target for _method, target, _auth in seen if target.endswith(".whl")]


def test_downloads_go_through_the_environments_proxy_and_no_proxy_goes_direct(
    capsys, local_index, tmp_path, proxy, monkeypatch
):
    lock = _locked(capsys, local_index, tmp_path)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    code, err = _from_lock(capsys, lock, tmp_path / "proxied")
    assert code == 0, err
    assert len(_wheels(proxy.seen)) == 2, proxy.seen  # alpha and beta, through the proxy
    proxy.seen.clear()
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.0/8")
    code, err = _from_lock(capsys, lock, tmp_path / "direct")
    assert code == 0, err
    assert proxy.seen == []


def test_the_proxy_flag_reaches_our_client_and_uv(capsys, local_index, tmp_path, proxy):
    code, err = _build(capsys, local_index.url, tmp_path, "--proxy", proxy.url)
    assert code == 0, err
    targets = [target for _method, target, _auth in proxy.seen]
    assert any("/simple/alpha" in target for target in targets), targets  # uv's page reads
    assert len(_wheels(proxy.seen)) == 2  # our downloads


def test_a_proxy_that_asks_for_credentials_gets_them_from_its_url(
    capsys, local_index, tmp_path, monkeypatch
):
    lock = _locked(capsys, local_index, tmp_path)
    wanted = "Basic " + base64.b64encode(b"proxyuser:pr0xy").decode()
    server = ConnectProxy(required_auth=wanted)
    try:
        monkeypatch.setenv("http_proxy", server.url.replace("http://", "http://proxyuser:pr0xy@"))
        code, err = _from_lock(capsys, lock, tmp_path / "proxied")
        assert code == 0, err
        assert {auth for _m, _t, auth in server.seen} == {wanted}
        assert "pr0xy" not in err
    finally:
        server.close()


def test_a_socks_proxy_is_one_error_naming_the_variable(capsys, local_index, tmp_path, monkeypatch):
    lock = _locked(capsys, local_index, tmp_path)
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:9")
    code, err = _from_lock(capsys, lock, tmp_path / "socks")
    assert code == 1
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        "error: all_proxy names the proxy 'socks5://127.0.0.1:9': lambdalayer speaks to"
        " http:// and https:// proxies"
    ] or "ALL_PROXY names the proxy" in err, err


@pytest.mark.skipif(
    shutil.which("tinyproxy") is None, reason="tinyproxy is not installed (.ci/run installs it)"
)
def test_downloads_through_tinyproxy(capsys, local_index, tmp_path, monkeypatch):
    lock = _locked(capsys, local_index, tmp_path)
    with tinyproxy(tmp_path) as url:
        monkeypatch.setenv("HTTP_PROXY", url)
        code, err = _from_lock(capsys, lock, tmp_path / "proxied")
        assert code == 0, err
    log = (tmp_path / "tinyproxy.log").read_text(errors="replace")
    assert ".whl" in log, log[-2000:]


# -- an index over HTTPS with a private CA ---------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return private_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def https_index(local_index: LocalIndex, certificates: Certificates) -> Iterator[str]:
    index = LocalIndex(local_index.root)
    serve_tls(index.server, certificates)
    with index:
        yield index.url.replace("http://", "https://")


def test_an_https_index_with_a_private_ca_needs_its_bundle(
    capsys, https_index, certificates, tmp_path, monkeypatch
):
    code, err = _build(capsys, https_index, tmp_path / "untrusted")
    assert code == 1
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1, err
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))
    code, err = _build(capsys, https_index, tmp_path / "trusted")
    assert code == 0, err


def test_requests_ca_bundle_is_trusted_and_passed_on_to_uv(
    capsys, https_index, certificates, tmp_path, monkeypatch
):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificates.ca))
    code, err = _build(capsys, https_index, tmp_path)
    assert code == 0, err


def test_an_https_index_through_a_connect_proxy(
    capsys, https_index, certificates, tmp_path, proxy, monkeypatch
):
    monkeypatch.setenv("SSL_CERT_DIR", str(certificates.ca.parent))
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    code, err = _build(capsys, https_index, tmp_path)
    assert code == 0, err
    port = https_index.split(":")[2].split("/")[0]
    assert ("CONNECT", f"127.0.0.1:{port}", None) in proxy.seen


def test_a_missing_bundle_is_one_error_line(capsys, local_index, tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such.pem"))
    code, err = _build(capsys, local_index.url.replace("http://", "https://"), tmp_path)
    assert code == 1
    assert len([line for line in err.splitlines() if line.startswith("error:")]) == 1, err
    assert "Traceback" not in err


# -- the rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "port", "no_proxy", "direct"),
    [
        ("pypi.org", 443, "*", True),
        ("files.pythonhosted.org", 443, "pythonhosted.org", True),
        ("files.pythonhosted.org", 443, ".pythonhosted.org", True),
        ("pythonhosted.org", 443, "*.pythonhosted.org", True),
        ("notpythonhosted.org", 443, "pythonhosted.org", False),
        ("10.1.2.3", 80, "10.0.0.0/8", True),
        ("11.1.2.3", 80, "10.0.0.0/8", False),
        ("::1", 8080, "::1", True),
        ("::1", 8080, "[::1]:8080", True),
        ("127.0.0.1", 8080, "127.0.0.1:9090", False),
        ("127.0.0.1", 9090, "localhost, 127.0.0.1:9090", True),
        ("example.com", 443, "", False),
    ],
)
def test_no_proxy_entries(host, port, no_proxy, direct):
    assert network.bypasses(host, port, no_proxy) is direct


def test_uv_gets_the_flags_proxy_bundle_and_native_tls(monkeypatch):
    from lambdalayer.uvtool import uv_environment

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/corp.pem")
    network.configure(network.NetworkSettings(proxy="http://proxy.corp:3128", native_tls=True))
    environment = uv_environment()
    assert environment["HTTPS_PROXY"] == environment["http_proxy"] == "http://proxy.corp:3128"
    assert environment["SSL_CERT_FILE"] == "/etc/corp.pem"
    assert environment["UV_SYSTEM_CERTS"] == "true"


def test_aws_calls_keep_working_with_a_dead_proxy_and_no_proxy(capsys, monkeypatch):
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        args = (
            "layers",
            "nosuchlayer",
            "--endpoint-url",
            f"http://{host}:{port}",
            "--region",
            "eu-west-1",
        )
        code, _out, err = run_cli(capsys, *args)
        assert code == 0, err
        code, _out, err = run_cli(capsys, "--proxy", "http://127.0.0.1:9", *args)
        assert code == 0, err  # the flag too leaves NO_PROXY's hosts direct
    finally:
        server.stop()
