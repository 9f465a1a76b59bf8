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

Command-line flags override the file. An unknown key is an error naming the key and file.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdalayer.errors import InputError
from lambdalayer.fsutil import read_text_file

_TOP_KEYS = {
    "runtime", "arch", "output-dir", "layout", "bytecode", "index-url", "extra-index-url",
    "layers", "function",
}  # fmt: skip
_INPUT_KEYS = {"requirements", "files", "extra", "extras", "group", "groups", "on-top-of"}
_FUNCTION_KEYS = _INPUT_KEYS | {"source", "handler"}


@dataclass(frozen=True)
class Inputs:
    """Where one artefact's requirements come from (empty: the project's dependencies)."""

    requirements: tuple[str, ...] = ()
    files: tuple[Path, ...] = ()
    extras: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    on_top_of: str | None = None

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
class ProjectConfig:
    """The ``[tool.lambdalayer]`` table, checked and typed."""

    path: Path
    runtimes: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    output_dir: Path | None = None
    layout: str | None = None
    bytecode: str | None = None
    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    layers: tuple[LayerSpec, ...] = ()
    function: FunctionSpec | None = None


def _strings(value: Any, key: str, path: Path) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise InputError(f"{path}: {key} must be a string or a list of strings")


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
        on_top_of=table.get("on-top-of"),
    )


def load_config(project_dir: Path) -> ProjectConfig | None:
    """The project's configuration: ``lambdalayer.toml``, else ``[tool.lambdalayer]`` of pyproject.toml."""
    standalone = project_dir / "lambdalayer.toml"
    pyproject = project_dir / "pyproject.toml"
    if standalone.is_file():
        path, prefix = standalone, ""
        table = _read(standalone)
    elif pyproject.is_file():
        path, prefix = pyproject, "tool.lambdalayer."
        table = _read(pyproject).get("tool", {}).get("lambdalayer")
        if table is None:
            return None
    else:
        return None
    _check_keys(table, _TOP_KEYS, prefix, path)
    layers = []
    for name, layer_table in table.get("layers", {}).items():
        _check_keys(layer_table, _INPUT_KEYS, f"{prefix}layers.{name}.", path)
        layers.append(LayerSpec(name, _inputs(layer_table, f"{prefix}layers.{name}.", path)))
    function = None
    if "function" in table:
        function_table = table["function"]
        _check_keys(function_table, _FUNCTION_KEYS, f"{prefix}function.", path)
        if "source" not in function_table:
            raise InputError(
                f"{path}: {prefix}function needs a source (the handler code's directory)"
            )
        function = FunctionSpec(
            source=path.parent / function_table["source"],
            handler=function_table.get("handler"),
            inputs=_inputs(function_table, f"{prefix}function.", path),
        )
    return ProjectConfig(
        path=path,
        runtimes=_strings(table.get("runtime", []), f"{prefix}runtime", path),
        arches=_strings(table.get("arch", []), f"{prefix}arch", path),
        output_dir=path.parent / table["output-dir"] if "output-dir" in table else None,
        layout=table.get("layout"),
        bytecode=table.get("bytecode"),
        index_url=table.get("index-url"),
        extra_index_urls=_strings(
            table.get("extra-index-url", []), f"{prefix}extra-index-url", path
        ),
        layers=tuple(layers),
        function=function,
    )


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(read_text_file(path, "configuration file"))
    except (tomllib.TOMLDecodeError, RecursionError) as error:
        raise InputError(f"cannot read {path}: {error}") from error
