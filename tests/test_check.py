"""`lambdalayer check` on real files: gcc-built ELF objects, generated headers, real imports."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest
from conftest import HOST_MACHINE
from elfsamples import compile_shared_object, minimal_elf

import lambdalayer.check.rules as check_module
from lambdalayer.check.findings import Severity
from lambdalayer.check.request import CheckRequest, ImportOptions
from lambdalayer.check.rules import check_zip
from lambdalayer.cli.main import main
from lambdalayer.interpreters import find_interpreter
from lambdalayer.targets import get_target

SITE_311 = "python/lib/python3.11/site-packages/"
SITE_312 = "python/lib/python3.12/site-packages/"
NEW_GLIBC_C = (
    "#define _GNU_SOURCE\n#include <unistd.h>\nint f(void) { return close_range(100, 101, 0); }\n"
)
PLAIN_C = "int f(void) { return 1; }\n"
needs_x86_host = pytest.mark.skipif(
    HOST_MACHINE != "x86_64", reason="gcc here builds for the host CPU"
)
needs_python311 = pytest.mark.skipif(
    find_interpreter("3.11") is None, reason="no CPython 3.11 on this machine"
)


def write_layer(path: Path, members: Mapping[str, bytes | str], comment: bytes = b"") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
        archive.comment = comment
    return path


def dist_info(site: str, name: str, version: str, tag: str = "py3-none-any") -> dict[str, str]:
    base = f"{site}{name}-{version}.dist-info/"
    return {
        f"{base}METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{base}WHEEL": f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: {tag}\n",
        f"{base}RECORD": f"{name}/__init__.py,,\n{name}/_impl.so,,\n{base}METADATA,,\n",
    }


def kinds(report) -> set[str]:  # type: ignore[no-untyped-def]
    return {finding.kind for finding in report.errors}


@pytest.fixture(scope="module")
def new_glibc_so(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return compile_shared_object(NEW_GLIBC_C, tmp_path_factory.mktemp("so") / "new.so")


@pytest.fixture(scope="module")
def plain_so(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return compile_shared_object(PLAIN_C, tmp_path_factory.mktemp("so") / "plain.so")


def good_layer(path: Path, plain_so: bytes) -> Path:
    return write_layer(
        path,
        {
            f"{SITE_311}good/__init__.py": "VALUE = 1\n",
            f"{SITE_311}good/_impl.so": plain_so,
            **dist_info(SITE_311, "good", "1.0", "cp311-cp311-manylinux_2_17_x86_64"),
        },
    )


@needs_x86_host
def test_good_layer_passes_with_imports(tmp_path, plain_so):
    report = check_zip(
        good_layer(tmp_path / "good.zip", plain_so), CheckRequest(get_target("python3.11"))
    )
    assert not report.failed, report.findings
    if find_interpreter("3.11") is not None:
        assert report.ok and report.verdict == "passed"
        assert [(item.module, item.ok) for item in report.imports] == [("good", True)]


@needs_x86_host
def test_a_wheel_whose_tags_promise_the_floor_is_said_to_be_mis_tagged(tmp_path, new_glibc_so):
    """playwright: tagged manylinux_2_17 (fits glibc 2.26) while its files need more: the fix
    "use a wheel tagged manylinux_2_26 or older" cannot be followed — the wheel is mis-tagged."""
    layer = write_layer(
        tmp_path / "l.zip",
        {
            f"{SITE_311}playish/__init__.py": "",
            f"{SITE_311}playish/_impl.so": new_glibc_so,
            **dist_info(SITE_311, "playish", "1.0", "py3-none-manylinux_2_17_x86_64"),
        },
    )
    report = check_zip(layer, CheckRequest(get_target("python3.11"), imports=None))
    [glibc] = [finding for finding in report.errors if finding.kind == "glibc"]
    assert glibc.fix is not None and glibc.fix.startswith(
        "playish's wheel is tagged py3-none-manylinux_2_17_x86_64 yet this file needs"
        " GLIBC_2.34: the wheel is mis-tagged upstream"
    )
    assert "use a wheel tagged" not in glibc.fix


@needs_x86_host
def test_glibc_symbol_above_the_floor_is_an_error_naming_the_package(tmp_path, new_glibc_so):
    layer = write_layer(
        tmp_path / "l.zip",
        {
            f"{SITE_311}good/__init__.py": "",
            f"{SITE_311}good/_impl.so": new_glibc_so,
            **dist_info(SITE_311, "good", "1.0", "cp311-cp311-manylinux_2_34_x86_64"),
        },
    )
    report = check_zip(layer, CheckRequest(get_target("python3.11"), imports=None))
    glibc = [finding for finding in report.errors if finding.kind == "glibc"]
    assert len(glibc) == 1
    assert "needs GLIBC_2.34" in glibc[0].message and "2.26" in glibc[0].message
    assert glibc[0].member == f"{SITE_311}good/_impl.so" and glibc[0].package == "good"
    # the WHEEL tag manylinux_2_34 does not fit AL2 either: said, but the ELF check judges
    assert any(f.kind == "abi" and f.severity is Severity.INFO for f in report.findings)
    # the same file is fine on an AL2023 runtime
    layer312 = write_layer(
        tmp_path / "m.zip",
        {f"{SITE_312}good/__init__.py": "", f"{SITE_312}good/_impl.so": new_glibc_so},
    )
    assert not check_zip(layer312, CheckRequest(get_target("python3.12"), imports=None)).failed


def test_arm64_binary_in_x86_64_layer(tmp_path):
    layer = write_layer(
        tmp_path / "l.zip",
        {f"{SITE_311}pkg/__init__.py": "", f"{SITE_311}pkg/_impl.so": minimal_elf("aarch64")},
    )
    report = check_zip(layer, CheckRequest(get_target("python3.11", "x86_64"), imports=None))
    assert kinds(report) == {"elf-machine"}
    assert not check_zip(
        layer, CheckRequest(get_target("python3.11", "arm64"), imports=None)
    ).failed


def test_cpython_abi_from_file_names_and_foreign_binaries(tmp_path):
    layer = write_layer(
        tmp_path / "l.zip",
        {
            f"{SITE_311}pkg/__init__.py": "",
            f"{SITE_311}pkg/fast.cpython-312-x86_64-linux-gnu.so": minimal_elf("x86_64"),
            f"{SITE_311}pkg/ok.cpython-311-x86_64-linux-gnu.so": minimal_elf("x86_64"),
            f"{SITE_311}pkg/stable.abi3.so": minimal_elf("x86_64"),
            f"{SITE_311}pkg/mac.cpython-311-darwin.so": b"\xcf\xfa\xed\xfe" + bytes(28),
        },
    )
    report = check_zip(layer, CheckRequest(get_target("python3.11"), imports=None))
    members = {finding.member for finding in report.errors}
    assert members == {
        f"{SITE_311}pkg/fast.cpython-312-x86_64-linux-gnu.so",
        f"{SITE_311}pkg/mac.cpython-311-darwin.so",
    }
    assert any("Mach-O" in finding.message for finding in report.errors)


def test_site_packages_of_another_python_version(tmp_path):
    layer = write_layer(
        tmp_path / "l.zip", {"python/lib/python3.9/site-packages/pkg/__init__.py": ""}
    )
    report = check_zip(layer, CheckRequest(get_target("python3.12"), imports=None))
    assert kinds(report) == {"layout"}
    assert "Python 3.9" in report.errors[0].message


def test_outside_python_and_pth_files_are_reported_not_failed(tmp_path):
    layer = write_layer(
        tmp_path / "l.zip",
        {
            f"{SITE_312}pkg/__init__.py": "",
            f"{SITE_312}extra.pth": "/opt/vendor\n",
            "bin/tool": "#!/bin/sh\n",
        },
    )
    report = check_zip(layer, CheckRequest(get_target("python3.12"), imports=None))
    assert not report.failed and report.verdict == "not verified"
    messages = " ".join(finding.message for finding in report.findings)
    assert "outside python/" in messages and "adds: /opt/vendor" in messages


def test_zip_without_python_content_is_an_error(tmp_path):
    layer = write_layer(tmp_path / "l.zip", {"README.txt": "hello"})
    assert "content" in kinds(
        check_zip(layer, CheckRequest(get_target("python3.12"), imports=None))
    )


def test_two_layers_with_numpy_in_different_versions(tmp_path):
    ours = write_layer(
        tmp_path / "ours.zip",
        {f"{SITE_312}numpy/__init__.py": "", **dist_info(SITE_312, "numpy", "2.2.6")},
    )
    theirs = write_layer(
        tmp_path / "theirs.zip",
        {f"{SITE_312}numpy/__init__.py": "", **dist_info(SITE_312, "numpy", "1.26.4")},
    )
    report = check_zip(
        ours, CheckRequest(get_target("python3.12"), imports=None, with_zips=(theirs,))
    )
    conflict = [finding for finding in report.errors if finding.kind == "conflict"]
    assert len(conflict) == 1 and "2.2.6" in conflict[0].message and "1.26.4" in conflict[0].message


def test_unzipped_total_with_other_zips_over_the_quota(tmp_path, monkeypatch):
    # The quota is made small rather than writing 262 MB of zeros: the rule is the same.
    limit = 5000
    monkeypatch.setattr(check_module, "UNZIPPED_LIMIT", limit)
    ours = write_layer(
        tmp_path / "ours.zip",
        {f"{SITE_312}small/__init__.py": "", f"{SITE_312}small/blob.bin": bytes(1000)},
    )
    big = write_layer(tmp_path / "big.zip", {f"{SITE_312}big/blob.bin": bytes(limit)})
    assert not check_zip(ours, CheckRequest(get_target("python3.12"), imports=None)).failed
    report = check_zip(ours, CheckRequest(get_target("python3.12"), imports=None, with_zips=(big,)))
    assert kinds(report) == {"size"}
    assert report.total_unzipped_bytes > limit
    assert f"over Lambda's {limit:,}" in report.errors[0].message


@needs_python311
def test_module_that_raises_on_import_fails_with_its_last_traceback_line(tmp_path):
    layer = write_layer(
        tmp_path / "l.zip",
        {
            f"{SITE_311}broken/__init__.py": "raise RuntimeError('no config here')\n",
            f"{SITE_311}fine.py": "X = 1\n",
            f"{SITE_311}needs_dep.py": "import not_in_layer\n",
        },
    )
    report = check_zip(layer, CheckRequest(get_target("python3.11")))
    results = {item.module: item.error for item in report.imports}
    assert results["fine"] is None
    assert results["broken"] == "RuntimeError: no config here"
    assert results["needs_dep"] == "ModuleNotFoundError: No module named 'not_in_layer'"
    assert not report.ok


@needs_python311
def test_imports_run_the_layers_pth_files_as_lambdas_bootstrap_does(tmp_path):
    # Lambda's bootstrap calls site.addsitedir on both /opt directories, so a layer's .pth
    # files run before the handler: setuptools' distutils-precedence.pth installs the
    # distutils shim docker-pycreds needs on python3.12 this way (a path line and an import
    # line here, as site.py reads them).
    layer = write_layer(
        tmp_path / "l.zip",
        {
            f"{SITE_311}shim.pth": "import _shimhook; _shimhook.install()\n",
            f"{SITE_311}_shimhook.py": (
                "import sys, types\n"
                "def install():\n"
                "    sys.modules['legacy'] = types.ModuleType('legacy')\n"
            ),
            f"{SITE_311}vendored.pth": "vendor\n",
            f"{SITE_311}vendor/vendoredmod.py": "X = 1\n",
            f"{SITE_311}usesboth.py": "import legacy, vendoredmod\n",
        },
    )
    report = check_zip(
        layer, CheckRequest(get_target("python3.11"), imports=ImportOptions(modules=("usesboth",)))
    )
    results = {item.module: item.error for item in report.imports}
    assert results == {"usesboth": None}


@pytest.mark.skipif(
    find_interpreter("3.12") is None or find_interpreter("3.13") is None,
    reason="needs CPython 3.12 and 3.13 on this machine",
)
def test_a_module_the_runtimes_python_removed_is_named_with_what_provides_it(tmp_path):
    # docker-pycreds imports distutils.spawn: on python3.12 the hint named "the distribution
    # that provides distutils.spawn (no project is known to provide it ...)".
    site_313 = "python/lib/python3.13/site-packages/"
    layer_312 = write_layer(
        tmp_path / "l312.zip", {f"{SITE_312}usesdistutils.py": "import distutils.spawn\n"}
    )
    layer_313 = write_layer(
        tmp_path / "l313.zip",
        {
            f"{site_313}usesimghdr.py": "import imghdr\n",
            f"{site_313}usesnis.py": "import nis\n",
        },
    )
    on_312 = check_zip(layer_312, CheckRequest(get_target("python3.12")))
    (distutils,) = [f for f in on_312.errors if f.kind == "import"]
    assert (
        "usesdistutils imports distutils.spawn, which python3.12 lacks: distutils left the"
        " standard library in Python 3.12 (PEP 632); add setuptools (its"
        " distutils-precedence.pth installs a distutils shim" in distutils.message
    )
    assert distutils.fix == "add setuptools to the requirements"
    on_313 = check_zip(layer_313, CheckRequest(get_target("python3.13")))
    found = {f.package: f for f in on_313.errors if f.kind == "import"}
    assert "imghdr left the standard library in Python 3.13 (PEP 594); add standard-imghdr" in (
        found["usesimghdr"].message
    )
    assert found["usesnis"].fix == (
        "use a release of usesnis that does not import nis, or a runtime of python3.12 or older"
    )


def test_removed_standard_library_modules_come_from_the_data():
    from lambdalayer.runtimepackages import _removed, removed_from_stdlib

    assert removed_from_stdlib("distutils.spawn", get_target("python3.11")) is None
    assert removed_from_stdlib("json", get_target("python3.13")) is None
    assert removed_from_stdlib("not_a_stdlib_name", get_target("python3.13")) is None
    # every module the table names really left some CPython's standard library
    for module in _removed():
        removed = removed_from_stdlib(module, get_target("python3.13"))
        assert removed is not None and removed.removed_in in ("3.12", "3.13"), module
    assert removed_from_stdlib("asyncore", get_target("python3.12")).add == "standard-asyncore"


@needs_python311
def test_imports_see_the_function_zip_and_other_layers(tmp_path):
    base = write_layer(tmp_path / "base.zip", {"python/basemod.py": "X = 1\n"})
    function = write_layer(tmp_path / "function.zip", {"handler.py": "import basemod\n"})
    layer = write_layer(
        tmp_path / "l.zip",
        {
            "python/usesbase.py": "import basemod, handler\n",
        },
    )
    report = check_zip(layer, CheckRequest(get_target("python3.11"), with_zips=(base, function)))
    results = {item.module: item.error for item in report.imports}
    assert results["usesbase"] is None
    assert results == {"usesbase": None}
    # no bytecode was written anywhere (-B), whoever runs the check
    assert not list(tmp_path.rglob("__pycache__"))


def test_no_interpreter_means_skipped_not_passed(tmp_path):
    layer = write_layer(
        tmp_path / "l.zip", {"python/lib/python3.14/site-packages/m.py": "raise SystemExit(1)\n"}
    )
    report = check_zip(
        layer,
        CheckRequest(
            get_target("python3.14"), imports=ImportOptions(python=Path("/nonexistent/python3.14"))
        ),
    )
    if find_interpreter("3.14") is not None:
        pytest.skip("a CPython 3.14 exists here")
    assert report.imports == () and report.imports_skipped is not None
    assert "no CPython 3.14 found" in report.imports_skipped


def test_cli_check_exit_codes_json_and_recorded_target(tmp_path, capsys):
    bad = write_layer(
        tmp_path / "bad.zip",
        {f"{SITE_311}pkg/__init__.py": "", f"{SITE_311}pkg/_impl.so": minimal_elf("aarch64")},
        comment=b"lambdalayer target=python3.11-x86_64 layout=site-packages",
    )
    assert main(["check", str(bad), "--no-imports"]) == 1
    out = capsys.readouterr().out
    assert "elf-machine" in out and "check FAILED for python3.11-x86_64" in out
    assert main(["check", str(bad), "--arch", "arm64", "--no-imports", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # Nothing failed, but the imports did not run: not "ok", and the JSON says which part.
    assert report["ok"] is False and report["verdict"] == "not verified"
    assert report["target"]["name"] == "python3.11-arm64"
    parts = {part["part"]: part for part in report["parts"]}
    assert parts["binaries"]["verdict"] == "passed" and parts["glibc"]["verdict"] == "passed"
    assert parts["imports"] == {
        "part": "imports",
        "verdict": "not verified",
        "detail": "not asked",
        "how": "check without --no-imports",
    }
    assert main(["check", str(tmp_path / "missing.zip")]) == 1
    assert "error: no such file" in capsys.readouterr().err


def test_not_verified_exits_zero_and_says_so_unless_strict(tmp_path, capsys, monkeypatch):
    layer = write_layer(
        tmp_path / "fine.zip",
        {f"{SITE_311}pkg/__init__.py": "", **dist_info(SITE_311, "pkg", "1.0", "py3-none-any")},
        comment=b"lambdalayer target=python3.11-x86_64 layout=site-packages",
    )
    assert main(["check", str(layer), "--no-imports"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert (
        "imports: not verified: not asked" in out
        and "        to verify: check without --no-imports" in out
    )
    assert out[-1].startswith(
        "check not verified (imports did not run; --strict fails on this) for python3.11-x86_64:"
    )
    assert "check ok" not in "\n".join(out)
    assert main(["check", str(layer), "--no-imports", "--strict"]) == 1
    assert capsys.readouterr().out.splitlines()[-1].startswith("check not verified")
    # strict = true in the project's configuration does what --strict does
    project = tmp_path / "project"
    project.mkdir()
    (project / "lambdalayer.toml").write_text("strict = true\n")
    monkeypatch.chdir(project)
    assert main(["check", str(layer), "--no-imports"]) == 1
    (project / "lambdalayer.toml").write_text("strict = 'yes'\n")
    assert main(["check", str(layer), "--no-imports"]) == 1
    assert "strict must be true or false" in capsys.readouterr().err


SAMPLES = Path(__file__).parent / "fixtures" / "binaries"


def test_committed_samples_are_what_their_script_makes():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_samples", SAMPLES / "make_samples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, data in module.SAMPLES.items():
        assert (SAMPLES / name).read_bytes() == data, name


def test_committed_samples_are_caught(tmp_path):
    layer = write_layer(
        tmp_path / "l.zip",
        {
            f"{SITE_311}pkg/__init__.py": "",
            f"{SITE_311}pkg/arm.so": (SAMPLES / "aarch64.so").read_bytes(),
            f"{SITE_311}pkg/mac.so": (SAMPLES / "macho.so").read_bytes(),
            f"{SITE_311}pkg/cut.so": (SAMPLES / "truncated.so").read_bytes(),
        },
    )
    report = check_zip(layer, CheckRequest(get_target("python3.11"), imports=None))
    by_member = {
        (finding.member, finding.severity.name, finding.kind) for finding in report.findings
    }
    assert (f"{SITE_311}pkg/arm.so", "ERROR", "elf-machine") in by_member
    assert (f"{SITE_311}pkg/mac.so", "ERROR", "binary") in by_member
    assert (f"{SITE_311}pkg/cut.so", "WARNING", "binary") in by_member


@needs_x86_host
def test_check_on_its_own_keeps_its_report_by_the_zips_sha256(tmp_path, capsys, plain_so):
    """#33: ``check`` of any zip reads its report back when the same bytes are checked alike
    (it imported everything again on every run before)."""
    if find_interpreter("3.11") is None:
        pytest.skip("no CPython 3.11 here: the imports would not run, and nothing is kept")
    layer = good_layer(tmp_path / "good.zip", plain_so)
    args = ["check", str(layer), "--runtime", "python3.11", "--cache-dir", str(tmp_path / "c")]
    assert main(args) == 0
    first = capsys.readouterr()
    assert "checked before" not in first.err and "check ok for python3.11-x86_64" in first.out
    assert main(args) == 0
    second = capsys.readouterr()
    assert "checked before: the same bytes for python3.11-x86_64 (cached report)" in second.err
    assert second.out == first.out
    # other bytes at the same path: checked again
    write_layer(layer, {f"{SITE_311}other/__init__.py": "", **dist_info(SITE_311, "other", "1.0")})
    assert main(args) == 0
    assert "checked before" not in capsys.readouterr().err


def _psycopg_layer(path: Path, *, with_binary: bool) -> Path:
    """A psycopg that fails as psycopg 3 does when no libpq loads (its own message, multi-line)."""
    failing = (
        "raise ImportError(\"no pq wrapper available.\\nAttempts made:\\n- couldn't import psycopg"
        " 'binary' implementation: No module named 'psycopg_binary'\\n- couldn't import psycopg"
        " 'python' implementation: libpq library not found\")\n"
    )
    files = {f"{SITE_311}psycopg/__init__.py": failing, **dist_info(SITE_311, "psycopg", "3.2.1")}
    if with_binary:
        files |= {
            f"{SITE_311}psycopg_binary/__init__.py": "",
            **dist_info(SITE_311, "psycopg-binary", "3.2.1"),
        }
    return write_layer(path, files)


@needs_x86_host
def test_import_errors_keep_their_lines_and_psycopg_binary_is_not_suggested_to_who_has_it(
    tmp_path, capsys
):
    """#33: an import error printed a literal \\n; the library-not-found fix suggested
    psycopg[binary] to a layer that has it."""
    if find_interpreter("3.11") is None:
        pytest.skip("no CPython 3.11 here: the imports would not run")
    layer = _psycopg_layer(tmp_path / "has.zip", with_binary=True)
    args = ["check", "--runtime", "python3.11", "--cache-dir", str(tmp_path / "c")]
    assert main([*args, str(layer), "--import", "psycopg"]) == 1
    out = capsys.readouterr().out
    assert "\\n" not in out and "no pq wrapper available.\n        Attempts made:" in out
    assert "the layer has psycopg-binary 3.2.1, which bundles the library, but it did not" in out
    assert "(psycopg[binary]" not in out
    layer = _psycopg_layer(tmp_path / "lacks.zip", with_binary=False)
    assert main([*args, str(layer), "--import", "psycopg"]) == 1
    assert "use a package that bundles it (psycopg[binary]" in capsys.readouterr().out


@needs_x86_host
def test_a_module_needing_the_runtimes_packages_that_cannot_be_had_is_not_verified(
    tmp_path, capsys
):
    """#31: boto3 is at /var/runtime on Lambda; when it cannot be fetched here (the index is
    unreachable), a module importing it is not verified — not failed, not ok."""
    if find_interpreter("3.12") is None:
        pytest.skip("no CPython 3.12 here: the imports would not run")
    layer = write_layer(
        tmp_path / "sdk.zip",
        {f"{SITE_312}usesboto.py": "import boto3\n", **dist_info(SITE_312, "usesboto", "1.0")},
    )
    code = main(
        [
            "check", str(layer), "--runtime", "python3.12", "--json",
            "--index-url", "http://127.0.0.1:9/simple", "--cache-dir", str(tmp_path / "c"),
        ]
    )  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["verdict"] == "not verified" and not report["ok"]
    assert not [item for item in report["findings"] if item["severity"] == "error"]
    [unverified] = report["unverified"]
    assert unverified["part"] == "imports" and unverified["why"].startswith(
        "usesboto need the runtime's own packages (boto3, …), which could not be had here"
    )


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        ([], "checking for python3.11-x86_64 (recorded in the zip by lambdalayer)"),
        (
            ["--runtime", "python3.12"],
            "checking for python3.12-x86_64 (python3.12 as given; the zip records"
            " python3.11-x86_64 (lambdalayer built it for that target))",
        ),
        (
            ["--runtime", "python3.11"],
            "checking for python3.11-x86_64 (python3.11 as given, the rest recorded in the zip",
        ),
    ],
)
def test_the_first_line_says_where_the_target_came_from(tmp_path, capsys, flags, said):
    """A new user's check with --runtime python3.12 of a zip built for python3.11 said the
    target was 'recorded in the zip', hiding that they disagree."""
    layer = write_layer(
        tmp_path / "l.zip",
        {"python/six.py": b"X = 1\n"},
        b"lambdalayer target=python3.11-x86_64 layout=python",
    )
    main(["check", str(layer), "--no-imports", *flags])
    assert said in capsys.readouterr().out
