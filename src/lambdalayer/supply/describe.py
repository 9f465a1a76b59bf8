"""Describe any zip: its target, what is beneath it, its lock — decided once, here.

``lambdalayer sbom``, ``audit`` and ``report`` take a zip and, optionally, the lock it was
built from, the runtime and CPU (else recorded in the zip or shown by it) and the layer
it sits on. The runtime's own packages are listed when the runtime is known; when it is
not, the description says so instead of guessing one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lambdalayer.errors import InputError, LambdaLayerError
from lambdalayer.fsutil import not_a_file
from lambdalayer.inputs.ontopof import OnTopOf
from lambdalayer.lock import read_pylock
from lambdalayer.resolve.provided import provided_by
from lambdalayer.supply.inventory import (
    Inventory,
    ProvidedPackage,
    inventory_of_zip,
    layer_provided,
    runtime_provided,
)
from lambdalayer.ziptarget import target_for_zip


@dataclass(frozen=True)
class ZipQuestion:
    """A zip to describe and what is known beside it."""

    path: Path
    lock: Path | None = None
    runtime: str | None = None
    arch: str | None = None
    on_top_of: OnTopOf | None = None
    wheels_wanted: bool = True  # an SBOM lists wheels; an audit needs names and versions only


@dataclass(frozen=True)
class Described:
    """A zip's inventory, and what could not be said of it."""

    inventory: Inventory
    notes: tuple[str, ...] = ()


def describe_zip(question: ZipQuestion) -> Described:
    """The inventory of ``question.path``, with the runtime's packages and the layer beneath."""
    if (why := not_a_file(question.path)) is not None:
        raise InputError(why[0], hint=why[1])
    lock = read_pylock(question.lock) if question.lock else None
    notes: list[str] = []
    provided: list[ProvidedPackage] = []
    target_name: str | None = None
    try:
        target = target_for_zip(question.path, question.runtime, question.arch).target
    except InputError as error:
        if question.on_top_of is not None:
            raise
        notes.append(f"{error.message}: the runtime's own packages are not listed ({error.hint})")
    else:
        target_name = target.name
        provided += runtime_provided(target)
        if question.on_top_of is not None:
            try:
                provided += layer_provided(provided_by(question.on_top_of, target))
            except LambdaLayerError as error:
                raise InputError(
                    f"--on-top-of {question.on_top_of}: {error.message}", hint=error.hint
                ) from error
    if lock is None and question.wheels_wanted:
        notes.append("no lock given (--lock): wheels' URLs and sha256 are not listed")
    inventory = inventory_of_zip(question.path, lock, provided, target_name)
    return Described(inventory, tuple(notes))
