"""How often following one request through the library climbs back to a higher layer.

Every module of lambdalayer's pipeline packages entered while the request runs is recorded
(``sys.setprofile``, in every thread, each thread its own sequence) and mapped to its layer
in the import-linter contract of pyproject.toml (``cli`` the highest). *Entered*: one of its
functions starts — not a value of its types being made or compared (their ``__dunder__``
methods), nor a method of an immutable value (a frozen dataclass's property or method,
which derives something from that value), nor a generator of it resuming, nor a
comprehension inside a function already running (its own frame before Python 3.12). The core modules (errors, targets, placement,
fsutil …), which import none of the packages, are left out: every layer uses them. In each
sequence, consecutive entries of one module count once; a *climb* is an entry into a module
of a higher layer than the module entered just before it — the request went down a layer
and came back up (an orchestrator calling its own helpers between stages, a stage calling a
higher layer's callback, rules and the machinery they use interleaved). Each distinct
(from, to) pair of modules counts once.
"""

from __future__ import annotations

import itertools
import sys
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
_PARTS = frozenset({"<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>"})  # of a running function


def layer_ranks() -> list[tuple[str, ...]]:
    """The layers contract's packages, highest first, each a tuple of package names."""
    config = tomllib.loads(PYPROJECT.read_text("utf-8"))
    for contract in config["tool"]["importlinter"]["contracts"]:
        if contract["type"] == "layers":
            return [
                tuple(part.strip() for part in layer.split("|")) for layer in contract["layers"]
            ]
    raise AssertionError("no layers contract in pyproject.toml")


def rank_of(module: str, ranks: list[tuple[str, ...]]) -> int | None:
    """The layer of ``module`` (its index in ``ranks``); ``None`` for the core."""
    for index, packages in enumerate(ranks):
        if any(module == package or module.startswith(package + ".") for package in packages):
            return index
    return None


@dataclass(frozen=True)
class Climbing:
    """The pipeline modules the request entered, and the climbs among them."""

    modules: frozenset[str]
    climbs: frozenset[tuple[str, str]]  # (from, to): ``to`` is in a higher layer
    examples: dict[tuple[str, str], str] = field(default_factory=dict)  # the functions, once

    def describe(self) -> str:
        """One line per climb (with the functions of its first occurrence), for a message."""
        return "\n".join(
            f"{before} -> {after} ({self.examples.get((before, after), '')})"
            for before, after in sorted(self.climbs)
        )


def _of_a_value(frame: FrameType) -> bool:
    """Whether the frame is a method of a frozen dataclass's instance: it derives something
    from that value (a property, ``describe()``), it does not take the request anywhere."""
    code = frame.f_code
    if not code.co_varnames or code.co_varnames[0] != "self" or code.co_argcount == 0:
        return False
    value = frame.f_locals.get("self")
    params = getattr(type(value), "__dataclass_params__", None)
    return bool(params is not None and params.frozen)


def climbing(call: Callable[[], Any]) -> tuple[Any, Climbing]:
    """Run ``call`` and follow it (see the module's docstring)."""
    ranks = layer_ranks()
    sequences: list[list[tuple[str, str]]] = []
    local = threading.local()
    lock = threading.Lock()

    def profile(frame: FrameType, event: str, _arg: object) -> None:
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        if not module.startswith("lambdalayer.") or rank_of(module, ranks) is None:
            return
        name = frame.f_code.co_name
        if frame.f_lasti > 0 or (name.startswith("__") and name.endswith("__")) or name in _PARTS:
            return  # a generator resuming, a value made or compared: no module entered
        if _of_a_value(frame):
            return
        sequence = getattr(local, "sequence", None)
        if sequence is None:
            sequence = local.sequence = []
            with lock:
                sequences.append(sequence)
        if not sequence or sequence[-1][0] != module:
            sequence.append((module, name))

    threading.setprofile(profile)  # type: ignore[arg-type]
    sys.setprofile(profile)  # type: ignore[arg-type]
    try:
        result = call()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
    examples: dict[tuple[str, str], str] = {}
    for sequence in sequences:
        for (before, was), (after, now) in itertools.pairwise(sequence):
            if (rank_of(after, ranks) or 0) < (rank_of(before, ranks) or 0):
                examples.setdefault((before, after), f"{was} then {now}")
    modules = frozenset(module for sequence in sequences for module, _ in sequence)
    return result, Climbing(modules, frozenset(examples), examples)
