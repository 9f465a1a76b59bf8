"""A layer's code never reaches this machine: an escape probe, run in every sandbox installed here.

The probe is a module of a hostile layer. At import it tries each way out that a sandbox
has been seen to leave open (writing a host directory, the image, the layer's own files
or ``/usr``; a socket to 127.0.0.1; climbing out of a chroot; the host's root through
``/proc/1/root``; remounting ``/`` writable) and fails its import naming every way that
worked. The test also checks from outside that nothing changed and no connection came.
(proot alone cannot make a mount read-only: there the probe may write the throw-away
copies it was given, and still nothing outside them.)
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lambdalayer.check.request import CheckRequest, ImportOptions
from lambdalayer.check.rules import check_zip
from lambdalayer.interpreters import find_interpreter
from lambdalayer.targets import get_target

SITE_312 = "python/lib/python3.12/site-packages/"
PROGRAMS = {"bubblewrap": "bwrap", "unshare": "unshare", "proot": "proot"}

PROBE = r"""
import ctypes, os, socket
HOST, PORT = {host!r}, {port}
reached, writable = [], []

def attempt(name, action, found=reached):
    try:
        action()
    except BaseException:
        return
    found.append(name)

def write(path):
    with open(path, "w") as out:
        out.write("escaped")

def chroot_climb():
    os.makedirs("/tmp/jail", exist_ok=True)
    os.chroot("/tmp/jail")
    for _ in range(64):
        os.chdir("..")
    os.chroot(".")
    write(HOST + "/chroot")

def remount_root():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(None, b"/", None, ctypes.c_ulong(32 | 4096), None) != 0:  # MS_REMOUNT | MS_BIND
        raise OSError(ctypes.get_errno(), "remount")
    write("/remounted")

write("/tmp/allowed")  # the sandbox's own /tmp is writable, as Lambda's is
attempt("wrote the host's directory", lambda: write(HOST + "/direct"))
attempt("/", lambda: write("/escaped"), writable)
attempt("/usr", lambda: write("/usr/escaped"), writable)
attempt("/opt", lambda: write("/opt/escaped"), writable)
attempt("/var/task", lambda: write("/var/task/escaped"), writable)
attempt("the layer's own file", lambda: open(__file__, "a").write("# escaped"), writable)
attempt("reached 127.0.0.1", lambda: socket.create_connection(("127.0.0.1", PORT), timeout=3))
attempt("climbed out of a chroot", chroot_climb)
attempt("wrote through /proc/1/root", lambda: write("/proc/1/root" + HOST + "/proc"))
attempt("remounted / writable", remount_root)
if reached or writable:
    raise ImportError("ESCAPED: " + "; ".join(reached) + " WRITABLE: " + "; ".join(writable))
"""


@pytest.fixture
def listener() -> Iterator[tuple[int, list[str]]]:
    """A TCP server on 127.0.0.1 that records every connection it accepts."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    seen: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, peer = server.accept()
            except TimeoutError:
                continue
            seen.append(str(peer))
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], seen
    stop.set()
    thread.join()
    server.close()


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(root)): (path.lstat().st_size, path.lstat().st_mtime_ns)
        for path in root.rglob("*")
    }


def _probe_layer(tmp_path: Path, host_dir: Path, port: int) -> Path:
    layer = tmp_path / "probe.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(f"{SITE_312}probe.py", PROBE.format(host=str(host_dir), port=port))
    return layer


def _host_dir(tmp_path: Path) -> Path:
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    host_dir.chmod(0o777)  # anyone may write it: only the sandbox can keep the probe out
    return host_dir


def _require(sandbox: str) -> None:
    if shutil.which(PROGRAMS[sandbox]) is None:
        pytest.skip(f"{PROGRAMS[sandbox]} is not installed")
    if sandbox == "unshare" and os.geteuid() != 0:
        pytest.skip("the unshare sandbox needs root")


@pytest.mark.parametrize("sandbox", ["bubblewrap", "unshare", "proot"])
def test_the_probe_reaches_nothing_inside_an_image(x86_image, tmp_path, listener, sandbox):
    _require(sandbox)
    port, connections = listener
    host_dir = _host_dir(tmp_path)
    layer = _probe_layer(tmp_path, host_dir, port)
    before = _snapshot(x86_image)
    layer_bytes = layer.read_bytes()
    report = check_zip(
        layer,
        CheckRequest(
            get_target("python3.12"), imports=ImportOptions(image=x86_image, sandbox=sandbox)
        ),
    )
    assert report.imports_ran_in is not None and sandbox in report.imports_ran_in
    [result] = report.imports
    if sandbox == "proot":
        # proot cannot make a mount read-only: it writes its throw-away copies, nothing else
        assert result.error is None or "ESCAPED:  WRITABLE:" in result.error, result.error
    else:
        assert (result.module, result.error) == ("probe", None)
    assert list(host_dir.iterdir()) == []
    assert connections == []
    assert _snapshot(x86_image) == before
    assert layer.read_bytes() == layer_bytes


@pytest.mark.parametrize("sandbox", ["bubblewrap", "unshare"])
def test_the_probe_reaches_nothing_on_this_machines_libraries(tmp_path, listener, sandbox):
    _require(sandbox)
    interpreter = find_interpreter("3.12")
    if interpreter is None:
        pytest.skip("no CPython 3.12 here")
    port, connections = listener
    host_dir = _host_dir(tmp_path)
    layer = _probe_layer(tmp_path, host_dir, port)
    report = check_zip(
        layer, CheckRequest(get_target("python3.12"), imports=ImportOptions(sandbox=sandbox))
    )
    assert report.imports_ran_in is not None
    assert "this machine's libraries" in report.imports_ran_in
    assert sandbox in report.imports_ran_in
    assert [(result.module, result.error) for result in report.imports] == [("probe", None)]
    assert list(host_dir.iterdir()) == []
    assert connections == []


def test_proot_is_never_used_for_this_machines_own_root(tmp_path):
    if shutil.which("proot") is None:
        pytest.skip("proot is not installed")
    if find_interpreter("3.12") is None:
        pytest.skip("no CPython 3.12 here")
    host_dir = _host_dir(tmp_path)
    layer = _probe_layer(tmp_path, host_dir, 9)
    report = check_zip(
        layer, CheckRequest(get_target("python3.12"), imports=ImportOptions(sandbox="proot"))
    )
    assert report.imports == ()
    assert report.imports_skipped is not None
    assert "proot cannot make this machine's own directories read-only" in report.imports_skipped


def test_without_a_sandbox_the_imports_do_not_run_and_the_report_says_why(tmp_path, monkeypatch):
    interpreter = find_interpreter("3.12")
    if interpreter is None:
        pytest.skip("no CPython 3.12 here")
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))  # no bwrap, unshare or proot to be found
    host_dir = _host_dir(tmp_path)
    layer = _probe_layer(tmp_path, host_dir, 9)
    report = check_zip(
        layer,
        CheckRequest(get_target("python3.12"), imports=ImportOptions(python=interpreter.path)),
    )
    assert report.imports == ()
    assert report.imports_skipped is not None
    assert "no sandbox can confine the layer's code here" in report.imports_skipped
    assert list(host_dir.iterdir()) == []


def test_an_import_that_never_ends_is_a_finding_after_the_deadline(x86_image, tmp_path):
    if shutil.which("bwrap") is None:
        pytest.skip("bwrap is not installed")
    layer = tmp_path / "slow.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(f"{SITE_312}asleep.py", "import time\ntime.sleep(600)\n")
        archive.writestr(f"{SITE_312}quick.py", "X = 1\n")
    report = check_zip(
        layer,
        CheckRequest(get_target("python3.12"), imports=ImportOptions(image=x86_image, deadline=3)),
    )
    results = {result.module: result.error for result in report.imports}
    assert results["quick"] is None
    assert results["asleep"] is not None and "did not finish within 3 s" in results["asleep"]
    assert not report.ok


CPU_PROBE = """\
import os
cpuinfo = open('/proc/cpuinfo').read()
assert {marker!r} in cpuinfo, cpuinfo[:300]
assert cpuinfo.count('processor\\t:') == 2, cpuinfo
assert not os.path.exists('/sys/devices/system/cpu/possible')
"""


@pytest.mark.parametrize("sandbox", ["bubblewrap", "unshare", "proot"])
def test_the_code_sees_lambdas_cpus_and_no_sysfs(x86_image, tmp_path, sandbox):
    """/proc/cpuinfo is Lambda's (two vCPUs, data/lambda_cpus.toml), never this machine's;
    /sys has no CPU lists, as on Lambda (onnxruntime's cpuinfo reads them)."""
    _require(sandbox)
    layer = tmp_path / "cpus.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(
            f"{SITE_312}cpus.py", CPU_PROBE.format(marker="Intel(R) Xeon(R) Processor @ 2.50GHz")
        )
    report = check_zip(
        layer,
        CheckRequest(
            get_target("python3.12"), imports=ImportOptions(image=x86_image, sandbox=sandbox)
        ),
    )
    assert [(result.module, result.error) for result in report.imports] == [("cpus", None)]


def test_arm64_code_under_qemu_sees_gravitons_cpus(aarch64_pythons, tmp_path, monkeypatch):
    """Under qemu-user an aarch64 program read this machine's x86_64 /proc/cpuinfo."""
    _require("bubblewrap")
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(aarch64_pythons))
    layer = tmp_path / "cpus.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(
            "python/lib/python3.11/site-packages/cpus.py",
            CPU_PROBE.format(marker="CPU part\t: 0xd0c"),
        )
    report = check_zip(
        layer, CheckRequest(get_target("python3.11", "arm64")), cache_dir=tmp_path / "cache"
    )
    assert report.imports_skipped is None, report.imports_skipped
    assert [(result.module, result.error) for result in report.imports] == [("cpus", None)]
