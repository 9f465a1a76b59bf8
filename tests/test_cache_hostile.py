"""A cache that is not as lambdalayer made it (a hostile review's findings): links where
its own directories should be, a link as the cache itself, seals and key files that are
FIFOs or devices, keys that are not UTF-8 — each one `error:` line (or the entry made
again), never a file outside the cache listed, written, read without end or removed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cliutil import run_cli
from hostilecases import generated
from hypothesis import given
from hypothesis import strategies as st

from lambdalayer.builder.ships import check_sbom_directory, sbom_of_zip
from lambdalayer.cache.trust import KEY_ENV, KEY_FILE_ENV
from lambdalayer.cli.display import colour_wanted
from lambdalayer.errors import InputError
from lambdalayer.supply.sbom import SbomFormat

OLD = time.time() - 400 * 86400


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    (victim / "sub").mkdir(parents=True)
    for path in (victim / "a.txt", victim / ".ssh", victim / "sub" / "b.txt"):
        path.write_text("keep me\n")
        os.utime(path, (OLD, OLD), follow_symlinks=False)
    return victim


def _intact(victim: Path) -> bool:
    return all(
        (victim / name).read_text() == "keep me\n" for name in ("a.txt", ".ssh", "sub/b.txt")
    )


def _cache(tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    return cache


@pytest.mark.parametrize("link", [".trash", ".locks", ".seals", "fragments", "roots", "oci"])
def test_prune_and_info_never_follow_a_link_in_the_cache(tmp_path, capsys, link):
    """It used to empty the victim (.trash), delete its dotfiles (a bucket), or remove files
    older than --older through a linked bucket — saying "removed 0 entries"."""
    victim, cache = _victim(tmp_path), _cache(tmp_path)
    (cache / link).symlink_to(victim)
    for args in (["prune", "--older", "0"], ["prune", "--max-size", "0"], ["info"]):
        code, _, err = run_cli(capsys, "cache", *args, "--cache-dir", str(cache))
        assert code == 1 and err.count("error:") == 1 and "is a link" in err, err
        assert _intact(victim)


def test_a_link_inside_a_sharded_bucket_is_skipped_not_followed(tmp_path, capsys):
    victim, cache = _victim(tmp_path), _cache(tmp_path)
    (cache / "fragments").mkdir()
    (cache / "fragments" / "ab").symlink_to(victim)
    code, _, err = run_cli(capsys, "cache", "prune", "--older", "0", "--cache-dir", str(cache))
    assert code == 0, err
    assert _intact(victim)


def test_a_link_as_the_cache_is_refused(tmp_path, capsys):
    real = _cache(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(real)
    code, _, err = run_cli(capsys, "cache", "info", "--cache-dir", str(link))
    assert code == 1 and "is a symbolic link" in err and "hint:" in err


def test_a_build_never_writes_through_a_link_in_the_cache(local_index, tmp_path, capsys):
    victim, cache = _victim(tmp_path), _cache(tmp_path)
    (cache / ".locks").symlink_to(victim)
    before = sorted(path.name for path in victim.rglob("*"))
    code, _, err = run_cli(
        capsys, "build", "alpha", "--runtime", "python3.11", "--index-url", local_index.url,
        "--cache-dir", str(cache), "--no-check", "-o", str(tmp_path / "l.zip"),
    )  # fmt: skip
    assert code == 1 and err.count("error:") == 1 and "is a link" in err, err
    assert sorted(path.name for path in victim.rglob("*")) == before


def _run(args: list[str], env: dict[str, str | bytes]) -> subprocess.CompletedProcess[bytes]:
    environ = {os.fsencode(k): os.fsencode(v) for k, v in {**os.environ, **env}.items()}
    return subprocess.run(
        [str(Path(sys.executable).with_name("lambdalayer")), *args],
        env=environ,
        capture_output=True,
        timeout=120,
        check=False,
    )


def test_a_key_file_that_is_a_fifo_is_one_error_not_a_hang(local_index, tmp_path):
    fifo = tmp_path / "key"
    os.mkfifo(fifo)
    args = ["build", "alpha", "--runtime", "python3.11", "--index-url", local_index.url]
    args += ["--cache-dir", str(_cache(tmp_path)), "--no-check", "-o", str(tmp_path / "l.zip")]
    done = _run(args, {KEY_FILE_ENV: str(fifo)})
    assert done.returncode == 1 and b"not a regular file" in done.stderr, done.stderr
    assert b"Traceback" not in done.stderr


def test_a_key_that_is_not_utf8_is_a_key_not_a_traceback(local_index, tmp_path):
    args = ["build", "alpha", "--runtime", "python3.11", "--index-url", local_index.url]
    args += ["--cache-dir", str(_cache(tmp_path)), "--no-check", "-o", str(tmp_path / "l.zip")]
    done = _run(args, {KEY_ENV: b"\xff\xfe-a-key".decode("utf-8", "surrogateescape")})
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr


@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_a_seal_that_is_a_fifo_or_a_device_is_not_read_the_entry_is_made_again(
    local_index, tmp_path, kind
):
    cache = _cache(tmp_path)
    args = ["build", "alpha", "--runtime", "python3.11", "--index-url", local_index.url]
    args += ["--cache-dir", str(cache), "--no-check", "-o", str(tmp_path / "l.zip"), "--json"]
    key = {KEY_ENV: "a-team-secret-of-some-length"}
    first = _run(args, key)
    assert first.returncode == 0, first.stderr
    seals = [path for path in (cache / ".seals").rglob("*") if path.is_file()]
    assert seals
    for seal in seals:
        seal.unlink()
        if kind == "fifo":
            os.mkfifo(seal)
        else:
            seal.symlink_to("/dev/zero")
    again = _run(args, key)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["sha256"] == json.loads(first.stdout)["sha256"]


def test_an_sbom_at_the_outputs_path_is_refused_before_anything_is_built(tmp_path, capsys):
    layer = tmp_path / "same.zip"
    layer.write_bytes(b"the previous layer")
    code, _, err = run_cli(capsys, "build", "alpha", "-o", str(layer), "--sbom", str(layer))
    assert code == 1 and f"error: --sbom {layer} is also where the build writes -o" in err
    assert layer.read_bytes() == b"the previous layer"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code, _, err = run_cli(capsys, "build", "alpha", "-o", str(layer), "--sbom", str(fifo))
    assert code == 1 and "not a regular file" in err


@pytest.mark.parametrize(
    ("environ", "wanted"),
    [
        ({"NO_COLOR": "0", "FORCE_COLOR": "1"}, False),  # no-color.org: any value, and it wins
        ({"NO_COLOR": "1"}, False),
        ({"FORCE_COLOR": "1"}, True),
        ({"FORCE_COLOR": "0"}, False),
        ({"FORCE_COLOR": "false"}, False),
    ],
)
def test_colour_follows_no_color_first(environ, wanted):
    with open(os.devnull, "w") as stream:  # noqa: PTH123 - a stream that is no terminal
        assert colour_wanted(stream, environ) is wanted


@pytest.mark.hostile
@generated(60)
@given(
    zips=st.lists(
        st.tuples(
            st.sampled_from(["dist/layers", "dist/functions", "dist", "other"]),
            st.sampled_from(["core-python3.12-arm64", "shared-alpha-1a2b3c4d-python3.12-arm64"]),
        ),
        min_size=1,
        max_size=4,
        unique=True,
    ),
    sbom_format=st.sampled_from(list(SbomFormat)),
)
def test_no_two_zips_of_a_run_share_an_sbom_path(tmp_path_factory, zips, sbom_format):  # type: ignore[no-untyped-def]
    """``--sbom DIR`` names each SBOM as its zip: two zips of one name in other directories
    (a function named as a shared layer, under functions/ and layers/) would write one SBOM
    over the other. It is one error before anything is built."""
    root = tmp_path_factory.mktemp("sbom")
    paths = [root / folder / f"{stem}.zip" for folder, stem in zips]
    try:
        check_sbom_directory(root / "sboms", sbom_format, paths, [("-o", path) for path in paths])
    except InputError as error:
        assert "same" in error.message and error.hint, error.message
        assert len({path.name for path in paths}) < len(paths)
        return
    assert len({sbom_of_zip(root / "sboms", path, sbom_format) for path in paths}) == len(paths)
