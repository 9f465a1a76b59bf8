"""Issue 36's input surfaces, made hostile: dist-info METADATA (huge, malformed, odd licences).

Generated with hypothesis, derandomized (the same cases on every run: tests/hostilecases.py).
Each generated zip either gives SBOMs that both projects' validators accept, or one :class:`InputError` — at the
command line one ``error:`` line, no traceback, nothing written outside the output.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from hostilecases import generated
from hypothesis import given
from hypothesis import strategies as st
from spdx_tools.spdx.parser.json.json_parser import parse_from_file as parse_spdx_json
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
from test_hostile import MIB, _bomb, hostile, run_capped, sandbox_home  # noqa: F401 - fixture

from lambdalayer.errors import InputError
from lambdalayer.supply.inventory import inventory_of_zip
from lambdalayer.supply.sbom import SbomFormat, render

SITE = "python/lib/python3.12/site-packages/"
CYCLONEDX = JsonStrictValidator(SchemaVersion.V1_6)


def _layer(path: Path, metadata: bytes, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{SITE}odd-1.0.dist-info/METADATA", metadata)
        archive.writestr(f"{SITE}odd-1.0.dist-info/RECORD", b"odd/__init__.py,,\n")
        archive.writestr(f"{SITE}odd/__init__.py", b"")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


def _both_validate(path: Path, tmp: Path) -> None:
    inventory = inventory_of_zip(path, target="python3.12-x86_64")
    cdx = render(inventory, SbomFormat.CYCLONEDX)
    assert CYCLONEDX.validate_str(cdx) is None
    spdx = tmp / "doc.spdx.json"
    spdx.write_text(render(inventory, SbomFormat.SPDX))
    messages = validate_full_spdx_document(parse_spdx_json(str(spdx)))
    assert [message.validation_message for message in messages] == []
    assert json.loads(cdx)["components"]  # the distribution is there


_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=300
)
_LICENCE_LIKE = st.one_of(
    _TEXT,
    st.sampled_from(
        [
            "MIT",
            "mit OR (Apache-2.0 AND",
            "GPL-2.0+ WITH Nonsense-exception",
            "LicenseRef-Ünïcödé",
            "LicenseRef-ok AND DocumentRef-x:LicenseRef-y",
            "((((((((((MIT))))))))))",
            "MIT " * 200,
            "BSD\r\nLicense: MIT",
            "\x00\x1b[2J",
        ]
    ),
)


@generated(150)
@given(
    expression=st.none() | _LICENCE_LIKE,
    field=st.none() | _LICENCE_LIKE,
    classifiers=st.lists(
        st.one_of(
            st.sampled_from(
                [
                    "License :: OSI Approved :: MIT License",
                    "License :: OSI Approved :: BSD License",
                    "License :: Other/Proprietary License",
                ]
            ),
            _TEXT.map(lambda text: f"License :: {text}"),
        ),
        max_size=4,
    ),
)
def test_odd_licences_still_give_valid_sboms(tmp_path_factory, expression, field, classifiers):
    lines = ["Metadata-Version: 2.4", "Name: odd", "Version: 1.0"]

    def header(name: str, value: str) -> str:
        # a header's value continues on the next line only after whitespace (RFC 822)
        return f"{name}: " + "\n ".join(value.splitlines() or [""])

    if expression is not None:
        lines.append(header("License-Expression", expression))
    if field is not None:
        lines.append(header("License", field))
    lines += [header("Classifier", line) for line in classifiers]
    where = tmp_path_factory.mktemp("odd")
    path = _layer(where / "layer.zip", ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))
    _both_validate(path, where)


@generated(150)
@given(metadata=st.binary(max_size=2000) | _TEXT.map(lambda text: text.encode()))
def test_malformed_metadata_gives_a_valid_sbom_or_one_input_error(tmp_path_factory, metadata):
    where = tmp_path_factory.mktemp("malformed")
    path = _layer(where / "layer.zip", metadata)
    try:
        _both_validate(path, where)
    except InputError as error:
        assert "has no Name and Version" in error.message


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (b"\xff\xfe\x00garbage", "has no Name and Version"),
        (b"Version: 1.0\n", "has no Name and Version"),
        (b"Name: odd\nVersion: 1.0\n" + b"Summary: " + b"x" * (5 * MIB), "over the 4,194,304"),
    ],
)
@pytest.mark.usefixtures("sandbox_home")
def test_an_unusable_metadata_is_one_error_line(tmp_path, capsys, metadata, expected):
    path = _layer(tmp_path / "layer.zip", metadata)
    line = hostile(capsys, tmp_path, "sbom", str(path), "-o", str(tmp_path / "out.json"))
    assert expected in line
    assert not (tmp_path / "out.json").exists()


def test_a_metadata_bomb_is_refused_with_bounded_memory(tmp_path):
    layer = _bomb(
        tmp_path / "bomb.zip",
        f"{SITE}mod-1.0.dist-info/METADATA",
        1024 * MIB,
        b"Metadata-Version: 2.1\nName: mod\nVersion: 1\nLicense: ",
    )
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    code, err, peak = run_capped(["sbom", str(layer), "--runtime", "python3.12"], scratch)
    assert code == 1
    assert "Traceback" not in err, err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: bomb.zip: {SITE}mod-1.0.dist-info/METADATA is 1,073,741,824 bytes,"
        " over the 4,194,304 such a file may be"
    ]
    assert peak < 400 * MIB, f"peak RSS {peak / MIB:.0f} MiB"


@pytest.mark.usefixtures("sandbox_home")
def test_a_vendored_library_that_lies_about_its_size_is_one_error(tmp_path, capsys):
    path = _layer(
        tmp_path / "layer.zip",
        b"Name: odd\nVersion: 1.0\n",
        {f"{SITE}odd.libs/libx-12345678.so": b"\x7fELF" + bytes(4096)},
    )
    data = bytearray(path.read_bytes())
    # Both headers (local and central) of the library say 100 bytes; it inflates to 4100.
    member = f"{SITE}odd.libs/libx-12345678.so".encode()
    for start in [i for i in range(len(data)) if data.startswith(member, i)]:
        header = start - (30 if data[start - 30 : start - 26] == b"PK\x03\x04" else 46)
        offset = 22 if data[header : header + 4] == b"PK\x03\x04" else 24
        data[header + offset : header + offset + 4] = (100).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    line = hostile(capsys, tmp_path, "sbom", str(path))
    assert "odd.libs/libx-12345678.so" in line
