"""The static needed-library check: chains through bundled libraries, versions, lib/ dirs.

Uses the committed samples of tests/fixtures/binaries (made by make_samples.py there).
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from lambdalayer.check.libraries import PlacedElf, needed_library_findings, stand_in_verdict
from lambdalayer.check.request import CheckRequest
from lambdalayer.check.rules import check_zip
from lambdalayer.cli.flags import in_flags
from lambdalayer.elf import read_elf
from lambdalayer.interpreters import find_interpreter
from lambdalayer.libraryset import runtime_libraries
from lambdalayer.targets import all_targets, get_target

SAMPLES = Path(__file__).parent / "fixtures" / "binaries"
EXT = (SAMPLES / "chain" / "ext.abi3.so").read_bytes()
MID = (SAMPLES / "chain" / "chain.libs" / "libmid-1a2b3c.so").read_bytes()
NEEDS_CXX = (SAMPLES / "needs_glibcxx_3_4_29.so").read_bytes()


def site(runtime: str) -> str:
    return f"python/lib/python{runtime.removeprefix('python')}/site-packages/"


def chain_layer(path: Path, runtime: str, distribution: str = "opencv-python") -> Path:
    prefix = site(runtime)
    info = f"{prefix}{distribution.replace('-', '_')}-4.10.0.dist-info/"
    members = {
        f"{prefix}chain/__init__.py": b"",
        f"{prefix}chain/ext.abi3.so": EXT,
        f"{prefix}chain.libs/libmid-1a2b3c.so": MID,
        f"{info}METADATA": f"Name: {distribution}\nVersion: 4.10.0\n".encode(),
        f"{info}RECORD": b"chain/__init__.py,,\nchain/ext.abi3.so,,\nchain.libs/libmid-1a2b3c.so,,\n",
    }
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def library_findings(report):  # type: ignore[no-untyped-def]
    return [finding for finding in report.findings if finding.kind == "library"]


@pytest.mark.parametrize("runtime", ["python3.11", "python3.12"])
def test_bundled_library_needing_libgl_is_an_error_with_the_chain_and_remedy(tmp_path, runtime):
    layer = chain_layer(tmp_path / "cv.zip", runtime)
    report = check_zip(layer, CheckRequest(get_target(runtime), imports=None))
    [finding] = library_findings(report)
    assert finding.severity.name == "ERROR"
    assert "needs libGL.so.1, which" in finding.message
    assert "chain/ext.abi3.so → chain.libs/libmid-1a2b3c.so → libGL.so.1" in finding.message
    assert finding.package == "opencv-python"
    assert finding.fix is not None and finding.fix.startswith("use opencv-python-headless instead")
    assert not report.ok


def test_a_library_in_a_layers_lib_dir_is_found_through_ld_library_path(tmp_path):
    layer = chain_layer(tmp_path / "cv.zip", "python3.12", distribution="something")
    gl_layer = tmp_path / "gl.zip"
    with zipfile.ZipFile(gl_layer, "w") as archive:
        archive.writestr("lib/libGL.so.1", MID)  # any ELF of the right CPU named libGL.so.1
    report = check_zip(
        layer, CheckRequest(get_target("python3.12"), imports=None, with_zips=(gl_layer,))
    )
    assert library_findings(report) == []
    alone = check_zip(layer, CheckRequest(get_target("python3.12"), imports=None))
    [finding] = library_findings(alone)
    assert "bundle libGL.so.1 in a layer's lib/" in (finding.fix or "")


def test_symbol_versions_are_checked_against_the_runtimes_libstdcxx(tmp_path):
    for runtime, expected_ok in (("python3.11", False), ("python3.12", True)):
        layer = tmp_path / f"{runtime}.zip"
        with zipfile.ZipFile(layer, "w") as archive:
            archive.writestr(f"{site(runtime)}cxx/_impl.so", NEEDS_CXX)
            archive.writestr(f"{site(runtime)}cxx/__init__.py", b"")
        report = check_zip(layer, CheckRequest(get_target(runtime), imports=None))
        assert (not report.failed) is expected_ok, report.findings
        if not expected_ok:
            [finding] = library_findings(report)
            assert finding.message.startswith(
                "needs GLIBCXX_3.4.29 from libstdc++.so.6; python3.11 (Amazon Linux 2) has up to"
                " GLIBCXX_3.4.24"
            )


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_a_library_nobody_knows_is_a_warning(tmp_path):
    (tmp_path / "foo.c").write_text("int foo(void) { return 1; }\n")
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-Wl,-soname,libfoo.so.3",
            "-o",
            str(tmp_path / "libfoo.so.3"),
            str(tmp_path / "foo.c"),
        ],
        check=True,
    )
    (tmp_path / "user.c").write_text("int foo(void);\nint bar(void) { return foo(); }\n")
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-o",
            str(tmp_path / "user.so"),
            str(tmp_path / "user.c"),
            f"-L{tmp_path}",
            "-l:libfoo.so.3",
        ],
        check=True,
    )
    layer = tmp_path / "l.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(f"{site('python3.12')}user/_impl.so", (tmp_path / "user.so").read_bytes())
    report = check_zip(layer, CheckRequest(get_target("python3.12"), imports=None))
    [finding] = library_findings(report)
    assert finding.severity.name == "WARNING"
    assert "needs libfoo.so.3, which is neither in the layers nor known to be on python3.12" in (
        finding.message
    )
    assert not report.failed


def test_every_target_has_a_library_set_with_its_source():
    for target in all_targets():
        libraries = runtime_libraries(target)
        assert libraries.machine == target.machine
        assert "libc.so.6" in libraries.present and libraries.source
        assert "libGL.so.1" in libraries.absent and "libGL.so.1" not in libraries.present


# Layouts that cannot work, and who the bytes belong to ------------------------------


def test_packages_at_the_zip_root_are_an_error_for_a_layer_even_without_imports(tmp_path):
    layer = tmp_path / "root.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr("six.py", b"X = 1\n")
        archive.writestr("requests/__init__.py", b"")
        archive.writestr("requests-2.31.0.dist-info/METADATA", b"Name: requests\nVersion: 2.31.0\n")
        archive.writestr("lib/libextra.so.1", MID)
    report = check_zip(layer, CheckRequest(get_target("python3.12"), imports=None))
    [finding] = [f for f in report.errors if f.kind == "layout"]
    assert finding.message.startswith(
        "Python packages outside python/ (requests-2.31.0.dist-info/, requests/, six.py)"
    )
    as_function = check_zip(
        layer, CheckRequest(get_target("python3.12"), imports=None, function=True)
    )
    assert not [f for f in as_function.errors if f.kind == "layout"]


def test_size_shares_attribute_bytecode_to_its_distribution(tmp_path, monkeypatch):
    import lambdalayer.check.rules as check_module

    monkeypatch.setattr(check_module, "UNZIPPED_LIMIT", 100)
    prefix = site("python3.12")
    layer = tmp_path / "l.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(f"{prefix}six.py", b"x" * 60)
        archive.writestr(f"{prefix}__pycache__/six.cpython-312.pyc", b"y" * 60)
        archive.writestr(f"{prefix}six-1.17.0.dist-info/METADATA", b"Name: six\nVersion: 1.17.0\n")
        archive.writestr(
            f"{prefix}six-1.17.0.dist-info/RECORD", b"six.py,,\nsix-1.17.0.dist-info/METADATA,,\n"
        )
    report = check_zip(layer, CheckRequest(get_target("python3.12"), imports=None))
    [finding] = [f for f in report.errors if f.kind == "size"]
    assert "largest: six " in finding.message
    assert "python " not in finding.message


def test_misaligned_load_segments_are_an_error(tmp_path):
    from elfsamples import misaligned_elf

    from lambdalayer.elf import read_elf

    data = misaligned_elf("aarch64")
    assert read_elf(data).misaligned_segments == 1
    layer = tmp_path / "l.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(f"{site('python3.12')}np/_core.cpython-312-aarch64-linux-gnu.so", data)
    report = check_zip(layer, CheckRequest(get_target("python3.12", "arm64"), imports=None))
    assert [finding.kind for finding in report.errors] == ["elf-load"]
    assert read_elf(MID).misaligned_segments == 0


def test_over_quota_layer_holding_the_managed_layers_packages_names_on_top_of(
    tmp_path, monkeypatch
):
    import lambdalayer.check.rules as check_module

    monkeypatch.setattr(check_module, "UNZIPPED_LIMIT", 1000)
    prefix = site("python3.12")
    layer = tmp_path / "fat.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        for name in ("pandas", "numpy"):
            archive.writestr(f"{prefix}{name}/__init__.py", b"x" * 800)
            archive.writestr(
                f"{prefix}{name}-1.0.dist-info/METADATA", f"Name: {name}\nVersion: 1.0\n".encode()
            )
            archive.writestr(
                f"{prefix}{name}-1.0.dist-info/RECORD", f"{name}/__init__.py,,\n".encode()
            )
    report = check_zip(layer, CheckRequest(get_target("python3.12"), imports=None))
    [finding] = [f for f in report.errors if f.kind == "size"]
    assert finding.fix is not None
    # The library names the setting; the command line says it as its flag.
    assert finding.fix.startswith("build it with `Beneath.on_top_of=aws-sdk-pandas`:")
    assert in_flags(finding.fix).startswith(
        "build it with --on-top-of aws-sdk-pandas: that managed layer already has numpy, pandas"
    )


def test_a_managed_layer_beneath_counts_toward_the_quota(tmp_path):
    from lambdalayer.resolve.provided import managed_layer

    managed = managed_layer(None, get_target("python3.12"))
    assert managed.unzipped_bytes is not None and managed.unzipped_bytes > 100 * 1024 * 1024
    prefix = site("python3.12")
    layer = tmp_path / "l.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(f"{prefix}big.bin", bytes(40 * 1024 * 1024))
        archive.writestr(f"{prefix}m.py", b"")
    alone = check_zip(layer, CheckRequest(get_target("python3.12"), imports=None))
    assert not [f for f in alone.findings if f.kind == "size"]
    request = CheckRequest(
        get_target("python3.12"), beneath=((managed.source, managed.unzipped_bytes),), imports=None
    )
    beneath = check_zip(layer, request)
    [finding] = [f for f in beneath.findings if f.kind == "size"]
    # Over the quota with the managed layer beneath is an error, never ok (the size beneath
    # is a lower bound: the wheels' files without bytecode).
    assert finding.severity.name == "ERROR" and "aws-sdk-pandas" in finding.message
    assert f"at least {managed.unzipped_bytes:,} bytes" in finding.message
    assert "Lambda refuses it" in finding.message and beneath.failed and not beneath.ok
    assert beneath.total_unzipped_bytes == alone.total_unzipped_bytes + managed.unzipped_bytes


EVIDENCE = Path(__file__).resolve().parents[2] / "shared" / "evidence"


@pytest.mark.parametrize(
    ("runtime", "arch", "listing"),
    [
        ("python3.12", "x86_64", "lambda-al2023-x86_64-lib64.txt"),
        ("python3.12", "arm64", "lambda-al2023-arm64-lib64.txt"),
        ("python3.11", "arm64", "lambda-al2-arm64-lib64.txt"),
    ],
)
def test_the_runtime_library_sets_hold_every_library_of_the_evidence(runtime, arch, listing):
    path = EVIDENCE / listing
    if not path.is_file():
        pytest.skip(f"{path} is not beside this checkout")
    sonames = {
        line.strip()
        for line in path.read_text().splitlines()
        if re.match(r"^(ld-linux[\w.-]*\.so\.\d+|lib[\w+.-]*?\.so\.\d+)$", line.strip())
    }
    libraries = runtime_libraries(get_target(runtime, arch))
    assert sonames <= set(libraries.present)
    assert {"libssl.so.3", "libglib-2.0.so.0"} & set(libraries.present) or runtime == "python3.11"
    assert "libGL.so.1" not in libraries.present and "libGL.so.1" in libraries.absent


def test_glib_is_there_on_al2023_and_absent_on_al2_x86_64():
    assert "libglib-2.0.so.0" in runtime_libraries(get_target("python3.12", "x86_64")).present
    assert "libglib-2.0.so.0" in runtime_libraries(get_target("python3.11", "arm64")).present
    al2 = runtime_libraries(get_target("python3.11", "x86_64"))
    assert "libglib-2.0.so.0" not in al2.present and "libglib-2.0.so.0" in al2.absent
    assert "libssl.so.3" in runtime_libraries(get_target("python3.13", "arm64")).present


def _gcc(out: Path, source: str, *args: str) -> Path:
    """Compile C ``source`` into ``out`` with gcc and ``args`` (``-shared`` for a library)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    c_file = out.parent / f"{out.name}.c"
    c_file.write_text(source)
    subprocess.run(
        ["gcc", "-fPIC", "-O1", "-Wl,--no-as-needed", "-o", str(out), str(c_file), *args],
        check=True,
    )
    c_file.unlink()
    return out


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_a_bundled_program_needing_a_library_the_runtime_lacks_is_an_error_naming_it(tmp_path):
    """playwright's driver/node needs libatomic.so.1, which AL2023's listing does not have:
    no import runs the program, so only this check can say it fails on first use."""
    stub = _gcc(
        tmp_path / "stub" / "libatomic.so.1",
        "int __atomic_stub(void) { return 0; }\n",
        "-shared",
        "-Wl,-soname,libatomic.so.1",
    )
    node = _gcc(
        tmp_path / "node",
        "int __atomic_stub(void);\nint main(void) { return __atomic_stub(); }\n",
        str(stub),
    )
    layer = tmp_path / "l.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(f"{site('python3.12')}playish/__init__.py", b"")
        archive.writestr(f"{site('python3.12')}playish/driver/node", node.read_bytes())
    report = check_zip(layer, CheckRequest(get_target("python3.12"), imports=None))
    [finding] = library_findings(report)
    assert finding.severity.name == "ERROR"
    assert finding.message.startswith(
        "the program playish/driver/node needs libatomic.so.1, which python3.12 (Amazon Linux"
        " 2023, x86_64) does not have (its library listing has no such file)"
    )


LOADER = Path("/lib64/ld-linux-x86-64.so.2")
_PATHS = ("$ORIGIN", "$ORIGIN/../pkg.libs", "$ORIGIN/sub")
_PLACES = ("pkg.libs", "pkg/sub", "pkg")


def _generated_chain(root: Path, draw: random.Random, number: int) -> list[Path]:
    """A module ``pkg/ext.so`` needing a chain of 1-3 bundled libraries, each placed and
    given a DT_RPATH, DT_RUNPATH or neither at random; returns the files, the module first."""
    depth = draw.randint(1, 3)
    files: list[Path] = []
    below: Path | None = None
    for level in reversed(range(depth + 1)):
        name = f"libgen{number}_{level}.so"
        place = "pkg" if level == 0 else draw.choice(_PLACES)
        out = root / place / ("ext.so" if level == 0 else name)
        kind = draw.choice(("rpath", "runpath", "none"))
        args = ["-shared", f"-Wl,-soname,{out.name}"]
        if kind != "none":
            tags = "--disable-new-dtags" if kind == "rpath" else "--enable-new-dtags"
            args.append(f"-Wl,{tags},-rpath,{draw.choice(_PATHS)}")
        call = f"int f{level + 1}(void);\n" if below else ""
        body = f"return f{level + 1}();" if below else "return 0;"
        source = f"{call}int f{level}(void) {{ {body} }}\n"
        files.insert(0, _gcc(out, source, *args, *([str(below)] if below else [])))
        below = out
    return files


def _not_found_by_the_loader(module: Path) -> set[str]:
    # ldd's way (LD_TRACE_LOADED_OBJECTS): every need is listed, "not found" ones too
    completed = subprocess.run(
        [str(LOADER), str(module)],
        capture_output=True,
        text=True,
        env={"LD_TRACE_LOADED_OBJECTS": "1"},
        check=False,
    )
    return set(re.findall(r"^\s*(\S+) => not found", completed.stdout, re.MULTILINE))


@pytest.mark.skipif(shutil.which("gcc") is None or not LOADER.exists(), reason="needs gcc, ld.so")
def test_libraries_resolve_as_glibcs_loader_finds_them_on_generated_chains(tmp_path):
    """DT_RPATH of the loading chain (when the file has no DT_RUNPATH), $ORIGIN per file,
    DT_RUNPATH for direct needs only, what is already loaded by soname: judged against the
    real loader (ldd's ``LD_TRACE_LOADED_OBJECTS``) on chains made at random (a fixed seed)."""
    draw = random.Random(32)  # noqa: S311 - a fixed seed for the shapes, not for secrets
    target = get_target("python3.12")
    disagreements = []
    for number in range(20):
        root = tmp_path / f"case{number}"
        files = _generated_chain(root, draw, number)
        placed = [
            PlacedElf(
                str(path), str(path.relative_to(root)), "gen", read_elf(path.read_bytes()), True
            )
            for path in files
        ]
        ours = {
            found.group(1)
            for finding in needed_library_findings(placed, target)
            if (found := re.match(r"needs (\S+), which", finding.message))
        }
        theirs = _not_found_by_the_loader(files[0])
        if ours != theirs:
            disagreements.append((number, sorted(ours), sorted(theirs)))
    assert disagreements == [], disagreements


def _versioned_stub(directory: Path, soname: str, node: str) -> Path:
    """A stub ``soname`` defining the symbol ``stub_call`` under the version ``node``."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / f"{soname}.map"
    script.write_text(f"{node} {{ global: stub_call; local: *; }};\n")
    return _gcc(
        directory / soname,
        "int stub_call(void) { return 0; }\n",
        "-shared",
        f"-Wl,-soname,{soname}",
        f"-Wl,--version-script={script}",
    )


def _needing(tmp_path: Path, soname: str, node: str) -> bytes:
    stub = _versioned_stub(tmp_path / "stub" / node, soname, node)
    user = _gcc(
        tmp_path / f"user-{node}.so",
        "int stub_call(void);\nint use(void) { return stub_call(); }\n",
        "-shared",
        str(stub),
    )
    return user.read_bytes()


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_openssl_symbol_versions_are_judged_by_lambdas_data_not_this_machine(tmp_path):
    """OPENSSL_3.x nodes derived from the listing's libssl.so.3.0.8 (x86_64 AL2023 image):
    3.2.0 is refused with the data file named, 3.0.0 passes."""
    for node, expected_ok in (("OPENSSL_3.2.0", False), ("OPENSSL_3.0.0", True)):
        layer = tmp_path / f"{node}.zip"
        with zipfile.ZipFile(layer, "w") as archive:
            archive.writestr(
                f"{site('python3.12')}myconn/_c.so", _needing(tmp_path, "libssl.so.3", node)
            )
        report = check_zip(layer, CheckRequest(get_target("python3.12"), imports=None))
        assert (not report.failed) is expected_ok, report.findings
        if not expected_ok:
            [finding] = library_findings(report)
            assert finding.message.startswith(
                "needs OPENSSL_3.2.0 from libssl.so.3; python3.12 (Amazon Linux 2023) has up to"
                " OPENSSL_3.0.8 (data/runtime_libraries/al2023-x86_64.toml)"
            )
    arm = runtime_libraries(get_target("python3.12", "arm64"))
    assert arm.present["libssl.so.3"]["OPENSSL"] == (3, 2, 2)
    assert arm.present["libstdc++.so.6"]["GLIBCXX"] == (3, 4, 33)


# glibc's loader's words (dl-version.c) when a library lacks a symbol version.
LOADER_SAID = (
    "ImportError: /usr/lib64/libssl.so.3: version `OPENSSL_3.2.0' not found (required by"
    " /opt/python/lib/python3.12/site-packages/myconn/_c.cpython-312-aarch64-linux-gnu.so)"
)


def test_a_version_this_machines_stand_in_lacks_is_not_verified_where_lambdas_has_it():
    arm = stand_in_verdict(LOADER_SAID, get_target("python3.12", "arm64"))
    assert arm is not None and arm[0] is True
    assert (
        "while Lambda's defines up to OPENSSL_3.2.2 (data/runtime_libraries/al2023-aarch64"
        in arm[1]
    )
    assert stand_in_verdict(LOADER_SAID, get_target("python3.12")) is None  # Lambda's lacks it too
    unknown = stand_in_verdict(
        LOADER_SAID.replace("libssl.so.3", "libffi.so.8"), get_target("python3.12")
    )
    assert unknown is not None and unknown[0] is False and unknown[1].startswith("not verified:")
    assert stand_in_verdict("ImportError: No module named 'x'", get_target("python3.12")) is None


@pytest.mark.skipif(
    shutil.which("gcc") is None or shutil.which("bwrap") is None, reason="needs gcc, bwrap"
)
def test_an_import_failing_on_this_machines_stand_in_library_is_not_verified(tmp_path):
    """The synthesized root holds this machine's libffi.so.8: a version it lacks, of which no
    data says what Lambda's defines, fails the import here, and is said as not verified."""
    if find_interpreter("3.12") is None:
        pytest.skip("no CPython 3.12 here")
    layer = tmp_path / "l.zip"
    with zipfile.ZipFile(layer, "w") as archive:
        archive.writestr(
            f"{site('python3.12')}ffiuser/_u.so",
            _needing(tmp_path, "libffi.so.8", "LIBFFI_BASE_9.9"),
        )
        archive.writestr(
            f"{site('python3.12')}ffiuser/__init__.py",
            "import ctypes, os\nctypes.CDLL(os.path.join(os.path.dirname(__file__), '_u.so'))\n",
        )
    report = check_zip(layer, CheckRequest(get_target("python3.12")), cache_dir=tmp_path / "cache")
    assert report.imports, report.imports_skipped  # the imports ran
    [finding] = [item for item in report.findings if item.kind == "import"]
    assert finding.severity.name == "WARNING", finding
    assert finding.message.startswith(
        "import ffiuser not verified: it needs LIBFFI_BASE_9.9 from libffi.so.8; this machine's"
        " libffi.so.8 stood in for Lambda's and lacks it"
    )
    # not failed, and not "ok" either: the imports part is not verified, saying how to get it
    assert not report.failed and report.verdict == "not verified" and not report.ok
    [unverified] = report.unverified
    assert unverified.why == finding.message and "check --image" in (unverified.how or "")
