"""How wheels become a layer's files, as types: the bytecode mode and the slimming options.

These are choices a user makes (flags, ``[tool.lambdalayer]``), parsed into these types
where they are read, and facts a layer records (its zip comment, its lock). One
vocabulary for both: ``unchecked-hash`` (the default, PEP 552 pycs beside the sources),
``only`` (pycs instead of sources) and ``none``.

>>> BytecodeMode.parse("auto"), BytecodeMode.parse("only")
(<BytecodeMode.UNCHECKED_HASH: 'unchecked-hash'>, <BytecodeMode.ONLY: 'only'>)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from lambdalayer.errors import InputError, option

# ``auto`` is what the default was called before it had one meaning: a build either
# compiles unchecked-hash bytecode or fails, so the two are the same choice.
_ALIASES = {"auto": "unchecked-hash"}


class BytecodeMode(enum.StrEnum):
    """Which bytecode a layer carries: asked for by ``--bytecode``, recorded in the zip."""

    UNCHECKED_HASH = "unchecked-hash"  # .pyc in __pycache__ beside every .py (the default)
    ONLY = "only"  # sourceless: .pyc in place of each .py (smaller; tracebacks lose lines)
    NONE = "none"  # sources only

    @classmethod
    def parse(cls, text: str, where: str = option("BuildRecipe.bytecode")) -> BytecodeMode:
        """The mode a flag or configuration value names (``auto`` is ``unchecked-hash``)."""
        value = _ALIASES.get(text.strip().lower(), text.strip().lower())
        try:
            return cls(value)
        except ValueError:
            raise InputError(
                f"{where} = {text!r:.40} is not one of {', '.join(choices())}",
                hint=f"choose one of: {', '.join(choices())}",
            ) from None

    @property
    def compiles(self) -> bool:
        """Whether the layer gets bytecode (and so needs a CPython of the runtime's X.Y)."""
        return self is not BytecodeMode.NONE


def choices() -> tuple[str, ...]:
    """Every spelling ``--bytecode`` and the configuration accept."""
    return (*(mode.value for mode in BytecodeMode), *_ALIASES)


@dataclass(frozen=True)
class SlimOptions:
    """Which slimming rules run, the user's own globs, and what strips (``None``: our own)."""

    enabled: bool = True
    skip_rules: frozenset[str] = frozenset()
    keep: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()
    strip_program: str | None = None

    def runs(self, rule: str) -> bool:
        """Whether the slimming rule named ``rule`` runs."""
        return self.enabled and rule not in self.skip_rules
