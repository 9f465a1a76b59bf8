"""Code in the sandbox sees none of the caller's secrets, only its own processes, at most 1,024.

The caller's environment holds credentials (``AWS_SECRET_ACCESS_KEY``, a ``*_TOKEN``, a
registry password), its home a ``~/.aws/credentials`` and a ``~/.docker/config.json``. A
probe — a layer's module at import, or a function's handler — reads every ``/proc/*/environ``
and ``/proc/*/cmdline`` it can see, every inherited descriptor, its own environment and
those files by their host paths, lists ``/proc``, then forks until the kernel refuses (at
most 1,100 times, every child ended again) and reports all of it. Run in every sandbox kind
installed here, as root and as an ordinary user (``useradd`` + ``runuser``).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cliutil import run_cli
from ordinary import give, ordinary_user, run_here_as, workdir

from lambdalayer.check.request import CheckRequest, ImportOptions
from lambdalayer.check.rules import check_zip
from lambdalayer.environment.imports import LAMBDA_ENVIRONMENT
from lambdalayer.environment.roots import HOST
from lambdalayer.interpreters import find_interpreter
from lambdalayer.invoke import FunctionConfig, lambda_variables
from lambdalayer.targets import get_target

SITE_312 = "python/lib/python3.12/site-packages/"
PROGRAMS = {"bubblewrap": "bwrap", "unshare": "unshare", "proot": "proot"}
SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "secret-aws-key-7f3a",
    "GITHUB_TOKEN": "secret-github-token-91c2",
    "REGISTRY_PASSWORD": "secret-registry-password-5d0e",
}
FILE_SECRET = "secret-in-a-file-4b8f"
# What the code may see: Lambda's variables (with its fake credentials), the user's --env,
# the working directory bubblewrap sets, LC_CTYPE, which CPython sets itself when the
# locale LANG names is missing (PEP 538), and the trace id awslambdaric sets per invocation.
ALLOWED_VARIABLES = {
    *LAMBDA_ENVIRONMENT,
    *lambda_variables("probe.handler", get_target("python3.12"), FunctionConfig()),
    "STAGE",
    "PWD",
    "LC_CTYPE",
    "_X_AMZN_TRACE_ID",
}
FORK_BOUND = 1100  # the probe never forks more than this, limit or not
MAX_PROCESSES = 1024  # Lambda's limit on processes and threads (AWS: Lambda quotas)

PROBE = r"""
import json, os, signal, time

SECRETS = {secrets!r}
PATHS = {paths!r}


def _read(path):
    try:
        with open(path, "rb") as stream:
            return stream.read(1 << 20)
    except OSError:
        return b""


def _look():
    found = []
    pids = [pid for pid in os.listdir("/proc") if pid.isdigit()]
    for pid in pids:
        for part in ("environ", "cmdline"):
            data = _read(f"/proc/{{pid}}/{{part}}")
            found += [f"/proc/{{pid}}/{{part}}" for secret in SECRETS if secret.encode() in data]
    for descriptor in range(3, 256):
        try:
            data = os.pread(descriptor, 1 << 20, 0)
        except OSError:
            continue
        found += [f"descriptor {{descriptor}}" for secret in SECRETS if secret.encode() in data]
    for path in PATHS:
        data = _read(path)
        found += [path for secret in SECRETS if secret.encode() in data]
    found += [
        f"environment {{key}}"
        for key, value in os.environ.items()
        for secret in SECRETS
        if secret in value
    ]
    return found, pids


def _fork_until(bound):
    children, refused = [], None
    try:
        for _ in range(bound):
            pid = os.fork()
            if pid == 0:
                time.sleep(60)
                os._exit(0)
            children.append(pid)
    except OSError as error:
        refused = error.errno
    finally:
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        for pid in children:
            os.waitpid(pid, 0)
    return len(children), refused


def report():
    found, pids = _look()
    forked, refused = _fork_until({bound})
    return {{
        "found": found,
        "pids": pids,
        "pid1": _read("/proc/1/cmdline").decode(errors="replace")[:1000],  # errors: 4,096 chars
        "forked": forked,
        "refused": refused,
        "variables": sorted(os.environ),
    }}


def handler(event, context):
    return report()
"""
AT_IMPORT = """
REPORT = report()
raise ImportError("PROBE " + json.dumps(REPORT))
"""


def probe_source(home: Path, *, at_import: bool = True) -> str:
    paths = [
        str(home / ".aws" / "credentials"),
        str(home / ".docker" / "config.json"),
        "/root/.aws/credentials",
        "/root/.docker/config.json",
    ]
    secrets = [*SECRETS.values(), FILE_SECRET]
    source = PROBE.format(secrets=secrets, paths=paths, bound=FORK_BOUND)
    return source + AT_IMPORT if at_import else source


def secret_home(place: Path) -> Path:
    """A home directory with AWS and Docker credentials in it."""
    home = place / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text(
        f"[default]\naws_secret_access_key = {FILE_SECRET}\n"
    )
    (home / ".docker").mkdir()
    (home / ".docker" / "config.json").write_text(json.dumps({"auths": {"x": FILE_SECRET}}))
    return home


def probe_layer(place: Path, home: Path) -> Path:
    layer = place / "probe.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(f"{SITE_312}probe.py", probe_source(home))
    return layer


def assert_saw_nothing(report: dict[str, object], caller_cmdline: str) -> None:
    """The promise, from what the probe reported."""
    assert report["found"] == [], report["found"]
    assert set(report["variables"]) <= ALLOWED_VARIABLES, report["variables"]  # type: ignore[arg-type]
    pids = report["pids"]
    assert isinstance(pids, list) and len(pids) < 16, pids  # the sandbox's own, no more
    assert report["pid1"] != caller_cmdline[:1000]
    forked, refused = report["forked"], report["refused"]
    assert refused == errno.EAGAIN, report
    assert isinstance(forked, int) and forked < MAX_PROCESSES, report


def _from_import_error(error: str | None) -> dict[str, object]:
    assert error is not None and "PROBE " in error, error
    return dict(json.loads(error.split("PROBE ", 1)[1]))


@pytest.fixture
def secret_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The caller's environment and home full of credentials; returns the home."""
    home = secret_home(tmp_path)
    monkeypatch.setenv("HOME", str(home))
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return home


def _require(sandbox: str) -> None:
    if shutil.which(PROGRAMS[sandbox]) is None:
        pytest.skip(f"{PROGRAMS[sandbox]} is not installed")
    if sandbox == "unshare" and os.geteuid() != 0:
        pytest.skip("the unshare sandbox needs root")


def _caller_cmdline() -> str:
    return Path("/proc/self/cmdline").read_bytes().decode(errors="replace")


@pytest.mark.parametrize("sandbox", ["bubblewrap", "unshare", "proot"])
def test_an_imported_module_sees_no_secret_and_only_its_own_processes_in_an_image(
    x86_image, tmp_path, secret_environment, sandbox
):
    _require(sandbox)
    layer = probe_layer(tmp_path, secret_environment)
    request = CheckRequest(
        get_target("python3.12"), imports=ImportOptions(image=x86_image, sandbox=sandbox)
    )
    [result] = check_zip(layer, request).imports
    report = _from_import_error(result.error)
    if sandbox == "proot" and os.geteuid() == 0:
        # proot as root: the pids cgroup still limits it; RLIMIT_NPROC would not (root).
        assert report["refused"] == errno.EAGAIN, report
    assert_saw_nothing(report, _caller_cmdline())


@pytest.mark.parametrize("sandbox", ["bubblewrap", "unshare"])
def test_an_imported_module_sees_no_secret_on_this_machines_libraries(
    tmp_path, secret_environment, sandbox
):
    """The interpreter a user names lives in their home: only its own files are mounted,
    never the home directory above it (which holds ~/.aws and ~/.docker)."""
    _require(sandbox)
    found = find_interpreter("3.12")
    if found is None:
        pytest.skip("no CPython 3.12 here")
    (secret_environment / "bin").mkdir()
    in_home = secret_environment / "bin" / "python3.12"
    in_home.symlink_to(found.path.resolve())
    layer = probe_layer(tmp_path, secret_environment)
    request = CheckRequest(
        get_target("python3.12"),
        imports=ImportOptions(image=HOST, sandbox=sandbox, python=in_home),
    )
    [result] = check_zip(layer, request).imports
    assert_saw_nothing(_from_import_error(result.error), _caller_cmdline())


@pytest.fixture(scope="module")
def invoke_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("invoke-cache")


@pytest.mark.network  # the runtime's own packages (awslambdaric) come from the public index
@pytest.mark.parametrize("sandbox", ["bubblewrap", "unshare", "proot"])
def test_a_handler_sees_no_secret_and_only_its_own_processes(
    capsys, tmp_path, secret_environment, invoke_cache, request, sandbox
):
    _require(sandbox)
    if find_interpreter("3.12") is None:
        pytest.skip("no CPython 3.12 here")
    source = tmp_path / "src"
    source.mkdir()
    (source / "probe.py").write_text(probe_source(secret_environment, at_import=False))
    image = ["--image", str(request.getfixturevalue("x86_image"))] if sandbox == "proot" else []
    code, out, err = run_cli(
        capsys,
        "invoke",
        "probe.handler",
        "--function",
        str(source),
        "--runtime",
        "python3.12",
        "--sandbox",
        sandbox,
        *image,
        "--memory",
        "1024",
        "--timeout",
        "60",
        "--env",
        "STAGE=dev",
        "--cache-dir",
        str(invoke_cache),
    )
    assert code == 0, err
    report = json.loads(out)
    assert_saw_nothing(report, _caller_cmdline())
    assert "STAGE" in report["variables"] and "AWS_LAMBDA_FUNCTION_NAME" in report["variables"]
    assert "processes 1024 processes and threads, enforced by" in err


def _user_environment(work: Path, home: Path) -> dict[str, str]:
    return {"HOME": str(home), "LAMBDALAYER_CACHE_DIR": str(work / "cache"), **SECRETS}


@pytest.fixture
def user_work() -> Iterator[Path]:
    """A directory of the ordinary test user's, with a home full of credentials in it."""
    user = ordinary_user()
    with workdir(user) as work:
        give(secret_home(work), user)
        yield work


@pytest.mark.parametrize("sandbox", ["bubblewrap", "proot"])
def test_as_an_ordinary_user_an_imported_module_sees_no_secret_and_forks_at_most_1024(
    user_work, x86_image, sandbox
):
    """As most users run it: no cgroup can be made, so the limit is RLIMIT_NPROC inside the
    sandbox's own user namespace (bubblewrap's; for proot, unshare's)."""
    _require(sandbox)
    work, home = user_work, user_work / "home"
    layer = probe_layer(work, home)
    image = work / "image"
    completed = run_here_as(
        ordinary_user(),
        [
            "check",
            str(layer),
            "--runtime",
            "python3.12",
            "--image",
            str(image),
            "--sandbox",
            sandbox,
            "--json",
        ],
        _user_environment(work, home),
        shared={x86_image: image},
    )
    assert "Traceback" not in completed.stderr, completed.stderr
    assert "imports" in json.loads(completed.stdout), completed.stdout + completed.stderr
    [result] = json.loads(completed.stdout)["imports"]
    report = _from_import_error(result["error"])
    assert_saw_nothing(report, _caller_cmdline())


@pytest.mark.network  # the runtime's own packages (awslambdaric) come from the public index
def test_as_an_ordinary_user_a_handler_sees_no_secret_and_forks_at_most_1024(user_work):
    _require("bubblewrap")
    interpreter = find_interpreter("3.12")
    if interpreter is None:
        pytest.skip("no CPython 3.12 here")
    work, home = user_work, user_work / "home"
    source = work / "src"
    source.mkdir()
    (source / "probe.py").write_text(probe_source(home, at_import=False))
    completed = run_here_as(
        ordinary_user(),
        [
            "invoke",
            "probe.handler",
            "--function",
            str(source),
            "--runtime",
            "python3.12",
            "--python",
            str(interpreter.path),
            "--memory",
            "1024",
            "--timeout",
            "60",
            "--env",
            "STAGE=dev",
        ],
        _user_environment(work, home),
        interpreters=(interpreter.path,),
    )
    assert completed.returncode == 0, completed.stderr
    assert_saw_nothing(json.loads(completed.stdout), _caller_cmdline())
    assert "enforced by RLIMIT_NPROC inside the sandbox's own user namespace" in completed.stderr


TAMPER = r"""
import os, sys
results = sys.argv[1]  # the import child's results file: writable from inside, as it must be
mode = {mode!r}
if mode == "garbage":
    with open(results, "a") as out:
        out.write("not json\n[1, 2, 3]\n" + "[" * 100000 + "\n")
elif mode == "link":
    os.remove(results) if os.path.exists(results) else None
    os.symlink({secret!r}, results)
elif mode == "huge":
    with open(results, "a") as out:
        out.write('["tamper", null]\n' * 2_000_000)
X = 1
"""


@pytest.mark.parametrize("mode", ["garbage", "link", "huge"])
def test_what_a_module_writes_into_the_results_is_never_taken_for_them(x86_image, tmp_path, mode):
    """The results directory is writable from inside the sandbox: a module that writes there
    (garbage, a link to a file of this machine's, a flood) changes no result but its own and
    makes this process read nothing of this machine's."""
    _require("bubblewrap")
    secret = tmp_path / "host-secret.txt"
    secret.write_text(FILE_SECRET)
    layer = tmp_path / "tamper.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(f"{SITE_312}tamper.py", TAMPER.format(mode=mode, secret=str(secret)))
        archive.writestr(f"{SITE_312}after.py", "Y = 2\n")
    request = CheckRequest(get_target("python3.12"), imports=ImportOptions(image=x86_image))
    report = check_zip(layer, request)
    results = {result.module: result.error for result in report.imports}
    assert set(results) == {"tamper", "after"}
    if mode == "link":  # the file it replaced held "after"'s result too: both said overwritten
        assert all(
            "overwritten from inside the sandbox" in str(error) for error in results.values()
        )
    else:  # what it wrote only ever changes its own result
        assert results["after"] is None, results
        assert results["tamper"] is None or "overwritten" in results["tamper"], results
    assert FILE_SECRET not in repr(report)


def test_as_an_ordinary_user_sandbox_unshare_points_at_the_installed_bubblewrap(user_work):
    """#33: ``check --sandbox unshare`` as an ordinary user said to install bubblewrap, which
    was installed; it names the sandbox that works here instead."""
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed (apt-get install bubblewrap)")
    interpreter = find_interpreter("3.12")
    if interpreter is None:
        pytest.skip("no CPython 3.12 here")
    user = ordinary_user()
    layer = user_work / "plain.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(f"{SITE_312}plain.py", "X = 1\n")
    give(layer, user)
    completed = run_here_as(
        user,
        ["check", str(layer), "--runtime", "python3.12", "--sandbox", "unshare",
         "--python", str(interpreter.path)],
        {"HOME": str(user_work / "home"), "LAMBDALAYER_CACHE_DIR": str(user_work / "cache")},
        interpreters=[interpreter.path],
    )  # fmt: skip
    out = completed.stdout
    assert completed.returncode == 0, completed.stderr
    assert "unshare needs root" in out and "apt-get install bubblewrap" not in out
    assert (
        "        to verify: use --sandbox bubblewrap, which works here" in out
        or "bubblewrap is installed but cannot create its namespaces here" in out
    ), out
    assert out.splitlines()[-1].startswith("check not verified")
