"""Run code against a built layer as Lambda would: read-only copy, Lambda's path order."""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

from lambdalayer.interpreters import find_interpreter

# The code runs after the layer's two directories are put first on sys.path.
_PRELUDE = "import sys; sys.path[:0] = sys.argv[1:3]; del sys.argv[1:3]\n"


def run_under_lambda_paths(
    layer: Path, python_version: str, code: str, workdir: Path, *args: str
) -> str:
    """Run ``code`` with a CPython ``python_version`` (-I -S -B); returns its stdout.

    Skips the test when no such interpreter is on the machine; fails it when the code fails.
    """
    interpreter = find_interpreter(python_version)
    if interpreter is None:
        pytest.skip(f"no CPython {python_version} on this machine")
    opt = workdir / "opt"
    with zipfile.ZipFile(layer) as archive:
        archive.extractall(opt)
    for path in sorted(opt.rglob("*"), reverse=True):
        path.chmod(0o555 if path.is_dir() else 0o444)
    site, python_dir = opt / f"python/lib/python{python_version}/site-packages", opt / "python"
    try:
        completed = subprocess.run(
            [
                str(interpreter.path),
                "-I",
                "-S",
                "-B",
                "-c",
                _PRELUDE + code,
                str(site),
                str(python_dir),
                *args,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
    finally:
        for path in opt.rglob("*"):
            path.chmod(0o755)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.strip()
