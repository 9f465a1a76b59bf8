"""A release people can install: everything up to the upload, and the recipes as copied.

``scripts/check_release.py`` (what the release workflow runs) builds the sdist and wheel,
checks them with twine and installs the wheel; then an ordinary user installs that wheel
into a fresh virtual environment and runs the README's command 1 with it. The recipes'
own requirements and documented commands build as they are written. All of it talks to
the public package index (marker ``network``).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from ordinary import give, ordinary_user, python_on_path, run_as, workdir

import lambdalayer

pytestmark = pytest.mark.network
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``scripts/check_release.py`` built, checked and installed."""
    outdir = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "check_release.py"),
            "--outdir",
            str(outdir),
            "--tag",
            f"v{lambdalayer.__version__}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok: ")
    (wheel,) = outdir.glob("*.whl")
    return wheel


def test_the_release_check_refuses_a_tag_that_is_not_the_version(tmp_path: Path):
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "check_release.py"),
            "--outdir",
            str(tmp_path),
            "--tag",
            "v9.9.9",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode != 0
    assert f"the tag v9.9.9 is not v{lambdalayer.__version__}" in done.stderr


def test_the_wheel_carries_the_licence_and_data_files(released: Path):
    with zipfile.ZipFile(released) as archive:
        names = archive.namelist()
        metadata = archive.read(
            next(name for name in names if name.endswith(".dist-info/METADATA"))
        ).decode()
    assert "License-Expression: MIT" in metadata
    assert any(name.endswith("licenses/LICENSE") for name in names)
    assert "lambdalayer/data/runtimes.toml" in names
    assert any(name.startswith("lambdalayer/data/events/") for name in names)


def _readme_command_1() -> list[str]:
    """The build command of the README's command 1, as a list of arguments."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Install and build a layer (command 1)", 1)[1]
    line = re.search(r"```\n(python3 -m venv .*)\n```", section)
    assert line is not None, "README command 1 not found"
    steps = [shlex.split(step) for step in line.group(1).split("&&")]
    assert steps[1][-2:] == ["install", "."], steps  # the install step, replaced by the wheel
    return [arg.removeprefix(".venv/bin/") for arg in steps[2]]


def test_an_ordinary_user_installs_the_wheel_and_runs_readme_command_1(released: Path):
    user = ordinary_user()
    if shutil.which("python3", path="/usr/bin") is None:
        pytest.skip("needs /usr/bin/python3 for the user's own virtual environment")
    with workdir(user) as home:
        wheel = home / released.name
        shutil.copyfile(released, wheel)
        give(home, user)
        # A machine where python3.12 is on PATH, as the build looks for it.
        machine = python_on_path(home, "3.12")
        machine["PATH"] += ":/usr/local/bin:/usr/bin:/bin"
        made = run_as(user, ["/usr/bin/python3", "-m", "venv", ".venv"], home)
        assert made.returncode == 0, made.stderr
        installed = run_as(user, [".venv/bin/pip", "install", "--quiet", str(wheel)], home)
        assert installed.returncode == 0, installed.stderr[-2000:]
        command = _readme_command_1()
        built = run_as(user, [f".venv/bin/{command[0]}", *command[1:]], home, machine)
        assert built.returncode == 0, built.stderr[-3000:]
        assert "built layer.zip for python3.12 on arm64" in built.stdout
        assert (home / "layer.zip").stat().st_uid == user.pw_uid
        # Nothing written outside the user's home: the cache is theirs too.
        assert (Path(user.pw_dir) / ".cache" / "lambdalayer" / "wheels").is_dir()


def test_the_github_action_installs_a_wheel_by_path(released: Path, tmp_path: Path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (tmp_path / "requirements.txt").write_text("six==1.17.0\n")
    outputs = tmp_path / "outputs"
    env = {
        **os.environ,
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "INPUT_VERSION": str(released),
        "INPUT_ARGS": "--bytecode none",
        "GITHUB_OUTPUT": str(outputs),
        "LAMBDALAYER_CACHE_DIR": str(tmp_path / "cache"),
    }
    done = subprocess.run(
        ["bash", str(REPO / "scripts" / "github_action.sh")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (venv / "bin" / "lambdalayer").is_file()  # installed from the wheel's path
    assert "path=layer.zip" in outputs.read_text()


def _documented_commands(recipe: Path) -> list[list[str]]:
    """The ``lambdalayer …`` commands a recipe's comments tell the user to run."""
    commands = []
    for source in sorted(recipe.iterdir()):
        if source.suffix not in {".tf", ".yaml", ".yml", ".js"} and source.name != "Makefile":
            continue
        text = source.read_text()
        joined = re.sub(r"\\\n\s*(#|//)\s*", " ", text)  # a command continued on the next line
        for match in re.finditer(r"^(?:#|//)\s+(lambdalayer (?:image )?build .*)$", joined, re.M):
            commands.append(shlex.split(match.group(1)))
    return commands


# A CI workflow for a whole repository, not a project to copy: its plan --matrix fan-out and
# the action's all-target input run in tests/test_fleet.py.
WORKFLOW_ONLY = {"monorepo"}


@pytest.mark.parametrize(
    "recipe",
    sorted(
        path.name
        for path in (REPO / "recipes").iterdir()
        if path.is_dir() and path.name not in WORKFLOW_ONLY
    ),
)
def test_each_recipe_builds_as_copied(recipe: str, tmp_path: Path, standin_layout: Path):
    work = tmp_path / recipe
    shutil.copytree(REPO / "recipes" / recipe, work)
    requirements = sorted(work.rglob("requirements.txt"))
    assert requirements, f"{recipe} has no requirements.txt to copy"
    for path in requirements:
        assert "beta" not in path.read_text()  # a real package, not the tests' own
    env = {**os.environ, "LAMBDALAYER_CACHE_DIR": str(tmp_path.parent / "recipes-cache")}
    lambdalayer = str(Path(sys.executable).parent / "lambdalayer")
    commands = _documented_commands(work)
    if recipe == "sam-makefile":
        made = subprocess.run(
            ["make", "build-DepsLayer", f"ARTIFACTS_DIR={work / 'artifacts'}"],
            cwd=work,
            env={**env, "PATH": f"{Path(lambdalayer).parent}{os.pathsep}{env['PATH']}"},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert made.returncode == 0, made.stderr[-2000:]
        assert list((work / "artifacts").rglob("requests/__init__.py"))
        return
    if recipe == "cdk":  # app.js runs the build itself; the command is the one it runs
        commands = [shlex.split("lambdalayer build -r layer/requirements.txt --runtime python3.12")]
    assert commands, f"{recipe} documents no lambdalayer command"
    for documented in commands:
        command = documented
        if command[1] == "image":  # no push from here: an archive on the tests' stand-in base
            at = command.index("--push")
            command = [*command[:at], "-o", "build/image.tar", "--base", str(standin_layout)]
        (work / "build").mkdir(exist_ok=True)
        done = subprocess.run(
            [lambdalayer, *command[1:]],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert done.returncode == 0, f"{command}\n{done.stderr[-2000:]}"
