"""Two builds to the same ``-o`` at once (lambdalayer.layer.output.held): the second waits
for the first and says so, then writes its own — the output is one build's, never a mix.

Two real ``lambdalayer build`` processes against a real local index; the first is held
mid-build by its wheel's download (a gate in the index server), not by any stand-in.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cliutil import run_cli
from hostilecases import generated
from hypothesis import given
from hypothesis import strategies as st
from indexserver import LocalIndex
from ordinary import here_as, ordinary_user, run_here_as, workdir
from wheelmaker import make_wheel

from lambdalayer.errors import OutputError
from lambdalayer.layer.output import held, lock_file, one_set, previous_file


def _start(
    index: LocalIndex, requirement: str, out: Path, cache: Path, *more: str
) -> subprocess.Popen[str]:
    command = [
        sys.executable, "-m", "lambdalayer", "build", requirement, "--runtime", "python3.12",
        "--bytecode", "none", "--no-check", "--index-url", index.url, "--cache-dir", str(cache),
        "-o", str(out), *more,
    ]  # fmt: skip
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """An index's files: two one-module projects, firstish and secondish 1.0."""
    files = tmp_path / "index"
    files.mkdir()
    make_wheel(files, "firstish", "1.0")
    make_wheel(files, "secondish", "1.0")
    return files


def _wait_for(condition, seconds: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@dataclass
class _Raced:
    """Two builds of one output: the first held at a gate, the second started meanwhile."""

    first: subprocess.Popen[str]
    second: subprocess.Popen[str]
    first_out: str
    first_err: str
    second_err: str


def _race(
    index: LocalIndex,
    gate: threading.Event,
    first: subprocess.Popen[str],
    second_of: Callable[[], subprocess.Popen[str]],
    held: Callable[[], None] = lambda: None,
) -> _Raced:
    """Once ``first`` waits at ``gate`` (``held`` then checks what it holds), start the second
    build, let the first go once the second waits for it (or ended without waiting), and
    wait for both."""
    second = None
    waiting: list[str] = []
    try:
        assert index.gated.wait(120), "the first build never reached its gate"
        held()
        second = second_of()
        reader = threading.Thread(target=lambda: waiting.extend(second.stderr or ()), daemon=True)
        reader.start()
        _wait_for(
            lambda: any("waiting:" in line for line in waiting) or second.poll() is not None, 120
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
    return _Raced(first, second, first_out, first_err, "".join(waiting))


def test_a_second_build_of_the_same_output_waits_for_the_first_and_says_so(tmp_path, root):
    first_wheel = next(root.glob("firstish-*.whl"))
    out = tmp_path / "out" / "c.zip"
    gate = threading.Event()
    with LocalIndex(root) as index:
        index.gates[first_wheel.name] = gate
        first = _start(index, "firstish", out, tmp_path / "cache-1")

        def holds() -> None:
            assert (out.parent / ".c.zip.lambdalayer-lock").is_file()  # the first holds it

        raced = _race(
            index, gate, first, lambda: _start(index, "secondish", out, tmp_path / "cache-2"), holds
        )
    first, second_err = raced.first, raced.second_err
    assert first.returncode == 0, raced.first_err
    assert raced.second.returncode == 0, second_err
    assert f"another lambdalayer build is writing {out} (process {first.pid})" in second_err
    assert "built" in raced.first_out
    # the output is the second build's alone: the last one, never a mix of the two
    with zipfile.ZipFile(out) as written:
        names = written.namelist()
    assert "python/lib/python3.12/site-packages/secondish/__init__.py" in names, names
    assert not [name for name in names if "firstish" in name], names
    assert sorted(path.name for path in out.parent.iterdir()) == ["c.zip"]  # no lock left


def test_at_q_a_build_waiting_for_another_still_says_so(tmp_path, root):
    """-q leaves out progress, and the wait was said as progress: a build could sit waiting
    for another with no word. A wait of unknown length is a notice, kept at -q."""
    first_wheel = next(root.glob("firstish-*.whl"))
    out = tmp_path / "out" / "c.zip"
    gate = threading.Event()
    with LocalIndex(root) as index:
        index.gates[first_wheel.name] = gate
        first = _start(index, "firstish", out, tmp_path / "cache-1", "-q")
        raced = _race(
            index,
            gate,
            first,
            lambda: _start(index, "secondish", out, tmp_path / "cache-2", "-q"),
        )
    assert raced.first.returncode == 0, raced.first_err
    assert raced.second.returncode == 0, raced.second_err
    said = f"notice: waiting: another lambdalayer build is writing {out} (process {first.pid})"
    assert said in raced.second_err.splitlines(), raced.second_err
    assert "resolving" not in raced.second_err  # -q: progress still left out


_PLANTED = st.sampled_from(["symlink", "dangling", "directory", "fifo", "stale file"])


def _planted(case: Path, path: Path, kind: str, junk: bytes) -> Path:
    """``kind`` (of :data:`_PLANTED`) put at ``path``, beside ``case/c.zip`` (``previous``)
    and ``case/outside`` (``theirs``, where a link points)."""
    (case / "c.zip").write_bytes(b"previous")
    (case / "outside").write_bytes(b"theirs")
    if kind == "symlink":
        path.symlink_to(case / "outside")
    elif kind == "dangling":
        path.symlink_to(case / "nowhere")
    elif kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.write_bytes(junk)
    return path


@pytest.mark.hostile
@generated(15)
@given(kind=_PLANTED, junk=st.binary(max_size=64))
def test_whatever_is_at_the_lock_path_is_refused_or_used_never_followed(tmp_path, kind, junk):
    """What another user or an old run left at the lock path: a plain file is taken (and
    removed at the end); a link is never followed, a directory or FIFO never removed —
    one error with a hint, the previous output untouched."""
    case = tmp_path / kind.replace(" ", "-") / junk.hex()
    case.mkdir(parents=True, exist_ok=True)
    out = case / "c.zip"
    lock = _planted(case, lock_file(out), kind, junk)
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
    assert out.read_bytes() == b"previous" and (case / "outside").read_bytes() == b"theirs"
    assert not (case / "nowhere").exists()


def test_what_a_build_writes_beside_its_zip_is_from_the_same_build_as_the_zip(tmp_path, root):
    """The SBOM, provenance and report are written under the same hold as the zip: the first
    build is held in its audit (its zip and SBOM written, its provenance and report not yet);
    the second waits for it, and what is left is the second's set, each naming the zip on
    disk. (The SBOM is written before the audit: it is the provenance and report that a
    build not holding its output over them left from the other build.)"""
    out = tmp_path / "out" / "c.zip"
    sbom, report = out.parent / "c.cdx.json", out.parent / "c.html"
    beside = ["--sbom", str(sbom), "--provenance", "--report", str(report)]
    gate = threading.Event()
    with LocalIndex(root) as index:
        index.gates["firstish/1.0/json"] = gate  # the first build's audit
        first = _start(index, "firstish", out, tmp_path / "cache-1", *beside, "--audit")
        raced = _race(
            index,
            gate,
            first,
            lambda: _start(index, "secondish", out, tmp_path / "cache-2", *beside),
        )
    assert raced.first.returncode == 0, raced.first_err
    assert raced.second.returncode == 0, raced.second_err
    with zipfile.ZipFile(out) as written:
        assert not [name for name in written.namelist() if "firstish" in name]
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    bom = json.loads(sbom.read_text())
    assert bom["metadata"]["component"]["hashes"][0]["content"] == digest
    statement = json.loads((out.parent / "c.zip.intoto.json").read_text())
    assert statement["subject"] == [{"name": "c.zip", "digest": {"sha256": digest}}]
    assert f"sha256 <code>{digest}</code>" in report.read_text()
    assert "waiting: another lambdalayer build is writing" in raced.second_err
    names = ["c.cdx.json", "c.html", "c.zip", "c.zip.intoto.json"]
    assert sorted(path.name for path in out.parent.iterdir()) == names  # no lock, no copies


def test_a_build_that_cannot_write_one_companion_leaves_the_previous_set_whole(
    tmp_path, root, capsys
):
    """The provenance cannot be written (a directory is at its path, found only then): the
    zip and SBOM already replaced are put back, so the previous build's set stays whole —
    never a new zip beside the previous report."""
    out = tmp_path / "out" / "c.zip"
    sbom, report = out.parent / "c.cdx.json", out.parent / "c.html"
    provenance = out.parent / "c.zip.intoto.json"
    with LocalIndex(root) as index:

        def build(requirement: str, *more: str) -> tuple[int, str, str]:
            return run_cli(
                capsys, "build", requirement, "--runtime", "python3.12", "--bytecode", "none",
                "--no-check", "--index-url", index.url, "--cache-dir", str(tmp_path / "cache"),
                "-o", str(out), "--sbom", str(sbom), "--provenance", *more,
            )  # fmt: skip

        code, _, err = build("secondish", "--report", str(report))
        assert code == 0, err
        before = {path: path.read_bytes() for path in (out, sbom, report)}
        provenance.unlink()
        provenance.mkdir()
        code, _, err = build("firstish", "--report", str(report))
    assert code != 0, err
    assert [line for line in err.splitlines() if line.startswith("error:")], err
    assert {path: path.read_bytes() for path in before} == before
    names = ["c.cdx.json", "c.html", "c.zip", "c.zip.intoto.json"]
    assert sorted(path.name for path in out.parent.iterdir()) == names  # no copies left
    assert provenance.is_dir() and not any(provenance.iterdir())


def _child(pid: int) -> int:
    """The one child of process ``pid`` (lambdalayer's, under ``runuser``)."""
    [child] = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return int(child)


@pytest.mark.parametrize("ending", ["error", "SIGTERM"])
def test_a_put_back_that_fails_names_each_file_left_at_its_previous_path(tmp_path, root, ending):
    """A failed or stopped build puts each previous file back; one it could not put back
    (here: its directory made read-only, by its owner's mistake, while the build held it in
    its audit — the zip and SBOM replaced) was left at its previous path with no word, and
    SIGTERM said 'nothing was left half-written'. The error (its exit code kept) now names
    each file and where its previous content is. As an ordinary user: root writes anyway."""
    user = ordinary_user()
    with workdir(user) as work, LocalIndex(root) as index:
        out = work / "out"
        zipped, sbom = out / "c.zip", out / "c.cdx.json"
        argv = [
            "build", "--runtime", "python3.12", "--bytecode", "none", "--no-check",
            "--index-url", index.url, "--cache-dir", str(work / "cache"), "-o", str(zipped),
            "--sbom", str(sbom), "--provenance",
        ]  # fmt: skip
        env = {"HOME": str(work)}
        made = run_here_as(user, [*argv, "secondish"], env, timeout=300)
        assert made.returncode == 0, made.stderr
        before = {path: path.read_bytes() for path in (zipped, sbom)}
        gate = threading.Event()
        index.gates["firstish/1.0/json"] = gate  # its audit: its zip and SBOM written
        second = subprocess.Popen(
            here_as(user, [*argv, "firstish", "--audit"], env),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert index.gated.wait(120), "the build never reached its audit"
            out.chmod(0o555)
            if ending == "SIGTERM":
                os.kill(_child(second.pid), signal.SIGTERM)
            gate.set()
            _, err = second.communicate(timeout=120)
        finally:
            gate.set()
            if second.poll() is None:
                second.kill()
                second.communicate()
            out.chmod(0o755)
        kept = {path: previous_file(path).read_bytes() for path in before}
    assert kept == before  # where the error says
    assert second.returncode == (143 if ending == "SIGTERM" else 1), err
    assert "half-written" not in err, err
    hints = [line for line in err.splitlines() if line.startswith("hint:")]
    for path in before:
        said = (
            f"{path} could not be put back (Permission denied): its previous content is at"
            f" {previous_file(path)}; move it back by hand"
        )
        assert len(hints) == 1 and said in hints[0], err
    assert hints[0].count("could not be put back") == len(before), err  # not the provenance


@pytest.mark.hostile
@generated(15)
@given(kind=_PLANTED, junk=st.binary(max_size=64), fails=st.booleans())
def test_whatever_is_at_the_previous_files_path_is_refused_or_replaced(tmp_path, kind, junk, fails):
    """What an interrupted build or another user left where the output's previous file is
    kept: a plain file is replaced (and gone at the end, the block failing or not); a link,
    directory or FIFO is refused, never followed or removed — the output untouched."""
    case = tmp_path / kind.replace(" ", "-") / junk.hex() / str(fails)
    case.mkdir(parents=True, exist_ok=True)
    out = case / "c.zip"
    kept = _planted(case, previous_file(out), kind, junk)
    if kind == "stale file":
        companion = case / "c.cdx.json"  # none before
        with contextlib.suppress(RuntimeError), one_set([out, companion]):
            out.unlink()
            out.write_bytes(b"new")
            companion.write_bytes(b"new")
            if fails:
                raise RuntimeError("a companion failed")
        assert out.read_bytes() == (b"previous" if fails else b"new")
        assert companion.exists() is not fails
        assert not kept.exists() and not previous_file(companion).exists()
    else:
        with pytest.raises(OutputError) as refused, one_set([out]):
            pytest.fail("kept the output with no regular file at its previous path")
        assert refused.value.hint and str(kept) in refused.value.message
        assert os.path.lexists(kept)  # not removed: it is not lambdalayer's
        assert out.read_bytes() == b"previous"
    assert (case / "outside").read_bytes() == b"theirs"
    assert not (case / "nowhere").exists()


@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGINT])
def test_a_matrix_build_stopped_by_a_signal_leaves_every_previous_set_as_it_was(
    tmp_path, root, sent
):
    """Several targets build in worker threads, where the signal is never raised: the builds
    went on to the end and replaced every zip and provenance, then the run said 'terminated
    (SIGTERM); nothing was left half-written'. Stopped while held in its audit (its zips
    written, its provenances not yet), each job now puts its previous set back."""
    out = tmp_path / "out"
    gate = threading.Event()
    with LocalIndex(root) as index:

        def start(requirement: str, *more: str) -> subprocess.Popen[str]:
            command = [
                sys.executable, "-m", "lambdalayer", "build", requirement,
                "--runtime", "python3.12", "--arch", "x86_64,arm64", "--bytecode", "none",
                "--no-check", "--index-url", index.url, "--cache-dir", str(tmp_path / "cache"),
                "--output-dir", str(out), "--provenance", *more,
            ]  # fmt: skip
            return subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )

        first = start("secondish")
        _, err = first.communicate(timeout=300)
        assert first.returncode == 0, err
        before = {path: path.read_bytes() for path in out.iterdir()}
        assert len(before) == 6, sorted(before)  # two zips, their locks and provenances
        index.gates["firstish/1.0/json"] = gate  # each job's audit
        second = start("firstish", "--audit")
        try:
            assert index.gated.wait(120), "the build never reached its audit"
            _wait_for(lambda: any(path.name.endswith("-previous") for path in out.iterdir()))
            second.send_signal(sent)
            time.sleep(1)  # the signal is handled while the audits still wait
            gate.set()
            _, err = second.communicate(timeout=120)
        finally:
            gate.set()
            if second.poll() is None:
                second.kill()
                second.wait()
    assert second.returncode == (143 if sent == signal.SIGTERM else 130), err
    assert [line for line in err.splitlines() if line.startswith("error:")], err
    assert {path: path.read_bytes() for path in out.iterdir()} == before  # no copies, no lock


_SIGNALLED_ROLLBACK = """
import json, os, signal, sys, threading, time
from pathlib import Path
from lambdalayer.layer.output import one_set

class Stopped(BaseException):
    pass

def stop(number, frame):
    raise Stopped(number)

signal.signal(signal.SIGTERM, stop)  # as the command line's: raised like Ctrl-C
case = Path(sys.argv[1])
paths = [case / f"f{n}.json" for n in range(int(sys.argv[2]))]
for path in paths:
    path.write_bytes(b"previous")

def signals():
    for _ in range(400):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.0005)

sender = threading.Thread(target=signals)
caught = []
try:
    with one_set(paths):
        for path in paths:
            (case / "new").write_bytes(b"new")
            (case / "new").replace(path)
        sender.start()
        raise RuntimeError("a companion failed")
except (Stopped, RuntimeError) as error:
    caught.append(type(error).__name__)
while sender.is_alive():  # the signals still coming: each raised here, not in one_set
    try:
        sender.join(0.01)
    except Stopped:
        pass
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print(json.dumps({"caught": caught, "left": sorted(p.name for p in case.iterdir())}))
"""


def test_signals_during_the_put_back_wait_until_the_previous_set_is_whole(tmp_path):
    """A build failing (or stopped) puts its previous set back; a second signal (Ctrl-C
    twice, SIGINT then SIGTERM from a CI runner) raised part-way through had left a mix of
    new and previous files and their previous copies: the signals now wait for the put-back
    and are raised after it. A real process signalling itself while it puts 1,000 files
    back."""
    case = tmp_path / "case"
    case.mkdir()
    run = subprocess.run(
        [sys.executable, "-c", _SIGNALLED_ROLLBACK, str(case), "1000"],
        check=False, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    said = json.loads(run.stdout)
    assert said["caught"], said
    assert said["left"] == sorted(f"f{n}.json" for n in range(1000)), said["left"][:5]
    assert all((case / name).read_bytes() == b"previous" for name in said["left"])


def test_a_matrix_build_stopped_while_a_job_waits_for_another_builds_output_ends(tmp_path, root):
    """A job of several waits for another process's hold on its output (a blocking flock
    in a worker thread): SIGTERM had left the run waiting on until that other build ended,
    however long. Now the waiting job gives up, the run ends with 143, and the other build
    finishes as it would have."""
    out = tmp_path / "out"
    gate = threading.Event()
    with LocalIndex(root) as index:
        index.gates["firstish/1.0/json"] = gate
        other = _start(
            index, "firstish", out / "layer-python3.12-x86_64.zip", tmp_path / "cache-1",
            "--audit",
        )  # fmt: skip
        matrix = None
        try:
            assert index.gated.wait(120), "the other build never reached its audit"
            command = [
                sys.executable, "-m", "lambdalayer", "build", "secondish",
                "--runtime", "python3.12", "--arch", "x86_64,arm64", "--bytecode", "none",
                "--no-check", "--index-url", index.url, "--cache-dir", str(tmp_path / "cache-2"),
                "--output-dir", str(out),
            ]  # fmt: skip
            matrix = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            waiting: list[str] = []
            reader = threading.Thread(target=lambda: waiting.extend(matrix.stderr or ()))
            reader.start()
            _wait_for(lambda: any("waiting:" in line for line in waiting), 120)
            matrix.send_signal(signal.SIGTERM)
            matrix.wait(timeout=30)  # the other build still holds its output
            reader.join(10)
            assert other.poll() is None
            assert matrix.returncode == 143, "".join(waiting)
        finally:
            gate.set()
            other.communicate(timeout=120)
            if matrix is not None and matrix.poll() is None:
                matrix.kill()
                matrix.wait()
            for stream in (matrix.stdout, matrix.stderr) if matrix is not None else ():
                if stream is not None:
                    stream.close()
    assert other.returncode == 0
    with zipfile.ZipFile(out / "layer-python3.12-x86_64.zip") as written:
        assert [name for name in written.namelist() if "firstish" in name]


def _functions(root: Path, requirements: dict[str, str]) -> Path:
    """A SAM repository of one function per entry (python3.12, arm64), its requirements."""
    resources = "".join(
        f"  {name}:\n    Type: AWS::Serverless::Function\n    Properties:\n"
        f"      CodeUri: {name.lower()}/\n      Handler: app.handler\n"
        for name in requirements
    )
    root.mkdir(parents=True)
    (root / "template.yaml").write_text(
        'AWSTemplateFormatVersion: "2010-09-09"\nTransform: AWS::Serverless-2016-10-31\n'
        "Globals:\n  Function:\n    Runtime: python3.12\n    Architectures: [arm64]\n"
        f"Resources:\n{resources}"
    )
    for name, wanted in requirements.items():
        (root / name.lower()).mkdir()
        (root / name.lower() / "app.py").write_text("def handler(event, context):\n    return 1\n")
        (root / name.lower() / "requirements.txt").write_text(wanted)
    return root


def _build_all(index: LocalIndex, project: Path, out: Path, cache: Path) -> list[str]:
    return [
        sys.executable, "-m", "lambdalayer", "build", "--all", "--bytecode", "none",
        "--no-check", "--index-url", index.url, "--cache-dir", str(cache), "--project",
        str(project), "--output-dir", str(out),
    ]  # fmt: skip


def test_build_all_records_a_zip_s_stamp_under_its_hold_never_over_another_run_s_zip(
    tmp_path, root
):
    """``build --all`` of Orders and Billing: Orders is built and let go while Billing waits
    for its output (held here, as another build would); another run writes its own Orders
    (other requirements) meanwhile. The stamp beside Orders' zip (what a later run trusts to
    skip rebuilding it) is that run's, naming the zip on disk — it had been written once the
    whole wave ended, recording the first run's inputs and sha256 over the other run's zip."""
    make_wheel(root, "thirdish", "1.0")
    out = tmp_path / "dist"
    first = _functions(tmp_path / "first", {"Orders": "firstish\n", "Billing": "secondish\n"})
    other = _functions(tmp_path / "other", {"Orders": "thirdish\n"})
    orders = out / "functions" / "Orders-python3.12-arm64.zip"
    billing = orders.with_name("Billing-python3.12-arm64.zip")
    billing.parent.mkdir(parents=True)
    said: list[str] = []
    with LocalIndex(root) as index:
        with held(billing):
            running = subprocess.Popen(
                _build_all(index, first, out, tmp_path / "cache-1"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            reader = threading.Thread(target=lambda: said.extend(running.stderr or ()))
            reader.start()
            try:
                waiting = f"waiting: another lambdalayer build is writing {billing}"
                _wait_for(
                    lambda: (
                        running.poll() is not None
                        or (
                            any(waiting in line for line in said)
                            and orders.exists()
                            and not lock_file(orders).exists()
                        )
                    ),
                    120,
                )
                second = subprocess.run(
                    _build_all(index, other, out, tmp_path / "cache-2"),
                    capture_output=True,
                    text=True,
                    timeout=120,
                    check=False,
                )
            except BaseException:
                running.kill()
                raise
            finally:
                if running.poll() is not None:
                    reader.join(10)
        running.wait(timeout=120)
        reader.join(10)
        assert running.stderr is not None
        running.stderr.close()
    assert running.returncode == 0, "".join(said)
    assert any(waiting in line for line in said), "".join(said)
    assert second.returncode == 0, second.stderr
    with zipfile.ZipFile(orders) as written:
        assert [name for name in written.namelist() if name.startswith("thirdish")]
    stamp = json.loads((out / "functions" / ".stamps" / f"{orders.name}.json").read_text())
    assert stamp["sha256"] == hashlib.sha256(orders.read_bytes()).hexdigest()
    facts = orders.stat()
    assert stamp["file"] == [facts.st_size, facts.st_mtime_ns]
    assert sorted(path.name for path in (out / "functions" / ".stamps").iterdir()) == [
        f"{billing.name}.json",
        f"{orders.name}.json",
    ]
