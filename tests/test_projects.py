"""Real projects: pyproject, uv.lock, poetry.lock, pylock, [tool.lambdalayer], matrix, function zips."""

from __future__ import annotations

import os
import subprocess
import zipfile
from pathlib import Path

import pytest
from cliutil import run_json
from indexserver import LocalIndex
from uv import find_uv_bin

from lambdalayer.cli.main import main
from lambdalayer.interpreters import find_interpreter

PYPROJECT = """\
[project]
name = "myservice"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["alpha"]

[project.optional-dependencies]
native = ["nativepkg"]
all = ["myservice[native]"]

[dependency-groups]
data = ["datapkg"]
everything = [{include-group = "data"}, "beta==1.0"]
"""

CONFIG = """
[tool.lambdalayer]
runtime = ["python3.11", "python3.12"]
arch = ["x86_64", "arm64"]

[tool.lambdalayer.layers.core]
requirements = ["alpha"]

[tool.lambdalayer.layers.data]
group = "data"
"""

FUNCTION_CONFIG = """
[tool.lambdalayer.function]
source = "src/app"
handler = "app.main.handler"
"""


def make_project(root: Path, config: str = "", pyproject: str = PYPROJECT) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(pyproject + config)
    app = root / "src" / "app"
    app.mkdir(parents=True)
    (app / "__init__.py").write_text("")
    (app / "main.py").write_text(
        "import alpha\n\ndef handler(event, context):\n    return alpha.VERSION\n"
    )
    return root


def pins(result: object) -> dict[str, str]:
    assert isinstance(result, dict)
    return {package["name"]: package["version"] for package in result["packages"]}


def common(index: LocalIndex, cache: Path) -> list[str]:
    return ["--index-url", index.url, "--cache-dir", str(cache)]


def test_pyproject_extras_and_groups(local_index, cache_dir, tmp_path, capsys):
    project = make_project(tmp_path / "p")
    base = [
        "build",
        "-r",
        str(project / "pyproject.toml"),
        "--runtime",
        "python3.12",
        *common(local_index, cache_dir),
    ]
    assert pins(run_json(capsys, *base, "-o", str(tmp_path / "a.zip"), "--json")) == {
        "alpha": "1.0",
        "beta": "2.0",
    }
    with_extra = run_json(capsys, *base, "-o", str(tmp_path / "b.zip"), "--extra", "all", "--json")
    assert set(pins(with_extra)) == {"alpha", "beta", "nativepkg"}  # "all" names myservice[native]
    grouped = run_json(
        capsys, *base, "-o", str(tmp_path / "c.zip"), "--group", "everything", "--json"
    )
    assert pins(grouped) == {"alpha": "1.0", "beta": "1.0", "datapkg": "1.0"}
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert not [
            name for name in archive.namelist() if "myservice" in name
        ]  # the project itself is not in it


def test_unknown_extra_or_group_is_named(local_index, cache_dir, tmp_path, capsys):
    project = make_project(tmp_path / "p")
    code = main(
        [
            "build",
            "-r",
            str(project / "pyproject.toml"),
            "--group",
            "nope",
            *common(local_index, cache_dir),
        ]
    )
    assert code == 1 and "has no dependency group 'nope'" in capsys.readouterr().err


def test_every_input_format_round_trips_to_the_same_pins(local_index, cache_dir, tmp_path, capsys):
    # uv locks all groups together: without "everything" (beta==1.0) its pins match a fresh resolution
    project = make_project(
        tmp_path / "p",
        pyproject=PYPROJECT.replace('everything = [{include-group = "data"}, "beta==1.0"]\n', ""),
    )
    # python3.12: uv.lock pins nativepkg 2.0, which has no wheel for python3.11's glibc 2.26
    options = ["--runtime", "python3.12", *common(local_index, cache_dir)]
    lock = tmp_path / "pylock.toml"
    from_pyproject = pins(
        run_json(
            capsys,
            "build",
            "-r",
            str(project / "pyproject.toml"),
            "--extra",
            "native",
            "-o",
            str(tmp_path / "1.zip"),
            "--lock",
            str(lock),
            *options,
            "--json",
        )
    )
    assert from_pyproject == {"alpha": "1.0", "beta": "2.0", "nativepkg": "2.0"}
    environment = {**os.environ, "UV_INDEX_URL": local_index.url, "UV_PYTHON_DOWNLOADS": "never"}
    subprocess.run(
        [find_uv_bin(), "lock", "--quiet", "--project", str(project)], check=True, env=environment
    )
    from_uv_lock = pins(
        run_json(
            capsys,
            "build",
            "-r",
            str(project / "uv.lock"),
            "--extra",
            "native",
            "-o",
            str(tmp_path / "2.zip"),
            *options,
            "--json",
        )
    )
    poetry_lock = tmp_path / "poetry" / "poetry.lock"
    poetry_lock.parent.mkdir()
    poetry_lock.write_text(
        "".join(
            f'[[package]]\nname = "{name}"\nversion = "{version}"\noptional = false\ngroups = ["main"]\nfiles = []\n\n'
            for name, version in from_pyproject.items()
        )
        + '[[package]]\nname = "datapkg"\nversion = "1.0"\ngroups = ["dev"]\nfiles = []\n\n'
        + '[metadata]\nlock-version = "2.1"\npython-versions = ">=3.11"\ncontent-hash = "x"\n'
    )
    from_poetry = pins(
        run_json(
            capsys,
            "build",
            "-r",
            str(poetry_lock),
            "-o",
            str(tmp_path / "3.zip"),
            *options,
            "--json",
        )
    )
    from_pylock = pins(
        run_json(
            capsys, "build", "-r", str(lock), "-o", str(tmp_path / "4.zip"), *options, "--json"
        )
    )
    assert from_uv_lock == from_poetry == from_pylock == from_pyproject
    assert (tmp_path / "1.zip").read_bytes() == (tmp_path / "4.zip").read_bytes()


def test_a_lock_pin_with_no_wheel_for_the_target_fails_and_is_not_repinned(
    local_index, cache_dir, tmp_path, capsys
):
    poetry_lock = tmp_path / "poetry.lock"
    poetry_lock.write_text(
        '[[package]]\nname = "nativepkg"\nversion = "2.0"\ngroups = ["main"]\nfiles = []\n'
    )
    code = main(
        [
            "build",
            "-r",
            str(poetry_lock),
            "--runtime",
            "python3.11",
            "-o",
            str(tmp_path / "x.zip"),
            *common(local_index, cache_dir),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "no wheel of nativepkg==2.0 for python3.11 on x86_64" in err and "pinned by" in err
    assert not (tmp_path / "x.zip").exists()


def test_project_without_inputs_uses_its_pyproject(
    local_index, cache_dir, tmp_path, capsys, monkeypatch
):
    project = make_project(tmp_path / "p")
    monkeypatch.chdir(project)
    result = run_json(
        capsys, "build", "--runtime", "python3.12", *common(local_index, cache_dir), "--json"
    )
    # A project's own build writes dist/ (the one rule, whatever its input kind, #33 point 5):
    # the zip named by its target, its lock beside it; -o still names one file.
    [built] = result["builds"]
    assert pins(built["result"]) == {"alpha": "1.0", "beta": "2.0"}
    assert (project / "dist" / "layer-python3.12-x86_64.zip").is_file()
    assert (project / "dist" / "pylock.layer-python312-x86_64.toml").is_file()
    assert not (project / "layer.zip").exists()
    args = ("build", "--runtime", "python3.12", *common(local_index, cache_dir), "--json")
    assert run_json(capsys, *args, "-o", "mine.zip")["sha256"]
    assert (project / "mine.zip").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    code = main(["build", "--project", str(empty), *common(local_index, cache_dir)])
    assert (
        code == 1
        and "no uv.lock, poetry.lock, pylock.toml, pyproject.toml or requirements.txt"
        in capsys.readouterr().err
    )


def test_configured_layers_build_as_a_2x2_matrix(local_index, cache_dir, tmp_path, capsys):
    project = make_project(tmp_path / "p", CONFIG)
    code = main(
        [
            "build",
            "--project",
            str(project),
            *common(local_index, cache_dir),
            "--bytecode",
            "none",
            "--timings",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    # --timings: where each target's time went, under the table (it was ignored)
    assert out.count("\n  timings: ") == 8 and " s in all: resolve " in out
    built = sorted(path.name for path in (project / "dist").iterdir())
    expected = [
        name
        for layer in ("core", "data")
        for runtime in ("python3.11", "python3.12")
        for arch in ("arm64", "x86_64")
        for name in (
            f"{layer}-{runtime}-{arch}.zip",
            f"pylock.{layer}-{runtime.replace('.', '')}-{arch}.toml",
        )
    ]
    assert built == sorted(expected)
    rows = {
        (line.split()[0], line.split()[1]): line.split()[2]
        for line in out.splitlines()
        if line.startswith(("core ", "data ")) and not line.endswith(":")
    }
    assert len(rows) == 8 and ("core", "python3.12-arm64") in rows
    # Each row says its check's verdict; "ok" only when every part (imports too) passed, and
    # what was not verified is said under the table, per target, with how to get it run.
    for (name, target), status in rows.items():
        assert status in ("ok", "not"), (name, target, status)
        under = f"{name} {target}:\n  not verified: imports: "
        assert (under in out) is (status == "not"), out
    if find_interpreter("3.12") is not None:
        assert rows[("core", "python3.12-x86_64")] == "ok"
    with zipfile.ZipFile(project / "dist" / "data-python3.11-x86_64.zip") as archive:
        names = archive.namelist()
    assert any("datapkg" in name for name in names) and not any("alpha" in name for name in names)


def test_one_failing_target_does_not_stop_the_others(local_index, cache_dir, tmp_path, capsys):
    code = main(
        [
            "build",
            "only28",
            "--runtime",
            "python3.11,python3.12",
            "--output-dir",
            str(tmp_path / "out"),
            *common(local_index, cache_dir),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert (tmp_path / "out" / "layer-python3.12-x86_64.zip").is_file()
    assert not (tmp_path / "out" / "layer-python3.11-x86_64.zip").exists()
    assert (
        "FAILED" in captured.out
        and "error: layer python3.11-x86_64: no wheel of only28" in captured.err
    )


def test_config_errors_name_the_key_and_file(local_index, cache_dir, tmp_path, capsys):
    project = make_project(tmp_path / "p", "\n[tool.lambdalayer]\nruntimes = 'python3.12'\n")
    assert main(["build", "--project", str(project), *common(local_index, cache_dir)]) == 1
    err = capsys.readouterr().err
    assert "unknown key 'tool.lambdalayer.runtimes'" in err and "pyproject.toml" in err
    other = make_project(
        tmp_path / "q", "\n[tool.lambdalayer.layers.pandas]\non-top-of = 'nonsense'\n"
    )
    assert main(["build", "--project", str(other), *common(local_index, cache_dir)]) == 1
    err = capsys.readouterr().err
    assert "tool.lambdalayer.layers.pandas.on-top-of = 'nonsense' names no layer" in err
    assert "pyproject.toml" in err


def test_multiple_outputs_refuse_a_single_output_path(local_index, cache_dir, tmp_path, capsys):
    code = main(
        [
            "build",
            "beta",
            "--runtime",
            "python3.11,python3.12",
            "-o",
            str(tmp_path / "x.zip"),
            *common(local_index, cache_dir),
        ]
    )
    assert code == 1 and "use --output-dir" in capsys.readouterr().err


@pytest.mark.skipif(
    find_interpreter("3.11") is None, reason="no CPython 3.11 to import the handler with"
)
def test_function_package_has_dependencies_beside_the_handler(
    local_index, cache_dir, tmp_path, capsys
):
    project = make_project(
        tmp_path / "p", "\n[tool.lambdalayer]\nruntime = 'python3.11'\n" + FUNCTION_CONFIG
    )
    result = run_json(
        capsys,
        "build",
        "--project",
        str(project),
        "-o",
        str(tmp_path / "function.zip"),
        *common(local_index, cache_dir),
        "--json",
    )
    assert isinstance(result, dict)
    report = result["check"]
    assert report["ok"] is True and report["imports"] == [
        {"module": "app.main:handler", "ok": True, "error": None}
    ]
    with zipfile.ZipFile(tmp_path / "function.zip") as archive:
        names = set(archive.namelist())
        assert b" layout=function " in archive.comment
    assert {"app/main.py", "alpha/__init__.py", "app/__pycache__/main.cpython-311.pyc"} <= names
    assert not [name for name in names if name.startswith("python/")]
    code = main(
        [
            "build",
            "--function",
            str(project / "src" / "app"),
            "--handler",
            "app.main.missing",
            "alpha",
            "--runtime",
            "python3.11",
            "-o",
            str(tmp_path / "bad.zip"),
            *common(local_index, cache_dir),
        ]
    )
    err = capsys.readouterr().err
    assert (
        code == 1
        and "app.main has no callable 'missing'" in err
        and not (tmp_path / "bad.zip").exists()
    )
