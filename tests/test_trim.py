"""``lambdalayer trim``: trace, manifest, apply, verify — on small stand-in layers.

The first tests need no sandbox: what a file is to the trim, strace's lines, the manifest's
round trip, which files a manifest keeps (``__init__`` on kept paths, the ``DT_NEEDED``
closure of kept ELF objects, levels), the same bytes on every apply, and the finder's
named ``ImportError``. The last run the real loop (bubblewrap, strace, CPython 3.12 and
awslambdaric from the public index: marker ``network``) on the three goal cases' stand-ins.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cliutil import run_cli
from trimcases import (
    FRAMEWORK_HANDLER,
    MODELS_HANDLER,
    NATIVE_HANDLER,
    distribution,
    framework_distribution,
    models_distribution,
    native_distribution,
    with_bytecode,
    write_layer,
)

from lambdalayer.errors import InputError
from lambdalayer.interpreters import find_interpreter
from lambdalayer.placement import read_zip
from lambdalayer.targets import Layout
from lambdalayer.trace.run import (
    apply_manifest,
    build_manifest,
    handler_imports,
    parse_import_times,
)
from lambdalayer.trace.strace import parse_line
from lambdalayer.trace.trace import Trace
from lambdalayer.trim.apply import describe_files, plan_trim
from lambdalayer.trim.manifest import Kept, Level, Manifest, parse_manifest, render_manifest
from lambdalayer.trim.units import Kind, kind_of, module_name, unit_of

HAVE_312 = find_interpreter("3.12") is not None


def test_a_module_is_one_unit_whatever_files_it_has() -> None:
    assert unit_of("a/__pycache__/b.cpython-312.pyc") == "a/b.py"
    assert unit_of("a/b.pyc") == "a/b.py"
    assert module_name("a/b/__init__.py") == "a.b"
    assert module_name("a/_x.cpython-312-x86_64-linux-gnu.so") == "a._x"
    assert kind_of("a-1.0.dist-info/RECORD", elf=False) is Kind.METADATA
    assert kind_of("a.libs/libz-1a2b.so.1", elf=True) is Kind.LIBRARY
    assert kind_of("botocore/data/s3/service-2.json.gz", elf=False) is Kind.DATA
    assert kind_of("my-data/x.py", elf=False) is Kind.DATA  # not importable: a data file


@pytest.mark.parametrize(
    ("line", "path"),
    [
        (
            '7 1796625907.345177 openat(AT_FDCWD</var/task>, "app.py", O_RDONLY|O_CLOEXEC) = 3</var/task/app.py>',
            "/var/task/app.py",
        ),
        ("8 1796625907.1 <... openat resumed>) = 5</opt/python/a b.py>", "/opt/python/a b.py"),
        ('9 1796625907.2 openat(AT_FDCWD</>, "/opt/x\\nz", O_RDONLY) = 4</opt/x\\nz>', "/opt/x\nz"),
        (
            '9 1796625907.3 execve("/var/lang/bin/python3.12", ["python3.12"], 0x7ff /* 3 vars */) = 0',
            "/var/lang/bin/python3.12",
        ),
        (
            '9 1796625907.4 openat(AT_FDCWD</>, "/opt/gone", O_RDONLY) = -1 ENOENT (No such file or directory)',
            None,
        ),
        ('9 1796625907.5 openat(AT_FDCWD</>, "/opt/a", O_RDONLY <unfinished ...>', None),
        ("9 1796625907.6 +++ exited with 0 +++", None),
    ],
)
def test_strace_lines_as_strace_6_writes_them(line: str, path: str | None) -> None:
    found = parse_line(line)
    assert (found.path if found else None) == path


def test_importtime_names_the_handlers_costliest_direct_imports() -> None:
    lines = [
        "import time: self [us] | cumulative | imported package",
        "import time:       100 |        100 | awslambdaric.bootstrap",
        "import time:        50 |         50 |     numpy.core",
        "import time:       300 |        350 |   numpy",
        "import time:        20 |         20 |   json",
        "import time:       900 |        900 |   pandas",
        "import time:        10 |       1280 | app",
    ]
    parsed = parse_import_times(lines)
    assert ("numpy.core", 50, 2) in parsed
    assert handler_imports(parsed, "app") == (
        ("app", 1280),
        ("pandas", 900),
        ("numpy", 350),
        ("json", 20),
    )


def test_the_manifest_round_trips_and_names_the_event() -> None:
    manifest = Manifest(
        Level.MODULES,
        ("init", 'events/"odd"\nname.json'),
        (
            (
                "fakecore",
                (
                    Kept("fakecore/client.py", "init"),
                    Kept("fakecore/data/s0/x.json", 'events/"odd"\nname.json'),
                ),
            ),
        ),
    )
    text = render_manifest(manifest)
    assert '"fakecore/client.py",  # init' in text
    again = parse_manifest(text)
    assert again.level is Level.MODULES and again.events == manifest.events
    assert again.patterns() == manifest.patterns()
    assert render_manifest(again).replace("  # init", "") != ""  # parses back with no comments


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("format = 2\nlevel = 'data'\nevents = []\n", "format"),
        ("format = 1\nlevel = 'all'\nevents = []\n", "level"),
        (
            "format = 1\nlevel = 'data'\nevents = []\n[distribution.a]\nkeep = ['../../etc/passwd']\n",
            "climbs",
        ),
        (
            "format = 1\nlevel = 'data'\nevents = []\n[distribution.a]\nkeep = ['/etc/passwd']\n",
            "absolute",
        ),
        ("format = 1\nlevel = 'data'\nevents = []\n[distribution.a]\nkeep = 'x'\n", "not a list"),
        ("format = [1\n", "not TOML"),
    ],
)
def test_a_bad_manifest_is_one_error_naming_the_field(text: str, says: str) -> None:
    with pytest.raises(InputError, match=says):
        parse_manifest(text)


def _manifest(level: Level, *keep: str) -> Manifest:
    return Manifest(level, ("init",), (("any", tuple(Kept(line) for line in keep)),))


@pytest.fixture
def native_layer(tmp_path: Path) -> Path:
    files = {**native_distribution(tmp_path / "build"), **models_distribution(services=3)}
    return write_layer(tmp_path / "layer.zip", files)


def test_modules_keeps_what_was_touched_its_inits_and_the_libraries_it_needs(
    native_layer: Path,
) -> None:
    placement = read_zip(native_layer, Layout.SITE_PACKAGES)
    manifest = _manifest(
        Level.MODULES,
        "natpkg/_ext.cpython-312-x86_64-linux-gnu.so",
        "fakecore/data/svc1/service-2.json",
    )
    plan = plan_trim(describe_files(placement), manifest)
    kept = {item.rel for item in plan.kept}
    assert "natpkg.libs/libcore.so" in kept  # DT_NEEDED of a kept extension
    assert {"natpkg/__init__.py", "fakecore/__init__.py"} <= kept  # __init__ on kept paths
    assert {"natpkg-1.0.dist-info/RECORD", "fakecore-1.0.dist-info/METADATA"} <= kept
    trimmed = {item.rel for item in plan.trimmed}
    assert "natpkg/_unused.cpython-312-x86_64-linux-gnu.so" in trimmed
    assert {
        "fakecore/data/svc0/service-2.json",
        "fakecore/client.py",
        "natpkg/io/sql.py",
    } <= trimmed
    sizes = plan.bytes_by_distribution()
    assert sizes["fakecore"][1] < sizes["fakecore"][0] / 2


def test_bytecode_no_record_lists_belongs_to_its_modules_distribution(tmp_path: Path) -> None:
    files = framework_distribution(routers=2)
    files["webfw/__pycache__/core.cpython-312.pyc"] = b"bytecode"
    files["webfw/router1/__pycache__/__init__.cpython-312.pyc"] = b"bytecode"
    layer = write_layer(tmp_path / "layer.zip", files)
    manifest = _manifest(Level.MODULES, "webfw/__pycache__/core.cpython-312.pyc")
    plan = plan_trim(describe_files(read_zip(layer, Layout.SITE_PACKAGES)), manifest)
    assert "webfw/__pycache__/core.cpython-312.pyc" in {item.rel for item in plan.kept}
    assert "webfw/router1/__pycache__/__init__.cpython-312.pyc" in {
        item.rel for item in plan.trimmed
    }


def test_level_data_keeps_every_module_and_library(native_layer: Path) -> None:
    placement = read_zip(native_layer, Layout.SITE_PACKAGES)
    plan = plan_trim(describe_files(placement), _manifest(Level.DATA, "fakecore/data/svc1/**"))
    trimmed = {item.rel for item in plan.trimmed}
    assert trimmed == {"fakecore/data/svc0/service-2.json", "fakecore/data/svc2/service-2.json"}


def test_keep_patterns_add_directories_and_globs(native_layer: Path) -> None:
    placement = read_zip(native_layer, Layout.SITE_PACKAGES)
    manifest = _manifest(Level.MODULES, "natpkg/io/**", "fakecore/data/svc[02]/*.json")
    kept = {item.rel for item in plan_trim(describe_files(placement), manifest).kept}
    assert {
        "natpkg/io/sql.py",
        "natpkg/io/__init__.py",
        "fakecore/data/svc2/service-2.json",
    } <= kept
    assert "fakecore/data/svc1/service-2.json" not in kept


def test_apply_gives_the_same_bytes_every_time(native_layer: Path, tmp_path: Path) -> None:
    manifest = parse_manifest(render_manifest(_manifest(Level.MODULES, "fakecore/client.py")))
    placement = read_zip(native_layer, Layout.SITE_PACKAGES)
    apply_manifest(placement, manifest, tmp_path / "one.zip")
    copy = tmp_path / "elsewhere" / "layer.zip"
    copy.parent.mkdir()
    shutil.copy(native_layer, copy)
    apply_manifest(read_zip(copy, Layout.SITE_PACKAGES), manifest, tmp_path / "two.zip")
    assert (tmp_path / "one.zip").read_bytes() == (tmp_path / "two.zip").read_bytes()


def _import_in(site: Path, module: str, *, as_site_dir: bool) -> subprocess.CompletedProcess[str]:
    setup = (
        f"import site; site.addsitedir({str(site)!r})"
        if as_site_dir
        else f"import sys; sys.path.insert(0, {str(site)!r})"
    )
    return subprocess.run(
        [sys.executable, "-I", "-c", f"{setup}\nimport {module}"],
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_trimmed_module_imported_anyway_names_the_line_to_add(
    native_layer: Path, tmp_path: Path
) -> None:
    files = {**framework_distribution(routers=3)}
    layer = write_layer(tmp_path / "web.zip", files)
    manifest = _manifest(Level.MODULES, "webfw/__init__.py", "webfw/core.py")
    apply_manifest(read_zip(layer, Layout.SITE_PACKAGES), manifest, tmp_path / "out.zip")
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        archive.extractall(tmp_path / "opt")
    site = tmp_path / "opt/python/lib/python3.12/site-packages"
    assert _import_in(site, "webfw.core", as_site_dir=True).returncode == 0
    failed = _import_in(site, "webfw.router1", as_site_dir=True)
    assert (
        "ImportError: No module named 'webfw.router1': lambdalayer trim removed it" in failed.stderr
    )
    assert (
        'add "webfw/router1/**" to keep of [distribution."webfw"] in lambdalayer.trim.toml'
        in failed.stderr
    )
    # Where the .pth does not run (the function sets PYTHONPATH), the error is Python's own.
    bare = _import_in(site, "webfw.router1", as_site_dir=False)
    assert "ModuleNotFoundError: No module named 'webfw.router1'" in bare.stderr


# --- level bytecode-only: a module only its bytecode was read of loses its source ----------

TAG = sys.implementation.cache_tag  # bytecode this Python imports, for the import tests


@pytest.fixture
def compiled_layer(tmp_path: Path) -> Path:
    files = with_bytecode(framework_distribution(routers=3), tmp_path / "pyc", sys.executable)
    return write_layer(tmp_path / "web.zip", files)


def test_bytecode_only_drops_the_source_of_a_module_run_from_its_bytecode(
    compiled_layer: Path,
) -> None:
    manifest = _manifest(
        Level.BYTECODE_ONLY,
        f"webfw/__pycache__/__init__.{TAG}.pyc",
        f"webfw/__pycache__/core.{TAG}.pyc",
        f"webfw/router0/__pycache__/__init__.{TAG}.pyc",
        "webfw/router0/__init__.py",  # its source was read too (a traceback, inspect): it stays
        "webfw/router1/**",  # a reviewer's glob keeps the module whole
    )
    plan = plan_trim(describe_files(read_zip(compiled_layer, Layout.SITE_PACKAGES)), manifest, TAG)
    site = "python/lib/python3.12/site-packages/"
    assert dict(plan.moved) == {
        f"{site}webfw/__pycache__/__init__.{TAG}.pyc": f"{site}webfw/__init__.pyc",
        f"{site}webfw/__pycache__/core.{TAG}.pyc": f"{site}webfw/core.pyc",
    }
    assert {item.rel for item in plan.without_source} == {"webfw/__init__.py", "webfw/core.py"}
    kept = {item.rel for item in plan.kept}
    assert {"webfw/router0/__init__.py", f"webfw/router0/__pycache__/__init__.{TAG}.pyc"} <= kept
    assert {"webfw/router1/__init__.py", f"webfw/router1/__pycache__/__init__.{TAG}.pyc"} <= kept
    assert "webfw/router2/__init__.py" in {item.rel for item in plan.trimmed}
    before, after = plan.bytes_by_distribution()["webfw"]
    saved = sum(item.file.size for item in (*plan.trimmed, *plan.without_source))
    assert before - after == saved
    # At level modules the same lines keep every source.
    modules = plan_trim(
        describe_files(read_zip(compiled_layer, Layout.SITE_PACKAGES)),
        Manifest(Level.MODULES, manifest.events, manifest.distributions),
    )
    assert not modules.moved and not modules.without_source
    assert "webfw/core.py" in {item.rel for item in modules.kept}


def test_bytecode_only_leaves_whole_a_module_it_cannot_run_from_bytecode(tmp_path: Path) -> None:
    files = with_bytecode(framework_distribution(routers=1), tmp_path / "pyc", sys.executable)
    del files["webfw/core.py"]  # bytecode with no source beside it: already unusable, untouched
    files["webfw/router0/__init__.pyc"] = b"a sourceless pyc already there"
    layer = write_layer(tmp_path / "web.zip", files)
    manifest = _manifest(
        Level.BYTECODE_ONLY,
        f"webfw/__pycache__/core.{TAG}.pyc",
        f"webfw/router0/__pycache__/__init__.{TAG}.pyc",
        "certifi/__pycache__/core.cpython-312.pyc",
    )
    plan = plan_trim(describe_files(read_zip(layer, Layout.SITE_PACKAGES)), manifest, TAG)
    assert not plan.moved and not plan.without_source


def test_a_bytecode_only_artefact_imports_from_bytecode_and_names_what_it_removed(
    compiled_layer: Path, tmp_path: Path
) -> None:
    manifest = parse_manifest(
        render_manifest(
            _manifest(
                Level.BYTECODE_ONLY,
                f"webfw/__pycache__/__init__.{TAG}.pyc",
                f"webfw/__pycache__/core.{TAG}.pyc",
            )
        )
    )
    placement = read_zip(compiled_layer, Layout.SITE_PACKAGES)
    apply_manifest(placement, manifest, tmp_path / "out.zip", TAG)
    apply_manifest(placement, manifest, tmp_path / "again.zip", TAG)
    assert (tmp_path / "out.zip").read_bytes() == (tmp_path / "again.zip").read_bytes()
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        archive.extractall(tmp_path / "opt")
    site = tmp_path / "opt/python/lib/python3.12/site-packages"
    assert not (site / "webfw/core.py").exists() and (site / "webfw/core.pyc").is_file()
    done = _import_in(site, "webfw.core; print(webfw.core.__file__, webfw.App().answer('/x'))",
                      as_site_dir=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(site / "webfw/core.pyc"), "{'path':", "'/x'}"]
    failed = _import_in(site, "webfw.router1", as_site_dir=True)
    assert "No module named 'webfw.router1': lambdalayer trim removed it" in failed.stderr
    assert "level bytecode-only" in failed.stderr


def test_the_bytecode_only_manifest_names_the_file_read(
    tmp_path: Path, compiled_layer: Path
) -> None:
    files = describe_files(read_zip(compiled_layer, Layout.SITE_PACKAGES))
    at = "/opt/python/lib/python3.12/site-packages/webfw/"
    traced = Trace(
        ("init",),
        (("init", (f"{at}__pycache__/core.{TAG}.pyc", f"{at}__init__.py",
                   f"{at}__pycache__/__init__.{TAG}.pyc")),),
        None,  # type: ignore[arg-type]  # the manifest needs only what was opened
        0,
        "a test",
    )  # fmt: skip
    lines = build_manifest(traced, [(Layout.SITE_PACKAGES, files)], Level.BYTECODE_ONLY).patterns()
    assert set(lines) == {
        f"webfw/__pycache__/core.{TAG}.pyc",
        f"webfw/__pycache__/__init__.{TAG}.pyc",
        "webfw/__init__.py",  # its source was read: the manifest keeps it
    }
    modules = build_manifest(traced, [(Layout.SITE_PACKAGES, files)], Level.MODULES)
    assert set(modules.patterns()) == {"webfw/core.py", "webfw/__init__.py"}
    text = render_manifest(
        build_manifest(traced, [(Layout.SITE_PACKAGES, files)], Level.BYTECODE_ONLY)
    )
    assert "__pycache__ .pyc keeps the module\n# without its source" in text


# --- the real loop: sandbox, strace, awslambdaric ------------------------------------------


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trim-cache")


def _case(
    place: Path, handler: str, events: dict[str, object], extra: dict[str, str] | None = None
) -> list[str]:
    source = place / "src"
    source.mkdir()
    (source / "app.py").write_text(handler)
    for name, text in (extra or {}).items():
        (source / name).write_text(text)
    arguments = ["app.handler", "--function", str(source), "--runtime", "python3.12"]
    for name, event in events.items():
        (place / name).write_text(json.dumps(event))
        arguments += ["--event", str(place / name)]
    return arguments


def _trim(capsys, cache: Path, place: Path, arguments: list[str], *more: str):  # type: ignore[no-untyped-def]
    return run_cli(
        capsys,
        "trim",
        *arguments,
        "--layer",
        str(place / "layer.zip"),
        "--cache-dir",
        str(cache),
        "-o",
        str(place / "trimmed"),
        "--manifest",
        str(place / "lambdalayer.trim.toml"),
        "--runs",
        "1",
        *more,
    )


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _assert_trim_section_loads(page: Path, place: Path) -> None:
    """The report's trim section, in the page's data and drawn by a real browser."""
    data = json.loads(page.read_text().split('id="report-data">', 1)[1].split("</script>", 1)[0])
    trim = data["trim"]
    assert trim["events_verified"] == 1 and trim["runs"] == 1
    assert any(row["after_bytes"] < row["before_bytes"] for row in trim["distributions"])
    if CHROMIUM is None:
        return  # the page's data is checked; drawing needs chromium (test_report.py says so)
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={place / 'profile'}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert dom.count('class="trim-row"') == len(trim["distributions"])


def _invoke(capsys, cache: Path, place: Path, event: dict[str, object]):  # type: ignore[no-untyped-def]
    (place / "later.json").write_text(json.dumps(event))
    return run_cli(
        capsys,
        "invoke",
        "app.handler",
        "--zip",
        str(place / "trimmed/src.zip"),
        "--layer",
        str(place / "trimmed/layer.zip"),
        "--runtime",
        "python3.12",
        "--cache-dir",
        str(cache),
        "--event",
        str(place / "later.json"),
    )


@pytest.mark.network
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.skipif(not HAVE_312, reason="no CPython 3.12 here")
@pytest.mark.parametrize("case", ["models", "native", "framework"])
def test_the_goal_cases_trim_verify_and_name_a_later_trimmed_import(capsys, cache, tmp_path, case):  # type: ignore[no-untyped-def]
    if case == "models":
        write_layer(tmp_path / "layer.zip", models_distribution())
        arguments = _case(tmp_path, MODELS_HANDLER, {"get.json": {"service": "svc2"}})
        later, missing = {"wait": True}, "fakecore.extra"
    elif case == "native":
        write_layer(tmp_path / "layer.zip", native_distribution(tmp_path / "build"))
        table = json.dumps([{"a": n} for n in range(50)])
        arguments = _case(tmp_path, NATIVE_HANDLER, {"read.json": {}}, {"table.json": table})
        later, missing = None, ""
    else:
        write_layer(tmp_path / "layer.zip", framework_distribution())
        arguments = _case(tmp_path, FRAMEWORK_HANDLER, {"get.json": {"rawPath": "/items"}})
        later, missing = {"admin": True}, "webfw.router5"
    page = tmp_path / "report.html"
    code, out, err = _trim(capsys, cache, tmp_path, arguments, "--json", "--report", str(page))
    assert code == 0, err
    _assert_trim_section_loads(page, tmp_path)
    result = json.loads(out)
    assert result["errors_before"] == []
    layer = result["artefacts"][0]
    assert layer["unzipped_after"] <= 0.7 * layer["unzipped_before"], layer
    assert result["events_verified"] == 1
    assert result["init_ms"]["before"] is not None and result["init_ms"]["after"] is not None
    manifest = (tmp_path / "lambdalayer.trim.toml").read_text()
    assert "# init" in manifest
    if case == "native":  # the library the extension needs stays, though no keep line names it
        with zipfile.ZipFile(tmp_path / "trimmed/layer.zip") as archive:
            assert any(name.endswith("natpkg.libs/libcore.so") for name in archive.namelist())
        assert '"natpkg/_ext.cpython-312-x86_64-linux-gnu.so",  # init' in manifest
        return
    code, out, err = _invoke(capsys, cache, tmp_path, later)
    assert code == 1
    error = json.loads(out)
    assert error["errorType"] == "ImportError"
    assert f"No module named {missing!r}: lambdalayer trim removed it" in error["errorMessage"]


@pytest.mark.network
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.skipif(not HAVE_312, reason="no CPython 3.12 here")
def test_bytecode_only_runs_the_framework_from_its_bytecode_and_verifies(capsys, cache, tmp_path):  # type: ignore[no-untyped-def]
    python = find_interpreter("3.12")
    assert python is not None
    files = with_bytecode(framework_distribution(), tmp_path / "pyc", str(python.path))
    write_layer(tmp_path / "layer.zip", files)
    arguments = _case(tmp_path, FRAMEWORK_HANDLER, {"get.json": {"rawPath": "/items"}})
    code, out, err = _trim(capsys, cache, tmp_path, arguments, "--json", "--level", "bytecode-only")
    assert code == 0, err
    result = json.loads(out)
    assert result["events_verified"] == 1 and result["level"] == "bytecode-only"
    manifest = (tmp_path / "lambdalayer.trim.toml").read_text()
    assert '"webfw/__pycache__/core.cpython-312.pyc",  # init' in manifest
    site = "python/lib/python3.12/site-packages/webfw/"
    with zipfile.ZipFile(tmp_path / "trimmed/layer.zip") as archive:
        names = set(archive.namelist())
    assert {f"{site}core.pyc", f"{site}__init__.pyc", f"{site}router0/__init__.pyc"} <= names
    assert not {f"{site}core.py", f"{site}__pycache__/core.cpython-312.pyc"} & names
    # the summary counts the modules kept without their source, each a .pyc in its place
    [layer] = [item for item in result["artefacts"] if item["output"].endswith("layer.zip")]
    in_place = [name for name in names if name.endswith(".pyc") and "__pycache__" not in name]
    assert layer["sourceless_modules"] == len(in_place) > 0, (layer, in_place)
    code, out, err = _invoke(capsys, cache, tmp_path, {"admin": True})
    assert code == 1
    assert "No module named 'webfw.router5': lambdalayer trim removed it" in out


def test_build_trim_applies_a_manifest_with_the_same_bytes_each_time(
    local_index, cache_dir, tmp_path, capsys
):  # type: ignore[no-untyped-def]
    manifest = tmp_path / "lambdalayer.trim.toml"
    manifest.write_text(
        render_manifest(
            Manifest(Level.MODULES, ("init",), (("alpha", (Kept("alpha/__init__.py"),)),))
        )
    )
    outputs = []
    for name in ("one", "two"):
        out = tmp_path / name / "layer.zip"
        code, _, err = run_cli(
            capsys, "build", "alpha", "--runtime", "python3.12", "--index-url", local_index.url,
            "--cache-dir", str(cache_dir), "-o", str(out), "--trim", str(manifest), "--no-check",
        )  # fmt: skip
        assert code == 0, err
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    with zipfile.ZipFile(tmp_path / "one" / "layer.zip") as archive:
        names = archive.namelist()
    site = "python/lib/python3.12/site-packages/"
    assert f"{site}alpha/__init__.py" in names
    assert f"{site}alpha-1.0.dist-info/METADATA" in names
    assert not any(name.startswith(f"{site}beta/") for name in names)  # beta: never opened
    assert any(name.startswith(f"{site}beta-") and "dist-info" in name for name in names)
    assert any(name.endswith(".pth") and "_lambdalayer_trim_" in name for name in names)


def test_build_trim_refuses_a_bad_manifest_before_building(
    local_index, cache_dir, tmp_path, capsys
):  # type: ignore[no-untyped-def]
    manifest = tmp_path / "bad.toml"
    manifest.write_text('format = 1\nlevel = "all"\nevents = []\n')
    code, _, err = run_cli(
        capsys, "build", "alpha", "--index-url", local_index.url, "--cache-dir", str(cache_dir),
        "-o", str(tmp_path / "layer.zip"), "--trim", str(manifest),
    )  # fmt: skip
    assert code == 1 and "error: the trim manifest's level 'all'" in err
    assert not (tmp_path / "layer.zip").exists()


def test_of_copies_of_a_library_only_the_one_the_loader_opens_stays(tmp_path: Path) -> None:
    gcc = shutil.which("gcc")
    assert gcc is not None
    (tmp_path / "dup.c").write_text("int dup(void) { return 1; }\n")
    (tmp_path / "user.c").write_text("int dup(void);\nint user(void) { return dup(); }\n")
    subprocess.run(
        [gcc, "-shared", "-fPIC", "-Wl,-soname,libdup.so.1", "-o", str(tmp_path / "libdup.so.1"),
         str(tmp_path / "dup.c")], check=True,
    )  # fmt: skip
    subprocess.run(
        [gcc, "-shared", "-fPIC", "-o", str(tmp_path / "user.so"), str(tmp_path / "user.c"),
         str(tmp_path / "libdup.so.1")], check=True,
    )  # fmt: skip
    library = (tmp_path / "libdup.so.1").read_bytes()
    files = distribution(
        "dup",
        {
            "dup/__init__.py": b"",
            "dup/_user.cpython-312-x86_64-linux-gnu.so": (tmp_path / "user.so").read_bytes(),
            "dup/libdup.so.1": library,  # what the loader opens (DT_NEEDED)
            "dup/libdup.so": library,  # the same library again, as wheels often carry it
            "dup/libdup.so.1.0.0": library,
        },
    )
    layer = write_layer(tmp_path / "layer.zip", files)
    manifest = _manifest(Level.MODULES, "dup/_user.cpython-312-x86_64-linux-gnu.so")
    plan = plan_trim(describe_files(read_zip(layer, Layout.SITE_PACKAGES)), manifest)
    kept = {item.rel for item in plan.kept}
    assert "dup/libdup.so.1" in kept
    assert {"dup/libdup.so", "dup/libdup.so.1.0.0"} <= {item.rel for item in plan.trimmed}


BOTO3_HANDLER = """\
import boto3

def handler(event, context):
    if event.get("conditions"):
        from boto3.dynamodb import conditions  # noqa: F401 - a module no traced event imports
    client = boto3.client("s3", region_name="us-east-1")
    return {"operations": len(client.meta.service_model.operation_names)}
"""


@pytest.mark.network
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.skipif(not HAVE_312, reason="no CPython 3.12 here")
def test_the_real_boto3_function_keeps_one_services_models(capsys, cache, tmp_path):  # type: ignore[no-untyped-def]
    source = tmp_path / "src"
    source.mkdir()
    (source / "app.py").write_text(BOTO3_HANDLER)
    function = tmp_path / "function.zip"
    code, _, err = run_cli(
        capsys, "build", "boto3", "--function", str(source), "--handler", "app.handler",
        "--runtime", "python3.12", "--cache-dir", str(cache), "-o", str(function),
    )  # fmt: skip
    assert code == 0, err
    (tmp_path / "event.json").write_text("{}")
    code, out, err = run_cli(
        capsys, "trim", "app.handler", "--zip", str(function), "--runtime", "python3.12",
        "--event", str(tmp_path / "event.json"), "--cache-dir", str(cache), "-o",
        str(tmp_path / "trimmed"), "--manifest", str(tmp_path / "lambdalayer.trim.toml"),
        "--runs", "1", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["errors_before"] == []
    [artefact] = json.loads(out)["artefacts"]
    assert artefact["unzipped_after"] <= 0.7 * artefact["unzipped_before"]
    manifest = (tmp_path / "lambdalayer.trim.toml").read_text()
    assert "botocore/data/s3/2006-03-01/service-2.json.gz" in manifest
    assert "botocore/data/ec2/" not in manifest
    with zipfile.ZipFile(tmp_path / "trimmed" / "function.zip") as archive:
        names = archive.namelist()
    assert not any(name.startswith("botocore/data/ec2/") for name in names)
    (tmp_path / "later.json").write_text('{"conditions": true}')
    code, out, _ = run_cli(
        capsys, "invoke", "app.handler", "--zip", str(tmp_path / "trimmed" / "function.zip"),
        "--runtime", "python3.12", "--cache-dir", str(cache), "--event", str(tmp_path / "later.json"),
    )  # fmt: skip
    assert code == 1
    error = json.loads(out)
    assert error["errorType"] == "ImportError"
    assert '"boto3/dynamodb/**"' in error["errorMessage"]


@pytest.mark.parametrize("level", [Level.MODULES, Level.DATA])
def test_ca_bundles_the_sandbox_cannot_reach_are_kept_whatever_the_trace_saw(
    tmp_path: Path, level: Level
) -> None:
    """A new user: requests' certifi lost cacert.pem (the sandbox has no network, so no event
    opens it) and the trim said verified; the function would fail on its first HTTPS call."""
    files = {
        **distribution("certifi", {"certifi/__init__.py": b"", "certifi/core.py": b"",
                                   "certifi/cacert.pem": b"-----BEGIN CERTIFICATE-----\n"}),
        **distribution("fakecore", {"fakecore/__init__.py": b"", "fakecore/cacert.pem": b"x",
                                    "fakecore/data/model.json": b"{}"}),
    }  # fmt: skip
    layer = write_layer(tmp_path / "layer.zip", files)
    plan = plan_trim(describe_files(read_zip(layer, Layout.SITE_PACKAGES)), _manifest(level))
    kept = {item.rel for item in plan.kept}
    assert {"certifi/cacert.pem", "certifi/core.py", "fakecore/cacert.pem"} <= kept
    assert "fakecore/data/model.json" not in kept


def test_trim_image_takes_a_root_and_refuses_a_functions_own_image_before_anything_runs(
    tmp_path, capsys
):
    """trim --image REF took a registry's image for a directory ('no such directory')."""
    from ocitools import make_base_layout
    from registryserver import Registry, RegistryServer, layer_tarball

    code = tmp_path / "src"
    code.mkdir()
    (code / "app.py").write_text("def handler(event, context):\n    return 1\n")
    (tmp_path / "e.json").write_text("{}")
    registry = Registry()
    registry.add_image("latest", {"amd64": [layer_tarball({"var/task/app.py": b"x = 1\n"})]})
    server = RegistryServer(registry, repository="fn")
    images = [f"{server.url.removeprefix('http://')}/fn:latest"]
    if shutil.which("umoci") is not None:  # a real OCI layout, as image build's -o DIR
        root = tmp_path / "root"
        (root / "var/task").mkdir(parents=True)
        (root / "var/task/app.py").write_text("x = 1\n")
        images.append(str(make_base_layout(root, tmp_path / "layout", "latest", "amd64")))
    archive = tmp_path / "image.tar"
    archive.write_bytes(b"an OCI archive")  # a file: an image, as invoke --image reads it
    images.append(str(archive))
    common = ["trim", "app.handler", "--function", str(code), "--event", str(tmp_path / "e.json")]
    common += ["--cache-dir", str(tmp_path / "cache"), "-o", str(tmp_path / "out")]
    common += ["--manifest", str(tmp_path / "m.toml")]
    try:
        for image in images:
            exit_code, _, err = run_cli(capsys, *common, "--image", image)
            assert exit_code == 1
            lines = err.splitlines()
            assert lines[0].startswith(f"error: --image {image} is a function's own image"), err
            assert lines[1].startswith("hint: trim the code and layers the image is built from")
        exit_code, _, err = run_cli(capsys, *common, "--image", str(tmp_path / "nowhere"))
        assert exit_code == 1 and err.splitlines() == [
            f"error: --image {tmp_path / 'nowhere'}: no such directory",
            "hint: trim's --image takes pull, host, or the directory of an extracted Lambda image",
        ]
    finally:
        server.close()
    assert registry.seen_by_registry == []  # refused before anything is asked
    assert not (tmp_path / "out").exists() and not (tmp_path / "m.toml").exists()
    assert not (tmp_path / "cache").exists()


@pytest.mark.network
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.skipif(not HAVE_312, reason="no CPython 3.12 here")
def test_a_new_trace_says_which_lines_of_the_manifest_it_replaced_it_lacks(capsys, cache, tmp_path):  # type: ignore[no-untyped-def]
    """A reviewer's line added to lambdalayer.trim.toml was dropped without a word when trim
    traced again without --reviewed (a new user's review): the new manifest replaces the
    file, and the lines it lacks are named, with what to do."""
    write_layer(tmp_path / "layer.zip", framework_distribution())
    arguments = _case(tmp_path, FRAMEWORK_HANDLER, {"get.json": {"rawPath": "/items"}})
    code, out, err = _trim(capsys, cache, tmp_path, arguments, "--runs", "0")
    assert code == 0 and "warning: this trace's manifest replaced" not in out + err, out + err
    manifest = tmp_path / "lambdalayer.trim.toml"
    text = manifest.read_text()
    head = '[distribution."webfw"]\nkeep = [\n'
    assert head in text
    manifest.write_text(text.replace(head, head + '    "webfw/router5/**",  # mine\n'))
    warning = (
        f"warning: this trace's manifest replaced {manifest}, whose 1 line webfw/router5/** is"
        " not in it: add it again (or --keep), or apply a reviewed manifest as it is with"
        " --reviewed"
    )
    # on stderr, as every command's warnings (it was on stdout, where -qq did not reach it)
    code, out, err = _trim(capsys, cache, tmp_path, arguments, "--runs", "0", "-q")
    assert code == 0, err
    assert warning in err and "warning:" not in out, (out, err)
    assert "webfw/router5/**" not in manifest.read_text()
    manifest.write_text(text.replace(head, head + '    "webfw/router5/**",  # mine\n'))
    code, out, err = _trim(capsys, cache, tmp_path, arguments, "--runs", "0", "-qq")
    assert code == 0 and "warning:" not in out + err, (out, err)
    assert "manifest: " in out  # the result stays
    code, out, err = _trim(capsys, cache, tmp_path, arguments, "--runs", "0", "--json")
    assert code == 0 and json.loads(out)["dropped_lines"] == [], err
