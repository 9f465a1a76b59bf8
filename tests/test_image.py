"""Lambda's userland without Docker: the OCI pull, and imports inside stand-in images.

The registry is a real HTTP server on 127.0.0.1 (tests/registryserver.py); the images are
stand-ins built here (tests/standin.py). Sandboxes and qemu are real programs: a test
whose program is missing skips and says which (.ci/run installs them all).
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cliutil import run_cli
from registryserver import Registry, RegistryServer, layer_tarball

from lambdalayer.check.request import CheckRequest, ImportOptions
from lambdalayer.check.rules import check_zip
from lambdalayer.environment.image import pull_image
from lambdalayer.errors import FetchError
from lambdalayer.targets import get_target

HOST = platform.machine()
needs_bwrap = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install bubblewrap)"
)
needs_qemu = pytest.mark.skipif(
    shutil.which("qemu-aarch64-static") is None, reason="qemu-user-static is not installed"
)
needs_x86 = pytest.mark.skipif(
    HOST != "x86_64", reason="the x86_64 stand-in reuses this machine's CPython"
)
SITE_312 = "python/lib/python3.12/site-packages/"
SITE_311 = "python/lib/python3.11/site-packages/"


# --- the OCI pull ------------------------------------------------------------------------


@pytest.fixture
def registry() -> Iterator[RegistryServer]:
    state = Registry()
    base = layer_tarball(
        {
            "etc": None,
            "etc/hello": b"hi",
            "etc/gone": b"x",
            "var": None,
            "var/cache": None,
            "var/cache/old-a": b"a",
            "var/cache/old-b": b"b",
            "opt": None,
            "var/task": None,
            "usr": None,
            "usr/bin": None,
        }
    )
    top = layer_tarball(
        {
            "etc/.wh.gone": b"",
            "var/cache/.wh..wh..opq": b"",
            "var/cache/new": b"n",
            "etc/added": b"added",
        }
    )
    arm = layer_tarball({"etc": None, "etc/machine": b"aarch64"})
    state.add_image("3.12", {"amd64": [base, top], "arm64": [arm]})
    state.add_image("corrupt", {"amd64": [layer_tarball({"etc": None, "etc/x": b"x" * 1000})]})
    server = RegistryServer(state)
    yield server
    server.close()


def test_pull_follows_the_index_applies_whiteouts_and_never_sends_the_token_elsewhere(
    registry, tmp_path
):
    pulled = pull_image(get_target("python3.12"), tmp_path / "cache", registry_url=registry.url)
    root = pulled.rootfs
    assert (root / "etc/hello").read_bytes() == b"hi"
    assert not (root / "etc/gone").exists()  # removed by .wh.gone
    assert sorted(p.name for p in (root / "var/cache").iterdir()) == ["new"]  # opaque directory
    assert (root / "etc/added").read_bytes() == b"added"
    assert not list(root.rglob(".wh.*"))
    assert pulled.digest.startswith(
        "sha256:"
    ) and pulled.rootfs.parent.name == pulled.digest.replace(":", "-")
    state = registry.registry
    assert state.seen_by_blob_host and all(auth is None for _, auth in state.seen_by_blob_host)
    assert any(auth == "Bearer anonymous-test-token" for _, auth in state.seen_by_registry)
    # Cached by digest: a second pull downloads no blob.
    blob_requests = len(state.seen_by_blob_host)
    again = pull_image(get_target("python3.12"), tmp_path / "cache", registry_url=registry.url)
    assert again.rootfs == root and again.downloaded_bytes == 0
    assert len(state.seen_by_blob_host) == blob_requests


def test_pull_picks_the_manifest_of_the_targets_cpu(registry, tmp_path):
    pulled = pull_image(
        get_target("python3.12", "arm64"), tmp_path / "cache", registry_url=registry.url
    )
    assert (pulled.rootfs / "etc/machine").read_bytes() == b"aarch64"
    assert not (pulled.rootfs / "etc/hello").exists()


def test_a_corrupted_blob_is_refused_and_nothing_is_kept(registry, tmp_path):
    state = registry.registry
    index = json.loads(state.manifests[state.tags["corrupt"]][1])
    manifest = json.loads(state.manifests[index["manifests"][0]["digest"]][1])
    state.corrupt.add(manifest["layers"][0]["digest"])
    with pytest.raises(FetchError, match="does not match its digest"):
        pull_image(
            get_target("python3.12"), tmp_path / "cache", registry_url=registry.url, tag="corrupt"
        )
    images = tmp_path / "cache" / "images"
    assert not images.exists() or not list(images.iterdir())


def test_image_pull_command_prints_where_the_image_is(registry, tmp_path, capsys):
    code, out, err = run_cli(
        capsys,
        "image",
        "pull",
        "python3.12",
        "--arch",
        "aarch64",
        "--registry",
        registry.url,
        "--cache-dir",
        str(tmp_path),
        "--json",
    )
    assert code == 0, err
    document = json.loads(out)
    assert document["schema"] == 3 and document["machine"] == "aarch64"
    assert Path(document["rootfs"], "etc/machine").is_file()


def test_check_image_pull_without_a_python_in_it_says_why_imports_did_not_run(
    registry, tmp_path, capsys
):
    layer = tmp_path / "l.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(f"{SITE_312}m.py", "X = 1\n")
    code, out, err = run_cli(
        capsys,
        "check",
        str(layer),
        "--runtime",
        "python3.12",
        "--image",
        "pull",
        "--registry",
        registry.url,
        "--cache-dir",
        str(tmp_path / "c"),
    )
    assert code == 0, err
    assert "imports: not verified: in the image: " in out and "has no python3.12" in out
    assert out.splitlines()[-1].startswith("check not verified")
    # #31: an image pulled before is preferred over the synthesized root, with no network
    # look-up on the next check (the registry is never asked again)
    asked = len(registry.registry.seen_by_registry)
    code, again, err = run_cli(
        capsys, "check", str(layer), "--runtime", "python3.12", "--cache-dir", str(tmp_path / "c")
    )
    assert code == 0, err
    assert "imports: not verified: in the image: " in again
    assert len(registry.registry.seen_by_registry) == asked


# --- imports inside stand-in images ---------------------------------------------------------


@pytest.fixture(scope="module")
def gl_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A layer whose bundled library needs libGL.so.1 (this machine has it; Lambda does not)."""
    if shutil.which("gcc") is None or not Path("/usr/lib/x86_64-linux-gnu/libGL.so.1").exists():
        pytest.skip("needs gcc and this machine's libGL (libgl1) to build the library")
    work = tmp_path_factory.mktemp("gl")
    (work / "gl.c").write_text("void glFlush(void);\nint draw(void) { glFlush(); return 1; }\n")
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-o",
            str(work / "_draw.so"),
            str(work / "gl.c"),
            "/usr/lib/x86_64-linux-gnu/libGL.so.1",
        ],
        check=True,
    )
    layer = work / "gl.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(
            f"{SITE_312}drawing/__init__.py",
            "import ctypes, pathlib\nctypes.CDLL(str(pathlib.Path(__file__).with_name('_draw.so')))\n",
        )
        archive.writestr(f"{SITE_312}drawing/_draw.so", (work / "_draw.so").read_bytes())
    return layer


@needs_bwrap
@needs_x86
def test_missing_library_fails_inside_the_image_and_imports_on_this_machine(x86_image, gl_layer):
    on_host = check_zip(gl_layer, CheckRequest(get_target("python3.12")))
    assert [result.ok for result in on_host.imports] == [True]
    assert (
        on_host.imports_ran_in is not None and "this machine's libraries" in on_host.imports_ran_in
    )
    inside = check_zip(
        gl_layer, CheckRequest(get_target("python3.12"), imports=ImportOptions(image=x86_image))
    )
    [result] = inside.imports
    assert not result.ok and result.error is not None and "libGL.so.1" in result.error
    assert inside.imports_ran_in is not None and "bubblewrap" in inside.imports_ran_in


@needs_x86
@pytest.mark.parametrize("sandbox", ["bubblewrap", "proot", "unshare"])
def test_a_pure_layer_imports_inside_the_x86_64_image_in_every_sandbox(
    x86_image, tmp_path, sandbox
):
    program = {"bubblewrap": "bwrap", "proot": "proot", "unshare": "unshare"}[sandbox]
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed")
    layer = tmp_path / "pure.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(
            f"{SITE_312}probe.py",
            "import os, sys\nassert os.environ['LAMBDA_TASK_ROOT'] == '/var/task'\n"
            "assert sys.executable == '/var/lang/bin/python3.12', sys.executable\n",
        )
    report = check_zip(
        layer,
        CheckRequest(
            get_target("python3.12"), imports=ImportOptions(image=x86_image, sandbox=sandbox)
        ),
    )
    if sandbox == "unshare" and report.imports_skipped:
        pytest.skip(report.imports_skipped)
    assert [(r.module, r.error) for r in report.imports] == [("probe", None)]
    assert report.imports_ran_in is not None and sandbox in report.imports_ran_in


@needs_bwrap
@needs_qemu
def test_an_arm64_layer_imports_inside_the_arm64_image_under_qemu(arm_image, tmp_path, capsys):
    layer = tmp_path / "arm.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(
            f"{SITE_311}probe.py", "import platform\nassert platform.machine() == 'aarch64'\n"
        )
        archive.writestr(f"{SITE_311}broken.py", "raise ImportError('no such thing here')\n")
    code, out, _ = run_cli(
        capsys,
        "check",
        str(layer),
        "--runtime",
        "python3.11",
        "--arch",
        "arm64",
        "--image",
        str(arm_image),
    )
    assert code == 1
    assert "imports: 1 of 2 modules import (inside the image" in out
    assert "bubblewrap + qemu-aarch64-static" in out
    assert "import broken failed: ImportError: no such thing here" in out


def test_a_layer_member_or_whiteout_outside_the_root_is_refused_and_nothing_outside_changes(
    tmp_path,
):
    from lambdalayer.errors import UnsafeArchiveError
    from lambdalayer.unpack import Quota, Unpacker, unpack_tar

    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    root = tmp_path / "root"
    root.mkdir()
    layer = tmp_path / "layer.tar.gz"

    def apply(files: dict[str, bytes | None]) -> None:
        layer.write_bytes(layer_tarball(files))
        with Unpacker(root, Quota(1 << 20), "layer", rooted_links=True) as unpacker:
            unpack_tar(layer, unpacker, whiteouts=True)

    for name in (
        "../outside.txt",
        "./../outside.txt",
        "../.wh.outside.txt",
        "etc/../../.wh.outside.txt",
    ):
        with pytest.raises(UnsafeArchiveError, match="climbs out of the archive"):
            apply({name: b"gotcha"})
        assert outside.read_text() == "keep me"
    # a directory symlinked outside by an earlier layer is resolved inside the root
    (root / "escape").symlink_to(tmp_path)
    apply({"escape/outside.txt": b"gotcha"})
    assert outside.read_text() == "keep me"
    assert (root / str(tmp_path).lstrip("/") / "outside.txt").read_bytes() == b"gotcha"
    # ./-prefixed names, the usual form, are fine
    apply({"./etc": None, "./etc/hostname": b"lambda"})
    assert (root / "etc/hostname").read_bytes() == b"lambda"
