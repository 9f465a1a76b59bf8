"""The import stage of ``check``: always confined, in a root as close to Lambda's as there is.

Where the imports run is the environment's choice (:func:`lambdalayer.environment.roots.code_root`:
an image given or pulled before, else the root synthesized from the runtime's library set;
this machine's own libraries only when asked); the report says which it was. A layer's code
never runs unconfined: when no sandbox can confine it, the imports are not run and the
report says why. The running itself is :mod:`lambdalayer.environment.imports`; this module
judges what it found, from the results' facts (never by reading a message again).

The runtime's own packages (``/var/runtime``) are mounted when the caller prepared them
(:attr:`ImportOptions.runtime`): the check itself never fetches anything. When modules fail
for want of them and none were given, the outcome says which (``runtime_wanted``), so that
the caller may prepare them and check again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from lambdalayer.cache import Cache
from lambdalayer.check.findings import Finding, Kind, Severity
from lambdalayer.check.providers import what_to_add
from lambdalayer.check.request import ImportOptions
from lambdalayer.check.reuse import ImportResultCache, Reuse
from lambdalayer.environment.imports import Deployment, SandboxRun, run_imports
from lambdalayer.environment.roots import CodeRoot, code_root
from lambdalayer.errors import option
from lambdalayer.importresult import ImportResult
from lambdalayer.runtimepackages import runtime_packages
from lambdalayer.targets import Target


@dataclass(frozen=True)
class ImportOutcome:
    """What the import stage found, and where it ran (or why it did not); ``runtime_wanted``:
    the modules that failed for want of the runtime's own packages, which were not given."""

    results: tuple[ImportResult, ...] = ()
    ran_in: str | None = None
    skipped: str | None = None
    findings: tuple[Finding, ...] = ()
    runtime_wanted: tuple[str, ...] = ()
    stand_in: bool = False  # the root's libraries are this machine's builds, not Lambda's
    how: str | None = None  # when skipped: the one thing that gets the imports run
    needed: bool = True  # False: nothing was there to import (nothing left unverified)
    providers_wanted: tuple[str, ...] = ()  # project names to ask the index (check.providers)


def check_imports(
    target: Target,
    modules: Sequence[str],
    deployment: Deployment,
    options: ImportOptions,
    cache_dir: Path | None = None,
    reuse: Reuse | None = None,
) -> ImportOutcome:
    """Import the modules, confined, in the best root there is (see the module's docstring).

    ``options.image`` is an image's root, :data:`~lambdalayer.environment.roots.HOST` for
    this machine's libraries, or ``None`` for the best there is. The files are placed for
    the sandbox under ``cache_dir``'s ``tmp`` (beside the fragments they link to).
    ``reuse``: for the modules whose result may be reused, what that result depends on
    (see :mod:`lambdalayer.check.reuse`).
    """
    root = code_root(target, options.image, options.python, options.sandbox, cache_dir)
    if root.run is None:  # no sandbox, no interpreter: the imports are not verified
        where = "" if root.image is None else "in the image: "
        return ImportOutcome(skipped=f"{where}{root.why_not}", how=root.how)
    runtime = options.runtime if root.image is None else None  # an image has its own
    if runtime is not None:
        deployment = replace(deployment, runtime=runtime.path)
    run = _Run(root.run, root.label, options.deadline, cache_dir)
    results, reused = _imports(target, modules, deployment, reuse or Reuse(), run)
    ran_in = root.label
    if reused:
        ran_in += f"; {reused} of them as when they last imported, their distributions unchanged"
    if runtime is not None:
        ran_in += f"; with {runtime.packages.describe()} at /var/runtime"
    wanted = () if runtime is not None else _runtime_wanted(target, results, root)
    stand_in = root.image is None
    if wanted and options.runtime_unavailable:
        # Failed for want of what Lambda has at /var/runtime, which could not be had here:
        # not a failure of the layer, and not verified either.
        failures = tuple(item for item in _failures(results) if item.package not in wanted)
        why = (
            f"{', '.join(wanted)} need the runtime's own packages (boto3, …), which could not be"
            f" had here: {options.runtime_unavailable}"
        )
        how = "check where the package index is reachable (the runtime's packages come from it)"
        return ImportOutcome(results, ran_in, why, failures, wanted, stand_in, how)
    return ImportOutcome(results, ran_in, None, _failures(results), wanted, stand_in)


def _failures(results: Sequence[ImportResult]) -> tuple[Finding, ...]:
    return tuple(
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


@dataclass(frozen=True)
class _Run:
    """How the imports run."""

    runner: SandboxRun
    label: str  # where: the import results' cache tells roots apart by it
    deadline: float
    cache_dir: Path | None


def _imports(
    target: Target,
    modules: Sequence[str],
    deployment: Deployment,
    reuse: Reuse,
    run: _Run,
) -> tuple[tuple[ImportResult, ...], int]:
    """Every module's result, and how many were known from before (see :mod:`.reuse`)."""
    cache = None
    keys = reuse.keys
    if run.cache_dir and keys:
        cache = ImportResultCache(run.cache_dir, run.label)
    known = {m for m in modules if cache and m in keys and cache.imported_before(keys[m], reuse)}
    to_run = [module for module in modules if module not in known]
    ran = _run(target, to_run, deployment, run) if to_run else []
    by_module = {result.module: result for result in ran}
    for result in ran:
        seen = reuse.seen(result) if cache and result.ok and result.module in keys else None
        if cache and seen is not None:
            cache.store(keys[result.module], seen)
    results = tuple(by_module.get(module, ImportResult(module, None)) for module in modules)
    return results, len(known)


def _run(
    target: Target, modules: Sequence[str], deployment: Deployment, run: _Run
) -> list[ImportResult]:
    """Run the imports, placing the files in the cache's scratch (beside the fragments)."""
    if run.cache_dir is None:
        return run_imports(target, modules, deployment, run.runner, run.deadline, None)
    with Cache.at(run.cache_dir).scratch("imports-") as scratch:  # beside the fragments it links
        return run_imports(target, modules, deployment, run.runner, run.deadline, scratch)


def _runtime_wanted(
    target: Target, results: Sequence[ImportResult], root: CodeRoot
) -> tuple[str, ...]:
    """The modules that failed for want of one of the runtime's own packages (a root with
    its own /var/runtime, an image, wants nothing)."""
    packages = runtime_packages(target)
    if root.image is not None or packages is None:
        return ()
    return tuple(
        result.module
        for result in results
        if any(name.split(".")[0] in packages.modules for name in result.wanted)
    )


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
    if result.missing is not None:
        name = result.missing.split(".")[0]
        if result.imported and result.imported.startswith(name + "."):
            name = result.imported
        if name == module.split(".")[0]:
            return (
                f"{name} is not where Lambda looks: check the handler's module path and the layout"
            )
        return (
            f"{module} imports {name}, which nothing in the zips provides: add"
            f" {what_to_add(name)} to the requirements (or give the layer that has it with"
            f" {option('CheckRequest.with_zips')})"
        )
    if attribute and result.no_callable == attribute:
        return (
            f"{module} imports, but has no function {attribute}: check the handler's function name"
        )
    fix = next((text for clue, text in _FIXES if clue in error), None)
    if fix is not None:
        return fix
    where = f" at {result.where}" if result.where else ""
    return (
        f"{module} raised {error.partition(':')[0] or 'an exception'}{where} while being"
        " imported: pin an earlier release of the distribution that file belongs to (or leave"
        " out what needs it), and report it to its maintainers"
    )
