"""How counts read in what lambdalayer prints: ``1 function``, ``3 functions``."""

from __future__ import annotations


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """``number`` and ``noun``, plural unless it is one (``plural``: when not noun + "s").

    >>> counted(1, "function"), counted(3, "function"), counted(0, "library", "libraries")
    ('1 function', '3 functions', '0 libraries')
    """
    if number == 1:
        return f"{number:,} {noun}"
    return f"{number:,} {plural or noun + 's'}"
