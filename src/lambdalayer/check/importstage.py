"""The import stage of ``check``: always confined, in a root as close to Lambda's as there is.

Where the imports run, best first: an image given with ``--image DIR`` (or pulled with
``--image pull``); an image of the target pulled into the cache before; a root
synthesized from the runtime's library set (:mod:`lambdalayer.check.synthroot`, with a
CPython of the runtime's X.Y found here); and, last, this machine's own system
directories read-only (``--image host`` asks for that one). The report says which it was.
A layer's code never runs unconfined: when no sandbox can confine it, the imports are not
run and the report says why. The running itself is :mod:`lambdalayer.check.imports`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.check.findings import Finding, Kind, Severity
from lambdalayer.check.image import cached_image, image_root
from lambdalayer.check.imports import (
    ImportResult,
    Placement,
    SandboxRun,
    image_interpreter,
    run_imports,
)
from lambdalayer.check.request import ImportOptions
from lambdalayer.check.reuse import ImportResultCache
from lambdalayer.check.sandbox import find_sandbox
from lambdalayer.check.synthroot import synthesized_root
from lambdalayer.errors import InputError
from lambdalayer.interpreters import find_interpreter
from lambdalayer.targets import Target

HOST = Path("host")  # ``--image host``: this machine's own libraries, never a synthesized root


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
    placement: Placement,
    options: ImportOptions,
    cache_dir: Path | None = None,
) -> ImportOutcome:
    """Import the modules, confined, in the best root there is (see the module's docstring).

    ``options.image`` is an image's root, :data:`HOST` for this machine's libraries, or
    ``None`` for the best there is: a pulled image in ``cache_dir``, else the synthesized root.
    """
    image = options.image
    if image is None and cache_dir is not None:
        image = cached_image(cache_dir, target)
    if image is not None and image != HOST:
        runner, why_not = _image_run(image, target, options.sandbox)
    else:
        root_cache = None if image == HOST else cache_dir
        runner, why_not = _host_run(target, options.python, options.sandbox, root_cache)
    if runner is None:
        if image is None:  # no sandbox or no interpreter here: said in the report's imports line
            return ImportOutcome(skipped=why_not)
        warning = Finding(
            Severity.WARNING, Kind.IMPORT, f"imports not checked in the image: {why_not}"
        )
        return ImportOutcome(skipped=why_not, findings=(warning,))
    results, reused = _imports(target, modules, placement, runner, options.deadline, cache_dir)
    failures = tuple(
        Finding(
            Severity.ERROR,
            Kind.IMPORT,
            f"import {result.module} failed: {result.error}",
            None,
            result.module,
            import_fix(result),
        )
        for result in results
        if not result.ok
    )
    ran_in = runner.describe(target)
    if reused:
        ran_in += f"; {reused} of them as when they last imported, their distributions unchanged"
    return ImportOutcome(results, ran_in, None, failures)


def _imports(
    target: Target,
    modules: Sequence[str],
    placement: Placement,
    runner: SandboxRun,
    deadline: float,
    cache_dir: Path | None,
) -> tuple[tuple[ImportResult, ...], int]:
    """Every module's result, and how many were known from before (see :mod:`.reuse`)."""
    keys = placement.module_keys
    cache = ImportResultCache(cache_dir, runner.describe(target)) if cache_dir and keys else None
    known = {m for m in modules if cache and m in keys and cache.imported_before(keys[m])}
    to_run = [module for module in modules if module not in known]
    ran = run_imports(target, to_run, placement, runner, deadline) if to_run else []
    by_module = {result.module: result for result in ran}
    for result in ran:
        if cache and result.ok and result.module in keys:
            cache.store(keys[result.module])
    results = tuple(by_module.get(module, ImportResult(module, None)) for module in modules)
    return results, len(known)


MISSING_MODULE = re.compile(r"^ModuleNotFoundError: No module named '([^']+)'")


# Failures by what their message says, and what to do; the first that matches is given.
_FIXES = (
    (
        "did not finish within",
        "an import that waits (a network call, a sleep) at module level:"
        " Lambda's init would wait too",
    ),
    (
        "library not found",
        "a library loaded at import that this root (Lambda's library set) lacks:"
        " use a package that bundles it (psycopg[binary], opencv-python-headless), or put the"
        " library"
        " in a layer's lib/ (on LD_LIBRARY_PATH as /opt/lib)",
    ),
    (
        "cannot open shared object file",
        "a library loaded at import that this root (Lambda's library"
        " set) lacks: use a package that bundles it, or put the library in a layer's lib/"
        " (/opt/lib)",
    ),
    ("GLIBC_", "a native library too new for the runtime's glibc: see the library findings above"),
)


def import_fix(result: ImportResult) -> str:
    """What to do about one failed import, by what went wrong."""
    error = result.error or ""
    module, _, attribute = result.module.partition(":")
    if missing := MISSING_MODULE.match(error):
        name = missing.group(1).split(".")[0]
        if name == module.split(".")[0]:
            return (
                f"{name} is not where Lambda looks: check the handler's module path and the layout"
            )
        return (
            f"{module} imports {name}, which nothing in the zips provides: add the distribution"
            " that"
            f" provides {name} to the requirements (or give the layer that has it with --with)"
        )
    if attribute and error.endswith(f"has no callable {attribute!r}"):
        return (
            f"{module} imports, but has no function {attribute}: check the handler's function name"
        )
    fix = next((text for clue, text in _FIXES if clue in error), None)
    return fix or "see the message: the module raised it while being imported"


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
    target: Target, python: Path | None, sandbox: str | None, cache_dir: Path | None
) -> tuple[SandboxRun | None, str | None]:
    """How to run the imports with a CPython found here (confined), or why they cannot run.

    With ``cache_dir``, in the root synthesized from the runtime's library set; without
    one (or when it cannot be made), on this machine's own libraries.
    """
    version = target.runtime.python_version
    interpreter = find_interpreter(version, explicit=python)
    if interpreter is None:
        return None, f"no CPython {version} found (PATH, pyenv, uv-managed); imports not checked"
    if interpreter.machine != target.machine:
        return (
            None,
            f"this machine is {interpreter.machine}, the layer is for {target.machine}; imports"
            " not checked",
        )
    try:
        chosen = find_sandbox(target.machine, sandbox, host_root=True)
    except InputError as error:
        reason = f"{error.message} ({error.hint})" if error.hint else error.message
        return None, f"{reason}; imports not checked"
    root = synthesized_root(target, interpreter, cache_dir) if cache_dir is not None else None
    if root is not None:
        inside = f"/var/lang/bin/python{version}"
        return SandboxRun(
            root.rootfs, inside, chosen, label=root.describe(target, interpreter)
        ), None
    return SandboxRun.on_this_machine(interpreter, chosen), None
