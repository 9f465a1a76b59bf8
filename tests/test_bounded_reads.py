"""Bounded reads of the files a user names (fsutil.read_input): a regular file is read, so
is a pipe the shell opened (``<(cmd)``: ``/dev/fd/N``) and a named FIFO something writes to;
a named FIFO nothing writes to, or a device, is one error with a hint — never a read that
waits for ever."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hostilecases import generated
from hypothesis import given
from hypothesis import strategies as st

from lambdalayer.errors import InputError
from lambdalayer.fsutil import read_small_file, read_text_file
from lambdalayer.inputs.deploy import DEPLOY_FILES


def _lambdalayer(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).with_name("lambdalayer")), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


def test_a_trim_manifest_that_is_a_fifo_nothing_writes_is_one_error_not_a_hang(tmp_path):
    """It used to wait for a writer for ever (``build --trim FIFO``)."""
    fifo = tmp_path / "lambdalayer.trim.toml"
    os.mkfifo(fifo)
    done = _lambdalayer(
        "build", "alpha", "--runtime", "python3.12", "--trim", str(fifo),
        "--cache-dir", str(tmp_path / "cache"), "-o", str(tmp_path / "l.zip"), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert [line for line in lines if line.startswith("error:")] == [
        f"error: the trim manifest {fifo} is a FIFO nothing writes to: reading it would wait"
        " for ever"
    ], done.stderr
    assert any(line.startswith("hint:") for line in lines), done.stderr
    assert not (tmp_path / "l.zip").exists()


def test_a_fifo_nothing_writes_is_refused_at_once(tmp_path):
    fifo = tmp_path / "requirements.txt"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="FIFO nothing writes to") as caught:
        read_text_file(fifo, "requirements file")
    assert caught.value.hint


def test_a_named_fifo_something_writes_to_is_read(tmp_path):
    fifo = tmp_path / "manifest"
    os.mkfifo(fifo)

    def write() -> None:
        with fifo.open("w") as stream:  # blocks until the reader opens it
            stream.write("format = 1\n")

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        for _attempt in range(200):  # the writer waits in open() once it has started
            try:
                assert read_text_file(fifo, "the trim manifest") == "format = 1\n"
                break
            except InputError:  # the writer had not reached open() yet
                threading.Event().wait(0.01)
        else:
            pytest.fail("the FIFO was never read")
    finally:
        writer.join(timeout=10)


def test_a_pipe_the_shell_opened_is_read_process_substitution(tmp_path):
    """``--event <(cmd)``: the shell passes ``/dev/fd/N``, a pipe already open; one whose
    writer has finished (even an empty one) is read to its end."""
    for content in (b'{"a": 1}\n', b""):
        read_end, write_end = os.pipe()
        os.write(write_end, content)
        os.close(write_end)
        try:
            assert read_text_file(Path(f"/dev/fd/{read_end}"), "the event") == content.decode()
        finally:
            os.close(read_end)


def test_a_pipe_the_shell_opened_through_bash_is_read(tmp_path):
    script = (
        f"{sys.executable} -c 'import sys; from pathlib import Path;"
        " from lambdalayer.fsutil import read_text_file;"
        ' print(read_text_file(Path(sys.argv[1]), "x"), end="")\' <(printf \'requests\\n\')'
    )
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout) == (0, "requests\n"), done.stderr


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero", "/dev/urandom"])
def test_a_device_is_refused_not_read(device):
    with pytest.raises(InputError, match="is a device, not a file") as caught:
        read_text_file(Path(device), "the trim manifest")
    assert caught.value.hint


def test_read_small_file_refuses_links_fifos_and_devices(tmp_path):
    real = tmp_path / "real"
    real.write_bytes(b"x" * 10)
    assert read_small_file(real, 4) == b"xxxx"
    (tmp_path / "link").symlink_to(real)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "zero").symlink_to("/dev/zero")
    for name in ("link", "fifo", "zero"):
        with pytest.raises(OSError):
            read_small_file(tmp_path / name, 4)


def test_requirements_from_process_substitution_are_one_error_with_a_hint(tmp_path):
    """``-r <(cmd)`` is no documented input (uv reads a requirements file by its path, and a
    pipe reads once): it said 'not a regular file (a directory or a device)', with no hint."""
    script = (
        f"{Path(sys.executable).with_name('lambdalayer')} build -r <(printf 'alpha\\n')"
        f" --runtime python3.12 -o {tmp_path / 'l.zip'} --cache-dir {tmp_path / 'cache'}"
    )
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert [line for line in lines if line.startswith("error:")] == [
        f"error: input {lines[0].split()[2]} is a pipe, not a file: the build reads its inputs"
        " more than once"
    ], done.stderr
    assert lines[-1].startswith("hint: write it to a file first"), done.stderr


@pytest.mark.hostile
@generated(16)
@given(
    name=st.sampled_from(DEPLOY_FILES),
    kind=st.sampled_from(["fifo", "dangling link", "link to a device", "link to a fifo"]),
)
def test_a_deploy_file_that_is_no_regular_file_is_one_error_never_passed_over(
    tmp_path_factory, name, kind
):  # type: ignore[no-untyped-def]
    """``plan`` finds a project's deploy files by name: one that is a FIFO, a device or a
    dangling link was passed over ('no functions found', or the functions of the other
    files only); it is read, and refused in one line naming it."""
    project = tmp_path_factory.mktemp("project")
    entry = project / name
    if kind == "fifo":
        os.mkfifo(entry)
    elif kind == "dangling link":
        entry.symlink_to(project / "generated" / name)
    elif kind == "link to a device":
        entry.symlink_to("/dev/zero")
    else:
        os.mkfifo(project / "elsewhere")
        entry.symlink_to(project / "elsewhere")
    done = _lambdalayer("plan", "--project", str(project), "--matrix", cwd=project)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 1 and len(errors) == 1, done.stderr
    assert name in errors[0] and "no functions found" not in errors[0], errors


def test_a_missing_requirements_file_hints_the_close_name_beside_it(tmp_path):
    """'-r requirments.txt' said 'input file not found' and nothing to do (a new user's
    review): the file of a close name in that directory is named, else what to give."""
    from lambdalayer.inputs.requirements import gather

    (tmp_path / "requirements.txt").write_text("six\n")
    with pytest.raises(InputError) as raised:
        gather([], [tmp_path / "requirments.txt"])
    assert raised.value.message == f"input file not found: {tmp_path / 'requirments.txt'}"
    assert raised.value.hint == f"did you mean {tmp_path / 'requirements.txt'}?"
    with pytest.raises(InputError) as raised:
        gather([], [tmp_path / "missing" / "deps.txt"])
    assert (
        raised.value.hint is not None
        and "give the path of a requirements file" in raised.value.hint
    )


@generated(60)
@given(
    name=st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="/\x00"), min_size=1
    ).filter(lambda name: name not in {".", ".."} and len(name.encode()) < 200)
)
def test_a_neighbour_of_any_name_is_hinted_printable(tmp_path_factory, name):
    """Any file name beside the missing one, control characters and escapes included: the hint
    is one printable line, never the raw name."""
    from lambdalayer.inputs.requirements import gather

    place = tmp_path_factory.mktemp("near")
    (place / name).write_text("six\n")
    with pytest.raises(InputError) as raised:
        gather([], [place / (name + "x")])
    hint = raised.value.hint or ""
    assert hint.isprintable(), hint


@pytest.mark.hostile
@generated(20)
@given(
    command=st.sampled_from(
        [["check"], ["report"], ["verify"], ["sbom"], ["audit"], ["publish", "--name", "x"]]
    ),
    kind=st.sampled_from(["fifo", "directory", "device", "link to a fifo"]),
)
def test_a_zip_that_is_no_regular_file_is_named_for_what_it_is(tmp_path_factory, command, kind):  # type: ignore[no-untyped-def]
    """``check /dev/zero`` said 'no such file: /dev/zero'; a FIFO or a directory the same."""
    place = tmp_path_factory.mktemp("zip")
    target = place / "layer.zip"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    elif kind == "device":
        target = Path("/dev/null")
    else:
        os.mkfifo(place / "fifo")
        target.symlink_to(place / "fifo")
    done = _lambdalayer(*command[:1], str(target), *command[1:], cwd=place)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode != 0 and len(errors) == 1, done.stderr
    assert "no such file" not in errors[0] and str(target) in errors[0], errors
    said = {"fifo": "a FIFO", "directory": "a directory", "device": "a device"}
    assert said.get(kind, "a FIFO") in errors[0], errors
    assert any(line.startswith("hint:") for line in done.stderr.splitlines()), done.stderr
