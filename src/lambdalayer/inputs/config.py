"""``[tool.lambdalayer]`` in pyproject.toml (or a ``lambdalayer.toml``): defaults and named layers.

    [tool.lambdalayer]
    runtime = "python3.12"
    arch = ["x86_64", "arm64"]

    [tool.lambdalayer.layers.core]
    requirements = ["requests", "pydantic>=2"]

    [tool.lambdalayer.layers.data]
    group = "data"

    [tool.lambdalayer.function]
    source = "src/app"
    handler = "app.main.handler"

    [tool.lambdalayer.functions.orders]   # one of many functions (lambdalayer plan)
    source = "functions/orders"
    handler = "app.handler"
    target = "python3.12-arm64"
    requirements = ["boto3", "pydantic>=2"]
    layers = ["arn:aws:lambda:eu-west-1:123456789012:layer:tracing:3"]

Command-line flags override the file. An unknown key is an error naming the key and file.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambdalayer.errors import InputError, TargetError
from lambdalayer.fsutil import read_text_file
from lambdalayer.inputs.ontopof import OnTopOf
from lambdalayer.inputs.policy import AuditPolicy, parse_policy
from lambdalayer.recipe import BytecodeMode
from lambdalayer.recipe import choices as bytecode_choices
from lambdalayer.targets import Layout, canonical_arch, get_runtime, parse_target

_TOP_KEYS = {
    "runtime",
    "targets",
    "arch",
    "output-dir",
    "layout",
    "bytecode",
    "index-url",
    "extra-index-url",
    "layers",
    "function",
    "functions",
    "audit",
    "allow-auth-host",
    "strict",
}
_INPUT_KEYS = {"requirements", "files", "extra", "extras", "group", "groups", "on-top-of"}
_FUNCTION_KEYS = _INPUT_KEYS | {"source", "handler"}
_FUNCTIONS_KEYS = _FUNCTION_KEYS | {"target", "layers"}


@dataclass(frozen=True)
class Inputs:
    """Where one artefact's requirements come from (empty: the project's dependencies)."""

    requirements: tuple[str, ...] = ()
    files: tuple[Path, ...] = ()
    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    on_top_of: OnTopOf | None = None

    @property
    def empty(self) -> bool:
        """Whether nothing was said, so the project's own dependencies are meant."""
        return not (self.requirements or self.files or self.extras or self.groups)


@dataclass(frozen=True)
class LayerSpec:
    """A named layer of the configuration."""

    name: str
    inputs: Inputs


@dataclass(frozen=True)
class FunctionSpec:
    """The function package of the configuration."""

    source: Path
    handler: str | None
    inputs: Inputs


@dataclass(frozen=True)
class NamedFunction:
    """One of the repository's functions (``[tool.lambdalayer.functions.NAME]``)."""

    name: str
    source: Path
    handler: str | None
    target: str | None  # "python3.12-arm64" (canonical); None: the configured/default target
    inputs: Inputs
    layers: tuple[str, ...] = ()  # layers it already has (ARNs), counted against the five


@dataclass(frozen=True)
class ProjectConfig:
    """The ``[tool.lambdalayer]`` table, checked and typed."""

    path: Path
    runtimes: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    targets: tuple[
        str, ...
    ] = ()  # (runtime, CPU) pairs by name, instead of every runtime with every arch
    output_dir: Path | None = None
    layout: Layout | None = None
    bytecode: BytecodeMode | None = None
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    layers: tuple[LayerSpec, ...] = ()
    function: FunctionSpec | None = None
    functions: tuple[NamedFunction, ...] = ()
    audit: AuditPolicy = field(default_factory=AuditPolicy)
    allow_auth_hosts: tuple[str, ...] = ()  # token services that may get registry credentials
    strict: bool = False  # a check that leaves a part not verified fails the build (for CI)


# A layer's name becomes part of a file name: the same characters Lambda allows for it.
_LAYER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,139}")


def _strings(value: Any, key: str, path: Path) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise InputError(f"{path}: {key} must be a string or a list of strings")


def _string(table: dict[str, Any], key: str, where: str, path: Path) -> str | None:
    """``table[key]`` when it is a string (or absent); otherwise one error naming the key."""
    value = table.get(key)
    if value is None or isinstance(value, str):
        return value
    raise InputError(
        f"{path}: {where}{key} must be a string, not {type(value).__name__} ({value!r:.40})"
    )


def _choice(
    table: dict[str, Any], key: str, where: str, path: Path, allowed: tuple[str, ...]
) -> str | None:
    value = _string(table, key, where, path)
    if value is not None and value not in allowed:
        raise InputError(
            f"{path}: {where}{key} = {value!r:.40} is not one of {', '.join(allowed)}",
            hint=f"set {where}{key} to one of: {', '.join(allowed)}",
        )
    return value


def _table(value: Any, key: str, path: Path) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    raise InputError(f"{path}: {key} must be a table, not {type(value).__name__} ({value!r:.40})")


def _check_keys(table: dict[str, Any], allowed: set[str], where: str, path: Path) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise InputError(
            f"unknown key '{where}{unknown[0]}' in {path}",
            hint=f"known keys here: {', '.join(sorted(allowed))}",
        )


def _inputs(table: dict[str, Any], where: str, path: Path) -> Inputs:
    base = path.parent
    return Inputs(
        requirements=_strings(table.get("requirements", []), f"{where}requirements", path),
        files=tuple(
            base / name for name in _strings(table.get("files", []), f"{where}files", path)
        ),
        extras=_strings(table.get("extras", table.get("extra", [])), f"{where}extras", path),
        groups=_strings(table.get("groups", table.get("group", [])), f"{where}groups", path),
        on_top_of=_on_top_of(table, where, path),
    )


def _on_top_of(table: dict[str, Any], where: str, path: Path) -> OnTopOf | None:
    spec = _string(table, "on-top-of", where, path)
    return OnTopOf.parse(spec, f"{path}: {where}on-top-of =") if spec is not None else None


def _runtimes(table: dict[str, Any], prefix: str, path: Path) -> tuple[str, ...]:
    """The configured runtimes, each a runtime lambdalayer knows (canonical names)."""
    names = _strings(table.get("runtime", []), f"{prefix}runtime", path)
    try:
        return tuple(get_runtime(name).name for name in names)
    except TargetError as error:
        raise InputError(f"{path}: {prefix}runtime: {error.message}", hint=error.hint) from error


def _arches(table: dict[str, Any], prefix: str, path: Path) -> tuple[str, ...]:
    names = _strings(table.get("arch", []), f"{prefix}arch", path)
    try:
        return tuple(canonical_arch(name) for name in names)
    except TargetError as error:
        raise InputError(f"{path}: {prefix}arch: {error.message}", hint=error.hint) from error


def _targets(table: dict[str, Any], prefix: str, path: Path) -> tuple[str, ...]:
    """``targets = ["python3.12-arm64", …]``: each pair a target lambdalayer knows."""
    names = _strings(table.get("targets", []), f"{prefix}targets", path)
    if names and ("runtime" in table or "arch" in table):
        raise InputError(
            f"{path}: {prefix}targets names (runtime, CPU) pairs; {prefix}runtime and"
            f" {prefix}arch make every combination: give one or the other",
            hint=f"keep {prefix}targets and remove {prefix}runtime/{prefix}arch",
        )
    try:
        return tuple(dict.fromkeys(parse_target(name).name for name in names))
    except TargetError as error:
        raise InputError(f"{path}: {prefix}targets: {error.message}", hint=error.hint) from error


def _layers(table: dict[str, Any], prefix: str, path: Path) -> tuple[LayerSpec, ...]:
    layers = []
    for name, value in _table(table.get("layers", {}), f"{prefix}layers", path).items():
        if not _LAYER_NAME.fullmatch(name):
            raise InputError(
                f"{path}: layer name {name!r:.60} is not 1-140 of A-Z a-z 0-9 - _",
                hint="a layer's name is part of its file names and of its Lambda name",
            )
        where = f"{prefix}layers.{name}."
        layer_table = _table(value, f"{prefix}layers.{name}", path)
        _check_keys(layer_table, _INPUT_KEYS, where, path)
        layers.append(LayerSpec(name, _inputs(layer_table, where, path)))
    return tuple(layers)


def _function(table: dict[str, Any], prefix: str, path: Path) -> FunctionSpec | None:
    if "function" not in table:
        return None
    function_table = _table(table["function"], f"{prefix}function", path)
    _check_keys(function_table, _FUNCTION_KEYS, f"{prefix}function.", path)
    source = _string(function_table, "source", f"{prefix}function.", path)
    if source is None:
        raise InputError(f"{path}: {prefix}function needs a source (the handler code's directory)")
    return FunctionSpec(
        source=path.parent / source,
        handler=_string(function_table, "handler", f"{prefix}function.", path),
        inputs=_inputs(function_table, f"{prefix}function.", path),
    )


def _named_functions(table: dict[str, Any], prefix: str, path: Path) -> tuple[NamedFunction, ...]:
    """``[functions.NAME]`` tables: each function's code, target, requirements and layers."""
    found = []
    for name, value in _table(table.get("functions", {}), f"{prefix}functions", path).items():
        where = f"{prefix}functions.{name}."
        if not _LAYER_NAME.fullmatch(name):
            raise InputError(
                f"{path}: function name {name!r:.60} is not 1-140 of A-Z a-z 0-9 - _",
                hint="a function's name is part of its file names",
            )
        function_table = _table(value, where.rstrip("."), path)
        _check_keys(function_table, _FUNCTIONS_KEYS, where, path)
        source = _string(function_table, "source", where, path)
        if source is None:
            raise InputError(f"{path}: {where.rstrip('.')} needs a source (its code's directory)")
        target = _string(function_table, "target", where, path)
        try:
            canonical = parse_target(target).name if target is not None else None
        except TargetError as error:
            raise InputError(f"{path}: {where}target: {error.message}", hint=error.hint) from error
        found.append(
            NamedFunction(
                name,
                path.parent / source,
                _string(function_table, "handler", where, path),
                canonical,
                _inputs(function_table, where, path),
                _strings(function_table.get("layers", []), f"{where}layers", path),
            )
        )
    return tuple(found)


def load_config(project_dir: Path) -> ProjectConfig | None:
    """The project's configuration: ``lambdalayer.toml``, else ``[tool.lambdalayer]`` of pyproject.toml.

    Every value is checked where it is read: a wrong type, an unknown choice or a layer
    name that is not a name is one :class:`InputError` naming the key and the file.
    """
    standalone = project_dir / "lambdalayer.toml"
    pyproject = project_dir / "pyproject.toml"
    if standalone.is_file():
        path, prefix = standalone, ""
        table = _read(standalone)
    elif pyproject.is_file():
        path, prefix = pyproject, "tool.lambdalayer."
        tool = _table(_read(pyproject).get("tool", {}), "tool", pyproject)
        if "lambdalayer" not in tool:
            return None
        table = _table(tool["lambdalayer"], "tool.lambdalayer", pyproject)
    else:
        return None
    _check_keys(table, _TOP_KEYS, prefix, path)
    output_dir = _string(table, "output-dir", prefix, path)
    layout = _choice(
        table, "layout", prefix, path, (Layout.SITE_PACKAGES.value, Layout.PYTHON.value)
    )
    bytecode = _choice(table, "bytecode", prefix, path, bytecode_choices())
    return ProjectConfig(
        path=path,
        runtimes=_runtimes(table, prefix, path),
        arches=_arches(table, prefix, path),
        targets=_targets(table, prefix, path),
        output_dir=path.parent / output_dir if output_dir is not None else None,
        layout=Layout(layout) if layout is not None else None,
        bytecode=BytecodeMode.parse(bytecode) if bytecode is not None else None,
        index_url=_string(table, "index-url", prefix, path),
        extra_index_urls=_strings(
            table.get("extra-index-url", []), f"{prefix}extra-index-url", path
        ),
        layers=_layers(table, prefix, path),
        function=_function(table, prefix, path),
        functions=_named_functions(table, prefix, path),
        audit=parse_policy(table.get("audit", {}), f"{prefix}audit", path),
        allow_auth_hosts=_strings(
            table.get("allow-auth-host", []), f"{prefix}allow-auth-host", path
        ),
        strict=_boolean(table, "strict", prefix, path),
    )


def _boolean(table: dict[str, Any], key: str, where: str, path: Path) -> bool:
    """``table[key]`` when it is true or false (absent: false); otherwise one error naming it."""
    value = table.get(key, False)
    if isinstance(value, bool):
        return value
    raise InputError(
        f"{path}: {where}{key} must be true or false, not {type(value).__name__} ({value!r:.40})",
        hint=f"set {where}{key} = true",
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(read_text_file(path, "configuration file"))
    except (tomllib.TOMLDecodeError, RecursionError) as error:
        raise InputError(f"cannot read {path}: {error}") from error
