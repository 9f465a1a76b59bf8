"""Hostile input, class by class: one ``error:`` line, no traceback, nothing touched outside.

Every input here is made by the test (zips, ELF files, locks, configs, an index), small,
and hostile in one way. :func:`hostile` runs the command with ``HOME`` and ``TMPDIR``
inside the test's directory and asserts what the promise says: a non-zero exit, exactly
one ``error:`` line (plus an optional ``hint:``), no traceback, and no file outside the
output and the cache created, changed or removed. Bombs run in a child process whose
address space is capped, and its peak memory is asserted.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import resource
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import warnings
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cliutil import run_cli
from indexserver import LocalIndex
from wheelmaker import make_wheel

from lambdalayer.interpreters import find_interpreter

SITE_312 = "python/lib/python3.12/site-packages/"
MIB = 1024 * 1024


def _tree(root: Path, skip: tuple[Path, ...]) -> dict[str, tuple[int, int, str]]:
    """Every path under ``root`` but ``skip``: (mode, size, sha256 of a file's bytes)."""
    found: dict[str, tuple[int, int, str]] = {}
    for path in root.rglob("*"):
        if any(path == place or place in path.parents for place in skip):
            continue
        info = path.lstat()
        digest = ""
        if path.is_file() and not path.is_symlink():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        found[str(path.relative_to(root))] = (info.st_mode, info.st_size, digest)
    return found


@pytest.fixture
def sandbox_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and TMPDIR inside the test's directory, so a stray write is seen."""
    home = tmp_path / "home"
    (home / "tmp").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TMPDIR", str(home / "tmp"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    return home


def hostile(
    capsys: pytest.CaptureFixture[str], root: Path, *args: str, allowed: tuple[Path, ...] = ()
) -> str:
    """Run ``lambdalayer ARGS``; assert the promise for bad input; return the error line."""
    before = _tree(root, allowed)
    code, _out, err = run_cli(capsys, *args)
    after = _tree(root, allowed)
    assert code != 0, err
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    assert not changed, f"changed outside the output and the cache: {sorted(changed)}"
    return errors[0]


# 2. a lock whose hash or file name would be a path ------------------------------------


def _lock(tmp_path: Path, *, sha256: str, name: str = "six-1.17.0-py2.py3-none-any.whl") -> Path:
    lock = tmp_path / "pylock.toml"
    lock.write_text(
        'lock-version = "1.0"\ncreated-by = "test"\n\n[[packages]]\nname = "six"\nversion = "1.17.0"\n'
        f'wheels = [{{ name = "{name}", url = "http://127.0.0.1:9/files/{name}",'
        f' hashes = {{ sha256 = "{sha256}" }} }}]\n'
    )
    return lock


@pytest.mark.parametrize(
    ("sha256", "name"),
    [
        ("../../../../victim", "six-1.17.0-py2.py3-none-any.whl"),
        ("a" * 63, "six-1.17.0-py2.py3-none-any.whl"),
        ("a" * 64, "../../../victim-1.0-py3-none-any.whl"),
        ("a" * 64, "victim.txt"),
    ],
)
def test_a_lock_cannot_name_a_path_outside_the_cache(tmp_path, sandbox_home, capsys, sha256, name):
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    cache = tmp_path / "cache"
    lock = _lock(tmp_path, sha256=sha256, name=name)
    line = hostile(
        capsys,
        tmp_path,
        "build",
        "--from-lock",
        str(lock),
        "--runtime",
        "python3.12",
        "--bytecode",
        "none",
        "--cache-dir",
        str(cache),
        "-o",
        str(tmp_path / "o.zip"),
        allowed=(cache,),
    )
    assert "lock entry for six" in line or "not a valid PEP 751 lock" in line
    assert victim.read_text() == "keep me"
    assert not (tmp_path / "o.zip").exists()


# 3. credentials never on disk; a private index's files get them -----------------------


def test_index_credentials_reach_the_files_and_never_the_disk(
    local_index, tmp_path, sandbox_home, capsys
):
    local_index.authorization = "Basic dXNlcjpzM2NyZXQ="  # user:s3cret
    try:
        host = local_index.url.removeprefix("http://")
        cache, out, lock = tmp_path / "cache", tmp_path / "layer.zip", tmp_path / "pylock.toml"
        args = [
            "build",
            "alpha",
            "--runtime",
            "python3.12",
            "--bytecode",
            "none",
            "--index-url",
            f"http://user:s3cret@{host}",
            "--cache-dir",
            str(cache),
            "-o",
            str(out),
            "--lock",
            str(lock),
        ]
        code, _, err = run_cli(capsys, *args)
        assert code == 0, err
        code, _, err = run_cli(capsys, *args)  # the cached resolution checks its pages again
        assert code == 0, err
    finally:
        local_index.authorization = None
    assert any(path.endswith(".whl") for path in local_index.downloads())
    for path in [*cache.rglob("*"), lock, *sandbox_home.rglob("*")]:
        if path.is_file():
            assert b"s3cret" not in path.read_bytes(), path
    assert (cache / "resolutions").stat().st_mode & 0o077 == 0


# 9. uv's own cache lives inside ours ---------------------------------------------------


def test_uv_writes_nothing_outside_our_cache(
    local_index, tmp_path, sandbox_home, capsys, monkeypatch
):
    monkeypatch.delenv("UV_CACHE_DIR", raising=False)
    cache = tmp_path / "cache"
    code, _, err = run_cli(
        capsys,
        "build",
        "alpha",
        "--runtime",
        "python3.12",
        "--bytecode",
        "none",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(cache),
        "-o",
        str(tmp_path / "l.zip"),
    )
    assert code == 0, err
    written = [path for path in sandbox_home.rglob("*") if path.is_file()]
    assert written == []
    assert any((cache / "uv").iterdir())


# helpers for the bombs: a child process with a capped address space ------------------


# The child reports its own peak (VmHWM): RUSAGE_CHILDREN would be the maximum over every
# child this test process ever had (an image build's, a browser's), and the child's
# ru_maxrss keeps the size of the test process it was forked from (Linux carries it across
# execve).
_CAPPED = """
import sys
from lambdalayer.cli.main import main
code = 1
try:
    code = main(sys.argv[1:])
finally:
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    sys.stderr.write(f"peak-rss-kib {peak}\\n")
sys.exit(code)
"""


def run_capped(args: list[str], cwd: Path, limit_bytes: int = 2048 * MIB) -> tuple[int, str, int]:
    """``lambdalayer ARGS`` in a child with its address space capped: (exit code, stderr, its peak RSS bytes)."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    completed = subprocess.run(
        [sys.executable, "-c", _CAPPED, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        preexec_fn=cap,
        env={**os.environ, "TMPDIR": str(cwd)},
        timeout=300,
        check=False,
    )
    lines = completed.stderr.splitlines()
    peaks = [int(line.split()[1]) for line in lines if line.startswith("peak-rss-kib ")]
    err = "\n".join(line for line in lines if not line.startswith("peak-rss-kib "))
    return completed.returncode, err, (peaks[-1] if peaks else 0) * 1024


def _json_lines(text: str) -> list[object]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


# 5. a hostile ELF file: bounded, never a hang or a traceback ---------------------------

SAMPLES = Path(__file__).parent / "fixtures" / "binaries"


def _sample_objects() -> list[bytes]:
    return [
        path.read_bytes()
        for path in sorted(SAMPLES.rglob("*.so*"))
        if path.read_bytes()[:4] == b"\x7fELF" and path.stat().st_size > 64
    ]


def _section_headers(data: bytes) -> list[tuple[int, int, int, int, int]]:
    """(header offset, sh_type, sh_offset, sh_size, sh_info) of a 64-bit little-endian ELF."""
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    found = []
    for index in range(shnum):
        at = shoff + index * shentsize
        _name, kind, _flags, _addr, offset, size, _link, info = struct.unpack_from(
            "<IIQQQQII", data, at
        )
        found.append((at, kind, offset, size, info))
    return found


SHT_GNU_VERNEED = 0x6FFFFFFE


def test_a_version_count_of_billions_is_unreadable_elf_at_once():
    from lambdalayer.elf import read_elf

    data = bytearray(SAMPLES.joinpath("needs_glibcxx_3_4_29.so").read_bytes())
    verneed = [header for header in _section_headers(bytes(data)) if header[1] == SHT_GNU_VERNEED]
    assert verneed, "the sample has a .gnu.version_r section"
    at = verneed[0][0]
    struct.pack_into("<I", data, at + 44, 3_400_000_000)  # sh_info: the number of entries
    started = time.perf_counter()
    with pytest.raises(ValueError, match="unreadable ELF"):
        read_elf(bytes(data))
    assert time.perf_counter() - started < 5


def test_a_section_far_past_the_end_is_unreadable_elf():
    from lambdalayer.elf import read_elf

    data = bytearray(SAMPLES.joinpath("needs_glibcxx_3_4_29.so").read_bytes())
    at = _section_headers(bytes(data))[1][0]
    struct.pack_into("<QQ", data, at + 24, 1 << 60, 1 << 40)  # sh_offset, sh_size
    with pytest.raises(ValueError, match="unreadable ELF"):
        read_elf(bytes(data))


def test_mutated_elf_files_are_read_or_refused_never_a_crash_or_a_hang():
    """A bounded fuzz (seeded, so a failure repeats): byte flips, 64-bit fields set to extremes, cuts."""
    from lambdalayer.elf import read_elf

    samples = _sample_objects()
    assert samples
    generator = random.Random(20261202)  # noqa: S311 - a seeded fuzz, not cryptography
    deadline = time.perf_counter() + 20
    tried = 0
    while time.perf_counter() < deadline and tried < 3000:
        data = bytearray(generator.choice(samples))
        for _ in range(generator.randint(1, 8)):
            kind = generator.random()
            at = generator.randrange(len(data) - 8)
            if kind < 0.5:
                data[at] = generator.randrange(256)
            elif kind < 0.8:
                struct.pack_into(
                    "<Q", data, at, generator.choice([0, 1, 2**31, 2**32 - 1, 2**63, 2**64 - 1])
                )
            else:
                del data[generator.randrange(64, len(data)) :]
                break
        started = time.perf_counter()
        try:
            info = read_elf(bytes(data))
        except ValueError:
            info = None
        assert time.perf_counter() - started < 5, f"case {tried} took too long"
        assert info is None or isinstance(info.machine, str)
        tried += 1
    assert tried >= 200


# 4, 5 and 8. hostile zips: each a finding or one error line, nothing extracted --------


def failed_check(capsys: pytest.CaptureFixture[str], root: Path, *args: str) -> str:
    """``lambdalayer check ...`` of a hostile zip: exit 1, a FAILED report or one error line, nothing changed."""
    cache = root / "cache"  # the synthesized root of the import check may be made there
    before = _tree(root, (cache,))
    code, out, err = run_cli(capsys, "check", *args, "--cache-dir", str(cache))
    assert _tree(root, (cache,)) == before
    assert code == 1, out + err
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert "check FAILED" in out or len(errors) == 1, out + err
    assert "\x1b" not in out + err
    return out + err


def _plain_layer(path: Path, members: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _patch_all(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data
    return data.replace(old, new)


def _patched_headers(path: Path, field: str, value: int) -> None:
    """Set one field of every local and central header (method, flags, crc) to ``value``."""
    data = bytearray(path.read_bytes())
    local = {"flags": 6, "method": 8, "crc": 14}[field]
    central = {"flags": 8, "method": 10, "crc": 16}[field]
    width = "<I" if field == "crc" else "<H"
    for signature, offset in ((b"PK\x03\x04", local), (b"PK\x01\x02", central)):
        at = data.find(signature)
        while at != -1:
            struct.pack_into(width, data, at + offset, value)
            at = data.find(signature, at + 4)
    path.write_bytes(bytes(data))


MODULE = f"{SITE_312}mod.py"


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("bad-crc", "CRC"),
        ("corrupt-deflate", "cannot be"),
        ("method-9", "compression method 9"),
        ("method-99", "compression method 99"),
        ("encrypted", "encrypted"),
        ("name-mismatch", "cannot be"),
        ("non-utf8-name", "not a readable zip"),
        ("empty-name", "is empty"),
        ("long-name", "longer than a Linux path"),
        ("escape-codes", "control character"),
        ("file-and-directory", "a file where other members need a directory"),
        ("duplicate", "appears 2 times"),
        ("bad-wheel-tag", "not a readable zip"),
        ("not-a-zip", "not a readable zip"),
    ],
)
def test_a_hostile_zip_is_a_finding_or_one_error(  # noqa: PLR0912 - a branch per hostile case
    tmp_path, sandbox_home, capsys, case, expected
):
    layer = tmp_path / "hostile.zip"
    body = "X = 1\n" * 50
    if case in {
        "bad-crc",
        "corrupt-deflate",
        "method-9",
        "method-99",
        "encrypted",
        "name-mismatch",
    }:
        _plain_layer(layer, {MODULE: body})
        if case == "bad-crc":
            _patched_headers(layer, "crc", 0x12345678)
        elif case == "corrupt-deflate":
            data = bytearray(layer.read_bytes())
            start = 30 + len(MODULE)
            data[start : start + 8] = b"\xff" * 8
            layer.write_bytes(bytes(data))
        elif case.startswith("method-"):
            _patched_headers(layer, "method", int(case.split("-")[1]))
        elif case == "encrypted":
            _patched_headers(layer, "flags", 0x1)
        else:
            data = layer.read_bytes()
            at = data.find(MODULE.encode())
            layer.write_bytes(
                data[:at] + MODULE.replace("mod", "xyz").encode() + data[at + len(MODULE) :]
            )
    elif case == "non-utf8-name":
        _plain_layer(layer, {f"{SITE_312}n\u00e9.py": body})
        layer.write_bytes(_patch_all(layer.read_bytes(), "n\u00e9".encode(), b"n\xff"))
        _patched_headers(layer, "flags", 0x800)
    elif case == "empty-name":
        _plain_layer(layer, {MODULE: body, "placeholder": "x"})
        layer.write_bytes(_patch_all(layer.read_bytes(), b"placeholder", b"/" + b"\0" * 10))
    elif case == "long-name":
        _plain_layer(layer, {MODULE: body, f"{SITE_312}{'x' * 300}.py": body})
    elif case == "escape-codes":
        _plain_layer(layer, {MODULE: body, f"{SITE_312}\x1b[2J\x1b]0;owned\x07.py": body})
    elif case == "file-and-directory":
        _plain_layer(
            layer, {MODULE: body, f"{SITE_312}pkg": "x", f"{SITE_312}pkg/__init__.py": body}
        )
    elif case == "duplicate":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _plain_layer(layer, {MODULE: body})
            with zipfile.ZipFile(layer, "a") as archive:
                archive.writestr(MODULE, "import os\n")
    elif case == "bad-wheel-tag":
        _plain_layer(
            layer,
            {MODULE: body, f"{SITE_312}mod-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nTag: ???\n"},
        )
        expected = "not wheel tags"
    else:
        layer.write_bytes(b"PK\x05\x06" + b"\xff" * 18)
    text = (
        failed_check(capsys, tmp_path, str(layer), "--runtime", "python3.12")
        if case != "bad-wheel-tag"
        else None
    )
    if text is None:
        _code, out, err = run_cli(capsys, "check", str(layer), "--runtime", "python3.12")
        assert "Traceback" not in out + err
        text = out + err
    assert expected in text, text


def test_a_requirements_file_that_never_ends_is_refused_after_a_bounded_read(
    tmp_path, sandbox_home, capsys
):
    line = hostile(
        capsys,
        tmp_path,
        "build",
        "-r",
        "/dev/zero",
        "--runtime",
        "python3.12",
        "--cache-dir",
        str(tmp_path / "cache"),
        "-o",
        str(tmp_path / "o.zip"),
        allowed=(tmp_path / "cache",),
    )
    assert "is not a regular file" in line


def _bomb(path: Path, name: str, size: int, head: bytes = b"") -> Path:
    """A zip with ``size`` bytes of (mostly) zeros in one deflated member: small on disk."""
    chunk = bytes(1 << 20)
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with (
        zipfile.ZipFile(path, "w", compresslevel=1) as archive,
        archive.open(info, "w", force_zip64=True) as out,
    ):
        out.write(head)
        written = len(head)
        while written < size:
            out.write(chunk[: size - written])
            written += len(chunk)
    return path


@pytest.mark.parametrize(
    ("member", "size", "head"),
    [
        (f"{SITE_312}huge.py", 1024 * MIB, b"X = 1\n#"),
        (
            f"{SITE_312}mod-1.0.dist-info/METADATA",
            1024 * MIB,
            b"Metadata-Version: 2.1\nName: mod\n",
        ),
        (f"{SITE_312}evil.pth", 1024 * MIB, b"import os\n"),
        (f"{SITE_312}fake.so", 40 * MIB, b"\x7fELF\x02\x01\x01"),
    ],
)
def test_a_bomb_is_refused_with_bounded_memory_and_nothing_extracted(tmp_path, member, size, head):
    layer = _bomb(tmp_path / "bomb.zip", member, size, head)
    assert layer.stat().st_size < 8 * MIB
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    code, err, peak = run_capped(["check", str(layer), "--runtime", "python3.12"], scratch)
    assert "Traceback" not in err, err
    assert peak < 600 * MIB, f"peak RSS {peak / MIB:.0f} MiB"
    assert list(scratch.iterdir()) == []  # nothing extracted to TMPDIR, nothing left
    if size > 262_144_000:
        assert code == 1


# 7. signals and stalls ------------------------------------------------------------------


def test_sigterm_during_the_check_exits_143_and_leaves_nothing(tmp_path):
    if shutil.which("bwrap") is None or find_interpreter("3.12") is None:
        pytest.skip("needs bubblewrap and a CPython 3.12 for the import check")
    index_root = tmp_path / "index"
    index_root.mkdir()
    make_wheel(index_root, "sleepy", "1.0", files={"sleepy.py": "import time\ntime.sleep(120)\n"})
    scratch, cache, out = tmp_path / "scratch", tmp_path / "cache", tmp_path / "out"
    scratch.mkdir()
    out.mkdir()
    (out / "layer.zip").write_bytes(b"the previous layer")
    with LocalIndex(index_root) as index:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lambdalayer",
                "build",
                "sleepy",
                "--runtime",
                "python3.12",
                "--bytecode",
                "none",
                "--index-url",
                index.url,
                "--cache-dir",
                str(cache),
                "-o",
                str(out / "layer.zip"),
            ],
            env={**os.environ, "TMPDIR": str(scratch)},
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while (
            not list((cache / "tmp").glob("lambdalayer-import-*")) and time.monotonic() < deadline
        ):
            time.sleep(0.2)  # until the import check has started
        time.sleep(1)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        "error: terminated (SIGTERM); nothing was left half-written"
    ]
    assert sorted(path.name for path in out.iterdir()) == ["layer.zip"]
    assert (out / "layer.zip").read_bytes() == b"the previous layer"
    assert list(scratch.iterdir()) == []
    assert list((cache / "tmp").iterdir()) == []


def test_an_index_that_trickles_is_given_up_at_the_deadline(monkeypatch):
    from lambdalayer.errors import FetchError
    from lambdalayer.net import http

    class Trickle(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            with contextlib.suppress(OSError):
                for _ in range(1000):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)

    monkeypatch.setattr(http, "MIN_DEADLINE_SECONDS", 1.0)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        with pytest.raises(FetchError, match="too slow"):
            http.download_to(
                f"http://127.0.0.1:{server.server_address[1]}/a.whl", io.BytesIO(), lambda _c: None
            )
        assert time.monotonic() - started < 10
    finally:
        server.shutdown()
        server.server_close()


# 6 and 8. configurations, project files, outputs ---------------------------------------

CONFIG_SHAPES = [
    "layout = 5",
    "bytecode = true",
    'layers = "str"',
    "layers = { core = 5 }",
    "[function]\nsource = 5",
    '[function]\nsource = "src"\nhandler = 5',
    "output-dir = 5",
    "index-url = 5",
    "[layers.core]\non-top-of = 5",
    'layout = "bogus"',
    'bytecode = "fast"',
    "runtime = 5",
    "arch = [5]",
    '[layers."../../../../tmp/x"]\nrequirements = ["six"]',
    '[layers."/tmp/x"]\nrequirements = ["six"]',
    "x = " + "[" * 3000 + "]" * 3000,
]


@pytest.mark.parametrize("body", CONFIG_SHAPES, ids=range(len(CONFIG_SHAPES)))
def test_every_config_shape_is_one_error_naming_the_key(tmp_path, sandbox_home, capsys, body):
    project = tmp_path / "project"
    project.mkdir()
    (project / "lambdalayer.toml").write_text(body + "\n")
    line = hostile(
        capsys,
        tmp_path,
        "build",
        "--project",
        str(project),
        "--runtime",
        "python3.12",
        "--cache-dir",
        str(tmp_path / "cache"),
        allowed=(tmp_path / "cache",),
    )
    assert "lambdalayer.toml" in line


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("lambdalayer.toml", b"runtime = '\xff\xfe'\n"),
        ("requirements.txt", b"six\xff\n"),
        ("pyproject.toml", b"[project]\nname = 'x'\ndependencies = [5]\n"),
        ("pyproject.toml", b"[project]\nname = 'x'\ndependencies = 'six'\n"),
        ("pyproject.toml", b"tool = 'x'\n[project]\nname = 'x'\n"),
        ("poetry.lock", b"[[package]]\nname = 5\n"),
        ("pylock.toml", b"\xff\xfe not text"),
    ],
)
def test_a_project_file_of_the_wrong_shape_is_one_error(
    tmp_path, sandbox_home, capsys, name, content
):
    project = tmp_path / "project"
    project.mkdir()
    (project / name).write_bytes(content)
    args = [
        "build",
        "--runtime",
        "python3.12",
        "--cache-dir",
        str(tmp_path / "cache"),
        "-o",
        str(tmp_path / "o.zip"),
    ]
    if name == "requirements.txt":
        args += ["-r", str(project / name)]
    else:
        args += ["--project", str(project)]
    line = hostile(capsys, tmp_path, *args, allowed=(tmp_path / "cache",))
    assert name in line or "tool" in line


def test_a_symlinked_python_directory_in_a_tree_output_is_refused_and_nothing_deleted(
    local_index, tmp_path, sandbox_home, capsys
):
    cache, out = tmp_path / "cache", tmp_path / "tree"
    args = [
        "build",
        "alpha",
        "--runtime",
        "python3.12",
        "--bytecode",
        "none",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(cache),
        "-o",
        f"{out}/",
    ]
    code, _, err = run_cli(capsys, *args)
    assert code == 0, err
    elsewhere = tmp_path / "elsewhere"
    shutil.move(out / "python", elsewhere)
    (out / "python").symlink_to(elsewhere)
    before = sorted(str(path.relative_to(elsewhere)) for path in elsewhere.rglob("*"))
    line = hostile(capsys, tmp_path, *args, allowed=(cache,))
    assert "is a symbolic link" in line
    assert sorted(str(path.relative_to(elsewhere)) for path in elsewhere.rglob("*")) == before


def test_an_unwritable_report_is_found_before_the_layer_is_replaced(
    local_index, tmp_path, sandbox_home, capsys
):
    cache, out = tmp_path / "cache", tmp_path / "layer.zip"
    out.write_bytes(b"the previous layer")
    line = hostile(
        capsys,
        tmp_path,
        "build",
        "alpha",
        "--runtime",
        "python3.12",
        "--bytecode",
        "none",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(cache),
        "-o",
        str(out),
        "--report",
        "/proc/nope/r.html",
        allowed=(cache,),
    )
    assert "/proc/nope" in line
    assert out.read_bytes() == b"the previous layer"


def test_a_read_only_cache_is_one_error(local_index, tmp_path, sandbox_home, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes through a read-only mode; the full filesystem case covers it")
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o500)
    line = hostile(
        capsys,
        tmp_path,
        "build",
        "alpha",
        "--runtime",
        "python3.12",
        "--bytecode",
        "none",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(cache),
        "-o",
        str(tmp_path / "o.zip"),
    )
    assert str(cache) in line


@pytest.mark.parametrize("full", ["cache", "output"])
def test_a_full_filesystem_is_one_error(local_index, tmp_path, sandbox_home, capsys, full):
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)], check=False
    ).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        with contextlib.suppress(OSError), (small / "filler").open("wb") as filler:
            while True:  # until the filesystem is full
                filler.write(bytes(4096))
                filler.flush()
        cache = small / "cache" if full == "cache" else tmp_path / "cache"
        out = small / "o.zip" if full == "output" else tmp_path / "o.zip"
        args = [
            "build",
            "alpha",
            "nativepkg",
            "--runtime",
            "python3.12",
            "--bytecode",
            "none",
            "--index-url",
            local_index.url,
            "--cache-dir",
            str(cache),
            "-o",
            str(out),
        ]
        line = hostile(capsys, tmp_path, *args, allowed=(cache, small))
        assert "No space left on device" in line or "cannot write" in line
        assert not out.exists()
    finally:
        subprocess.run(["umount", str(small)], check=False)
