"""Two builds to the same ``-o`` at once (lambdalayer.layer.output.held): the second waits
for the first and says so, then writes its own — the output is one build's, never a mix.

Two real ``lambdalayer build`` processes against a real local index; the first is held
mid-build by its wheel's download (a gate in the index server), not by any stand-in.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from hostilecases import generated
from hypothesis import given
from hypothesis import strategies as st
from indexserver import LocalIndex
from wheelmaker import make_wheel

from lambdalayer.errors import OutputError
from lambdalayer.layer.output import held, lock_file


def _start(index: LocalIndex, requirement: str, out: Path, cache: Path) -> subprocess.Popen[str]:
    command = [
        sys.executable, "-m", "lambdalayer", "build", requirement, "--runtime", "python3.12",
        "--bytecode", "none", "--no-check", "--index-url", index.url, "--cache-dir", str(cache),
        "-o", str(out),
    ]  # fmt: skip
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )


def _wait_for(condition, seconds: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_second_build_of_the_same_output_waits_for_the_first_and_says_so(tmp_path):
    root = tmp_path / "index"
    root.mkdir()
    first_wheel = make_wheel(root, "firstish", "1.0")
    make_wheel(root, "secondish", "1.0")
    out = tmp_path / "out" / "c.zip"
    gate = threading.Event()
    with LocalIndex(root) as index:
        index.gates[first_wheel.name] = gate
        first = _start(index, "firstish", out, tmp_path / "cache-1")
        second = None
        try:
            assert index.gated.wait(60), "the first build never asked for its wheel"
            lock = out.parent / ".c.zip.lambdalayer-lock"
            assert lock.is_file()  # the first build holds the output
            second = _start(index, "secondish", out, tmp_path / "cache-2")
            waiting: list[str] = []
            reader = threading.Thread(
                target=lambda: waiting.extend(second.stderr or ()), daemon=True
            )
            reader.start()
            _wait_for(
                lambda: any("waiting:" in line for line in waiting) or second.poll() is not None
            )
            gate.set()
            first_out, first_err = first.communicate(timeout=120)
            second.wait(timeout=120)
            reader.join(10)
        finally:
            gate.set()
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait()
                for stream in (process.stdout, process.stderr) if process else ():
                    if stream is not None:
                        stream.close()
    second_err = "".join(waiting)
    assert first.returncode == 0, first_err
    assert second.returncode == 0, second_err
    assert f"another lambdalayer build is writing {out} (process {first.pid})" in second_err
    assert "built" in first_out
    # the output is the second build's alone: the last one, never a mix of the two
    with zipfile.ZipFile(out) as written:
        names = written.namelist()
    assert "python/lib/python3.12/site-packages/secondish/__init__.py" in names, names
    assert not [name for name in names if "firstish" in name], names
    assert sorted(path.name for path in out.parent.iterdir()) == ["c.zip"]  # no lock left


_PLANTED = st.sampled_from(["symlink", "dangling", "directory", "fifo", "stale file"])


@pytest.mark.hostile
@generated(15)
@given(kind=_PLANTED, junk=st.binary(max_size=64))
def test_whatever_is_at_the_lock_path_is_refused_or_used_never_followed(tmp_path, kind, junk):
    """What another user or an old run left at the lock path: a plain file is taken (and
    removed at the end); a link is never followed, a directory or FIFO never removed —
    one error with a hint, the previous output untouched."""
    case = tmp_path / kind.replace(" ", "-") / junk.hex()
    case.mkdir(parents=True, exist_ok=True)
    out, outside = case / "c.zip", case / "outside"
    out.write_bytes(b"previous")
    outside.write_bytes(b"theirs")
    lock = lock_file(out)
    if kind == "symlink":
        lock.symlink_to(outside)
    elif kind == "dangling":
        lock.symlink_to(case / "nowhere")
    elif kind == "directory":
        lock.mkdir()
    elif kind == "fifo":
        os.mkfifo(lock)
    else:
        lock.write_bytes(junk)
    said: list[str] = []
    if kind == "stale file":
        with held(out, said.append):
            assert lock.read_bytes() == f"{os.getpid()}\n".encode()
        assert not lock.exists() and not said
    else:
        with pytest.raises(OutputError) as refused, held(out, said.append):
            pytest.fail("held a lock that is not a plain file")
        assert refused.value.hint and str(lock) in refused.value.message
        assert os.path.lexists(lock)  # not removed: it is not lambdalayer's
    assert out.read_bytes() == b"previous" and outside.read_bytes() == b"theirs"
    assert not (case / "nowhere").exists()
