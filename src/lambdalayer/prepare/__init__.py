"""The preparation stage every artefact shares: requirements (or a lock) → the lock →
the wheels → the files placed for a layout.

A layer, a function package, a container image and the runtime's own packages are all
prepared by :func:`prepare`; each gets its lock (:func:`write_lock`) and the explanation of
its versions the same way. Imports layer, resolve, net and the core; never AWS (what is
beneath is read by the caller and handed in).
"""

from lambdalayer.prepare.stage import (
    BuildRecipe,
    FunctionCode,
    Preparation,
    Prepared,
    prepare,
    reserved_lock,
    trimmed,
    write_lock,
)

__all__ = [
    "BuildRecipe",
    "FunctionCode",
    "Preparation",
    "Prepared",
    "prepare",
    "reserved_lock",
    "trimmed",
    "write_lock",
]
