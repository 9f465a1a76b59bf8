"""Progress as typed data from the library, drawn by the command line (issue #33 point 4).

The library hands ``notify`` :class:`Transfer` (a download's bytes) and :class:`Step`
(a stage's steps) events; the command line draws them as a status line on a terminal (a
real pseudo-terminal here) and as plain lines in a log, and colours ``error:``/``hint:``
lines as ``NO_COLOR``/``FORCE_COLOR`` say.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from lambdalayer.builder import BuildRequest, build
from lambdalayer.inputs.requirements import gather
from lambdalayer.layer.output import ZipOutput
from lambdalayer.net.index import IndexConfig
from lambdalayer.progress import Step, Transfer
from lambdalayer.resolve.stage import Resolve
from lambdalayer.targets import get_target

PACKAGES = ("alpha", "beta")


def test_the_library_says_downloads_and_steps_as_data(local_index, cache_dir, tmp_path):
    events: list[str] = []
    source = Resolve(gather(list(PACKAGES), []).requirements, IndexConfig(local_index.url))
    request = BuildRequest(
        get_target("python3.12"), source, ZipOutput(tmp_path / "l.zip"), cache_dir=cache_dir
    )
    build(request, events.append)
    transfers = [event for event in events if isinstance(event, Transfer)]
    names = {event.name for event in transfers}
    assert len(names) >= 2  # every wheel of the closure was downloaded, each one said
    for name in names:
        mine = [event for event in transfers if event.name == name]
        assert mine[0].done == 0 and not mine[0].finished
        assert mine[-1].finished and mine[-1].done == mine[-1].total > 0
        assert mine[0].total in (None, mine[-1].total)  # the lock's size, when it has one
        assert [event.done for event in mine] == sorted(event.done for event in mine)
        assert str(mine[0]) == f"downloading {name}"  # a log reads it as before
    steps = [event for event in events if isinstance(event, Step)]
    assert [step.done for step in steps] == list(range(1, len(steps) + 1))
    assert {step.total for step in steps} == {len(steps)} and steps[0].stage == "prepare"


def _in_a_terminal(args: list[str], environ: dict[str, str]) -> bytes:
    """What ``lambdalayer ARGS`` writes to a pseudo-terminal (stdout and stderr both)."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("lambdalayer")), *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=environ,
        close_fds=True,
    )
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 120)
        if not ready:
            process.kill()
            break
        try:
            data = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process has ended
            break
        if not data:
            break
        seen += data
    process.wait(timeout=60)
    os.close(leader)
    return seen


@pytest.fixture
def environ(tmp_path: Path) -> dict[str, str]:
    environ = {
        key: value
        for key, value in os.environ.items()
        if key not in ("NO_COLOR", "FORCE_COLOR", "TERM")
    }
    environ.update(TERM="xterm", COLUMNS="120")
    return environ


def test_on_a_terminal_progress_is_one_status_line_and_errors_are_coloured(
    local_index, tmp_path, environ
):
    args = [
        *("build", *PACKAGES, "--runtime", "python3.12", "--index-url", local_index.url),
        *("--cache-dir", str(tmp_path / "cache"), "-o", str(tmp_path / "l.zip"), "--no-check"),
    ]
    seen = _in_a_terminal(args, environ)
    assert (tmp_path / "l.zip").is_file(), seen
    assert b"\r\x1b[2Kdownloading: " in seen  # redrawn in place, with the bytes
    assert b" done, " in seen and b" B" in seen
    assert b"[1/2]\r\n" not in seen  # a step is the status line's, not a line of its own
    assert b"\r\x1b[2K[#" in seen or b"\r\x1b[2K[-" in seen
    failed = _in_a_terminal(["check", str(tmp_path / "missing.zip")], environ)
    assert b"\x1b[1;31merror:\x1b[0m" in failed
    plain = _in_a_terminal(["check", str(tmp_path / "missing.zip")], {**environ, "NO_COLOR": "1"})
    assert b"error:" in plain and b"\x1b[" not in plain


def test_in_a_log_progress_is_plain_lines_and_force_color_colours(local_index, tmp_path, environ):
    args = [
        *("build", *PACKAGES, "--runtime", "python3.12", "--index-url", local_index.url),
        *("--cache-dir", str(tmp_path / "cache"), "-o", str(tmp_path / "l.zip"), "--no-check"),
    ]
    command = [str(Path(sys.executable).with_name("lambdalayer"))]
    logged = subprocess.run(
        [*command, *args], capture_output=True, text=True, env=environ, check=True
    )
    lines = logged.stderr.splitlines()
    assert any(line.startswith("downloading alpha-") for line in lines), logged.stderr
    assert any(line.endswith("[1/2]") for line in lines) and "\x1b[" not in logged.stderr
    assert not any(": " in line and "bytes" in line for line in lines if "downloading" in line)
    forced = subprocess.run(
        [*command, "check", str(tmp_path / "missing.zip")],
        capture_output=True,
        text=True,
        env={**environ, "FORCE_COLOR": "1"},
        check=False,
    )
    assert forced.returncode == 1 and "\x1b[1;31merror:\x1b[0m" in forced.stderr
