"""Placed in a trimmed artefact by ``lambdalayer trim``; never imported by lambdalayer.

A ``.pth`` file beside it imports it when Python starts (Lambda processes ``.pth`` files in
the function's and the layers' directories unless the function sets ``PYTHONPATH``). It
appends a finder to ``sys.meta_path``: consulted last, only for a name no other finder
found, it answers for the modules the trim removed with an ``ImportError`` that names the
manifest and the line to add, instead of a bare ``ModuleNotFoundError``. The standard
library only, valid on every runtime's Python.
"""

import sys

MANIFEST = "lambdalayer.trim.toml"
LEVEL = "modules"
TRIMMED: dict[
    str, tuple[str, str]
] = {}  # module name -> (distribution, keep line); written by lambdalayer trim


class TrimmedModuleFinder:
    """Names the manifest line that keeps a module the trim removed."""

    @classmethod
    def find_spec(cls, name: str, path: object = None, target: object = None) -> None:
        found = TRIMMED.get(name)
        if found is None:
            return
        distribution, line = found
        message = (
            f"No module named {name!r}: lambdalayer trim removed it ({MANIFEST}, level"
            f' {LEVEL}: no traced event imported it). To keep it, add "{line}" to keep of'
            f' [distribution."{distribution}"] in {MANIFEST} (or build with --keep {line})'
            " and build again"
        )
        raise ImportError(message, name=name)


sys.meta_path.append(TrimmedModuleFinder)
