"""What deploy tools read after ``build --all``: each function's layers and code hash.

Three files, one per tool, written atomically into ``DIR/deploy`` (JSON, which YAML and
HCL's tfvars read too):

- ``sam.json``: a SAM/CloudFormation fragment: an ``AWS::Serverless::LayerVersion`` per
  shared layer, and per function the ``CodeUri`` and ``Layers`` to merge into its
  resource (paths relative to the deploy file's directory);
- ``terraform.auto.tfvars.json``: ``lambdalayer_layers`` and ``lambdalayer_functions``
  maps (zip, ``source_code_hash`` as ``filebase64sha256`` gives it, runtime, CPU, layers);
- ``cdk.context.json``: the same under the context key ``lambdalayer``.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lambdalayer.builder.fleet import FleetPlan
from lambdalayer.fsutil import atomic_write_bytes
from lambdalayer.inputs.deploy import LOCAL_LAYER
from lambdalayer.inputs.fleet import FleetFunction
from lambdalayer.targets import Target


@dataclass(frozen=True)
class Planned:
    """One artefact of the plan: a shared layer or a function package, for one target."""

    kind: str  # "layer" or "function"
    name: str
    target: Target
    zip_path: Path
    lock_path: Path
    lock_text: str
    layers: tuple[str, ...] = ()  # a function's shared layers, by name
    function: FleetFunction | None = None

    @property
    def key(self) -> str:
        """Its name in the deploy files: ``shared-numpy-1a2b3c4d-python3.12-arm64``."""
        return f"{self.name}-{self.target.name}"


def code_sha256(hex_digest: str) -> str:
    """A zip's sha256 as Lambda's CodeSha256 and Terraform's ``filebase64sha256`` say it."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def logical_id(text: str) -> str:
    """A CloudFormation logical id (letters and digits) for a layer of one target.

    >>> logical_id("shared-numpy-1a2b3c4d-python3.12-arm64")
    'SharedNumpy1a2b3c4dPython312Arm64'
    """
    parts = re.split(r"[^A-Za-z0-9]+", text)
    return "".join(part[:1].upper() + part[1:] for part in parts if part)[:255] or "Layer"


def _entry(artefact: Planned, digests: Mapping[Path, str]) -> dict[str, object]:
    return {
        "zip": str(artefact.zip_path),
        "source_code_hash": code_sha256(digests[artefact.zip_path]),
        "runtime": artefact.target.runtime.name,
        "architecture": artefact.target.arch,
    }


def _tool_maps(
    plan: FleetPlan, artefacts: Sequence[Planned], digests: Mapping[Path, str]
) -> tuple[dict[str, object], dict[str, object]]:
    layers: dict[str, object] = {a.key: _entry(a, digests) for a in artefacts if a.kind == "layer"}
    existing = {function.name: function.layers for function in plan.fleet.functions}
    functions: dict[str, object] = {
        a.name: {
            **_entry(a, digests),
            "layers": [f"{name}-{a.target.name}" for name in a.layers],
            "other_layers": list(existing.get(a.name, ())),
        }
        for a in artefacts
        if a.kind == "function"
    }
    return layers, functions


def _sam(plan: FleetPlan, artefacts: Sequence[Planned], base: Path) -> dict[str, object]:
    resources: dict[str, object] = {}
    for artefact in artefacts:
        if artefact.kind == "layer":
            resources[logical_id(artefact.key)] = {
                "Type": "AWS::Serverless::LayerVersion",
                "Properties": {
                    "LayerName": artefact.key.replace(".", ""),
                    "ContentUri": os.path.relpath(artefact.zip_path, base),
                    "CompatibleRuntimes": [artefact.target.runtime.name],
                    "CompatibleArchitectures": [artefact.target.arch],
                },
            }
    existing = {function.name: function.layers for function in plan.fleet.functions}
    for artefact in artefacts:
        if artefact.kind == "function":
            refs: list[object] = [
                {"Ref": logical_id(f"{name}-{artefact.target.name}")} for name in artefact.layers
            ]
            refs += [_existing(name) for name in existing.get(artefact.name, ())]
            resources[artefact.name] = {
                "Properties": {
                    "CodeUri": os.path.relpath(artefact.zip_path, base),
                    "Layers": refs,
                }
            }
    return {"Resources": resources}


def _existing(name: str) -> object:
    """A layer the function already names: an ARN as it is, the template's own by ``Ref``."""
    local = name.removeprefix(LOCAL_LAYER)
    return {"Ref": local} if local != name else name


def write_deploy_files(
    plan: FleetPlan, artefacts: Sequence[Planned], digests: Mapping[Path, str], directory: Path
) -> tuple[Path, ...]:
    """Write the three deploy files into ``directory`` (``digests``: each zip's sha256, hex)."""
    directory.mkdir(parents=True, exist_ok=True)
    base = plan.fleet.files[0].parent if plan.fleet.files else directory
    layers, functions = _tool_maps(plan, artefacts, digests)
    documents = {
        "sam.json": _sam(plan, artefacts, base),
        "terraform.auto.tfvars.json": {
            "lambdalayer_layers": layers,
            "lambdalayer_functions": functions,
        },
        "cdk.context.json": {"lambdalayer": {"layers": layers, "functions": functions}},
    }
    written = []
    for name, document in documents.items():
        path = directory / name
        text = json.dumps(document, indent=2, sort_keys=True) + "\n"
        atomic_write_bytes(path, text.encode("utf-8"))
        written.append(path)
    return tuple(written)
