"""Importing a layer's modules the way Lambda would, with a CPython of the runtime's X.Y.

The layers are extracted into a temporary ``opt/`` (later ones over earlier ones, as
Lambda does), function zips into ``task/``, everything made read-only; a child
interpreter started with ``-I -S -B`` (no host site-packages, no user site, no bytecode
writes) puts Lambda's paths first and imports each module. A module that crashes the
interpreter is reported as such and the rest are tried in a fresh child.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.interpreters import Interpreter
from lambdalayer.targets import Target
from lambdalayer.zipnames import extraction_path

IMPORT_TIMEOUT_SECONDS = 600
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EXTENSION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\.(?:cpython-[^.]+\.|abi3\.)?so$")

# The child: results go to a file, one JSON line per module, so that what a module prints
# cannot corrupt them and a crash still leaves the modules done before it.
_CHILD = """\
import importlib, json, sys, traceback
results, paths, modules = sys.argv[1], sys.argv[2:5], sys.argv[5:]
sys.path[:0] = paths
with open(results, "a") as out:
    for spec in modules:
        name, _, attribute = spec.partition(":")
        try:
            module = importlib.import_module(name)
            error = None
            if attribute and not callable(getattr(module, attribute, None)):
                error = f"{name} has no callable {attribute!r}"
        except BaseException as exc:
            error = traceback.format_exception_only(type(exc), exc)[-1].strip()
        out.write(json.dumps([spec, error]) + "\\n")
        out.flush()
"""


@dataclass(frozen=True)
class ImportResult:
    """One module's import: ``error`` is the last traceback line, or ``None`` if it worked."""

    module: str
    error: str | None

    @property
    def ok(self) -> bool:
        """Whether the import succeeded."""
        return self.error is None


def top_level_modules(names: Iterable[str], prefixes: Sequence[str]) -> list[str]:
    """Importable top-level names directly under any of ``prefixes``.

    Packages (a directory with a module directly inside, namespace packages included),
    modules (``.py``, or sourceless ``.pyc``) and extension modules.
    """
    found: set[str] = set()
    for name in names:
        prefix = next((prefix for prefix in prefixes if name.startswith(prefix)), None)
        if prefix is None:
            continue
        head, _, rest = name[len(prefix) :].partition("/")
        if head == "__pycache__":  # bytecode of top-level modules, not a module itself
            continue
        module_file = rest.endswith((".py", ".pyc", ".so")) and "/" not in rest
        if rest and module_file and _IDENTIFIER.match(head):
            found.add(head)
        elif (
            not rest
            and head.endswith((".py", ".pyc"))
            and _IDENTIFIER.match(head.rsplit(".", 1)[0])
        ):
            found.add(head.rsplit(".", 1)[0])
        elif not rest and (match := _EXTENSION.match(head)):
            found.add(match.group(1))
    return sorted(found)


def _extract_read_only(archives: Sequence[Path], destination: Path) -> None:
    """Extract every safe member (see :mod:`lambdalayer.zipnames`); unsafe ones are skipped.

    The check reports unsafe names as errors; here nothing is ever written for them.
    """
    destination.mkdir(parents=True, exist_ok=True)
    for archive_path in archives:
        with zipfile.ZipFile(archive_path) as archive:
            for info in archive.infolist():
                target = extraction_path(destination, info.filename)
                if target is None:
                    continue
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                if target.exists():
                    target.chmod(0o644)
                target.write_bytes(archive.read(info))


def _set_tree_mode(root: Path, *, writable: bool) -> None:
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_dir():
            path.chmod(0o755 if writable else 0o555)
        else:
            path.chmod(0o644 if writable else 0o444)


def run_imports(
    interpreter: Interpreter,
    target: Target,
    modules: Sequence[str],
    layers: Sequence[Path],
    function_zips: Sequence[Path] = (),
) -> list[ImportResult]:
    """Import ``modules`` under Lambda's path order from read-only copies of the zips.

    A module given as ``module:attribute`` must also have that callable (a handler).
    """
    with tempfile.TemporaryDirectory(prefix="lambdalayer-import-") as scratch:
        root = Path(scratch)
        opt, task = root / "opt", root / "task"
        _extract_read_only(layers, opt)
        _extract_read_only(function_zips, task)
        _set_tree_mode(opt, writable=False)
        _set_tree_mode(task, writable=False)
        site, python_dir = target.lambda_paths(str(opt))
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "LAMBDA_TASK_ROOT": str(task),
        }
        results: list[ImportResult] = []
        remaining = list(modules)
        try:
            while remaining:
                results_file = root / f"results-{len(results)}.jsonl"
                completed = subprocess.run(
                    [str(interpreter.path), "-I", "-S", "-B", "-c", _CHILD, str(results_file), str(task), site, python_dir, *remaining],
                    capture_output=True, text=True, env=environment, cwd=str(task),
                    timeout=IMPORT_TIMEOUT_SECONDS, check=False,
                )  # fmt: skip
                lines = results_file.read_text().splitlines() if results_file.exists() else []
                done = [ImportResult(name, error) for name, error in map(json.loads, lines)]
                results += done
                remaining = remaining[len(done) :]
                if remaining:
                    stderr_tail = (completed.stderr.strip().splitlines() or [""])[-1]
                    reason = f"the interpreter died (exit code {completed.returncode}) {stderr_tail}".strip()
                    results.append(ImportResult(remaining.pop(0), reason))
        finally:
            _set_tree_mode(opt, writable=True)
            _set_tree_mode(task, writable=True)
    return results
