"""Hostile registries (#30 point 7): credentials go only where they were meant to, a token
realm is https (http only for a plain-HTTP registry), never file://; bodies are held to the
sizes the manifest declares while they stream, and the time limit does not come from a
hostile ``Content-Length``. Real servers on 127.0.0.1 record every request they get.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostileregistry import GOOD_TOKEN, Answer, HostileRegistry, Script, digest, image_manifest
from nettools import private_ca, serve_tls

from lambdalayer import network
from lambdalayer.errors import LambdaLayerError
from lambdalayer.net import http
from lambdalayer.oci.client import RegistryClient, platform_manifest
from lambdalayer.oci.reference import ImageReference

SECRET = ("tester", "s3cret")
BASIC = "Basic " + base64.b64encode(b"tester:s3cret").decode()


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(http, "BACKOFF_SECONDS", 0.0)
    monkeypatch.delenv(network.ALLOW_AUTH_ENV, raising=False)
    network.configure(network.NetworkSettings())
    yield
    network.configure(network.NetworkSettings())


def _client(registry: HostileRegistry, credentials: bool = True) -> RegistryClient:
    image = ImageReference.parse(f"{registry.scheme}://{registry.host}/lambda/python:3.12")
    return RegistryClient(image, (lambda _host: SECRET) if credentials else (lambda _host: None))


def _serve(script: Script, **options: object) -> Iterator[HostileRegistry]:
    registry = HostileRegistry(script, **options)  # type: ignore[arg-type]
    try:
        yield registry
    finally:
        registry.close()


def test_a_file_realm_is_never_read(tmp_path):
    planted = tmp_path / "token.json"
    planted.write_text(json.dumps({"token": "from-a-local-file"}))
    script = Script(challenge=f'Bearer realm="file://{planted}",service="x"')
    for registry in _serve(script):
        with pytest.raises(LambdaLayerError, match="not an"):
            platform_manifest(_client(registry), "3.12", "x86_64")
        assert not [
            seen for seen in registry.seen if seen.authorization == "Bearer from-a-local-file"
        ]


@pytest.mark.parametrize("scheme", ["ftp", "data", "gopher", ""])
def test_a_realm_of_another_scheme_is_refused(scheme):
    script = Script(challenge=f'Bearer realm="{scheme}://127.0.0.1/token",service="x"')
    for registry in _serve(script):
        with pytest.raises(LambdaLayerError):
            platform_manifest(_client(registry), "3.12", "x86_64")
        assert [seen.server for seen in registry.seen] == ["registry"]


def test_credentials_go_to_a_token_service_on_another_host_only_when_allowed():
    script = Script(challenge='Bearer realm="{other_url}",service="x"')
    for registry in _serve(script):
        # Anonymous: the other host answers a token the registry takes; no credentials sent.
        manifest = image_manifest([])
        registry.script.manifest = Answer(headers={"Content-Type": "x"}, body=manifest)
        platform_manifest(_client(registry), "3.12", "x86_64")
        assert registry.credentials_seen_by("other", BASIC) == []
        assert [s for s in registry.seen if s.server == "other"], "the token was asked anonymously"
        # A token service that needs the credentials: refused, and the hint says how to allow it.
        registry.script.token = Answer(401, body=b"{}")
        with pytest.raises(LambdaLayerError) as refused:
            platform_manifest(_client(registry), "3.12", "x86_64")
        assert registry.credentials_seen_by("other", BASIC) == []
        other = f"localhost:{registry.other.server_address[1]}"
        assert "--allow-auth-host" in (refused.value.hint or "") + refused.value.message
        # Allowed by the user: now it gets them.
        network.configure(network.NetworkSettings(allow_auth_hosts=(other,)))
        with pytest.raises(LambdaLayerError):
            platform_manifest(_client(registry), "3.12", "x86_64")
        assert registry.credentials_seen_by("other", BASIC)


def test_no_credentials_from_an_https_registry_to_a_plain_http_realm(tmp_path, monkeypatch):
    certificates = private_ca(tmp_path / "ca")
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))
    script = Script(challenge='Bearer realm="{other_url}",service="x"')
    for registry in _serve(script, wrap=lambda server: serve_tls(server, certificates)):
        assert registry.scheme == "https"
        network.configure(network.NetworkSettings(allow_auth_hosts=("localhost",)))
        with pytest.raises(LambdaLayerError, match="https"):
            platform_manifest(_client(registry), "3.12", "x86_64")
        assert [s for s in registry.seen if s.server == "other"] == []


def test_a_blob_that_never_ends_is_cut_off_at_its_declared_size(tmp_path):
    layer = b"x" * 1000
    script = Script(challenge=None, blobs={digest(layer): Answer(body=b"x" * 65536, endless=True)})
    for registry in _serve(script):
        out = tmp_path / "blob"
        started = time.monotonic()
        with pytest.raises(LambdaLayerError, match="1,000 bytes declared"):
            _client(registry).blob(digest(layer), out, size=len(layer))
        assert time.monotonic() - started < 10
        assert not out.exists() or out.stat().st_size <= len(layer)


def test_the_time_limit_does_not_come_from_a_hostile_content_length(tmp_path, monkeypatch):
    monkeypatch.setattr(http, "MIN_DEADLINE_SECONDS", 1.0)
    layer = b"y" * 60
    slow = Answer(body=layer, trickle=0.1, content_length=str(10**13))
    script = Script(challenge=None, blobs={digest(layer): slow})
    for registry in _serve(script):
        started = time.monotonic()
        with pytest.raises(LambdaLayerError):
            _client(registry).blob(digest(layer), tmp_path / "blob", size=len(layer))
        assert time.monotonic() - started < 4  # not the 6 s of the trickle, nor 10**8 s


def test_a_manifest_over_4_mib_is_not_read_whole():
    script = Script(challenge=None, manifest=Answer(body=b" " * (5 << 20)))
    for registry in _serve(script):
        with pytest.raises(LambdaLayerError, match="4,194,304 bytes"):
            platform_manifest(_client(registry), "3.12", "x86_64")


def test_a_well_behaved_registry_with_a_realm_on_its_own_host_gets_the_credentials():
    script = Script()
    for registry in _serve(script):
        registry.script.manifest = Answer(body=image_manifest([]))
        platform_manifest(_client(registry), "3.12", "x86_64")
        assert registry.credentials_seen_by("registry", BASIC)
        assert any(s.authorization == f"Bearer {GOOD_TOKEN}" for s in registry.seen)


def test_a_body_longer_than_declared_is_refused_even_with_a_matching_length(tmp_path):
    layer = b"z" * 100
    script = Script(challenge=None, blobs={digest(layer): Answer(body=layer + b"more")})
    for registry in _serve(script):
        with pytest.raises(LambdaLayerError, match="declared"):
            _client(registry).blob(digest(layer), Path(tmp_path / "b"), size=len(layer))
