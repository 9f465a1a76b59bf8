"""Generated hostile inputs of ``lambdalayer plan`` (hypothesis, fixed seed): the functions
table of the configuration and SAM templates naming functions in any shape are read or
refused with one error line, never a crash; and the layer choice keeps its promises for
any mix of needs (five layers, nothing unneeded, everything needed, one version each)."""

from __future__ import annotations

import contextlib
import io
import json
import tarfile

import pytest
from hostilecases import generated
from hypothesis import given
from hypothesis import strategies as st

from lambdalayer.builder.sharing import Needs, Sized, share
from lambdalayer.cache.buckets import Bucket
from lambdalayer.cache.remote import MAGIC, FileStore, FleetCache
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

_PAYLOADS = st.one_of(
    st.binary(max_size=300),
    st.builds(
        lambda seal, rest: MAGIC + seal + b"\n" + rest,
        st.sampled_from([b"-", b"0" * 64, b"zz", b""]),
        st.binary(max_size=300),
    ),
    st.builds(lambda rest: MAGIC + b"-\n" + rest, st.just(_TAR_ESCAPE)),
)


@generated(120)
@given(
    objects=st.dictionaries(
        st.sampled_from(
            [
                "v1/fragments/ab" + "c" * 62,
                "v1/fragments/0123456789abcdef",
                "v1/resolutions/" + "d" * 64,
                "v1/checks/" + "e" * 64,
                "v1/checks/not-a-key",
                "v1/sizes/" + "a" * 64,
                "v1/artefacts/" + "f" * 64,
                f"v1/wheels/{_WHEEL.sha256}/{_WHEEL.filename}",
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


_LINKED = st.sampled_from(["v1", "v1/wheels", f"v1/wheels/{'b' * 64}", "v1/artefacts"])


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
    for name in (f"v1/wheels/{'b' * 64}/{wheel.filename}", "v1/artefacts/" + "f" * 64):
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
