"""Prove a layer zip will load on its runtime: names, binaries, libraries, layout, sizes, imports.

``check()`` (in :mod:`lambdalayer.check.rules`) is the entry point; the zip reader, the
library resolution, the import stage (on this machine or inside an image) and the report
types are modules of this package. Imports only layer, resolve (what another layer
provides), net and the core.
"""

from lambdalayer.check.rules import check

__all__ = ["check"]
