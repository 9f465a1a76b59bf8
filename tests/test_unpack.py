"""The one safe unpacker (lambdalayer.unpack): real tar and zip files built here, hostile in
one way each, and what must hold — nothing outside the root created, linked or changed.

The image tests go through ``unpacked_image`` (what ``image pull``, ``check --image pull``
and ``image build``'s base use) so that they say what a user's command does.
"""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path

import pytest
from archives import (
    Member,
    lying_tar,
    snapshot,
    symlink_mode,
    tar_bytes,
    unpack_image,
    zip_bytes,
)

from lambdalayer.errors import LambdaLayerError


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside every root, that no archive may touch."""
    victim = tmp_path / "host" / "secret.txt"
    victim.parent.mkdir()
    victim.write_text("host file")
    victim.chmod(0o600)
    os.utime(victim, (1_500_000_000, 1_500_000_000))
    return victim


def _unchanged(outside: Path, before: dict[str, tuple[int, int, int, int, int, str]]) -> None:
    assert snapshot(outside.parent) == before
    assert outside.stat().st_nlink == 1  # linked from nowhere (a rootfs in the cache)


# -- the critical class: a hard link to a file outside the root ---------------------------------


@pytest.mark.parametrize("how", ["absolute", "climbing", "through-symlink", "through-earlier-link"])
def test_a_hard_link_to_a_host_file_is_refused_and_the_file_untouched(tmp_path, outside, how):
    before = snapshot(outside.parent)
    members = {
        "absolute": [
            Member("etc/passwd", tarfile.LNKTYPE, link=str(outside), mode=0o777, uid=4242)
        ],
        "climbing": [
            Member("etc/", tarfile.DIRTYPE, mode=0o755),
            Member("etc/passwd", tarfile.LNKTYPE, link="../" * 12 + str(outside).lstrip("/")),
        ],
        "through-symlink": [
            Member("up", tarfile.SYMTYPE, link=str(outside.parent)),
            Member("stolen", tarfile.LNKTYPE, link="up/secret.txt", mode=0o777),
        ],
        "through-earlier-link": [
            Member("up", tarfile.SYMTYPE, link="/" + "../" * 12 + str(outside.parent).lstrip("/")),
        ],
    }[how]
    layers = [tar_bytes(members)]
    if how == "through-earlier-link":
        layers.append(tar_bytes([Member("stolen", tarfile.LNKTYPE, link="up/secret.txt")]))
    with pytest.raises(LambdaLayerError):
        unpack_image(layers, tmp_path / "cache")
    _unchanged(outside, before)


def test_owners_are_never_applied_and_modes_only_to_new_files(tmp_path):
    layer = tar_bytes(
        [
            Member("bin/", tarfile.DIRTYPE, mode=0o755, uid=4242),
            Member("bin/tool", data=b"#!/bin/sh\n", mode=0o4755, uid=4242),
            Member("bin/same", tarfile.LNKTYPE, link="bin/tool", mode=0o777, uid=999),
        ]
    )
    root = unpack_image([layer], tmp_path / "cache")
    tool = (root / "bin/tool").stat()
    assert tool.st_uid == os.getuid()
    assert stat.S_IMODE(tool.st_mode) == 0o755  # no setuid bit
    assert (root / "bin/same").stat().st_ino == tool.st_ino  # an in-root hard link works


def test_a_layer_cannot_write_through_a_link_an_earlier_layer_left(tmp_path, outside):
    before = snapshot(outside.parent)
    first = tar_bytes(
        [
            Member("etc/", tarfile.DIRTYPE),
            Member("etc/conf", tarfile.SYMTYPE, link=str(outside)),
            Member("lib", tarfile.SYMTYPE, link=str(outside.parent)),
        ]
    )
    second = tar_bytes(
        [
            Member("etc/conf", data=b"overwritten", mode=0o777),
            Member("lib/", tarfile.DIRTYPE, mode=0o777),
            Member("lib/new.txt", data=b"planted"),
        ]
    )
    root = unpack_image([first, second], tmp_path / "cache")
    _unchanged(outside, before)
    assert (root / "etc/conf").read_bytes() == b"overwritten"
    assert not (root / "etc/conf").is_symlink()
    assert (root / "lib/new.txt").read_bytes() == b"planted"


def test_links_resolve_against_the_root_like_a_container_runtime(tmp_path, outside):
    """``usr/lib64 -> /lib64`` (absolute) and ``../../../../x`` stay in the image."""
    before = snapshot(outside.parent)
    layer = tar_bytes(
        [
            Member("lib64/", tarfile.DIRTYPE),
            Member("usr/", tarfile.DIRTYPE),
            Member("usr/lib64", tarfile.SYMTYPE, link="/lib64"),
            Member("usr/lib64/libz.so.1", data=b"\x7fELF"),
            Member("deep", tarfile.SYMTYPE, link="../../../../" + str(outside.parent).lstrip("/")),
            Member("deep/planted.txt", data=b"in the image"),
        ]
    )
    root = unpack_image([layer], tmp_path / "cache")
    assert (root / "lib64/libz.so.1").read_bytes() == b"\x7fELF"
    assert (
        root / "usr/lib64"
    ).readlink().as_posix() == "/lib64"  # kept as written, for the sandbox
    inside = root / str(outside.parent).lstrip("/") / "planted.txt"
    assert inside.read_bytes() == b"in the image"
    _unchanged(outside, before)


def test_devices_and_fifos_are_never_created(tmp_path):
    layer = tar_bytes(
        [
            Member("dev/", tarfile.DIRTYPE),
            Member("dev/sda", tarfile.BLKTYPE),
            Member("dev/null", tarfile.CHRTYPE),
            Member("pipe", tarfile.FIFOTYPE),
            Member("ok.txt", data=b"ok"),
        ]
    )
    root = unpack_image([layer], tmp_path / "cache")
    assert sorted(path.name for path in root.rglob("*")) == ["dev", "ok.txt"]


def test_whiteouts_hide_what_lower_layers_left_not_this_layers_own(tmp_path, outside):
    before = snapshot(outside.parent)
    lower = tar_bytes(
        [
            Member("a/", tarfile.DIRTYPE),
            Member("a/old.txt", data=b"old"),
            Member("a/keep/", tarfile.DIRTYPE),
            Member("b.txt", data=b"b"),
            Member("c.txt", data=b"c"),
            Member("host", tarfile.SYMTYPE, link=str(outside.parent)),
        ]
    )
    upper = tar_bytes(
        [
            Member("a/new.txt", data=b"new"),  # before the opaque marker in the tar: still kept
            Member("a/.wh..wh..opq"),
            Member(".wh.b.txt"),
            Member("c.txt", data=b"c again"),
            Member(".wh.c.txt"),  # same layer: does not hide its own c.txt
            Member("host/.wh.secret.txt"),  # resolved in the image: nothing of the host removed
            Member(".wh.missing"),
        ]
    )
    root = unpack_image([lower, upper], tmp_path / "cache")
    assert sorted(path.name for path in (root / "a").iterdir()) == ["new.txt"]
    assert not (root / "b.txt").exists()
    assert (root / "c.txt").read_bytes() == b"c again"
    _unchanged(outside, before)


@pytest.mark.parametrize(
    "members",
    [
        [Member("../escape.txt", data=b"x")],
        [Member("a/../../escape.txt", data=b"x")],
        [Member("../.wh.secret.txt")],
        [Member("sparse", b"S")],
        [Member("weird", b"Z")],
    ],
    ids=["dotdot", "dotdot-inside", "whiteout-out", "sparse", "unknown-type"],
)
def test_names_and_types_that_cannot_be_unpacked_are_one_error(tmp_path, outside, members):
    before = snapshot(outside.parent)
    with pytest.raises(LambdaLayerError):
        unpack_image([tar_bytes(members)], tmp_path / "cache")
    _unchanged(outside, before)


def test_a_header_declaring_more_than_the_image_limit_is_refused_before_writing(tmp_path):
    layer = lying_tar("huge.bin", 11 * 1024**3, b"\0" * 4096)
    with pytest.raises(LambdaLayerError, match="bytes"):
        unpack_image([layer], tmp_path / "cache")
    assert not any(path.is_file() for path in (tmp_path / "cache").rglob("huge.bin"))


def test_a_pax_header_of_a_gigabyte_is_refused_without_reading_it(tmp_path):
    layer = tar_bytes([Member("x.txt", data=b"x", pax={"comment": "A" * (8 << 20)})])
    with pytest.raises(LambdaLayerError, match="header"):
        unpack_image([layer], tmp_path / "cache")


# -- zips (the check's and invoke's read-only extraction) ---------------------------------------


def extract_read_only(archives: list[Path], destination: Path) -> None:
    """What the check and invoke do with a zip: read it into placed files, then place them."""
    from lambdalayer.environment.imports import place_files
    from lambdalayer.placement import read_zip
    from lambdalayer.targets import Layout

    placements = [read_zip(path, Layout.SITE_PACKAGES) for path in archives]
    place_files(placements, destination, link=False)


def test_zip_links_are_kept_inside_and_refused_outside(tmp_path, outside):

    before = snapshot(outside.parent)
    inside = tmp_path / "inside.zip"
    inside.write_bytes(
        zip_bytes(
            [
                ("python/real.py", b"X = 1\n", stat.S_IFREG | 0o644),
                ("python/alias.py", b"real.py", symlink_mode()),
            ]
        )
    )
    extract_read_only([inside], tmp_path / "opt")
    assert (tmp_path / "opt/python/alias.py").readlink().as_posix() == "real.py"
    for target in (str(outside), "../../host/secret.txt"):
        hostile = tmp_path / "hostile.zip"
        hostile.write_bytes(zip_bytes([("python/escape", target.encode(), symlink_mode())]))
        with pytest.raises(LambdaLayerError, match="outside"):
            extract_read_only([hostile], tmp_path / "opt2")
        # A member written through that link: the link is a file where the member needs a
        # directory, which no unzip places alike; the zip is refused before anything is placed.
        hostile.write_bytes(
            zip_bytes(
                [
                    ("python/escape", target.encode(), symlink_mode()),
                    ("python/escape/x.py", b"written through", stat.S_IFREG | 0o644),
                ]
            )
        )
        with pytest.raises(LambdaLayerError, match="directory of that name"):
            extract_read_only([hostile], tmp_path / "opt3")
    _unchanged(outside, before)


def test_a_zip_fifo_member_is_a_regular_file(tmp_path):
    archive = tmp_path / "fifo.zip"
    archive.write_bytes(zip_bytes([("python/pipe", b"data", stat.S_IFIFO | 0o644)]))
    extract_read_only([archive], tmp_path / "opt")
    assert stat.S_ISREG((tmp_path / "opt/python/pipe").lstat().st_mode)


# -- the unpacker itself ------------------------------------------------------------------------


def test_a_hard_link_to_a_file_the_unpacker_did_not_make_is_refused(tmp_path):
    from lambdalayer.unpack import Quota, Unpacker

    root = tmp_path / "root"
    root.mkdir()
    (root / "there-before").write_text("not from the archive")
    with Unpacker(root, Quota(1 << 20), "test") as unpacker:
        with pytest.raises(LambdaLayerError, match="not a file the archive holds"):
            unpacker.hardlink("alias", "there-before")
        unpacker.file("made", _Bytes(b"abc"), 3)
        unpacker.hardlink("alias", "made")
    assert (root / "alias").read_text() == "abc"


def test_the_quota_counts_bytes_and_members(tmp_path):
    from lambdalayer.unpack import Quota, Unpacker

    with Unpacker(tmp_path / "root", Quota(10, members=3), "test") as unpacker:
        unpacker.file("a", _Bytes(b"12345"), 5)
        with pytest.raises(LambdaLayerError, match="past the 10"):
            unpacker.file("b", _Bytes(b"123456"), 6)
        unpacker.directory("d")
        with pytest.raises(LambdaLayerError, match="too many"):
            unpacker.directory("e")
    with (
        Unpacker(tmp_path / "short", Quota(100), "test") as unpacker,
        pytest.raises(LambdaLayerError, match="holds 2 of the 5 bytes"),
    ):
        unpacker.file("short", _Bytes(b"12"), 5)


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, size: int = -1) -> bytes:
        chunk, self.data = self.data[:size], self.data[size:]
        return chunk
