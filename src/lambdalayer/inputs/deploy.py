"""The functions a repository deploys, read from its deploy tool's file: one reader for all.

- **SAM / CloudFormation** templates (YAML with the short intrinsic tags, or JSON — what
  ``cdk synth`` writes into ``cdk.out/*.template.json``): ``AWS::Serverless::Function``
  with ``Globals.Function`` defaults, and ``AWS::Lambda::Function`` (CDK assets give the
  code's directory through ``aws:asset:path``);
- **serverless.yml**: ``provider`` defaults and ``functions``, ``${self:…}`` variables;

For each function: its code directory, handler, runtime, CPU, the layers it names and the
requirements file in its code directory. A value given by an intrinsic function is
resolved where it is static (a parameter's default, a mapping, a layer of the same
template); otherwise the field is left ``None`` and the reason kept in ``unresolved``.
Nothing here guesses: what cannot be known is said.

>>> deploy = read_deploy_file(Path("template.yaml"))  # doctest: +SKIP
>>> {(f.runtime, f.arch) for f in deploy.functions}
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lambdalayer.errors import InputError
from lambdalayer.fsutil import read_text_file

DEPLOY_FILES = (
    "template.yaml",
    "template.yml",
    "template.json",
    "serverless.yml",
    "serverless.yaml",
)
MAX_NODES = 200_000  # a template is kB; aliases that multiply past this are hostile
_INTRINSICS = [
    "Base64",
    "Cidr",
    "FindInMap",
    "GetAtt",
    "GetAZs",
    "ImportValue",
    "Join",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "If",
    "Equals",
    "And",
    "Or",
    "Not",
    "Condition",
    "ToJsonString",
    "Length",
]
_ARCHES = {"arm64": "arm64", "x86_64": "x86_64"}
_SLS_VARIABLE = re.compile(r"\$\{([^{}]+)\}")
LOCAL_LAYER = "layer in this template: "  # how a layer of the same template is named


@dataclass(frozen=True)
class DeployedFunction:
    """One function a deploy file defines, as far as the file says."""

    name: str
    handler: str | None
    runtime: str | None
    arch: str | None
    code_dir: Path | None
    layers: tuple[str, ...] = ()
    requirements: Path | None = None
    image: bool = False  # a container-image function (PackageType: Image)
    unresolved: tuple[str, ...] = ()  # "Runtime: !Ref RuntimeParam (no default)", …

    @property
    def is_python(self) -> bool:
        """Whether the function runs on a Python runtime (others are not ours to build)."""
        return self.runtime is not None and self.runtime.startswith("python")


@dataclass(frozen=True)
class DeclaredLayer:
    """A layer the deploy file builds itself (``AWS::Serverless::LayerVersion``, ``layers:``)."""

    name: str
    content_dir: Path | None
    runtimes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeployFile:
    """What a deploy file defines: its functions and layers, and what it could not resolve."""

    path: Path
    kind: str  # "sam", "cloudformation", "serverless"
    functions: tuple[DeployedFunction, ...]
    layers: tuple[DeclaredLayer, ...] = ()
    notes: tuple[str, ...] = ()

    def targets(self) -> list[tuple[str, str]]:
        """The distinct (runtime, CPU) pairs of its Python zip functions, in file order (a
        function whose runtime or CPU is not static is left out: see :meth:`left_out`)."""
        seen: list[tuple[str, str]] = []
        for function in self.functions:
            if function.is_python and not function.image and function.arch:
                pair = (str(function.runtime), function.arch)
                if pair not in seen:
                    seen.append(pair)
        return seen

    def left_out(self) -> list[DeployedFunction]:
        """The zip functions :meth:`targets` cannot place: their runtime or CPU is not static
        (an intrinsic with nothing to resolve it by), so neither is known."""
        return [
            function
            for function in self.functions
            if not function.image
            and (function.runtime is None or function.arch is None)
            and any(note.split(": ", 1)[0].endswith(_TARGET_KEYS) for note in function.unresolved)
        ]


# The keys a function's target comes from (CloudFormation/SAM's, serverless.yml's).
_TARGET_KEYS = (".Runtime", ".Architectures", ".runtime", ".architecture")


class _Loader(yaml.SafeLoader):
    """YAML as CloudFormation writes it: ``!Ref X`` is ``{"Ref": X}``, ``!Sub s`` is ``{"Fn::Sub": s}``."""


def _intrinsic(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {"Ref" if name == "Ref" else f"Fn::{name}": value}

    return construct


_Loader.add_constructor("!Ref", _intrinsic("Ref"))
for _name in _INTRINSICS:
    _Loader.add_constructor(f"!{_name}", _intrinsic(_name))


def _count_nodes(value: Any, budget: list[int]) -> None:
    """Walk ``value`` once, failing when it holds more than :data:`MAX_NODES` nodes."""
    stack = [value]
    while stack:
        item = stack.pop()
        budget[0] -= 1
        if budget[0] < 0:
            raise InputError("the deploy file expands to over 200,000 values: not a template")
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _parse(path: Path) -> Any:
    text = read_text_file(path, "deploy file", limit=4 * 1024 * 1024)
    try:
        document = (
            json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader with CloudFormation's tags
        )
    except (yaml.YAMLError, ValueError, RecursionError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(
            f"{path} is not a readable deploy file: {first[:200]}",
            hint="check it with the deploy tool (sam validate, cfn-lint, serverless print)",
        ) from None
    _count_nodes(document, [MAX_NODES])
    if not isinstance(document, dict):
        raise InputError(f"{path} is not a deploy file: its top level is not a mapping")
    return document


def read_deploy_file(path: Path) -> DeployFile:
    """The functions and layers of a SAM/CloudFormation template or serverless.yml."""
    document = _parse(path)
    if ("service" in document and "functions" in document) or path.name.startswith("serverless."):
        return _serverless(path, document)
    if "Resources" in document:
        return _template(path, document)
    raise InputError(
        f"{path} is neither a CloudFormation/SAM template (no Resources) nor a serverless.yml"
        " (no service and functions)",
    )


def find_deploy_files(project_dir: Path) -> list[Path]:
    """The deploy files in ``project_dir``: the known names, then ``cdk.out``'s templates.

    Whatever is at a known name but a directory is one: a FIFO, a device or a dangling link
    there is read (and refused in one error naming it), never passed over as absent."""
    found = [
        project_dir / name
        for name in DEPLOY_FILES
        if os.path.lexists(project_dir / name) and not (project_dir / name).is_dir()
    ]
    cdk_out = project_dir / "cdk.out"
    if cdk_out.is_dir():
        found += sorted(cdk_out.glob("*.template.json"))
    return found


# --- CloudFormation and SAM ---------------------------------------------------------------


@dataclass
class _Context:
    """What resolving a template's values needs: its parameters, mappings and resources."""

    parameters: Mapping[str, Any]
    mappings: Mapping[str, Any]
    resources: Mapping[str, Any]
    unresolved: list[str] = field(default_factory=list)

    def value(self, raw: Any, where: str) -> Any:
        """``raw`` with static intrinsics resolved; ``None`` (and a note) when it cannot be."""
        if isinstance(raw, dict) and len(raw) == 1:
            ((name, argument),) = raw.items()
            resolved = self._intrinsic(name, argument)
            if resolved is not None:
                return resolved
            if name == "Ref" or str(name).startswith("Fn::"):
                self.unresolved.append(f"{where}: {_show(raw)} (not static)")
                return None
        return raw

    def _intrinsic(self, name: str, argument: Any) -> Any:
        if name == "Ref" and isinstance(argument, str):
            return self._ref(argument)
        if name == "Fn::FindInMap" and isinstance(argument, list) and len(argument) == 3:
            keys = [self.value(key, "Fn::FindInMap") for key in argument]
            table: Any = self.mappings
            for key in keys:
                table = table.get(key) if isinstance(table, dict) and isinstance(key, str) else None
            return table
        if name == "Fn::Sub" and isinstance(argument, str) and "${" not in argument:
            return argument  # nothing to substitute: the string itself
        agreeing = isinstance(argument, list) and len(argument) == 3 and argument[1] == argument[2]
        if name == "Fn::If" and agreeing:  # the two branches agree: either is the value
            return self.value(argument[1], "Fn::If")
        return None

    def _ref(self, name: str) -> Any:
        """A parameter's default, or a resource of this template; ``None`` otherwise."""
        parameter = self.parameters.get(name)
        if isinstance(parameter, dict) and "Default" in parameter:
            return parameter["Default"]
        return {"LocalResource": name} if name in self.resources else None


def _show(raw: Any) -> str:
    return json.dumps(raw, default=str)[:120]


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(item for item in value if isinstance(item, str))
    return ()


def _resources(
    document: Mapping[str, Any],
) -> Iterator[tuple[str, str, Mapping[str, Any], Mapping[str, Any]]]:
    resources = document.get("Resources")
    if not isinstance(resources, dict):
        return
    for logical_id, resource in resources.items():
        if isinstance(resource, dict) and isinstance(resource.get("Type"), str):
            properties = resource.get("Properties")
            metadata = resource.get("Metadata")
            yield (
                str(logical_id),
                resource["Type"],
                properties if isinstance(properties, dict) else {},
                metadata if isinstance(metadata, dict) else {},
            )


def _template(path: Path, document: Mapping[str, Any]) -> DeployFile:
    sam = "AWS::Serverless" in str(document.get("Transform", ""))
    globals_ = document.get("Globals", {})
    defaults = globals_.get("Function", {}) if isinstance(globals_, dict) else {}
    defaults = defaults if isinstance(defaults, dict) else {}
    context = _Context(
        _mapping(document.get("Parameters")),
        _mapping(document.get("Mappings")),
        _mapping(document.get("Resources")),
    )
    functions, layers = [], []
    for logical_id, kind, properties, metadata in _resources(document):
        if kind == "AWS::Serverless::Function":
            functions.append(_sam_function(path, logical_id, {**defaults, **properties}, context))
        elif kind == "AWS::Lambda::Function":
            functions.append(_lambda_function(path, logical_id, properties, metadata, context))
        elif kind in {"AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"}:
            layers.append(_layer(path, logical_id, properties, metadata, context))
    notes = () if sam or "AWSTemplateFormatVersion" in document else (f"{path.name}: no Transform",)
    kind_name = "sam" if sam else "cloudformation"
    return DeployFile(path, kind_name, tuple(functions), tuple(layers), notes)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _directory(base: Path, value: Any) -> Path | None:
    """A code directory a template names (a local path, not an S3 location)."""
    if not isinstance(value, str) or value.startswith("s3://") or "://" in value:
        return None
    return (base / value).resolve() if not Path(value).is_absolute() else Path(value)


def _requirements_in(code_dir: Path | None) -> Path | None:
    if code_dir is None:
        return None
    for name in ("requirements.txt", "pyproject.toml"):
        candidate = code_dir / name
        if candidate.is_file():
            return candidate
    return None


def _layer_names(raw: Any, context: _Context, where: str) -> tuple[str, ...]:
    names = []
    for item in raw if isinstance(raw, list) else []:
        value = context.value(item, where)
        if isinstance(value, str):
            names.append(value)
        elif isinstance(value, dict) and "LocalResource" in value:
            names.append(f"{LOCAL_LAYER}{value['LocalResource']}")
    return tuple(names)


def _arch(raw: Any, context: _Context, where: str, default: str | None) -> str | None:
    """The function's CPU: ``default`` when the file names none (Lambda's x86_64 for a zip
    function), ``None`` when it names one that is not static (noted) or not a CPU."""
    if raw is None:
        return default
    values = context.value(raw, where)
    items = values if isinstance(values, list) else [values]
    first = context.value(items[0], where) if items and values is not None else None
    if isinstance(first, str) and first in _ARCHES:
        return _ARCHES[first]
    if first is not None:
        context.unresolved.append(f"{where}: {_show(first)} (not a CPU Lambda has)")
    return None


def _zip_default(image: object) -> str | None:
    """Lambda's CPU for a function that names none: x86_64 (an image's is its own)."""
    return None if image else "x86_64"


def _sam_function(
    path: Path, logical_id: str, properties: Mapping[str, Any], context: _Context
) -> DeployedFunction:
    context.unresolved = []
    where = f"{logical_id}."
    image = properties.get("PackageType") == "Image"
    runtime = context.value(properties.get("Runtime"), where + "Runtime")
    code_dir = _directory(path.parent, context.value(properties.get("CodeUri"), where + "CodeUri"))
    return DeployedFunction(
        name=logical_id,
        handler=_str(context.value(properties.get("Handler"), where + "Handler")),
        runtime=_str(runtime),
        arch=_arch(
            properties.get("Architectures"), context, where + "Architectures", _zip_default(image)
        ),
        code_dir=code_dir,
        layers=_layer_names(properties.get("Layers"), context, where + "Layers"),
        requirements=_requirements_in(code_dir),
        image=image,
        unresolved=tuple(context.unresolved),
    )


def _lambda_function(
    path: Path,
    logical_id: str,
    properties: Mapping[str, Any],
    metadata: Mapping[str, Any],
    context: _Context,
) -> DeployedFunction:
    context.unresolved = []
    where = f"{logical_id}."
    code = properties.get("Code")
    image = (isinstance(code, dict) and "ImageUri" in code) or properties.get(
        "PackageType"
    ) == "Image"
    # ``cdk synth`` stages the code in cdk.out and names it in the resource's metadata.
    asset = metadata.get("aws:asset:path") if metadata.get("aws:asset:property") == "Code" else None
    code_dir = _directory(path.parent, asset)
    runtime = context.value(properties.get("Runtime"), where + "Runtime")
    return DeployedFunction(
        name=logical_id,
        handler=_str(context.value(properties.get("Handler"), where + "Handler")),
        runtime=_str(runtime),
        arch=_arch(
            properties.get("Architectures"), context, where + "Architectures", _zip_default(image)
        ),
        code_dir=code_dir,
        layers=_layer_names(properties.get("Layers"), context, where + "Layers"),
        requirements=_requirements_in(code_dir),
        image=bool(image),
        unresolved=tuple(context.unresolved),
    )


def _layer(
    path: Path,
    logical_id: str,
    properties: Mapping[str, Any],
    metadata: Mapping[str, Any],
    context: _Context,
) -> DeclaredLayer:
    content = properties.get("ContentUri", properties.get("Content"))
    asset = (
        metadata.get("aws:asset:path") if metadata.get("aws:asset:property") == "Content" else None
    )
    directory = _directory(path.parent, asset if asset else context.value(content, logical_id))
    runtimes = _strings(context.value(properties.get("CompatibleRuntimes"), logical_id))
    return DeclaredLayer(logical_id, directory, runtimes)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# --- serverless.yml ---------------------------------------------------------------------


def _serverless(path: Path, document: Mapping[str, Any]) -> DeployFile:
    provider = _mapping(document.get("provider"))
    functions = [
        _sls_function(path, str(name), _mapping(spec), provider, document)
        for name, spec in _mapping(document.get("functions")).items()
    ]
    layers = [
        DeclaredLayer(str(name), _directory(path.parent, _mapping(spec).get("path")))
        for name, spec in _mapping(document.get("layers")).items()
    ]
    return DeployFile(path, "serverless", tuple(functions), tuple(layers))


def _sls_function(
    path: Path,
    name: str,
    spec: Mapping[str, Any],
    provider: Mapping[str, Any],
    document: Mapping[str, Any],
) -> DeployedFunction:
    """One function of a serverless.yml: its own keys, else the provider's."""
    unresolved: list[str] = []

    def value(key: str, default: Any = None) -> Any:
        raw = spec.get(key, provider.get(key, default))
        return _sls_value(raw, document, f"{name}.{key}", unresolved)

    module = value("module")  # serverless-python-requirements: the function's own directory
    code_dir = _directory(path.parent, module) if isinstance(module, str) else path.parent.resolve()
    layers = value("layers", [])
    return DeployedFunction(
        name=name,
        handler=_str(value("handler")),
        runtime=_str(value("runtime")),
        arch=_ARCHES.get(str(value("architecture", "x86_64"))),
        code_dir=code_dir,
        layers=tuple(item for item in layers if isinstance(item, str))
        if isinstance(layers, list)
        else (),
        requirements=_requirements_in(code_dir),
        image="image" in spec,
        unresolved=tuple(unresolved),
    )


def _sls_value(raw: Any, document: Mapping[str, Any], where: str, unresolved: list[str]) -> Any:
    """A serverless value with ``${self:a.b}`` resolved; other variables left unresolved."""
    if not isinstance(raw, str) or "${" not in raw:
        return raw
    whole = _SLS_VARIABLE.fullmatch(raw.strip())

    def lookup(expression: str) -> Any:
        reference, _, fallback = expression.partition(",")
        reference = reference.strip()
        if reference.startswith("self:"):
            target: Any = document
            for part in reference.removeprefix("self:").split("."):
                target = target.get(part) if isinstance(target, dict) else None
            if target is not None:
                return target
        fallback = fallback.strip().strip("'\"")
        return fallback or None

    if whole:
        found = lookup(whole.group(1))
        if found is None:
            unresolved.append(f"{where}: {raw} (not static)")
        return found
    parts = []
    for piece in re.split(r"(\$\{[^{}]+\})", raw):
        match = _SLS_VARIABLE.fullmatch(piece)
        found = lookup(match.group(1)) if match else piece
        if found is None or isinstance(found, dict | list):
            unresolved.append(f"{where}: {raw} (not static)")
            return None
        parts.append(str(found))
    return "".join(parts)
