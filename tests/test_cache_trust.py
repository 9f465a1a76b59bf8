"""The cache trusts only what it can prove (lambdalayer.cache.trust, SECURITY.md):
derived entries of another user, or writable by others, are made again; a cache directory
another user owns or may write is refused; with a cache key, an entry changed since it was
made (or made without the key) is made again, and a CI cache restored with the key is used."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cliutil import run_cli
from indexserver import LocalIndex
from ordinary import ordinary_user

from lambdalayer.cache.trust import KEY_ENV, KEY_FILE_ENV

PACKAGES = ("fatpkg", "alpha")


def _build(capsys, index: LocalIndex, cache: Path, out: Path) -> dict[str, object]:  # type: ignore[no-untyped-def]
    code, stdout, err = run_cli(
        capsys,
        "build",
        *PACKAGES,
        "--runtime",
        "python3.11",
        "--index-url",
        index.url,
        "--cache-dir",
        str(cache),
        "--no-check",
        "-o",
        str(out),
        "--json",
    )
    assert code == 0, err
    document: dict[str, object] = json.loads(stdout)
    return document


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fragments(cache: Path) -> list[Path]:
    return sorted(path for path in (cache / "fragments").glob("*/*") if path.is_dir())


def _tamper(fragment: Path) -> Path:
    """Change one byte of a file in a fragment's tree, keeping its size (the old check's
    file count and bytes cannot see it)."""
    victim = next(path for path in sorted((fragment / "tree").rglob("*.py")) if path.stat().st_size)
    victim.chmod(0o644)
    data = bytearray(victim.read_bytes())
    data[0] = ord("#") if data[0] != ord("#") else ord(" ")
    victim.write_bytes(bytes(data))
    victim.chmod(0o444)
    return victim


@pytest.fixture
def reference(capsys, local_index: LocalIndex, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    out = tmp_path / "reference.zip"
    _build(capsys, local_index, tmp_path / "reference-cache", out)
    return _sha(out)


def test_another_users_entry_is_made_again_not_used(capsys, local_index, tmp_path, reference):  # type: ignore[no-untyped-def]
    user = ordinary_user()
    cache = tmp_path / "cache"
    _build(capsys, local_index, cache, tmp_path / "first.zip")
    planted = _fragments(cache)[0]
    _tamper(planted)
    for path in [planted, *planted.rglob("*")]:  # as if another user had written it first
        os.lchown(path, user.pw_uid, user.pw_gid)
    document = _build(capsys, local_index, cache, tmp_path / "again.zip")
    assert document["fragments_computed"] >= 1
    assert _sha(tmp_path / "again.zip") == reference


def test_an_entry_others_may_write_is_made_again(capsys, local_index, tmp_path, reference):  # type: ignore[no-untyped-def]
    cache = tmp_path / "cache"
    _build(capsys, local_index, cache, tmp_path / "first.zip")
    planted = _fragments(cache)[0]
    _tamper(planted)
    planted.chmod(0o777)  # anyone could have put anything there
    document = _build(capsys, local_index, cache, tmp_path / "again.zip")
    assert document["fragments_computed"] >= 1
    assert _sha(tmp_path / "again.zip") == reference


@pytest.mark.parametrize("how", ["another user's", "world-writable"])
def test_a_cache_directory_not_ours_alone_is_refused(capsys, local_index, tmp_path, how):  # type: ignore[no-untyped-def]
    cache = tmp_path / "shared"
    cache.mkdir()
    if how == "another user's":
        user = ordinary_user()
        os.chown(cache, user.pw_uid, user.pw_gid)
    else:
        cache.chmod(0o1777)
    code, _, err = run_cli(
        capsys, "build", "alpha", "--index-url", local_index.url, "--cache-dir", str(cache),
        "-o", str(tmp_path / "out.zip"),
    )  # fmt: skip
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith(("error:", "hint:"))]
    assert lines[0].startswith(f"error: the cache at {cache} cannot be trusted")
    assert lines[1].startswith("hint: use a cache of your own")
    assert not (tmp_path / "out.zip").exists()
    assert list(cache.iterdir()) == []  # nothing written into it


def test_with_a_cache_key_a_changed_entry_is_made_again(
    capsys, local_index, tmp_path, reference, monkeypatch
):  # type: ignore[no-untyped-def]
    monkeypatch.setenv(KEY_ENV, "a CI secret, never in the cache")
    cache = tmp_path / "cache"
    _build(capsys, local_index, cache, tmp_path / "first.zip")
    assert list((cache / ".seals" / "fragments").iterdir())  # every fragment sealed
    assert "CI secret" not in "".join(
        path.read_text(errors="replace") for path in cache.rglob("*") if path.is_file()
    )
    _tamper(_fragments(cache)[0])  # the same user, the same size: only the MAC sees it
    document = _build(capsys, local_index, cache, tmp_path / "again.zip")
    assert document["fragments_computed"] == 1
    assert _sha(tmp_path / "again.zip") == reference


def test_a_restored_ci_cache_is_used_with_its_key_and_not_with_another(
    capsys, local_index, tmp_path, reference, monkeypatch
):  # type: ignore[no-untyped-def]
    key_file = tmp_path / "secret"
    key_file.write_text("0123456789abcdef0123456789abcdef\n")
    monkeypatch.setenv(KEY_FILE_ENV, str(key_file))
    _build(capsys, local_index, tmp_path / "job-1", tmp_path / "first.zip")
    restored = tmp_path / "job-2"
    subprocess.run(["cp", "-a", str(tmp_path / "job-1"), str(restored)], check=True)
    document = _build(capsys, local_index, restored, tmp_path / "again.zip")
    assert document["fragments_computed"] == 0  # trusted: made with this key
    key_file.write_text("another team's key, or none at all\n")
    document = _build(capsys, local_index, restored, tmp_path / "third.zip")
    assert document["fragments_computed"] == len(PACKAGES) + 1  # alpha needs beta
    assert _sha(tmp_path / "third.zip") == reference


def test_a_key_file_inside_the_cache_is_refused(capsys, local_index, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "key").write_text("secret\n")
    monkeypatch.setenv(KEY_FILE_ENV, str(cache / "key"))
    code, _, err = run_cli(
        capsys, "build", "alpha", "--index-url", local_index.url, "--cache-dir", str(cache),
        "-o", str(tmp_path / "out.zip"),
    )  # fmt: skip
    assert code == 1 and "is inside the cache it protects" in err
    shutil.rmtree(cache)
