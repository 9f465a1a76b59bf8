"""Every function of a repository, from its deploy files and ``[tool.lambdalayer.functions]``.

The deploy files are read by :mod:`lambdalayer.inputs.deploy` (the reader ``init`` uses):
SAM and CloudFormation templates (``cdk.out`` too) and serverless.yml. Functions named in
``[tool.lambdalayer.functions.NAME]`` come from the configuration; a name in both is an
error (which one is meant cannot be guessed). Functions that are not ours to build (not
Python, container images, a runtime that cannot be resolved statically, no requirements)
are kept in ``skipped`` with the reason, never silently dropped.

>>> fleet = read_fleet(Path("."))  # doctest: +SKIP
>>> [(function.name, function.target.name) for function in fleet.functions]
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from lambdalayer.errors import InputError, TargetError
from lambdalayer.inputs.config import NamedFunction, ProjectConfig, load_config
from lambdalayer.inputs.deploy import DeployedFunction, find_deploy_files, read_deploy_file
from lambdalayer.inputs.requirements import Gathered, gather
from lambdalayer.targets import Target, get_target, parse_target
from lambdalayer.zipnames import printable


@dataclass(frozen=True)
class FleetFunction:
    """One function to plan: its code, target, requirements, and the layers it already has."""

    name: str
    code_dir: Path
    handler: str | None
    target: Target
    inputs: Gathered
    layers: tuple[str, ...]  # layers it already names (ARNs, other templates' layers)
    origin: Path  # the deploy file or configuration that defines it
    sources: tuple[Path, ...] = ()  # the files its requirements are read from


@dataclass(frozen=True)
class Fleet:
    """The functions of a repository; ``skipped``: those not planned, each with why."""

    functions: tuple[FleetFunction, ...]
    files: tuple[Path, ...]  # the deploy files and configuration read
    skipped: tuple[tuple[str, str], ...] = ()

    def targets(self) -> list[Target]:
        """The distinct targets of its functions, in name order."""
        return sorted({function.target for function in self.functions}, key=lambda t: t.name)


def read_fleet(project_dir: Path, deploy_files: tuple[Path, ...] = ()) -> Fleet:
    """The functions of the repository at ``project_dir``: the deploy files given (default: the
    ones found there, :func:`find_deploy_files`) and the configuration's functions table."""
    config = load_config(project_dir)
    files = list(deploy_files) or find_deploy_files(project_dir)
    functions: dict[str, FleetFunction] = {}
    skipped: list[tuple[str, str]] = []
    for path in files:
        for deployed in read_deploy_file(path).functions:
            planned = _from_deploy_file(deployed, path)
            if isinstance(planned, str):
                skipped.append((deployed.name, planned))
            else:
                _add(functions, planned)
    if config is not None:
        for named in config.functions:
            _add(functions, _from_config(named, config))
    if not functions and not skipped:
        raise InputError(
            f"no functions found in {project_dir}: no deploy file (template.yaml, serverless.yml,"
            " cdk.out/*.template.json) and no [tool.lambdalayer.functions] table",
            hint="name a deploy file elsewhere with --deploy-file FILE (a SAM or CloudFormation"
            " template, serverless.yml), or describe each function in pyproject.toml:"
            ' [tool.lambdalayer.functions.NAME] with source = "DIR" and target ='
            ' "python3.12-x86_64"',
        )
    read = [*files, *([config.path] if config is not None and config.functions else [])]
    ordered = tuple(functions[name] for name in sorted(functions))
    for function in ordered:
        _confined(function, project_dir)
    return Fleet(ordered, tuple(read), tuple(sorted(skipped)))


def _confined(function: FleetFunction, project_dir: Path) -> None:
    """A function's code is a directory inside the repository (links resolved): a deploy
    file or table of a hostile repository (a pull request's, on CI) must not package the
    runner's home or workspace into a function zip."""
    root, code = project_dir.resolve(), function.code_dir.resolve()
    if not code.is_relative_to(root) or not code.is_dir():
        raise InputError(
            f"function {function.name}'s code {printable(str(function.code_dir))} is not a"
            f" directory inside the repository {printable(str(root))} ({function.origin})",
            hint="keep each function's code in the repository; a deploy tool that stages code"
            " elsewhere (cdk.out) stages it inside it",
        )


def _add(functions: dict[str, FleetFunction], function: FleetFunction) -> None:
    if function.name in functions:
        raise InputError(
            f"function {function.name} is defined twice: in {functions[function.name].origin}"
            f" and in {function.origin}",
            hint="give each function one definition (rename one of them)",
        )
    functions[function.name] = function


def _not_planned(deployed: DeployedFunction) -> str | None:
    """Why a function of a deploy file is not ours to plan (``None``: it is)."""
    reasons = "; ".join(deployed.unresolved) or "no Runtime"
    checks = (
        (deployed.image, "a container-image function (build it with 'lambdalayer image build')"),
        (deployed.runtime is None, f"its runtime is not known statically ({reasons})"),
        (not deployed.is_python, f"not a Python function ({deployed.runtime})"),
        (deployed.code_dir is None, "its code directory is not a local path"),
        (
            deployed.requirements is None,
            f"no requirements.txt or pyproject.toml in {deployed.code_dir}",
        ),
    )
    return next((reason for failed, reason in checks if failed), None)


def _from_deploy_file(deployed: DeployedFunction, path: Path) -> FleetFunction | str:
    """The function to plan, or why it is not planned."""
    reason = _not_planned(deployed)
    if reason is not None:
        return reason
    assert deployed.runtime is not None and deployed.code_dir is not None  # noqa: S101 - checked above
    assert deployed.requirements is not None  # noqa: S101 - checked above
    try:
        target = get_target(deployed.runtime, deployed.arch)
    except TargetError as error:
        return error.message
    return FleetFunction(
        deployed.name,
        deployed.code_dir,
        deployed.handler,
        target,
        gather([], [deployed.requirements]),
        deployed.layers,
        path,
        (deployed.requirements,),
    )


def _from_config(named: NamedFunction, config: ProjectConfig) -> FleetFunction:
    """A ``[functions.NAME]`` table as a function to plan (its target, else the configuration's)."""
    inputs = named.inputs
    files = inputs.files or tuple(
        path for path in (named.source / "requirements.txt",) if path.is_file()
    )
    if not (inputs.requirements or files):
        raise InputError(
            f"{config.path}: functions.{named.name} names no requirements and"
            f" {named.source / 'requirements.txt'} does not exist",
            hint=f"add requirements = [...] or files = [...] to functions.{named.name}",
        )
    return FleetFunction(
        named.name,
        named.source.resolve(),
        named.handler,
        _config_target(named, config),
        gather(inputs.requirements, list(files), extras=inputs.extras, groups=inputs.groups),
        named.layers,
        config.path,
        tuple(files),
    )


def _config_target(named: NamedFunction, config: ProjectConfig) -> Target:
    if named.target is not None:
        return parse_target(named.target)
    if config.targets and len(config.targets) == 1:
        return parse_target(config.targets[0])
    runtimes, arches = config.runtimes, config.arches
    if len(runtimes) <= 1 and len(arches) <= 1:
        return get_target(runtimes[0] if runtimes else None, arches[0] if arches else None)
    raise InputError(
        f"{config.path}: functions.{named.name} has no target, and the configuration names several",
        hint=f'add target = "python3.12-arm64" (for example) to functions.{named.name}',
    )


def only_target(fleet: Fleet, target: Target) -> Fleet:
    """The functions of ``fleet`` that run on ``target`` (one job of a CI matrix)."""
    functions = tuple(function for function in fleet.functions if function.target == target)
    if not functions:
        names = ", ".join(found.name for found in fleet.targets()) or "none"
        raise InputError(
            f"no function of this repository runs on {target.name}",
            hint=f"its targets: {names}",
        )
    return replace(fleet, functions=functions)
