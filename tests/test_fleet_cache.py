"""The cache the CI fleet shares (issue 35): ``--cache-url`` against a real S3 endpoint on
127.0.0.1 (moto's server) and a file:// share — concurrent builders, conditional puts,
wheels verified by sha256, derived entries only under the team's cache key."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer
from test_fleet import sam_project

from lambdalayer.cache.remote import MAGIC, FileStore

BUCKET = "ci-cache"
KEY = "team-secret-0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def _env(tmp_path: Path, name: str, *, key: str | None = KEY) -> dict[str, str]:
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path / f"home-{name}"),
        "LAMBDALAYER_CACHE_DIR": str(tmp_path / f"cache-{name}"),
        "UV_CACHE_DIR": str(tmp_path / f"uv-{name}"),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    if key is not None:
        env["LAMBDALAYER_CACHE_KEY"] = key
    return env


def _build(
    project: Path, out: Path, index_url: str, url: str | None, env: dict[str, str], *extra: str
):
    shared = ["--cache-url", url] if url is not None else []
    command = [
        sys.executable, "-m", "lambdalayer", "build", "--all", "--bytecode", "none",
        "--index-url", index_url, "--project", str(project), "--output-dir", str(out),
        *shared, "--json", "-v", *extra,  # -v: what the shared cache did, on stderr
    ]  # fmt: skip
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def _s3(endpoint: str):
    return boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _with_a_file_changed(body: bytes) -> bytes:
    """A fragment object whose tar has one file's bytes changed, its seal kept."""
    magic, seal, payload = body.split(b"\n", 2)
    changed = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(payload)) as source,
        tarfile.open(fileobj=changed, mode="w", format=tarfile.PAX_FORMAT) as target,
    ):
        done = False
        for member in source.getmembers():
            data = source.extractfile(member).read() if member.isreg() else None
            if data is not None and not done:
                data, done = data + b"# changed\n", True
                member.size = len(data)
            target.addfile(member, io.BytesIO(data) if data is not None else None)
    assert done
    return magic + b"\n" + seal + b"\n" + changed.getvalue()


def _zips(out: Path) -> dict[str, str]:
    return {
        str(path.relative_to(out)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(out.rglob("*.zip"))
    }


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return sam_project(
        tmp_path / "repo", {"A": "alpha\n", "B": "alpha\nstoredpkg\n", "C": "datapkg\n"}
    )


def test_concurrent_builders_share_an_s3_cache_and_a_fresh_one_reads_it(
    local_index, s3_endpoint, repo, tmp_path
):
    client = _s3(s3_endpoint)
    client.create_bucket(Bucket=BUCKET)
    url = f"s3://{BUCKET}/team"
    results: dict[str, subprocess.CompletedProcess[str]] = {}

    def one(name: str) -> None:
        results[name] = _build(
            repo, tmp_path / f"out-{name}", local_index.url, url, _env(tmp_path, name),
            "--endpoint-url", s3_endpoint,
        )  # fmt: skip

    threads = [threading.Thread(target=one, args=(name,)) for name in ("j1", "j2", "j3")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, done in results.items():
        assert done.returncode == 0, (name, done.stderr[-2000:])
    built = {name: _zips(tmp_path / f"out-{name}") for name in results}
    assert built["j1"] == built["j2"] == built["j3"] and built["j1"]
    # every object is whole: the magic line, a seal (or "-" for a wheel), its content
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="team/v2/")["Contents"]
    names = [item["Key"] for item in listed]
    assert any("/wheels/" in name for name in names)
    assert any("/fragments/" in name for name in names)
    for name in names:
        body = client.get_object(Bucket=BUCKET, Key=name)["Body"].read()
        assert body.startswith(MAGIC)
    # a fresh machine: empty local cache, the index gone quiet for its wheels
    fresh = _build(
        repo, tmp_path / "out-fresh", local_index.url, url, _env(tmp_path, "fresh"),
        "--endpoint-url", s3_endpoint,
    )  # fmt: skip
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert _zips(tmp_path / "out-fresh") == built["j1"]
    line = [text for text in fresh.stderr.splitlines() if text.startswith("shared cache s3://")]
    assert line and " 0 entries read" not in line[0]
    # every zip came from S3 by the stamp of its inputs: nothing built, no fragment needed
    rows = json.loads(fresh.stdout)["artefacts"]
    assert {row["status"] for row in rows} == {"cached"}, rows
    assert all(
        row["sha256"] == built["j1"][str(Path(row["zip"]).relative_to(tmp_path / "out-fresh"))]
        for row in rows
    )
    fresh_cache = Path(_env(tmp_path, "fresh")["LAMBDALAYER_CACHE_DIR"])
    for bucket in ("fragments", "wheels"):  # the plan's sizes came from S3 too: no wheel read
        assert not (fresh_cache / bucket).exists() or not any((fresh_cache / bucket).rglob("*"))
    assert any("/artefacts/" in name for name in names)


def test_a_damaged_or_unkeyed_remote_entry_is_not_used(local_index, s3_endpoint, repo, tmp_path):
    client = _s3(s3_endpoint)
    client.create_bucket(Bucket="ci-cache-two")
    url = "s3://ci-cache-two/p"
    first = _build(
        repo, tmp_path / "out-1", local_index.url, url, _env(tmp_path, "one"),
        "--endpoint-url", s3_endpoint,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr[-2000:]
    listed = [i["Key"] for i in client.list_objects_v2(Bucket="ci-cache-two")["Contents"]]
    fragment = next(name for name in listed if "/fragments/" in name)
    artefacts = [name for name in listed if "/artefacts/" in name]
    assert artefacts
    for name in artefacts:  # every zip damaged: each is built again, from fragments
        body = client.get_object(Bucket="ci-cache-two", Key=name)["Body"].read()
        client.put_object(Bucket="ci-cache-two", Key=name, Body=body[:-1] + b"!")
    resolution = next(name for name in listed if "/resolutions/" in name)
    wheel = next(name for name in listed if "/wheels/" in name)
    body = client.get_object(Bucket="ci-cache-two", Key=fragment)["Body"].read()
    client.put_object(Bucket="ci-cache-two", Key=fragment, Body=_with_a_file_changed(body))
    unkeyed = client.get_object(Bucket="ci-cache-two", Key=resolution)["Body"].read()
    _magic, _seal, content = unkeyed.split(b"\n", 2)
    client.put_object(Bucket="ci-cache-two", Key=resolution, Body=MAGIC + b"-\n" + content)
    client.put_object(Bucket="ci-cache-two", Key=wheel, Body=MAGIC + b"-\nnot the wheel")
    second = _build(
        repo, tmp_path / "out-2", local_index.url, url, _env(tmp_path, "two"),
        "--endpoint-url", s3_endpoint,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr[-2000:]
    assert _zips(tmp_path / "out-2") == _zips(tmp_path / "out-1")
    warnings = [line for line in second.stderr.splitlines() if line.startswith("warning: shared")]
    assert any(fragment.removeprefix("p/") in w and "not used" in w for w in warnings), warnings
    for name in artefacts:
        assert any(name.removeprefix("p/") in w and "not used" in w for w in warnings), warnings
    assert {row["status"] for row in json.loads(second.stdout)["artefacts"]} == {"built"}
    assert any(resolution.removeprefix("p/") in w and "unkeyed" in w for w in warnings), warnings
    assert any(wheel.removeprefix("p/") in w and "sha256" in w for w in warnings), warnings
    # under another key nothing derived is used; without a key, nothing derived is shared
    other = _build(
        repo, tmp_path / "out-3", local_index.url, url, _env(tmp_path, "three", key="other"),
        "--endpoint-url", s3_endpoint,
    )  # fmt: skip
    assert other.returncode == 0 and "made under another key" in other.stderr
    # one hint after the warnings says what to do (56 warnings and no hint, a new user's review)
    [hint] = [line for line in other.stderr.splitlines() if line.startswith("hint: ")]
    assert "made again here: give LAMBDALAYER_CACHE_KEY (or LAMBDALAYER_CACHE_KEY_FILE)" in hint
    keyless = _build(
        repo, tmp_path / "out-4", local_index.url, url, _env(tmp_path, "four", key=None),
        "--endpoint-url", s3_endpoint,
    )  # fmt: skip
    assert keyless.returncode == 0 and "only under the team's cache key" in keyless.stderr
    assert not (Path(_env(tmp_path, "four")["LAMBDALAYER_CACHE_DIR"]) / "fragments").exists() or (
        " entries read" in keyless.stderr or " 1 entry read" in keyless.stderr
    )


def test_a_file_share_takes_one_writer_per_name(tmp_path):
    store = FileStore(tmp_path / "share")
    (tmp_path / "share").mkdir()
    wins: list[bool] = []

    def put(index: int) -> None:
        wins.append(store.put_new("v2/checks/abcdef0123456789", f"writer {index}".encode()))

    threads = [threading.Thread(target=put, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wins.count(True) == 1
    data = store.get("v2/checks/abcdef0123456789", 100)
    assert data is not None and data.startswith(b"writer ")
    assert store.names("v2/checks/", 10) == ["v2/checks/abcdef0123456789"]
    assert [p.name for p in (tmp_path / "share" / "v2" / "checks").iterdir()] == [
        "abcdef0123456789"
    ]  # no partial file left behind
    (tmp_path / "share" / "v2" / "checks" / "0123456789abcdef").symlink_to("/etc/passwd")
    with pytest.raises(Exception, match="cannot read"):
        store.get("v2/checks/0123456789abcdef", 100)


def test_a_file_url_builds_through_the_share(local_index, repo, tmp_path):
    share = tmp_path / "share"
    share.mkdir()
    first = _build(repo, tmp_path / "o1", local_index.url, share.as_uri(), _env(tmp_path, "f1"))
    assert first.returncode == 0, first.stderr[-2000:]
    second = _build(repo, tmp_path / "o2", local_index.url, share.as_uri(), _env(tmp_path, "f2"))
    assert second.returncode == 0 and _zips(tmp_path / "o1") == _zips(tmp_path / "o2")
    assert json.loads(second.stdout)["ok"] is True
    bad = _build(repo, tmp_path / "o3", local_index.url, "ftp://x/y", _env(tmp_path, "f3"))
    assert bad.returncode == 1 and bad.stderr.startswith("error: ") is False  # JSON mode
    assert "not the URL of a shared cache" in json.loads(bad.stdout)["error"]


def test_a_constrained_resolution_is_reused_from_a_cache_at_another_path(local_index, tmp_path):
    """Resolution keys name the constraint file's content, not its path (in the cache dir)."""
    import shutil

    from lambdalayer.builder.fleet import FleetSettings, plan_fleet
    from lambdalayer.inputs.fleet import read_fleet
    from lambdalayer.net.index import IndexConfig

    repo = sam_project(tmp_path / "repo", {"A": "alpha\n", "B": "alpha\nstoredpkg\n"})
    fleet = read_fleet(repo)

    def plan(cache: Path) -> tuple[list[str], object]:
        said: list[str] = []
        settings = FleetSettings(IndexConfig.from_options(local_index.url, ()), cache)
        return said, plan_fleet(fleet, settings, said.append)

    said, first = plan(tmp_path / "here" / "cache")
    assert sum("resolving for" in line for line in said) == 3  # together, then A and B
    shutil.copytree(tmp_path / "here" / "cache", tmp_path / "elsewhere" / "moved")
    said, second = plan(tmp_path / "elsewhere" / "moved")
    assert not [line for line in said if "resolving for" in line], said
    assert sum("unchanged since the last build" in line for line in said) == 3
    assert second.targets[0].locks == first.targets[0].locks


def test_a_fresh_machine_reuses_the_constrained_resolutions_through_a_share(
    local_index, repo, tmp_path
):
    share = tmp_path / "share"
    share.mkdir()
    first = _build(repo, tmp_path / "o1", local_index.url, share.as_uri(), _env(tmp_path, "m1"))
    assert first.returncode == 0, first.stderr[-2000:]
    assert "resolving for" in first.stderr
    # another machine: its cache at another path, empty; the share filled by the first
    fresh = _build(repo, tmp_path / "o2", local_index.url, share.as_uri(), _env(tmp_path, "m2"))
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert "resolving for" not in fresh.stderr, fresh.stderr[-2000:]
    assert _zips(tmp_path / "o1") == _zips(tmp_path / "o2")


class Counted:
    """An object being read from a :class:`CountingStore`: the bytes read, counted."""

    def __init__(self, stream, store: CountingStore, name: str) -> None:
        self.stream, self.store, self.name = stream, store, name

    def read(self, size: int) -> bytes:
        data = self.stream.read(size)
        self.store.read[self.name] = self.store.read.get(self.name, 0) + len(data)
        return data

    def close(self) -> None:
        self.stream.close()


class CountingStore(FileStore):
    """A real share that records what is asked of it."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.got: list[str] = []  # every name asked
        self.found: list[str] = []  # the names it had
        self.listed: list[str] = []
        self.read: dict[str, int] = {}  # bytes read of each object

    def open(self, name: str) -> Counted | None:
        self.got.append(name)
        stream = super().open(name)
        if stream is None:
            return None
        self.found.append(name)
        return Counted(stream, self, name)

    def names(self, prefix: str, limit: int) -> list[str]:
        self.listed.append(prefix)
        return super().names(prefix, limit)


def _sealed(_folder: Path, bucket: str, key: str, content: bytes) -> bytes:
    """An object as a job of the team writes it: sealed under the team's key."""
    from lambdalayer.cache import trust

    digest = hashlib.sha256(content).hexdigest()
    seal = trust.object_seal(KEY.encode(), f"{bucket}/{key}", len(content), digest)
    return MAGIC + f"{seal} {len(content)} {digest}\n".encode() + content


def test_a_build_reads_from_the_store_only_what_its_own_plan_asks_for(
    local_index, repo, tmp_path, monkeypatch
):
    """A fleet's store grows with its history: 200 resolutions of other requirement sets (and
    check results and sizes of other plans), each sealed under the team's key. A job reads
    none of them and lists no derived bucket; it gets its own entries by key as its plan and
    build ask for them (resolutions, sizes, fragments for the zips not in the store)."""
    from dataclasses import replace

    from lambdalayer.builder.fleet import fleet_settings, plan_fleet
    from lambdalayer.builder.fleetbuild import FleetOutputs, build_fleet
    from lambdalayer.builder.fleetcache import shared_store
    from lambdalayer.inputs.fleet import read_fleet
    from lambdalayer.recipe import BytecodeMode

    share = tmp_path / "share"
    share.mkdir()
    first = _build(repo, tmp_path / "o1", local_index.url, share.as_uri(), _env(tmp_path, "r1"))
    assert first.returncode == 0, first.stderr[-2000:]
    store = CountingStore(share)
    ours = set(store.names("v2/", 10_000))
    for name in [name for name in ours if name.startswith("v2/artefacts/")]:
        (share / name).unlink()  # the zips are built again here, from fragments
    others = tmp_path / "others"
    others.mkdir()
    history: set[str] = set()
    for bucket, count in (("resolutions", 200), ("checks", 50), ("sizes", 50)):
        for index in range(count):
            key = hashlib.sha256(f"{bucket} of another plan {index}".encode()).hexdigest()
            content = json.dumps({"other": index}).encode()
            assert store.put_new(f"v2/{bucket}/{key}", _sealed(others, bucket, key, content))
            history.add(f"v2/{bucket}/{key}")
    store.listed.clear()
    for name, value in _env(tmp_path, "r2").items():
        monkeypatch.setenv(name, value)
    cache_dir = Path(_env(tmp_path, "r2")["LAMBDALAYER_CACHE_DIR"])
    said: list[str] = []
    with shared_store(store, cache_dir) as shared:
        settings = replace(
            fleet_settings(repo, local_index.url, (), cache_dir), prefetch=shared.pull_wheels
        )
        plan = plan_fleet(read_fleet(repo), settings, said.append)
        shared.planned(plan)
        outputs = FleetOutputs(
            tmp_path / "o2", settings.index, cache_dir, BytecodeMode.NONE,
            reuse=shared.pull_artefacts,
        )  # fmt: skip
        built = build_fleet(plan, outputs, said.append)
        shared.write_back(plan)
    assert built.ok, said
    assert _zips(tmp_path / "o2") == _zips(tmp_path / "o1")
    assert not [line for line in said if "resolving for" in line], said  # no uv run
    assert not set(store.got) & history  # not one entry of another plan asked for
    asked = [name for name in store.got if not name.startswith("v2/wheels/")]
    assert len(asked) == len(set(asked))  # each key asked once
    found = {name for name in store.found if not name.startswith("v2/wheels/")}
    assert found <= ours  # what it read is what the first machine's plan and build made
    for bucket in ("resolutions", "sizes", "fragments"):  # each by key, as it was needed
        assert any(name.startswith(f"v2/{bucket}/") for name in found), (bucket, sorted(found))
    assert set(store.listed) <= {"v2/wheels/"}  # no derived bucket listed
    assert shared.report.refused == []
    # what it made is written back (the zips, by the same stamps); the history is untouched
    zips = {name for name in ours if name.startswith("v2/artefacts/")}
    assert zips and set(store.names("v2/artefacts/", 100)) == zips
    assert shared.report.pushed >= len(zips)
    assert len(store.names("v2/resolutions/", 1000)) == 200 + len(
        [name for name in ours if name.startswith("v2/resolutions/")]
    )


def test_a_warm_local_cache_seeds_the_share_with_what_its_run_used(local_index, repo, tmp_path):
    """A machine whose local cache is warm adds --cache-url: its run made nothing new, and
    it wrote back nothing ('0 written back'). It writes back every trusted entry it used
    that the store lacks, so a fresh machine then builds with no uv run."""
    share = tmp_path / "share"
    share.mkdir()
    warm = _build(repo, tmp_path / "o1", local_index.url, None, _env(tmp_path, "w1"))
    assert warm.returncode == 0, warm.stderr[-2000:]
    seeded = _build(repo, tmp_path / "o2", local_index.url, share.as_uri(), _env(tmp_path, "w1"))
    assert seeded.returncode == 0, seeded.stderr[-2000:]
    assert "resolving for" not in seeded.stderr  # warm: nothing resolved again
    store = FileStore(share)
    for bucket in ("resolutions", "sizes", "fragments", "artefacts"):  # (no check runs here)
        assert store.names(f"v2/{bucket}/", 1000), bucket
    fresh = _build(repo, tmp_path / "o3", local_index.url, share.as_uri(), _env(tmp_path, "w2"))
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    assert "resolving for" not in fresh.stderr, fresh.stderr[-2000:]
    assert _zips(tmp_path / "o1") == _zips(tmp_path / "o2") == _zips(tmp_path / "o3")
    # written once: a run that used the same entries again finds them there (asked by name)
    again = _build(repo, tmp_path / "o4", local_index.url, share.as_uri(), _env(tmp_path, "w1"))
    assert again.returncode == 0 and " 0 written back" in again.stderr, again.stderr[-2000:]


def test_an_s3_stores_no_is_an_answer_and_any_other_refusal_an_error(s3_endpoint, monkeypatch):
    """Against moto's S3: a name not there is ``None``/``False`` from GET and HEAD, a put over
    an existing name ``False``; a bucket that does not exist (S3 answers 404 too, with
    NoSuchBucket) or a request botocore cannot send is one CacheError saying what was
    being done — never taken for "not there". (A HEAD's 404 has no body to tell a missing
    bucket from a missing key: ``has`` says ``False`` for both.)"""
    from lambdalayer.aws.client import AwsSettings
    from lambdalayer.aws.s3store import S3Store
    from lambdalayer.errors import CacheError

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    _s3(s3_endpoint).create_bucket(Bucket="answers")
    store = S3Store("answers", "p", AwsSettings(endpoint_url=s3_endpoint))
    assert store.open("v2/none") is None and store.has("v2/none") is False
    assert store.put_new("v2/one", b"first") is True
    assert store.put_new("v2/one", b"second") is False  # If-None-Match: * kept the first
    assert store.has("v2/one") is True and store.open("v2/one").read() == b"first"
    missing = S3Store("no-such-bucket", "p", AwsSettings(endpoint_url=s3_endpoint))
    # botocore refuses the name before sending anything (ParamValidationError: no answer)
    unsendable = S3Store("not a bucket!", "p", AwsSettings(endpoint_url=s3_endpoint))
    for refusing, where in (
        (missing, "s3://no-such-bucket/p"),
        (unsendable, "s3://not a bucket!/p"),
    ):
        asks = (
            ("open", ("v2/x",), "reading v2/x from"),
            *((("has", ("v2/x",), "asking for v2/x in"),) if refusing is unsendable else ()),
            ("put_new", ("v2/x", b"x"), "writing v2/x to"),
        )
        for method, args, doing in asks:
            with pytest.raises(CacheError) as refused:
                getattr(refusing, method)(*args)
            assert f"{doing} {where}" in refused.value.message, refused.value.message
    assert missing.has("v2/x") is False
