"""Every file a build writes — the zip, ``--lock``, ``--sbom``, ``--provenance``, ``--report``
and where each is kept while it is replaced — is checked before anything is resolved
(:func:`lambdalayer.layer.output.check_one_set`): a directory, FIFO, device or link at one
of them, two of them at one file, is one error naming the option and the path, and the
index is never asked (real builds against a real local index).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cliutil import run_cli
from hostilecases import generated
from hypothesis import given
from hypothesis import strategies as st
from indexserver import LocalIndex
from wheelmaker import make_wheel

from lambdalayer.layer.output import previous_file

# What each option writes, in a case's directory (--provenance: beside the zip).
_FILES = {
    "-o": "c.zip",
    "--lock": "p.toml",
    "--sbom": "s.cdx.json",
    "--provenance": "c.zip.intoto.json",
    "--report": "r.html",
}
_REFUSED = ["directory", "fifo", "device", "dangling link", "link", "kept save blocked"]
_ACCEPTED = ["nothing", "previous file", "missing directory"]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalIndex]:
    """A real index holding one one-module project, firstish 1.0."""
    files = tmp_path_factory.mktemp("index")
    make_wheel(files, "firstish", "1.0")
    with LocalIndex(files) as served:
        yield served


def _build(
    capsys: pytest.CaptureFixture[str], index: LocalIndex, cache: Path, *more: str
) -> tuple[int, str, str]:
    return run_cli(
        capsys, "build", "firstish", "--runtime", "python3.12", "--bytecode", "none",
        "--no-check", "--index-url", index.url, "--cache-dir", str(cache), *more,
    )  # fmt: skip


def _contents(directory: Path) -> dict[str, tuple[int, bytes | str | None]]:
    """Every name under ``directory`` with its kind and bytes (a link: its target)."""
    found: dict[str, tuple[int, bytes | str | None]] = {}
    for root, dirs, files in os.walk(directory):
        for name in [*dirs, *files]:
            path = Path(root) / name
            mode = os.lstat(path).st_mode
            content = (
                str(path.readlink())
                if stat.S_ISLNK(mode)
                else path.read_bytes()
                if stat.S_ISREG(mode)
                else None
            )
            found[str(path.relative_to(directory))] = (stat.S_IFMT(mode), content)
    return found


def _plant(path: Path, kind: str) -> None:
    """``kind`` put at ``path``: what an old run, another user or a slip left there."""
    if kind == "nothing":
        return
    if kind == "previous file":
        path.write_bytes(b"previous " + path.name.encode())
    elif kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        if os.geteuid() == 0:
            os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero's
        else:  # pragma: no cover - the suite runs as root here
            os.mkfifo(path)
    elif kind == "dangling link":
        path.symlink_to(path.parent / "nowhere")
    elif kind == "link":
        path.symlink_to(path.parent / "theirs")
    elif kind == "kept save blocked":  # the previous file, with a directory where it is kept
        path.write_bytes(b"previous " + path.name.encode())
        previous_file(path).mkdir()


def _laid_out(
    case: Path, places: dict[str, str], other: int
) -> tuple[dict[str, Path], set[tuple[str, Path]]]:
    """Each option's path in ``case``, with what ``places`` says planted there; and the
    option and path an error may name (empty: the build should succeed)."""
    (case / "theirs").write_bytes(b"theirs")
    paths: dict[str, Path] = {}
    for option, kind in places.items():
        if kind == "missing directory":
            paths[option] = case / "made" / _FILES[option]
        elif kind != "same as":
            paths[option] = case / _FILES[option]
            _plant(paths[option], kind)
    allowed: set[tuple[str, Path]] = set()
    for option, kind in places.items():
        if kind == "same as":  # another file of the build: -o, or another option's path
            choices = [name for name in paths if name != option]
            chosen = choices[other % len(choices)]
            paths[option] = paths[chosen]
            allowed |= {(option, paths[option]), (chosen, paths[option])}
        elif kind in _REFUSED:
            allowed.add((option, paths[option]))
    return paths, allowed


_GIVEN = st.none() | st.sampled_from([*_ACCEPTED, *_REFUSED, "same as"])
# What sits at each path (None: the option is not given), in _FILES' order.
_CASES = st.tuples(
    st.sampled_from(["previous file", "nothing", *_REFUSED[1:]]),
    _GIVEN,
    _GIVEN,
    st.none() | st.sampled_from(["nothing", "previous file", *_REFUSED]),
    _GIVEN,
).map(
    lambda kinds: {
        option: kind for option, kind in zip(_FILES, kinds, strict=True) if kind is not None
    }
)


@pytest.mark.hostile
@generated(60)
@given(places=_CASES, other=st.integers(0, 3))
def test_what_sits_at_each_path_a_build_writes_is_refused_before_anything_is_resolved(
    tmp_path, index, capsys, places, other
):
    """Which files the build writes and what sits at each: a path that is not a regular
    file (or nothing), or that is another one's, is one error naming the option and the
    path, before the index is asked; the directory's names and bytes are as they were.
    Anything else builds, each file written (a missing directory made)."""
    case = Path(tempfile.mkdtemp(dir=tmp_path))  # one per case (tmp_path is the test's)
    paths, allowed = _laid_out(case, places, other)
    argv = ["-o", str(paths["-o"])]
    for option, path in paths.items():
        if option == "--provenance":
            argv.append(option)
        elif option != "-o":
            argv += [option, str(path)]
    before, asked = _contents(case), len(index.requests)
    code, _, err = _build(capsys, index, tmp_path / "cache", *argv)
    if allowed:
        lines = err.splitlines()
        errors = [line for line in lines if line.startswith("error:")]
        assert code == 1 and len(errors) == 1, err
        assert any(errors[0].startswith(f"error: {o} {p}") for o, p in allowed), (allowed, err)
        assert lines[lines.index(errors[0]) + 1].startswith("hint: "), err
        assert _contents(case) == before
        assert len(index.requests) == asked  # refused before anything was resolved
    else:
        assert code == 0, err
        for option, path in paths.items():
            mode = os.lstat(path).st_mode
            assert stat.S_ISREG(mode) and not path.read_bytes().startswith(b"previous"), option
        assert (case / "theirs").read_bytes() == b"theirs"


@pytest.mark.parametrize(
    "more",
    [["--sbom", "s.cdx.json"], ["--audit"], ["--provenance"], ["--report", "r.html"]],
    ids=lambda more: more[0],
)
def test_what_reads_the_zip_is_refused_with_a_directory_output_before_it_is_written(
    tmp_path, index, capsys, more
):
    """``-o DIR/`` writes the layer's files, no zip: what reads the zip is refused before
    anything is resolved — the directory's previous files as they were, nothing beside."""
    out = tmp_path / "out"
    (out / "python").mkdir(parents=True)
    (out / "python" / "previous.py").write_bytes(b"previous = 1\n")
    before, asked = _contents(tmp_path), len(index.requests)
    code, _, err = _build(capsys, index, tmp_path / "cache", "-o", f"{out}/", *more)
    assert code == 1, err
    command = {"--sbom": "sbom", "--audit": "audit", "--report": "report"}.get(more[0])
    assert err.splitlines() == [
        f"error: {more[0]} reads the built zip, but -o {out}/ writes the layer's files, not a zip",
        "hint: build a zip (-o FILE.zip)"
        + (f", or run 'lambdalayer {command}' on one" if command else ""),
    ]
    assert _contents(tmp_path) == before
    assert len(index.requests) == asked


def test_several_options_reading_the_zip_are_named_in_one_error_with_their_commands(
    tmp_path, index, capsys
):
    """Each option given that reads the zip is named, and the command that does the same for
    a zip (a provenance has none): no command for an option that was not given."""
    out = tmp_path / "out"
    code, _, err = _build(
        capsys, index, tmp_path / "cache", "-o", f"{out}/", "--provenance", "--sbom", "s.json",
        "--report", "r.html",
    )  # fmt: skip
    assert code == 1, err
    assert err.splitlines() == [
        f"error: --sbom, --provenance and --report read the built zip, but -o {out}/ writes the"
        " layer's files, not a zip",
        "hint: build a zip (-o FILE.zip), or run 'lambdalayer sbom' and 'lambdalayer report' on"
        " one",
    ]
    assert not out.exists()


@pytest.mark.parametrize("below", ["", "x"], ids=["in the file", "below it"])
@pytest.mark.parametrize("option", ["-o", "--lock", "--sbom", "--report"])
def test_a_directory_that_cannot_be_made_is_one_error_naming_the_option(
    tmp_path, index, capsys, option, below
):
    """A path in or under a file (its directory cannot be made) is one error naming the option
    that gave it, the directory, and the file in the way (mkdir's own words were 'File
    exists' or 'Not a directory'), with a hint for that option — nothing written."""
    blocker = tmp_path / "a-file"
    blocker.write_bytes(b"theirs")
    directory = blocker / below if below else blocker
    paths = {"-o": tmp_path / "c.zip", option: directory / _FILES[option]}
    more = [str(item) for flag, path in paths.items() for item in (flag, path)]
    before = _contents(tmp_path)
    code, _, err = _build(capsys, index, tmp_path / "cache", *more)
    assert code == 1, err
    assert err.splitlines() == [
        f"error: {option}: cannot write to {directory}: {blocker} is not a directory",
        f"hint: give {option} another path: one whose directory exists or can be made, and is"
        " writable",
    ]
    assert _contents(tmp_path) == before


def test_each_target_s_files_are_checked_before_any_target_is_built(tmp_path, index, capsys):
    """Several targets: a directory where the second target's provenance goes is refused
    before the first target is resolved — no zip, lock or SBOM of either is written."""
    dist = tmp_path / "dist"
    dist.mkdir()
    blocked = dist / "layer-python3.13-x86_64.zip.intoto.json"
    blocked.mkdir()
    before, asked = _contents(tmp_path), len(index.requests)
    code, _, err = _build(
        capsys, index, tmp_path / "cache", "--runtime", "python3.13", "--output-dir", str(dist),
        "--sbom", str(dist), "--provenance",
    )  # fmt: skip
    assert code == 1, err
    assert err.splitlines()[0] == (
        f"error: --provenance {blocked} exists and is not a regular file: it is a directory"
    ), err
    assert _contents(tmp_path) == before
    assert len(index.requests) == asked


@pytest.mark.parametrize(
    ("option", "planted", "hint"),
    [
        ("--sbom", "directory", "hint: give --sbom a file's path: a directory is never replaced"),
        ("--lock", "directory", "hint: give --lock a file's path: a directory is never replaced"),
        ("--provenance", "directory", "hint: build to another -o (the provenance is written"),
        ("--lock", "fifo", "hint: remove what is there, or give --lock another path"),
    ],
)
def test_a_directory_in_the_way_is_never_hinted_to_be_removed(
    tmp_path, index, capsys, option, planted, hint
):
    """A directory where a file goes is most likely the user's own (``--sbom dist``): the
    hint names a file's path instead, never removing it; a FIFO or a link is hinted away."""
    path = tmp_path / _FILES[option]
    _plant(path, planted)
    more = [option] if option == "--provenance" else [option, str(path)]
    before = _contents(tmp_path)
    code, _, err = _build(capsys, index, tmp_path / "cache", "-o", str(tmp_path / "c.zip"), *more)
    assert code == 1, err
    error, given = err.splitlines()
    assert error.startswith(f"error: {option} {path} exists and is not a regular file"), err
    assert given.startswith(hint), err
    assert ("remove" in given) is (planted != "directory"), err
    assert _contents(tmp_path) == before
