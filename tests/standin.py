"""Stand-in Lambda images for the in-image import check (the real ones are not reachable here).

Both are root filesystems laid out the way Lambda's are where it matters: the runtime's
Python, ``/lib64`` and ``/usr/lib64`` on the loader's path (Lambda's ``LD_LIBRARY_PATH``),
empty ``/opt``, ``/var/task``, ``/var/runtime``, ``/tmp``, ``/proc`` and ``/dev``. And
like Lambda's, they have **no libGL**: what a layer needs beyond a minimal system fails
inside them even where this machine has it.

- x86_64: this machine's CPython (a pyenv install) hard-linked to ``/var/lang``, plus
  only the libraries it and the test layers need, found by reading DT_NEEDED;
- arm64: Debian's arm64 CPython 3.11, unpacked from its packages (``apt-get download``,
  which needs ``dpkg --add-architecture arm64`` and ``apt-get update``: ``.ci/run`` does
  both), to run under qemu-user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from lambdalayer.elf import read_elf

SKELETON = ("opt", "var/task", "var/runtime", "var/lang/lib", "tmp", "proc", "dev", "etc")
HOST_LIBRARY_DIRS = (
    Path("/lib/x86_64-linux-gnu"),
    Path("/usr/lib/x86_64-linux-gnu"),
    Path("/lib64"),
)
# Libraries a Lambda runtime has (data/runtime_libraries/al2023-x86_64.toml) that test layers load.
BASE_LIBRARIES = (
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libgcc_s.so.1",
    "libstdc++.so.6",
    "libz.so.1",
    "ld-linux-x86-64.so.2",
)
NEVER = frozenset(
    {"libGL.so.1", "libX11.so.6", "libglib-2.0.so.0", "libgthread-2.0.so.0", "libxcb.so.1"}
)
ARM64_PACKAGES = (
    "python3.11-minimal",
    "libpython3.11-minimal",
    "libpython3.11-stdlib",
    "libc6",
    "libexpat1",
    "zlib1g",
    "libffi8",
    "libgcc-s1",
    "libstdc++6",
    "libbz2-1.0",
    "liblzma5",
    "libssl3",
    "libcrypt1",
    "libuuid1",
    "libsqlite3-0",
)


def _skeleton(root: Path) -> None:
    root.chmod(0o755)  # a root filesystem anyone may enter (the sandbox runs as nobody)
    for place in SKELETON:
        (root / place).mkdir(parents=True, exist_ok=True)


def _link_tree(source: Path, destination: Path) -> None:
    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(
        source,
        destination,
        symlinks=True,
        copy_function=link,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns("test", "tests", "idlelib", "tkinter", "__pycache__"),
    )


def _host_library(soname: str) -> Path | None:
    for directory in HOST_LIBRARY_DIRS:
        candidate = directory / soname
        if candidate.exists():
            return candidate.resolve()
    return None


def x86_64_standin(root: Path, python_home: Path, version: str) -> Path:
    """A stand-in x86_64 image with ``python_home`` (a CPython install) as its /var/lang."""
    _skeleton(root)
    _link_tree(python_home / "bin", root / "var/lang/bin")
    _link_tree(python_home / "lib", root / "var/lang/lib")
    lib64 = root / "lib64"
    lib64.mkdir(exist_ok=True)
    (root / "usr").mkdir(exist_ok=True)
    if not (root / "usr/lib64").exists():
        (root / "usr/lib64").symlink_to("../lib64")
    wanted = list(BASE_LIBRARIES)
    binaries = [
        root / f"var/lang/bin/python{version}",
        *(root / f"var/lang/lib/python{version}/lib-dynload").glob("*.so"),
    ]
    binaries += list((root / "var/lang/lib").glob("libpython*.so*"))
    for binary in binaries:
        if binary.is_file() and not binary.is_symlink():
            wanted += read_elf(binary.read_bytes()).needed
    seen: set[str] = set()
    while wanted:
        soname = wanted.pop()
        if soname in seen or soname in NEVER or soname.startswith("libpython"):
            continue
        seen.add(soname)
        found = _host_library(soname)
        if found is None:
            continue
        shutil.copy2(found, lib64 / soname)
        wanted += read_elf(found.read_bytes()).needed
    return root


def download_arm64_packages(directory: Path) -> list[Path]:
    """Debian's arm64 packages of the stand-in; raises CalledProcessError when apt cannot."""
    directory.mkdir(parents=True, exist_ok=True)
    existing = sorted(directory.glob("*.deb"))
    if len(existing) >= len(ARM64_PACKAGES):
        return existing
    subprocess.run(
        ["apt-get", "download", "-q", *(f"{name}:arm64" for name in ARM64_PACKAGES)],
        cwd=directory,
        check=True,
        capture_output=True,
    )
    return sorted(directory.glob("*.deb"))


def arm64_standin(root: Path, packages: list[Path]) -> Path:
    """A stand-in arm64 image: Debian's CPython 3.11 (at /usr/bin/python3.11) and its libraries."""
    _skeleton(root)
    for package in packages:
        subprocess.run(["dpkg-deb", "-x", str(package), str(root)], check=True)
    # Lambda's loader path names /lib64 and /usr/lib64; Debian keeps its libraries in the
    # multiarch directories, found through ld.so.cache, which a bare root does not have.
    for link, target in (
        ("lib64", "lib/aarch64-linux-gnu"),
        ("usr/lib64", "lib/aarch64-linux-gnu"),
    ):
        path = root / link
        if path.is_symlink() or path.exists():
            if path.is_dir() and not path.is_symlink():
                for item in (root / target).iterdir():
                    if not (path / item.name).exists():
                        (path / item.name).symlink_to(f"/{target}/{item.name}")
                continue
            path.unlink()
        path.symlink_to(f"/{target}")
    return root


ARM64_PYTHON_PACKAGES = ("python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib")


def arm64_cpython_install(directory: Path, packages: list[Path]) -> Path:
    """Debian's arm64 CPython 3.11 laid out as an install prefix, where uv puts its own.

    ``directory/cpython-3.11.2-linux-aarch64-gnu/{bin,lib}``: what ``uv python install
    cpython-3.11-linux-aarch64-gnu`` makes (it cannot download one here); returns
    ``directory``, for ``UV_PYTHON_INSTALL_DIR``.
    """
    unpacked = directory / ".unpacked"
    for package in packages:
        if package.name.split("_")[0] in ARM64_PYTHON_PACKAGES:
            subprocess.run(["dpkg-deb", "-x", str(package), str(unpacked)], check=True)
    prefix = directory / "cpython-3.11.2-linux-aarch64-gnu"
    (prefix / "bin").mkdir(parents=True)
    shutil.copy2(unpacked / "usr/bin/python3.11", prefix / "bin/python3.11")
    shutil.copytree(unpacked / "usr/lib/python3.11", prefix / "lib/python3.11", symlinks=True)
    shutil.rmtree(unpacked)
    return directory


# AWS's base images start a function by ENTRYPOINT /lambda-entrypoint.sh with the handler as
# CMD: the script takes the handler as its one argument, exports it as _HANDLER and execs
# /var/runtime/bootstrap (with AWS_LAMBDA_RUNTIME_API unset it starts the Runtime Interface
# Emulator instead, which a stand-in does not have). The bootstrap execs the runtime's
# CPython on /var/runtime/bootstrap.py, which starts awslambdaric (from /var/runtime).
ENTRYPOINT = """\
#!/bin/sh
# A stand-in of AWS's /lambda-entrypoint.sh (the same contract, written for the tests).
if [ $# -ne 1 ]; then
  echo "entrypoint requires the handler name to be the first argument" 1>&2
  exit 142
fi
export _HANDLER="$1"
if [ -z "${AWS_LAMBDA_RUNTIME_API}" ]; then
  echo "no Runtime Interface Emulator in this stand-in: set AWS_LAMBDA_RUNTIME_API" 1>&2
  exit 1
fi
exec /var/runtime/bootstrap
"""
BOOTSTRAP = """\
#!/bin/sh
# A stand-in of AWS's /var/runtime/bootstrap.
export AWS_EXECUTION_ENV=AWS_Lambda_{runtime}
exec {python} /var/runtime/bootstrap.py
"""


def add_lambda_runtime(root: Path, runtime_packages: Path, runtime: str, python: str) -> Path:
    """Give a stand-in root what boots a function as AWS's images do: ``/lambda-entrypoint.sh``,
    ``/var/runtime/bootstrap`` and ``bootstrap.py`` (lambdalayer's, which makes the same calls
    as AWS's), the runtime's own packages (awslambdaric and boto3 from the index) at
    ``/var/runtime``, and a ``/bin/sh`` (this machine's dash) for the scripts."""
    shutil.copytree(runtime_packages, root / "var/runtime", symlinks=True, dirs_exist_ok=True)
    bootstrap_py = Path(__file__).parents[1] / "src/lambdalayer/environment/_bootstrap.py"
    shutil.copy(bootstrap_py, root / "var/runtime/bootstrap.py")
    (root / "var/runtime/bootstrap").write_text(BOOTSTRAP.format(runtime=runtime, python=python))
    (root / "lambda-entrypoint.sh").write_text(ENTRYPOINT)
    for script in (root / "var/runtime/bootstrap", root / "lambda-entrypoint.sh"):
        script.chmod(0o755)
    shell = root / "bin/sh"
    if not shell.exists() and Path("/bin/dash").is_file():
        shell.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2("/bin/dash", shell)  # needs only libc, which every stand-in has
    return root
