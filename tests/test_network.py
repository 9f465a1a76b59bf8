"""Builds from the real public index (marker ``network``; .ci/run runs them too)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from cliutil import run_json
from elfsamples import EM_AARCH64, EM_X86_64, elf_machine
from lambdaimport import run_under_lambda_paths

from lambdalayer.interpreters import find_interpreter

pytestmark = pytest.mark.network


def build_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    result: dict[str, object] = run_json(capsys, "build", *args, "--json")
    return result


def wheels_of(result: dict[str, object]) -> dict[str, tuple[str, str]]:
    packages = result["packages"]
    assert isinstance(packages, list)
    return {package["name"]: (package["version"], package["wheel"]) for package in packages}


def elf_machines(layer: Path) -> set[int]:
    machines = set()
    with zipfile.ZipFile(layer) as archive:
        for info in archive.infolist():
            if info.filename.endswith(".so") or ".so." in info.filename:
                machine = elf_machine(archive.read(info)[:64])
                if machine is not None:
                    machines.add(machine)
    return machines


def import_under_lambda_paths(
    layer: Path, python_version: str, modules: list[str], workdir: Path
) -> str:
    """Import ``modules`` from a read-only extracted copy; their versions, space-separated."""
    code = "import importlib; print(' '.join(importlib.import_module(n).__version__ for n in sys.argv[1:]))"
    return run_under_lambda_paths(layer, python_version, code, workdir, *modules)


def test_aws_tutorial_packages_for_python311_x86_64(tmp_path, capsys):
    layer = tmp_path / "layer.zip"
    result = build_json(
        capsys, "requests==2.31.0", "numpy==1.26.4", "--runtime", "python3.11", "-o", str(layer)
    )
    wheels = wheels_of(result)
    assert wheels["requests"][0] == "2.31.0"
    assert wheels["numpy"][0] == "1.26.4" and "cp311-cp311-manylinux" in wheels["numpy"][1]
    assert elf_machines(layer) == {EM_X86_64}
    assert (
        import_under_lambda_paths(layer, "3.11", ["requests", "numpy"], tmp_path) == "2.31.0 1.26.4"
    )


def test_arm64_python312_layer_has_only_aarch64_binaries(tmp_path, capsys):
    layer = tmp_path / "layer.zip"
    result = build_json(
        capsys, "numpy", "--runtime", "python3.12", "--arch", "arm64", "-o", str(layer)
    )
    assert "aarch64" in wheels_of(result)["numpy"][1]
    assert elf_machines(layer) == {EM_AARCH64}


def test_pandas_pyarrow_python311_gets_newest_wheels_that_fit_glibc_226(tmp_path, capsys):
    layer = tmp_path / "layer.zip"
    result = build_json(capsys, "pandas", "pyarrow", "--runtime", "python3.11", "-o", str(layer))
    wheels = wheels_of(result)
    assert wheels["pandas"][0].startswith("3.")
    assert wheels["numpy"][0] == "2.2.6"
    assert wheels["pyarrow"] == (
        "20.0.0",
        "pyarrow-20.0.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    )
    backed_off = {item["package"] for item in result["backoffs"]}  # type: ignore[union-attr]
    assert {"numpy", "pyarrow"} <= backed_off
    versions = import_under_lambda_paths(layer, "3.11", ["pandas", "pyarrow"], tmp_path)
    assert versions == f"{wheels['pandas'][0]} 20.0.0"


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_check_passes_real_layers_with_native_code(tmp_path, capsys, arch):
    layer = tmp_path / "layer.zip"
    result = build_json(
        capsys,
        "numpy",
        "pydantic",
        "cryptography",
        "--runtime",
        "python3.12",
        "--arch",
        arch,
        "-o",
        str(layer),
    )
    report = result["check"]
    assert isinstance(report, dict) and report["verdict"] != "failed", report
    if arch == "x86_64" and find_interpreter("3.12") is not None:
        assert report["ok"] is True, report
        imported = {item["module"] for item in report["imports"] if item["ok"]}
        assert {"numpy", "pydantic", "pydantic_core", "cryptography"} <= imported
    else:
        assert report["imports_skipped"]


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_fastapi_mangum_function_package(tmp_path, capsys, arch):
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.py").write_text(
        "from fastapi import FastAPI\nfrom mangum import Mangum\n\n"
        "api = FastAPI()\n\n\n@api.get('/')\ndef root():\n    return {'ok': True}\n\n\nhandler = Mangum(api)\n"
    )
    out = tmp_path / "function.zip"
    result = build_json(
        capsys,
        "fastapi",
        "mangum",
        "--function",
        str(app),
        "--handler",
        "main.handler",
        "--runtime",
        "python3.12",
        "--arch",
        arch,
        "-o",
        str(out),
    )
    report = result["check"]
    assert isinstance(report, dict) and report["verdict"] != "failed", report
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
    assert {"main.py", "fastapi/__init__.py", "mangum/__init__.py"} <= names
    if arch == "x86_64" and find_interpreter("3.12") is not None:
        assert report["imports"] == [{"module": "main:handler", "ok": True, "error": None}]


def test_requests_pandas_pydantic_on_top_of_the_managed_pandas_layer(tmp_path, capsys):
    layer = tmp_path / "layer.zip"
    result = build_json(
        capsys,
        "requests",
        "pandas",
        "pydantic",
        "--on-top-of",
        "aws-sdk-pandas",
        "--runtime",
        "python3.12",
        "-o",
        str(layer),
    )
    names = set(wheels_of(result))
    # the managed layer ships requests too (opensearch-py needs it): only pydantic's stack is new
    assert "pydantic" in names and not names & {"requests", "pandas", "numpy", "pyarrow", "urllib3"}
    provided = result["provided"]
    assert isinstance(provided, dict) and {"requests", "pandas", "numpy"} <= set(
        provided["packages"]
    )
    assert provided["by"][0].startswith("aws-sdk-pandas ")
    report = result["check"]
    # the managed layer is not on this machine: its imports are not verified, never "ok"
    assert isinstance(report, dict) and not report["ok"] and report["verdict"] == "not verified"
    assert "aws-sdk-pandas" in report["imports_skipped"]


LOCKS = Path(__file__).parent / "fixtures" / "locks"


def _recorded_layers() -> list[dict[str, str]]:
    import tomllib

    layers: list[dict[str, str]] = tomllib.loads((LOCKS / "layers.toml").read_text())["layer"]
    return layers


@pytest.fixture(scope="module")
def locks_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("locks-cache")


@pytest.mark.parametrize("layer", _recorded_layers(), ids=lambda layer: layer["lock"])
def test_layers_from_committed_locks_keep_their_bytes(layer, locks_cache, tmp_path, capsys):
    # Recorded before the restructuring of issue #29 (fixtures/locks/layers.toml): the same
    # lock, target and compiling CPython give the same zip, byte for byte.
    version, _, micro = layer["python"].rpartition(".")
    found = find_interpreter(version)
    if found is None or found.micro != int(micro):
        pytest.skip(f"the recorded bytes hold bytecode of CPython {layer['python']}, not here")
    output = tmp_path / "layer.zip"
    result = build_json(
        capsys,
        "--from-lock",
        str(LOCKS / layer["lock"]),
        "--runtime",
        layer["runtime"],
        "--arch",
        layer["arch"],
        "--cache-dir",
        str(locks_cache),
        "--no-check",
        "-o",
        str(output),
    )
    assert result["sha256"] == layer["sha256"]
