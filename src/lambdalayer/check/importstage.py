"""The import stage of ``check``: always confined, inside a Lambda image or on this machine's libraries.

Chooses where the imports run (an image given with ``--image``: its interpreter; else a
CPython of the runtime's X.Y found here, with this machine's system directories
read-only) and the sandbox that confines them, and turns failed imports into findings. A
layer's code never runs unconfined: when no sandbox can confine it, the imports are not
run and the report says why. The running itself is :mod:`lambdalayer.check.imports`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.check.findings import Finding, Severity
from lambdalayer.check.image import image_root
from lambdalayer.check.imports import (
    DEFAULT_IMPORT_DEADLINE,
    ImportResult,
    SandboxRun,
    image_interpreter,
    run_imports,
)
from lambdalayer.check.sandbox import find_sandbox
from lambdalayer.errors import InputError
from lambdalayer.interpreters import find_interpreter
from lambdalayer.targets import Target


@dataclass(frozen=True)
class ImportOutcome:
    """What the import stage found, and where it ran (or why it did not)."""

    results: tuple[ImportResult, ...] = ()
    ran_in: str | None = None
    skipped: str | None = None
    findings: tuple[Finding, ...] = ()


def check_imports(
    target: Target,
    modules: Sequence[str],
    layers: Sequence[Path],
    functions: Sequence[Path],
    *,
    python: Path | None,
    image: Path | None,
    sandbox: str | None,
    member_files: Mapping[Path, Mapping[str, Path]] | None = None,
    scratch_dir: Path | None = None,
    deadline: float = DEFAULT_IMPORT_DEADLINE,
) -> ImportOutcome:
    """Import the modules, confined: inside the image when one is given, else on this machine's libraries."""
    runner, why_not = (
        _image_run(image, target, sandbox)
        if image is not None
        else _host_run(target, python, sandbox)
    )
    if runner is None:
        if image is None:  # no sandbox or no interpreter here: said in the report's imports line
            return ImportOutcome(skipped=why_not)
        warning = Finding(
            Severity.WARNING, "import", f"imports not checked in the image: {why_not}"
        )
        return ImportOutcome(skipped=why_not, findings=(warning,))
    results = tuple(run_imports(target, modules, layers, functions, runner,
                                member_files=member_files, scratch_dir=scratch_dir,
                                deadline=deadline))  # fmt: skip
    failures = tuple(
        Finding(
            Severity.ERROR, "import", f"import {result.module} failed: {result.error}", None,
            result.module, import_fix(result),
        )
        for result in results
        if not result.ok
    )  # fmt: skip
    return ImportOutcome(results, runner.describe(target), None, failures)


_MISSING_MODULE = re.compile(r"^ModuleNotFoundError: No module named '([^']+)'")


def import_fix(result: ImportResult) -> str:
    """What to do about one failed import, by what went wrong."""
    error = result.error or ""
    module, _, attribute = result.module.partition(":")
    if missing := _MISSING_MODULE.match(error):
        name = missing.group(1).split(".")[0]
        if name == module.split(".")[0]:
            return (
                f"{name} is not where Lambda looks: check the handler's module path and the layout"
            )
        return (
            f"{module} imports {name}, which nothing in the zips provides: add the distribution that"
            f" provides {name} to the requirements (or give the layer that has it with --with)"
        )
    if attribute and error.endswith(f"has no callable {attribute!r}"):
        return (
            f"{module} imports, but has no function {attribute}: check the handler's function name"
        )
    if "did not finish within" in error:
        return "an import that waits (a network call, a sleep) at module level: Lambda's init would wait too"
    if "GLIBC_" in error or "cannot open shared object file" in error:
        return "a native library the runtime lacks or too new for its glibc: see the library findings above"
    return "see the message: the module raised it while being imported"


def _image_run(
    image: Path, target: Target, sandbox: str | None
) -> tuple[SandboxRun | None, str | None]:
    """How to run the imports inside ``image``, or why they cannot run here."""
    root = image_root(image)
    version = target.runtime.python_version
    interpreter = image_interpreter(root, version)
    if interpreter is None:
        return (
            None,
            f"{root} has no python{version} (looked in /var/lang/bin, /usr/bin, /usr/local/bin)",
        )
    try:
        chosen = find_sandbox(target.machine, sandbox)
    except InputError as error:
        return None, f"{error.message} ({error.hint})" if error.hint else error.message
    return SandboxRun(root, interpreter, chosen), None


def _host_run(
    target: Target, python: Path | None, sandbox: str | None
) -> tuple[SandboxRun | None, str | None]:
    """How to run the imports on this machine's libraries (confined), or why they cannot run."""
    version = target.runtime.python_version
    interpreter = find_interpreter(version, explicit=python)
    if interpreter is None:
        return None, f"no CPython {version} found (PATH, pyenv, uv-managed); imports not checked"
    if interpreter.machine != target.machine:
        return (
            None,
            f"this machine is {interpreter.machine}, the layer is for {target.machine}; imports not checked",
        )
    try:
        chosen = find_sandbox(target.machine, sandbox, host_root=True)
    except InputError as error:
        reason = f"{error.message} ({error.hint})" if error.hint else error.message
        return None, f"{reason}; imports not checked"
    return SandboxRun.on_this_machine(interpreter, chosen), None
