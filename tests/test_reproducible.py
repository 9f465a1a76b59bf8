"""The same layer bytes on any machine: the compressor is pinned and gives the same bytes on
every CPU (checked under qemu-user with the aarch64 build of it)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest
from elfsamples import compile_shared_object

from lambdalayer.layer.archive import compress

needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-aarch64-static") is None, reason="qemu-user-static is not installed"
)
DEFLATE_RELEASE = "0.9.0"  # pyproject.toml pins this release


def _members(tmp_path: Path) -> list[bytes]:
    """Data of every kind a layer holds: code, bytecode-like binary, an ELF file, text, noise."""
    generator = random.Random(1234)  # noqa: S311 - test data, not secrets
    source = "".join(
        f"def f{n}(x):\n    return x * {n} + {generator.random()}\n" for n in range(2000)
    )
    elf = compile_shared_object("int answer(void) { return 42; }\n", tmp_path / "m.so")
    pyc = bytes(generator.randrange(64) for _ in range(200_000))
    return [source.encode(), elf, pyc, b"\0" * 300_000, os.urandom(0) + b"text " * 40_000]


def _aarch64_wheel(directory: Path) -> Path:
    """The aarch64 abi3 wheel of the pinned deflate release, from the public index (sha256-checked)."""
    request = urllib.request.Request(
        "https://pypi.org/simple/deflate/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        files = json.load(response)["files"]
    suffix = "abi3-manylinux2014_aarch64.manylinux_2_17_aarch64.manylinux_2_28_aarch64.whl"
    [wanted] = [
        item for item in files if item["filename"] == f"deflate-{DEFLATE_RELEASE}-cp311-{suffix}"
    ]
    with urllib.request.urlopen(wanted["url"], timeout=120) as response:
        data = response.read()
    assert hashlib.sha256(data).hexdigest() == wanted["hashes"]["sha256"]
    path = directory / wanted["filename"]
    path.write_bytes(data)
    with zipfile.ZipFile(path) as archive:
        archive.extractall(directory / "site")
    return directory / "site"


@needs_qemu
@pytest.mark.network
def test_the_compressor_gives_the_same_bytes_on_x86_64_and_under_qemu_aarch64(arm_image, tmp_path):
    members = _members(tmp_path)
    (tmp_path / "members.json").write_text(json.dumps([data.hex() for data in members]))
    site = _aarch64_wheel(tmp_path)
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import deflate\n"
        "members = [bytes.fromhex(h) for h in json.load(open(sys.argv[2]))]\n"
        "import platform; print(platform.machine())\n"
        "print(json.dumps([bytes(deflate.deflate_compress(m, 6)).hex() for m in members]))\n"
    )
    completed = subprocess.run(
        [
            shutil.which("qemu-aarch64-static") or "",
            "-L",
            str(arm_image),
            str(arm_image / "usr/bin/python3.11"),
            "-I",
            "-S",
            "-c",
            script,
            str(site),
            str(tmp_path / "members.json"),
        ],
        env={"PYTHONHOME": str(arm_image / "usr"), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    machine, compressed = completed.stdout.splitlines()
    assert machine == "aarch64"
    under_qemu = [bytes.fromhex(item) for item in json.loads(compressed)]
    native = [compress(data) for data in members]
    assert native == under_qemu
    assert sys.platform == "linux" and len(native) == len(members)
