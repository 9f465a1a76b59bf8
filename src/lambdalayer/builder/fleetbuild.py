"""``lambdalayer build --all``: every layer and function package of a plan, built once.

The shared layers of every target are built first, concurrently (the fragment cache is
shared: a wheel made into files for one artefact is reused by every other); then every
function package, checked with exactly the layers it will have. Each artefact is built
from its own lock (the plan's versions, written beside its zip), so nothing is resolved
twice. Outputs are named by the plan:

    DIR/layers/shared-numpy-1a2b3c4d-python3.12-arm64.zip   (+ pylock.….toml)
    DIR/functions/Orders-python3.12-arm64.zip               (+ pylock.….toml)
    DIR/deploy/sam.json, terraform.auto.tfvars.json, cdk.context.json

With ``changed`` (the paths a commit range touched, :func:`changed_paths`), only what
they affect is rebuilt: a function whose code or requirements changed, an artefact whose
planned lock differs from the one on disk (or whose zip is missing), and a function one
of whose layers is rebuilt (it is checked with them again).
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from lambdalayer.aws.beneath import Beneath
from lambdalayer.builder.deployout import Planned, write_deploy_files
from lambdalayer.builder.fleet import FleetPlan, TargetPlan
from lambdalayer.builder.matrix import Outcome, run_jobs
from lambdalayer.builder.pipeline import Companions
from lambdalayer.builder.plan import Job, lock_name
from lambdalayer.builder.request import BuildRecipe, BuildRequest, FunctionCode
from lambdalayer.builder.ships import Ships, ShipsRequest, sbom_of_zip, ship, zip_inventory
from lambdalayer.cache import Bucket, Cache, cache_root
from lambdalayer.errors import InputError, LambdaLayerError, option
from lambdalayer.fsutil import atomic_write_bytes, file_sha256
from lambdalayer.identity import tool_identity
from lambdalayer.inputs.fleet import FleetFunction
from lambdalayer.layer.output import ZipOutput
from lambdalayer.lock import Lock, dump_pylock, read_pylock
from lambdalayer.net.index import IndexConfig
from lambdalayer.progress import Notify, quiet
from lambdalayer.recipe import BytecodeMode
from lambdalayer.resolve.stage import FromLock
from lambdalayer.sourcetree import read_source_tree
from lambdalayer.targets import Layout, Target

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class FleetOutputs:
    """Where a plan's artefacts go and how they are made."""

    directory: Path
    index: IndexConfig = field(default_factory=IndexConfig)
    cache_dir: Path = field(default_factory=cache_root)
    bytecode: BytecodeMode = BytecodeMode.UNCHECKED_HASH
    python: Path | None = None
    check: bool = True
    strict: bool = False  # a part of the check not verified fails the artefact
    changed: frozenset[Path] | None = None  # None: build everything
    # every chosen artefact built in this run, none taken as built before or from the cache
    # (a provenance attests a build made here)
    rebuild: bool = False
    # a shared cache (``--cache-url``): the zips are kept in the cache by their stamp and
    # taken from it; called first with the stamps about to be built (to bring them here)
    reuse: Callable[[Sequence[str]], None] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class FleetBuilt:
    """What ``build --all`` did: each artefact built (or why not), and what was left as it was."""

    artefacts: tuple[Planned, ...]
    outcomes: dict[Path, Outcome]  # by zip path
    unchanged: tuple[Planned, ...] = ()
    blocked: dict[Path, str] = field(default_factory=dict)  # a function whose layer failed
    deploy_files: tuple[Path, ...] = ()
    cached: dict[Path, str] = field(default_factory=dict)  # zips from the cache, their sha256

    @property
    def ok(self) -> bool:
        """Whether every artefact that was to be built was built."""
        return not self.blocked and all(o.error is None for o in self.outcomes.values())


def file_name(name: str) -> str:
    """A function's or layer's name as part of a file name (``A-Z a-z 0-9 - _``)."""
    return _UNSAFE.sub("_", name)[:100] or "_"


def planned_artefacts(plan: FleetPlan, directory: Path) -> list[Planned]:
    """Every artefact of ``plan``: the shared layers of each target, then the functions."""
    found: list[Planned] = []
    functions = {function.name: function for function in plan.fleet.functions}
    for target_plan in plan.targets:
        for layer in target_plan.share.layers:
            names = {package.name for package in layer.packages}
            lock = _subset(target_plan, layer.functions[0], names)
            found.append(_artefact("layer", layer.name, target_plan.target, directory, lock))
    for target_plan in plan.targets:
        for share in target_plan.share.functions:
            lock = _subset(target_plan, share.function, {package.name for package in share.own})
            artefact = _artefact("function", share.function, target_plan.target, directory, lock)
            found.append(replace(artefact, layers=share.layers, function=functions[share.function]))
    return found


def _subset(target_plan: TargetPlan, function: str, names: set[str]) -> Lock:
    """The packages ``names`` of ``function``'s lock, as a lock of their own."""
    lock = target_plan.locks[function]
    packages = tuple(package for package in lock.packages if package.name in names)
    return Lock(packages, lock.requires_python, target_plan.target.name)


def _artefact(kind: str, name: str, target: Target, directory: Path, lock: Lock) -> Planned:
    folder = directory / ("layers" if kind == "layer" else "functions")
    safe = file_name(name)
    return Planned(
        kind,
        name,
        target,
        folder / f"{safe}-{target.name}.zip",
        folder / lock_name(safe, target),
        dump_pylock(lock),
    )


def build_fleet(plan: FleetPlan, outputs: FleetOutputs, notify: Notify = quiet) -> FleetBuilt:
    """Build every artefact of ``plan`` that ``outputs.changed`` affects (all without it)."""
    artefacts = planned_artefacts(plan, outputs.directory)
    stamps = _stamps(artefacts, outputs)
    digests = {
        a.zip_path: sha
        for a in artefacts
        if not outputs.rebuild and (sha := _built_before(a, stamps))
    }
    chosen = [a for a in _affected(artefacts, outputs.changed) if a.zip_path not in digests]
    reuse = outputs.reuse is not None and not outputs.rebuild
    cached = _from_cache(chosen, stamps, outputs) if reuse else {}
    digests.update(cached)
    layer_zips = {(a.name, a.target): a.zip_path for a in artefacts if a.kind == "layer"}
    outcomes: dict[Path, Outcome] = {}
    blocked: dict[Path, str] = {}
    # each zip's stamp is written under the build's hold of the zip, with it as one set: a
    # stamp written once the hold was let go could record another run's zip as this one's
    stamped = Companions(
        lambda zip_path: [_stamp_path(zip_path)],
        lambda result: _record(result.output, stamps, result.layer.sha256),
    )
    for kind in ("layer", "function"):
        wave = [a for a in chosen if a.kind == kind and a.zip_path not in cached]
        for artefact in wave:
            artefact.lock_path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(artefact.lock_path, artefact.lock_text.encode("utf-8"))
        jobs = []
        for artefact in wave:
            failed = [
                name
                for name in artefact.layers
                if (found := outcomes.get(layer_zips[(name, artefact.target)])) and found.error
            ]
            if failed:
                blocked[artefact.zip_path] = f"its layer {failed[0]} failed to build"
                continue
            jobs.append(_job(artefact, outputs, layer_zips))
        ran = run_jobs(jobs, notify, stamped) if len(jobs) > 1 else _one(jobs, notify, stamped)
        for outcome in ran:
            outcomes[outcome.job.request.output.path] = outcome
            if outcome.result is not None:
                path, digest = outcome.job.request.output.path, outcome.result.layer.sha256
                digests[path] = digest
                if outputs.reuse is not None:
                    _keep(path, stamps[path], outputs.cache_dir)
    unchanged = tuple(a for a in artefacts if a not in chosen)
    built = FleetBuilt(tuple(artefacts), outcomes, unchanged, blocked, cached=cached)
    if not built.ok:
        return built
    written = write_deploy_files(plan, artefacts, digests, outputs.directory / "deploy")
    return replace(built, deploy_files=written)


def ships_of_fleet(
    built: FleetBuilt, request: ShipsRequest, index_url: str, cache_dir: Path
) -> dict[Path, Ships]:
    """What ``request`` asks of every zip of ``built`` that is there (built in this run, taken
    from the cache, or left as it was): its SBOM (``request.sbom`` is a directory, each
    named as its zip, :func:`sbom_of_zip`), its audit, and the provenance of its build; a
    function's inventory names what its shared layers provide. By zip path."""
    layer_zips = {(a.name, a.target): a.zip_path for a in built.artefacts if a.kind == "layer"}
    shipped: dict[Path, Ships] = {}
    for artefact in built.artefacts:
        outcome = built.outcomes.get(artefact.zip_path)
        failed = outcome is not None and outcome.result is None
        if failed or artefact.zip_path in built.blocked or not artefact.zip_path.is_file():
            continue
        layers = [layer_zips[(name, artefact.target)] for name in artefact.layers]
        lock = read_pylock(artefact.lock_path)
        inventory = zip_inventory(artefact.zip_path, lock, artefact.target, layers=layers)
        sbom = (
            None
            if request.sbom is None
            else sbom_of_zip(request.sbom, artefact.zip_path, request.sbom_format)
        )
        result = outcome.result if outcome is not None else None
        shipped[artefact.zip_path] = ship(
            inventory, replace(request, sbom=sbom), index_url, cache_dir, result
        )
    return shipped


def _from_cache(
    chosen: Sequence[Planned], stamps: dict[Path, str], outputs: FleetOutputs
) -> dict[Path, str]:
    """The artefacts of ``chosen`` whose zip the cache holds under their stamp, put in place
    (zip, lock and stamp, as a build leaves them): by zip path, their sha256.

    A stamp names everything the zip's bytes depend on (the tool, the lock, how it is made,
    the function's code, its layers' stamps, whether it was checked), and a zip is kept only
    once its build succeeded: the same zip this build would make and check.
    """
    if not chosen or outputs.reuse is None:
        return {}
    outputs.reuse([stamps[artefact.zip_path] for artefact in chosen])
    cache = Cache.at(outputs.cache_dir)
    found: dict[Path, str] = {}
    for artefact in chosen:
        stamp = stamps[artefact.zip_path]
        if not cache.admit(Bucket.ARTEFACTS, stamp):
            continue
        data = cache.mark(Bucket.ARTEFACTS, stamp).read_bytes()
        artefact.lock_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(artefact.lock_path, artefact.lock_text.encode("utf-8"))
        atomic_write_bytes(artefact.zip_path, data)
        digest = hashlib.sha256(data).hexdigest()
        _record(artefact.zip_path, stamps, digest)
        found[artefact.zip_path] = digest
    return found


def _keep(zip_path: Path, stamp: str, cache_dir: Path) -> None:
    """A zip just built, kept in the cache under its stamp (for :func:`_from_cache`)."""
    cache = Cache.at(cache_dir)
    if not cache.admit(Bucket.ARTEFACTS, stamp):
        cache.write(Bucket.ARTEFACTS, stamp, zip_path.read_bytes())


def _one(jobs: Sequence[Job], notify: Notify, companions: Companions) -> list[Outcome]:
    """None or one job, run as several are: its error kept in its outcome, not raised."""
    try:
        return run_jobs(jobs, notify, companions) if jobs else []
    except LambdaLayerError as error:
        return [Outcome(jobs[0], error=error)]


def _job(
    artefact: Planned, outputs: FleetOutputs, layer_zips: dict[tuple[str, Target], Path]
) -> Job:
    function = artefact.function
    recipe = BuildRecipe(
        Layout.FUNCTION if function else Layout.SITE_PACKAGES,
        bytecode=outputs.bytecode,
        python=outputs.python,
        function=FunctionCode(function.code_dir, function.handler) if function else None,
    )
    request = BuildRequest(
        artefact.target,
        FromLock(artefact.lock_path, outputs.index),
        ZipOutput(artefact.zip_path),
        recipe,
        check=outputs.check,
        strict=outputs.strict,
        beneath=Beneath(
            layers=tuple(layer_zips[(name, artefact.target)] for name in artefact.layers)
        ),
        cache_dir=outputs.cache_dir,
    )
    return Job(f"{artefact.kind} {artefact.name}", request)


def _affected(artefacts: Sequence[Planned], changed: frozenset[Path] | None) -> list[Planned]:
    """The artefacts to build: all, or those the changed paths (and changed plans) affect."""
    if changed is None:
        return list(artefacts)
    chosen: list[Planned] = []
    rebuilt_layers = set()
    for artefact in artefacts:  # the layers come first
        stale = not artefact.zip_path.is_file() or not _same_lock(artefact)
        touched = artefact.function is not None and _touches(artefact.function, changed)
        layer_rebuilt = any((name, artefact.target) in rebuilt_layers for name in artefact.layers)
        if stale or touched or layer_rebuilt:
            chosen.append(artefact)
            if artefact.kind == "layer":
                rebuilt_layers.add((artefact.name, artefact.target))
    return chosen


def _stamps(artefacts: Sequence[Planned], outputs: FleetOutputs) -> dict[Path, str]:
    """What each artefact's bytes depend on, as one digest: the tool, its lock, how it is
    made, a function's code, and the stamps of the layers it is checked with."""
    tool = tool_identity()
    recipe: list[object] = [outputs.bytecode.value, str(outputs.python), outputs.check]
    if outputs.strict:  # a zip kept by a build that was not strict is not taken as one that is
        recipe.append("strict")
    stamps: dict[Path, str] = {}
    layer_stamps: dict[tuple[str, Target], str] = {}
    for artefact in artefacts:  # the layers come first
        code = _code_digest(artefact.function.code_dir) if artefact.function else None
        layers = [layer_stamps.get((name, artefact.target), "") for name in artefact.layers]
        document = [tool, artefact.lock_text, recipe, code, layers, artefact.kind]
        stamp = hashlib.sha256(json.dumps(document).encode()).hexdigest()
        stamps[artefact.zip_path] = stamp
        if artefact.kind == "layer":
            layer_stamps[(artefact.name, artefact.target)] = stamp
    return stamps


def _code_digest(code_dir: Path) -> str:
    digest = hashlib.sha256()
    for item in read_source_tree(code_dir):
        digest.update(f"{item.relative}\0{item.mode:o}\0".encode() + item.data + b"\0")
    return digest.hexdigest()


def _stamp_path(zip_path: Path) -> Path:
    return zip_path.parent / ".stamps" / f"{zip_path.name}.json"


def _built_before(artefact: Planned, stamps: dict[Path, str]) -> str | None:
    """The zip's sha256 when it was built from exactly these inputs and is unchanged since
    (its size and time as recorded, else its sha256 read again); else ``None``."""
    try:
        recorded = json.loads(_stamp_path(artefact.zip_path).read_text("utf-8"))
        if recorded["stamp"] != stamps[artefact.zip_path]:
            return None
        facts = artefact.zip_path.stat()
        same = [facts.st_size, facts.st_mtime_ns] == recorded["file"]
        digest = str(recorded["sha256"])
        return digest if same or file_sha256(artefact.zip_path) == digest else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _record(zip_path: Path, stamps: dict[Path, str], sha256: str) -> None:
    path = _stamp_path(zip_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    facts = zip_path.stat()
    document = {
        "stamp": stamps[zip_path],
        "sha256": sha256,
        "file": [facts.st_size, facts.st_mtime_ns],
    }
    atomic_write_bytes(path, json.dumps(document).encode("utf-8"))


def _same_lock(artefact: Planned) -> bool:
    try:
        return artefact.lock_path.read_text("utf-8") == artefact.lock_text
    except (OSError, UnicodeDecodeError):
        return False


def _touches(function: FleetFunction, changed: frozenset[Path]) -> bool:
    """Whether a changed path is the function's code, its requirements or its deploy file."""
    mine = {function.origin.resolve(), *(path.resolve() for path in function.sources)}
    code = function.code_dir.resolve()
    return any(path in mine or path.is_relative_to(code) for path in changed)


def changed_paths(project_dir: Path, ref: str) -> frozenset[Path]:
    """The files changed since ``ref`` (committed, staged, in the working tree, or new)."""
    if ref.startswith("-"):
        raise InputError(f"{option('FleetOutputs.changed', ref[:60])} is not a git revision")

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", "-C", str(project_dir), *args],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise InputError(f"cannot run git in {project_dir}: {error}") from None
        if done.returncode != 0:
            first = (done.stderr.strip().splitlines() or ["failed"])[0]
            raise InputError(
                f"git in {project_dir}: {first[:200]}",
                hint=f"{option('FleetOutputs.changed')} takes a revision of the repository (a"
                " branch, tag or commit)",
            )
        return done.stdout

    top = Path(git("rev-parse", "--show-toplevel").strip())
    names = git("diff", "--name-only", "-z", ref, "--").split("\0")
    names += git("ls-files", "--others", "--exclude-standard", "--full-name", "-z").split("\0")
    return frozenset((top / name).resolve() for name in names if name)
