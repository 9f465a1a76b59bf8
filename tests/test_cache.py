"""The cache's one owner: keys derived from requests, entries held while used, safe pruning."""

from __future__ import annotations

import dataclasses
import enum
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from cliutil import run_cli, run_json

from lambdalayer.cache import NOT_KEYED, Bucket, Cache, key_of
from lambdalayer.cache.keys import canonical
from lambdalayer.cache.prune import PrunePolicy, entries, parse_days, parse_size, prune, usage
from lambdalayer.cache.store import entry_path, lock_path
from lambdalayer.errors import InputError


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass(frozen=True)
class Inner:
    name: str
    colour: Colour = Colour.RED


@dataclasses.dataclass(frozen=True)
class Request:
    inner: Inner
    paths: tuple[Path, ...] = ()
    flags: frozenset[str] = frozenset()
    where: str = dataclasses.field(default="here", metadata=NOT_KEYED)  # does not change results


class _Marker:
    """A value no real field holds: replacing a field with it must change the key."""

    def cache_identity(self) -> object:
        return "a value no request holds"


def test_every_keyed_field_changes_the_key_and_an_unkeyed_one_does_not():
    request = Request(Inner("a"), (Path("/x"),), frozenset({"b", "a"}))
    base = key_of(request)
    for field in dataclasses.fields(Request):
        changed = dataclasses.replace(request, **{field.name: _Marker()})
        assert (key_of(changed) != base) == field.metadata.get("keyed", True), field.name
    assert key_of(dataclasses.replace(request, inner=Inner("a", Colour.BLUE))) != base


def test_a_field_added_to_a_request_changes_its_key():
    widened = dataclasses.make_dataclass(
        "Request",
        [("retries", int, dataclasses.field(default=0))],
        bases=(Request,),
        frozen=True,
    )
    assert key_of(widened(Inner("a"))) != key_of(Request(Inner("a")))


def test_keys_do_not_depend_on_set_or_mapping_order():
    assert canonical(frozenset({"b", "a"})) == canonical(frozenset({"a", "b"}))
    assert key_of({"b": 1, "a": 2}) == key_of({"a": 2, "b": 1})


def test_a_value_that_cannot_be_keyed_is_refused_not_keyed_by_repr():
    with pytest.raises(TypeError, match="cannot hold a object"):
        key_of(object())


def test_entry_paths_come_from_the_bucket_and_keys_cannot_leave_it(tmp_path: Path):
    key = "ab" + "c" * 62
    assert entry_path(tmp_path, Bucket.FRAGMENTS, key) == tmp_path / "fragments" / "ab" / key[2:]
    assert entry_path(tmp_path, Bucket.CHECKS, key) == tmp_path / "checks" / f"{key}.json"
    assert entry_path(tmp_path, Bucket.ROOTS, key) == tmp_path / "roots" / key
    for hostile in ("", "../etc", "a/b", ".locks"):
        with pytest.raises(ValueError, match="not a cache key"):
            entry_path(tmp_path, Bucket.CHECKS, hostile)


def _fill(root: Path, bucket: Bucket, key: str, size: int, age_days: float = 0) -> Path:
    path = entry_path(root, bucket, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    if bucket.info.shape.value == "file":
        path.write_bytes(b"x" * size)
    else:
        path.mkdir()
        (path / "data").write_bytes(b"x" * size)
        (path / "sub").mkdir()
        (path / "sub").chmod(0o555)  # fragments' trees are read-only: prune still removes them
    when = time.time() - age_days * 86400
    os.utime(path, (when, when))
    return path


def test_prune_goes_by_last_use_and_size(tmp_path: Path):
    old = _fill(tmp_path, Bucket.FRAGMENTS, "aa" + "0" * 62, 1000, age_days=40)
    recent = _fill(tmp_path, Bucket.CHECKS, "bb" + "0" * 62, 500, age_days=2)
    with Cache.open(tmp_path) as cache:  # a use long ago: the lock file's time says when
        cache.mark(Bucket.CHECKS, "bb" + "0" * 62)
    newest = _fill(tmp_path, Bucket.ROOTS, "cc" + "0" * 62, 300, age_days=1)
    dry = prune(tmp_path, PrunePolicy(older_than=30 * 86400, dry_run=True))
    assert [entry.path for entry in dry.removed] == [old] and old.exists()
    result = prune(tmp_path, PrunePolicy(older_than=30 * 86400))
    assert [entry.path for entry in result.removed] == [old] and not old.exists()
    assert recent.exists() and newest.exists()
    result = prune(tmp_path, PrunePolicy(max_size=600))
    assert [entry.path for entry in result.removed] == [newest]  # recent was marked used later
    assert result.size_after == 500


def test_an_entry_a_running_command_holds_is_never_pruned(tmp_path: Path):
    held_key, other_key = "dd" + "1" * 62, "ee" + "2" * 62
    held = _fill(tmp_path, Bucket.FRAGMENTS, held_key, 100, age_days=90)
    other = _fill(tmp_path, Bucket.FRAGMENTS, other_key, 100, age_days=90)
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import sys
                from pathlib import Path
                from lambdalayer.cache import Bucket, Cache
                with Cache.open(Path({str(tmp_path)!r})) as cache:
                    cache.hold(Bucket.FRAGMENTS, {held_key!r})
                    print("held", flush=True)
                    sys.stdin.readline()
            """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        result = prune(tmp_path, PrunePolicy(max_size=0))
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(timeout=30) == 0
    assert [entry.path for entry in result.in_use] == [held]
    assert [entry.path for entry in result.removed] == [other]
    assert held.is_dir() and (held / "data").is_file() and not other.exists()
    result = prune(tmp_path, PrunePolicy(max_size=0))
    assert [entry.path for entry in result.removed] == [held] and not held.exists()
    assert not lock_path(tmp_path, Bucket.FRAGMENTS, held_key).exists()


def test_holding_after_a_prune_takes_a_new_lock_file(tmp_path: Path):
    key = "ff" + "3" * 62
    _fill(tmp_path, Bucket.FRAGMENTS, key, 10, age_days=5)
    prune(tmp_path, PrunePolicy(max_size=0))
    with Cache.open(tmp_path) as cache:
        path = cache.hold(Bucket.FRAGMENTS, key)
        assert not path.exists()  # gone: the holder makes it again
        assert lock_path(tmp_path, Bucket.FRAGMENTS, key).is_file()
        assert prune(tmp_path, PrunePolicy(max_size=0)).removed == ()


def test_scratch_directories_are_held_while_used_and_removed_after(tmp_path: Path):
    with Cache.open(tmp_path) as cache, cache.scratch() as scratch:
        (scratch / "file").write_text("x")
        result = prune(tmp_path, PrunePolicy(max_size=0))
        assert [entry.path for entry in result.in_use] == [scratch] and scratch.is_dir()
    assert not scratch.exists()
    assert entries(tmp_path) == []


def test_usage_counts_every_bucket(tmp_path: Path):
    _fill(tmp_path, Bucket.WHEELS, "ab" + "4" * 62, 2048)
    (tmp_path / "uv" / "wheels").mkdir(parents=True)
    (tmp_path / "uv" / "wheels" / "x").write_bytes(b"y" * 100)
    rows = {row.bucket: row for row in usage(tmp_path)}
    assert (rows[Bucket.WHEELS].entries, rows[Bucket.WHEELS].size) == (1, 2048)
    assert rows[Bucket.UV].size == 100 and rows[Bucket.FRAGMENTS].entries == 0


@pytest.mark.parametrize(
    ("text", "size"),
    [("0", 0), ("512", 512), ("2K", 2048), ("1.5G", 3 * 1024**3 // 2), ("10MB", 10**7)],
)
def test_sizes_parse(text: str, size: int):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "-1", "5X", "nan", "inf", "G", "1e30"])
def test_sizes_that_are_not_sizes_are_one_error(text: str):
    with pytest.raises(InputError, match="is not a size"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30", 30 * 86400), ("30d", 30 * 86400), ("0.5", 43200), ("12h", 43200), ("2w", 14 * 86400)],
)
def test_ages_parse_as_the_readme_writes_them(text: str, seconds: float):
    assert parse_days(text) == seconds


@pytest.mark.parametrize("text", ["", "-1", "d", "5x", "nan", "inf", "1e30d"])
def test_ages_that_are_not_ages_are_one_error(text: str):
    with pytest.raises(InputError, match="is not an age"):
        parse_days(text)


def test_cache_command(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    _fill(tmp_path, Bucket.FRAGMENTS, "ab" + "5" * 62, 4096, age_days=60)
    code, out, _ = run_cli(capsys, "cache", "dir", "--cache-dir", str(tmp_path))
    assert (code, out.strip()) == (0, str(tmp_path))
    info = run_json(capsys, "cache", "info", "--cache-dir", str(tmp_path), "--json")
    fragments = next(row for row in info["buckets"] if row["bucket"] == "fragments")
    assert fragments == {"bucket": "fragments", "entries": 1, "size": 4096}
    code, out, _ = run_cli(capsys, "cache", "info", "--cache-dir", str(tmp_path))
    assert code == 0
    assert out.splitlines()[-2:] == [  # a new user learns it grows, and how to prune it
        "the cache is never pruned on its own: it grows with every target, version and image;",
        "prune it with 'lambdalayer cache prune --older 30d' (or --max-size 5G), safe while"
        " builds run",
    ], out
    dry = run_json(
        capsys,
        "cache",
        "prune",
        "--cache-dir",
        str(tmp_path),
        "--older",
        "30",
        "--dry-run",
        "--json",
    )
    assert dry["freed"] == 4096 and (tmp_path / "fragments" / "ab").is_dir()
    code, out, _ = run_cli(capsys, "cache", "prune", "--cache-dir", str(tmp_path), "--older", "30")
    assert code == 0 and out.startswith("removed 1 entry (4.0 KiB)")
    code, _, err = run_cli(capsys, "cache", "prune", "--cache-dir", str(tmp_path))
    assert code == 1 and err.startswith("error: cache prune needs --older DAYS or --max-size SIZE")


def _build(index_url: str, cache: Path, out: Path, *packages: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lambdalayer",
            "build",
            *packages,
            "--runtime",
            "python3.11",
            "--index-url",
            index_url,
            "--cache-dir",
            str(cache),
            "-o",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_pruning_while_a_build_runs_removes_only_what_no_one_holds(local_index, tmp_path: Path):
    import hashlib

    packages = ("alpha", "fatpkg", "nativepkg")
    reference = tmp_path / "reference.zip"
    with _build(local_index.url, tmp_path / "other-cache", reference, *packages) as first:
        assert first.wait(timeout=600) == 0, first.stderr.read() if first.stderr else ""
    cache = tmp_path / "cache"
    seeded = tmp_path / "seeded.zip"  # entries of another build, which prune may take
    with _build(local_index.url, cache, seeded, "storedpkg", "abi3pkg") as other:
        assert other.wait(timeout=600) == 0
    theirs = {entry.path for entry in entries(cache)}
    out = tmp_path / "layer.zip"
    rounds, held_seen, removed = 0, 0, set()
    with _build(local_index.url, cache, out, *packages) as build:
        while build.poll() is None:
            result = prune(cache, PrunePolicy(max_size=0))
            rounds += 1
            held_seen += bool(result.in_use)
            removed |= {entry.path for entry in result.removed}
            for entry in result.in_use:  # what a running command holds is there, whole
                assert entry.path.exists(), entry.path
        assert build.returncode == 0, build.stderr.read() if build.stderr else ""
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert digest == hashlib.sha256(reference.read_bytes()).hexdigest()  # the same bytes
    assert rounds > 1 and held_seen > 0  # prune ran while the build held entries
    assert theirs <= removed  # the other build's entries went meanwhile


def _real_requests() -> list[object]:
    """One of each request a cache key is derived from, as the pipeline makes them."""
    from lambdalayer.check.request import CheckRequest, ImportOptions
    from lambdalayer.inputs.requirements import Requirements
    from lambdalayer.layer.fragments import Recipe
    from lambdalayer.net.index import IndexConfig
    from lambdalayer.recipe import BytecodeMode, SlimOptions
    from lambdalayer.resolve.cache import ResolutionRequest
    from lambdalayer.targets import Layout, get_target

    target = get_target("python3.12", "arm64")
    return [
        CheckRequest(target, imports=ImportOptions(modules=("six",))),
        ImportOptions(modules=("six",)),
        Recipe(target, Layout.SITE_PACKAGES, SlimOptions(), BytecodeMode.UNCHECKED_HASH, None),
        SlimOptions(keep=("*.txt",)),
        ResolutionRequest(
            Requirements(specifiers=("six",)),
            target,
            IndexConfig(),
            allow_build=True,
            held_by_pins=False,
        ),
        Requirements(specifiers=("six",)),
        target,
    ]


@pytest.mark.parametrize("request_", _real_requests(), ids=lambda value: type(value).__name__)
def test_every_field_of_every_real_request_is_part_of_its_key(request_: object):
    base = key_of(request_)
    unkeyed = []
    for field in dataclasses.fields(request_):  # type: ignore[arg-type]
        changed = dataclasses.replace(request_, **{field.name: _Marker()})  # type: ignore[type-var]
        if key_of(changed) == base:
            unkeyed.append(field.name)
    # The only fields left out say so (NOT_KEYED), each with its reason beside it.
    assert unkeyed == [
        field.name
        for field in dataclasses.fields(request_)  # type: ignore[arg-type]
        if not field.metadata.get("keyed", True)
    ]


def test_a_resolution_key_follows_the_files_content_and_includes_not_their_paths(tmp_path: Path):
    from lambdalayer.inputs.requirements import Requirements
    from lambdalayer.net.index import IndexConfig
    from lambdalayer.resolve.cache import resolution_key
    from lambdalayer.targets import get_target

    def key(folder: str, files: dict[str, str], top: str = "requirements.txt") -> str | None:
        root = tmp_path / folder
        root.mkdir(parents=True)
        for name, text in files.items():
            (root / name).write_text(text)
        requirements = Requirements(files=(root / top,))
        target = get_target("python3.12", "arm64")
        return resolution_key(
            requirements, target, IndexConfig(), allow_build=True, held_by_pins=False
        )

    pinned = {"requirements.txt": "six\n-c pins.txt\n", "pins.txt": "six==1.16.0\n"}
    first = key("a/one", pinned)
    assert first is not None and key("b/two/three", pinned) == first  # moved: the same
    assert key("c", {**pinned, "pins.txt": "six==1.17.0\n"}) != first  # an include changed
    assert key("d", {**pinned, "other.txt": "six==1.16.0\n"}) == first  # unread file: same
    renamed = {"requirements.txt": "six\n-c other.txt\n", "other.txt": "six==1.16.0\n"}
    assert key("e", renamed) != first  # the name it gives is part of what it says
    swapped = {"requirements.txt": "-r x.txt\n-r y.txt\n", "x.txt": "six\n", "y.txt": "idna\n"}
    assert key("f", swapped) != key("g", {**swapped, "x.txt": "idna\n", "y.txt": "six\n"})
    cycle = {"requirements.txt": "six\n-r more.txt\n", "more.txt": "-r requirements.txt\n"}
    assert key("h", cycle) == key("i", cycle) is not None
    located = {"requirements.txt": "--find-links wheels\nsix\n"}  # read relative to its place
    assert key("j", located) != key("k", located)
