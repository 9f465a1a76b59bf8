"""Function trees from a model of what a directory can hold: read, never followed.

``build --function`` and ``invoke --function`` on a tree of files, directories and links
to them, with one hostile thing put somewhere in it: a link out of the tree (absolute,
``..`` past the root, to a secret beside it, to ``/dev/zero``), a link that loops (``.``,
``..``, two links naming each other), a dangling link, a FIFO, a socket, a device, a name
a zip cannot hold, a tree deeper than 64 directories. Each case, in a child process: one
``error:`` line naming the thing, no traceback, no secret in any output, nothing written
outside the output and the cache, peak RSS under 300 MiB. And a tree whose links stay
inside is built with their targets' bytes.
"""

from __future__ import annotations

import os
import socket
import zipfile
from pathlib import Path

import pytest
from hostilecases import assert_promise, case_environment, generated, run_case, snapshot
from hypothesis import given
from hypothesis import strategies as st

pytestmark = pytest.mark.hostile
SECRET = b"aws_secret_access_key = secret-beside-the-tree-31a7"
HANDLER = b"def handler(event, context):\n    return 'ok'\n"

NAMES = st.text("abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
BENIGN = st.lists(
    st.tuples(st.lists(NAMES, max_size=3), NAMES, st.binary(max_size=64), st.booleans()),
    max_size=6,
)


def _link_loop(place: Path) -> str:
    (place / "a").mkdir()
    (place / "b").mkdir()
    (place / "a" / "to_b").symlink_to("../b")
    (place / "b" / "to_a").symlink_to("../a")
    return "to_"


def _deep(place: Path) -> str:
    deep = place.joinpath(*["d"] * 70)
    deep.mkdir(parents=True)
    (deep / "x.py").write_text("")
    return "64 directories"


def _fifo(place: Path) -> str:
    os.mkfifo(place / "pipe")
    return "pipe"


def _socket(place: Path) -> str:
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(place / "sock"))
    return "sock"


def _device(place: Path) -> str:
    if os.geteuid() != 0:
        return _fifo(place)
    os.mknod(place / "zero", 0o666 | 0o020000, os.makedev(1, 5))  # a character device
    return "zero"


def _named(place: Path, name: bytes) -> str:
    (Path(os.fsdecode(bytes(place) + b"/" + name))).write_text("x = 1\n")
    return "has a name that"


HOSTILE = {
    "absolute link": lambda place: (place / "leak").symlink_to("/etc/passwd") or "leak",
    "link to /dev/zero": lambda place: (place / "zeros").symlink_to("/dev/zero") or "zeros",
    "link past the root": lambda place: (place / "up").symlink_to("../../..") or "up",
    "link to a secret beside": lambda place: (
        (place / "creds").symlink_to("../secret.txt") or "creds"
    ),
    "link to .": lambda place: (place / "self").symlink_to(".") or "self",
    "link to ..": lambda place: (
        (place / "sub").mkdir() or (place / "sub" / "parent").symlink_to("..") or "parent"
    ),
    "dangling link": lambda place: (place / "gone").symlink_to("nowhere.py") or "gone",
    "links naming each other": _link_loop,
    "FIFO": _fifo,
    "socket": _socket,
    "device": _device,
    "deeper than 64": _deep,
    "newline in a name": lambda place: _named(place, b"bad\nname.py"),
    "escape in a name": lambda place: _named(place, b"\x1b[2Jx.py"),
    "not UTF-8": lambda place: _named(place, b"caf\xe9.py"),
}


def make_tree(place: Path, benign: list[tuple[list[str], str, bytes, bool]], hostile: str) -> str:
    """The function's tree under ``place/src`` (a secret beside it); what the error must name."""
    (place / "secret.txt").write_bytes(SECRET)
    source = place / "src"
    source.mkdir()
    (source / "app.py").write_bytes(HANDLER)
    for directories, name, data, executable in benign:
        directory = source.joinpath(*directories)
        directory.mkdir(parents=True, exist_ok=True)
        if (directory / name).exists():
            continue
        (directory / f"{name}.txt").write_bytes(data)
        (directory / f"{name}.txt").chmod(0o755 if executable else 0o644)
    return HOSTILE[hostile](source)


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tree-cache")


def _commands(place: Path, index: str, cache: Path) -> list[list[str]]:
    source = str(place / "src")
    return [
        [
            "build",
            "beta",
            "--function",
            source,
            "--handler",
            "app.handler",
            "--runtime",
            "python3.12",
            "--bytecode",
            "none",
            "--no-check",
            "--index-url",
            index,
            "--cache-dir",
            str(cache),
            "-o",
            str(place / "function.zip"),
        ],
        [
            "invoke",
            "app.handler",
            "--function",
            source,
            "--runtime",
            "python3.12",
            "--cache-dir",
            str(cache),
        ],
    ]


@generated(20)
@given(benign=BENIGN, hostile=st.sampled_from(sorted(HOSTILE)))
def test_a_hostile_thing_in_a_function_tree_is_one_error_naming_it(
    tmp_path_factory, local_index, shared_cache, benign, hostile
):
    place = tmp_path_factory.mktemp("tree")
    named = make_tree(place, benign, hostile)
    environment = case_environment(place)
    before = snapshot(place, skip=(place / "home",))
    case = run_case(_commands(place, local_index.url, shared_cache), environment, place)
    assert_promise(case, must_fail=True)
    for outcome in case.outcomes:
        [line] = outcome.error_lines()
        assert named in line, line
        assert SECRET.decode() not in outcome.out + outcome.err
    assert snapshot(place, skip=(place / "home",)) == before  # no function.zip either


def test_links_inside_the_tree_are_built_as_their_targets_bytes(
    tmp_path, local_index, shared_cache
):
    source = tmp_path / "src"
    (source / "lib").mkdir(parents=True)
    (source / "app.py").write_bytes(HANDLER)
    (source / "lib" / "util.py").write_text("VALUE = 42\n")
    (source / "util.py").symlink_to("lib/util.py")
    (source / "vendor").symlink_to("lib")
    case = run_case(
        _commands(tmp_path, local_index.url, shared_cache)[:1], case_environment(tmp_path), tmp_path
    )
    assert_promise(case)
    [built] = case.outcomes
    assert built.code == 0, built.err
    with zipfile.ZipFile(tmp_path / "function.zip") as archive:
        members = {info.filename: info for info in archive.infolist()}
        for name in ("app.py", "lib/util.py", "util.py", "vendor/util.py"):
            assert (members[name].external_attr >> 16) & 0o170000 == 0o100000, name  # a file
        assert archive.read("util.py") == archive.read("vendor/util.py") == b"VALUE = 42\n"
