"""Provenance of an artefact: an in-toto Statement v1 with a SLSA provenance v1 predicate.

The statement says what was built (the subject: the artefact's name and sha256), from what
(``resolvedDependencies``: the lock — its whole text, so a rebuild needs nothing else —,
each wheel by URL and sha256, and for a function the digest of its source tree), and how
(``externalParameters``: target, layout, bytecode, slimming, the handler;
``internalParameters``: the CPython X.Y.Z that compiled the bytecode; the builder:
lambdalayer and its version). It carries no time: the same build, the same bytes.

It is written unsigned, or in a DSSE envelope signed with an ed25519 key the user gives
(PEM, PKCS#8); :func:`read_provenance` takes either back, from any file, hostile or not:
every field is checked for its type, every read bounded, each failure one
:class:`ProvenanceError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdalayer import __version__
from lambdalayer.errors import ProvenanceError
from lambdalayer.fsutil import read_text_file
from lambdalayer.lock import LockedWheel, parse_pylock
from lambdalayer.net.http import redact

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "urn:lambdalayer:build:v1"  # what the parameters below mean (README: provenance)
PAYLOAD_TYPE = "application/vnd.in-toto+json"
MAX_PROVENANCE_BYTES = 16 * 1024 * 1024
LOCK_NAME = "pylock.toml"
SOURCE_NAME = "function source"


@dataclass(frozen=True)
class BuildRecord:
    """What a provenance statement records of one build (and what a rebuild needs)."""

    subject: str  # the artefact's file name
    sha256: str
    lock_text: str
    parameters: dict[str, Any]  # externalParameters (JSON data)
    python: str | None = None  # the CPython X.Y.Z that compiled the bytecode
    source_sha256: str | None = None  # a function's source tree
    wheels: tuple[LockedWheel, ...] = field(default=())
    builder: str = f"pkg:pypi/lambdalayer@{__version__}"


def statement(record: BuildRecord) -> dict[str, object]:
    """The in-toto Statement v1 (SLSA provenance v1) of ``record``, as JSON-ready data."""
    lock_bytes = record.lock_text.encode("utf-8")
    dependencies: list[dict[str, object]] = [
        {
            "name": LOCK_NAME,
            "digest": {"sha256": hashlib.sha256(lock_bytes).hexdigest()},
            "content": base64.b64encode(lock_bytes).decode(),
            "mediaType": "application/toml",
        }
    ]
    dependencies += [
        {"name": wheel.filename, "uri": redact(wheel.url), "digest": {"sha256": wheel.sha256}}
        for wheel in record.wheels
    ]
    if record.source_sha256:
        dependencies.append({"name": SOURCE_NAME, "digest": {"sha256": record.source_sha256}})
    internal = {"python": record.python} if record.python else {}
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": record.subject, "digest": {"sha256": record.sha256}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": record.parameters,
                "internalParameters": internal,
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {"id": record.builder, "version": {"lambdalayer": __version__}},
            },
        },
    }


# --- DSSE ------------------------------------------------------------------------------------


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is signed.

    >>> pae("t", b"ab")
    b'DSSEv1 1 t 2 ab'
    """
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _private_key(path: Path) -> Any:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415 - only when signing
        Ed25519PrivateKey,
    )
    from cryptography.hazmat.primitives.serialization import load_pem_private_key  # noqa: PLC0415

    text = read_text_file(path, "signing key", 64 * 1024)
    try:
        key = load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError) as error:
        raise ProvenanceError(
            f"signing key {path} is not an unencrypted PEM private key: {error}",
            hint="make one with: openssl genpkey -algorithm ed25519 -out key.pem",
        ) from error
    if not isinstance(key, Ed25519PrivateKey):
        raise ProvenanceError(f"signing key {path} is not an ed25519 key")
    return key


def public_key(path: Path) -> Any:
    """An ed25519 public key from a PEM file (a private key's file gives its public half)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: PLC0415
        Ed25519PublicKey,
    )
    from cryptography.hazmat.primitives.serialization import load_pem_public_key  # noqa: PLC0415

    text = read_text_file(path, "public key", 64 * 1024)
    if "PRIVATE KEY" in text:
        return _private_key(path).public_key()
    try:
        key = load_pem_public_key(text.encode())
    except (ValueError, TypeError) as error:
        raise ProvenanceError(f"public key {path} is not a PEM public key: {error}") from error
    if not isinstance(key, Ed25519PublicKey):
        raise ProvenanceError(f"public key {path} is not an ed25519 key")
    return key


def key_id(key: Any) -> str:
    """The sha256 of a public key's raw bytes: the ``keyid`` of its signatures."""
    from cryptography.hazmat.primitives.serialization import (  # noqa: PLC0415
        Encoding,
        PublicFormat,
    )

    return hashlib.sha256(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()


def render(record: BuildRecord, signing_key: Path | None = None) -> str:
    """The provenance file's text: the statement, or a DSSE envelope signed with ``signing_key``."""
    text = json.dumps(statement(record), indent=2, sort_keys=True) + "\n"
    if signing_key is None:
        return text
    key = _private_key(signing_key)
    payload = json.dumps(statement(record), sort_keys=True, separators=(",", ":")).encode()
    envelope = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [
            {
                "keyid": key_id(key.public_key()),
                "sig": base64.b64encode(key.sign(pae(PAYLOAD_TYPE, payload))).decode(),
            }
        ],
    }
    return json.dumps(envelope, indent=2) + "\n"


# --- reading one back -------------------------------------------------------------------------


@dataclass(frozen=True)
class Provenance:
    """A provenance file read back: the record, and its signatures (empty: unsigned)."""

    record: BuildRecord
    signatures: tuple[tuple[str, bytes], ...] = ()  # (keyid, signature)
    signed_payload: bytes = b""


def _get(table: object, key: str, kind: type, where: str) -> Any:
    if not isinstance(table, dict) or key not in table:
        raise ProvenanceError(f"{where}: no {key}")
    value = table[key]
    if not isinstance(value, kind):
        raise ProvenanceError(f"{where}: {key} is {type(value).__name__}, not {kind.__name__}")
    return value


def _b64(value: str, where: str) -> bytes:
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as error:
        raise ProvenanceError(f"{where}: not base64 ({error})") from error


def _sha256_field(entry: object, where: str) -> str:
    digest = _get(_get(entry, "digest", dict, where), "sha256", str, f"{where}.digest")
    if len(digest) != 64 or any(char not in "0123456789abcdef" for char in digest):
        raise ProvenanceError(f"{where}: digest.sha256 is not 64 hex digits ({digest!r:.70})")
    return str(digest)


def _record(document: object, where: str) -> BuildRecord:
    if _get(document, "_type", str, where) != STATEMENT_TYPE:
        raise ProvenanceError(f"{where}: not an in-toto Statement v1")
    if _get(document, "predicateType", str, where) != PREDICATE_TYPE:
        raise ProvenanceError(f"{where}: its predicate is not SLSA provenance v1")
    subjects = _get(document, "subject", list, where)
    if len(subjects) != 1:
        raise ProvenanceError(f"{where}: {len(subjects)} subjects; lambdalayer records one")
    subject = _get(subjects[0], "name", str, f"{where}.subject[0]")
    sha256 = _sha256_field(subjects[0], f"{where}.subject[0]")
    definition = _get(_get(document, "predicate", dict, where), "buildDefinition", dict, where)
    if _get(definition, "buildType", str, where) != BUILD_TYPE:
        raise ProvenanceError(f"{where}: buildType is not {BUILD_TYPE}: not a lambdalayer build")
    parameters = _get(definition, "externalParameters", dict, where)
    internal = definition.get("internalParameters", {})
    python = internal.get("python") if isinstance(internal, dict) else None
    lock_text, source = None, None
    for number, entry in enumerate(_get(definition, "resolvedDependencies", list, where)):
        place = f"{where}.resolvedDependencies[{number}]"
        name = _get(entry, "name", str, place)
        if name == LOCK_NAME:
            content = _b64(_get(entry, "content", str, place), f"{place}.content")
            if hashlib.sha256(content).hexdigest() != _sha256_field(entry, place):
                raise ProvenanceError(f"{place}: the lock's content does not match its digest")
            try:
                lock_text = content.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ProvenanceError(f"{place}: the lock is not UTF-8 text") from error
        elif name == SOURCE_NAME:
            source = _sha256_field(entry, place)
    if lock_text is None:
        raise ProvenanceError(f"{where}: no {LOCK_NAME} among its resolved dependencies")
    parse_pylock(lock_text, source=f"{where}: the recorded lock")  # an InputError if it is none
    return BuildRecord(
        subject, sha256, lock_text, parameters, python if isinstance(python, str) else None, source
    )


def read_provenance(path: Path) -> Provenance:
    """A provenance file (a statement, or a DSSE envelope of one), every field checked."""
    text = read_text_file(path, "provenance file", MAX_PROVENANCE_BYTES)
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise ProvenanceError(f"{path} is not JSON: {error}") from error
    if not isinstance(document, dict):
        raise ProvenanceError(f"{path}: not a JSON object")
    if "payloadType" not in document:
        return Provenance(_record(document, str(path)))
    if _get(document, "payloadType", str, str(path)) != PAYLOAD_TYPE:
        raise ProvenanceError(f"{path}: the envelope's payload is not an in-toto statement")
    payload = _b64(_get(document, "payload", str, str(path)), f"{path}: payload")
    signatures = []
    for number, entry in enumerate(_get(document, "signatures", list, str(path))):
        place = f"{path}: signatures[{number}]"
        keyid = entry.get("keyid", "") if isinstance(entry, dict) else ""
        signatures.append((str(keyid), _b64(_get(entry, "sig", str, place), f"{place}.sig")))
    try:
        inner = json.loads(payload)
    except (ValueError, RecursionError, UnicodeDecodeError) as error:
        raise ProvenanceError(f"{path}: the payload is not JSON: {error}") from error
    return Provenance(_record(inner, f"{path}: payload"), tuple(signatures), payload)


def signature_verified(provenance: Provenance, key_path: Path) -> bool:
    """Whether one of the envelope's signatures is ``key_path``'s over its payload."""
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415

    key = public_key(key_path)
    message = pae(PAYLOAD_TYPE, provenance.signed_payload)
    for _keyid, signature in provenance.signatures:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            continue
        return True
    return False


def tree_sha256(root: Path) -> str:
    """A digest of a source tree: every regular file's path (sorted) and content sha256."""
    digest = hashlib.sha256()
    files = sorted(
        (path for path in root.rglob("*") if path.is_file() and not path.is_symlink()),
        key=lambda path: path.relative_to(root).as_posix(),
    )
    for path in files:
        relative = path.relative_to(root).as_posix()
        content = hashlib.sha256(path.read_bytes()).hexdigest()
        digest.update(f"{relative}\0{content}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()
