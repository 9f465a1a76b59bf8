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


def agreeing(number: int, singular: str, plural: str) -> str:
    """The verb that agrees with a count of ``number``: ``singular`` when it is one.

    >>> f"{counted(1, 'event')} {agreeing(1, 'answers', 'answer')} the same"
    '1 event answers the same'
    >>> f"{counted(2, 'event')} {agreeing(2, 'answers', 'answer')} the same"
    '2 events answer the same'
    """
    return singular if number == 1 else plural
