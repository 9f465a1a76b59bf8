"""End-to-end builds against the local index: uv, HTTP, the cache and the zip, all real."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from cliutil import run_cli, run_json
from conftest import HOST_MACHINE
from elfsamples import EM_AARCH64, EM_X86_64, elf_machine
from indexserver import LocalIndex
from lambdaimport import run_under_lambda_paths

from lambdalayer.interpreters import find_interpreter
from lambdalayer.net import http

SITE_311 = "python/lib/python3.11/site-packages/"
SITE_312 = "python/lib/python3.12/site-packages/"


run = run_cli


def build_args(index: LocalIndex, cache_dir: Path, output: Path, *extra: str) -> list[str]:
    # The default runtime is the newest, whose CPython may not be on this machine; without
    # one, bytecode cannot be compiled, so tests that do not name a runtime build without it.
    bytecode = [] if {"--runtime", "--bytecode"} & set(extra) else ["--bytecode", "none"]
    return [
        "build",
        *bytecode,
        "--index-url",
        index.url,
        "--cache-dir",
        str(cache_dir),
        "-o",
        str(output),
        *extra,
    ]


def summary(capsys: pytest.CaptureFixture[str], args: list[str]) -> dict[str, object]:
    result: dict[str, object] = run_json(capsys, *args, "--json")
    return result


def versions(result: dict[str, object]) -> dict[str, str]:
    packages = result["packages"]
    assert isinstance(packages, list)
    return {package["name"]: package["version"] for package in packages}


def test_pure_build_lays_out_site_packages_with_metadata(local_index, cache_dir, tmp_path, capsys):
    out = tmp_path / "layer.zip"
    result = summary(
        capsys, build_args(local_index, cache_dir, out, "alpha", "--runtime", "python3.11")
    )
    assert versions(result) == {"alpha": "1.0", "beta": "2.0"}
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        assert f"{SITE_311}alpha/__init__.py" in names
        assert f"{SITE_311}alpha-1.0.dist-info/METADATA" in names
        assert names == sorted(names)
        for info in archive.infolist():
            mode = info.external_attr >> 16
            assert mode & 0o777 == (0o755 if info.is_dir() else 0o644), info.filename
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert archive.comment == (
            b"lambdalayer target=python3.11-x86_64 layout=site-packages bytecode=unchecked-hash"
        )


def test_python_layout(local_index, cache_dir, tmp_path, capsys):
    out = tmp_path / "layer.zip"
    summary(capsys, build_args(local_index, cache_dir, out, "beta==1.0", "--layout", "python"))
    with zipfile.ZipFile(out) as archive:
        assert "python/beta/__init__.py" in archive.namelist()


def test_glibc_floor_backs_off_for_al2_and_not_for_al2023(local_index, cache_dir, tmp_path, capsys):
    old = summary(
        capsys,
        build_args(
            local_index, cache_dir, tmp_path / "a.zip", "nativepkg", "--runtime", "python3.11"
        ),
    )
    assert versions(old) == {"nativepkg": "1.0"}
    assert old["backoffs"] == [{"package": "nativepkg", "chosen": "1.0", "newest_excluded": "2.0"}]
    new = summary(
        capsys,
        build_args(
            local_index, cache_dir, tmp_path / "b.zip", "nativepkg", "--runtime", "python3.12"
        ),
    )
    assert versions(new) == {"nativepkg": "2.0"}
    assert new["backoffs"] == []


def test_manylinux_2_28_only_package_is_refused_for_python311_with_hint(
    local_index, cache_dir, tmp_path, capsys
):
    code, _, err = run(
        capsys,
        *build_args(
            local_index, cache_dir, tmp_path / "x.zip", "only28", "--runtime", "python3.11"
        ),
    )
    assert code == 1
    assert "error: no wheel of only28 for python3.11 on x86_64 (glibc 2.26)" in err
    assert "hint:" in err and "python3.12" in err
    assert not (tmp_path / "x.zip").exists()
    result = summary(
        capsys,
        build_args(local_index, cache_dir, tmp_path / "y.zip", "only28", "--runtime", "python3.12"),
    )
    assert versions(result) == {"only28": "1.0"}


def test_lock_entry_with_two_wheels_takes_the_one_for_the_floor(
    local_index, cache_dir, tmp_path, capsys
):
    result = summary(
        capsys,
        build_args(
            local_index, cache_dir, tmp_path / "l.zip", "twotags", "--runtime", "python3.11"
        ),
    )
    packages = result["packages"]
    assert isinstance(packages, list)
    assert packages[0]["wheel"] == "twotags-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"


@pytest.mark.parametrize(("arch", "machine"), [("x86_64", EM_X86_64), ("arm64", EM_AARCH64)])
def test_native_wheel_matches_the_target_cpu(
    local_index, cache_dir, tmp_path, capsys, arch, machine
):
    out = tmp_path / "layer.zip"
    summary(
        capsys,
        build_args(
            local_index, cache_dir, out, "nativepkg==1.0", "--runtime", "python3.12", "--arch", arch
        ),
    )
    with zipfile.ZipFile(out) as archive:
        assert elf_machine(archive.read(f"{SITE_312}nativepkg/_native.so")) == machine


def test_abi3_wheel_fits_newer_python(local_index, cache_dir, tmp_path, capsys):
    result = summary(
        capsys,
        build_args(
            local_index, cache_dir, tmp_path / "a.zip", "abi3pkg", "--runtime", "python3.13"
        ),
    )
    assert versions(result) == {"abi3pkg": "1.0"}


def test_wheel_data_schemes_and_executable_modes(local_index, cache_dir, tmp_path, capsys):
    out = tmp_path / "layer.zip"
    summary(
        capsys,
        build_args(local_index, cache_dir, out, "datapkg", "storedpkg", "--runtime", "python3.11"),
    )
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        assert f"{SITE_311}datapkg_extra.py" in names
        assert "python/share/datapkg/readme.txt" in names
        assert not any("datapkg-cli" in name or name.endswith(".h") for name in names)
        assert (archive.getinfo(f"{SITE_311}datapkg/run.sh").external_attr >> 16) & 0o777 == 0o755
        # a member the wheel stored uncompressed is deflated in the layer
        assert archive.getinfo(f"{SITE_311}storedpkg/__init__.py").compress_type in (0, 8)
        assert archive.testzip() is None


def test_rebuild_is_byte_identical_and_warm_cache_downloads_nothing(
    local_index, cache_dir, tmp_path, capsys
):
    first, second = tmp_path / "first.zip", tmp_path / "second.zip"
    cold = summary(
        capsys,
        build_args(local_index, cache_dir, first, "alpha", "nativepkg", "--runtime", "python3.11"),
    )
    assert cold["downloads"] == 3
    before = len(local_index.downloads())
    warm = summary(
        capsys,
        build_args(local_index, cache_dir, second, "alpha", "nativepkg", "--runtime", "python3.11"),
    )
    assert warm["downloads"] == 0
    assert len(local_index.downloads()) == before
    assert first.read_bytes() == second.read_bytes()


def test_source_date_epoch_does_not_change_the_bytes(
    local_index, cache_dir, tmp_path, capsys, monkeypatch
):
    plain, stamped = tmp_path / "plain.zip", tmp_path / "stamped.zip"
    summary(capsys, build_args(local_index, cache_dir, plain, "beta==1.0"))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    summary(capsys, build_args(local_index, cache_dir, stamped, "beta==1.0"))
    assert plain.read_bytes() == stamped.read_bytes()
    with zipfile.ZipFile(stamped) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_lock_round_trip_reproduces_the_layer(local_index, cache_dir, tmp_path, capsys):
    lock = tmp_path / "pylock.toml"
    first, second = tmp_path / "first.zip", tmp_path / "second.zip"
    summary(
        capsys,
        [
            *build_args(
                local_index, cache_dir, first, "alpha", "nativepkg", "--runtime", "python3.11"
            ),
            "--lock",
            str(lock),
        ],
    )
    text = lock.read_text()
    assert 'lock-version = "1.0"' in text and 'target = "python3.11-x86_64"' in text
    assert text.count("[[packages]]") == 3
    # #31: the command the lock's header prints: the target is the lock's, not the default
    other = tmp_path / "other-cache"
    args = build_args(local_index, other, second, "--bytecode", "unchecked-hash")
    result = summary(capsys, [*args, "--from-lock", str(lock)])
    assert versions(result) == {"alpha": "1.0", "beta": "2.0", "nativepkg": "1.0"}
    assert result["target"]["name"] == "python3.11-x86_64"  # type: ignore[index]
    assert first.read_bytes() == second.read_bytes()
    # the flags may repeat the lock's target (or half of it), never name another
    result = summary(
        capsys, [*args, "--runtime", "3.11", "--arch", "amd64", "--from-lock", str(lock)]
    )
    assert first.read_bytes() == second.read_bytes()
    code, _, err = run(capsys, *args, "--arch", "arm64", "--from-lock", str(lock))
    assert code == 1 and f"{lock} was locked for python3.11-x86_64; the flags ask for arm64" in err
    assert "hint: drop --runtime and --arch: a lock's own target is built" in err


def test_lock_for_another_target_is_refused(local_index, cache_dir, tmp_path, capsys):
    lock = tmp_path / "pylock.toml"
    summary(
        capsys,
        [
            *build_args(
                local_index, cache_dir, tmp_path / "a.zip", "beta", "--runtime", "python3.11"
            ),
            "--lock",
            str(lock),
        ],
    )
    code, _, err = run(
        capsys,
        *build_args(
            local_index,
            cache_dir,
            tmp_path / "b.zip",
            "--runtime",
            "python3.12",
            "--from-lock",
            str(lock),
        ),
    )
    assert code == 1 and "was locked for python3.11-x86_64; the flags ask for python3.12" in err


def test_requirements_file_with_constraints_markers_and_extras(
    local_index, cache_dir, tmp_path, capsys
):
    (tmp_path / "constraints.txt").write_text("beta<2\n")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "-c constraints.txt\nalpha  # a comment\n"
        "nativepkg ; python_version < '3.0'\n"
        "datapkg[unknown-extra] ; platform_machine == 'x86_64'\n"
    )
    result = summary(
        capsys,
        build_args(
            local_index,
            cache_dir,
            tmp_path / "l.zip",
            "-r",
            str(requirements),
            "--runtime",
            "python3.11",
        ),
    )
    assert versions(result) == {"alpha": "1.0", "beta": "1.0", "datapkg": "1.0"}


def test_hash_pins_are_enforced(local_index, cache_dir, tmp_path, capsys):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("beta==1.0 --hash=sha256:" + "0" * 64 + "\n")
    code, _, err = run(
        capsys, *build_args(local_index, cache_dir, tmp_path / "l.zip", "-r", str(requirements))
    )
    assert code == 1 and "error: hash mismatch: no wheel of beta 1.0" in err


def test_corrupt_cache_entry_is_replaced_not_used(local_index, cache_dir, tmp_path, capsys):
    out = tmp_path / "layer.zip"
    summary(capsys, build_args(local_index, cache_dir, out, "beta==1.0"))
    cached = next(cache_dir.rglob("beta-1.0-py3-none-any.whl"))
    cached.write_bytes(b"garbage")
    result = summary(capsys, build_args(local_index, cache_dir, out, "beta==1.0"))
    assert result["downloads"] == 1
    assert "did not match its hash" in str(result["notices"])
    assert cached.read_bytes() != b"garbage"
    with zipfile.ZipFile(out) as archive:
        assert archive.testzip() is None


@pytest.mark.skipif(
    HOST_MACHINE != "x86_64", reason="the native test library is compiled for x86_64"
)
def test_built_layer_imports_under_lambda_path_order(local_index, cache_dir, tmp_path, capsys):
    out = tmp_path / "layer.zip"
    summary(
        capsys,
        build_args(local_index, cache_dir, out, "alpha", "nativepkg", "--runtime", "python3.11"),
    )
    code = "import alpha, nativepkg, importlib.metadata as m; print(nativepkg.ANSWER, m.version('alpha'))"
    assert run_under_lambda_paths(out, "3.11", code, tmp_path).split() == ["42", "1.0"]


# --- bad input: one clear error line, non-zero exit, the previous output untouched -------


@pytest.fixture
def previous_output(tmp_path: Path) -> Path:
    out = tmp_path / "layer.zip"
    out.write_bytes(b"previous layer")
    return out


def assert_failed_cleanly(code: int, err: str, out: Path, expected: str) -> None:
    assert code == 1
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, err
    assert expected in error_lines[0]
    assert out.read_bytes() == b"previous layer"
    assert not [path for path in out.parent.iterdir() if path.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["beta", "--runtime", "python2.7"], "unknown runtime 'python2.7'"),
        (
            ["definitely-not-a-package"],
            "package definitely-not-a-package was not found on the index",
        ),
        (["needs-old-beta", "needs-new-beta"], "cannot resolve for python3.14-x86_64"),
        (["sourceonly"], "sourceonly is published only as source"),
        (
            ["puresrc", "--no-build"],
            "puresrc is published only as source (no wheels); --no-build forbids building it",
        ),
        (
            ["nativesrc"],
            "nativesrc is published only as source with C code (tag cp312-cp312-linux_x86_64;",
        ),
        (["tampered"], "hash mismatch for tampered-1.0-py3-none-any.whl"),
        (["flaky"], "download of flaky-1.0-py3-none-any.whl failed after 3 attempts"),
        (["evilpkg"], "would escape the layer"),
        (["not a requirement!"], "invalid requirement"),
    ],
)
def test_bad_input_fails_cleanly(
    local_index, cache_dir, previous_output, capsys, monkeypatch, arguments, expected
):
    monkeypatch.setattr(http, "BACKOFF_SECONDS", 0.0)  # the retries are counted, not slept
    code, _, err = run(capsys, *build_args(local_index, cache_dir, previous_output, *arguments))
    assert_failed_cleanly(code, err, previous_output, expected)
    assert not list(cache_dir.rglob("*.part"))


def test_unwritable_output_path_fails_before_any_work(local_index, cache_dir, tmp_path, capsys):
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"previous layer")
    # (a directory without write permission would do too, but the tests may run as root)
    code, _, err = run(capsys, *build_args(local_index, cache_dir, blocker / "layer.zip", "beta"))
    assert_failed_cleanly(code, err, blocker, "cannot write to")
    assert local_index.downloads() == [] or "beta" not in "".join(local_index.downloads()[-1:])


@pytest.mark.skipif(find_interpreter("3.11") is None, reason="no CPython 3.11 to import with")
def test_build_refuses_a_layer_that_fails_its_check(
    local_index, cache_dir, previous_output, capsys
):
    args = build_args(
        local_index, cache_dir, previous_output, "broken", "alpha", "--runtime", "python3.11"
    )
    code, _, err = run(capsys, *args)
    assert_failed_cleanly(
        code, err, previous_output, "the layer fails 1 check for python3.11-x86_64"
    )
    assert "import broken failed: RuntimeError: needs settings" in err
    code, out, _ = run(capsys, *args, "--no-check")
    assert code == 0 and "built" in out
    with zipfile.ZipFile(previous_output) as archive:
        assert f"{SITE_311}broken/__init__.py" in archive.namelist()


def test_build_reports_its_check(local_index, cache_dir, tmp_path, capsys):
    result = summary(
        capsys,
        build_args(local_index, cache_dir, tmp_path / "l.zip", "alpha", "--runtime", "python3.11"),
    )
    report = result["check"]
    assert isinstance(report, dict) and report["verdict"] != "failed"
    if find_interpreter("3.11") is not None:
        assert report["ok"] is True and report["verdict"] == "passed"
        assert [item["module"] for item in report["imports"]] == ["alpha", "beta"]


def test_pure_source_only_package_is_built_once_and_cached(
    local_index, cache_dir, tmp_path, capsys
):
    out = tmp_path / "layer.zip"
    result = summary(
        capsys, build_args(local_index, cache_dir, out, "needs-puresrc", "--runtime", "python3.12")
    )
    assert versions(result) == {"needs-puresrc": "1.0", "puresrc": "1.0"}
    with zipfile.ZipFile(out) as archive:
        assert archive.read(f"{SITE_312}puresrc/__init__.py") == b"VALUE = 'built from source'\n"
    [built] = list((cache_dir / "built").rglob("puresrc-1.0-py3-none-any.whl"))
    built_at = built.stat().st_mtime_ns
    summary(
        capsys,
        build_args(
            local_index, cache_dir, tmp_path / "again.zip", "puresrc", "--runtime", "python3.11"
        ),
    )
    assert built.stat().st_mtime_ns == built_at  # the cached build was used, not rebuilt


def test_summary_explains_why_a_package_is_not_at_its_newest_version(
    local_index, cache_dir, tmp_path, capsys
):
    result = summary(
        capsys,
        build_args(
            local_index,
            cache_dir,
            tmp_path / "a.zip",
            "nativepkg",
            "modern",
            "--runtime",
            "python3.11",
        ),
    )
    notes = {note["package"]: note for note in result["version_notes"]}  # type: ignore[union-attr]
    assert notes["nativepkg"] == {
        "package": "nativepkg",
        "chosen": "1.0",
        "newest": "2.0",
        "reason": "its wheels need a glibc above 2.26 (Amazon Linux 2)",
    }
    assert notes["modern"]["reason"] == "newer releases need a newer Python than python3.11's 3.11"
    assert (
        run(
            capsys,
            *build_args(
                local_index, cache_dir, tmp_path / "b.zip", "modern", "--runtime", "python3.13"
            ),
        )[0]
        == 0
    )


@pytest.mark.parametrize("kind", ["missing", "a file"])
def test_a_function_source_that_is_not_a_directory_is_refused_before_resolving(
    local_index, cache_dir, tmp_path, capsys, kind
):
    """--function srcx (a typo) resolved and prepared every wheel, then said 'function source
    srcx is not a directory' with no hint (a new user's review)."""
    source = tmp_path / "srcx"
    if kind == "a file":
        source.write_text("def handler(event, context): pass\n")
    output = tmp_path / "fn.zip"
    args = build_args(local_index, cache_dir, output, "alpha", "--function", str(source))
    code, _, err = run_cli(capsys, *args, "--handler", "app.handler")
    what = "does not exist" if kind == "missing" else "is not a directory"
    assert code == 1 and f"error: --function {source} {what}\n" in err, err
    assert "hint: give --function the directory that holds the handler's module" in err, err
    assert "resolving" not in err and not output.exists(), err
    image = ["image", "build", "alpha", "--function", str(source), "-o", str(tmp_path / "i.tar")]
    code, _, err = run_cli(
        capsys, *image, "--handler", "app.handler", "--index-url", local_index.url
    )
    assert code == 1 and f"error: --function {source} {what}\n" in err, err
