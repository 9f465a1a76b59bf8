"""How often following one request through the library climbs back to a higher layer.

Every call into a module of lambdalayer's pipeline packages while the request runs is
recorded (``sys.setprofile``, in every thread, each thread its own sequence) and the module
mapped to its layer in the import-linter contract of pyproject.toml (``cli`` the highest).
The core modules (errors, targets, fsutil …), which import none of the packages, are left
out: every layer uses them. In each sequence, consecutive calls into the same module count
once; a *climb* is a call into a module of a higher layer than the module called just
before it — the request went down a layer and came back up (an orchestrator calling its
own helpers between stages, a stage calling a higher layer's callback, rules and the
machinery they use interleaved). Each distinct (from, to) pair of modules counts once.
"""

from __future__ import annotations

import itertools
import sys
import threading
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


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

    def describe(self) -> str:
        """One line per climb, for an assertion's message."""
        return "\n".join(f"{before} -> {after}" for before, after in sorted(self.climbs))


def climbing(call: Callable[[], Any]) -> tuple[Any, Climbing]:
    """Run ``call`` and follow it (see the module's docstring)."""
    ranks = layer_ranks()
    sequences: list[list[str]] = []
    local = threading.local()
    lock = threading.Lock()

    def profile(frame: FrameType, event: str, _arg: object) -> None:
        if event != "call":
            return
        module = frame.f_globals.get("__name__", "")
        if not module.startswith("lambdalayer.") or rank_of(module, ranks) is None:
            return
        sequence = getattr(local, "sequence", None)
        if sequence is None:
            sequence = local.sequence = []
            with lock:
                sequences.append(sequence)
        if not sequence or sequence[-1] != module:
            sequence.append(module)

    threading.setprofile(profile)  # type: ignore[arg-type]
    sys.setprofile(profile)  # type: ignore[arg-type]
    try:
        result = call()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
    climbs = set()
    for sequence in sequences:
        for before, after in itertools.pairwise(sequence):
            if (rank_of(after, ranks) or 0) < (rank_of(before, ranks) or 0):
                climbs.add((before, after))
    modules = frozenset(module for sequence in sequences for module in sequence)
    return result, Climbing(modules, frozenset(climbs))
