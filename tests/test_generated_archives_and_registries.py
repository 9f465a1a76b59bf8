"""Generated hostile cases (hypothesis, fixed seed) for the surfaces of #30 points 1, 6 and 7:
tar members of an image's layers, zip members extracted read-only, the files of an OCI
layout, and a registry's answers. Each case asserts the one promise: one ``error:`` line and
a non-zero exit (or a correct success), no traceback, nothing outside the output and the
cache created, changed or removed (a sentinel tree beside them, with a link into it, is
compared before and after), and no credential sent anywhere but the registry's own host.

The cases whose failure could hang or exhaust memory (FIFOs, devices, huge files) are the
explicit ones of test_oci_layout_hostile.py, each in a capped child; these run in-process.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest
from archives import Member, digest, snapshot, tar_bytes, zip_bytes
from cliutil import run_cli
from hostilecases import generated
from hostileregistry import Answer, HostileRegistry, Script, image_manifest
from hypothesis import given
from hypothesis import strategies as st

from lambdalayer import network
from lambdalayer.container.output import _referrers_index
from lambdalayer.errors import LambdaLayerError
from lambdalayer.net import http
from lambdalayer.oci.client import RegistryClient, platform_manifest
from lambdalayer.oci.reference import ImageReference

pytestmark = pytest.mark.hostile

# -- a model of tar members -------------------------------------------------------------------

_SEGMENT = st.sampled_from(
    ["etc", "usr", "lib", "a", "b", "..", ".", "", ".wh.a", ".wh..wh..opq", "x y", "é", "\x1b"]
)
_NAME = st.lists(_SEGMENT, min_size=1, max_size=4).map("/".join) | st.sampled_from(
    ["/etc/passwd", "./", "../escape", "host", "host/secret.txt", "up/../../x"]
)
_KINDS = st.sampled_from(
    [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE,
     tarfile.FIFOTYPE, tarfile.BLKTYPE, b"S", b"Z"]
)  # fmt: skip


def _link_targets(host: Path) -> st.SearchStrategy[str]:
    return _NAME | st.sampled_from(
        [str(host), str(host / "secret.txt"), "../" * 8 + str(host).lstrip("/"), "/", "..", ""]
    )


def _members(host: Path) -> st.SearchStrategy[list[Member]]:
    member = st.builds(
        Member,
        name=_NAME,
        kind=_KINDS,
        data=st.binary(max_size=64),
        link=_link_targets(host),
        mode=st.sampled_from([0o644, 0o755, 0o4777, 0o000, 0o7777]),
        uid=st.sampled_from([0, 4242]),
    )
    return st.lists(member, min_size=1, max_size=8)


@pytest.fixture(scope="module")
def host_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sentinel "host" directory no archive may touch (files, a link, a subdirectory)."""
    host = tmp_path_factory.mktemp("host")
    (host / "secret.txt").write_text("host secret")
    (host / "secret.txt").chmod(0o600)
    (host / "sub").mkdir()
    (host / "sub" / "file").write_text("x")
    (host / "link").symlink_to(host / "secret.txt")
    return host


@pytest.fixture
def registry() -> object:
    server = HostileRegistry(Script(challenge=None))
    yield server
    server.close()


TAR_CASES = 120


@generated(TAR_CASES)
@given(data=st.data())
def test_generated_image_layers_keep_the_promise(
    data, host_tree, registry, tmp_path_factory, capsys
):
    layers = [
        tar_bytes(data.draw(_members(host_tree))) for _ in range(data.draw(st.integers(1, 2)))
    ]
    config = b'{"architecture":"amd64","os":"linux"}'
    manifest = image_manifest(layers, config)
    registry.script.manifest = Answer(
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, body=manifest
    )
    registry.script.blobs = {digest(blob): Answer(body=blob) for blob in [*layers, config]}
    place = tmp_path_factory.mktemp("case")
    before = snapshot(host_tree)
    code, _out, err = run_cli(
        capsys, "image", "pull", "3.12", "--registry", f"http://{registry.host}",
        "--cache-dir", str(place / "cache"),
    )  # fmt: skip
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert (code, len(errors)) in {(0, 0), (1, 1)}, err
    assert snapshot(host_tree) == before
    assert (host_tree / "secret.txt").stat().st_nlink == 1
    for path in (place / "cache").rglob("*"):
        info = path.lstat()
        assert not (
            stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode) or stat.S_ISFIFO(info.st_mode)
        )
        assert info.st_uid == os.getuid()
        assert not info.st_mode & (stat.S_ISUID | stat.S_ISGID)


# -- zip members ------------------------------------------------------------------------------

ZIP_CASES = 100


def _zip_members(host: Path) -> st.SearchStrategy[list[tuple[str, bytes, int]]]:
    kind = st.sampled_from(
        [stat.S_IFREG | 0o644, stat.S_IFLNK | 0o777, stat.S_IFDIR | 0o755, stat.S_IFIFO | 0o644,
         stat.S_IFCHR | 0o644, 0]
    )  # fmt: skip
    member = st.tuples(
        _NAME.map(lambda name: "python/" + name),
        _link_targets(host).map(str.encode) | st.binary(max_size=32),
        kind,
    )
    return st.lists(member, min_size=1, max_size=8)


@generated(ZIP_CASES)
@given(data=st.data())
def test_generated_zip_members_extract_inside_or_are_one_error(data, host_tree, tmp_path_factory):
    from lambdalayer.environment.imports import place_files
    from lambdalayer.placement import read_zip
    from lambdalayer.targets import Layout

    place = tmp_path_factory.mktemp("zip")
    archive = place / "layer.zip"
    archive.write_bytes(zip_bytes(data.draw(_zip_members(host_tree))))
    before = snapshot(host_tree)
    try:
        place_files([read_zip(archive, Layout.SITE_PACKAGES)], place / "opt", link=False)
    except LambdaLayerError as error:
        assert "\n" not in error.message
    assert snapshot(host_tree) == before
    for path in (place / "opt").rglob("*"):
        info = path.lstat()
        assert (
            stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode) or stat.S_ISLNK(info.st_mode)
        )
        if stat.S_ISLNK(info.st_mode):  # a link stays inside the extraction
            resolved = path.resolve()
            assert (
                resolved == (place / "opt").resolve()
                or (place / "opt").resolve() in resolved.parents
            )


# -- OCI layout files -------------------------------------------------------------------------

LAYOUT_CASES = 80
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["manifests", "digest", "mediaType", "platform", "annotations", "size",
                         "layers", "config", "architecture", "os", "schemaVersion"]),
        inner, max_size=4),
    max_leaves=12,
)  # fmt: skip


@generated(LAYOUT_CASES)
@given(data=st.data())
def test_generated_layout_files_are_read_or_one_error(data, host_tree, tmp_path_factory):
    from test_oci_layout_hostile import layout_with

    from lambdalayer.blobstore import BlobStore
    from lambdalayer.container.base import resolve_base
    from lambdalayer.oci.credentials import no_credentials
    from lambdalayer.targets import get_target

    place = tmp_path_factory.mktemp("layout")
    places = layout_with(place / "layout")
    which = data.draw(st.sampled_from(["oci-layout", "index.json", "manifest", "config"]))
    how = data.draw(st.sampled_from(["json", "bytes", "link-outside", "link-inside", "directory"]))
    target = places[which]
    target.unlink()
    if how == "json":
        target.write_text(json.dumps(data.draw(_JSON)))
    elif how == "bytes":
        target.write_bytes(data.draw(st.binary(max_size=200)))
    elif how == "link-outside":
        target.symlink_to(host_tree / "secret.txt")
    elif how == "link-inside":
        target.symlink_to(place / "layout" / "oci-layout")
    else:
        target.mkdir()
    before = snapshot(host_tree)
    try:
        resolve_base(
            str(place / "layout"), get_target("python3.12", "x86_64"), BlobStore(place / "cache"),
            no_credentials,
        )  # fmt: skip
    except LambdaLayerError as error:
        assert error.message
    assert snapshot(host_tree) == before


# -- a registry's answers ---------------------------------------------------------------------

REGISTRY_CASES = 120
SECRET = ("tester", "s3cret")
BASIC = "Basic " + base64.b64encode(b"tester:s3cret").decode()
_REALMS = st.sampled_from(
    ["{token_url}", "{other_url}", "file:///etc/passwd", "ftp://127.0.0.1/x", "", "javascript:x",
     "http://127.0.0.1:9/token", "{token_url}?x=1", "//{other_url}"]
)  # fmt: skip
_CHALLENGES = st.one_of(
    st.none(),
    st.builds(lambda scheme, realm, service: f'{scheme} realm="{realm}",service="{service}"',
              st.sampled_from(["Bearer", "Basic", "Digest", "bearer", ""]), _REALMS,
              st.text(max_size=8)),
    st.text(max_size=40),
)  # fmt: skip
_STATUSES = st.sampled_from([200, 201, 204, 301, 302, 307, 308, 400, 401, 403, 404, 429, 500, 503])


def _answers() -> st.SearchStrategy[Answer]:
    return st.builds(
        Answer,
        status=_STATUSES,
        headers=st.dictionaries(
            st.sampled_from(["Content-Type", "Location", "WWW-Authenticate", "Retry-After",
                             "Docker-Content-Digest"]),
            st.sampled_from(["", "http://localhost:1/x", "/v2/", "file:///etc/passwd", "0",
                             "application/vnd.oci.image.index.v1+json", "Bearer realm=\"x\""]),
            max_size=3),
        body=st.binary(max_size=200) | _JSON.map(lambda value: json.dumps(value).encode()),
        content_length=st.sampled_from(["auto", "auto", None, "0", "999999999999"]),
    )  # fmt: skip


@generated(REGISTRY_CASES)
@given(challenge=_CHALLENGES, token=_answers(), manifest=_answers(), blob=_answers())
def test_generated_registry_answers_keep_the_promise(
    challenge, token, manifest, blob, registry, tmp_path_factory, monkeypatch
):
    monkeypatch.setattr(http, "BACKOFF_SECONDS", 0.0)
    monkeypatch.setattr(http, "MIN_DEADLINE_SECONDS", 5.0)
    monkeypatch.setattr(http, "TIMEOUT_SECONDS", 3.0)
    network.configure(network.NetworkSettings())
    layer = b"layer-bytes"
    registry.script = Script(
        challenge=challenge, token=token, manifest=manifest, blobs={digest(layer): blob}
    )
    registry.seen.clear()
    image = ImageReference.parse(f"http://{registry.host}/lambda/python:3.12")
    client = RegistryClient(image, lambda _host: SECRET)
    with contextlib.suppress(LambdaLayerError):
        platform_manifest(client, "3.12", "x86_64")
    with contextlib.suppress(LambdaLayerError):
        client.blob(digest(layer), tmp_path_factory.mktemp("blob") / "b", size=len(layer))
    leaked = [seen for seen in registry.seen if seen.server != "registry" and seen.authorization]
    assert leaked == [], leaked
    own = [seen for seen in registry.seen if seen.authorization == BASIC]
    assert all(seen.server == "registry" for seen in own)


# -- a model of the index a registry keeps under an image's referrers tag ---------------------

_JSON_LEAF = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
_JSON = st.recursive(
    _JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
_HELD = st.one_of(
    st.none(),
    st.binary(max_size=64),
    _JSON.map(lambda value: json.dumps(value).encode()),
    st.lists(_JSON, max_size=4).map(lambda items: json.dumps({"manifests": items}).encode()),
    st.integers(1, 5000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.integers(1, 5000).map(lambda depth: b'{"manifests":' + b"[" * depth + b"]" * depth + b"}"),
)


@generated(REGISTRY_CASES)
@given(held=_HELD)
def test_generated_referrers_tag_answers_keep_the_promise(held):
    """What a registry holds under ``sha256-<hex>`` is read as hostile: an error of the
    registry's (one line), or an index that lists the new descriptor exactly once."""
    descriptor = {"mediaType": "m", "digest": "sha256:" + "a" * 64, "size": 1, "artifactType": "t"}
    try:
        index = json.loads(_referrers_index(held, descriptor))
    except LambdaLayerError as error:
        assert "\n" not in error.message
        return
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert index["manifests"].count(descriptor) == 1
