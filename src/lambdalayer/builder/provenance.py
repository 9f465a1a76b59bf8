"""Provenance of a build (written next to the artefact) and its verification by a rebuild.

:func:`record_of` takes what a build knows — its request (target, layout, bytecode,
slimming, the function's code), the lock it built and the CPython that compiled its
bytecode — into a :class:`~lambdalayer.supply.provenance.BuildRecord`.
:func:`verify` reads a provenance file back, checks that it names the artefact (its
sha256), its signature when it has one (with the key given), and builds the recorded lock
again with the recorded options in a scratch directory: the same bytes, or it says which
differ and what was different here.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdalayer.builder.pipeline import build
from lambdalayer.builder.request import BuildRecipe, BuildRequest, FunctionCode
from lambdalayer.builder.result import BuildResult
from lambdalayer.errors import ProvenanceError
from lambdalayer.fsutil import atomic_write_bytes, file_sha256
from lambdalayer.layer.output import ZipOutput
from lambdalayer.lock import dump_pylock
from lambdalayer.recipe import BytecodeMode, SlimOptions
from lambdalayer.resolve.stage import FromLock
from lambdalayer.supply.provenance import (
    BuildRecord,
    Provenance,
    read_provenance,
    render,
    signature_verified,
    tree_sha256,
)
from lambdalayer.targets import Layout, Target, get_target

SUFFIX = ".intoto.json"


def provenance_path(artefact: Path) -> Path:
    """Where an artefact's provenance is written: beside it (``layer.zip.intoto.json``)."""
    return artefact.with_name(artefact.name + SUFFIX)


def _parameters(target: Target, recipe: BuildRecipe) -> dict[str, Any]:
    slim = recipe.slim
    parameters: dict[str, Any] = {
        "runtime": target.runtime.name,
        "arch": target.arch,
        "layout": recipe.layout.value,
        "bytecode": recipe.bytecode.value,
        "slim": {
            "enabled": slim.enabled,
            "skip_rules": sorted(slim.skip_rules),
            "keep": list(slim.keep),
            "drop": list(slim.drop),
            "strip_program": slim.strip_program,
        },
    }
    if recipe.function is not None:
        parameters["function"] = {"handler": recipe.function.handler}
    return parameters


def record_of(result: BuildResult) -> BuildRecord:
    """What the provenance of ``result`` records."""
    request = result.request
    lock = dataclasses.replace(result.locked.lock, bytecode=result.layer.bytecode.value)
    compiler = result.compiler
    function = request.recipe.function
    return BuildRecord(
        subject=result.output.name,
        sha256=result.sha256,
        lock_text=dump_pylock(lock),
        parameters=_parameters(request.target, request.recipe),
        python=f"{compiler.version_text}.{compiler.micro}" if compiler else None,
        source_sha256=tree_sha256(function.source) if function else None,
        wheels=tuple(package.wheels[0] for package in lock.packages if package.wheels),
    )


def write_provenance(result: BuildResult, signing_key: Path | None = None) -> Path:
    """Write ``result``'s provenance beside its artefact (signed with ``signing_key``, if given)."""
    path = provenance_path(result.output)
    atomic_write_bytes(path, render(record_of(result), signing_key).encode("utf-8"))
    return path


@dataclass(frozen=True)
class VerifyRequest:
    """An artefact, its provenance, and what a check of them needs from the user."""

    artefact: Path
    provenance: Path
    public_key: Path | None = None
    source: Path | None = None  # a function's source tree, to rebuild it
    cache_dir: Path | None = None


@dataclass(frozen=True)
class Verification:
    """What was verified: the subject, the signature (None: unsigned), the rebuild."""

    subject: str
    sha256: str
    signed: bool
    signature_checked: bool
    rebuilt_sha256: str

    @property
    def ok(self) -> bool:
        """The rebuild gave the same bytes, and a signature (if any) was checked."""
        return self.rebuilt_sha256 == self.sha256 and (self.signature_checked or not self.signed)


def _recipe(parameters: dict[str, Any], source: Path | None, where: str) -> BuildRecipe:
    try:
        slim = parameters["slim"]
        function = parameters.get("function")
        recipe = BuildRecipe(
            layout=Layout(parameters["layout"]),
            bytecode=BytecodeMode.parse(parameters["bytecode"]),
            slim=SlimOptions(
                enabled=bool(slim["enabled"]),
                skip_rules=frozenset(map(str, slim["skip_rules"])),
                keep=tuple(map(str, slim["keep"])),
                drop=tuple(map(str, slim["drop"])),
                strip_program=slim["strip_program"] if slim["strip_program"] else None,
            ),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ProvenanceError(
            f"{where}: externalParameters are not a lambdalayer build's ({error})"
        ) from error
    if function is None:
        return recipe
    if source is None:
        raise ProvenanceError(
            f"{where} is a function's: its rebuild needs the source tree",
            hint="give the function's code with --source DIR",
        )
    handler = function.get("handler") if isinstance(function, dict) else None
    return dataclasses.replace(
        recipe, function=FunctionCode(source, handler if isinstance(handler, str) else None)
    )


def _signature(provenance: Provenance, key: Path | None) -> bool:
    if not provenance.signatures:
        return False
    if key is None:
        return False
    if not signature_verified(provenance, key):
        raise ProvenanceError(
            "the provenance's signature is not the given key's: it was changed, or signed by another key"
        )
    return True


def verify(request: VerifyRequest) -> Verification:
    """Check ``request.artefact`` against its provenance; a rebuild must give the same bytes."""
    provenance = read_provenance(request.provenance)
    record = provenance.record
    actual = file_sha256(request.artefact)
    if actual != record.sha256:
        raise ProvenanceError(
            f"{request.artefact.name} is not what {request.provenance.name} describes:"
            f" sha256 {actual}, the provenance says {record.sha256}"
        )
    checked = _signature(provenance, request.public_key)
    source = request.source
    if record.source_sha256 and source is not None and tree_sha256(source) != record.source_sha256:
        raise ProvenanceError(f"the source tree {request.source} is not the one recorded")
    recipe = _recipe(record.parameters, request.source, str(request.provenance))
    try:
        target = get_target(str(record.parameters["runtime"]), str(record.parameters["arch"]))
    except (KeyError, TypeError) as error:
        raise ProvenanceError(f"{request.provenance}: no runtime and arch recorded") from error
    with tempfile.TemporaryDirectory(prefix="lambdalayer-verify-") as scratch:
        lock = Path(scratch) / "pylock.toml"
        lock.write_text(record.lock_text, encoding="utf-8")
        rebuild = BuildRequest(
            target=target,
            source=FromLock(lock),
            output=ZipOutput(Path(scratch) / record.subject),
            recipe=recipe,
            check=False,  # the check never changes bytes; the rebuild is compared, not judged
        )
        if request.cache_dir is not None:
            rebuild = dataclasses.replace(rebuild, cache_dir=request.cache_dir)
        rebuilt = build(rebuild).sha256
    return Verification(
        record.subject, record.sha256, bool(provenance.signatures), checked, rebuilt
    )
