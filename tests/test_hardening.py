"""Issue 11: defects found by a review and by an hour of use, each with the test that caught it."""

from __future__ import annotations

import json
import os
import stat
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cliutil import run_cli
from indexserver import LocalIndex
from wheelmaker import make_project

from lambdalayer.check.modules import top_level_modules
from lambdalayer.check.request import CheckRequest
from lambdalayer.check.rules import check_zip
from lambdalayer.distinfo import parse_metadata, parse_record_paths
from lambdalayer.errors import OutputError, TargetError
from lambdalayer.fsutil import atomic_write_bytes
from lambdalayer.interpreters import find_interpreter
from lambdalayer.layer.archive import Entry, write_zip
from lambdalayer.net import http
from lambdalayer.resolve.provided import layer_zip
from lambdalayer.targets import canonical_arch, get_target
from lambdalayer.zipnames import unsafe_reason

SITE_311 = "python/lib/python3.11/site-packages/"
HAVE_311 = find_interpreter("3.11") is not None


def build_args(index: LocalIndex, cache_dir: Path, output: Path, *extra: str) -> list[str]:
    return [
        "build",
        "--index-url",
        index.url,
        "--cache-dir",
        str(cache_dir),
        "-o",
        str(output),
        "--runtime",
        "python3.11",
        *extra,
    ]


def raw_zip(path: Path, members: dict[str, bytes]) -> Path:
    """A zip with member names exactly as given (zipfile keeps ``..`` and leading ``/``)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return path


# 1. check never writes outside its temporary directory --------------------------------


@pytest.mark.skipif(not HAVE_311, reason="needs a CPython 3.11 for the import check")
def test_check_of_a_hostile_zip_writes_nothing_outside_and_reports_the_names(tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    absolute = tmp_path / "absolute-escape.txt"
    hostile = raw_zip(
        tmp_path / "hostile.zip",
        {
            f"{SITE_311}good.py": b"X = 1\n",
            "../../climbed.txt": b"gotcha",
            "../../../climbed3.txt": b"gotcha",
            str(absolute): b"gotcha",
            "python\\windows.py": b"gotcha",
        },
    )
    before = set(tmp_path.rglob("*"))
    report = check_zip(hostile, CheckRequest(get_target("python3.11")))
    after = set(tmp_path.rglob("*"))
    assert after == before, sorted(map(str, after - before))
    assert not absolute.exists()
    path_errors = sorted(f.member or "" for f in report.errors if f.kind == "path")
    assert path_errors == sorted(
        ["../../climbed.txt", "../../../climbed3.txt", str(absolute), "python\\windows.py"]
    )
    assert [result.module for result in report.imports] == ["good"]
    assert not report.ok


# 2. no absolute, '..', empty or backslash names in any zip we write -------------------


@pytest.mark.parametrize(
    "name", ["/", "/__pycache__/handler.pyc", "../x.py", "a/../../x.py", "", "a\\b.py", "a//b.py"]
)
def test_write_zip_refuses_unsafe_names(tmp_path, name):
    out = tmp_path / "out.zip"
    with pytest.raises(OutputError, match="refusing to write member"):
        write_zip(out, [Entry("ok.py", data=b""), Entry(name, data=b"x")])
    assert not out.exists()
    assert not list(tmp_path.iterdir())


def test_unsafe_reason_names_each_rule():
    assert unsafe_reason("python/six.py") is None
    assert unsafe_reason("/etc/passwd") == "is an absolute path"
    assert unsafe_reason("C:/x.py") == "starts with a drive letter"
    assert unsafe_reason("a\x00b") == "holds a NUL byte"


@pytest.mark.skipif(not HAVE_311, reason="needs a CPython 3.11 for bytecode")
def test_function_with_handler_at_the_top_of_its_source_has_relative_names(
    local_index, cache_dir, tmp_path, capsys
):
    app = tmp_path / "app"
    app.mkdir()
    (app / "handler.py").write_text("def handler(event, context):\n    return 1\n")
    out = tmp_path / "function.zip"
    code, _, err = run_cli(
        capsys,
        *build_args(
            local_index,
            cache_dir,
            out,
            "beta==1.0",
            "--function",
            str(app),
            "--handler",
            "handler.handler",
        ),
    )
    assert code == 0, err
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    assert all(unsafe_reason(name) is None for name in names), names
    assert "__pycache__/handler.cpython-311.pyc" in names
    assert "handler.py" in names


# 3. index credentials never leave for another host -----------------------------------


class _Recorder:
    """A tiny HTTP server recording the Authorization header of each request."""

    def __init__(self, respond) -> None:  # type: ignore[no-untyped-def]
        self.seen: list[tuple[str, str | None]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                recorder.seen.append((self.path, self.headers.get("Authorization")))
                respond(self, len(recorder.seen))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _Recorder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


def _ok(handler: BaseHTTPRequestHandler, _count: int) -> None:
    body = b"hello"
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def other_host() -> Iterator[_Recorder]:
    with _Recorder(_ok) as server:
        yield server


def test_credentials_are_dropped_on_a_redirect_to_another_host(other_host):
    def redirect(handler: BaseHTTPRequestHandler, _count: int) -> None:
        handler.send_response(302)
        # "localhost" is another host than "127.0.0.1" for the client, as a CDN would be.
        handler.send_header("Location", f"http://localhost:{other_host.port}/wheel")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    with _Recorder(redirect) as index:
        body = http.get_response(f"http://user:s3cret@127.0.0.1:{index.port}/simple/x/").body
    assert body == b"hello"
    assert index.seen[0][1] is not None and index.seen[0][1].startswith("Basic ")
    assert other_host.seen == [("/wheel", None)]


def test_credentials_from_netrc_for_the_index_host(other_host, tmp_path, monkeypatch):
    netrc_file = tmp_path / "netrc"
    netrc_file.write_text("machine 127.0.0.1 login alice password wonderland\n")
    netrc_file.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc_file))
    http.get_response(f"http://127.0.0.1:{other_host.port}/simple/")
    http.get_response(f"http://localhost:{other_host.port}/simple/")
    assert other_host.seen[0][1] == "Basic YWxpY2U6d29uZGVybGFuZA=="
    assert other_host.seen[1][1] is None


def test_retry_after_is_honoured_and_then_the_body_arrives(monkeypatch):
    monkeypatch.setattr(http, "BACKOFF_SECONDS", 0.0)

    def busy_then_ok(handler: BaseHTTPRequestHandler, count: int) -> None:
        if count == 1:
            handler.send_response(503)
            handler.send_header("Retry-After", "0")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        _ok(handler, count)

    with _Recorder(busy_then_ok) as server:
        body = http.get_response(f"http://127.0.0.1:{server.port}/simple/").body
    assert body == b"hello"
    assert len(server.seen) == 2


# 4. the umask is never changed --------------------------------------------------------


def test_atomic_writes_never_touch_the_umask(tmp_path, monkeypatch):
    def forbidden(_mask: int) -> int:
        raise AssertionError("os.umask changes process-wide state")

    current = os.umask(0o022)
    os.umask(current)
    monkeypatch.setattr(os, "umask", forbidden)
    target = tmp_path / "out.bin"
    atomic_write_bytes(target, b"data")
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~current


# 5. METADATA headers and RECORD rows with the formats' parsers ----------------------


def test_metadata_body_lines_are_not_headers(tmp_path):
    metadata = (
        b"Metadata-Version: 2.1\nName: Real_Name\nVersion: 1.2\n\nName: MyStack\nVersion: 2\n"
    )
    assert parse_metadata(metadata) is not None
    assert (parse_metadata(metadata).name, parse_metadata(metadata).version) == ("real-name", "1.2")
    base = raw_zip(
        tmp_path / "base.zip",
        {f"{SITE_311}real_name-1.2.dist-info/METADATA": metadata, f"{SITE_311}real_name/x.py": b""},
    )
    assert layer_zip(base).pins == {"real-name": "1.2"}


def test_record_paths_are_csv():
    record = b'pkg/a,b.py,sha256=x,1\n"pkg/quoted ""q"".py",,\npkg-1.0.dist-info/RECORD,,\n'
    assert parse_record_paths(record) == ["pkg/a", 'pkg/quoted "q".py', "pkg-1.0.dist-info/RECORD"]


# 9. __pycache__ is not a module --------------------------------------------------------


def test_pycache_is_not_a_top_level_module():
    names = ["python/__pycache__/six.cpython-311.pyc", "python/six.py"]
    assert top_level_modules(names, ["python/"]) == ["six"]


# 10. an empty requirements file is refused before anything is resolved ---------------


def test_empty_requirements_file_says_there_is_nothing_to_build(
    local_index, cache_dir, tmp_path, capsys
):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# nothing yet\n\n--index-url https://example.invalid/simple\n")
    asked_before = len(local_index.requests)
    out = tmp_path / "layer.zip"
    code, _, err = run_cli(
        capsys, *build_args(local_index, cache_dir, out, "-r", str(requirements))
    )
    assert code == 1
    assert f"error: nothing to build: {requirements} lists no requirements" in err
    assert "hint: add the packages" in err
    assert len(local_index.requests) == asked_before
    assert not out.exists()


# 11. uv's messages keep their lines, with hints ---------------------------------------


def test_uv_failure_keeps_its_lines_indented_under_error(local_index, cache_dir, tmp_path, capsys):
    out = tmp_path / "layer.zip"
    code, _, err = run_cli(capsys, *build_args(local_index, cache_dir, out, "beta==99"))
    assert code == 1
    lines = err.splitlines()
    first = next(index for index, line in enumerate(lines) if line.startswith("error:"))
    assert (
        lines[first]
        == "error: cannot resolve for python3.11-x86_64: No solution found when resolving dependencies"
    )
    assert lines[first + 1].startswith("  cause: Because there is no version of beta==99")
    assert "hint: versions of beta with a wheel for python3.11-x86_64: 1.0, 2.0" in err


# 12. every spelling of a CPU, everywhere --------------------------------------------


def test_arch_spellings_are_accepted_and_made_canonical():
    assert canonical_arch("aarch64") == canonical_arch("arm64") == "arm64"
    assert canonical_arch("amd64") == canonical_arch("x86_64") == "x86_64"
    assert get_target("python3.12", "amd64").name == "python3.12-x86_64"
    with pytest.raises(TargetError, match="unknown architecture 'sparc'"):
        canonical_arch("sparc")


def test_check_accepts_aarch64_and_build_accepts_amd64(local_index, cache_dir, tmp_path, capsys):
    out = tmp_path / "layer.zip"
    code, stdout, err = run_cli(
        capsys,
        *build_args(
            local_index, cache_dir, out, "beta==1.0", "--arch", "amd64", "--bytecode", "none"
        ),
    )
    assert code == 0, err
    assert "python3.11 on x86_64" in stdout
    code, stdout, err = run_cli(capsys, "check", str(out), "--arch", "aarch64", "--no-imports")
    assert code == 0, err
    assert (
        "check not verified (imports did not run; --strict fails on this) for python3.11-arm64"
        in (stdout)
    )


# 13. --json on failure, and a schema number everywhere -----------------------------


def test_json_on_failure_is_one_object_with_the_error(local_index, cache_dir, tmp_path, capsys):
    out = tmp_path / "layer.zip"
    code, stdout, _ = run_cli(
        capsys, *build_args(local_index, cache_dir, out, "definitely-not-a-package", "--json")
    )
    assert code == 1
    document = json.loads(stdout)
    assert document["schema"] == 3
    assert document["ok"] is False
    assert "definitely-not-a-package was not found" in document["error"]
    assert document["hint"]


def test_json_of_a_failed_check_carries_the_findings(tmp_path, capsys):
    layer = raw_zip(tmp_path / "l.zip", {"../evil.py": b"", f"{SITE_311}m.py": b""})
    code, stdout, _ = run_cli(
        capsys, "check", str(layer), "--runtime", "python3.11", "--no-imports", "--json"
    )
    assert code == 1
    document = json.loads(stdout)
    assert document["schema"] == 3
    assert document["ok"] is False
    assert [f["member"] for f in document["findings"] if f["kind"] == "path"] == ["../evil.py"]


def test_targets_json_has_a_schema(capsys):
    code, stdout, _ = run_cli(capsys, "targets", "--json")
    assert code == 0
    document = json.loads(stdout)
    assert document["schema"] == 3
    assert {row["runtime"] for row in document["targets"]} >= {"python3.12", "python3.13"}


# 14. a failed build leaves no new directories --------------------------------------


def test_failed_build_into_new_directories_removes_them(local_index, cache_dir, tmp_path, capsys):
    out = tmp_path / "new" / "sub" / "layer.zip"
    code, _, _ = run_cli(
        capsys, *build_args(local_index, cache_dir, out, "definitely-not-a-package")
    )
    assert code == 1
    assert not (tmp_path / "new").exists()


# 15. a layer over the quota is never written, --no-check or not ------------------


def test_over_quota_layer_is_refused_even_with_no_check(
    local_index, cache_dir, tmp_path, capsys, monkeypatch
):
    import lambdalayer.builder.pipeline as build_module

    monkeypatch.setattr(build_module, "UNZIPPED_LIMIT", 100)
    out = tmp_path / "layer.zip"
    code, _, err = run_cli(
        capsys,
        *build_args(local_index, cache_dir, out, "beta==1.0", "--no-check", "--bytecode", "none"),
    )
    assert code == 1
    assert "over Lambda's 100 bytes for a function and all its layers" in err
    hint = next(line for line in err.splitlines() if line.startswith("hint:"))
    assert "container image instead" in hint and "lambdalayer image build" in hint
    assert "--runtime python3.11 --arch x86_64" in hint
    assert "--no-check" not in err
    assert not out.exists()


# 16. the resolving line says what is meant ----------------------------------------


def test_resolution_plan_wording():
    assert get_target("python3.11").resolution_plan == (
        "uv resolves at x86_64-manylinux_2_28, then each wheel is picked for glibc 2.26"
    )
    assert get_target("python3.12", "arm64").resolution_plan == (
        "uv resolves at aarch64-manylinux_2_34 (glibc 2.34)"
    )


# 17. no interpreter for bytecode: fail, never silently build another layer ----------


def test_bytecode_without_an_interpreter_fails_with_a_hint(
    local_index, cache_dir, tmp_path, capsys, monkeypatch
):
    # No python3.14 here, and uv's download host is pointed at a closed port so that
    # provisioning fails on any machine.
    if find_interpreter("3.14") is not None:
        pytest.skip("a CPython 3.14 is installed here")
    monkeypatch.setenv("UV_PYTHON_INSTALL_MIRROR", "http://127.0.0.1:9/")
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(tmp_path / "uv-python"))
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    out = tmp_path / "layer.zip"
    args = build_args(local_index, cache_dir, out, "beta==1.0")
    args[args.index("python3.11")] = "python3.14"
    code, _, err = run_cli(capsys, *args)
    assert code == 1
    assert "error: bytecode for python3.14 needs a CPython 3.14" in err
    assert "hint: give --python PATH to a CPython 3.14, or --bytecode none" in err
    assert not out.exists()


@pytest.mark.skipif(not HAVE_311, reason="needs a CPython 3.11 for bytecode")
def test_zip_comment_and_lock_record_the_bytecode(local_index, cache_dir, tmp_path, capsys):
    out, lock = tmp_path / "layer.zip", tmp_path / "pylock.toml"
    code, _, err = run_cli(
        capsys, *build_args(local_index, cache_dir, out, "beta==1.0", "--lock", str(lock))
    )
    assert code == 0, err
    with zipfile.ZipFile(out) as archive:
        assert archive.comment.endswith(b" bytecode=unchecked-hash")
    assert 'bytecode = "unchecked-hash"' in lock.read_text()
    plain = tmp_path / "plain.zip"
    run_cli(capsys, *build_args(local_index, cache_dir, plain, "beta==1.0", "--bytecode", "none"))
    with zipfile.ZipFile(plain) as archive:
        assert archive.comment.endswith(b" bytecode=none")


# 8. local projects, editables and URL forms -----------------------------------------


def test_local_project_as_argument_in_a_file_and_editable(
    local_index, cache_dir, tmp_path, capsys, monkeypatch
):
    project = make_project(
        tmp_path, "mylocal", "0.3", files={"mylocal/__init__.py": b"SHARED = 'code'\n"}
    )
    monkeypatch.chdir(tmp_path)
    forms = {
        "argument": [f"./{project.name}", "beta==1.0"],
        "file-url": ["-r", str(tmp_path / "req-url.txt")],
        "editable": ["-r", str(tmp_path / "req-e.txt")],
    }
    (tmp_path / "req-url.txt").write_text(f"mylocal @ {project.as_uri()}\nbeta==1.0\n")
    (tmp_path / "req-e.txt").write_text(f"-e ./{project.name}\nbeta==1.0\n")
    zips = {}
    for label, arguments in forms.items():
        out = tmp_path / f"{label}.zip"
        code, stdout, err = run_cli(
            capsys,
            *build_args(local_index, cache_dir, out, *arguments, "--bytecode", "none", "--json"),
        )
        assert code == 0, (label, err)
        packages = {p["name"]: p["version"] for p in json.loads(stdout)["packages"]}
        assert packages == {"mylocal": "0.3", "beta": "1.0"}, label
        with zipfile.ZipFile(out) as archive:
            assert archive.read(f"{SITE_311}mylocal/__init__.py") == b"SHARED = 'code'\n"
        zips[label] = out.read_bytes()
    assert len(set(zips.values())) == 1
    assert len(list((cache_dir / "local").rglob("*.whl"))) == 1  # built once, cached by content


def test_git_url_argument_is_accepted_like_in_a_file(
    local_index, cache_dir, tmp_path, capsys, monkeypatch
):
    # Reaching the git host fails here; what matters is that the argument is not refused
    # as an invalid requirement, and that the error names the host.
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "0")
    out = tmp_path / "layer.zip"
    code, _, err = run_cli(
        capsys, *build_args(local_index, cache_dir, out, "git+http://127.0.0.1:9/nobody/six.git")
    )
    assert code == 1
    assert "invalid requirement" not in err
    assert "error: cannot resolve for python3.11-x86_64: Git operation failed" in err


# 6. a matrix build shows the findings it refers to ----------------------------------


@pytest.mark.skipif(not HAVE_311, reason="needs a CPython 3.11 for the import check")
def test_matrix_build_prints_the_findings_of_a_failed_check(
    local_index, cache_dir, tmp_path, capsys
):
    code, stdout, err = run_cli(
        capsys,
        "build",
        "broken",
        "--runtime",
        "python3.11",
        "--arch",
        "x86_64,arm64",
        "--index-url",
        local_index.url,
        "--cache-dir",
        str(cache_dir),
        "--output-dir",
        str(tmp_path / "dist"),
        "--bytecode",
        "none",
    )
    assert code == 1
    assert "findings: [layer python3.11-x86_64]" in err
    assert "import broken failed: RuntimeError: needs settings" in err
    assert "FAILED" in stdout
    assert (tmp_path / "dist" / "layer-python3.11-arm64.zip").is_file()


# 7. --profile reaches the look-ups of --on-top-of ---------------------------------


def test_profile_reaches_the_base_layer_lookup(
    local_index, cache_dir, tmp_path, capsys, monkeypatch
):
    config = tmp_path / "aws-config"
    config.write_text("[profile present]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    out = tmp_path / "layer.zip"
    code, _, err = run_cli(
        capsys,
        *build_args(
            local_index,
            cache_dir,
            out,
            "beta==1.0",
            "--bytecode",
            "none",
            "--on-top-of",
            "layer:arn:aws:lambda:eu-west-1:123456789012:layer:base:3",
            "--profile",
            "absent-profile",
        ),
    )
    assert code == 1
    assert "absent-profile" in err
