"""Importing a layer's modules the way Lambda would, with a CPython of the runtime's X.Y.

The layers are extracted into a temporary ``opt/`` (later ones over earlier ones, as
Lambda does), function zips into ``task/``, everything made read-only; a child
interpreter started with ``-I -S -B`` (no host site-packages, no user site, no bytecode
writes) puts Lambda's paths first and imports each module. A module that crashes the
interpreter is reported as such and the rest are tried in a fresh child.

The child runs either on this machine (a CPython of the runtime's X.Y found here: this
machine's libraries) or inside a Lambda image (:class:`ImageRun`: the image's own
interpreter and libraries, in a sandbox, under qemu for the other CPU).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from lambdalayer.check.sandbox import SANDBOX_TMP, Mount, Sandbox
from lambdalayer.check.sandbox import command as sandbox_command
from lambdalayer.errors import LambdaLayerError
from lambdalayer.interpreters import Interpreter
from lambdalayer.targets import Target
from lambdalayer.zipnames import extraction_path

IMPORT_TIMEOUT_SECONDS = 600
# Lambda's environment for the Python runtimes (AWS: "Defined runtime environment variables").
LAMBDA_ENVIRONMENT = {
    "LAMBDA_TASK_ROOT": "/var/task",
    "LAMBDA_RUNTIME_DIR": "/var/runtime",
    "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
    "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
    "PYTHONPATH": "/var/runtime",
    "LANG": "en_US.UTF-8",
    "TZ": ":UTC",
    "HOME": SANDBOX_TMP,
}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EXTENSION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\.(?:cpython-[^.]+\.|abi3\.)?so$")


def _child_source() -> str:
    """The child program's source (:mod:`lambdalayer.check._import_child`), passed with ``-c``."""
    return resources.files("lambdalayer.check").joinpath("_import_child.py").read_text("utf-8")


@dataclass(frozen=True)
class ImageRun:
    """Run the imports inside an image: its root, its interpreter and the sandbox to use."""

    root: Path
    interpreter: str  # inside the image, e.g. /var/lang/bin/python3.12
    sandbox: Sandbox

    def describe(self, target: Target) -> str:
        """``inside ROOT (bubblewrap + qemu-aarch64-static, /var/lang/bin/python3.12)``."""
        return f"inside the image {self.root} for {target.machine} ({self.sandbox.describe()}, {self.interpreter})"


def image_interpreter(root: Path, version: str) -> str | None:
    """The runtime's interpreter inside an image: Lambda's /var/lang, else a stand-in's /usr."""
    for place in (
        f"/var/lang/bin/python{version}",
        f"/usr/bin/python{version}",
        f"/usr/local/bin/python{version}",
    ):
        if os.path.lexists(root / place.lstrip("/")):
            return place
    return None


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


def _extract_read_only(
    archives: Sequence[Path], destination: Path, member_files: Mapping[Path, Mapping[str, Path]]
) -> None:
    """Extract every safe member (see :mod:`lambdalayer.zipnames`); unsafe ones are skipped.

    A member with a known extracted copy (``member_files[archive][member]``) is hard-linked
    (copied across filesystems) instead of inflated. The check reports unsafe names as
    errors; here nothing is ever written for them.
    """
    destination.mkdir(parents=True, exist_ok=True)
    for archive_path in archives:
        known = member_files.get(archive_path, {})
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
                    target.unlink()  # a later layer's copy replaces it, as on Lambda
                copy = known.get(info.filename)
                if copy is not None:
                    _link_or_copy(copy, target)
                else:
                    with archive.open(info) as source, target.open("wb") as out:
                        shutil.copyfileobj(source, out, 1 << 20)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _set_tree_mode(root: Path, *, writable: bool) -> None:
    """Read-only files and directories; back to writable directories for the clean-up.

    Files are left read-only afterwards: they may be hard links to the fragment cache,
    whose files are read-only too, and a read-only file in a writable directory can be
    deleted.
    """
    for directory, dirs, files in os.walk(root):
        for name in dirs:
            (Path(directory) / name).chmod(0o755 if writable else 0o555)
        if not writable:
            for name in files:
                (Path(directory) / name).chmod(0o444)


def run_imports(
    interpreter: Interpreter | None,
    target: Target,
    modules: Sequence[str],
    layers: Sequence[Path],
    function_zips: Sequence[Path] = (),
    image: ImageRun | None = None,
    *,
    member_files: Mapping[Path, Mapping[str, Path]] | None = None,
    scratch_dir: Path | None = None,
) -> list[ImportResult]:
    """Import ``modules`` under Lambda's path order from read-only copies of the zips.

    On this machine with ``interpreter``, or inside ``image`` (the layer at ``/opt``, the
    function at ``/var/task``, Lambda's environment). A module given as
    ``module:attribute`` must also have that callable (a handler).
    """
    if scratch_dir is not None:
        scratch_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lambdalayer-import-", dir=scratch_dir) as scratch:
        root = Path(scratch)
        opt, task, results_dir = root / "opt", root / "task", root / "results"
        _extract_read_only(layers, opt, member_files or {})
        _extract_read_only(function_zips, task, member_files or {})
        results_dir.mkdir()
        _set_tree_mode(opt, writable=False)
        _set_tree_mode(task, writable=False)
        try:
            return _run_children(interpreter, target, modules, (opt, task, results_dir), image)
        finally:
            _set_tree_mode(opt, writable=True)
            _set_tree_mode(task, writable=True)


def _child_command(
    interpreter: Interpreter | None,
    target: Target,
    places: tuple[Path, Path, Path],
    image: ImageRun | None,
    results_name: str,
    modules: Sequence[str],
) -> tuple[list[str], dict[str, str], Path | None]:
    opt, task, results_dir = places
    version = target.runtime.python_version
    if image is None:
        assert interpreter is not None  # noqa: S101 - the caller passes one or the other
        paths = [str(task), *target.lambda_paths(str(opt))]
        argv = [str(interpreter.path), "-I", "-S", "-B", "-c", _child_source(),
                str(results_dir / results_name), os.pathsep.join(paths), *modules]  # fmt: skip
        environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
                       "LAMBDA_TASK_ROOT": str(task)}  # fmt: skip
        return argv, environment, task
    inside_results = f"{SANDBOX_TMP}/lambdalayer-results"
    paths = [
        "/var/task",
        *target.lambda_paths("/opt"),
        f"/var/lang/lib/python{version}/site-packages",
        "/var/runtime",
    ]
    argv = [image.interpreter, "-I", "-S", "-B", "-c", _child_source(),
            f"{inside_results}/{results_name}", os.pathsep.join(paths), *modules]  # fmt: skip
    mounts = [
        Mount(opt, "/opt"),
        Mount(task, "/var/task"),
        Mount(results_dir, inside_results, writable=True),
    ]
    command, environment = sandbox_command(
        image.sandbox, image.root, mounts, LAMBDA_ENVIRONMENT, argv, "/var/task"
    )
    return command, environment, None


def _run_children(
    interpreter: Interpreter | None,
    target: Target,
    modules: Sequence[str],
    places: tuple[Path, Path, Path],
    image: ImageRun | None,
) -> list[ImportResult]:
    results: list[ImportResult] = []
    remaining = list(modules)
    while remaining:
        name = f"results-{len(results)}.jsonl"
        command, environment, cwd = _child_command(
            interpreter, target, places, image, name, remaining
        )
        completed = subprocess.run(
            command, capture_output=True, text=True, env=environment, cwd=cwd,
            timeout=IMPORT_TIMEOUT_SECONDS, check=False,
        )  # fmt: skip
        results_file = places[2] / name
        lines = results_file.read_text().splitlines() if results_file.exists() else []
        done = [ImportResult(module, error) for module, error in map(json.loads, lines)]
        results += done
        remaining = remaining[len(done) :]
        if remaining:
            stderr_tail = (completed.stderr.strip().splitlines() or [""])[-1]
            if not done and image is not None and not results:
                raise LambdaLayerError(
                    f"the import check could not start inside the image ({image.sandbox.describe()},"
                    f" {image.interpreter}): exit code {completed.returncode} {stderr_tail}".strip(),
                    hint="check that the image is for the target's CPU and has the runtime's Python",
                )
            reason = (
                f"the interpreter died (exit code {completed.returncode}) {stderr_tail}".strip()
            )
            results.append(ImportResult(remaining.pop(0), reason))
    return results
