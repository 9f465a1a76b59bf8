"""The import stage of ``check``: on this machine's CPython, or inside a Lambda image.

Chooses where the imports run (an image given with ``--image``: its interpreter in a
sandbox; else a CPython of the runtime's X.Y found here) and turns failed imports into
findings. The running itself is :mod:`lambdalayer.check.imports`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.check.findings import Finding, Severity
from lambdalayer.check.image import image_root
from lambdalayer.check.imports import ImageRun, ImportResult, image_interpreter, run_imports
from lambdalayer.check.sandbox import find_sandbox
from lambdalayer.errors import InputError
from lambdalayer.interpreters import Interpreter, find_interpreter
from lambdalayer.targets import Target

HOST_LIBRARIES = (
    "on this machine's libraries, not Lambda's: a library this machine has and Lambda lacks is"
    " caught only by the static check above, or by --image"
)


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
) -> ImportOutcome:
    """Import the modules inside the image when one is given, else with a CPython found here."""
    if image is not None:
        runner, why_not = _image_run(image, target, sandbox)
        if runner is None:
            warning = Finding(
                Severity.WARNING, "import", f"imports not checked in the image: {why_not}"
            )
            return ImportOutcome(skipped=why_not, findings=(warning,))
        results = tuple(run_imports(None, target, modules, layers, functions, runner,
                                    member_files=member_files, scratch_dir=scratch_dir))  # fmt: skip
        ran_in = runner.describe(target)
    else:
        interpreter = find_interpreter(target.runtime.python_version, explicit=python)
        why_not = _why_no_imports(interpreter, target)
        if why_not is not None or interpreter is None:
            return ImportOutcome(skipped=why_not)
        results = tuple(run_imports(interpreter, target, modules, layers, functions,
                                    member_files=member_files, scratch_dir=scratch_dir))  # fmt: skip
        ran_in = HOST_LIBRARIES
    failures = tuple(
        Finding(
            Severity.ERROR, "import", f"import {result.module} failed: {result.error}", None, result.module,
            "see the message; a missing module usually means a missing dependency or a wrong target",
        )
        for result in results
        if not result.ok
    )  # fmt: skip
    return ImportOutcome(results, ran_in, None, failures)


def _image_run(
    image: Path, target: Target, sandbox: str | None
) -> tuple[ImageRun | None, str | None]:
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
    return ImageRun(root, interpreter, chosen), None


def _why_no_imports(interpreter: Interpreter | None, target: Target) -> str | None:
    version = target.runtime.python_version
    if interpreter is None:
        return f"no CPython {version} found (PATH, pyenv, uv-managed); imports not checked"
    if interpreter.machine != target.machine:
        return f"this machine is {interpreter.machine}, the layer is for {target.machine}; imports not checked"
    return None
