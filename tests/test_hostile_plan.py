"""Generated hostile inputs of ``lambdalayer plan`` (hypothesis, fixed seed): the functions
table of the configuration and SAM templates naming functions in any shape are read or
refused with one error line, never a crash; and the layer choice keeps its promises for
any mix of needs (five layers, nothing unneeded, everything needed, one version each)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tarfile

import pytest
from hostilecases import generated
from hypothesis import given
from hypothesis import strategies as st

from lambdalayer.builder.sharing import Needs, Sized, share
from lambdalayer.cache import remote, trust
from lambdalayer.cache.buckets import Bucket
from lambdalayer.cache.remote import FORMAT, HEAD, LIMITS, MAGIC, FileStore, FleetCache
from lambdalayer.cache.store import Cache
from lambdalayer.errors import CacheError, InputError
from lambdalayer.inputs.fleet import read_fleet
from lambdalayer.limits import MAX_LAYERS
from lambdalayer.lock import LockedWheel

pytestmark = pytest.mark.hostile


def _escaping_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name in ("../../escaped", "/abs/escaped"):
            info = tarfile.TarInfo(name)
            info.size = 1
            archive.addfile(info, io.BytesIO(b"x"))
        link = tarfile.TarInfo("up")
        link.type, link.linkname = tarfile.SYMTYPE, "../../.."
        archive.addfile(link)
    return buffer.getvalue()


_TAR_ESCAPE = _escaping_tar()
_BY_LABEL = {bucket.label: bucket for bucket in Bucket}
_WHEEL = LockedWheel("w-1.0-py3-none-any.whl", "http://127.0.0.1:9/w.whl", "a" * 64)

_TOML_SCALARS = st.one_of(
    st.booleans(),
    st.integers(-5, 5),
    st.text(max_size=12),
    st.sampled_from(
        ["python3.12-arm64", "py311-aarch64", "python2.7-x86_64", "code", "../..", "/", "alpha"]
    ),
)
_TOML_VALUES = st.one_of(_TOML_SCALARS, st.lists(_TOML_SCALARS, max_size=3))
_FUNCTION_TABLE = st.dictionaries(
    st.sampled_from(
        ["source", "handler", "target", "requirements", "files", "layers", "extras", "bogus"]
    ),
    _TOML_VALUES,
    max_size=6,
)


def _toml(value: object) -> str:
    return json.dumps(value)  # JSON's strings, numbers, booleans and arrays are TOML's too


@generated(150)
@given(
    functions=st.dictionaries(
        st.text(min_size=1, max_size=8).filter(lambda name: "\n" not in name and "\r" not in name),
        _FUNCTION_TABLE,
        max_size=3,
    )
)
def test_generated_functions_tables_are_read_or_refused_never_a_crash(tmp_path_factory, functions):
    folder = tmp_path_factory.mktemp("plan")
    (folder / "code").mkdir()
    (folder / "code" / "requirements.txt").write_text("alpha\n")
    lines = []
    for name, table in functions.items():
        lines.append(f"[tool.lambdalayer.functions.{_toml(name)}]")
        lines += [f"{key} = {_toml(value)}" for key, value in table.items()]
    (folder / "pyproject.toml").write_text("\n".join(lines) + "\n")
    try:
        fleet = read_fleet(folder)
    except InputError as error:
        assert error.message and "\n" not in error.message
        return
    for function in fleet.functions:
        assert function.name in functions and function.code_dir.is_absolute()
        assert function.inputs.requirements is not None


@generated(150)
@given(
    properties=st.lists(
        st.dictionaries(
            st.sampled_from(
                ["Runtime", "Architectures", "CodeUri", "Handler", "Layers", "PackageType"]
            ),
            st.one_of(
                _TOML_SCALARS,
                st.lists(_TOML_SCALARS, max_size=7),
                st.fixed_dictionaries({"Ref": st.text(max_size=5)}),
            ),
            max_size=6,
        ),
        max_size=3,
    )
)
def test_generated_sam_functions_are_planned_skipped_or_refused(tmp_path_factory, properties):
    folder = tmp_path_factory.mktemp("sam")
    (folder / "code").mkdir()
    (folder / "code" / "requirements.txt").write_text("alpha\n")
    resources = {
        f"Fn{index}": {"Type": "AWS::Serverless::Function", "Properties": props}
        for index, props in enumerate(properties)
    }
    document = {"Transform": "AWS::Serverless-2016-10-31", "Resources": resources}
    (folder / "template.json").write_text(json.dumps(document))
    try:
        fleet = read_fleet(folder)
    except InputError as error:
        assert error.message and "\n" not in error.message
        return
    planned = {function.name for function in fleet.functions}
    skipped = {name for name, _reason in fleet.skipped}
    assert planned | skipped == set(resources) and not planned & skipped


_NEEDS = st.lists(
    st.tuples(
        st.sets(st.sampled_from("abcdefghijkl"), max_size=10),
        st.integers(0, 6),
        st.sampled_from(["1", "1", "1", "2"]),
    ),
    min_size=1,
    max_size=8,
)


@generated(300)
@given(needs=_NEEDS)
def test_the_layer_choice_keeps_its_promises_for_any_needs(needs):
    made = [
        Needs(
            f"f{index}",
            {
                name: Sized(version if name in "ab" else "1", 1000 + ord(name), 100)
                for name in names
            },
            10,
            existing,
        )
        for index, (names, existing, version) in enumerate(needs)
    ]
    plan = share(made)
    layers = {layer.name: layer for layer in plan.layers}
    conflicting = {conflict.name for conflict in plan.conflicts}
    for need, function in zip(made, plan.functions, strict=True):
        assert function.function == need.function
        assert len(function.layers) + min(need.existing_layers, MAX_LAYERS) <= max(
            MAX_LAYERS, need.existing_layers
        )
        held = [p.name for name in function.layers for p in layers[name].packages]
        own = [p.name for p in function.own]
        assert sorted(held + own) == sorted(need.packages)  # all it needs, once, nothing else
        assert not set(held) & conflicting
    for layer in plan.layers:
        assert len(layer.functions) >= 2
    assert plan.planned_zipped <= plan.fat_zipped


# --- what a shared cache answers ------------------------------------------------------------


def _headed(seal: str, payload: bytes, size: int | None = None) -> bytes:
    """An object of the share's format: its header (``seal``, a size, the payload's sha256)."""
    digest = hashlib.sha256(payload).hexdigest()
    stated = len(payload) if size is None else size
    return MAGIC + f"{seal} {stated} {digest}\n".encode() + payload


_PAYLOADS = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda seal, rest: MAGIC + seal + b"\n" + rest,
        st.sampled_from([b"-", b"0" * 64, b"zz", b"", b"0" * 64 + b" 3 " + b"a" * 64]),
        st.binary(max_size=300),
    ),
    st.builds(lambda rest: MAGIC + b"-\n" + rest, st.just(_TAR_ESCAPE)),
    st.builds(_headed, st.sampled_from(["-", "0" * 64]), st.binary()),
    st.builds(lambda seal: _headed(seal, _TAR_ESCAPE), st.sampled_from(["-", "0" * 64])),
)


@generated(120)
@given(
    objects=st.dictionaries(
        st.sampled_from(
            [
                "v2/fragments/ab" + "c" * 62,
                "v2/fragments/0123456789abcdef",
                "v2/resolutions/" + "d" * 64,
                "v2/checks/" + "e" * 64,
                "v2/checks/not-a-key",
                "v2/sizes/" + "a" * 64,
                "v2/artefacts/" + "f" * 64,
                f"v2/wheels/{_WHEEL.sha256}/{_WHEEL.filename}",
            ]
        ),
        _PAYLOADS,
        max_size=5,
    )
)
def test_generated_shared_cache_answers_are_used_or_refused_never_a_crash(
    tmp_path_factory, monkeypatch, objects
):
    monkeypatch.setenv("LAMBDALAYER_CACHE_KEY", "k" * 32)
    folder = tmp_path_factory.mktemp("share")
    share, root = folder / "share", folder / "cache"
    root.mkdir(mode=0o700)
    for name, data in objects.items():
        path = share.joinpath(*name.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    share.mkdir(exist_ok=True)
    with Cache.open(root) as cache:
        fleet = FleetCache(FileStore(share), cache)
        with fleet.reading_through():  # each entry asked as a lookup that misses asks it
            for name in objects:
                label, key = name.split("/")[1:3]
                if label != "wheels":
                    assert not cache.admit(_BY_LABEL[label], key)
        fleet.pull_wheels([_WHEEL])
        assert fleet.pull_entries(Bucket.ARTEFACTS, ["f" * 64, "../x"]) == ["f" * 64, "../x"]
    # nothing unsealed came in, nothing landed outside the cache, the wheel only if it is one
    assert fleet.report.pulled == 0
    assert not (folder / "escaped").exists()
    assert not (root / "wheels").exists() or not any((root / "wheels").rglob("*.whl"))


def _bomb() -> bytes:
    """A tree bomb: 2,000 members, one of them 1 GiB of zeros stated (the tar is small)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for index in range(2000):
            archive.addfile(tarfile.TarInfo(f"d/{index}"), io.BytesIO(b""))
        big = tarfile.TarInfo("big")
        big.size = 1 << 30
        archive.addfile(big)  # its bytes are missing: only the header says 1 GiB
    return buffer.getvalue()


_BOMB = _bomb()
_SHARE_KEY = b"k" * 32
_JUNK_KINDS = ("junk", "unkeyed", "another key", "over the bound", "longer", "changed")


def _junk(kind: str, label: str, content: bytes) -> tuple[bytes, int]:
    """A hostile object for ``label`` and what a reader may read of it at most."""
    digest = hashlib.sha256(content).hexdigest()
    ours = trust.object_seal(_SHARE_KEY, label, len(content), digest)
    bound = LIMITS[_BY_LABEL[label.split("/", maxsplit=1)[0]]]
    if kind == "junk":
        return content, HEAD
    if kind == "unkeyed":
        return _headed("-", content), HEAD
    if kind == "another key":
        theirs = trust.object_seal(b"o" * 32, label, len(content), digest)
        return _headed(theirs, content), HEAD
    if kind == "over the bound":  # sealed under the team's key, stating more than its bucket's
        seal = trust.object_seal(_SHARE_KEY, label, bound + 1, digest)
        return _headed(seal, content, bound + 1), HEAD
    if kind == "longer":  # sealed for its content; a long tail follows (sparse, on disk)
        return _headed(ours, content), HEAD + len(content) + 1
    changed = bytes([content[0] ^ 1]) + content[1:] if content else b"x"  # after sealing
    return MAGIC + f"{ours} {len(changed)} {digest}\n".encode() + changed, HEAD + len(changed)


@generated(60)
@given(
    objects=st.dictionaries(
        st.sampled_from(
            [
                "fragments/ab" + "c" * 62,
                "checks/" + "e" * 64,
                "artefacts/" + "f" * 64,
                "resolutions/" + "d" * 64,
                "sizes/" + "a" * 64,
            ]
        ),
        st.tuples(
            st.sampled_from(_JUNK_KINDS),
            st.one_of(st.binary(min_size=1, max_size=300), st.sampled_from([_BOMB, _TAR_ESCAPE])),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_generated_junk_in_a_share_is_refused_before_it_is_read_or_unpacked(
    tmp_path_factory, monkeypatch, objects
):
    """Anyone who can write the share (no key needed) can put junk, tree bombs or objects of
    any size under the names a job asks for: each is refused from its header — or, sealed
    under the team's key, at the size its seal states — before a byte of it is unpacked or
    admitted, and not asked for again in that run."""
    from test_fleet_cache import CountingStore

    monkeypatch.setenv("LAMBDALAYER_CACHE_KEY", _SHARE_KEY.decode())
    unpacked: list[str] = []

    def spy(archive, unpacker):  # the real unpacking, recorded
        unpacked.append(str(archive))
        return unpack_tar(archive, unpacker)

    unpack_tar = remote.unpack_tar
    monkeypatch.setattr(remote, "unpack_tar", spy)
    folder = tmp_path_factory.mktemp("share")
    share, root = folder / "share", folder / "cache"
    root.mkdir(mode=0o700)
    most: dict[str, int] = {}
    for label, (kind, content) in objects.items():
        name = f"{FORMAT}/{label}"
        data, most[name] = _junk(kind, label, content)
        path = share.joinpath(*name.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        if kind in {"junk", "over the bound", "longer"}:
            os.truncate(path, len(data) + (64 << 20))  # a long tail of zeros, sparse on disk
    store = CountingStore(share)
    with Cache.open(root) as cache:
        fleet = FleetCache(store, cache)
        with fleet.reading_through():
            for _ in range(2):
                for label in objects:
                    bucket, key = label.split("/")
                    assert not cache.admit(_BY_LABEL[bucket], key)
        assert fleet.pull_entries(Bucket.ARTEFACTS, ["f" * 64]) == ["f" * 64]
    assert fleet.report.pulled == 0
    assert unpacked == []  # nothing unpacked into the cache's staging
    assert not (folder / "escaped").exists() and not (root / "fragments").exists()
    for name, read in store.read.items():
        assert read <= most[name], (name, read, most[name])
    assert sorted(store.found) == sorted(f"{FORMAT}/{label}" for label in objects)  # once each
    assert len(fleet.report.refused) == len(objects)


def test_a_payload_changed_after_sealing_is_refused_before_it_is_unpacked(tmp_path, monkeypatch):
    """A fragment written back by a job of the team, its payload changed in the share: a
    fresh job refuses it before unpacking (the same object untouched is unpacked)."""
    monkeypatch.setenv("LAMBDALAYER_CACHE_KEY", _SHARE_KEY.decode())
    unpacked: list[str] = []
    unpack_tar = remote.unpack_tar
    monkeypatch.setattr(
        remote,
        "unpack_tar",
        lambda archive, into: (unpacked.append(str(archive)), unpack_tar(archive, into))[1],
    )
    share = tmp_path / "share"
    share.mkdir()
    key = "ab" + "c" * 62
    with Cache.open(tmp_path / "made") as cache:
        final = cache.entry(Bucket.FRAGMENTS, key)
        final.parent.mkdir(parents=True)
        work = tmp_path / "work"
        (work / "pkg").mkdir(parents=True)
        (work / "pkg" / "__init__.py").write_text("VALUE = 1\n")
        cache.seal(Bucket.FRAGMENTS, key, work)
        work.rename(final)
        FleetCache(FileStore(share), cache).push_derived()
    name = share / FORMAT / "fragments" / key
    body = name.read_bytes()

    def fresh(where: str) -> FleetCache:
        with Cache.open(tmp_path / where) as cache:
            fleet = FleetCache(FileStore(share), cache)
            with fleet.reading_through():
                admitted = cache.admit(Bucket.FRAGMENTS, key)
            assert admitted == (fleet.report.pulled == 1)
        return fleet

    assert fresh("one").report.pulled == 1 and len(unpacked) == 1  # untouched: used
    name.unlink()
    name.write_bytes(body.replace(b"VALUE = 1", b"VALUE = 2"))
    refused = fresh("two")
    assert refused.report.pulled == 0 and len(unpacked) == 1
    assert refused.report.refused == [
        f"{FORMAT}/fragments/{key}: damaged, or made under another key; not used"
    ]
    assert not (tmp_path / "two" / "fragments").exists()


@pytest.mark.parametrize(
    "where",
    ["..", "../outside", "/{tmp}/outside", "link-out"],
)
@pytest.mark.parametrize("kind", ["table", "sam"])
def test_a_function_whose_code_leaves_the_repository_is_refused(tmp_path, where, kind):
    """A hostile review: source = ".." (or a CodeUri out of the repository, absolute, or a
    link out of it) packaged the runner's files — a credentials file beside the repository
    went into the function zip. Refused, naming the function."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "credentials").write_text("aws_secret_access_key=HOSTSECRET\n")
    (outside / "requirements.txt").write_text("six\n")
    (tmp_path / "requirements.txt").write_text("six\n")  # for a CodeUri of ".."
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "link-out").symlink_to(outside)
    source = where.format(tmp=str(tmp_path).lstrip("/"))
    if kind == "table":
        (repo / "pyproject.toml").write_text(
            "[tool.lambdalayer.functions.F]\n"
            f"source = {json.dumps(source)}\nrequirements = ['six']\n"
            "handler = 'app.handler'\ntarget = 'python3.11-x86_64'\n"
        )
    else:
        (repo / "template.yaml").write_text(
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n"
            f"      Runtime: python3.11\n      Handler: app.handler\n      CodeUri: {source}\n"
        )
    with pytest.raises(InputError, match="is not a directory inside the repository"):
        read_fleet(repo)


@generated(60)
@given(
    document=st.one_of(
        st.binary(max_size=200),
        st.recursive(
            st.none() | st.integers() | st.text(max_size=5),
            lambda inner: (
                st.lists(inner, max_size=3)
                | st.dictionaries(st.text(max_size=5), inner, max_size=3)
            ),
        ).map(lambda value: json.dumps(value).encode()),
    )
)
def test_generated_kept_sizes_are_read_or_ignored_never_a_crash(tmp_path_factory, document):
    """A plan's kept wheel sizes (an entry of the cache) that is not what a plan wrote."""
    from lambdalayer.builder.fleet import _known_sizes

    root = tmp_path_factory.mktemp("sizes")
    with Cache.open(root) as cache:
        cache.write(Bucket.SIZES, "b" * 64, document)
        known = _known_sizes("b" * 64, root)
    assert known is None or all(
        isinstance(pair, tuple) and all(isinstance(n, int) for n in pair) for pair in known.values()
    )


_LINKED = st.sampled_from(["v2", "v2/wheels", f"v2/wheels/{'b' * 64}", "v2/artefacts"])


@generated(30)
@given(linked=_LINKED, planted=st.booleans())
def test_a_link_in_a_file_share_is_never_followed_to_read_or_write(
    tmp_path_factory, monkeypatch, linked, planted
):
    """Anyone who can write the share (no key needed) can put a link where a directory of
    objects should be: a job must not write its wheels or entries through it (into the
    user's home, say), nor list or read what it points at."""
    monkeypatch.setenv("LAMBDALAYER_CACHE_KEY", "k" * 32)
    folder = tmp_path_factory.mktemp("share")
    share, root, outside = folder / "share", folder / "cache", folder / "outside"
    root.mkdir(mode=0o700)
    outside.mkdir()
    if planted:  # what the link leads to holds an object of the name asked for
        (outside / "w-1.0-py3-none-any.whl").write_bytes(MAGIC + b"-\nwheel")
        (outside / ("f" * 64)).write_bytes(MAGIC + b"-\nzip")
    link = share.joinpath(*linked.split("/"))
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside, target_is_directory=True)
    before = sorted(path.name for path in outside.iterdir())
    wheel = LockedWheel("w-1.0-py3-none-any.whl", "http://127.0.0.1:9/w.whl", "b" * 64)
    store = FileStore(share)
    for name in (f"v2/wheels/{'b' * 64}/{wheel.filename}", "v2/artefacts/" + "f" * 64):
        with contextlib.suppress(CacheError):
            store.put_new(name, b"written through a link")
        try:
            assert store.get(name, 1000) in (None, b"written through a link")
        except CacheError as error:
            assert "link" in error.message
        with contextlib.suppress(CacheError):  # every name listed is a file in the share
            for found in store.names(name.rsplit("/", 1)[0], 100):
                assert share.resolve() in share.joinpath(found).resolve().parents
    with Cache.open(root) as cache:
        fleet = FleetCache(store, cache)
        fleet.pull_wheels([wheel])
        with contextlib.suppress(CacheError):
            fleet.pull_entries(Bucket.ARTEFACTS, ["f" * 64])
    assert sorted(path.name for path in outside.iterdir()) == before
