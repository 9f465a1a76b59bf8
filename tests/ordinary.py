"""An ordinary (non-root) user for the tests that must see what most users see.

Most users are not root: the tests that matter for them run their commands through
``runuser`` as a user made here with ``useradd`` (once per machine), in a clean
environment. Skips (saying why) when the suite does not run as root or the tools are absent.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

USER = "lambdalayer-tests"
NETWORK_VARIABLES = (
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "PIP_CERT",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "NO_PROXY",
    "https_proxy",
    "http_proxy",
    "no_proxy",
)


def ordinary_user() -> pwd.struct_passwd:
    """The test user (made when absent); skips the test when it cannot be had."""
    if os.geteuid() != 0:
        pytest.skip("making an ordinary user needs root (useradd, runuser)")
    if shutil.which("useradd") is None or shutil.which("runuser") is None:
        pytest.skip("useradd and runuser are not installed")
    try:
        return pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--create-home", "--shell", "/bin/bash", USER],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(USER)


@contextlib.contextmanager
def workdir(user: pwd.struct_passwd) -> Iterator[Path]:
    """A new directory in the user's home, theirs, removed afterwards (pytest's own
    temporary directories are root's, mode 0700: an ordinary user cannot reach them)."""
    path = Path(tempfile.mkdtemp(dir=user.pw_dir, prefix="test-"))
    os.chown(path, user.pw_uid, user.pw_gid)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def give(path: Path, user: pwd.struct_passwd) -> Path:
    """``path`` and everything in it, owned by ``user`` (never a hard link to a file
    elsewhere: its owner would change there too)."""
    for item in [path, *path.rglob("*")]:
        facts = item.lstat()
        if stat.S_ISREG(facts.st_mode) and facts.st_nlink > 1:
            raise AssertionError(f"{item} is a hard link: chown would change it elsewhere too")
        os.lchown(item, user.pw_uid, user.pw_gid)
    return path


def run_as(
    user: pwd.struct_passwd,
    command: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """``command`` run as ``user`` in ``cwd``, with only ``env`` (and HOME, USER, PATH)."""
    # The machine's TLS settings (a corporate CA, a proxy) are the user's too.
    network = {name: os.environ[name] for name in NETWORK_VARIABLES if name in os.environ}
    clean = {
        **network,
        "HOME": user.pw_dir,
        "USER": user.pw_name,
        "LOGNAME": user.pw_name,
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        **(env or {}),
    }
    assignments = [f"{name}={value}" for name, value in clean.items()]
    return subprocess.run(
        ["runuser", "-u", user.pw_name, "--", "env", "-i", *assignments, *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def install_for(user: pwd.struct_passwd, home: Path, repo: Path) -> Path:
    """A virtual environment of the user's own (Debian's python3) with lambdalayer from
    ``repo`` installed into it (its dependencies from the package index); its ``bin``."""
    venv = home / "venv"
    made = run_as(user, ["/usr/bin/python3", "-m", "venv", str(venv)], home)
    assert made.returncode == 0, made.stderr
    source = home / "source"
    shutil.copytree(
        repo,
        source,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "__pycache__", "*.egg-info", "build", "dist"
        ),
    )
    give(source, user)
    installed = run_as(user, [str(venv / "bin" / "pip"), "install", "--quiet", str(source)], home)
    assert installed.returncode == 0, installed.stderr[-2000:]
    return venv / "bin"


def python_on_path(home: Path, version: str) -> dict[str, str]:
    """A CPython ``version`` the user can run, as a directory on PATH: hard links to this
    machine's (root's pyenv sits in /root, which other users cannot enter), left root's,
    with its libpython found through LD_LIBRARY_PATH (pyenv's build names /root/… as its
    RUNPATH). The variables to run with; skips when this machine has none."""
    from lambdalayer.interpreters import find_interpreter

    found = find_interpreter(version)
    if found is None or found.prefix is None:
        pytest.skip(f"needs a CPython {version} on this machine")
    copy = home / f"python{version}"
    subprocess.run(["cp", "-al", str(found.prefix), str(copy)], check=True)
    return {"PATH": f"{copy}/bin", "LD_LIBRARY_PATH": str(copy / "lib")}


def _under_root(path: Path) -> Path | None:
    """The directory directly under /root that ``path`` lies in, or ``None``."""
    parts = path.resolve().parts
    return Path(*parts[:3]) if len(parts) > 2 and parts[1] == "root" else None


def run_here_as(
    user: pwd.struct_passwd,
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    interpreters: Sequence[Path] = (),
    shared: Mapping[Path, Path] | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """``lambdalayer ARGV`` from this checkout, run by ``user`` with only ``env``
    (:func:`here_as`), to its end."""
    return subprocess.run(
        here_as(user, argv, env, interpreters=interpreters, shared=shared),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def here_as(
    user: pwd.struct_passwd,
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    interpreters: Sequence[Path] = (),
    shared: Mapping[Path, Path] | None = None,
) -> list[str]:
    """The command that runs ``lambdalayer ARGV`` from this checkout as ``user`` with only
    ``env`` (lambdalayer's process a child of the command's: ``runuser`` waits for it).

    In a private mount namespace of its own (nothing on this machine changes): the
    interpreters lambdalayer runs on and ``interpreters`` that live under ``/root`` (mode
    0700: pyenv's) are mounted at their own paths on a fresh ``/root``, and each of
    ``shared`` (a directory of root's: a session fixture's image) read-only at the path
    given. Faster than :func:`install_for` when what is tested is not the installation.
    """
    needed = sorted(
        {
            top
            for path in (Path(sys.executable), Path(sys.base_prefix), *interpreters)
            if (top := _under_root(path)) is not None
        }
    )
    staging = Path("/run") / f"lambdalayer-tests-{os.getpid()}"
    steps = [f"mkdir -p {staging}"]
    steps += [
        f"mkdir -p {staging}/{n} && mount --bind {top} {staging}/{n}"
        for n, top in enumerate(needed)
    ]
    steps.append("mount -t tmpfs -o mode=0755 tmpfs /root")
    steps += [f"mkdir -p {top} && mount --move {staging}/{n} {top}" for n, top in enumerate(needed)]
    for host, inside in (shared or {}).items():
        steps.append(f"mkdir -p {inside} && mount --bind -o ro {host} {inside}")
    network = {name: os.environ[name] for name in NETWORK_VARIABLES if name in os.environ}
    clean = {**network, "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", **env}
    assignments = [f"{name}={value}" for name, value in clean.items()]
    command = [sys.executable, "-m", "lambdalayer", *argv]
    steps.append(f"exec runuser -u {user.pw_name} -- env -i {shlex.join([*assignments, *command])}")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", " && ".join(steps)]
