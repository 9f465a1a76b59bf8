"""Shared fixtures: a real package index on 127.0.0.1 with wheels built here."""

from __future__ import annotations

import io
import os
import platform
import shutil
import subprocess
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from elfsamples import compile_shared_object, minimal_elf
from indexserver import LocalIndex
from ocitools import REGISTRY, DistributionRegistry, make_base_layout, skopeo_copy
from standin import (
    add_lambda_runtime,
    arm64_cpython_install,
    arm64_standin,
    download_arm64_packages,
    x86_64_standin,
)
from wheelmaker import make_sdist, make_wheel

from lambdalayer.environment.runtimepkgs import runtime_tree
from lambdalayer.interpreters import find_interpreter
from lambdalayer.net.index import IndexConfig
from lambdalayer.targets import get_target

HOST_MACHINE = platform.machine()

# The tests' own servers (the index, the registries, moto) are on this machine: they are
# reached direct even where the environment names a proxy (a CI runner behind one).
for _name in ("NO_PROXY", "no_proxy"):
    os.environ[_name] = ",".join(
        part for part in (os.environ.get(_name, ""), "127.0.0.1,localhost,::1") if part
    )

# A native library loaded with ctypes on import: a real ELF file the import test can load
# without needing the target Python's headers.
NATIVE_C = "int native_answer(void) { return 42; }\n"
NATIVE_INIT = """\
import ctypes, pathlib
_lib = ctypes.CDLL(str(pathlib.Path(__file__).with_name("_native.so")))
ANSWER = _lib.native_answer()
"""


def _native_files(package: str, machine: str, workdir: Path) -> dict[str, bytes | str]:
    if machine == HOST_MACHINE:
        library = compile_shared_object(NATIVE_C, workdir / f"{package}-{machine}.so")
    else:
        library = minimal_elf(machine)
    return {f"{package}/__init__.py": NATIVE_INIT, f"{package}/_native.so": library}


def _unbuildable_sdist(path: Path) -> None:
    with tarfile.open(path, "w:gz") as archive:
        readme = b"no pyproject.toml, no setup.py\n"
        info = tarfile.TarInfo(f"{path.name.removesuffix('.tar.gz')}/README")
        info.size = len(readme)
        archive.addfile(info, io.BytesIO(readme))


def build_test_index(root: Path, workdir: Path) -> None:
    """The packages every local-index test can ask for (see README of tests in each test)."""
    make_wheel(root, "alpha", "1.0", requires=["beta>=1"])
    make_wheel(root, "beta", "1.0")
    make_wheel(root, "beta", "2.0")
    make_wheel(root, "needs-old-beta", "1.0", requires=["beta<2"])
    make_wheel(root, "needs-new-beta", "1.0", requires=["beta>=2"])
    # nativepkg 1.0 fits glibc 2.17 on both CPUs; 2.0 ships only manylinux_2_28 for x86_64,
    # so python3.11 (glibc 2.26) must back off to 1.0 while python3.12 takes 2.0.
    for python in ("cp311", "cp312"):
        for machine in ("x86_64", "aarch64"):
            make_wheel(
                root,
                "nativepkg",
                "1.0",
                tag=f"{python}-{python}-manylinux_2_17_{machine}.manylinux2014_{machine}",
                files=_native_files("nativepkg", machine, workdir),
            )
        make_wheel(
            root,
            "nativepkg",
            "2.0",
            tag=f"{python}-{python}-manylinux_2_28_x86_64",
            files=_native_files("nativepkg", "x86_64", workdir),
        )
        # only28 has a single version, tagged only manylinux_2_28: refused for AL2.
        make_wheel(
            root,
            "only28",
            "1.0",
            tag=f"{python}-{python}-manylinux_2_28_x86_64",
            files=_native_files("only28", "x86_64", workdir),
        )
    make_wheel(
        root,
        "abi3pkg",
        "1.0",
        tag="cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64",
        files=_native_files("abi3pkg", "x86_64", workdir),
    )
    # Both wheels of twotags 1.0 are listed in one lock entry; AL2 must get the 2_17 one.
    for floor in ("manylinux_2_17", "manylinux_2_28"):
        make_wheel(
            root,
            "twotags",
            "1.0",
            tag=f"cp311-cp311-{floor}_x86_64",
            files={"twotags/__init__.py": f"FLOOR = {floor!r}\n"},
        )
    make_wheel(
        root,
        "datapkg",
        "1.0",
        files={
            "datapkg/__init__.py": "",
            "datapkg/run.sh": "#!/bin/sh\necho hi\n",
            "datapkg-1.0.data/purelib/datapkg_extra.py": "X = 1\n",
            "datapkg-1.0.data/scripts/datapkg-cli": "#!python\n",
            "datapkg-1.0.data/headers/datapkg.h": "int x;\n",
            "datapkg-1.0.data/data/share/datapkg/readme.txt": "data\n",
        },
        executables=["datapkg/run.sh"],
    )
    make_wheel(root, "storedpkg", "1.0", compression=zipfile.ZIP_STORED)
    # fatpkg carries everything slimming should remove, and things it must keep.
    make_wheel(
        root,
        "fatpkg",
        "1.0",
        files={
            "fatpkg/__init__.py": "from fatpkg import docs\nVALUE = 1\n",
            "fatpkg/core.py": "def f():\n    return 2\n",
            "fatpkg/core.pyi": "def f() -> int: ...\n",
            "fatpkg/py.typed": "",
            "fatpkg/_speedups.c": "int x;\n",
            "fatpkg/include/fat.h": "int x;\n",
            "fatpkg/tests/__init__.py": "",
            "fatpkg/tests/test_core.py": "def test(): pass\n",
            "fatpkg/docs/__init__.py": "DOC = 'importable docs stay'\n",
            "fatpkg/examples/README.rst": "examples\n",
            "fatpkg/__pycache__/core.cpython-39.pyc": b"stale bytecode",
            "fatpkg/py2only.py": "print 'python 2'\n",
        },
    )
    make_wheel(
        root, "evilpkg", "1.0", files={"evilpkg/__init__.py": "", "../../escape.txt": "gotcha"}
    )
    make_wheel(
        root,
        "broken",
        "1.0",
        files={"broken/__init__.py": "raise RuntimeError('needs settings')\n"},
    )
    # stand-ins for the runtime's own SDK, for --exclude-runtime-provided
    make_wheel(root, "boto3", "1.0", requires=["botocore<1.1", "jmespath<1.0.1"])
    make_wheel(root, "botocore", "1.0")
    make_wheel(root, "jmespath", "1.0")
    make_wheel(root, "usesboto", "1.0", requires=["boto3<1.1"])
    # Like pandas: its own ImportError, raised from python-dateutil's ModuleNotFoundError.
    make_wheel(
        root,
        "wrapsdateutil",
        "1.0",
        requires=["python-dateutil"],
        files={
            "wrapsdateutil/__init__.py": "try:\n    import dateutil\nexcept ImportError as error:\n"
            "    raise ImportError('Unable to import required dependency dateutil') from error\n"
        },
    )
    # The runtimes' own packages at the versions data/runtime_packages.toml names, as tiny
    # pure stand-ins: the check mounts them at /var/runtime when a module needs one.
    runtime_own = {
        "awslambdaric": ("3.1.1", ["simplejson", "snapshot-restore-py"]),
        "boto3": ("1.40.4", ["botocore>=1.40.4,<1.41", "jmespath", "s3transfer"]),
        "botocore": ("1.40.4", ["jmespath", "python-dateutil", "urllib3<1.27"]),
        "jmespath": ("1.0.1", []),
        "python-dateutil": ("2.9.0.post0", ["six"]),
        "s3transfer": ("0.13.1", ["botocore"]),
        "simplejson": ("3.20.1", []),
        "six": ("1.17.0", []),
        "snapshot-restore-py": ("1.0.0", []),
        "urllib3": ("1.26.19", []),
    }
    for name, (version, requires) in runtime_own.items():
        module = {"python-dateutil": "dateutil", "snapshot-restore-py": "snapshot_restore_py"}.get(
            name, name
        )
        make_wheel(
            root,
            name,
            version,
            requires=requires,
            files={f"{module}/__init__.py": f"__version__ = {version!r}\n"},
        )
    make_wheel(root, "modern", "1.0")
    # What ships (issue 36): a licence declared each way, a vendored library, a release with
    # a known vulnerability (planted in the index's JSON API by the local_index fixture).
    make_wheel(
        root,
        "licensed",
        "1.0",
        requires=["classic", "vendoring", "gplpkg"],
        metadata=["License-Expression: MIT OR Apache-2.0"],
    )
    make_wheel(
        root,
        "classic",
        "1.0",
        metadata=["License: BSD", "Classifier: License :: OSI Approved :: BSD License"],
    )
    make_wheel(
        root,
        "gplpkg",
        "1.0",
        metadata=[
            "Classifier: Programming Language :: Python :: 3",
            "Classifier: License :: OSI Approved :: GNU General Public License v3 or later (GPLv3+)",
        ],
    )
    for python in ("cp311", "cp312"):
        make_wheel(
            root,
            "vendoring",
            "1.0",
            tag=f"{python}-{python}-manylinux_2_17_x86_64.manylinux2014_x86_64",
            files={
                "vendoring/__init__.py": "",
                "vendoring.libs/libvend-0a1b2c3d.so.1": _native_files(
                    "vendoring", "x86_64", workdir
                )["vendoring/_native.so"],
            },
            metadata=["License: MIT License"],
        )
    for version in ("1.0", "2.0"):
        make_wheel(root, "oldsecure", version, metadata=["License: Apache 2.0"])
    # bigpkg is large enough for an image layer of its own (container/layers.py: 4 MiB)
    for version in ("1.0", "2.0"):
        make_wheel(
            root,
            "bigpkg",
            version,
            files={
                "bigpkg/__init__.py": f"V = {version!r}\n",
                "bigpkg/data.bin": os.urandom(5 << 20),
            },
        )
    make_wheel(root, "modern", "2.0", requires_python=">=3.13")
    make_wheel(root, "flaky", "1.0")
    make_wheel(root, "tampered", "1.0")
    # sourceonly's sdist is a real archive with nothing buildable in it: it fails at once
    # (a corrupt download would make uv retry it several times before giving up).
    _unbuildable_sdist(root / "sourceonly-1.0.tar.gz")
    make_sdist(root, "puresrc", "1.0")
    make_wheel(root, "needs-puresrc", "1.0", requires=["puresrc"])
    make_sdist(
        root,
        "nativesrc",
        "1.0",
        tag="cp312-cp312-linux_x86_64",
        files={"nativesrc/_impl.so": minimal_elf("x86_64")},
    )


# A known vulnerability of oldsecure 1.0, shaped as PyPI's JSON API gives OSV's records.
PLANTED_VULNERABILITY: dict[str, object] = {
    "id": "PYSEC-2026-4242",
    "aliases": ["CVE-2026-4242", "GHSA-abcd-efgh-ijkl"],
    "summary": "oldsecure 1.0 trusts any certificate",
    "details": "oldsecure before 2.0 disables certificate checks when ...",
    "fixed_in": ["2.0"],
    "link": "https://osv.dev/vulnerability/PYSEC-2026-4242",
    "source": "osv",
    "withdrawn": None,
}


@pytest.fixture(scope="session")
def local_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalIndex]:
    """A PEP 503 index on 127.0.0.1 with the packages of :func:`build_test_index`."""
    root = tmp_path_factory.mktemp("index")
    build_test_index(root, tmp_path_factory.mktemp("native-build"))
    with LocalIndex(root) as index:
        index.faults["flaky-1.0-py3-none-any.whl"] = "drop"
        index.faults["tampered-1.0-py3-none-any.whl"] = "corrupt"
        index.vulnerabilities[("oldsecure", "1.0")] = [PLANTED_VULNERABILITY]
        yield index


@pytest.fixture(autouse=True, scope="session")
def _isolated_uv_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """uv's own cache for this session only, so no test depends on another run's state."""
    previous = os.environ.get("UV_CACHE_DIR")
    os.environ["UV_CACHE_DIR"] = str(tmp_path_factory.mktemp("uv-cache"))
    yield
    if previous is None:
        os.environ.pop("UV_CACHE_DIR", None)
    else:
        os.environ["UV_CACHE_DIR"] = previous


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    """An empty lambdalayer wheel cache."""
    return tmp_path / "cache"


# Stand-in Lambda images (tests/standin.py), built once per session --------------------------


@pytest.fixture(scope="session")
def x86_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if HOST_MACHINE != "x86_64":
        pytest.skip("the x86_64 stand-in reuses this machine's CPython")
    found = find_interpreter("3.12")
    if found is None:
        pytest.skip("no CPython 3.12 here to build the x86_64 stand-in from")
    home = found.path.resolve().parent.parent
    return x86_64_standin(tmp_path_factory.mktemp("x86-image"), home, "3.12")


@pytest.fixture(scope="session")
def arm64_debs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Debian's arm64 CPython 3.11 and the libraries it links, as .deb files."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("needs apt-get and dpkg-deb to unpack Debian's arm64 Python")
    try:
        return download_arm64_packages(tmp_path_factory.mktemp("debs"))
    except subprocess.CalledProcessError as error:
        pytest.skip(
            f"apt-get download of Debian's arm64 Python failed (dpkg --add-architecture arm64"
            f" and apt-get update first): {error.stderr.decode(errors='replace')[-200:]}"
        )


@pytest.fixture(scope="session")
def arm_image(arm64_debs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return arm64_standin(tmp_path_factory.mktemp("arm-image"), arm64_debs)


@pytest.fixture(scope="session")
def aarch64_pythons(arm64_debs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of aarch64 CPython installs (for UV_PYTHON_INSTALL_DIR), when this machine
    can run one: qemu-user and its aarch64 libraries (Debian multiarch, .ci/run installs them)."""
    if shutil.which("qemu-aarch64-static") is None:
        pytest.skip("needs qemu-user-static to run an aarch64 CPython")
    if not Path("/lib/ld-linux-aarch64.so.1").exists():
        pytest.skip("needs this machine's aarch64 libraries (apt-get install libc6:arm64 …)")
    return arm64_cpython_install(tmp_path_factory.mktemp("aarch64-pythons"), arm64_debs)


# A real OCI registry and a stand-in Lambda base image in it (tests/ocitools.py) ------------


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributionRegistry]:
    """Debian's docker-registry on 127.0.0.1 (distribution 2.x), for the session."""
    if REGISTRY is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    with DistributionRegistry(tmp_path_factory.mktemp("oci-registry")) as served:
        yield served


@pytest.fixture(scope="session")
def lambda_standin_layout(x86_image: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The x86_64 stand-in with a bootstrap like AWS's (``/lambda-entrypoint.sh``,
    ``/var/runtime`` with awslambdaric from the public index: marker ``network``) as a
    one-layer OCI layout (tag 3.12): a base whose images boot."""
    if shutil.which("umoci") is None:
        pytest.skip("umoci is not installed (apt-get install umoci)")
    work = tmp_path_factory.mktemp("lambda-standin")
    root = work / "root"
    subprocess.run(["cp", "-al", str(x86_image), str(root)], check=True)
    tree = runtime_tree(get_target("python3.12"), work / "cache", IndexConfig())
    assert tree is not None
    add_lambda_runtime(root, tree.path, "python3.12", "/var/lang/bin/python3.12")
    return make_base_layout(root, work / "layout", "3.12", "amd64")


@pytest.fixture(scope="session")
def lambda_arm_layout(arm_image: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The arm64 stand-in (Debian's CPython 3.11) with a bootstrap like AWS's, as a one-layer
    OCI layout (tag 3.11). Its scripts are for the tests' record: under qemu-user without
    binfmt, lambdalayer does the entrypoint's steps itself."""
    if shutil.which("umoci") is None:
        pytest.skip("umoci is not installed (apt-get install umoci)")
    work = tmp_path_factory.mktemp("lambda-arm-standin")
    root = work / "root"
    subprocess.run(["cp", "-al", str(arm_image), str(root)], check=True)
    tree = runtime_tree(get_target("python3.11", "arm64"), work / "cache", IndexConfig())
    assert tree is not None
    add_lambda_runtime(root, tree.path, "python3.11", "/usr/bin/python3.11")
    (root / "bin/sh").unlink(missing_ok=True)  # this machine's dash is no arm64 program
    return make_base_layout(root, work / "layout", "3.11", "arm64")


@pytest.fixture(scope="session")
def standin_layout(x86_image: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The x86_64 stand-in root as a one-layer OCI image layout (tag 3.12), made by umoci."""
    if shutil.which("umoci") is None:
        pytest.skip("umoci is not installed (apt-get install umoci)")
    layout = tmp_path_factory.mktemp("standin-base") / "layout"
    return make_base_layout(x86_image, layout, "3.12", "amd64")


@pytest.fixture(scope="session")
def standin_base(oci_registry: DistributionRegistry, standin_layout: Path) -> str:
    """The stand-in base pushed to the registry by skopeo, as ``HOST/lambda/python:3.12``."""
    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed (apt-get install skopeo)")
    reference = f"{oci_registry.host}/lambda/python:3.12"
    skopeo_copy(f"oci:{standin_layout}:3.12", f"docker://{reference}")
    return reference
