"""Classes of real packages that were refused although they work on Lambda, each with a small local wheel.

- setuptools ships Windows launchers (``cli-32.exe``): dead weight on Linux, not an error;
- mysql-connector-python's WHEEL file says ``linux_x86_64`` inside a manylinux wheel:
  installers go by the file name, so does the check;
- duckdb's wheel also ships ``adbc_driver_duckdb``, which imports an optional package:
  a warning, while imutils imports numpy without declaring it: an error that says so;
- docopt, pandasql, pyqldb are source-only with several releases: uv words that "all
  versions of X have no usable wheels", which must reach the source build like a pin does.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cliutil import run_cli, run_json
from elfsamples import minimal_elf
from indexserver import LocalIndex
from wheelmaker import make_sdist, make_wheel

from lambdalayer.errors import SourceOnlyError
from lambdalayer.interpreters import find_interpreter
from lambdalayer.net.index import IndexConfig, IndexFile
from lambdalayer.resolve.resolver import _uv_error
from lambdalayer.targets import get_target
from lambdalayer.uvtool import uv_failure

SITE_312 = "python/lib/python3.12/site-packages/"
PE_HEADER = b"MZ\x90\x00" + bytes(60)
MACHO_HEADER = b"\xcf\xfa\xed\xfe" + bytes(60)
PURE_MULTIPLATFORM = {
    "debugish/__init__.py": "X = 1\n",
    "debugish/_speedups.cp312-win_amd64.pyd": PE_HEADER,
    "debugish/_speedups.cpython-312-darwin.so": MACHO_HEADER,
    "debugish/attach_linux_amd64.so": minimal_elf("x86_64"),
    "debugish/bin/manager": minimal_elf("x86_64"),
}


@pytest.fixture
def real_world_index(tmp_path: Path):
    root = tmp_path / "index"
    root.mkdir()
    make_wheel(
        root,
        "launchers",
        "1.0",
        files={
            "launchers/__init__.py": "X = 1\n",
            "launchers/cli-32.exe": PE_HEADER,
            "launchers/helper.dll": PE_HEADER,
        },
    )
    wheel = make_wheel(root, "mistagged", "1.0", files={"mistagged/__init__.py": "X = 1\n"})
    # The WHEEL file names a tag that fits no Lambda runtime; the file name is py3-none-any.
    with zipfile.ZipFile(wheel) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    members["mistagged-1.0.dist-info/WHEEL"] = (
        b"Wheel-Version: 1.0\nTag: cp312-cp312-linux_x86_64\n"
    )
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    for version in ("0.5", "0.6"):
        make_sdist(root, "docsrc", version)
    make_wheel(root, "needs-docsrc", "1.0", requires=["docsrc"])
    make_wheel(
        root,
        "duckish",
        "1.0",
        files={
            "duckish/__init__.py": "X = 1\n",
            "adbc_duckish/__init__.py": "import pyarrowish\n",
        },
        requires=['pyarrowish; extra == "adbc"'],
    )
    make_wheel(
        root,
        "aiplat",
        "1.0",
        files={
            "aiplat/__init__.py": "X = 1\n",
            "vertish/__init__.py": "from nsg import bq\n",
            "nsg/other/__init__.py": "",
        },
        requires=['nsg-bq; extra == "full"'],
    )
    make_wheel(root, "imutish", "1.0", files={"imutish/__init__.py": "import numpyish\n"})
    # ipython → matplotlib-inline, whose only module imports matplotlib (never declared): a
    # dependency's optional part, loaded only by ``%matplotlib inline``.
    make_wheel(
        root,
        "ipyish",
        "1.0",
        files={"ipyish/__init__.py": "X = 1\n"},
        requires=["mplinl-ish"],
    )
    make_wheel(root, "mplinl-ish", "1.0", files={"mplinl_ish/__init__.py": "import mplish\n"})
    # opentelemetry-util-http: a package two namespace levels down that imports another
    # piece of the namespace (opentelemetry.semconv) without declaring who brings it.
    make_wheel(
        root,
        "otelish-util-http",
        "1.0",
        files={"otelish/util/http/__init__.py": "from otelish.semconv import names\n"},
    )
    make_wheel(root, "deepns", "1.0", files={"deepns/a/b/__init__.py": "X = 1\n"})
    # dbt-core: its newest release needs a parser with wheels only for glibc 2.28+; the
    # release before does not need it.
    make_wheel(root, "topish", "1.0", files={"topish/__init__.py": "X = 1\n"})
    make_wheel(
        root, "topish", "2.0", files={"topish/__init__.py": "X = 2\n"}, requires=["parserish"]
    )
    make_wheel(root, "parserish", "1.0", tag="py3-none-manylinux_2_28_x86_64")
    # psycopg[binary]: psycopg-binary's module imports only after psycopg's, which it does
    # not declare.
    make_wheel(
        root,
        "partnerish",
        "1.0",
        files={"partnerish/__init__.py": "X = 1\n"},
        requires=['partnerish-binary; extra == "binary"'],
    )
    make_wheel(
        root,
        "partnerish-binary",
        "1.0",
        files={
            "partnerish_binary/__init__.py": "import sys\nif 'partnerish' not in sys.modules:\n"
            "    raise ImportError('the partnerish package should be imported before"
            " partnerish_binary')\n"
        },
    )
    # A module named by a dotted project (ruamel.yaml: "No module named 'ruamel'"), and one
    # that raises something no table knows.
    make_wheel(
        root, "usesdotted", "1.0", files={"usesdotted/__init__.py": "import dottedish.yaml\n"}
    )
    make_wheel(
        root, "raisesish", "1.0", files={"raisesish/__init__.py": "X = 1\nraise KeyError('HOME')\n"}
    )
    # Modules whose distribution is not named after them: yaml (PyYAML, in the table made
    # from real wheels), and indexedish.yaml, which a project on the index named
    # indexedish-yaml may provide (no table knows it).
    make_wheel(root, "usesyaml", "1.0", files={"usesyaml/__init__.py": "import yaml\n"})
    # mlflow-skinny requires gitpython, whose git module raises at import without a git
    # program (Lambda has none); mlflow imports it only to record a commit.
    make_wheel(
        root,
        "gitish",
        "1.0",
        files={
            "gitish/__init__.py": "raise ImportError('Failed to initialize: Bad git executable.')\n"
        },
    )
    make_wheel(
        root,
        "mlflowish",
        "1.0",
        files={"mlflowish/__init__.py": "def commit():\n    import gitish\n"},
        requires=["gitish"],
    )
    # hydra-core 0.11.3: its package imports pkg_resources (undeclared); the wheel also
    # ships its own test suite as a top-level tests/, which imports.
    make_wheel(
        root,
        "strayish",
        "1.0",
        files={"strayish/__init__.py": "import pkgresish\n", "tests/__init__.py": ""},
    )
    make_wheel(
        root, "usesindexed", "1.0", files={"usesindexed/__init__.py": "import indexedish.yaml\n"}
    )
    make_wheel(root, "indexedish-yaml", "1.0", files={"indexedish/yaml/__init__.py": "X = 1\n"})
    # debugpy, selenium: one pure wheel for every platform, with Windows and macOS extension
    # modules and helpers for one CPU beside the Linux ones; and a platform wheel for aarch64
    # carrying an x86_64 extension module (an error still).
    make_wheel(
        root, "debugish", "1.0", files=PURE_MULTIPLATFORM, executables=["debugish/bin/manager"]
    )
    make_wheel(
        root,
        "armonly",
        "1.0",
        tag="cp312-cp312-manylinux_2_17_aarch64",
        files={
            "armonly/__init__.py": "X = 1\n",
            "armonly/_x.cpython-312-aarch64-linux-gnu.so": minimal_elf("x86_64"),
        },
    )
    make_sdist(
        root,
        "psycopg2",
        "2.9.10",
        tag="cp312-cp312-linux_x86_64",
        files={"psycopg2/_psycopg.c": b"int main(void) { return 0; }\n"},
    )
    with LocalIndex(root) as index:
        yield index


def build_args(
    index: LocalIndex, tmp_path: Path, requirement: str, out: Path | None = None
) -> list[str]:
    """``build REQUIREMENT`` for python3.12 from ``index`` without bytecode, into ``out``."""
    return [
        "build", requirement, "--runtime", "python3.12", "--bytecode", "none",
        "--index-url", index.url, "--cache-dir", str(tmp_path / "c"),
        "-o", str(out or tmp_path / "l.zip"),
    ]  # fmt: skip


def test_windows_launchers_are_left_out_and_a_kept_one_is_a_warning(
    real_world_index, tmp_path, capsys
):
    out = tmp_path / "l.zip"
    document = run_json(
        capsys,
        *build_args(real_world_index, tmp_path, "launchers", out=out),
        "--no-check",
        "--json",
    )
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
    assert not [name for name in names if name.endswith((".exe", ".dll"))]
    assert document["slim_saved_bytes"]["foreign-binaries"] == 2 * len(PE_HEADER)
    kept = tmp_path / "kept.zip"
    run_json(
        capsys,
        *build_args(real_world_index, tmp_path, "launchers", out=kept),
        "--skip-rule",
        "foreign-binaries",
        "--no-check",
        "--json",
    )
    code, report_out, _ = run_cli(capsys, "check", str(kept), "--no-imports")
    assert code == 0, report_out
    assert "warning binary" in report_out and "nothing on Linux loads: dead weight" in report_out


def test_a_wheel_file_that_disagrees_with_its_name_is_no_error(real_world_index, tmp_path, capsys):
    out = tmp_path / "m.zip"
    run_json(
        capsys,
        *build_args(real_world_index, tmp_path, "mistagged", out=out),
        "--no-check",
        "--json",
    )
    document = run_json(capsys, "check", str(out), "--no-imports", "--json")
    assert document["verdict"] == "not verified"  # nothing failed; --no-imports
    [finding] = [item for item in document["findings"] if item["kind"] == "abi"]
    assert (
        finding["severity"] == "info"
        and "its WHEEL file says cp312-cp312-linux_x86_64" in finding["message"]
    )


def test_other_platforms_files_in_a_pure_wheel_are_left_out_or_warned_about(
    real_world_index, tmp_path, capsys
):
    out = tmp_path / "d.zip"
    document = run_json(
        capsys,
        *build_args(real_world_index, tmp_path, "debugish", out=out),
        "--arch",
        "arm64",
        "--json",
    )
    with zipfile.ZipFile(out) as archive:
        names = {name.removeprefix(SITE_312) for name in archive.namelist()}
    assert "debugish/_speedups.cp312-win_amd64.pyd" not in names
    assert "debugish/_speedups.cpython-312-darwin.so" not in names
    assert document["slim_saved_bytes"]["foreign-binaries"] == len(PE_HEADER) + len(MACHO_HEADER)
    helpers = [item for item in document["check"]["findings"] if item["kind"] == "elf-machine"]
    assert {item["severity"] for item in helpers} == {"warning"}
    assert {item["member"].removeprefix(SITE_312) for item in helpers} == {
        "debugish/attach_linux_amd64.so",
        "debugish/bin/manager",
    }
    assert helpers[0]["message"] == (
        "ELF for x86_64 inside debugish's pure wheel (made for every platform): it runs only"
        " on that CPU, never on arm64"
    )
    kept = tmp_path / "kept.zip"
    run_json(
        capsys,
        *build_args(real_world_index, tmp_path, "debugish", out=kept),
        "--skip-rule",
        "foreign-binaries",
        "--no-check",
        "--json",
    )
    report = run_json(capsys, "check", str(kept), "--no-imports", "--json")
    assert report["verdict"] == "not verified", report["findings"]  # nothing failed; --no-imports
    foreign = [item for item in report["findings"] if "macOS or Windows" in item["message"]]
    assert {item["severity"] for item in foreign} == {"warning"} and len(foreign) == 2


def test_an_extension_module_for_another_cpu_in_a_platform_wheel_stays_an_error(
    real_world_index, tmp_path, capsys
):
    code, _, err = run_cli(
        capsys, *build_args(real_world_index, tmp_path, "armonly"), "--arch", "arm64"
    )
    assert code == 1
    assert "ELF for x86_64, the target CPU is aarch64" in err


def test_a_macos_extension_module_stays_an_error(tmp_path, capsys):
    layer = tmp_path / "mac.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(f"{SITE_312}fast.cpython-312-darwin.so", b"\xcf\xfa\xed\xfe" + bytes(28))
        archive.writestr(f"{SITE_312}fast_py.py", "X = 1\n")
    code, out, _ = run_cli(capsys, "check", str(layer), "--no-imports")
    assert code == 1
    assert "Mach-O binary: it cannot run on Linux" in out


# uv's words, as uv 0.9-0.13 printed them for a source-only project with two releases.
UV_SAID = {
    "unpinned": "error: No solution found when resolving dependencies\n  cause: Because all versions of"
    " docsrc have no usable wheels and you require docsrc, we can conclude that your requirements"
    " are unsatisfiable.\n\nhint: Wheels are required for `docsrc` because building from source is"
    " disabled for all packages (i.e., with `--no-build`)\n",
    "pinned": "error: No solution found when resolving dependencies\n  cause: Because docsrc==0.6 has no"
    " usable wheels and you require docsrc==0.6, we can conclude that your requirements are"
    " unsatisfiable.\n",
    "range": "error: No solution found when resolving dependencies\n  cause: Because docsrc==0.5 has no"
    " usable wheels and only the following versions of docsrc are available:\n             docsrc==0.5\n"
    "             docsrc>=0.6\n         we can conclude that docsrc<0.6 cannot be used.\n",
    "transitive": "error: No solution found when resolving dependencies\n  cause: Because all versions of"
    " docsrc have no usable wheels and all versions of needs-docsrc depend on docsrc, we can conclude"
    " that all versions of needs-docsrc cannot be used.\n",
    "hint only": "error: No solution found when resolving dependencies\n\nhint: Wheels are required for"
    " `docsrc` because building from source is disabled for all packages\n",
}


@pytest.mark.parametrize("form", sorted(UV_SAID))
def test_every_wording_of_no_wheels_reaches_the_source_build(form):
    sdists = [
        IndexFile(f"docsrc-{v}.tar.gz", f"http://x/docsrc-{v}.tar.gz") for v in ("0.5", "0.6")
    ]
    error = _uv_error(
        uv_failure(1, UV_SAID[form]),
        get_target("python3.12"),
        IndexConfig(),
        {},
        lambda _i, _n: sdists,
    )
    assert isinstance(error, SourceOnlyError) and error.package == "docsrc"


@pytest.mark.parametrize("requirement", ["docsrc", "docsrc>=0.5", "docsrc<0.6", "needs-docsrc"])
def test_a_source_only_package_builds_however_it_is_asked_for(
    real_world_index, tmp_path, capsys, requirement
):
    document = run_json(
        capsys,
        *build_args(real_world_index, tmp_path, requirement),
        "--no-check",
        "--json",
    )
    built = {package["name"]: package["version"] for package in document["packages"]}
    assert built["docsrc"] == ("0.5" if requirement == "docsrc<0.6" else "0.6")


def test_a_native_source_only_package_says_what_it_is_and_what_to_use(
    real_world_index, tmp_path, capsys
):
    code, _, err = run_cli(
        capsys,
        *build_args(real_world_index, tmp_path, "psycopg2"),
    )
    assert code == 1
    assert "error: psycopg2 is published only as source with C code" in err
    assert "lambdalayer does not compile native code for Lambda" in err
    assert (
        "hint: use psycopg2-binary (the same module with libpq inside), or psycopg[binary]" in err
    )
    code, _, err = run_cli(
        capsys,
        "build",
        "psycopg2",
        "--no-build",
        "--runtime",
        "python3.12",
        "--index-url",
        real_world_index.url,
        "--cache-dir",
        str(tmp_path / "c"),
        "-o",
        str(tmp_path / "l.zip"),
    )
    assert code == 1 and "hint: use psycopg2-binary" in err


needs_import_check = pytest.mark.skipif(
    shutil.which("bwrap") is None or find_interpreter("3.12") is None,
    reason="the import check needs bubblewrap and a CPython 3.12 here",
)


@needs_import_check
def test_an_optional_top_level_module_is_a_warning_naming_the_extra(
    real_world_index, tmp_path, capsys
):
    document = run_json(
        capsys,
        *build_args(real_world_index, tmp_path, "duckish"),
        "--json",
    )
    [warning] = [item for item in document["check"]["findings"] if item["kind"] == "import"]
    assert warning["severity"] == "warning"
    assert warning["message"] == (
        "adbc_duckish (part of duckish) imports pyarrowish, which no requirement provides;"
        " duckish imports, so adbc_duckish is optional here (the extra duckish[adbc] brings it)"
    )


@needs_import_check
def test_a_dependencys_module_needing_what_no_requirement_brings_is_a_warning(
    real_world_index, tmp_path, capsys
):
    out = tmp_path / "ipy.zip"
    document = run_json(capsys, *build_args(real_world_index, tmp_path, "ipyish", out), "--json")
    [warning] = [item for item in document["check"]["findings"] if item["kind"] == "import"]
    assert warning["severity"] == "warning"
    assert warning["message"] == (
        "mplinl_ish (part of mplinl-ish, a dependency of ipyish) imports mplish, which no"
        " requirement provides; mplinl-ish's dependents import without it, so mplinl_ish is"
        " optional here"
    )
    # Asked for by name, the same module is an error.
    code, report, _ = run_cli(
        capsys, "check", str(out), "--import", "mplinl_ish", "--cache-dir", str(tmp_path / "c")
    )
    assert code == 1, report
    assert "mplinl_ish imports mplish, which no requirement provides" in report


@needs_import_check
def test_hints_name_the_dotted_project_and_where_an_import_raised(
    real_world_index, tmp_path, capsys
):
    code, _, err = run_cli(capsys, *build_args(real_world_index, tmp_path, "usesdotted"))
    assert code == 1
    assert "usesdotted imports dottedish.yaml, which no requirement provides" in err
    assert (
        "add the distribution that provides dottedish.yaml (no project is known to provide it:"
        " lambdalayer's table of" in err
    ), err
    assert "the index has no project named dottedish-yaml or dottedish)" in err
    assert "add dottedish " not in err and "add dottedish (" not in err
    code, _, err = run_cli(capsys, *build_args(real_world_index, tmp_path, "raisesish"))
    assert code == 1
    assert "see the message" not in err
    assert (
        "raisesish raised KeyError at /opt/python/lib/python3.12/site-packages/raisesish/"
        "__init__.py:2 while being imported: pin an earlier release" in err
    ), err


@needs_import_check
def test_a_stray_tests_package_that_imports_does_not_make_the_failing_one_optional(
    real_world_index, tmp_path, capsys
):
    code, _, err = run_cli(capsys, *build_args(real_world_index, tmp_path, "strayish"))
    assert code == 1, err
    assert "error   import      strayish imports pkgresish, which no requirement provides" in err, (
        err
    )
    assert "optional here" not in err


@needs_import_check
def test_pkg_resources_is_lambdas_own_on_python311_and_missing_on_python312(tmp_path, capsys):
    """Lambda's python3.11 has setuptools 65.5.0 in /var/lang, python3.12 has none (the
    runtime listing of data/runtime_packages.toml): hydra-core 0.11's import of
    pkg_resources works on the one and fails on the other; the check's root has neither."""
    verdicts = {}
    for version in ("3.11", "3.12"):
        layer = tmp_path / f"l{version}.zip"
        with zipfile.ZipFile(layer, "w") as archive:
            archive.writestr(
                f"python/lib/python{version}/site-packages/prish/__init__.py",
                "import pkg_resources\n",
            )
        verdicts[version] = run_cli(
            capsys, "check", str(layer), "--runtime", f"python{version}",
            "--cache-dir", str(tmp_path / "c"),
        )  # fmt: skip
    code, out, _ = verdicts["3.11"]
    assert code == 0, out
    assert (
        "import prish needs pkg_resources, which python3.11 has in /var/lang (setuptools 65.5.0)"
        " and the check's root does not: not verified" in out
    ), out
    assert "check not verified" in out
    code, out, _ = verdicts["3.12"]
    assert code == 1, out
    assert "prish imports pkg_resources, which no requirement provides: add setuptools" in out


@needs_import_check
def test_a_standard_library_module_the_stand_in_cpython_lacks_is_not_the_layers_fault(
    tmp_path, capsys
):
    """docker-pycreds imports distutils, part of CPython 3.11's standard library, which
    Debian's arm64 CPython (the stand-in) ships apart: a false refusal. The same with a
    module this machine's CPython 3.12 was built without (_dbm, for dbm.ndbm)."""
    python = find_interpreter("3.12")
    assert python is not None
    lacks = subprocess.run([str(python.path), "-c", "import _dbm"], check=False).returncode != 0
    if not lacks:
        pytest.skip("this machine's CPython 3.12 has _dbm")
    layer = tmp_path / "l.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(f"{SITE_312}dbmish/__init__.py", "import dbm.ndbm\n")
    code, out, _ = run_cli(
        capsys, "check", str(layer), "--runtime", "python3.12", "--cache-dir", str(tmp_path / "c")
    )
    assert code == 0, out
    assert (
        "import dbmish needs _dbm, which python3.12 has in its standard library and the CPython"
        " standing in for Lambda's here lacks: not verified" in out
    ), out


@needs_import_check
def test_a_dependencys_module_that_raises_at_import_is_optional_when_its_dependents_import(
    real_world_index, tmp_path, capsys
):
    document = run_json(capsys, *build_args(real_world_index, tmp_path, "mlflowish"), "--json")
    [warning] = [item for item in document["check"]["findings"] if item["kind"] == "import"]
    assert warning["severity"] == "warning"
    assert warning["message"].endswith(
        "(gitish is part of gitish, a dependency of mlflowish, which imports without it:"
        " optional here)"
    ), warning
    # Asked for itself, it is an error.
    code, _, err = run_cli(
        capsys, *build_args(real_world_index, tmp_path, "gitish", tmp_path / "g.zip")
    )
    assert code == 1, err
    assert "Bad git executable" in err


@needs_import_check
def test_a_missing_modules_hint_names_the_distribution_that_provides_it(
    real_world_index, tmp_path, capsys
):
    """``import yaml`` wants PyYAML (the table made from real wheels), never a project named
    yaml; a name no table knows is looked up on the index, dotted prefixes included."""
    code, _, err = run_cli(capsys, *build_args(real_world_index, tmp_path, "usesyaml"))
    assert code == 1
    assert "usesyaml imports yaml, which no requirement provides" in err
    assert "fix: add PyYAML to the requirements" in err, err
    assert "add yaml" not in err
    code, _, err = run_cli(capsys, *build_args(real_world_index, tmp_path, "usesindexed"))
    assert code == 1
    assert (
        "add indexedish-yaml (a project of that name is on the index; that it provides"
        " indexedish.yaml is not verified)" in err
    ), err
    assert "fix: add indexedish-yaml to the requirements" in err, err


def test_a_dependency_with_no_wheel_for_the_target_backs_off_to_a_release_without_it(
    real_world_index, tmp_path, capsys
):
    args = build_args(real_world_index, tmp_path, "topish")
    args[args.index("python3.12")] = "python3.11"  # glibc 2.26: parserish's 2.28 wheel fits not
    document = run_json(capsys, *args, "--no-check", "--json")
    assert {item["name"]: item["version"] for item in document["packages"]} == {"topish": "1.0"}
    # No pin holds topish back: its 2.0 needs parserish, which has no wheel for the target.
    [note] = document["version_notes"]
    assert "a pin or range in the requirements holds it back" not in str(note), note
    assert "or a dependency of topish 2.0 with no wheel for the target" in str(note), note
    assert "build 'topish==2.0' to see which" in str(note), note
    named = build_args(real_world_index, tmp_path, "parserish")
    named[named.index("python3.12")] = "python3.11"
    code, _, err = run_cli(capsys, *named, "--no-check")
    assert code == 1 and "error: no wheel of parserish for python3.11" in err


@needs_import_check
def test_a_kept_import_result_is_reused_only_where_what_it_saw_is_the_same(
    real_world_index, tmp_path, capsys
):
    """partnerish_binary imported beside partnerish; built alone in the same cache, it must
    be imported again (and fail), as with a fresh cache."""
    document = run_json(
        capsys,
        *build_args(real_world_index, tmp_path, "partnerish[binary]", tmp_path / "a.zip"),
        "--json",
    )
    assert {item["module"]: item["ok"] for item in document["check"]["imports"]} == {
        "partnerish": True,
        "partnerish_binary": True,
    }
    code, _, err = run_cli(
        capsys, *build_args(real_world_index, tmp_path, "partnerish-binary", tmp_path / "b.zip")
    )
    assert code == 1, err
    assert "the partnerish package should be imported before partnerish_binary" in err


@needs_import_check
def test_an_undeclared_dependency_is_an_error_that_names_it(real_world_index, tmp_path, capsys):
    code, _, err = run_cli(
        capsys,
        *build_args(real_world_index, tmp_path, "imutish"),
    )
    assert code == 1
    assert (
        "imutish imports numpyish, which no requirement provides (imutish does not declare it):"
        " add the distribution that provides numpyish (no project is known to provide it:" in err
    ), err
    assert "the index has no project named numpyish)" in err  # asked, never invented
    assert "fix: add the distribution that provides numpyish to the requirements\n" in err, err
    assert err.count("no project is known to provide it") == 1, err  # said once, not in fix


_SANDBOX_RUNS: list[int] = []  # the import children started while a test counts them


def _count_import_children(event: str, args: tuple[object, ...]) -> None:
    if _SANDBOX_RUNS and event == "subprocess.Popen" and "lambdalayer-results" in repr(args):
        _SANDBOX_RUNS[0] += 1


@needs_import_check
def test_the_index_answers_change_the_hint_without_importing_again(
    real_world_index, tmp_path, capsys
):
    """The index's answers about a missing module only change the hint's wording: the
    import children run once (they ran all over again with the answers), counted by the
    real processes started (an audit hook), nothing stood in."""
    sys.addaudithook(_count_import_children)  # a hook stays; it counts only while asked
    _SANDBOX_RUNS.append(0)
    try:
        code, _, err = run_cli(capsys, *build_args(real_world_index, tmp_path, "imutish"))
        started = _SANDBOX_RUNS[0]
    finally:
        _SANDBOX_RUNS.clear()
    assert code == 1
    assert "the index has no project named numpyish)" in err, err  # still asked
    print(f"import children started by a build whose module imports an unknown one: {started}")
    assert started == 1, started


@needs_import_check
def test_a_library_loaded_by_name_that_lambda_lacks_fails_by_default_and_passes_on_this_machine(
    tmp_path, capsys
):
    if not any(Path(d, "libGL.so.1").exists() for d in ("/usr/lib/x86_64-linux-gnu", "/lib64")):
        pytest.skip("this machine has no libGL.so.1 (apt-get install libgl1)")
    out = _fails_in_lambdas_root_and_passes_on_this_machine(
        tmp_path,
        capsys,
        {
            "drawing.py": "import ctypes\nctypes.CDLL('libGL.so.1')\n",
            "crypto.py": "import ctypes\nctypes.CDLL('libssl.so.3')\n",
        },
    )
    assert "imports: 1 of 2 modules import (in a root with python3.12's library set" in out
    assert "import drawing failed: OSError: libGL.so.1: cannot open shared object file" in out


def _fails_in_lambdas_root_and_passes_on_this_machine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], modules: dict[str, str]
) -> str:
    """Check a python3.12 layer of ``modules``: it fails by default and passes with
    ``--image host``; returns what the failing check printed."""
    layer = tmp_path / "layer.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        for name, text in modules.items():
            archive.writestr(f"{SITE_312}{name}", text)
    cache = str(tmp_path / "cache")
    code, out, _ = run_cli(capsys, "check", str(layer), "--cache-dir", cache)
    assert code == 1, out
    code, here, _ = run_cli(capsys, "check", str(layer), "--cache-dir", cache, "--image", "host")
    assert code == 0, here
    assert "on this machine's libraries, not Lambda's" in here
    return out


def test_a_piece_of_the_same_namespace_that_no_requirement_brings_is_named(
    real_world_index, tmp_path, capsys
):
    code, _, err = run_cli(capsys, *build_args(real_world_index, tmp_path, "otelish-util-http"))
    assert code == 1
    assert (
        "otelish.util.http imports otelish.semconv, which no requirement provides"
        " (otelish-util-http does not declare it): add the distribution that provides"
        " otelish.semconv" in err
    )
    assert "is not where Lambda looks" not in err


def test_a_package_under_nested_namespace_directories_is_imported(
    real_world_index, tmp_path, capsys
):
    """google/cloud/aiplatform, opentelemetry/util/http: two namespace levels, then a package;
    before, the layer had no module to import and the check passed having imported nothing."""
    built = run_json(capsys, *build_args(real_world_index, tmp_path, "deepns"), "--json")
    if built["check"]["imports_skipped"]:
        pytest.skip(built["check"]["imports_skipped"])
    assert [item["module"] for item in built["check"]["imports"]] == ["deepns.a.b"]


def test_a_layer_with_nothing_to_import_says_so(tmp_path, capsys):
    layer = tmp_path / "data.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(f"{SITE_312}somedata/table.csv", "a,b\n")
    code, out, _ = run_cli(capsys, "check", str(layer), "--cache-dir", str(tmp_path / "c"))
    assert code == 1 and "the zip has no Python modules" in out
    # not "imports: 0 of 0 modules import", which read as a pass
    assert "imports: nothing to import: no module or package in the layer" in out


def test_a_namespace_directory_stands_for_the_packages_inside_it():
    """protobuf lives in google/protobuf/ with no google/__init__.py: import google.protobuf, not google."""
    from lambdalayer.check.modules import top_level_modules

    names = [
        f"{SITE_312}google/protobuf/__init__.py",
        f"{SITE_312}google/protobuf/internal/x.py",
        f"{SITE_312}google/_upb/_message.abi3.so",
        f"{SITE_312}six.py",
        f"{SITE_312}ns/__init__.py",
        f"{SITE_312}ns/sub/__init__.py",
    ]
    assert top_level_modules(names, [SITE_312]) == ["google._upb", "google.protobuf", "ns", "six"]


def test_the_synthesized_root_holds_the_interpreters_program_not_a_shim(tmp_path):
    """A pyenv shim (a shell script) on PATH is a working CPython, but not the program to copy."""
    from dataclasses import replace

    from lambdalayer.environment.synthroot import synthesized_root

    real = find_interpreter("3.12")
    if real is None:
        pytest.skip("no CPython 3.12 here")
    shim = tmp_path / "shims" / "python3.12"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{real.path}" "$@"\n')
    shim.chmod(0o755)
    root = synthesized_root(get_target("python3.12"), replace(real, path=shim), tmp_path / "cache")
    assert root is not None
    assert (root.rootfs / "var/lang/bin/python3.12").read_bytes()[:4] == b"\x7fELF"
    assert (root.rootfs / "usr/lib64/libc.so.6").exists()
    assert not (root.rootfs / "usr/lib64/libGL.so.1").exists()


def test_another_pythons_extension_beside_the_runtimes_own_is_dead_weight(tmp_path, capsys):
    """snowflake-connector-python's cp312 wheel also ships a cpython-311 build of one module."""
    from elfsamples import minimal_elf

    layer = tmp_path / "sf.zip"
    elf = minimal_elf("x86_64")
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(f"{SITE_312}sf/__init__.py", "")
        archive.writestr(f"{SITE_312}sf/it.cpython-311-x86_64-linux-gnu.so", elf)
        archive.writestr(f"{SITE_312}sf/it.cpython-312-x86_64-linux-gnu.so", elf)
        archive.writestr(f"{SITE_312}alone/only.cpython-311-x86_64-linux-gnu.so", elf)
    document = run_json_any(
        capsys, "check", str(layer), "--runtime", "3.12", "--no-imports", "--json"
    )
    abi = {
        (f["member"].rsplit("/", 1)[-1], f["severity"])
        for f in document["findings"]
        if f["kind"] == "abi"
    }
    assert abi == {
        ("it.cpython-311-x86_64-linux-gnu.so", "warning"),
        ("only.cpython-311-x86_64-linux-gnu.so", "error"),
    }


def run_json_any(capsys, *args):
    import json

    _code, out, _err = run_cli(capsys, *args)
    return json.loads(out)


def test_the_tests_rule_keeps_what_numpy_testing_imports():
    from lambdalayer.layer.slim import _matches, rules

    [tests] = [rule for rule in rules() if rule.name == "tests"]
    assert not _matches("numpy/_core/tests/_natype.py", tests, set())
    assert _matches("numpy/_core/tests/test_umath.py", tests, set())


@needs_import_check
def test_a_missing_piece_of_a_namespace_package_in_an_optional_module_is_a_warning(
    real_world_index, tmp_path, capsys
):
    """google-cloud-aiplatform's vertex_ray imports google.cloud.bigquery_storage (its [full] extra)."""
    document = run_json(
        capsys,
        *build_args(real_world_index, tmp_path, "aiplat"),
        "--json",
    )
    [warning] = [item for item in document["check"]["findings"] if item["kind"] == "import"]
    assert warning["severity"] == "warning"
    assert "vertish (part of aiplat) imports nsg.bq" in warning["message"]
    assert "the extra aiplat[full] brings it" in warning["message"]


SITE_311 = "python/lib/python3.11/site-packages/"


def _an_aarch64_library_lambda_lacks() -> str | None:
    """A soname this machine has an aarch64 build of that python3.11's arm64 set lacks."""
    from lambdalayer.interpreters import program_machine
    from lambdalayer.libraryset import runtime_libraries

    present = runtime_libraries(get_target("python3.11", "arm64")).present
    for path in sorted(Path("/usr/lib/aarch64-linux-gnu").glob("lib*.so.[0-9]*")):
        stem, _, version = path.name.partition(".so.")
        wanted = path.name not in present and version.isdigit() and stem.startswith("lib")
        if wanted and program_machine(path.resolve()) == "aarch64":
            return path.name
    return None


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="the import check needs bubblewrap")
def test_an_arm64_layer_is_imported_in_lambdas_arm64_library_set_by_default(
    aarch64_pythons, tmp_path, capsys, monkeypatch
):
    """Both CPUs: an arm64 layer imports in a root of this machine's aarch64 builds of the
    runtime's sonames and an aarch64 CPython, through qemu; before, 'imports not checked'."""
    lacking = _an_aarch64_library_lambda_lacks()
    if lacking is None:
        pytest.skip("this machine has no aarch64 library beyond the runtime's set")
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(aarch64_pythons))
    layer = tmp_path / "arm.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(
            f"{SITE_311}onarm.py",
            "import platform, ssl\nassert platform.machine() == 'aarch64', platform.machine()\n",
        )
        archive.writestr(f"{SITE_311}crypto.py", "import ctypes\nctypes.CDLL('libssl.so.3')\n")
        archive.writestr(f"{SITE_311}beyond.py", f"import ctypes\nctypes.CDLL({lacking!r})\n")
    cache = str(tmp_path / "cache")
    code, out, _ = run_cli(
        capsys, "check", str(layer), "--runtime", "python3.11", "--arch", "arm64",
        "--cache-dir", cache,
    )  # fmt: skip
    assert code == 1, out
    assert "imports: 2 of 3 modules import (in a root with python3.11's library set" in out
    assert "aarch64 CPython 3.11.2" in out and "qemu-aarch64-static" in out
    assert f"import beyond failed: OSError: {lacking}: cannot open shared object file" in out


def _check_a_plain_arm64_layer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """``check`` of a one-module python3.11 arm64 layer: it passes; returns what it printed."""
    layer = tmp_path / "arm.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(f"{SITE_311}plain.py", "X = 1\n")
    code, out, err = run_cli(
        capsys, "check", str(layer), "--runtime", "python3.11", "--arch", "arm64",
        "--cache-dir", str(tmp_path / "cache"),
    )  # fmt: skip
    assert code == 0, out
    if "installing one with uv python install cpython-3.11-linux-aarch64-gnu" in err:
        assert "imports: not verified: no aarch64 CPython 3.11 here, and installing" in out
    return out


@pytest.mark.skipif(
    shutil.which("qemu-aarch64-static") is None or not Path("/lib/ld-linux-aarch64.so.1").exists(),
    reason="needs qemu-user-static and this machine's aarch64 libraries (.ci/run installs them)",
)
def test_without_an_aarch64_cpython_the_arm64_imports_say_how_to_get_one(
    tmp_path, capsys, monkeypatch
):
    """#31: the aarch64 CPython is provisioned through uv as the bytecode's is; here uv cannot
    download: the imports are not verified (never "ok"), uv's reason and the command that
    gets one are said, and the failure is remembered (no retry on the next check)."""
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(tmp_path / "no-pythons"))
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")  # uv's own retries: seconds for the same answer
    out = _check_a_plain_arm64_layer(tmp_path, capsys)
    lines = out.splitlines()
    [line] = [line for line in lines if line.startswith("imports: not verified: ")]
    assert line.startswith(
        "imports: not verified: no aarch64 CPython 3.11 here, and installing one failed (uv python"
        " install cpython-3.11-linux-aarch64-gnu: "
    )
    assert (
        "        to verify: uv python install cpython-3.11-linux-aarch64-gnu where uv can"
        " download (or put a CPython 3.11 built for aarch64 on PATH)" in lines
    )
    # never "ok": the imports did not run (exit 0 without --strict, said on the last line)
    assert lines[-1].startswith("check not verified (imports did not run")
    # the next check does not ask uv again within the hour
    code, again, err = run_cli(
        capsys, "check", str(tmp_path / "arm.zip"), "--runtime", "python3.11", "--arch", "arm64",
        "--cache-dir", str(tmp_path / "cache"),
    )  # fmt: skip
    assert code == 0 and "installing one with uv python install" not in err
    assert line in again.splitlines()


def test_a_check_cached_before_an_aarch64_cpython_appeared_is_not_reused_after(
    aarch64_pythons, local_index, tmp_path, capsys, monkeypatch
):
    """#31: the check report's key names the interpreter of the layer's CPU, so the report
    of a build made while no aarch64 CPython was here (imports not verified) is not reused
    once one appears: the rebuild imports."""
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(tmp_path / "no-pythons"))
    args = (
        "build", "beta==1.0", "--runtime", "python3.11", "--arch", "arm64", "--bytecode", "none",
        "--index-url", local_index.url, "--cache-dir", str(tmp_path / "cache"),
        "-o", str(tmp_path / "layer.zip"), "--json",
    )  # fmt: skip
    first = run_json(capsys, *args)["check"]
    assert first["verdict"] == "not verified" and first["imports"] == [], first
    monkeypatch.setenv("UV_PYTHON_INSTALL_DIR", str(aarch64_pythons))
    second = run_json(capsys, *args)["check"]
    assert second["verdict"] == "passed", second
    assert [item["module"] for item in second["imports"]] == ["beta"]


def test_a_library_of_another_cpu_is_never_put_in_the_root(tmp_path, monkeypatch):
    """/lib64 holds this machine's x86_64 libraries: not the aarch64 root's, whatever its name."""
    from lambdalayer.environment import synthroot

    x86 = next(
        (
            p
            for p in (Path("/lib/x86_64-linux-gnu/libc.so.6"), Path("/lib64/libc.so.6"))
            if p.exists()
        ),
        None,
    )
    if x86 is None:
        pytest.skip("no x86_64 libc here")
    shutil.copy(x86, tmp_path / "libc.so.6")
    monkeypatch.setitem(synthroot.HOST_LIBRARY_DIRS, "aarch64", (str(tmp_path),))
    assert synthroot._host_library("libc.so.6", "aarch64") is None
    monkeypatch.setitem(synthroot.HOST_LIBRARY_DIRS, "x86_64", (str(tmp_path),))
    assert synthroot._host_library("libc.so.6", "x86_64") == (tmp_path / "libc.so.6")


def test_a_cpython_of_another_cpu_is_run_through_qemu_to_prove_what_it_is(aarch64_pythons):
    from lambdalayer.interpreters import find_interpreter as find

    environ = {
        "PATH": "",
        "UV_PYTHON_INSTALL_DIR": str(aarch64_pythons),
        "PYENV_ROOT": "/nonexistent",
    }
    found = find("3.11", environ=environ, machine="aarch64")
    assert found is not None and found.machine == "aarch64" and found.micro == 2
    assert find("3.11", environ=environ) is None  # not this machine's CPU: never for bytecode


@pytest.mark.skipif(shutil.which("qemu-aarch64-static") is None, reason="needs qemu-user-static")
def test_without_aarch64_libraries_the_arm64_imports_say_how_to_get_them(
    tmp_path, capsys, monkeypatch
):
    """An aarch64 CPython cannot start, nor a root be made, without the machine's aarch64
    libc: the report names the packages, not a missing CPython."""
    from lambdalayer.environment import synthroot

    monkeypatch.setitem(synthroot.HOST_LIBRARY_DIRS, "aarch64", (str(tmp_path / "none"),))
    out = _check_a_plain_arm64_layer(tmp_path, capsys)
    assert (
        "imports: not verified: this machine has no aarch64 libraries to make Lambda's arm64 root"
        " from (Debian, Ubuntu: dpkg --add-architecture arm64; apt-get install libc6:arm64" in out
    )


@needs_import_check
def test_a_program_run_at_import_that_lambda_lacks_is_named_as_such(tmp_path, capsys):
    """gitpython in the corpus: ``import git`` needs the git program, which this machine has
    and Lambda's runtimes (and so the synthesized root) do not."""
    if shutil.which("git") is None:
        pytest.skip("this machine has no git")
    out = _fails_in_lambdas_root_and_passes_on_this_machine(
        tmp_path,
        capsys,
        {
            "gitish.py": "import shutil\nif shutil.which('git') is None:\n"
            "    raise ImportError('Failed to initialize: Bad git executable.')\n"
        },
    )
    assert "import gitish failed: ImportError: Failed to initialize: Bad git executable." in out
    assert "a program run at import that Lambda's runtimes do not have" in out


def test_a_release_the_users_own_pin_holds_back_is_said_to_be_held_by_that_pin(
    real_world_index, tmp_path, capsys
):
    """'requests 2.31.0, not 2.34.2' for 'build requests==2.31.0' named every possible cause
    and asked to build requests==2.34.2 to see which (README's first command, a new user's
    review): the user's own pin is named, on the command line and in a requirements file."""
    document = run_json(
        capsys, *build_args(real_world_index, tmp_path, "topish==1.0"), "--no-check", "--json"
    )
    [note] = document["version_notes"]
    assert "the requirement 'topish==1.0' holds it back" in str(note), note
    assert "to see which" not in str(note), note
    included = tmp_path / "pins.txt"
    included.write_text("topish<2  # held back on purpose\n")
    (tmp_path / "requirements.txt").write_text(f"-r {included}\n")
    args = build_args(real_world_index, tmp_path, "topish")
    args[1:2] = ["-r", str(tmp_path / "requirements.txt")]
    document = run_json(capsys, *args, "--no-check", "--json")
    [note] = document["version_notes"]
    assert "the requirement 'topish<2' holds it back" in str(note), note
