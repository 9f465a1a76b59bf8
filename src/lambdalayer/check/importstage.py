"""The import stage of ``check``: always confined, in a root as close to Lambda's as there is.

Where the imports run, best first: an image given with ``--image DIR`` (or pulled with
``--image pull``); an image of the target pulled into the cache before; a root
synthesized from the runtime's library set (:mod:`lambdalayer.environment.synthroot`, with a
CPython of the runtime's X.Y found here); and, last, this machine's own system
directories read-only (``--image host`` asks for that one). The report says which it was.
A layer's code never runs unconfined: when no sandbox can confine it, the imports are not
run and the report says why. The running itself is :mod:`lambdalayer.environment.imports`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from lambdalayer.check.findings import Finding, Kind, Severity
from lambdalayer.check.request import ImportOptions
from lambdalayer.check.reuse import ImportResultCache
from lambdalayer.environment.image import cached_image
from lambdalayer.environment.imports import (
    Deployment,
    ImportResult,
    SandboxRun,
    run_imports,
)
from lambdalayer.environment.roots import HOST, host_run, image_run
from lambdalayer.environment.runtimepkgs import runtime_packages, runtime_tree
from lambdalayer.errors import LambdaLayerError
from lambdalayer.net.index import IndexConfig
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
    deployment: Deployment,
    options: ImportOptions,
    cache_dir: Path | None = None,
    module_keys: Mapping[str, str] | None = None,
) -> ImportOutcome:
    """Import the modules, confined, in the best root there is (see the module's docstring).

    ``options.image`` is an image's root, :data:`HOST` for this machine's libraries, or
    ``None`` for the best there is: a pulled image in ``cache_dir``, else the synthesized root.
    The files are placed for the sandbox under ``cache_dir``'s ``tmp`` (beside the fragments
    they link to). ``module_keys``: for the modules whose result may be reused, what that
    result depends on (see :mod:`lambdalayer.check.reuse`).
    """
    image = options.image
    if image is None and cache_dir is not None:
        image = cached_image(cache_dir, target)
    if image is not None and image != HOST:
        runner, why_not = image_run(image, target, options.sandbox)
    else:
        root_cache = None if image == HOST else cache_dir
        runner, why_not = host_run(target, options.python, options.sandbox, root_cache)
    if runner is None:
        if image is None:  # no sandbox or no interpreter here: said in the report's imports line
            return ImportOutcome(skipped=why_not)
        warning = Finding(
            Severity.WARNING, Kind.IMPORT, f"imports not checked in the image: {why_not}"
        )
        return ImportOutcome(skipped=why_not, findings=(warning,))
    run = _Run(
        runner, options.deadline, cache_dir, options.index, in_image=image not in (None, HOST)
    )
    results, reused, runtime = _imports(target, modules, deployment, module_keys or {}, run)
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
    if runtime.mounted is not None:
        ran_in += f"; with {runtime.mounted} at /var/runtime"
    notes = (runtime.failure,) if runtime.failure else ()
    return ImportOutcome(results, ran_in, None, failures + notes)


@dataclass(frozen=True)
class _Run:
    """How the imports run, and where the runtime's packages come from when one is needed."""

    runner: SandboxRun
    deadline: float
    cache_dir: Path | None
    index: IndexConfig | None
    in_image: bool  # a real image has its own /var/runtime


@dataclass(frozen=True)
class _Runtime:
    """Whether the runtime's packages were mounted (what they are), or why they could not be."""

    mounted: str | None = None
    failure: Finding | None = None


def _imports(
    target: Target,
    modules: Sequence[str],
    deployment: Deployment,
    keys: Mapping[str, str],
    run: _Run,
) -> tuple[tuple[ImportResult, ...], int, _Runtime]:
    """Every module's result, how many were known from before (see :mod:`.reuse`), and the
    runtime's packages, mounted when a module failed for want of one of them."""
    cache = None
    if run.cache_dir and keys:
        cache = ImportResultCache(run.cache_dir, run.runner.describe(target))
    known = {m for m in modules if cache and m in keys and cache.imported_before(keys[m])}
    to_run = [module for module in modules if module not in known]
    ran = _run(target, to_run, deployment, run) if to_run else []
    ran, runtime = _with_runtime_packages(target, ran, deployment, run)
    by_module = {result.module: result for result in ran}
    for result in ran:
        if cache and result.ok and result.module in keys:
            cache.store(keys[result.module])
    results = tuple(by_module.get(module, ImportResult(module, None)) for module in modules)
    return results, len(known), runtime


def _run(
    target: Target, modules: Sequence[str], deployment: Deployment, run: _Run
) -> list[ImportResult]:
    scratch = run.cache_dir / "tmp" if run.cache_dir is not None else None
    return run_imports(target, modules, deployment, run.runner, run.deadline, scratch)


def _with_runtime_packages(
    target: Target, results: list[ImportResult], deployment: Deployment, run: _Run
) -> tuple[list[ImportResult], _Runtime]:
    """The results, with the modules that failed for want of a runtime package imported again
    with the runtime's packages at /var/runtime (see :mod:`lambdalayer.environment.runtimepkgs`)."""
    packages = runtime_packages(target)
    if run.in_image or packages is None or run.cache_dir is None:
        return results, _Runtime()
    needing = [
        result.module
        for result in results
        if (missing := MISSING_MODULE.match(result.error or ""))
        and missing.group(1).split(".")[0] in packages.modules
    ]
    if not needing:
        return results, _Runtime()
    try:
        tree = runtime_tree(target, run.cache_dir, run.index or IndexConfig())
    except LambdaLayerError as error:
        failure = Finding(
            Severity.WARNING,
            Kind.IMPORT,
            f"the runtime's own packages (boto3, …) could not be had here: {error.message}; the"
            " modules that import them were checked without them",
        )
        return results, _Runtime(failure=failure)
    if tree is None:
        return results, _Runtime()
    again = _run(target, needing, replace(deployment, runtime=tree.path), run)
    by_module = {result.module: result for result in again}
    return [by_module.get(result.module, result) for result in results], _Runtime(
        tree.packages.describe()
    )


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
    (
        "executable",
        "a program run at import that Lambda's runtimes do not have (GitPython's git, for one):"
        " ship the program in a layer's bin/ (on PATH as /opt/bin), or set the package up not"
        " to need it",
    ),
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
