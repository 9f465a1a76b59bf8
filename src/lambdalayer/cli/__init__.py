"""The ``lambdalayer`` command: a thin shell over the library (``main(argv) -> int``).

It may import every other package; nothing imports it.
"""

from lambdalayer.cli.main import main

__all__ = ["main"]
