"""Shared settings of the generated hostile suites (hypothesis under a fixed seed).

Every suite draws its cases from a model of one input surface; ``derandomize`` makes the
cases the same on every run and every machine (a failure is reproduced by running the test
again), and no example database is written. ``--hypothesis-show-statistics`` prints how
many cases each test ran.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, settings


def generated(examples: int) -> settings:
    """Hypothesis settings for a hostile suite of ``examples`` cases, the same on every run."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# --- one case in a child process: every command's outcome, and the child's peak memory ---

PEAK_RSS_LIMIT_KIB = 300 * 1024  # the promise: lambdalayer's own process stays under 300 MiB

# Runs each command line with lambdalayer's main() in this one process, stdout and stderr
# of each kept apart; an exception that escapes main() is printed as Python would.
_DRIVER = r"""
import contextlib, io, json, resource, sys, traceback
from lambdalayer.cli.main import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else 2
        except BaseException:
            traceback.print_exc()
            code = -1
    results.append([code, out.getvalue()[-20000:], err.getvalue()[-20000:]])
sys.__stdout__.write(json.dumps(results))
# VmHWM: this program's own peak. ru_maxrss keeps the peak of the process it was forked from
# (Linux carries it across execve), so a child of a large test process would report that.
peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
sys.__stderr__.write(f"peak-rss-kib {peak}\n")
"""


@dataclass(frozen=True)
class Outcome:
    """One command's exit code and output."""

    code: int
    out: str
    err: str

    def error_lines(self) -> list[str]:
        """The ``error:`` lines it printed."""
        return [line for line in self.err.splitlines() if line.startswith("error:")]


@dataclass(frozen=True)
class Case:
    """Every command of one case, and the peak resident memory of the child that ran them."""

    outcomes: list[Outcome]
    peak_rss_kib: int


def run_case(
    commands: list[list[str]],
    env: dict[str, str],
    cwd: Path,
    timeout: float = 120,
    stdin: Path | None = None,
) -> Case:
    """Run ``lambdalayer`` command lines one after another in a fresh child process (its
    stdin read from ``stdin``: a file, a device, a FIFO)."""
    with (stdin or Path(os.devnull)).open("rb") as source:
        process = subprocess.Popen(
            [sys.executable, "-c", _DRIVER, json.dumps(commands)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=source,
            env=env,
            cwd=cwd,
        )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise AssertionError(f"the case did not finish within {timeout} s: {commands}") from None
    # The peak is the child's own report of itself (RUSAGE_CHILDREN is a maximum over every
    # child this test process ever had).
    assert process.returncode == 0, err.decode(errors="replace")
    results = json.loads(out)
    peak = _peak_of(err)
    return Case([Outcome(*result) for result in results], peak)


def _peak_of(stderr: bytes) -> int:
    for line in stderr.decode(errors="replace").splitlines():
        if line.startswith("peak-rss-kib "):
            return int(line.split()[1])
    return 0


def snapshot(root: Path, skip: tuple[Path, ...] = ()) -> dict[str, tuple[int, int, str]]:
    """Every path under ``root`` but ``skip``: (mode, size, sha256 of a regular file's bytes)."""
    found: dict[str, tuple[int, int, str]] = {}
    for directory, dirs, files in os.walk(root):
        here = Path(directory)
        dirs[:] = [name for name in dirs if here / name not in skip]
        for name in [*dirs, *files]:
            path = here / name
            if path in skip:
                continue
            info = path.lstat()
            digest = ""
            if path.is_file() and not path.is_symlink():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path.relative_to(root))] = (info.st_mode, info.st_size, digest)
    return found


def assert_promise(case: Case, *, must_fail: bool = False) -> None:
    """No traceback, at most one ``error:`` line each (exactly one when it failed), memory bounded."""
    for outcome in case.outcomes:
        assert "Traceback" not in outcome.err, outcome.err
        assert outcome.code in (0, 1), (outcome.code, outcome.err)
        errors = outcome.error_lines()
        assert len(errors) <= 1, outcome.err
        if must_fail:
            assert outcome.code != 0, outcome.err
        if errors:
            assert outcome.code != 0, outcome.err
    assert case.peak_rss_kib <= PEAK_RSS_LIMIT_KIB, f"peak RSS {case.peak_rss_kib} KiB"


def case_environment(place: Path) -> dict[str, str]:
    """An environment whose HOME, TMPDIR and cache are inside ``place`` (a stray write shows)."""
    home = place / "home"
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("XDG_", "LAMBDALAYER_", "PYTEST_"))
    }
    environment.update(
        HOME=str(home), TMPDIR=str(home / "tmp"), LAMBDALAYER_CACHE_DIR=str(place / "cache")
    )
    return environment
