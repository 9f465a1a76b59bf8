"""What an ordinary (non-root) user sees: another user's pyenv on the search path is skipped,
not a failure (marker ``network``: the user's own environment is installed from the index)."""

from __future__ import annotations

from pathlib import Path

import pytest
from indexserver import LocalIndex
from ordinary import give, install_for, ordinary_user, python_on_path, run_as, workdir

pytestmark = pytest.mark.network
REPO = Path(__file__).resolve().parents[1]


def test_an_unreadable_interpreter_directory_on_the_path_is_skipped(local_index: LocalIndex):
    user = ordinary_user()
    root_pyenv = Path("/root/.pyenv")
    if not (root_pyenv / "shims").is_dir():
        pytest.skip("needs root's pyenv (a directory an ordinary user cannot read)")
    with workdir(user) as home:
        tools = install_for(user, home, REPO)
        python = python_on_path(home, "3.12")
        environment = {
            # Another user's pyenv first on PATH, and as PYENV_ROOT: neither may be read.
            "PATH": f"{root_pyenv / 'shims'}:{python['PATH']}:/usr/bin:/bin",
            "PYENV_ROOT": str(root_pyenv),
            "LD_LIBRARY_PATH": python["LD_LIBRARY_PATH"],
        }
        built = run_as(
            user,
            [
                str(tools / "lambdalayer"),
                "build",
                "beta==1.0",
                "--runtime",
                "python3.12",
                "--index-url",
                local_index.url,
                "--no-check",
                "-o",
                str(home / "layer.zip"),
            ],
            home,
            environment,
        )
        assert built.returncode == 0, built.stderr[-2000:]
        assert "permission" not in built.stderr.lower()
        assert "bytecode: 1 module compiled by" in built.stdout
        give(home / "layer.zip", user)
