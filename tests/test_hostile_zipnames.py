"""Zip member names from a model of what a zip can hold: ``check`` and ``report`` never crash.

A zip is written byte by byte here (local headers, central directory, end record), so its
names can be anything a hostile tool writes: empty, not UTF-8 (with or without the UTF-8
flag), absolute, climbing with ``..``, holding control characters or a NUL, overlong, given
twice, a file where a directory must be. Each case runs ``check`` and ``report`` in one child
process and asserts the promise: no traceback, exit 0 or 1 with at most one ``error:`` line,
a failed check whenever a name is unsafe, nothing written outside the cache, peak RSS under
300 MiB.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from hostilecases import assert_promise, case_environment, generated, run_case, snapshot
from hypothesis import given
from hypothesis import strategies as st

from lambdalayer.zipnames import unsafe_reason

pytestmark = pytest.mark.hostile
UTF8_FLAG = 0x800
SITE = b"python/lib/python3.12/site-packages/"


def write_zip(path: Path, members: list[tuple[bytes, int, bytes]]) -> None:
    """A stored zip of ``(raw name, flag bits, data)`` members, names written as they are."""
    local, central = bytearray(), bytearray()
    for name, flags, data in members:
        crc = zlib.crc32(data)
        offset = len(local)
        header = struct.pack(
            "<4s5H3L2H", b"PK\x03\x04", 20, flags, 0, 0, 33, crc, len(data), len(data), len(name), 0
        )
        local += header + name + data
        mode = (0o40755 if name.endswith(b"/") else 0o100644) << 16
        central += struct.pack(
            "<4s6H3L5H2L",
            b"PK\x01\x02",
            0x0314,
            20,
            flags,
            0,
            0,
            33,
            crc,
            len(data),
            len(data),
            len(name),
            0,
            0,
            0,
            0,
            mode,
            offset,
        )
        central += name
    end = struct.pack(
        "<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(local), 0
    )
    path.write_bytes(bytes(local) + bytes(central) + end)


PLAIN = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
HOSTILE_NAMES = st.one_of(
    st.just(b""),
    st.just(b"/"),
    st.just(b"."),
    PLAIN.map(lambda name: SITE + name.encode() + b".py"),
    PLAIN.map(lambda name: SITE + name.encode() + b"/"),
    PLAIN.map(lambda name: b"../" * 3 + name.encode()),
    PLAIN.map(lambda name: b"/etc/" + name.encode()),
    PLAIN.map(lambda name: SITE + b"..\\" + name.encode()),
    PLAIN.map(lambda name: b"C:" + name.encode()),
    PLAIN.map(lambda name: SITE + name.encode() + b"\x00.py"),
    PLAIN.map(lambda name: SITE + b"\x1b[2J" + name.encode() + b".py"),
    PLAIN.map(lambda name: SITE + name.encode() * 40 + b".py"),
    st.binary(min_size=1, max_size=24),
    st.binary(min_size=1, max_size=8).map(lambda raw: SITE + b"\xff" + raw + b".py"),
)
MEMBER = st.tuples(HOSTILE_NAMES, st.sampled_from([0, UTF8_FLAG]), st.binary(max_size=64))


def _unsafe(name: bytes, flags: int) -> bool:
    """Whether the model says the check must fail for this name (as zipfile would read it)."""
    try:
        text = name.decode("utf-8") if flags & UTF8_FLAG else name.decode("cp437")
    except UnicodeDecodeError:
        return True  # unreadable: the zip is refused
    return unsafe_reason(text) is not None  # an empty name among them


@generated(25)
@given(
    members=st.lists(MEMBER, min_size=1, max_size=6),
    twice=st.booleans(),
    imports=st.sampled_from([False] * 5 + [True]),
)
def test_any_member_name_is_a_finding_or_one_error_never_a_crash(
    tmp_path_factory, members, twice, imports
):
    place = tmp_path_factory.mktemp("zipnames")
    if twice:
        members = [*members, members[0]]
    layer = place / "layer.zip"
    write_zip(layer, members)
    environment = case_environment(place)
    before = snapshot(place, skip=(place / "cache",))
    check = ["check", str(layer), "--runtime", "python3.12", "--cache-dir", str(place / "cache")]
    case = run_case(
        [
            check if imports else [*check, "--no-imports"],
            ["report", str(layer), "--runtime", "python3.12", "-o", str(place / "report.html")],
        ],
        environment,
        place,
    )
    assert_promise(case)
    checked, _reported = case.outcomes
    if any(_unsafe(name, flags) for name, flags, _data in members) or twice:
        assert checked.code == 1, checked.err + checked.out
    after = snapshot(place, skip=(place / "cache", place / "report.html"))
    assert after == before
