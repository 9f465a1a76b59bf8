"""Issue 36: SBOMs of what ships — CycloneDX 1.6 and SPDX 2.3, each validated by its own
project's validator (cyclonedx-python-lib's JsonStrictValidator, spdx-tools' parser and
validator), byte-reproducible, with licences normalised from the data table."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from cliutil import run_cli
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from indexserver import LocalIndex
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from lambdalayer.cli.main import main
from lambdalayer.distinfo import LicenceFields
from lambdalayer.lock import read_pylock
from lambdalayer.supply.licences import Licence, LicenceSource, denied, licence_of, spdx_id

SITE_312 = "python/lib/python3.12/site-packages/"


def cyclonedx_errors(text: str) -> list[str]:
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    return [str(error) for error in errors or []]


def spdx_errors(path: Path) -> list[str]:
    return [
        message.validation_message for message in validate_full_spdx_document(parse_file(str(path)))
    ]


def build_layer(index: LocalIndex, cache_dir: Path, tmp_path: Path, *packages: str) -> Path:
    """``lambdalayer build PACKAGES`` for python3.12 into ``tmp_path`` (layer.zip, pylock.toml)."""
    out = tmp_path / "layer.zip"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(
            [
                "build",
                *packages,
                "--runtime",
                "python3.12",
                "--bytecode",
                "none",
                "--index-url",
                index.url,
                "--cache-dir",
                str(cache_dir),
                "-o",
                str(out),
                "--lock",
                str(tmp_path / "pylock.toml"),
            ]
        )
    assert code == 0, stderr.getvalue()
    return out


@pytest.fixture(scope="module")
def built(local_index, tmp_path_factory) -> Path:
    """A layer of licensed (and its dependencies classic, vendoring, gplpkg) with its lock."""
    where = tmp_path_factory.mktemp("shipped")
    return build_layer(local_index, where / "cache", where, "licensed")


@pytest.fixture
def shipped(built, tmp_path) -> Path:
    """The layer and its lock, copied into the test's own directory."""
    shutil.copy(built, tmp_path / "layer.zip")
    shutil.copy(built.with_name("pylock.toml"), tmp_path / "pylock.toml")
    return tmp_path / "layer.zip"


def test_cyclonedx_sbom_validates_and_lists_what_ships(shipped, tmp_path, capsys):
    out = tmp_path / "layer.cdx.json"
    code, printed, err = run_cli(
        capsys, "sbom", str(shipped), "--lock", str(tmp_path / "pylock.toml"), "-o", str(out)
    )
    assert code == 0, err
    text = out.read_text()
    assert cyclonedx_errors(text) == []
    assert "4 distributions, 1 vendored library, 10 provided beside it" in printed
    assert "licence of classic 1.0 not known (it declares: BSD)" in err
    bom = json.loads(text)
    assert bom["specVersion"] == "1.6"
    components = {c["bom-ref"]: c for c in bom["components"]}
    lock = {p.name: p.wheels[0] for p in read_pylock(tmp_path / "pylock.toml").packages}
    licensed = components["artefact:pkg:pypi/licensed@1.0"]
    assert licensed["purl"] == "pkg:pypi/licensed@1.0"
    assert licensed["licenses"] == [
        {"acknowledgement": "declared", "expression": "MIT OR Apache-2.0"}
    ]
    assert licensed["hashes"] == [{"alg": "SHA-256", "content": lock["licensed"].sha256}]
    assert licensed["externalReferences"][0]["url"] == lock["licensed"].url
    assert components["artefact:pkg:pypi/classic@1.0"]["licenses"] == [
        {"license": {"acknowledgement": "declared", "name": "BSD"}}
    ]
    gpl = components["artefact:pkg:pypi/gplpkg@1.0"]
    assert gpl["licenses"][0]["expression"] == "GPL-3.0-or-later"
    vendoring = components["artefact:pkg:pypi/vendoring@1.0"]
    assert vendoring["licenses"][0]["expression"] == "MIT"
    (library,) = vendoring["components"]  # the vendored library, nested in what bundles it
    with zipfile.ZipFile(shipped) as archive:
        member = f"{SITE_312}vendoring.libs/libvend-0a1b2c3d.so.1"
        assert library["hashes"][0]["content"] == hashlib.sha256(archive.read(member)).hexdigest()
    assert library["name"] == "libvend-0a1b2c3d.so.1"
    assert {"name": "lambdalayer:bundled-by", "value": "vendoring"} in library["properties"]
    runtime = components["provider:python3.12 runtime (/var/runtime)"]
    assert runtime["type"] == "platform"
    assert {c["name"]: c["version"] for c in runtime["components"]}["boto3"] == "1.40.4"
    assert bom["metadata"]["component"]["hashes"][0]["content"] == _sha256(shipped)
    assert bom["metadata"]["timestamp"] == "1980-01-01T00:00:00+00:00"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_spdx_sbom_validates_with_spdx_tools(shipped, tmp_path, capsys):
    out = tmp_path / "layer.spdx.json"
    code, _printed, err = run_cli(
        capsys,
        "sbom",
        str(shipped),
        "--format",
        "spdx",
        "--lock",
        str(tmp_path / "pylock.toml"),
        "--on-top-of",
        "aws-sdk-pandas==3.17.1",
        "-o",
        str(out),
    )
    assert code == 0, err
    assert spdx_errors(out) == []
    document = json.loads(out.read_text())
    packages = {p["SPDXID"]: p for p in document["packages"]}
    by_name = {p["name"]: p for p in document["packages"] if "Provided" not in p["SPDXID"]}
    assert by_name["licensed"]["licenseDeclared"] == "MIT OR Apache-2.0"
    # SPDX 2.3 takes no IP address as a download location: the URL is the source info.
    assert by_name["licensed"]["downloadLocation"] == "NOASSERTION"
    assert by_name["licensed"]["sourceInfo"].startswith("downloaded from http://127.0.0.1:")
    assert by_name["classic"]["licenseDeclared"] == "LicenseRef-lambdalayer-1"
    assert document["hasExtractedLicensingInfos"][0]["extractedText"] == "BSD"
    assert by_name["libvend-0a1b2c3d.so.1"]["packageFileName"].endswith(
        "vendoring.libs/libvend-0a1b2c3d.so.1"
    )
    relations = {
        (r["spdxElementId"], r["relationshipType"], r["relatedSpdxElement"])
        for r in document["relationships"]
    }
    vendoring = by_name["vendoring"]["SPDXID"]
    assert (vendoring, "CONTAINS", by_name["libvend-0a1b2c3d.so.1"]["SPDXID"]) in relations
    provided = [p for p in packages.values() if "Provided" in p["SPDXID"]]
    comments = {p["name"]: p["comment"] for p in provided}
    assert "aws-sdk-pandas 3.17.1" in comments["awswrangler"]  # the managed layer beneath
    assert "python3.12 runtime" in comments["awslambdaric"]  # the runtime's own
    assert all(
        (p["SPDXID"], "PROVIDED_DEPENDENCY_OF", "SPDXRef-Artefact") in relations for p in provided
    )
    assert document["creationInfo"]["created"] == "1980-01-01T00:00:00Z"


def test_sboms_are_byte_reproducible_and_ignore_the_clock(shipped, tmp_path, capsys, monkeypatch):
    lock = str(tmp_path / "pylock.toml")
    outputs = {}
    for run, epoch in (("first", None), ("second", "1700000000")):
        if epoch:
            monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
        for fmt in ("cyclonedx", "spdx"):
            out = tmp_path / f"{run}.{fmt}.json"
            assert (
                run_cli(
                    capsys, "sbom", str(shipped), "--format", fmt, "--lock", lock, "-o", str(out)
                )[0]
                == 0
            )
            outputs[run, fmt] = out.read_bytes()
    assert outputs["first", "cyclonedx"] == outputs["second", "cyclonedx"]
    assert outputs["first", "spdx"] == outputs["second", "spdx"]
    # Without the lock the document says less, and its serial number is another.
    code, text, _ = run_cli(capsys, "sbom", str(shipped))
    assert code == 0
    with_lock = json.loads(outputs["first", "cyclonedx"])
    assert json.loads(text)["serialNumber"] != with_lock["serialNumber"]


def test_a_lock_of_another_zip_is_refused(local_index, cache_dir, tmp_path, capsys):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    layer = build_layer(local_index, cache_dir, old, "oldsecure==1.0")
    build_layer(local_index, cache_dir, new, "oldsecure==2.0")
    code, _out, err = run_cli(capsys, "sbom", str(layer), "--lock", str(new / "pylock.toml"))
    assert code == 1
    assert "the lock does not describe layer.zip: oldsecure 1.0 in the zip, 2.0 in the lock" in err


@pytest.mark.parametrize(
    ("fields", "spdx", "source"),
    [
        (LicenceFields(expression="mit or apache-2.0"), "MIT OR Apache-2.0", "License-Expression"),
        (
            LicenceFields(expression="Apache 2"),
            None,
            "License-Expression",
        ),  # not valid: not guessed
        (LicenceFields(text="Apache License, Version 2.0"), "Apache-2.0", "License"),
        (LicenceFields(text="BSD-3-Clause"), "BSD-3-Clause", "License"),
        (LicenceFields(text="LicenseRef-Acme AND MIT"), "LicenseRef-Acme AND MIT", "License"),
        (LicenceFields(text="BSD"), None, "License"),
        (
            LicenceFields(
                text="Copyright (c) 2024 Someone\n\nPermission is hereby granted, free of charge",
                classifiers=("License :: OSI Approved :: MIT License",),
            ),
            "MIT",
            "classifiers",
        ),
        (
            LicenceFields(classifiers=("License :: OSI Approved :: BSD License",)),
            None,
            "classifiers",
        ),
        (
            LicenceFields(
                classifiers=(
                    "License :: OSI Approved :: MIT License",
                    "License :: OSI Approved :: Apache Software License",
                )
            ),
            None,
            "classifiers",
        ),
        (LicenceFields(), None, "nothing declared"),
    ],
)
def test_licences_are_normalised_only_where_unambiguous(fields, spdx, source):
    licence = licence_of(fields)
    assert (licence.spdx, licence.source.value) == (spdx, source)


def test_the_deny_policy_respects_choices_and_exceptions():
    def licence(expression: str) -> Licence:
        return Licence(expression, expression, LicenceSource.EXPRESSION)

    assert denied(licence("GPL-3.0-only"), ["gpl-3.0-only"])
    assert not denied(licence("GPL-3.0-only OR MIT"), ["GPL-3.0-only"])  # MIT may be chosen
    assert denied(licence("MIT AND GPL-3.0-only"), ["GPL-3.0-only"])
    assert denied(licence("GPL-2.0-only WITH Classpath-exception-2.0"), ["GPL-2.0-only"])
    assert not denied(Licence(None, "GPL", LicenceSource.FIELD), ["GPL-3.0-only"])  # not known
    assert spdx_id("agpl-3.0-or-later", "--deny-licence") == "AGPL-3.0-or-later"
    with pytest.raises(Exception, match="is not one SPDX licence id"):
        spdx_id("GPL", "--deny-licence")


def test_a_run_of_several_zips_writes_one_sbom_provenance_and_audit_per_zip(
    local_index, tmp_path, capsys
):
    """--sbom, --provenance and --audit were refused for several targets (a matrix)."""
    dist = tmp_path / "dist"
    common = ["--bytecode", "none", "--index-url", local_index.url]
    common += ["--cache-dir", str(tmp_path / "cache"), "--output-dir", str(dist)]
    code, out, err = run_cli(
        capsys, "build", "licensed", "--runtime", "python3.11", "--runtime", "python3.12",
        *common, "--sbom", str(dist), "--sbom-format", "spdx", "--provenance", "--audit",
    )  # fmt: skip
    assert code == 0, err
    zips = sorted(dist.glob("*.zip"))
    assert [path.name for path in zips] == [
        "layer-python3.11-x86_64.zip",
        "layer-python3.12-x86_64.zip",
    ]
    for zipped in zips:
        sbom = dist / f"{zipped.stem}.spdx.json"
        assert f"sbom: {sbom}" in err and f"provenance: {zipped}.intoto.json" in err
        assert spdx_errors(sbom) == []
        assert zipped.name in sbom.read_text()
        assert f"audit of {zipped.name} (" in out
    assert out.count("audit ok: 4 verified") == 2, out
    # the same run, asked for JSON: each row names its SBOM, provenance and audit
    code, out, err = run_cli(
        capsys, "build", "licensed", "--runtime", "python3.11", "--runtime", "python3.12",
        *common, "--sbom", str(dist), "--audit", "--json",
    )  # fmt: skip
    assert code == 0, err
    rows = json.loads(out)["builds"]
    assert [row["sbom"] for row in rows] == [str(dist / f"{z.stem}.cdx.json") for z in zips]
    assert [row["audit"]["verdict"] for row in rows] == ["passed", "passed"]
    assert cyclonedx_errors(Path(rows[0]["sbom"]).read_text()) == []


def test_a_run_of_several_zips_takes_a_directory_for_its_sboms(local_index, tmp_path, capsys):
    named = tmp_path / "layer.cdx.json"
    named.write_text("the previous SBOM")
    args = ["build", "licensed", "--runtime", "python3.11", "--runtime", "python3.12"]
    args += ["--index-url", local_index.url, "--cache-dir", str(tmp_path / "cache")]
    args += ["--output-dir", str(tmp_path / "dist")]
    code, _, err = run_cli(capsys, *args, "--sbom", str(named))
    assert code == 1
    assert err.splitlines() == [
        f"error: --sbom {named} is a file, but this run builds 2 zips: one SBOM each",
        "hint: give --sbom a directory (each zip's SBOM is named as the zip,"
        " NAME-TARGET.cdx.json), e.g. --sbom dist",
    ]
    assert named.read_text() == "the previous SBOM"
    assert not (tmp_path / "dist").exists()
    os.mkfifo(tmp_path / "layer-python3.12-x86_64.cdx.json")  # where an SBOM would go
    code, _, err = run_cli(capsys, *args, "--sbom", str(tmp_path))
    assert code == 1 and "exists and is not a regular file" in err, err
    assert not (tmp_path / "dist").exists()


def test_a_failed_audit_of_several_zips_is_one_error_naming_each(local_index, tmp_path, capsys):
    code, out, err = run_cli(
        capsys, "build", "oldsecure==1.0", "--runtime", "python3.11", "--runtime", "python3.12",
        "--bytecode", "none", "--index-url", local_index.url, "--cache-dir", str(tmp_path / "c"),
        "--output-dir", str(tmp_path / "dist"), "--audit",
    )  # fmt: skip
    assert code == 1
    assert out.count("VULNERABLE    oldsecure 1.0: PYSEC-2026-4242") == 2
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        "error: what ships breaks the policy (fail-on any) in 2 of 2 zips:"
        " layer-python3.11-x86_64.zip: oldsecure 1.0: PYSEC-2026-4242;"
        " layer-python3.12-x86_64.zip: oldsecure 1.0: PYSEC-2026-4242"
    ]
    assert sorted(path.name for path in (tmp_path / "dist").glob("*.zip")) == [
        "layer-python3.11-x86_64.zip",
        "layer-python3.12-x86_64.zip",
    ]  # built, as a single build's zip stays when its audit fails
