"""Issue 36: provenance (in-toto Statement v1, SLSA provenance v1) written by ``build
--provenance``, signed in a DSSE envelope with an ed25519 key, and ``verify``: the subject's
sha256, the signature, and a rebuild from the recorded lock that gives the same bytes.
Also ``build --sbom --audit`` and hostile provenance files (generated, derandomized)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
from pathlib import Path

import pytest
from cliutil import run_cli
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from hostilecases import generated
from hypothesis import given
from hypothesis import strategies as st
from test_hostile import hostile, sandbox_home  # noqa: F401 - a fixture
from test_sbom import cyclonedx_errors

from lambdalayer.cli.main import main
from lambdalayer.errors import InputError, ProvenanceError
from lambdalayer.supply.provenance import read_provenance


def _keys(directory: Path) -> tuple[Path, Path]:
    key = Ed25519PrivateKey.generate()
    private = directory / "key.pem"
    private.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    public = directory / "key.pub.pem"
    public.write_bytes(
        key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    return private, public


def _build(capsys, index, where: Path, *extra: str) -> tuple[int, str, str]:
    return run_cli(
        capsys,
        "build",
        "oldsecure==2.0",
        "licensed",
        "--runtime",
        "python3.12",
        "--index-url",
        index.url,
        "--cache-dir",
        str(where / "cache"),
        "-o",
        str(where / "layer.zip"),
        *extra,
    )


@pytest.fixture(scope="module")
def signed(local_index, tmp_path_factory) -> Path:
    """A layer built with --provenance signed by a key of its own, its SBOM and audit."""
    where = tmp_path_factory.mktemp("signed")
    private, _public = _keys(where)
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()) as err,
    ):
        code = main(
            [
                "build",
                "oldsecure==2.0",
                "--runtime",
                "python3.12",
                "--index-url",
                local_index.url,
                "--cache-dir",
                str(where / "cache"),
                "-o",
                str(where / "layer.zip"),
                "--provenance",
                "--signing-key",
                str(private),
            ]
        )
    assert code == 0, err.getvalue()
    return where / "layer.zip"


def test_build_writes_sbom_provenance_and_audits_and_verify_rebuilds(local_index, tmp_path, capsys):
    code, out, err = _build(
        capsys,
        local_index,
        tmp_path,
        "--sbom",
        str(tmp_path / "layer.cdx.json"),
        "--audit",
        "--provenance",
    )
    assert code == 0, err
    assert f"sbom: {tmp_path / 'layer.cdx.json'}" in err
    assert f"provenance: {tmp_path / 'layer.zip.intoto.json'}" in err
    assert "audit ok: 5 verified, no known vulnerabilities; no licence denied" in out
    assert cyclonedx_errors((tmp_path / "layer.cdx.json").read_text()) == []
    statement = json.loads((tmp_path / "layer.zip.intoto.json").read_text())
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    definition = statement["predicate"]["buildDefinition"]
    assert definition["externalParameters"]["runtime"] == "python3.12"
    assert definition["internalParameters"]["python"].startswith("3.12.")
    names = [entry["name"] for entry in definition["resolvedDependencies"]]
    assert names[0] == "pylock.toml" and "oldsecure-2.0-py3-none-any.whl" in names
    code, out, err = run_cli(
        capsys,
        "verify",
        str(tmp_path / "layer.zip"),
        "--cache-dir",
        str(tmp_path / "cache2"),  # an empty cache: the wheels are fetched again
    )
    assert code == 0, err
    sha256 = statement["subject"][0]["digest"]["sha256"]
    assert out.splitlines() == [
        f"subject: layer.zip sha256 {sha256} (unsigned)",
        f"rebuilt from the recorded lock: sha256 {sha256} (the same bytes)",
        "verify ok",
    ]


def test_an_audit_that_fails_the_build_says_so(local_index, tmp_path, capsys):
    code, out, err = run_cli(
        capsys,
        "build",
        "oldsecure==1.0",
        "--runtime",
        "python3.12",
        "--bytecode",
        "none",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(tmp_path / "cache"),
        "-o",
        str(tmp_path / "layer.zip"),
        "--audit",
    )
    assert code == 1
    assert "VULNERABLE    oldsecure 1.0: PYSEC-2026-4242" in out
    assert (
        "error: what ships breaks the policy (fail-on any): oldsecure 1.0: PYSEC-2026-4242" in err
    )


def test_a_signed_provenance_verifies_with_its_key_and_no_other(signed, tmp_path, capsys):
    provenance = signed.with_name("layer.zip.intoto.json")
    envelope = json.loads(provenance.read_text())
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    _private, public = _keys(tmp_path)  # another key
    mine = signed.with_name("key.pem")
    code, out, err = run_cli(capsys, "verify", str(signed), "--public-key", str(mine))
    assert code == 0, err
    assert "(signature checked)" in out and out.splitlines()[-1] == "verify ok"
    code, _, err = run_cli(capsys, "verify", str(signed), "--public-key", str(public))
    assert code == 1
    assert "the provenance's signature is not the given key's" in err
    code, out, err = run_cli(capsys, "verify", str(signed))
    assert code == 0
    assert "give --public-key to check the signature" in err
    assert "signed, signature NOT checked" in out and "verify ok" not in out
    # A payload changed after signing: the signature no longer holds.
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["buildDefinition"]["externalParameters"]["layout"] = "python"
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(envelope))
    code, _, err = run_cli(
        capsys, "verify", str(signed), "--provenance", str(tampered), "--public-key", str(mine)
    )
    assert code == 1 and "signature is not the given key's" in err


def test_a_changed_artefact_or_other_options_do_not_verify(signed, tmp_path, capsys):
    provenance = signed.with_name("layer.zip.intoto.json")
    other = tmp_path / "layer.zip"
    other.write_bytes(signed.read_bytes() + b"\0")
    code, _, err = run_cli(capsys, "verify", str(other), "--provenance", str(provenance))
    assert code == 1 and "is not what layer.zip.intoto.json describes" in err
    # An unsigned statement whose options are not the build's: the rebuild differs.
    statement = json.loads(base64.b64decode(json.loads(provenance.read_text())["payload"]))
    statement["predicate"]["buildDefinition"]["externalParameters"]["layout"] = "python"
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(statement))
    code, _, err = run_cli(
        capsys,
        "verify",
        str(signed),
        "--provenance",
        str(changed),
        "--cache-dir",
        str(signed.parent / "cache"),
    )
    assert code == 1
    assert "a rebuild from the recorded lock gave other bytes" in err


# Hostile provenance files ---------------------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=25,
)
_PATHS = [
    ("_type",),
    ("subject",),
    ("predicateType",),
    ("predicate", "buildDefinition"),
    ("predicate", "buildDefinition", "buildType"),
    ("predicate", "buildDefinition", "externalParameters"),
    ("predicate", "buildDefinition", "resolvedDependencies"),
    ("predicate", "buildDefinition", "internalParameters"),
]


@generated(150)
@given(
    choice=st.integers(0, len(_PATHS) - 1),
    value=_JSON,
    lock=st.none() | st.binary(max_size=300),
    envelope=st.booleans(),
)
def test_a_hostile_provenance_is_one_error(signed, tmp_path_factory, choice, value, lock, envelope):
    good = json.loads(
        base64.b64decode(
            json.loads(signed.with_name("layer.zip.intoto.json").read_text())["payload"]
        )
    )
    place = good
    *parents, last = _PATHS[choice]
    for key in parents:
        place = place[key]
    place[last] = value
    definition = (
        good["predicate"].get("buildDefinition") if isinstance(good["predicate"], dict) else None
    )
    entries = definition.get("resolvedDependencies") if isinstance(definition, dict) else None
    if lock is not None and isinstance(entries, list) and entries and isinstance(entries[0], dict):
        entries[0]["content"] = base64.b64encode(lock).decode()
    text = json.dumps(good)
    if envelope:
        text = json.dumps(
            {
                "payloadType": "application/vnd.in-toto+json",
                "payload": base64.b64encode(text.encode()).decode(),
                "signatures": [{"sig": "!!"}],
            }
        )
    path = tmp_path_factory.mktemp("hostile") / "p.json"
    path.write_text(text)
    try:
        read_provenance(path)
    except (ProvenanceError, InputError) as error:
        assert error.message


@pytest.mark.usefixtures("sandbox_home")
@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfe not json", "not UTF-8 text"),
        (b"[" * 200_000 + b"]" * 200_000, "is not JSON"),
        (
            b'{"payloadType": "application/vnd.in-toto+json", "payload": "%%%", "signatures": []}',
            "payload: not base64",
        ),
        (b'{"_type": "https://in-toto.io/Statement/v1", "subject": []}', "no predicateType"),
        (b" " * (17 * 1024 * 1024), "is over 16,777,216 bytes"),
    ],
)
def test_a_hostile_provenance_file_is_one_error_line(signed, tmp_path, capsys, content, expected):
    path = tmp_path / "p.json"
    path.write_bytes(content)
    line = hostile(capsys, tmp_path, "verify", str(signed), "--provenance", str(path))
    assert expected in line
