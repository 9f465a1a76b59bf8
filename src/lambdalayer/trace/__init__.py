"""Trim by trace, the running half: the handler traced on its events, then verified.

:mod:`.trace` runs the handler under ``invoke`` with the sandbox started under ``strace``
(:mod:`.strace` reads what it wrote); :mod:`.verify` compares each event's answer before
and after; :mod:`.run` is ``lambdalayer trim``: trace, write the manifest, apply it
(:mod:`lambdalayer.trim`, which builds and images use too), verify, measure.
"""
