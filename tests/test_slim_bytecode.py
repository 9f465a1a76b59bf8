"""Slimming rules and target bytecode, on wheels from the local index and gcc-built ELF."""

from __future__ import annotations

import ctypes
import subprocess
import zipfile
from pathlib import Path

import pytest
from cliutil import run_json
from conftest import HOST_MACHINE
from elfsamples import compile_shared_object
from indexserver import LocalIndex

from lambdalayer.cli.main import main
from lambdalayer.elf import read_elf
from lambdalayer.errors import InputError
from lambdalayer.interpreters import find_interpreter
from lambdalayer.layer.archive import Entry
from lambdalayer.layer.slim import glob_regex, slim, strip_entries
from lambdalayer.recipe import SlimOptions
from lambdalayer.targets import get_target

SITE_311 = "python/lib/python3.11/site-packages/"
SITE_312 = "python/lib/python3.12/site-packages/"
needs_311 = pytest.mark.skipif(find_interpreter("3.11") is None, reason="no CPython 3.11 here")
needs_312 = pytest.mark.skipif(find_interpreter("3.12") is None, reason="no CPython 3.12 here")


def build(
    capsys: pytest.CaptureFixture[str], index: LocalIndex, cache: Path, out: Path, *args: str
) -> dict[str, object]:
    result: dict[str, object] = run_json(
        capsys,
        "build",
        "--index-url",
        index.url,
        "--cache-dir",
        str(cache),
        "-o",
        str(out),
        "--json",
        *args,
    )
    return result


def names(layer: Path) -> set[str]:
    with zipfile.ZipFile(layer) as archive:
        return set(archive.namelist())


def magic_of(version: str) -> bytes:
    interpreter = find_interpreter(version)
    assert interpreter is not None
    completed = subprocess.run(
        [
            str(interpreter.path),
            "-c",
            "import importlib.util, sys; sys.stdout.write(importlib.util.MAGIC_NUMBER.hex())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return bytes.fromhex(completed.stdout)


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("**/*.pyi", "pkg/sub/mod.pyi", True),
        ("**/*.pyi", "mod.pyi", True),
        ("pkg/*.txt", "pkg/sub/a.txt", False),
        ("pkg/**", "pkg/sub/a.txt", True),
        ("**/__pycache__/**", "pkg/__pycache__/m.cpython-311.pyc", True),
    ],
)
def test_globs(pattern, path, matches):
    assert bool(glob_regex(pattern).match(path)) is matches


@needs_311
def test_default_build_slims_and_compiles_unchecked_hash_bytecode(
    local_index, cache_dir, tmp_path, capsys
):
    out = tmp_path / "layer.zip"
    result = build(capsys, local_index, cache_dir, out, "fatpkg", "--runtime", "python3.11")
    present = names(out)
    pkg = f"{SITE_311}fatpkg/"
    for gone in (
        "core.pyi",
        "py.typed",
        "_speedups.c",
        "include/fat.h",
        "tests/test_core.py",
        "examples/README.rst",
        "__pycache__/core.cpython-39.pyc",
    ):
        assert pkg + gone not in present, gone
    for kept in ("__init__.py", "core.py", "docs/__init__.py", "py2only.py"):
        assert pkg + kept in present, kept
    assert f"{SITE_311}fatpkg-1.0.dist-info/METADATA" in present
    saved = result["slim_saved_bytes"]
    assert isinstance(saved, dict) and {
        "tests",
        "c-sources",
        "type-stubs",
        "docs",
        "wheel-bytecode",
    } <= set(saved)
    # bytecode: PEP 552 unchecked-hash (flags == 1) with the target interpreter's magic number
    with zipfile.ZipFile(out) as archive:
        pyc = archive.read(f"{pkg}__pycache__/core.cpython-311.pyc")
    assert pyc[:4] == magic_of("3.11")
    assert int.from_bytes(pyc[4:8], "little") == 1
    assert (
        f"{pkg}__pycache__/py2only.cpython-311.pyc" not in present
    )  # does not compile: left as source
    report = result["check"]
    assert isinstance(report, dict) and report["ok"] is True


@needs_312
def test_bytecode_is_compiled_by_the_targets_python_not_the_hosts(
    local_index, cache_dir, tmp_path, capsys
):
    out = tmp_path / "layer.zip"
    build(capsys, local_index, cache_dir, out, "beta==1.0", "--runtime", "python3.12")
    with zipfile.ZipFile(out) as archive:
        pyc = archive.read(f"{SITE_312}beta/__pycache__/__init__.cpython-312.pyc")
    assert pyc[:4] == magic_of("3.12")


@needs_311
def test_sourceless_layer_imports(local_index, cache_dir, tmp_path, capsys):
    out = tmp_path / "layer.zip"
    result = build(
        capsys,
        local_index,
        cache_dir,
        out,
        "alpha",
        "--runtime",
        "python3.11",
        "--bytecode",
        "only",
    )
    present = names(out)
    assert f"{SITE_311}alpha/__init__.pyc" in present
    assert f"{SITE_311}alpha/__init__.py" not in present
    report = result["check"]
    assert (
        isinstance(report, dict)
        and report["ok"]
        and [i["ok"] for i in report["imports"]] == [True, True]
    )


def test_bytecode_none_and_no_slim(local_index, cache_dir, tmp_path, capsys):
    out = tmp_path / "layer.zip"
    result = build(
        capsys,
        local_index,
        cache_dir,
        out,
        "fatpkg",
        "--runtime",
        "python3.11",
        "--bytecode",
        "none",
        "--no-slim",
    )
    present = names(out)
    assert not [name for name in present if name.endswith(".pyc") and "cpython-39" not in name]
    assert f"{SITE_311}fatpkg/tests/test_core.py" in present
    assert result["slim_saved_bytes"] == {}


def test_keep_drop_and_skip_rule(local_index, cache_dir, tmp_path, capsys):
    out = tmp_path / "layer.zip"
    build(
        capsys,
        local_index,
        cache_dir,
        out,
        "fatpkg",
        "--runtime",
        "python3.11",
        "--bytecode",
        "none",
        "--keep",
        "fatpkg/tests/**",
        "--skip-rule",
        "type-stubs",
        "--drop",
        "fatpkg/py2only.py",
        "--drop",
        "**",
    )
    present = names(out)
    assert f"{SITE_311}fatpkg/tests/test_core.py" in present
    assert f"{SITE_311}fatpkg/core.pyi" not in present  # '--drop **' takes it now
    assert f"{SITE_311}fatpkg/py2only.py" not in present
    assert f"{SITE_311}fatpkg-1.0.dist-info/METADATA" in present  # protected from any rule


def test_unknown_rule_is_an_error():
    with pytest.raises(InputError, match="unknown slimming rule nope"):
        slim([], SlimOptions(skip_rules=frozenset({"nope"})))


def test_python_of_the_wrong_version_is_refused(local_index, cache_dir, tmp_path, capsys):
    interpreter = find_interpreter("3.11")
    if interpreter is None:
        pytest.skip("no CPython 3.11 here")
    code = main(
        [
            "build",
            "--index-url",
            local_index.url,
            "--cache-dir",
            str(cache_dir),
            "-o",
            str(tmp_path / "l.zip"),
            "beta",
            "--runtime",
            "python3.12",
            "--python",
            str(interpreter.path),
        ]
    )
    assert code == 1
    assert "is CPython 3.11; python3.12 needs 3.12" in capsys.readouterr().err


@needs_311
def test_rebuild_with_bytecode_is_byte_identical(local_index, cache_dir, tmp_path, capsys):
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    build(capsys, local_index, cache_dir, first, "fatpkg", "alpha", "--runtime", "python3.11")
    build(capsys, local_index, cache_dir, second, "fatpkg", "alpha", "--runtime", "python3.11")
    assert first.read_bytes() == second.read_bytes()


@pytest.mark.skipif(HOST_MACHINE != "x86_64", reason="gcc here builds for the host CPU")
def test_strip_shrinks_shared_objects_that_still_load_and_spares_vendored_libs(tmp_path):
    debug = compile_shared_object("int answer(void) { return 42; }\n", tmp_path / "debug.so")
    rebuilt = subprocess.run(
        ["gcc", "-g", "-shared", "-fPIC", "-o", str(tmp_path / "g.so"), str(tmp_path / "debug.c")],
        check=True,
    )
    assert rebuilt.returncode == 0
    with_debug = (tmp_path / "g.so").read_bytes()
    entries = [
        Entry(f"{SITE_311}pkg/_impl.so", 0o755, data=with_debug),
        Entry(f"{SITE_311}pkg.libs/libvendored.so", 0o755, data=with_debug),
        Entry(f"{SITE_311}pkg/__init__.py", data=b""),
    ]
    result = strip_entries(entries, get_target("python3.11"))
    by_name = {entry.arcname: entry for entry in result.entries}
    stripped = by_name[f"{SITE_311}pkg/_impl.so"].data or b""
    assert len(stripped) < len(with_debug)
    assert result.saved_by_origin[None] == len(with_debug) - len(stripped)
    assert by_name[f"{SITE_311}pkg.libs/libvendored.so"].data == with_debug
    assert read_elf(stripped).machine == "x86_64"
    (tmp_path / "stripped.so").write_bytes(stripped)
    assert ctypes.CDLL(str(tmp_path / "stripped.so")).answer() == 42
    assert len(debug) > 0


@pytest.mark.skipif(HOST_MACHINE != "x86_64", reason="gcc here builds the test .so for x86_64")
def test_the_same_lock_gives_the_same_bytes_whatever_strip_is_on_the_path(
    local_index, tmp_path, capsys, monkeypatch
):
    """lambdalayer strips with its own code: a strip program on PATH (a broken one, or none)
    changes nothing, and the shared object is still stripped."""
    lock = tmp_path / "pylock.toml"
    build(
        capsys,
        local_index,
        tmp_path / "c0",
        tmp_path / "first.zip",
        "nativepkg==1.0",
        "--runtime",
        "python3.11",
        "--bytecode",
        "none",
        "--lock",
        str(lock),
    )
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    for name in ("strip", "llvm-strip", "x86_64-linux-gnu-strip", "aarch64-linux-gnu-strip"):
        program = fake / name
        program.write_text('#!/bin/sh\nfor f; do echo garbage > "$f"; done\n')
        program.chmod(0o755)
    empty = tmp_path / "no-bin"
    empty.mkdir()
    outputs = []
    for number, path in enumerate([f"{fake}:/usr/bin:/bin", str(empty), None]):
        if path is not None:
            monkeypatch.setenv("PATH", path)
        else:
            monkeypatch.undo()
        out = tmp_path / f"layer-{number}.zip"
        build(
            capsys,
            local_index,
            tmp_path / f"cache-{number}",
            out,
            "--from-lock",
            str(lock),
            "--runtime",
            "python3.11",
            "--bytecode",
            "none",
            "--no-check",
        )
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2] == (tmp_path / "first.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "layer-0.zip") as archive:
        in_layer = archive.read(f"{SITE_311}nativepkg/_native.so")
    [wheel] = local_index.root.glob("**/nativepkg-1.0-cp311-*x86_64*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = archive.read("nativepkg/_native.so")
    assert len(in_layer) < len(shipped)
    assert read_elf(in_layer).machine == "x86_64"
    (tmp_path / "loaded.so").write_bytes(in_layer)
    assert ctypes.CDLL(str(tmp_path / "loaded.so")).native_answer() == 42


def test_a_tests_directory_that_run_time_code_imports_is_kept():
    """bottleneck's __init__ imports bottleneck.tests.util: slimming its tests/ away broke
    ``import bottleneck``; what it imports is kept (and what that imports), nothing more."""
    files = {
        "bottleneckish/__init__.py": b"from bottleneckish.tests.util import get_functions\n",
        "bottleneckish/tests/__init__.py": b"",
        "bottleneckish/tests/util.py": b"from .common import X\ndef get_functions(): return []\n",
        "bottleneckish/tests/common.py": b"X = 1\n",
        "bottleneckish/conftest.py": b"from bottleneckish.conftest_only.tests import x\n",
        "bottleneckish/conftest_only/__init__.py": b"",
        "bottleneckish/conftest_only/tests/__init__.py": b"",
        "bottleneckish/conftest_only/tests/x.py": b"",
        "bottleneckish/tests/move_test.py": b"import pytest\n",
        "bottleneckish/sub/__init__.py": b"from ..deep.tests import helpers  # relative\n",
        "bottleneckish/deep/__init__.py": b"",
        "bottleneckish/deep/tests/__init__.py": b"",
        "bottleneckish/deep/tests/helpers.py": b"X = 1\n",
        "bottleneckish/other/__init__.py": b"def test():\n    from bottleneckish.lazy import tests\n",
        "bottleneckish/unused/__init__.py": b"",
        "bottleneckish/unused/tests/__init__.py": b"",
        "bottleneckish/unused/tests/test_x.py": b"import bottleneckish\n",
    }
    entries = [Entry(f"{SITE_311}{name}", data=data) for name, data in files.items()]
    result = slim(entries, SlimOptions())
    kept = {entry.arcname.removeprefix(SITE_311) for entry in result.entries}
    assert {"bottleneckish/tests/__init__.py", "bottleneckish/tests/util.py"} <= kept
    assert "bottleneckish/tests/move_test.py" not in kept  # nothing imports it
    assert "bottleneckish/tests/common.py" in kept  # util imports it in turn
    assert "bottleneckish/deep/tests/helpers.py" in kept
    assert "bottleneckish/conftest_only/tests/x.py" not in kept  # only pytest's conftest
    assert not {name for name in kept if name.startswith("bottleneckish/unused/tests/")}
